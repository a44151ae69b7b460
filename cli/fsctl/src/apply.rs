//! `fsctl apply`: compares a spec with the registry, prints the plan
//! (create / update / unchanged per object), then applies it in dependency
//! order. Applying the same spec twice changes nothing the second time.

use std::fmt;

use anyhow::{Context, Result};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest, CreateProjectRequest,
    Entity, FeatureGroup, FeatureView, GetEntityRequest, GetFeatureGroupRequest,
    GetFeatureViewRequest, GetProjectRequest, Project, RoleBinding, SetProjectRolesRequest,
    UpdateFeatureGroupRequest,
};
use tonic::Code;

use crate::{
    Client,
    spec::{RolesSpec, Spec},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
}

#[derive(Debug, Clone)]
pub enum Change {
    Project(Project),
    /// The project's new role bindings, at the revision planned against.
    Roles(String, Vec<RoleBinding>, i64),
    Entity(Entity),
    CreateGroup(FeatureGroup),
    UpdateGroup(FeatureGroup, i64),
    View(FeatureView),
    None,
}

async fn found<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Result<Option<T>> {
    match result {
        Ok(r) => Ok(Some(r.into_inner())),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(crate::status_error(s)),
    }
}

/// Compares the spec with the registry.
pub async fn plan(client: &mut Client, spec: &Spec) -> Result<Vec<Step>> {
    let project = spec.project.clone();
    let mut steps = Vec::new();
    let existing = found(
        client
            .get_project(GetProjectRequest {
                name: project.clone(),
            })
            .await,
    )
    .await?;
    let project_exists = existing.is_some();
    steps.push(Step {
        action: if project_exists {
            Action::Unchanged
        } else {
            Action::Create
        },
        kind: "project",
        name: project.clone(),
        change: if project_exists {
            Change::None
        } else {
            Change::Project(spec.project())
        },
    });
    if let (Some(current), Some(roles)) = (&existing, &spec.roles) {
        let desired = roles.to_proto();
        let same = RolesSpec::from_proto(&current.roles).to_proto() == desired;
        steps.push(Step {
            action: if same {
                Action::Unchanged
            } else {
                Action::Update
            },
            kind: "roles",
            name: project.clone(),
            change: if same {
                Change::None
            } else {
                Change::Roles(
                    project.clone(),
                    desired,
                    current.meta.as_ref().map_or(0, |m| m.revision),
                )
            },
        });
    }

    let mut entities = Vec::new();
    for e in &spec.entities {
        let desired = e.to_proto(&project)?;
        let current = if project_exists {
            found(
                client
                    .get_entity(GetEntityRequest {
                        project: project.clone(),
                        name: e.name.clone(),
                    })
                    .await,
            )
            .await?
        } else {
            None
        };
        let step = match &current {
            None => Step {
                action: Action::Create,
                kind: "entity",
                name: e.name.clone(),
                change: Change::Entity(desired.clone()),
            },
            Some(cur) if same_entity(cur, &desired) => Step {
                action: Action::Unchanged,
                kind: "entity",
                name: e.name.clone(),
                change: Change::None,
            },
            Some(_) => anyhow::bail!(
                "entity {:?} differs from the registry; entities cannot change in place (delete it and apply again)",
                e.name
            ),
        };
        entities.push(current.unwrap_or(desired));
        steps.push(step);
    }

    for g in &spec.feature_groups {
        let entity = entities.iter().find(|e| e.name == g.entity);
        let entity = match entity {
            Some(e) => Some(e.clone()),
            None if project_exists => {
                found(
                    client
                        .get_entity(GetEntityRequest {
                            project: project.clone(),
                            name: g.entity.clone(),
                        })
                        .await,
                )
                .await?
            }
            None => None,
        };
        let desired = g.to_proto(&project, entity.as_ref())?;
        let get_group = |version: u32| GetFeatureGroupRequest {
            project: project.clone(),
            name: g.name.clone(),
            version,
        };
        let mut current = if project_exists {
            found(client.get_feature_group(get_group(0)).await).await?
        } else {
            None
        };
        // A spec pinned to an older version is compared with that version.
        let latest_version = current.as_ref().map(|c| c.version).unwrap_or(0);
        if desired.version != 0 && desired.version < latest_version {
            current = found(client.get_feature_group(get_group(desired.version)).await).await?;
            if current.is_none() {
                anyhow::bail!(
                    "feature group {:?} version {} does not exist (latest is {})",
                    g.name,
                    desired.version,
                    latest_version
                );
            }
        }
        let label = |v: u32| format!("{}@{}", g.name, v);
        let step = match current {
            None => Step {
                action: Action::Create,
                kind: "feature group",
                name: label(desired.version.max(1)),
                change: Change::CreateGroup(desired),
            },
            Some(cur) if desired.version > cur.version => Step {
                action: Action::Create,
                kind: "feature group",
                name: label(desired.version),
                change: Change::CreateGroup(desired),
            },
            Some(cur) => {
                let revision = cur.meta.map(|m| m.revision).unwrap_or_default();
                let mut merged = desired.clone();
                merged.version = cur.version;
                if same_group(&cur, &merged) {
                    Step {
                        action: Action::Unchanged,
                        kind: "feature group",
                        name: label(cur.version),
                        change: Change::None,
                    }
                } else {
                    Step {
                        action: Action::Update,
                        kind: "feature group",
                        name: label(cur.version),
                        change: Change::UpdateGroup(merged, revision),
                    }
                }
            }
        };
        steps.push(step);
    }

    for v in &spec.feature_views {
        let desired = v.to_proto(&project);
        let current = if project_exists {
            found(
                client
                    .get_feature_view(GetFeatureViewRequest {
                        project: project.clone(),
                        name: v.name.clone(),
                        version: 0,
                    })
                    .await,
            )
            .await?
        } else {
            None
        };
        let step = match current {
            None => Step {
                action: Action::Create,
                kind: "feature view",
                name: format!("{}@1", v.name),
                change: Change::View(desired),
            },
            Some(cur) => {
                if same_view(client, &cur, &desired).await? {
                    Step {
                        action: Action::Unchanged,
                        kind: "feature view",
                        name: format!("{}@{}", v.name, cur.version),
                        change: Change::None,
                    }
                } else {
                    let mut next = desired;
                    next.version = cur.version + 1;
                    Step {
                        action: Action::Create,
                        kind: "feature view",
                        name: format!("{}@{}", v.name, next.version),
                        change: Change::View(next),
                    }
                }
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// Executes the plan in order; stops at the first refusal.
pub async fn apply(client: &mut Client, steps: &[Step]) -> Result<()> {
    for step in steps {
        let what = format!("{} {} {}", step.action, step.kind, step.name);
        let result = match &step.change {
            Change::None => Ok(()),
            Change::Project(p) => client
                .create_project(CreateProjectRequest {
                    project: Some(p.clone()),
                })
                .await
                .map(|_| ()),
            Change::Roles(project, roles, revision) => client
                .set_project_roles(SetProjectRolesRequest {
                    project: project.clone(),
                    roles: roles.clone(),
                    expected_revision: *revision,
                })
                .await
                .map(|_| ()),
            Change::Entity(e) => client
                .create_entity(CreateEntityRequest {
                    entity: Some(e.clone()),
                })
                .await
                .map(|_| ()),
            Change::CreateGroup(g) => client
                .create_feature_group(CreateFeatureGroupRequest {
                    feature_group: Some(g.clone()),
                })
                .await
                .map(|_| ()),
            Change::UpdateGroup(g, revision) => client
                .update_feature_group(UpdateFeatureGroupRequest {
                    feature_group: Some(g.clone()),
                    expected_revision: *revision,
                })
                .await
                .map(|_| ()),
            Change::View(v) => client
                .create_feature_view(CreateFeatureViewRequest {
                    feature_view: Some(v.clone()),
                })
                .await
                .map(|_| ()),
        };
        result.map_err(crate::status_error).with_context(|| what)?;
    }
    Ok(())
}

fn same_entity(a: &Entity, b: &Entity) -> bool {
    a.join_keys == b.join_keys
        && a.description == b.description
        && a.owner == b.owner
        && a.tags == b.tags
}

/// Equal as far as a spec can say: fields the spec left empty take the
/// registry's values.
fn same_group(cur: &FeatureGroup, desired: &FeatureGroup) -> bool {
    let mut d = desired.clone();
    if d.primary_key.is_empty() {
        d.primary_key = cur.primary_key.clone();
    }
    if d.event_time_column.is_empty() {
        d.event_time_column = cur.event_time_column.clone();
    }
    if d.partitions == 0 {
        d.partitions = cur.partitions;
    }
    if d.tile_grain_seconds.is_empty() {
        d.tile_grain_seconds = cur.tile_grain_seconds.clone();
    }
    d.meta = cur.meta;
    d == *cur
}

/// Whether the latest stored view already is what the spec describes, after
/// resolving the spec's "latest version" and "all features" against the
/// registry.
async fn same_view(client: &mut Client, cur: &FeatureView, desired: &FeatureView) -> Result<bool> {
    if cur.selections.len() != desired.selections.len()
        || cur.label_columns != desired.label_columns
        || cur.description != desired.description
        || cur.owner != desired.owner
        || cur.tags != desired.tags
    {
        return Ok(false);
    }
    for (c, d) in cur.selections.iter().zip(&desired.selections) {
        if c.group != d.group {
            return Ok(false);
        }
        let group = found(
            client
                .get_feature_group(GetFeatureGroupRequest {
                    project: cur.project.clone(),
                    name: d.group.clone(),
                    version: d.group_version,
                })
                .await,
        )
        .await?;
        let Some(group) = group else { return Ok(false) };
        let features = if d.features.is_empty() {
            group.features.iter().map(|f| f.name.clone()).collect()
        } else {
            d.features.clone()
        };
        if c.group_version != group.version || c.features != features {
            return Ok(false);
        }
    }
    Ok(true)
}
