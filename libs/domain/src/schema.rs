//! Validation of catalog objects and the rules for changing them. Every error
//! names the field that was wrong, as a path into the request.

use std::collections::{BTreeMap, HashSet};

use featurestore_proto::v1::{
    Entity, Feature, FeatureGroup, FeatureView, KeyColumn, Project, Role, RoleBinding, ScalarType,
};

use crate::{
    DomainError,
    names::{validate_name, validate_tags},
    types::{check_value, is_key_type, scalar_name, type_name, validate_type},
};

/// Event time column used when a group does not name one.
pub const DEFAULT_EVENT_TIME_COLUMN: &str = "event_time";
/// Most Kafka partitions a group may ask for.
pub const MAX_PARTITIONS: u32 = 1024;
/// Most features in one group.
pub const MAX_FEATURES: usize = 1000;

const MAX_TEXT: usize = 4096;

fn validate_text(field: &str, text: &str) -> Result<(), DomainError> {
    if text.len() > MAX_TEXT {
        return Err(DomainError::invalid(
            field,
            format!("longer than {MAX_TEXT} bytes"),
        ));
    }
    Ok(())
}

pub fn validate_project(project: &Project) -> Result<(), DomainError> {
    validate_name("project.name", &project.name)?;
    validate_text("project.description", &project.description)?;
    validate_tags("project.tags", &project.tags)?;
    validate_roles("project.roles", &project.roles)
}

/// Role bindings: a role each, at least one member, members well formed
/// ([`validate_member`]).
pub fn validate_roles(field: &str, roles: &[RoleBinding]) -> Result<(), DomainError> {
    for (i, binding) in roles.iter().enumerate() {
        let f = format!("{field}[{i}]");
        match Role::try_from(binding.role) {
            Ok(Role::Unspecified) | Err(_) => {
                return Err(DomainError::invalid(
                    format!("{f}.role"),
                    "must be reader, writer or admin",
                ));
            }
            Ok(_) => {}
        }
        if binding.members.is_empty() {
            return Err(DomainError::invalid(
                format!("{f}.members"),
                "at least one member is required",
            ));
        }
        for (j, member) in binding.members.iter().enumerate() {
            validate_member(member)
                .map_err(|reason| DomainError::invalid(format!("{f}.members[{j}]"), reason))?;
        }
    }
    Ok(())
}

/// Why a role member is not one. Members are principal ids
/// (`<issuer>#<subject>` for a token, `cert:<name>` for a client
/// certificate) or `group:<name>`.
pub fn validate_member(member: &str) -> Result<(), String> {
    if member.is_empty() || member.len() > 512 {
        return Err("must be 1 to 512 characters".into());
    }
    if member.chars().any(char::is_whitespace) {
        return Err(format!("{member:?} contains white space"));
    }
    if member == "group:" || member == "cert:" {
        return Err(format!("{member:?} needs a name after the colon"));
    }
    Ok(())
}

fn validate_key_columns(field: &str, keys: &[KeyColumn]) -> Result<(), DomainError> {
    if keys.is_empty() {
        return Err(DomainError::invalid(field, "at least one key is required"));
    }
    let mut seen = HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let f = format!("{field}[{i}]");
        validate_name(&format!("{f}.name"), &key.name)?;
        if !seen.insert(key.name.as_str()) {
            return Err(DomainError::invalid(
                format!("{f}.name"),
                format!("duplicate key {:?}", key.name),
            ));
        }
        match ScalarType::try_from(key.r#type) {
            Ok(t) if is_key_type(t) => {}
            Ok(ScalarType::Float32 | ScalarType::Float64) => {
                return Err(DomainError::invalid(
                    format!("{f}.type"),
                    "floating-point columns cannot be keys",
                ));
            }
            _ => {
                return Err(DomainError::invalid(
                    format!("{f}.type"),
                    format!(
                        "unknown key type {}; use bool, int32, int64, string, bytes or timestamp",
                        key.r#type
                    ),
                ));
            }
        }
        validate_text(&format!("{f}.description"), &key.description)?;
    }
    Ok(())
}

pub fn validate_entity(entity: &Entity) -> Result<(), DomainError> {
    validate_name("entity.project", &entity.project)?;
    validate_name("entity.name", &entity.name)?;
    validate_key_columns("entity.join_keys", &entity.join_keys)?;
    validate_text("entity.description", &entity.description)?;
    validate_tags("entity.tags", &entity.tags)
}

