//! `fsctl` against a registry on real etcd: apply is declarative and
//! idempotent, and prints its plan.

mod common;

use featurestore_integration_tests::registry::RegistrySandbox;

fn fsctl(registry: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["--registry", registry];
    all.extend_from_slice(args);
    common::fsctl(&all)
}

fn example() -> String {
    format!("{}/../../examples/shop.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_twice_creates_then_changes_nothing() {
    let registry = RegistrySandbox::start().await;
    let url = registry.url();
    let spec = example();
    let (url2, spec2) = (url.clone(), spec.clone());
    let (ok, first) = tokio::task::spawn_blocking(move || fsctl(&url2, &["apply", "-f", &spec2]))
        .await
        .unwrap();
    assert!(ok, "{first}");
    assert!(
        first.contains("create     feature group  customer_orders@1"),
        "{first}"
    );
    assert!(
        first.contains("create     feature view   fraud_model@1"),
        "{first}"
    );
    assert!(first.contains("applied 6 change(s)"), "{first}");

    let (url2, spec2) = (url.clone(), spec.clone());
    let (ok, second) = tokio::task::spawn_blocking(move || fsctl(&url2, &["apply", "-f", &spec2]))
        .await
        .unwrap();
    assert!(ok, "{second}");
    assert!(
        !second.contains("create ") && !second.contains("update "),
        "{second}"
    );
    assert_eq!(second.matches("unchanged").count(), 6, "{second}");
    assert!(second.contains("0 change(s)"), "{second}");

    // Adding a feature is an in-place update; the view gets a new version
    // only when its own definition changes.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&spec).unwrap();
    let added = text.replace(
        "        description: Behaviour embedding\n",
        "        description: Behaviour embedding\n      - name: first_seen\n        type: timestamp\n",
    );
    let added_path = dir.path().join("added.yaml");
    std::fs::write(&added_path, &added).unwrap();
    let (url2, path) = (url.clone(), added_path.display().to_string());
    let (ok, third) = tokio::task::spawn_blocking(move || fsctl(&url2, &["apply", "-f", &path]))
        .await
        .unwrap();
    assert!(ok, "{third}");
    assert!(
        third.contains("update     feature group  customer_orders@1"),
        "{third}"
    );
    assert!(
        third.contains("unchanged  feature view   fraud_model@1"),
        "{third}"
    );

    // A breaking change in place is refused with a pointer to versions.
    let retyped = added.replace(
        "      - name: first_seen\n        type: timestamp\n",
        "      - name: first_seen\n        type: string\n",
    );
    let retyped_path = dir.path().join("retyped.yaml");
    std::fs::write(&retyped_path, retyped).unwrap();
    let (url2, path) = (url.clone(), retyped_path.display().to_string());
    let (ok, fourth) = tokio::task::spawn_blocking(move || fsctl(&url2, &["apply", "-f", &path]))
        .await
        .unwrap();
    assert!(!ok, "{fourth}");
    assert!(
        fourth.contains("FailedPrecondition") && fourth.contains("new version"),
        "{fourth}"
    );

    // Describe prints the spec form.
    let url2 = url.clone();
    let (ok, described) = tokio::task::spawn_blocking(move || {
        fsctl(
            &url2,
            &[
                "describe",
                "feature-group",
                "customer_orders",
                "--project",
                "shop",
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{described}");
    assert!(
        described.contains("first_seen") && described.contains("type: timestamp"),
        "{described}"
    );

    let (ok, listed) =
        tokio::task::spawn_blocking(move || fsctl(&url, &["list", "feature-views", "-p", "shop"]))
            .await
            .unwrap();
    assert!(ok && listed.contains("fraud_model"), "{listed}");
}
