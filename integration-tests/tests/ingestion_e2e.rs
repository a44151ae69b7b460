//! Ingestion end to end: registry + ingestion in-process, real etcd and Kafka.

use std::time::Duration;

use featurestore_domain::{EntityKeyEncoder, partition_for};
use featurestore_eventlog::{
    EventLog, KafkaConfig, KafkaLog, Message, Topics,
    testsuite::{read, unique},
};
use featurestore_integration_tests::{
    ingestion::kafka_bootstrap,
    world::{World, world_with},
};
use featurestore_proto::v1::{
    FeatureGroupRef, FeatureRowRecord, IngestRequest, Row, Value, value::Kind,
};
use prost::Message as _;
use tonic::Code;

type Stack = World;

/// A registry, an ingestion service (at most 1000 rows per request) and a
/// registered group with 4 partitions, under a project name no other test
/// uses (topics are global).
async fn stack() -> Stack {
    world_with(4, |c| c.limits.max_rows_per_request = 1000).await
}

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn good_row(i: i64) -> Row {
    Row {
        values: vec![
            v(Kind::Int64Value(i)),
            v(Kind::TimestampValue(1_700_000_000_000_000 + i)),
            v(Kind::Float64Value(i as f64 * 1.5)),
            if i % 2 == 0 {
                v(Kind::NullValue(0))
            } else {
                v(Kind::StringValue(format!("c{i}")))
            },
        ],
    }
}

fn request(s: &Stack, rows: Vec<Row>) -> IngestRequest {
    IngestRequest {
        group: Some(FeatureGroupRef {
            project: s.project.clone(),
            name: "orders".into(),
            version: 0,
        }),
        columns: columns(&["customer_id", "event_time", "amount", "country"]),
        rows,
        idempotency_key: String::new(),
    }
}

fn kafka() -> KafkaLog {
    KafkaLog::new(KafkaConfig {
        bootstrap_servers: kafka_bootstrap(),
        ..KafkaConfig::default()
    })
    .unwrap()
}

async fn consume(topic: &str, count: usize) -> Vec<Message> {
    let log = kafka();
    let mut sub = log
        .subscribe(&unique("reader"), Topics::Named(vec![topic.to_string()]))
        .await
        .unwrap();
    let mut messages = read(&mut *sub, count, Duration::from_secs(30)).await;
    messages.extend(sub.next_batch(1000, Duration::from_secs(2)).await.unwrap());
    messages
}