/// Validates a feature group for creation and fills in defaults: the primary
/// key from the entity, the event time column and the partition count.
pub fn normalize_feature_group(
    group: &mut FeatureGroup,
    entity: &Entity,
    default_partitions: u32,
) -> Result<(), DomainError> {
    validate_name("feature_group.project", &group.project)?;
    validate_name("feature_group.name", &group.name)?;
    validate_name("feature_group.entity", &group.entity)?;
    if group.primary_key.is_empty() {
        group.primary_key = entity.join_keys.clone();
    }
    validate_key_columns("feature_group.primary_key", &group.primary_key)?;
    for (i, key) in group.primary_key.iter().enumerate() {
        match entity.join_keys.iter().find(|k| k.name == key.name) {
            None => {
                return Err(DomainError::invalid(
                    format!("feature_group.primary_key[{i}]"),
                    format!(
                        "{:?} is not a join key of entity {:?} (its keys: {})",
                        key.name,
                        entity.name,
                        join_key_names(&entity.join_keys)
                    ),
                ));
            }
            Some(k) if k.r#type != key.r#type => {
                return Err(DomainError::invalid(
                    format!("feature_group.primary_key[{i}].type"),
                    format!(
                        "{:?} is {} in entity {:?}, not {}",
                        key.name,
                        scalar_name(k.r#type()),
                        entity.name,
                        scalar_name(key.r#type())
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    for key in &entity.join_keys {
        if !group.primary_key.iter().any(|k| k.name == key.name) {
            return Err(DomainError::invalid(
                "feature_group.primary_key",
                format!(
                    "join key {:?} of entity {:?} is missing from the primary key",
                    key.name, entity.name
                ),
            ));
        }
    }
    if group.event_time_column.is_empty() {
        group.event_time_column = DEFAULT_EVENT_TIME_COLUMN.to_string();
    }
    validate_name("feature_group.event_time_column", &group.event_time_column)?;
    if group
        .primary_key
        .iter()
        .any(|k| k.name == group.event_time_column)
    {
        return Err(DomainError::invalid(
            "feature_group.event_time_column",
            format!("{:?} is also a key column", group.event_time_column),
        ));
    }
    validate_features(group)?;
    crate::aggregation::validate_aggregations(group)?;
    if group.ttl_seconds < 0 {
        return Err(DomainError::invalid(
            "feature_group.ttl_seconds",
            "must not be negative (0 means no limit)",
        ));
    }
    if group.partitions == 0 {
        group.partitions = default_partitions;
    }
    if group.partitions > MAX_PARTITIONS {
        return Err(DomainError::invalid(
            "feature_group.partitions",
            format!("at most {MAX_PARTITIONS}"),
        ));
    }
    validate_text("feature_group.description", &group.description)?;
    validate_text("feature_group.owner", &group.owner)?;
    validate_tags("feature_group.tags", &group.tags)
}

fn join_key_names(keys: &[KeyColumn]) -> String {
    keys.iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn validate_features(group: &FeatureGroup) -> Result<(), DomainError> {
    if group.features.is_empty() {
        return Err(DomainError::invalid(
            "feature_group.features",
            "at least one feature is required",
        ));
    }
    if group.features.len() > MAX_FEATURES {
        return Err(DomainError::invalid(
            "feature_group.features",
            format!("at most {MAX_FEATURES} features"),
        ));
    }
    let mut seen: HashSet<&str> = group.primary_key.iter().map(|k| k.name.as_str()).collect();
    seen.insert(group.event_time_column.as_str());
    for (i, feature) in group.features.iter().enumerate() {
        let f = format!("feature_group.features[{i}]");
        validate_feature(&f, feature)?;
        if !seen.insert(feature.name.as_str()) {
            return Err(DomainError::invalid(
                format!("{f}.name"),
                format!(
                    "duplicate column {:?} (feature names must differ from each other, the keys and the event time column)",
                    feature.name
                ),
            ));
        }
    }
    Ok(())
}

fn validate_feature(field: &str, feature: &Feature) -> Result<(), DomainError> {
    validate_name(&format!("{field}.name"), &feature.name)?;
    let ty = validate_type(&format!("{field}.type"), feature.r#type.as_ref())?;
    if let Some(default) = &feature.default_value {
        check_value(&ty, default.kind.as_ref())
            .map_err(|reason| DomainError::invalid(format!("{field}.default_value"), reason))?;
    }
    validate_text(&format!("{field}.description"), &feature.description)?;
    validate_tags(&format!("{field}.tags"), &feature.tags)
}

/// Checks that `new` may replace `old` in place (same version): only
/// additive, non-breaking changes. A breaking change is FAILED_PRECONDITION
/// naming the field, because it needs a new version.
pub fn check_in_place_update(old: &FeatureGroup, new: &FeatureGroup) -> Result<(), DomainError> {
    let breaking = |field: &str, what: String| {
        Err(DomainError::precondition(
            format!("feature_group.{field}"),
            format!("{what}: a breaking change needs a new version of the group"),
        ))
    };
    if new.entity != old.entity {
        return breaking("entity", "the entity cannot change".into());
    }
    if new.primary_key != old.primary_key {
        return breaking("primary_key", "the primary key cannot change".into());
    }
    if new.event_time_column != old.event_time_column {
        return breaking(
            "event_time_column",
            "the event time column cannot change".into(),
        );
    }
    if new.partitions != old.partitions {
        return breaking("partitions", "the partition count cannot change".into());
    }
    if new.online_enabled != old.online_enabled || new.offline_enabled != old.offline_enabled {
        return breaking(
            "online_enabled",
            "online/offline enablement cannot change".into(),
        );
    }
    for (i, old_feature) in old.features.iter().enumerate() {
        match new.features.get(i) {
            Some(f) if f.name == old_feature.name => {
                if f.r#type != old_feature.r#type {
                    return breaking(
                        &format!("features[{i}].type"),
                        format!(
                            "feature {:?} cannot change type from {}",
                            f.name,
                            old_feature
                                .r#type
                                .as_ref()
                                .map(type_name)
                                .unwrap_or_default()
                        ),
                    );
                }
            }
            _ => {
                return breaking(
                    &format!("features[{i}]"),
                    format!(
                        "feature {:?} was removed, renamed or moved (new features go at the end)",
                        old_feature.name
                    ),
                );
            }
        }
    }
    crate::aggregation::check_in_place_update(old, new)
}

/// Validates a view against the groups of its selections (`groups[i]` is
/// the resolved group of `view.selections[i]`), and fills in the resolved
/// group versions, the selected features and the view's join keys.
pub fn resolve_feature_view(
    view: &mut FeatureView,
    groups: &[FeatureGroup],
) -> Result<(), DomainError> {
    validate_name("feature_view.project", &view.project)?;
    validate_name("feature_view.name", &view.name)?;
    if view.selections.is_empty() {
        return Err(DomainError::invalid(
            "feature_view.selections",
            "select features from at least one group",
        ));
    }
    debug_assert_eq!(view.selections.len(), groups.len());
    let mut join_keys: Vec<KeyColumn> = Vec::new();
    let mut key_origin: BTreeMap<String, String> = BTreeMap::new();
    let mut seen_groups = HashSet::new();
    for (i, (selection, group)) in view.selections.iter_mut().zip(groups).enumerate() {
        let f = format!("feature_view.selections[{i}]");
        if !seen_groups.insert(group.name.clone()) {
            return Err(DomainError::invalid(
                format!("{f}.group"),
                format!("group {:?} is selected twice", group.name),
            ));
        }
        selection.group_version = group.version;
        if selection.features.is_empty() {
            selection.features = group
                .features
                .iter()
                .map(|f| f.name.clone())
                .chain(group.aggregations.iter().map(|a| a.name.clone()))
                .collect();
        }
        let mut seen_features = HashSet::new();
        for (j, name) in selection.features.iter().enumerate() {
            let known = group.features.iter().any(|feat| &feat.name == name)
                || group.aggregations.iter().any(|a| &a.name == name);
            if !known {
                return Err(DomainError::not_found(format!(
                    "{f}.features[{j}]: feature {name:?} in group {}@{}",
                    group.name, group.version
                )));
            }
            if !seen_features.insert(name) {
                return Err(DomainError::invalid(
                    format!("{f}.features[{j}]"),
                    format!("feature {name:?} is selected twice"),
                ));
            }
        }
        for key in &group.primary_key {
            match join_keys.iter().find(|k| k.name == key.name) {
                Some(existing) if existing.r#type != key.r#type => {
                    return Err(DomainError::invalid(
                        format!("{f}.group"),
                        format!(
                            "keys do not join: {:?} is {} in group {:?} but {} in group {:?}",
                            key.name,
                            scalar_name(key.r#type()),
                            group.name,
                            scalar_name(existing.r#type()),
                            key_origin[&key.name]
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    key_origin.insert(key.name.clone(), group.name.clone());
                    join_keys.push(key.clone());
                }
            }
        }
    }
    for (i, label) in view.label_columns.iter().enumerate() {
        validate_name(&format!("feature_view.label_columns[{i}]"), label)?;
        if join_keys.iter().any(|k| &k.name == label) {
            return Err(DomainError::invalid(
                format!("feature_view.label_columns[{i}]"),
                format!("{label:?} is a join key"),
            ));
        }
    }
    view.join_keys = join_keys;
    validate_text("feature_view.description", &view.description)?;
    validate_text("feature_view.owner", &view.owner)?;
    validate_tags("feature_view.tags", &view.tags)
}

#[cfg(test)]
mod tests;
