//! `WatchCatalog`: catalog changes streamed to clients that cannot reach
//! etcd. An optional snapshot of every object comes first, then a SYNCED
//! marker, then each change in revision order.

use std::sync::Arc;

use featurestore_catalog::{CatalogKey, CatalogObject, Keyspace};
use featurestore_metastore::{MetadataStore, MetastoreError, WatchEvent};
use featurestore_proto::{
    ServiceError,
    v1::{
        CatalogEvent, Entity, FeatureGroup, FeatureView, Project, WatchCatalogRequest,
        catalog_event::{Object, Type},
    },
};
use featurestore_runtime::authz::Access;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::error::RegistryError;

/// Events buffered per watcher before the stream applies backpressure.
const BUFFER: usize = 256;

pub type EventStream = tokio_stream::wrappers::ReceiverStream<Result<CatalogEvent, Status>>;

/// Starts a watch for one client; the stream ends on error, when the client
/// goes away, or at shutdown.
pub async fn watch_catalog(
    store: Arc<dyn MetadataStore>,
    keys: Keyspace,
    request: WatchCatalogRequest,
    access: Option<Access>,
    shutdown: CancellationToken,
) -> Result<EventStream, Status> {
    if !request.project.is_empty() {
        featurestore_domain::validate_name("project", &request.project)
            .map_err(|e| e.to_status())?;
    }
    let filter = Filter {
        keys: keys.clone(),
        project: request.project.clone(),
        access,
    };
    let prefix = keys.root_prefix();
    let (tx, rx) = mpsc::channel(BUFFER);
    let start = if request.send_initial_snapshot {
        let listing = store.list(&prefix).await.map_err(to_status)?;
        let revision = listing.revision;
        let snapshot: Vec<CatalogEvent> = listing
            .kvs
            .iter()
            .filter_map(|kv| filter.event(&WatchEvent::Put(kv.clone())))
            .collect();
        let snapshot_tx = tx.clone();
        // Sent from a task: the snapshot may exceed the channel buffer.
        let sent = tokio::spawn(async move {
            for event in snapshot {
                if snapshot_tx.send(Ok(event)).await.is_err() {
                    return false;
                }
            }
            snapshot_tx
                .send(Ok(CatalogEvent {
                    r#type: Type::Synced as i32,
                    revision,
                    object: None,
                }))
                .await
                .is_ok()
        });
        let stream = store
            .watch(&prefix, revision + 1)
            .await
            .map_err(to_status)?;
        tokio::spawn(forward(stream, filter, tx, shutdown, Some(sent)));
        return Ok(EventStream::new(rx));
    } else if request.start_after_revision > 0 {
        request.start_after_revision + 1
    } else {
        store.current_revision().await.map_err(to_status)? + 1
    };
    let stream = store.watch(&prefix, start).await.map_err(to_status)?;
    tokio::spawn(forward(stream, filter, tx, shutdown, None));
    Ok(EventStream::new(rx))
}

async fn forward(
    mut stream: featurestore_metastore::WatchStream,
    filter: Filter,
    tx: mpsc::Sender<Result<CatalogEvent, Status>>,
    shutdown: CancellationToken,
    snapshot: Option<tokio::task::JoinHandle<bool>>,
) {
    if let Some(snapshot) = snapshot
        && !matches!(snapshot.await, Ok(true))
    {
        return;
    }
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = shutdown.cancelled() => {
                let _ = tx.send(Err(Status::unavailable("registry shutting down; reconnect"))).await;
                return;
            }
            _ = tx.closed() => return,
        };
        let message = match item {
            Some(Ok(event)) => match filter.event(&event) {
                Some(e) => Ok(e),
                None => continue,
            },
            Some(Err(e)) => Err(to_status(e)),
            None => Err(Status::unavailable("catalog watch ended; reconnect")),
        };
        let failed = message.is_err();
        if tx.send(message).await.is_err() || failed {
            return;
        }
    }
}

fn to_status(e: MetastoreError) -> Status {
    match e {
        MetastoreError::Compacted { compact_revision } => Status::out_of_range(format!(
            "revision compacted: watch again with a snapshot (history starts at {compact_revision})"
        )),
        other => RegistryError::from(other).into(),
    }
}

struct Filter {
    keys: Keyspace,
    project: String,
    /// The caller's permission: events of projects it may not describe
    /// are left out.
    access: Option<Access>,
}

impl Filter {
    fn event(&self, event: &WatchEvent) -> Option<CatalogEvent> {
        let (r#type, object) = match event {
            WatchEvent::Put(kv) if self.keys.is_side_record(&kv.key) => return None,
            WatchEvent::Put(kv) => {
                let object = match self.keys.decode(&kv.key, &kv.value) {
                    Ok(object) => object,
                    Err(reason) => {
                        tracing::warn!(key = %kv.key, %reason, "skipping undecodable catalog entry");
                        return None;
                    }
                };
                (Type::Put, with_revision(object, kv.mod_revision))
            }
            WatchEvent::Delete { key, .. } => (Type::Delete, identity_of(self.keys.parse(key)?)?),
        };
        let (project, object) = match object {
            CatalogObject::Project(p) => (p.name.clone(), Object::Project(p)),
            CatalogObject::Entity(e) => (e.project.clone(), Object::Entity(e)),
            CatalogObject::FeatureGroup(g) => (g.project.clone(), Object::FeatureGroup(g)),
            CatalogObject::FeatureView(v) => (v.project.clone(), Object::FeatureView(v)),
        };
        if !self.project.is_empty() && project != self.project {
            return None;
        }
        if self.access.as_ref().is_some_and(|a| !a.allows(&project)) {
            return None;
        }
        Some(CatalogEvent {
            r#type: r#type as i32,
            revision: event.revision(),
            object: Some(object),
        })
    }
}

fn with_revision(object: CatalogObject, revision: i64) -> CatalogObject {
    use crate::registry::HasMeta;
    match object {
        CatalogObject::Project(p) => CatalogObject::Project(p.at_revision(revision)),
        CatalogObject::Entity(e) => CatalogObject::Entity(e.at_revision(revision)),
        CatalogObject::FeatureGroup(g) => CatalogObject::FeatureGroup(g.at_revision(revision)),
        CatalogObject::FeatureView(v) => CatalogObject::FeatureView(v.at_revision(revision)),
    }
}

/// For deletes: an object carrying only its identity.
fn identity_of(key: CatalogKey) -> Option<CatalogObject> {
    Some(match key {
        CatalogKey::Project { name } => CatalogObject::Project(Project {
            name,
            ..Default::default()
        }),
        CatalogKey::Entity { project, name } => CatalogObject::Entity(Entity {
            project,
            name,
            ..Default::default()
        }),
        CatalogKey::FeatureGroup {
            project,
            name,
            version,
        } => CatalogObject::FeatureGroup(FeatureGroup {
            project,
            name,
            version,
            ..Default::default()
        }),
        CatalogKey::FeatureView {
            project,
            name,
            version,
        } => CatalogObject::FeatureView(FeatureView {
            project,
            name,
            version,
            ..Default::default()
        }),
    })
}
