//! The alert rules and the Grafana dashboard under `k8s/monitoring` are
//! checked like code: every series they query is one a service records
//! (the constants the services record with), every alert says what it is
//! and how bad, and the README's Metrics table lists every series.

use std::{collections::BTreeSet, path::Path};

/// Every series the services record.
fn recorded() -> BTreeSet<&'static str> {
    use featurestore_ingestion::metrics as ingestion;
    use featurestore_materialization::metrics as materialization;
    use featurestore_offline_query::metrics as offline;
    use featurestore_online_serving::metrics as serving;
    [
        featurestore_runtime::metrics::RPC_SERVER_CALL_DURATION,
        serving::BATCH,
        serving::STORE_READ,
        serving::STATUSES,
        ingestion::ROWS,
        ingestion::APPEND,
        materialization::ROWS,
        materialization::EVENTS_FOLDED,
        materialization::TILE_WRITES,
        materialization::DELTA_COMMIT,
        materialization::WATERMARK,
        materialization::LAG_RECORDS,
        materialization::LAG_SECONDS,
        materialization::PARTITION_LAG,
        materialization::CATALOG_WAIT,
        offline::ROWS,
        offline::BYTES,
        offline::SPILL,
        featurestore_registry::metrics::CONFLICTS,
        featurestore_runtime::build_info::BUILD_INFO,
    ]
    .into()
}

/// The series an expression names (a histogram's `_bucket`, `_count` and
/// `_sum` are its own).
fn series_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("featurestore_") || word.starts_with("rpc_server_"))
        .map(|word| {
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_string()
        })
        .collect()
}

fn monitoring(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/monitoring")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_recorded(what: &str, expr: &str, recorded: &BTreeSet<&str>) {
    let series = series_in(expr);
    assert!(
        !series.is_empty(),
        "{what}: queries no feature store series: {expr}"
    );
    for name in series {
        assert!(
            recorded.contains(name.as_str()),
            "{what}: {name} is not a series any service records"
        );
    }
}

#[test]
fn alert_rules_query_recorded_series_and_say_what_and_how_bad() {
    let recorded = recorded();
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&monitoring("featurestore-alerts.yaml")).unwrap();
    let rules = rules["groups"][0]["rules"]
        .as_sequence()
        .expect("groups[0].rules");
    assert!(rules.len() >= 4);
    for rule in rules {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        let expr = rule["expr"].as_str().expect("expr");
        assert_recorded(name, expr, &recorded);
        assert!(rule["for"].as_str().is_some(), "{name}: for");
        assert!(
            matches!(
                rule["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ),
            "{name}: severity"
        );
        for annotation in ["summary", "description"] {
            assert!(
                rule["annotations"][annotation].as_str().is_some(),
                "{name}: {annotation}"
            );
        }
    }
}

#[test]
fn dashboard_panels_query_recorded_series() {
    let recorded = recorded();
    let dashboard: serde_json::Value =
        serde_json::from_str(&monitoring("featurestore-dashboard.json")).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    let mut queried = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("title");
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            assert_recorded(title, expr, &recorded);
            queried.extend(series_in(expr));
        }
    }
    // Every series recorded appears on the dashboard.
    let missing: Vec<_> = recorded
        .iter()
        .filter(|name| !queried.contains(**name))
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}

#[test]
fn the_readme_lists_every_series() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    for name in recorded() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README does not list {name}"
        );
    }
}
