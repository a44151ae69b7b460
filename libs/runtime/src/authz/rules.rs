//! The one table of what every RPC does, by gRPC path. A path not in it is
//! refused when authorization is on, and the authorization matrix test
//! fails for any RPC of the served descriptors that has no row here.

use std::{collections::HashMap, sync::LazyLock};

use super::Action::{self, *};

const REGISTRY: &str = "/featurestore.v1.RegistryService/";
const INGESTION: &str = "/featurestore.v1.IngestionService/";
const MATERIALIZATION: &str = "/featurestore.v1.MaterializationAdminService/";
const OFFLINE: &str = "/featurestore.v1.OfflineQueryService/";
const DATASETS: &str = "/featurestore.v1.TrainingDatasetService/";
const SERVING: &str = "/featurestore.v1.OnlineServingService/";
const FLIGHT: &str = "/arrow.flight.protocol.FlightService/";

/// (service prefix, method, action).
pub const RULES: &[(&str, &str, Action)] = &[
    (REGISTRY, "CreateProject", CreateProject),
    (REGISTRY, "GetProject", Describe),
    (REGISTRY, "ListProjects", ListProjects),
    (REGISTRY, "DeleteProject", Delete),
    (REGISTRY, "SetProjectRoles", ManageRoles),
    (REGISTRY, "CreateEntity", ChangeCatalog),
    (REGISTRY, "GetEntity", Describe),
    (REGISTRY, "ListEntities", Describe),
    (REGISTRY, "DeleteEntity", Delete),
    (REGISTRY, "CreateFeatureGroup", ChangeCatalog),
    (REGISTRY, "GetFeatureGroup", Describe),
    (REGISTRY, "ListFeatureGroups", Describe),
    (REGISTRY, "UpdateFeatureGroup", ChangeCatalog),
    (REGISTRY, "DeleteFeatureGroup", Delete),
    (REGISTRY, "CreateFeatureView", ChangeCatalog),
    (REGISTRY, "GetFeatureView", Describe),
    (REGISTRY, "ListFeatureViews", Describe),
    (REGISTRY, "DeleteFeatureView", Delete),
    (REGISTRY, "SearchFeatures", Describe),
    (REGISTRY, "WatchCatalog", Describe),
    (INGESTION, "Ingest", Ingest),
    (INGESTION, "IngestStream", Ingest),
    (INGESTION, "IngestArrow", Ingest),
    (MATERIALIZATION, "GetMaterializationStatus", Describe),
    (MATERIALIZATION, "StartBackfill", Backfill),
    (MATERIALIZATION, "GetBackfillJob", Describe),
    (MATERIALIZATION, "GetPipelineStatus", ServiceStatus),
    (OFFLINE, "GetHistoricalFeatures", ReadHistory),
    (OFFLINE, "ReadFeatureGroup", ReadHistory),
    (DATASETS, "CreateTrainingDataset", CreateDataset),
    (DATASETS, "GetTrainingDataset", ReadDatasets),
    (DATASETS, "ListTrainingDatasets", ReadDatasets),
    (DATASETS, "DeleteTrainingDataset", Delete),
    (SERVING, "GetFeatureVector", Serve),
    (SERVING, "GetFeatureVectors", Serve),
    (FLIGHT, "GetFlightInfo", ReadHistory),
    (FLIGHT, "GetSchema", ReadHistory),
    (FLIGHT, "DoGet", ReadHistory),
    (FLIGHT, "Handshake", Unoffered),
    (FLIGHT, "ListFlights", Unoffered),
    (FLIGHT, "PollFlightInfo", Unoffered),
    (FLIGHT, "DoPut", Unoffered),
    (FLIGHT, "DoExchange", Unoffered),
    (FLIGHT, "DoAction", Unoffered),
    (FLIGHT, "ListActions", Unoffered),
];

/// The action of a gRPC path (`/<package>.<Service>/<Method>`).
pub fn action_of(path: &str) -> Option<Action> {
    static BY_PATH: LazyLock<HashMap<String, Action>> = LazyLock::new(|| {
        RULES
            .iter()
            .map(|(service, method, action)| (format!("{service}{method}"), *action))
            .collect()
    });
    BY_PATH.get(path).copied()
}
