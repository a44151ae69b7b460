//! Offline query against real etcd (catalog from the registry) and Delta
//! tables on disk written the way materialization writes them: plan over
//! gRPC, read over Arrow Flight, tickets pinned to table versions, group
//! reads, and named errors.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_flight::Ticket;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_integration_tests::offline::{
    OfflineQuerySandbox,
    fixtures::{append, entity_rows, int_column, read_all, registered, request},
};
use featurestore_offlinestore::DeltaStore;
use featurestore_proto::v1::{
    EntitySource, FeatureGroupRef, QueryHandle, ReadFeatureGroupRequest, entity_source::Source,
};
use futures::TryStreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_read_over_flight_pinned_to_table_versions() {
    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10), (1, 200, 20), (2, 150, 5)], 0).await;
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut client = offline.client().await;

    let entities = entity_rows(&[(1, 150), (2, 140), (1, 1_000), (3, 1_000), (1, 150)]);
    let handle: QueryHandle = client
        .get_historical_features(request(&project, "model", entities.clone()))
        .await
        .expect("plan")
        .into_inner();
    assert_eq!(handle.table_versions.get("orders@1"), Some(&1));
    let schema = arrow_ipc::convert::try_schema_from_ipc_buffer(&handle.arrow_schema).unwrap();
    assert!(
        schema.field_with_name("orders__amount").is_ok(),
        "{schema:?}"
    );

    let result = read_all(&offline, &handle.flight_ticket).await;
    assert_eq!(
        int_column(&result, "label"),
        (0..5).map(Some).collect::<Vec<_>>(),
        "entity rows in order, extra columns kept"
    );
    assert_eq!(
        int_column(&result, "orders__amount"),
        vec![Some(10), None, Some(20), None, Some(10)]
    );

    // New rows land in a new table version; the old ticket reads the old one.
    append(&store, &g, &[(2, 120, 7), (1, 900, 90)], 3).await;
    let again = read_all(&offline, &handle.flight_ticket).await;
    assert_eq!(
        int_column(&again, "orders__amount"),
        int_column(&result, "orders__amount")
    );
    let fresh = client
        .get_historical_features(request(&project, "model", entities))
        .await
        .expect("plan")
        .into_inner();
    assert_eq!(fresh.table_versions.get("orders@1"), Some(&2));
    assert_eq!(
        int_column(
            &read_all(&offline, &fresh.flight_ticket).await,
            "orders__amount"
        ),
        vec![Some(10), Some(7), Some(90), None, Some(10)]
    );

    // The group as of its first version, over Flight too.
    let group_read = client
        .read_feature_group(ReadFeatureGroupRequest {
            consistency: None,
            group: Some(FeatureGroupRef {
                project: project.clone(),
                name: "orders".into(),
                version: 1,
            }),
            as_of: Some(featurestore_proto::v1::read_feature_group_request::AsOf::DeltaVersion(1)),
        })
        .await
        .expect("group read")
        .into_inner();
    let rows = read_all(&offline, &group_read.flight_ticket).await;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_named() {
    let (registry, project, _) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut client = offline.client().await;
    let entities = entity_rows(&[(1, 10)]);

    let err = client
        .get_historical_features(request(&project, "no_such_view", entities.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(err.message().contains("no_such_view"), "{}", err.message());

    let no_key = {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        )]));
        let mut out = Vec::new();
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
        w.write(&RecordBatch::new_empty(schema.clone())).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    };
    let err = client
        .get_historical_features(request(&project, "model", no_key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("entity_rows.customer_id"),
        "{}",
        err.message()
    );

    let missing = dir.path().join("rows.parquet");
    let mut missing_file = request(&project, "model", Vec::new());
    missing_file.entities = Some(EntitySource {
        source: Some(Source::ParquetPath(missing.to_string_lossy().into())),
        ..EntitySource::default()
    });
    let err = client
        .get_historical_features(missing_file)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(
        err.message().contains(&*missing.to_string_lossy()),
        "{}",
        err.message()
    );

    // Entity rows are read only under the configured roots (here the
    // sandbox's Delta root): whatever else the service could reach is
    // refused, whether it exists or not.
    let secret = tempfile::tempdir().unwrap();
    let secret_rows = secret.path().join("rows.parquet");
    std::fs::write(&secret_rows, b"PAR1").unwrap();
    std::os::unix::fs::symlink(&secret_rows, dir.path().join("link.parquet")).unwrap();
    // Both temporary directories share a parent: up and across.
    let up = dir
        .path()
        .join("..")
        .join(secret.path().file_name().unwrap())
        .join("rows.parquet")
        .to_string_lossy()
        .into_owned();
    for (source, shown) in [
        (
            Source::ParquetPath(secret_rows.to_string_lossy().into()),
            "entities.parquet_path",
        ),
        (Source::ParquetPath(up), "entities.parquet_path"),
        (
            Source::ParquetPath(dir.path().join("link.parquet").to_string_lossy().into()),
            "entities.parquet_path",
        ),
        (
            Source::ParquetPath("/nonexistent/rows.parquet".into()),
            "entities.parquet_path",
        ),
        (
            Source::DeltaPath(secret.path().to_string_lossy().into()),
            "entities.delta_path",
        ),
    ] {
        let mut outside = request(&project, "model", Vec::new());
        outside.entities = Some(EntitySource {
            source: Some(source.clone()),
            ..EntitySource::default()
        });
        let err = client.get_historical_features(outside).await.unwrap_err();
        assert_eq!(
            err.code(),
            tonic::Code::PermissionDenied,
            "{source:?}: {err:?}"
        );
        assert!(err.message().contains(shown), "{}", err.message());
    }

    let mut flight = offline.flight().await;
    let err = flight
        .do_get(Ticket {
            ticket: b"garbage".to_vec().into(),
        })
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("ticket"), "{err}");
}

