//! Names that become Kafka topics, CQL tables and paths are validated
//! strictly: this is also the defence against injection.

use crate::DomainError;

/// Longest allowed name: Cassandra limits table names to 48 characters.
pub const MAX_NAME_LEN: usize = 48;

/// Checks `name` against `^[a-z][a-z0-9_]{0,47}$`; `field` names the field
/// in the error.
pub fn validate_name(field: &str, name: &str) -> Result<(), DomainError> {
    if name.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(DomainError::invalid(
            field,
            format!(
                "{:?} is {} characters long; the limit is {MAX_NAME_LEN}",
                truncate(name),
                name.chars().count()
            ),
        ));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or_default();
    let valid_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first.is_ascii_lowercase() || !valid_rest {
        return Err(DomainError::invalid(
            field,
            format!(
                "{:?} is not a valid name: use lowercase letters, digits and '_', starting with a letter",
                truncate(name)
            ),
        ));
    }
    Ok(())
}

/// The Kafka topic of a feature-group version: `fs.<project>.<group>.v<version>`
/// (every part is a validated name, so topics never collide or need escaping).
pub fn topic_name(project: &str, group: &str, version: u32) -> String {
    format!("{TOPIC_PREFIX}{project}.{group}.v{version}")
}

/// The name a feature carries wherever a user sees it in results: served
/// vectors (`feature_names`), training data and historical features
/// columns, fsctl output: `<group>__<feature>` (Feast's full feature names).
/// Requests still name features as `group:feature` references.
pub fn feature_column(group: &str, feature: &str) -> String {
    format!("{group}__{feature}")
}

/// Prefix of every feature-group topic (materialization subscribes to it).
pub const TOPIC_PREFIX: &str = "fs.";

/// Tag keys follow the name rules too; values are free text up to 256 bytes.
pub fn validate_tags<'a>(
    field: &str,
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), DomainError> {
    for (key, value) in tags {
        validate_name(&format!("{field}[{key:?}]"), key)?;
        if value.len() > 256 {
            return Err(DomainError::invalid(
                format!("{field}[{key:?}]"),
                "tag values are limited to 256 bytes",
            ));
        }
    }
    Ok(())
}

fn truncate(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_snake_names() {
        for name in ["a", "customer_id", "f1", "x_2_y", &"a".repeat(48)] {
            validate_name("name", name).unwrap();
        }
    }

    #[test]
    fn rejects_injection_uppercase_and_long_names() {
        for name in [
            "",
            "Drop table;",
            "Customer",
            "1abc",
            "_hidden",
            "a-b",
            "a.b",
            "a/b",
            "ünicode",
            &"a".repeat(49),
            &"a".repeat(60),
        ] {
            let err = validate_name("feature_group.name", name).unwrap_err();
            assert!(
                err.to_string().contains("feature_group.name"),
                "error names the field: {err}"
            );
        }
    }
}
