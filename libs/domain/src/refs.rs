//! Typed identifiers for catalog objects, so that a name is never confused
//! with another kind of name.

use std::fmt;

use crate::{DomainError, names::validate_name};

/// A feature group version: `project/name@version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureGroupId {
    pub project: String,
    pub name: String,
    pub version: u32,
}

impl fmt::Display for FeatureGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.project, self.name, self.version)
    }
}

/// A feature view version: `project/name@version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureViewId {
    pub project: String,
    pub name: String,
    pub version: u32,
}

impl fmt::Display for FeatureViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.project, self.name, self.version)
    }
}

/// A feature reference in its text form: `group:feature` or
/// `group@version:feature` (version 0 = latest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeatureRefName {
    pub group: String,
    pub group_version: u32,
    pub feature: String,
}

impl FeatureRefName {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let (group_part, feature) = text.split_once(':').ok_or_else(|| {
            DomainError::invalid(
                "feature",
                format!("{text:?} is not a feature reference: expected group:feature"),
            )
        })?;
        let (group, group_version) = match group_part.split_once('@') {
            Some((group, version)) => (
                group,
                version.parse::<u32>().map_err(|_| {
                    DomainError::invalid("feature", format!("{text:?}: bad version {version:?}"))
                })?,
            ),
            None => (group_part, 0),
        };
        validate_name("feature.group", group)?;
        validate_name("feature.name", feature)?;
        Ok(Self {
            group: group.to_string(),
            group_version,
            feature: feature.to_string(),
        })
    }
}

impl fmt::Display for FeatureRefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group_version == 0 {
            write!(f, "{}:{}", self.group, self.feature)
        } else {
            write!(f, "{}@{}:{}", self.group, self.group_version, self.feature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_refs_parse_and_print() {
        for text in ["orders:amount", "orders@3:amount"] {
            assert_eq!(FeatureRefName::parse(text).unwrap().to_string(), text);
        }
        assert!(FeatureRefName::parse("orders").is_err());
        assert!(FeatureRefName::parse("Orders:x").is_err());
        assert!(FeatureRefName::parse("orders@x:y").is_err());
    }
}
