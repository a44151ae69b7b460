//! What the offline query service tells Prometheus (see
//! `featurestore_runtime::metrics`): rows and Arrow bytes streamed to
//! clients over Flight `DoGet` (historical features, group reads, training
//! datasets). Query time is the `DoGet` call's
//! `rpc_server_call_duration_seconds`, which ends with the stream.

use arrow_array::RecordBatch;

/// `featurestore_offline_rows_total`.
pub const ROWS: &str = "featurestore_offline_rows_total";
/// `featurestore_offline_bytes_total`: Arrow memory of the batches streamed.
pub const BYTES: &str = "featurestore_offline_bytes_total";

/// One batch on its way to a client.
pub fn streamed(batch: &RecordBatch) {
    metrics::counter!(ROWS).increment(batch.num_rows() as u64);
    metrics::counter!(BYTES).increment(batch.get_array_memory_size() as u64);
}
