//! etcd goes away in the middle of a test: the registry answers UNAVAILABLE
//! within the request deadline (not a hang), and works again once etcd is
//! back, without a restart; the catalog cache catches up too.
//!
//! This file is its own test binary: cargo runs test binaries one after
//! another, so stopping etcd here does not disturb other tests.

use std::time::{Duration, Instant};

use featurestore_catalog::{CatalogCache, Keyspace};
use featurestore_integration_tests::{registry::RegistrySandbox, servers::FaultTest};
use featurestore_proto::v1::{CreateProjectRequest, GetProjectRequest, Project};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_survives_an_etcd_restart() {
    let servers = FaultTest::begin();
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    let cache = CatalogCache::spawn(
        featurestore_integration_tests::metadata_store().await,
        Keyspace::new(registry.root()),
    );
    cache.wait_synced(Duration::from_secs(10)).await.unwrap();
    let project = |name: &str| CreateProjectRequest {
        project: Some(Project {
            name: name.into(),
            ..Default::default()
        }),
    };
    client.create_project(project("before")).await.unwrap();

    let stopped = servers.stop("etcd");
    let deadline = Duration::from_secs(4);
    for _ in 0..2 {
        let mut request = tonic::Request::new(GetProjectRequest {
            name: "before".into(),
        });
        request.set_timeout(deadline);
        let started = Instant::now();
        let err = client.get_project(request).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(took < deadline, "answered within the deadline: {took:?}");
        let err = client.create_project(project("during")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    }

    drop(stopped);
    let started = Instant::now();
    let created = loop {
        match client.create_project(project("after")).await {
            Ok(p) => break p.into_inner(),
            Err(e)
                if e.code() == Code::Unavailable && started.elapsed() < Duration::from_secs(30) =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("registry did not recover after etcd came back: {e:?}"),
        }
    };
    let recovery = started.elapsed();
    println!("registry recovered {recovery:?} after etcd restarted");
    assert_eq!(
        client
            .get_project(GetProjectRequest {
                name: "before".into()
            })
            .await
            .unwrap()
            .into_inner()
            .name,
        "before",
        "data written before the outage is still there"
    );
    assert_eq!(
        client
            .get_project(GetProjectRequest {
                name: "during".into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "a refused write left nothing behind"
    );
    cache
        .wait_for_revision(created.meta.unwrap().revision, Duration::from_secs(30))
        .await
        .expect("catalog cache resumed after the restart");
    assert!(cache.snapshot().project("after").is_some());
}
