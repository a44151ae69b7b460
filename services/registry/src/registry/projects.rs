use featurestore_catalog::pagination::paginate;
use featurestore_domain::schema::{validate_project, validate_roles};
use featurestore_metastore::Condition;
use featurestore_proto::v1::{Project, RoleBinding};
use prost::Message;

use super::{HasMeta, Registry};
use crate::{
    error::{RegistryError, Result},
    store::{Stored, check_expected, retry_on_conflict},
};

impl Registry {
    pub(crate) async fn project(&self, name: &str) -> Result<Stored<Project>> {
        self.catalog
            .get(&self.catalog.keys.project(name))
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("project {name:?}")))
    }

    pub async fn create_project(&self, mut project: Project) -> Result<Project> {
        validate_project(&project)?;
        project.stamp_created();
        let key = self.catalog.keys.project(&project.name);
        let result = self
            .catalog
            .commit(
                vec![Condition::absent(&key)],
                vec![featurestore_metastore::Op::put(
                    &key,
                    project.encode_to_vec(),
                )],
            )
            .await;
        match result {
            Ok(revision) => Ok(project.at_revision(revision)),
            Err(e) if e.is_conflict() => Err(RegistryError::AlreadyExists(format!(
                "project {:?}",
                project.name
            ))),
            Err(e) => Err(e),
        }
    }

    pub async fn get_project(&self, name: &str) -> Result<Project> {
        featurestore_domain::validate_name("name", name)?;
        Ok(self.project(name).await?.into_response())
    }

    pub async fn list_projects(
        &self,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<Project>, String)> {
        let all = self
            .catalog
            .list::<Project>(&self.catalog.keys.projects_prefix())
            .await?;
        let (page, next) = paginate(all, |p| p.object.name.clone(), page_size, token);
        Ok((page.into_iter().map(Stored::into_response).collect(), next))
    }

    /// Replaces the project's role bindings.
    pub async fn set_project_roles(
        &self,
        name: &str,
        roles: Vec<RoleBinding>,
        expected_revision: i64,
    ) -> Result<Project> {
        featurestore_domain::validate_name("project", name)?;
        validate_roles("roles", &roles)?;
        let stored = self.project(name).await?;
        check_expected(
            &format!("project {name:?}"),
            expected_revision,
            stored.revision,
        )?;
        let old = &stored.object;
        if old.roles == roles {
            return Ok(stored.into_response());
        }
        let mut new = Project {
            roles,
            ..old.clone()
        };
        new.stamp_updated(old.meta.as_ref());
        let key = self.catalog.keys.project(name);
        match self
            .catalog
            .commit(
                vec![Condition::at(&key, stored.revision)],
                vec![featurestore_metastore::Op::put(&key, new.encode_to_vec())],
            )
            .await
        {
            Ok(revision) => Ok(new.at_revision(revision)),
            Err(e) if e.is_conflict() => Err(RegistryError::Aborted(format!(
                "project {name:?} was changed concurrently; re-read and retry"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Refused while the project holds any entity, group, view or training
    /// dataset.
    pub async fn delete_project(&self, name: &str, expected_revision: i64) -> Result<i64> {
        featurestore_domain::validate_name("name", name)?;
        retry_on_conflict("delete project", || async {
            let project = self.project(name).await?;
            check_expected(&format!("project {name:?}"), expected_revision, project.revision)?;
            let prefix = self.catalog.keys.project_prefix(name);
            let listing = self.catalog.store.list(&prefix).await?;
            if !listing.kvs.is_empty() {
                return Err(RegistryError::FailedPrecondition(format!(
                    "project {name:?} still holds {} object(s) (entities, feature groups, views, training datasets); delete them first",
                    listing.kvs.len()
                )));
            }
            // Applies only if nothing was created in the project meanwhile.
            let key = self.catalog.keys.project(name);
            self.catalog
                .commit(
                    vec![
                        Condition::at(&key, project.revision),
                        Condition::prefix_unchanged_since(prefix, listing.revision),
                    ],
                    vec![featurestore_metastore::Op::delete(key)],
                )
                .await
        })
        .await
    }
}
