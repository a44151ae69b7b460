//! The last reports of each group version's tile corrections, kept in the
//! metadata store beside progress (`<root>.corrections/…`, outside the
//! catalog), so that every replica's status shows them and a restart keeps
//! them.

use featurestore_catalog::Keyspace;
use featurestore_domain::FeatureGroupId;
use featurestore_metastore::{MetadataStore, MetastoreError, Op};
use featurestore_proto::v1::DriftReport;
use prost::Message as _;

/// Reports kept per group version.
pub const KEEP: usize = 10;

fn prefix(keys: &Keyspace, group: &FeatureGroupId) -> String {
    keys.corrections_group_prefix(&group.project, &group.name, group.version)
}

/// Keeps `report` (finished) and drops the oldest beyond [`KEEP`].
pub async fn record(
    store: &dyn MetadataStore,
    keys: &Keyspace,
    group: &FeatureGroupId,
    report: &DriftReport,
) -> Result<(), MetastoreError> {
    let prefix = prefix(keys, group);
    let listing = store.list(&prefix).await?;
    let stale = (listing.kvs.len() + 1).saturating_sub(KEEP);
    let mut ops = vec![Op::put(
        format!("{prefix}{:020}", report.finished_micros.max(0)),
        report.encode_to_vec(),
    )];
    ops.extend(
        listing
            .kvs
            .iter()
            .take(stale)
            .map(|kv| Op::delete(kv.key.clone())),
    );
    store.txn(Vec::new(), ops).await?;
    Ok(())
}

/// The kept reports, newest first.
pub async fn latest(
    store: &dyn MetadataStore,
    keys: &Keyspace,
    group: &FeatureGroupId,
) -> Result<Vec<DriftReport>, MetastoreError> {
    let listing = store.list(&prefix(keys, group)).await?;
    Ok(listing
        .kvs
        .iter()
        .rev()
        .filter_map(|kv| DriftReport::decode(kv.value.as_slice()).ok())
        .take(KEEP)
        .collect())
}

#[cfg(test)]
mod tests {
    use featurestore_metastore::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn the_newest_reports_are_kept_newest_first() {
        let store = MemoryStore::new();
        let keys = Keyspace::new("/fs-test");
        let group = FeatureGroupId {
            project: "p".into(),
            name: "g".into(),
            version: 1,
        };
        for finished in 1..=(KEEP as i64 + 3) {
            let report = DriftReport {
                finished_micros: finished,
                tiles_changed: finished as u64,
                ..Default::default()
            };
            record(&store, &keys, &group, &report).await.unwrap();
        }
        let kept = latest(&store, &keys, &group).await.unwrap();
        let finished: Vec<i64> = kept.iter().map(|r| r.finished_micros).collect();
        let expected: Vec<i64> = (4..=KEEP as i64 + 3).rev().collect();
        assert_eq!(finished, expected);
        assert_eq!(
            store.list("/fs-test.corrections/").await.unwrap().kvs.len(),
            KEEP
        );
    }
}