/// Entity rows `(customer_id, event_timestamp, label)` as a stream.
fn entity_stream(rows: &[(i64, i64)]) -> featurestore_query_engine::SendableRecordBatchStream {
    let ipc = entity_rows(rows);
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).unwrap();
    let schema = reader.schema();
    let batches: Vec<_> = reader.map(|b| b.map_err(datafusion_error)).collect();
    Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches),
        ),
    )
}

fn datafusion_error(e: arrow_schema::ArrowError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::ArrowError(Box::new(e), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_entity_rows_are_pinned_to_the_version_planned() {
    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DeltaStore::new(dir.path().to_str().unwrap()).unwrap());
    append(&store, &g, &[(1, 100, 10), (2, 150, 5)], 0).await;
    // The entity rows as a Delta table (version 0), written by the engine.
    let engine = featurestore_query_engine::OfflineQuery::new(
        store.clone(),
        featurestore_query_engine::QueryConfig {
            spill_dir: dir.path().join("_spill"),
            ..Default::default()
        },
    )
    .unwrap();
    let entities = dir.path().join("_entities");
    std::fs::create_dir_all(&entities).unwrap();
    let delta = featurestore_query_engine::DatasetFormat::Delta;
    engine
        .write_dataset(entity_stream(&[(1, 150), (2, 160)]), &entities, delta, None)
        .await
        .unwrap();
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut client = offline.client().await;
    let mut query = request(&project, "model", Vec::new());
    query.entities = Some(EntitySource {
        source: Some(Source::DeltaPath(entities.to_string_lossy().into())),
        ..EntitySource::default()
    });
    let handle = client
        .get_historical_features(query)
        .await
        .expect("plan")
        .into_inner();

    // More entity rows land in version 1; the ticket still reads version 0.
    engine
        .write_dataset(entity_stream(&[(1, 500)]), &entities, delta, None)
        .await
        .unwrap();
    let rows = read_all(&offline, &handle.flight_ticket).await;
    assert_eq!(int_column(&rows, "orders__amount"), vec![Some(10), Some(5)]);
}

/// The gRPC code of a failed Flight call.
fn flight_code(err: arrow_flight::error::FlightError) -> tonic::Code {
    match err {
        arrow_flight::error::FlightError::Tonic(status) => status.code(),
        other => panic!("not a status: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_a_client_writes_or_alters_are_refused() {
    use featurestore_proto::v1::{FlightTicket, SignedTicket};
    use prost::Message;

    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10)], 0).await;
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let handle = offline
        .client()
        .await
        .get_historical_features(request(&project, "model", entity_rows(&[(1, 150)])))
        .await
        .expect("plan")
        .into_inner();
    let signed = SignedTicket::decode(handle.flight_ticket.as_slice()).unwrap();
    let inner = FlightTicket::decode(signed.ticket.as_slice()).unwrap();

    // What a client could write itself: the plain ticket, unsigned (the
    // format before tickets were signed), and one with a made-up signature
    // and no expiry.
    let unsigned = inner.encode_to_vec();
    let made_up = SignedTicket {
        ticket: FlightTicket {
            expires_at_micros: i64::MAX,
            ..inner.clone()
        }
        .encode_to_vec(),
        mac: signed.mac.clone(),
    }
    .encode_to_vec();
    let mut flight = offline.flight().await;
    for (what, ticket) in [("unsigned", unsigned), ("altered", made_up)] {
        let err = flight
            .do_get(Ticket {
                ticket: ticket.clone().into(),
            })
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(flight_code(err), tonic::Code::Unauthenticated, "{what}");
        let err = flight
            .get_flight_info(arrow_flight::FlightDescriptor::new_cmd(ticket))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(flight_code(err), tonic::Code::Unauthenticated, "{what}");
    }
    // The ticket as issued still reads.
    let rows = read_all(&offline, &handle.flight_ticket).await;
    assert_eq!(int_column(&rows, "label"), vec![Some(0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_runs_only_for_the_caller_it_was_issued_to() {
    use featurestore_runtime::{AuthConfig, auth::IssuerConfig};

    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10)], 0).await;
    // An issuer with one HMAC key (base64url of the secret below).
    let secret = b"a-test-secret-of-32-bytes-or-so!";
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE"}]}"#,
    )
    .unwrap();
    let auth = AuthConfig {
        // Anonymous calls pass the layer; the ticket check refuses them.
        required: false,
        issuers: vec![IssuerConfig {
            issuer: "https://issuer.test".into(),
            audiences: Vec::new(),
            jwks_file: Some(jwks),
            ..IssuerConfig::default()
        }],
    };
    let offline = OfflineQuerySandbox::start_with_auth(registry.root(), dir.path(), auth).await;
    let bearer = |sub: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("k1".into());
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let claims = serde_json::json!({"iss": "https://issuer.test", "sub": sub, "exp": exp});
        let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        )
    };

    let mut plan = tonic::Request::new(request(&project, "model", entity_rows(&[(1, 150)])));
    plan.metadata_mut()
        .insert("authorization", bearer("ana").parse().unwrap());
    let handle = offline
        .client()
        .await
        .get_historical_features(plan)
        .await
        .expect("plan")
        .into_inner();
    let ticket = || Ticket {
        ticket: handle.flight_ticket.clone().into(),
    };
    let mut flight = offline.flight().await;
    flight.add_header("authorization", &bearer("bob")).unwrap();
    let err = flight.do_get(ticket()).await.map(|_| ()).unwrap_err();
    assert_eq!(flight_code(err), tonic::Code::PermissionDenied);
    let mut anonymous = offline.flight().await;
    let err = anonymous.do_get(ticket()).await.map(|_| ()).unwrap_err();
    assert_eq!(flight_code(err), tonic::Code::Unauthenticated);
    let mut ana = offline.flight().await;
    ana.add_header("authorization", &bearer("ana")).unwrap();
    let rows: Vec<RecordBatch> = ana
        .do_get(ticket())
        .await
        .expect("ana's own ticket")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(int_column(&rows, "label"), vec![Some(0)]);
}
