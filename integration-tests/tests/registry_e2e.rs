//! The registry end to end: gRPC against a registry backed by real etcd.

use std::time::Duration;

use featurestore_domain::fixtures::{entity, feature, group, key, view};
use featurestore_integration_tests::registry::RegistrySandbox;
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest, CreateProjectRequest,
    DeleteFeatureGroupRequest, DeleteFeatureViewRequest, DeleteProjectRequest, FeatureGroup,
    GetFeatureGroupRequest, GetFeatureViewRequest, ListFeatureGroupsRequest,
    ListFeatureViewsRequest, Project, ScalarType, SearchFeaturesRequest, UpdateFeatureGroupRequest,
    registry_service_client::RegistryServiceClient,
};
use tonic::{Code, transport::Channel};

type Client = RegistryServiceClient<Channel>;

async fn setup_shop(client: &mut Client) {
    client
        .create_project(CreateProjectRequest {
            project: Some(Project {
                name: "shop".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    for e in [
        entity("shop", "customer", &[("customer_id", ScalarType::Int64)]),
        entity("shop", "merchant", &[("merchant_id", ScalarType::String)]),
    ] {
        client
            .create_entity(CreateEntityRequest { entity: Some(e) })
            .await
            .unwrap();
    }
}

async fn create_group(client: &mut Client, g: FeatureGroup) -> Result<FeatureGroup, tonic::Status> {
    client
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(g),
        })
        .await
        .map(|r| r.into_inner())
}

fn orders() -> FeatureGroup {
    FeatureGroup {
        owner: "risk".into(),
        description: "Order statistics".into(),
        tags: [("team".to_string(), "risk".to_string())].into(),
        ..group(
            "shop",
            "orders",
            "customer",
            &[("amount", "float64"), ("n_orders", "int64")],
        )
    }
}

#[tokio::test]
async fn serves_health_and_reflection() {
    let registry = RegistrySandbox::start().await;
    let channel = registry.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "featurestore.v1.RegistryService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"featurestore.v1.RegistryService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"featurestore.v1.IngestionService".to_string()),
        "only served services: {names:?}"
    );
}