fn topic(s: &Stack) -> String {
    format!("fs.{}.orders.v1", s.project)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_rows_are_in_the_topic_on_their_key_partition() {
    let s = stack().await;
    let mut client = s.ingestion.client().await;
    let response = client
        .ingest(request(&s, (0..200).map(good_row).collect()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.rows_accepted, response.group_version), (200, 1));

    let messages = consume(&topic(&s), 200).await;
    assert_eq!(messages.len(), 200, "each row exactly once");
    let encoder = EntityKeyEncoder::new(&s.group.primary_key);
    let mut seen = std::collections::BTreeSet::new();
    for m in &messages {
        let record = FeatureRowRecord::decode(m.payload.as_slice()).unwrap();
        let Some(Kind::Int64Value(id)) = record.key_values[0].kind else {
            panic!("key")
        };
        assert!(seen.insert(id));
        assert_eq!(
            m.key,
            encoder
                .encode([record.key_values[0].kind.as_ref()])
                .unwrap()
        );
        assert_eq!(
            m.partition as u32,
            partition_for(&m.key, 4),
            "row on its key's partition"
        );
        let sent = good_row(id);
        assert_eq!(record.event_time_micros, 1_700_000_000_000_000 + id);
        assert_eq!(record.feature_values[0], sent.values[2]);
        assert_eq!(
            record.feature_values[1], sent.values[3],
            "explicit nulls stay null"
        );
        assert_eq!(
            record.feature_values[2],
            v(Kind::NullValue(0)),
            "a feature left out is null"
        );
        assert!(record.ingest_time_micros > 0);
    }
    let partitions: std::collections::BTreeSet<i32> =
        messages.iter().map(|m| m.partition).collect();
    assert!(
        partitions.len() > 1,
        "rows spread over partitions: {partitions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_bad_rows_is_rejected_whole_with_per_row_reasons() {
    let s = stack().await;
    let mut client = s.ingestion.client().await;
    let mut rows: Vec<Row> = (0..5).map(good_row).collect();
    rows[1].values[2] = v(Kind::StringValue("12.5".into()));
    rows[3].values[0] = v(Kind::NullValue(0));
    rows[4].values.pop();
    let status = client.ingest(request(&s, rows)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("3 of 5 row(s) rejected"),
        "{}",
        status.message()
    );
    let details = featurestore_proto::error::bad_rows(&status).expect("BadRows details");
    let got: Vec<(u64, String, String)> = details
        .violations
        .iter()
        .map(|v| (v.row, v.field.clone(), v.reason.clone()))
        .collect();
    assert_eq!(
        got[0],
        (1, "amount".into(), "expected float64, got string".into())
    );
    assert_eq!((got[1].0, got[1].1.as_str()), (3, "customer_id"));
    assert_eq!((got[2].0, got[2].1.as_str()), (4, ""));
    // The same violations as the standard google.rpc.BadRequest, decoded
    // with nothing of ours (as grpcurl or Python's grpcio-status would).
    let standard = tonic_types::StatusExt::get_details_bad_request(&status)
        .expect("google.rpc.BadRequest details");
    let fields: Vec<&str> = standard
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["rows[1].amount", "rows[3].customer_id", "rows[4]"]);

    // Nothing of it was produced: the first record in the topic is a marker
    // sent afterwards.
    client
        .ingest(request(&s, vec![good_row(99)]))
        .await
        .unwrap();
    let messages = consume(&topic(&s), 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let record = FeatureRowRecord::decode(messages[0].payload.as_slice()).unwrap();
    assert_eq!(record.key_values[0], v(Kind::Int64Value(99)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_groups_wrong_columns_and_oversized_batches_are_refused() {
    let s = stack().await;
    let mut client = s.ingestion.client().await;
    let mut unknown = request(&s, vec![good_row(1)]);
    unknown.group.as_mut().unwrap().name = "nope".into();
    assert_eq!(
        client.ingest(unknown).await.unwrap_err().code(),
        Code::NotFound
    );

    let mut wrong = request(&s, vec![good_row(1)]);
    wrong.columns[3] = "colour".into();
    let err = client.ingest(wrong).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("columns[3]") && err.message().contains("colour"),
        "{}",
        err.message()
    );

    let mut no_key = request(&s, vec![]);
    no_key.columns.remove(0);
    let err = client.ingest(no_key).await.unwrap_err();
    assert!(err.message().contains("customer_id"), "{}", err.message());

    let err = client
        .ingest(request(&s, (0..1001).map(good_row).collect()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("1001 rows exceed the limit of 1000"),
        "{}",
        err.message()
    );

    let mut bad_name = request(&s, vec![good_row(1)]);
    bad_name.group.as_mut().unwrap().project = "Drop table;".into();
    assert_eq!(
        client.ingest(bad_name).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Nothing of any of them reached the topic.
    client.ingest(request(&s, vec![good_row(7)])).await.unwrap();
    let messages = consume(&topic(&s), 1).await;
    assert_eq!(messages.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_written_whole_or_not_at_all() {
    let s = stack().await;
    let mut client = s.ingestion.client().await;
    let messages = vec![
        request(&s, (0..10).map(good_row).collect()),
        IngestRequest {
            group: None,
            columns: vec![],
            rows: (10..20).map(good_row).collect(),
            idempotency_key: String::new(),
        },
        request(&s, (20..30).map(good_row).collect()),
    ];
    let response = client
        .ingest_stream(futures::stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rows_accepted, 30);

    let mut bad_last = request(&s, (100..110).map(good_row).collect());
    bad_last.rows[9].values[1] = v(Kind::Int64Value(5));
    let stream = vec![request(&s, (40..50).map(good_row).collect()), bad_last];
    let err = client
        .ingest_stream(futures::stream::iter(stream))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let details = featurestore_proto::error::bad_rows(&err).unwrap();
    assert_eq!(
        details.violations[0].row, 19,
        "row indices count across the stream"
    );
    assert_eq!(details.violations[0].field, "event_time");

    let consumed = consume(&topic(&s), 30).await;
    assert_eq!(consumed.len(), 30, "the rejected stream wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_by_reconciliation_from_the_catalog() {
    let s = stack().await;
    let log = kafka();
    let topic = topic(&s);
    let started = std::time::Instant::now();
    loop {
        if log.partition_count(&topic).await.unwrap() == Some(4) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "topic {topic} not created"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(s.registry);
}

fn dataframe(amounts: arrow_array::ArrayRef) -> Vec<u8> {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
        types::Float32Type,
    };
    let n = amounts.len();
    let embedding = ListArray::from_iter_primitive::<Float32Type, _, _>(
        (0..n).map(|i| Some(vec![Some(i as f32), Some(0.5)])),
    );
    let batch = RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
        ),
        (
            "event_time",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..n as i64).map(|i| 1_000 + i),
            )) as ArrayRef,
        ),
        ("amount", amounts),
        (
            "country",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("c{i}")),
            )) as ArrayRef,
        ),
        ("embedding", Arc::new(embedding) as ArrayRef),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataframe_is_ingested_over_arrow_ipc() {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array};
    use featurestore_proto::v1::{Float32List, IngestArrowRequest};
    let s = stack().await;
    let mut client = s.ingestion.client().await;
    let group = Some(FeatureGroupRef {
        project: s.project.clone(),
        name: "orders".into(),
        version: 1,
    });

    // amount sent as int64 where the group says float64: refused per row.
    let wrong = dataframe(Arc::new(Int64Array::from(vec![1, 2])));
    let err = client
        .ingest_arrow(IngestArrowRequest {
            group: group.clone(),
            arrow_ipc_stream: wrong,
            idempotency_key: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let details = featurestore_proto::error::bad_rows(&err).unwrap();
    assert_eq!(details.violations.len(), 2);
    assert_eq!(details.violations[0].reason, "expected float64, got int64");

    let frame = dataframe(Arc::new(Float64Array::from(vec![
        Some(1.5),
        None,
        Some(3.0),
    ])));
    let response = client
        .ingest_arrow(IngestArrowRequest {
            group,
            arrow_ipc_stream: frame,
            idempotency_key: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.rows_accepted, 3);
    let mut records: Vec<FeatureRowRecord> = consume(&topic(&s), 3)
        .await
        .iter()
        .map(|m| FeatureRowRecord::decode(m.payload.as_slice()).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "only the accepted frame");
    records.sort_by_key(|r| r.event_time_micros);
    assert_eq!(
        records[1].feature_values[0],
        v(Kind::NullValue(0)),
        "arrow null"
    );
    assert_eq!(
        records[2].feature_values[1],
        v(Kind::StringValue("c2".into()))
    );
    assert_eq!(
        records[2].feature_values[2],
        v(Kind::Float32List(Float32List {
            values: vec![2.0, 0.5]
        }))
    );
}
