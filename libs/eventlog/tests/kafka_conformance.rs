//! The event-log conformance suite against real Kafka (`make infra-up`).

use std::{sync::Arc, time::Duration};

use featurestore_eventlog::{KafkaConfig, KafkaLog};

async fn make_log() -> Arc<KafkaLog> {
    let bootstrap = featurestore_test_servers::kafka_bootstrap();
    Arc::new(
        KafkaLog::new(KafkaConfig {
            bootstrap_servers: bootstrap,
            append_timeout: Duration::from_secs(8),
            ..KafkaConfig::default()
        })
        .expect("kafka client"),
    )
}

featurestore_eventlog::eventlog_conformance_tests!(make_log);
