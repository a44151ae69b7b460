//! The alert rules and the Grafana dashboard under `k8s/monitoring` are
//! checked like code: every series they query is one a service records
//! (the constants the services record with), every alert says what it is
//! and how bad, and the README's Metrics table lists every series.

use std::{collections::BTreeSet, path::Path};

/// Every series the services record: the names of the constants in their
/// `metrics.rs` (and the build info), where every series is recorded from
/// (no macro is called with a name of its own, checked here), so a series
/// added there is checked below without being listed twice.
fn recorded() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = vec![root.join("libs/runtime/src/build_info.rs")];
    for dir in ["services", "libs"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let file = entry.unwrap().path().join("src/metrics.rs");
            if file.exists() {
                sources.push(file);
            }
        }
    }
    let mut names = BTreeSet::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let line = line.trim();
            assert!(
                !["counter!(\"", "gauge!(\"", "histogram!(\""]
                    .iter()
                    .any(|call| line.contains(call)),
                "{}: a series named in place, not by a constant: {line}",
                file.display()
            );
            if let Some(name) = line
                .strip_prefix("pub const ")
                .and_then(|rest| rest.split_once(": &str = \""))
                .and_then(|(_, value)| value.strip_suffix("\";"))
                .filter(|name| name.starts_with("featurestore_") || name.starts_with("rpc_server_"))
            {
                names.insert(name.to_string());
            }
        }
    }
    // The ones every deployment has, so an empty scan cannot pass.
    for name in [
        featurestore_runtime::metrics::RPC_SERVER_CALL_DURATION,
        featurestore_online_serving::metrics::STATUSES,
        featurestore_materialization::metrics::WATERMARK,
        featurestore_ingestion::metrics::ROWS,
        featurestore_offline_query::metrics::ROWS,
        featurestore_registry::metrics::CONFLICTS,
        featurestore_runtime::build_info::BUILD_INFO,
    ] {
        assert!(names.contains(name), "{name} not found in the sources");
    }
    names
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

fn assert_recorded(what: &str, expr: &str, recorded: &BTreeSet<String>) {
    let series = series_in(expr);
    assert!(
        !series.is_empty(),
        "{what}: queries no feature store series: {expr}"
    );
    for name in series {
        assert!(
            recorded.contains(&name),
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
        .filter(|name| !queried.contains(*name))
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