#[tokio::test]
async fn feature_group_lifecycle() {
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;

    let created = create_group(&mut client, orders()).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(
        created.primary_key,
        vec![key("customer_id", ScalarType::Int64)],
        "filled from the entity"
    );
    assert_eq!(created.event_time_column, "event_time");
    assert_eq!(created.partitions, 8);
    let revision = created.meta.unwrap().revision;
    assert!(revision > 0);

    // Creating it again is refused; nothing changes.
    let again = create_group(&mut client, orders()).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    // Add a feature in place: same version, new revision.
    let mut added = created.clone();
    added.features.push(feature("last_country", "string"));
    let updated = client
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(added),
            expected_revision: revision,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 1);
    assert_eq!(updated.features.len(), 3);
    assert!(updated.meta.unwrap().revision > revision);
    assert_eq!(
        updated.meta.unwrap().create_time_micros,
        created.meta.unwrap().create_time_micros
    );

    // A stale revision is ABORTED.
    let mut stale = updated.clone();
    stale.description = "stale".into();
    let err = client
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(stale),
            expected_revision: revision,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");

    // Retyping in place is refused and names the field; version 2 allows it.
    let mut retyped = updated.clone();
    retyped.features[0] = feature("amount", "string");
    let err = client
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(retyped.clone()),
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("features[0].type"),
        "{}",
        err.message()
    );
    retyped.version = 2;
    retyped.meta = None;
    let v2 = create_group(&mut client, retyped).await.unwrap();
    assert_eq!(v2.version, 2);
    let mut skipping = orders();
    skipping.version = 5;
    assert_eq!(
        create_group(&mut client, skipping)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    // Get by version and latest.
    let get = |version| GetFeatureGroupRequest {
        project: "shop".into(),
        name: "orders".into(),
        version,
    };
    assert_eq!(
        client
            .get_feature_group(get(0))
            .await
            .unwrap()
            .into_inner()
            .version,
        2
    );
    let v1 = client.get_feature_group(get(1)).await.unwrap().into_inner();
    assert_eq!(v1.features.len(), 3);
    assert_eq!(
        client.get_feature_group(get(9)).await.unwrap_err().code(),
        Code::NotFound
    );

    // A view pins version 1; deleting version 1 is refused while it exists.
    let mut v = view("shop", "fraud", &[("orders", &["amount"])]);
    v.selections[0].group_version = 1;
    let created_view = client
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(v),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created_view.selections[0].group_version, 1);
    let delete_v1 = DeleteFeatureGroupRequest {
        project: "shop".into(),
        name: "orders".into(),
        version: 1,
        expected_revision: 0,
    };
    let err = client
        .delete_feature_group(delete_v1.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("fraud@1"), "{}", err.message());
    // Deleting the project is refused while it holds objects.
    let err = client
        .delete_project(DeleteProjectRequest {
            name: "shop".into(),
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    client
        .delete_feature_view(DeleteFeatureViewRequest {
            project: "shop".into(),
            name: "fraud".into(),
            version: 1,
            expected_revision: 0,
        })
        .await
        .unwrap();
    client.delete_feature_group(delete_v1).await.unwrap();
    assert_eq!(
        client.get_feature_group(get(1)).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn lists_filter_and_paginate() {
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;
    for i in 0..5 {
        let mut g = group("shop", &format!("g{i}"), "customer", &[("x", "int64")]);
        g.owner = if i % 2 == 0 {
            "even".into()
        } else {
            "odd".into()
        };
        create_group(&mut client, g).await.unwrap();
    }
    create_group(
        &mut client,
        group("shop", "m", "merchant", &[("y", "int64")]),
    )
    .await
    .unwrap();
    let mut v2 = group("shop", "g0", "customer", &[("x", "int64"), ("z", "bool")]);
    v2.version = 2;
    create_group(&mut client, v2).await.unwrap();

    let list = |page_token: String, latest_only: bool| ListFeatureGroupsRequest {
        project: "shop".into(),
        entity: "customer".into(),
        latest_only,
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_feature_groups(list(token, false))
            .await
            .unwrap()
            .into_inner();
        assert!(page.feature_groups.len() <= 2);
        seen.extend(
            page.feature_groups
                .iter()
                .map(|g| format!("{}@{}", g.name, g.version)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["g0@1", "g0@2", "g1@1", "g2@1", "g3@1", "g4@1"]);

    let latest = client
        .list_feature_groups(ListFeatureGroupsRequest {
            page_size: 100,
            ..list(String::new(), true)
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<String> = latest
        .feature_groups
        .iter()
        .map(|g| format!("{}@{}", g.name, g.version))
        .collect();
    assert_eq!(names, ["g0@2", "g1@1", "g2@1", "g3@1", "g4@1"]);

    let odd = client
        .list_feature_groups(ListFeatureGroupsRequest {
            project: "shop".into(),
            owner: "odd".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(odd.feature_groups.len(), 2);

    let views = client
        .list_feature_views(ListFeatureViewsRequest {
            project: "shop".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(views.feature_views.is_empty());
}

#[tokio::test]
async fn search_finds_features_by_name_description_tag_and_owner() {
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;
    let mut g = orders();
    g.features[0].description = "Total order value in EUR".into();
    g.features[1].tags = [("pii".to_string(), "no".to_string())].into();
    create_group(&mut client, g).await.unwrap();
    let mut other = group("shop", "risk", "merchant", &[("score", "float32")]);
    other.owner = "fraud".into();
    create_group(&mut client, other).await.unwrap();

    let search = |query: &str, tags: &[(&str, &str)], owner: &str| SearchFeaturesRequest {
        project: String::new(),
        query: query.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        owner: owner.into(),
        ..Default::default()
    };
    let names = |r: featurestore_proto::v1::SearchFeaturesResponse| -> Vec<String> {
        r.hits
            .into_iter()
            .map(|h| format!("{}:{}", h.group, h.feature.unwrap().name))
            .collect()
    };
    let hits = names(
        client
            .search_features(search("eur", &[], ""))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(hits, ["orders:amount"]);
    let hits = names(
        client
            .search_features(search("", &[("pii", "no")], ""))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(hits, ["orders:n_orders"]);
    let hits = names(
        client
            .search_features(search("", &[("team", "")], ""))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(
        hits,
        ["orders:amount", "orders:n_orders"],
        "group tags match their features"
    );
    let hits = names(
        client
            .search_features(search("", &[], "fraud"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(hits, ["risk:score"]);
}

/// Each bad request is refused with a message naming the field, and
/// nothing of it is written.
#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;
    let base = || group("shop", "orders", "customer", &[("amount", "float64")]);
    let long = "a".repeat(60);
    let cases: Vec<(FeatureGroup, Code, &str)> = vec![
        (
            FeatureGroup {
                name: "Drop table;".into(),
                ..base()
            },
            Code::InvalidArgument,
            "feature_group.name",
        ),
        (
            FeatureGroup {
                name: "Orders".into(),
                ..base()
            },
            Code::InvalidArgument,
            "feature_group.name",
        ),
        (
            FeatureGroup {
                name: long.clone(),
                ..base()
            },
            Code::InvalidArgument,
            "60 characters",
        ),
        (
            group("shop", "orders", "customer", &[("amount", "decimal")]),
            Code::InvalidArgument,
            "features[0].type",
        ),
        (
            group(
                "shop",
                "orders",
                "customer",
                &[("a", "int64"), ("a", "bool")],
            ),
            Code::InvalidArgument,
            "features[1].name",
        ),
        (
            FeatureGroup {
                primary_key: vec![key("account_id", ScalarType::Int64)],
                ..base()
            },
            Code::InvalidArgument,
            "primary_key[0]",
        ),
        (
            group("shop", "orders", "nobody", &[("a", "int64")]),
            Code::NotFound,
            "feature_group.entity",
        ),
        (
            group("nowhere", "orders", "customer", &[("a", "int64")]),
            Code::NotFound,
            "project \"nowhere\"",
        ),
    ];
    for (g, code, needle) in cases {
        let err = create_group(&mut client, g).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(
            err.message().contains(needle),
            "{needle:?} not in {:?}",
            err.message()
        );
    }
    let listed = client
        .list_feature_groups(ListFeatureGroupsRequest {
            project: "shop".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.feature_groups.is_empty(),
        "nothing written: {listed:?}"
    );

    // Views: a missing feature, a missing group, keys that do not join.
    create_group(&mut client, base()).await.unwrap();
    let other_customer = entity("shop", "account", &[("customer_id", ScalarType::String)]);
    client
        .create_entity(CreateEntityRequest {
            entity: Some(other_customer),
        })
        .await
        .unwrap();
    create_group(
        &mut client,
        group("shop", "accounts", "account", &[("age", "int32")]),
    )
    .await
    .unwrap();
    let view_cases = [
        (
            view("shop", "v", &[("orders", &["nope"])]),
            Code::NotFound,
            "selections[0].features[0]",
        ),
        (
            view("shop", "v", &[("orders", &[]), ("ghost", &[])]),
            Code::NotFound,
            "selections[1].group",
        ),
        (
            view("shop", "v", &[("orders", &[]), ("accounts", &[])]),
            Code::InvalidArgument,
            "keys do not join",
        ),
        (
            view("shop", "Bad View", &[("orders", &[])]),
            Code::InvalidArgument,
            "feature_view.name",
        ),
    ];
    for (v, code, needle) in view_cases {
        let err = client
            .create_feature_view(CreateFeatureViewRequest {
                feature_view: Some(v),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(
            err.message().contains(needle),
            "{needle:?} not in {:?}",
            err.message()
        );
    }
    let err = client
        .get_feature_view(GetFeatureViewRequest {
            project: "shop".into(),
            name: "v".into(),
            version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "no view was written");
    let store = featurestore_integration_tests::etcd_store().await;
    use featurestore_metastore::MetadataStore;
    let keys: Vec<String> = store
        .list(&format!("{}/", registry.root()))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key.trim_start_matches(registry.root()).to_string())
        .collect();
    assert_eq!(
        keys,
        [
            "/_projects/shop",
            "/shop/entities/account",
            "/shop/entities/customer",
            "/shop/entities/merchant",
            "/shop/feature_groups/accounts/0000000001",
            "/shop/feature_groups/orders/0000000001",
        ]
    );
}

/// Two clients update the same group from the same revision: exactly one
/// wins, the other is told to retry, and the winner's change is stored.
#[tokio::test]
async fn racing_updates_of_one_group_have_one_winner() {
    let registry = RegistrySandbox::start().await;
    let mut a = registry.client().await;
    let mut b = registry.client().await;
    setup_shop(&mut a).await;
    create_group(&mut a, orders()).await.unwrap();
    for round in 0..5 {
        let current = a
            .get_feature_group(GetFeatureGroupRequest {
                project: "shop".into(),
                name: "orders".into(),
                version: 1,
            })
            .await
            .unwrap()
            .into_inner();
        let revision = current.meta.unwrap().revision;
        let mut left = current.clone();
        left.features
            .push(feature(&format!("left_{round}"), "int64"));
        let mut right = current.clone();
        right
            .features
            .push(feature(&format!("right_{round}"), "int64"));
        let (ra, rb) = tokio::join!(
            a.update_feature_group(UpdateFeatureGroupRequest {
                feature_group: Some(left),
                expected_revision: revision
            }),
            b.update_feature_group(UpdateFeatureGroupRequest {
                feature_group: Some(right),
                expected_revision: revision
            }),
        );
        let (winner, loser) = match (ra, rb) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w.into_inner(), l),
            other => panic!("exactly one update must win: {other:?}"),
        };
        assert!(
            matches!(loser.code(), Code::Aborted | Code::FailedPrecondition),
            "{loser:?}"
        );
        let stored = a
            .get_feature_group(GetFeatureGroupRequest {
                project: "shop".into(),
                name: "orders".into(),
                version: 1,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.features, winner.features);
        assert_eq!(stored.features.len(), current.features.len() + 1);
    }
}

/// Deleting a group while a view referencing it is created: never a view
/// over a deleted group.
#[tokio::test]
async fn view_creation_and_group_deletion_never_both_win() {
    let registry = RegistrySandbox::start().await;
    let mut a = registry.client().await;
    let mut b = registry.client().await;
    setup_shop(&mut a).await;
    for round in 0..8 {
        let name = format!("g{round}");
        create_group(&mut a, group("shop", &name, "customer", &[("x", "int64")]))
            .await
            .unwrap();
        let (created, deleted) = tokio::join!(
            a.create_feature_view(CreateFeatureViewRequest {
                feature_view: Some(view("shop", &format!("v{round}"), &[(name.as_str(), &[])])),
            }),
            b.delete_feature_group(DeleteFeatureGroupRequest {
                project: "shop".into(),
                name: name.clone(),
                version: 1,
                expected_revision: 0
            }),
        );
        assert!(
            created.is_ok() != deleted.is_ok(),
            "round {round}: exactly one of create-view / delete-group wins: {created:?} {deleted:?}"
        );
    }
}

async fn next(
    stream: &mut tonic::Streaming<featurestore_proto::v1::CatalogEvent>,
) -> featurestore_proto::v1::CatalogEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("watch event within 10s")
        .expect("watch ok")
        .expect("watch open")
}

/// A second client changes the catalog; the watch stream of the first sees
/// it, after a snapshot of what existed.
#[tokio::test]
async fn watch_streams_changes_made_by_another_client() {
    use featurestore_proto::v1::{
        WatchCatalogRequest,
        catalog_event::{Object, Type},
    };
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;
    let mut stream = client
        .watch_catalog(WatchCatalogRequest {
            project: "shop".into(),
            send_initial_snapshot: true,
            start_after_revision: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut snapshot = Vec::new();
    loop {
        let event = next(&mut stream).await;
        if event.r#type == Type::Synced as i32 {
            break;
        }
        snapshot.push(event);
    }
    assert_eq!(snapshot.len(), 3, "project and two entities: {snapshot:?}");

    // Another registry replica over the same catalog makes the change.
    let other = RegistrySandbox::start_at_root(registry.root()).await;
    let mut other_client = other.client().await;
    let created = create_group(&mut other_client, orders()).await.unwrap();
    let event = next(&mut stream).await;
    assert_eq!(event.r#type, Type::Put as i32);
    assert_eq!(event.revision, created.meta.unwrap().revision);
    let Some(Object::FeatureGroup(g)) = event.object else {
        panic!("expected a group: {event:?}")
    };
    assert_eq!((g.name.as_str(), g.version), ("orders", 1));

    other_client
        .delete_feature_group(DeleteFeatureGroupRequest {
            project: "shop".into(),
            name: "orders".into(),
            version: 1,
            expected_revision: 0,
        })
        .await
        .unwrap();
    let event = next(&mut stream).await;
    assert_eq!(event.r#type, Type::Delete as i32);
    let Some(Object::FeatureGroup(g)) = event.object else {
        panic!("expected a group: {event:?}")
    };
    assert_eq!(g.name, "orders");
}

/// The catalog cache other services embed follows changes made through the
/// registry, over its own etcd client.
#[tokio::test]
async fn catalog_cache_follows_registry_changes() {
    use featurestore_catalog::{CatalogCache, Keyspace};
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;
    let cache = CatalogCache::spawn(
        featurestore_integration_tests::metadata_store().await,
        Keyspace::new(registry.root()),
    );
    cache.wait_synced(Duration::from_secs(10)).await.unwrap();
    assert!(cache.snapshot().entity("shop", "customer").is_some());
    let created = create_group(&mut client, orders()).await.unwrap();
    cache
        .wait_for_revision(created.meta.unwrap().revision, Duration::from_secs(10))
        .await
        .unwrap();
    let snapshot = cache.snapshot();
    let cached = snapshot
        .feature_group("shop", "orders", 0)
        .expect("group in cache");
    assert_eq!(cached.features, created.features);
}

/// Aggregations added in place to a group that keeps both tables start a
/// bootstrap of their history, written in the transaction that adds them:
/// a reader of the catalog sees the aggregation and its BACKFILLING state
/// at the same revision, never the one without the other.
#[tokio::test]
async fn aggregations_added_in_place_start_a_bootstrap_with_the_group() {
    use featurestore_catalog::{CatalogCache, Keyspace};
    use featurestore_proto::v1::{Aggregation, AggregationFunction, ResourceState};
    let aggregation = |name: &str, function: AggregationFunction| Aggregation {
        name: name.into(),
        function: function as i32,
        input: "amount".into(),
        window_seconds: 3600,
        ..Default::default()
    };
    let registry = RegistrySandbox::start().await;
    let mut client = registry.client().await;
    setup_shop(&mut client).await;
    let cache = CatalogCache::spawn(
        featurestore_integration_tests::metadata_store().await,
        Keyspace::new(registry.root()),
    );
    // Created with aggregations: a new version has no history to fill.
    let mut created = create_group(
        &mut client,
        FeatureGroup {
            aggregations: vec![aggregation("sum_1h", AggregationFunction::Sum)],
            ..orders()
        },
    )
    .await
    .unwrap();
    // Updates the group; the catalog as the cache sees it afterwards.
    let update = |group: FeatureGroup| {
        let (mut client, cache) = (client.clone(), &cache);
        async move {
            let updated = client
                .update_feature_group(UpdateFeatureGroupRequest {
                    feature_group: Some(group),
                    expected_revision: 0,
                })
                .await
                .unwrap()
                .into_inner();
            cache
                .wait_for_revision(updated.meta.unwrap().revision, Duration::from_secs(10))
                .await
                .unwrap();
            cache.snapshot()
        }
    };
    created
        .aggregations
        .push(aggregation("max_1h", AggregationFunction::Max));
    let snapshot = update(created.clone()).await;
    let group = snapshot.feature_group("shop", "orders", 1).unwrap();
    assert_eq!(group.aggregations.len(), 2);
    let bootstrap = snapshot.backfilling(group).expect("a running bootstrap");
    assert_eq!(bootstrap.aggregations, ["max_1h"]);
    assert_eq!(bootstrap.state(), ResourceState::Backfilling);
    assert!(bootstrap.requested_micros > 0 && bootstrap.parts.is_empty());

    // Another one while it runs: the bootstrap takes both on.
    created
        .aggregations
        .push(aggregation("min_1h", AggregationFunction::Min));
    let snapshot = update(created.clone()).await;
    let bootstrap = snapshot.bootstrap("shop", "orders", 1).unwrap();
    assert_eq!(bootstrap.aggregations, ["max_1h", "min_1h"]);
    // A change that adds none leaves it alone.
    created.description = "Orders, with their extremes".into();
    let snapshot = update(created.clone()).await;
    assert_eq!(snapshot.bootstrap("shop", "orders", 1), Some(bootstrap));
    // Deleting the group deletes its bootstrap.
    client
        .delete_feature_group(DeleteFeatureGroupRequest {
            project: "shop".into(),
            name: "orders".into(),
            version: 1,
            expected_revision: 0,
        })
        .await
        .unwrap();
    let store = featurestore_integration_tests::metadata_store().await;
    let key = Keyspace::new(registry.root()).bootstrap("shop", "orders", 1);
    assert_eq!(store.get(&key).await.unwrap(), None);
}
