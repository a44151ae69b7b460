use featurestore_catalog::pagination::paginate;
use featurestore_domain::{schema::validate_entity, validate_name};
use featurestore_metastore::{Condition, Op};
use featurestore_proto::v1::{Entity, FeatureGroup};
use prost::Message;

use super::{HasMeta, Registry};
use crate::{
    error::{RegistryError, Result},
    store::{Stored, check_expected, retry_on_conflict},
};

impl Registry {
    pub(crate) async fn entity(&self, project: &str, name: &str) -> Result<Stored<Entity>> {
        self.catalog
            .get(&self.catalog.keys.entity(project, name))
            .await?
            .ok_or_else(|| {
                RegistryError::NotFound(format!("entity {name:?} in project {project:?}"))
            })
    }

    pub async fn create_entity(&self, entity: Entity) -> Result<Entity> {
        validate_entity(&entity)?;
        retry_on_conflict("create entity", || async {
            let mut entity = entity.clone();
            let project = self.project(&entity.project).await?;
            let key = self.catalog.keys.entity(&entity.project, &entity.name);
            if self.catalog.store.get(&key).await?.is_some() {
                return Err(RegistryError::AlreadyExists(format!(
                    "entity {:?} in project {:?}",
                    entity.name, entity.project
                )));
            }
            entity.stamp_created();
            let revision = self
                .catalog
                .commit(
                    vec![
                        Condition::at(self.catalog.keys.project(&entity.project), project.revision),
                        Condition::absent(&key),
                    ],
                    vec![Op::put(&key, entity.encode_to_vec())],
                )
                .await?;
            Ok(entity.at_revision(revision))
        })
        .await
    }

    pub async fn get_entity(&self, project: &str, name: &str) -> Result<Entity> {
        validate_name("project", project)?;
        validate_name("name", name)?;
        Ok(self.entity(project, name).await?.into_response())
    }

    pub async fn list_entities(
        &self,
        project: &str,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<Entity>, String)> {
        validate_name("project", project)?;
        self.project(project).await?;
        let all = self
            .catalog
            .list::<Entity>(&self.catalog.keys.entities_prefix(project))
            .await?;
        let (page, next) = paginate(all, |e| e.object.name.clone(), page_size, token);
        Ok((page.into_iter().map(Stored::into_response).collect(), next))
    }

    /// Refused while a feature group uses the entity.
    pub async fn delete_entity(
        &self,
        project: &str,
        name: &str,
        expected_revision: i64,
    ) -> Result<i64> {
        validate_name("project", project)?;
        validate_name("name", name)?;
        retry_on_conflict("delete entity", || async {
            let entity = self.entity(project, name).await?;
            check_expected(
                &format!("entity {name:?}"),
                expected_revision,
                entity.revision,
            )?;
            let groups_prefix = self.catalog.keys.groups_prefix(project);
            let (groups, listed_at) = self.catalog.list_at::<FeatureGroup>(&groups_prefix).await?;
            let users: Vec<String> = groups
                .into_iter()
                .filter(|g| g.object.entity == name)
                .map(|g| format!("{}@{}", g.object.name, g.object.version))
                .collect();
            if !users.is_empty() {
                return Err(RegistryError::FailedPrecondition(format!(
                    "entity {name:?} is used by feature group(s) {}",
                    users.join(", ")
                )));
            }
            let key = self.catalog.keys.entity(project, name);
            self.catalog
                .commit(
                    vec![
                        Condition::at(&key, entity.revision),
                        Condition::prefix_unchanged_since(groups_prefix, listed_at),
                    ],
                    vec![Op::delete(key)],
                )
                .await
        })
        .await
    }
}
