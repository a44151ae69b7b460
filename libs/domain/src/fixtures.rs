//! Small builders of catalog objects for tests and examples.

use featurestore_proto::v1::{
    Entity, Feature, FeatureGroup, FeatureSelection, FeatureView, KeyColumn, Project, ScalarType,
    ValueType,
};

pub fn project(name: &str) -> Project {
    Project {
        name: name.into(),
        ..Default::default()
    }
}

pub fn key(name: &str, ty: ScalarType) -> KeyColumn {
    KeyColumn {
        name: name.into(),
        r#type: ty as i32,
        description: String::new(),
    }
}

pub fn entity(project: &str, name: &str, keys: &[(&str, ScalarType)]) -> Entity {
    Entity {
        project: project.into(),
        name: name.into(),
        join_keys: keys.iter().map(|(n, t)| key(n, *t)).collect(),
        ..Default::default()
    }
}

pub fn feature(name: &str, ty: &str) -> Feature {
    Feature {
        name: name.into(),
        r#type: Some(crate::types::parse_type(ty).unwrap_or(ValueType {
            scalar: 0,
            is_list: false,
        })),
        ..Default::default()
    }
}

/// A group of `entity` with features given as `(name, type)` pairs
/// (`"int64"`, `"list<float32>"`).
pub fn group(project: &str, name: &str, entity: &str, features: &[(&str, &str)]) -> FeatureGroup {
    FeatureGroup {
        project: project.into(),
        name: name.into(),
        entity: entity.into(),
        features: features.iter().map(|(n, t)| feature(n, t)).collect(),
        online_enabled: true,
        offline_enabled: true,
        ..Default::default()
    }
}

/// A view selecting `features` (empty = all) from each `(group, features)`.
pub fn view(project: &str, name: &str, selections: &[(&str, &[&str])]) -> FeatureView {
    FeatureView {
        project: project.into(),
        name: name.into(),
        selections: selections
            .iter()
            .map(|(g, fs)| FeatureSelection {
                group: (*g).into(),
                group_version: 0,
                features: fs.iter().map(|f| (*f).into()).collect(),
            })
            .collect(),
        ..Default::default()
    }
}
