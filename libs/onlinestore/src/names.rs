//! Online table names (shared by every backend).

/// Longest CQL table name.
const MAX_CQL_NAME: usize = 48;

/// The table of a group version: `<project>__<group>__v<version>`, or, when
/// that is longer than CQL allows, its first 39 characters, `_` and 8 hex
/// digits of its XXH3 hash (stable, so the same group always maps to the
/// same table).
pub fn table_name(project: &str, group: &str, version: u32) -> String {
    fitted(format!("{project}__{group}__v{version}"))
}

/// The tile table of a group version's aggregations:
/// `<project>__<group>__v<version>__tiles`, shortened as [`table_name`].
pub fn tiles_table_name(project: &str, group: &str, version: u32) -> String {
    fitted(format!("{project}__{group}__v{version}__tiles"))
}

fn fitted(full: String) -> String {
    if full.len() <= MAX_CQL_NAME {
        return full;
    }
    let hash = xxhash_rust::xxh3::xxh3_64(full.as_bytes()) as u32;
    format!("{}_{hash:08x}", &full[..MAX_CQL_NAME - 9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_fit_cql_and_are_stable() {
        assert_eq!(table_name("shop", "orders", 2), "shop__orders__v2");
        let long = table_name(&"p".repeat(48), &"g".repeat(48), 7);
        assert_eq!(long.len(), 48);
        assert_eq!(long, table_name(&"p".repeat(48), &"g".repeat(48), 7));
        assert_ne!(long, table_name(&"p".repeat(48), &"g".repeat(48), 8));
        assert_eq!(
            tiles_table_name("shop", "orders", 2),
            "shop__orders__v2__tiles"
        );
        assert_ne!(
            tiles_table_name(&"p".repeat(40), "g", 1),
            table_name(&"p".repeat(40), "g", 1)
        );
    }
}
