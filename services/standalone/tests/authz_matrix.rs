//! Authorization as a matrix: every RPC of every service (from the served
//! protobuf descriptors, and Flight's methods) × {no identity, reader,
//! writer, admin, another project's admin, a configured admin} → allowed,
//! or refused with the right code. The expectation comes from the one rule
//! table (`featurestore_runtime::authz::rules`), so an RPC without a rule or
//! without a request here fails the test.

use std::{collections::HashMap, time::Duration};

use bytes::{Buf, BufMut};
use featurestore_domain::fixtures::{entity, group, project, view};
use featurestore_proto::v1::{self as pb, value::Kind};
use featurestore_runtime::{
    AuthConfig, AuthzConfig,
    auth::IssuerConfig,
    authz::{Need, Role, rules},
};
use featurestore_standalone::{StandaloneConfig, config::Listen};
use prost::Message;
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

const ISSUER: &str = "https://issuer.test";
/// The HMAC key of the test issuer, base64url (a-test-secret-of-32-bytes-or-so!).
const SECRET_B64: &str = "YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE";
const SECRET: &[u8] = b"a-test-secret-of-32-bytes-or-so!";

/// Flight's methods (its descriptors are not served by reflection).
const FLIGHT: &[&str] = &[
    "Handshake",
    "ListFlights",
    "GetFlightInfo",
    "PollFlightInfo",
    "GetSchema",
    "DoGet",
    "DoPut",
    "DoExchange",
    "DoAction",
    "ListActions",
];

/// Messages as bytes both ways: the matrix sends any RPC's request.
#[derive(Clone, Copy)]
struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    Nobody,
    Reader,
    Writer,
    Admin,
    OtherAdmin,
    Operator,
}

const CALLERS: [Caller; 6] = [
    Caller::Nobody,
    Caller::Reader,
    Caller::Writer,
    Caller::Admin,
    Caller::OtherAdmin,
    Caller::Operator,
];

impl Caller {
    fn subject(self) -> Option<&'static str> {
        match self {
            Caller::Nobody => None,
            Caller::Reader => Some("rita"),
            Caller::Writer => Some("will"),
            Caller::Admin => Some("ada"),
            Caller::OtherAdmin => Some("otto"),
            Caller::Operator => Some("olga"),
        }
    }

    fn token(self) -> Option<String> {
        let sub = self.subject()?;
        let groups: &[&str] = if self == Caller::Operator {
            &["platform"]
        } else {
            &[]
        };
        Some(token(sub, groups))
    }

    /// The role in project `fraud`.
    fn role(self) -> Option<Role> {
        match self {
            Caller::Reader => Some(Role::Reader),
            Caller::Writer => Some(Role::Writer),
            Caller::Admin | Caller::Operator => Some(Role::Admin),
            Caller::Nobody | Caller::OtherAdmin => None,
        }
    }

    /// What the rule table says this caller gets for `need`.
    fn expected(self, need: Need) -> Option<Code> {
        if self == Caller::Nobody {
            return Some(Code::Unauthenticated);
        }
        let allowed = match need {
            Need::Identified => true,
            Need::Operator => self == Caller::Operator,
            Need::Role(needed) => self.role().is_some_and(|r| r >= needed),
        };
        (!allowed).then_some(Code::PermissionDenied)
    }
}

fn token(sub: &str, groups: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": sub, "exp": now + 3600, "groups": groups,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn member(sub: &str) -> String {
    format!("{ISSUER}#{sub}")
}

fn fraud_roles() -> Vec<pb::RoleBinding> {
    let binding = |role: pb::Role, sub: &str| pb::RoleBinding {
        role: role as i32,
        members: vec![member(sub)],
    };
    vec![
        binding(pb::Role::Reader, "rita"),
        binding(pb::Role::Writer, "will"),
        binding(pb::Role::Admin, "ada"),
    ]
}

fn with<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = caller.token() {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

/// One call of any RPC; the code it ended with (OK when it answered).
async fn call(channel: &Channel, path: &str, caller: Caller, body: Vec<u8>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let request = with(caller, futures::stream::iter([body]));
    let path: http::uri::PathAndQuery = path.parse().unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        let response = grpc.streaming(request, path, Raw).await?;
        response.into_inner().message().await
    })
    .await
    .expect("every call answers");
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn group_ref(name: &str) -> Option<pb::FeatureGroupRef> {
    Some(pb::FeatureGroupRef {
        project: "fraud".into(),
        name: name.into(),
        version: 0,
    })
}

/// What the matrix knows about the running store.
struct Fixture {
    /// A Flight ticket per caller: its own when it may read the group,
    /// the reader's otherwise.
    tickets: HashMap<Caller, Vec<u8>>,
    backfill_job: String,
}

/// A request for `path`, about project `fraud` and harmless when allowed:
/// deletes name what does not exist, creates use fresh names.
fn request_for(path: &str, caller: Caller, f: &Fixture) -> Option<Vec<u8>> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    let fraud = || "fraud".to_string();
    let ticket = || f.tickets[&caller].clone();
    let descriptor = || arrow_flight::FlightDescriptor::new_cmd(ticket());
    Some(match (service, method) {
        ("featurestore.v1.RegistryService", m) => match m {
            "CreateProject" => pb::CreateProjectRequest {
                project: Some(project("made_by_matrix")),
            }
            .encode_to_vec(),
            "GetProject" => pb::GetProjectRequest { name: fraud() }.encode_to_vec(),
            "ListProjects" => pb::ListProjectsRequest::default().encode_to_vec(),
            // Refused while the project holds objects: nothing is lost.
            "DeleteProject" => pb::DeleteProjectRequest {
                name: fraud(),
                expected_revision: 0,
            }
            .encode_to_vec(),
            "SetProjectRoles" => pb::SetProjectRolesRequest {
                project: fraud(),
                roles: fraud_roles(),
                expected_revision: 0,
            }
            .encode_to_vec(),
            "CreateEntity" => pb::CreateEntityRequest {
                entity: Some(entity(
                    "fraud",
                    "matrix_entity",
                    &[("id", pb::ScalarType::Int64)],
                )),
            }
            .encode_to_vec(),
            "GetEntity" => pb::GetEntityRequest {
                project: fraud(),
                name: "card".into(),
            }
            .encode_to_vec(),
            "ListEntities" => pb::ListEntitiesRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec(),
            "DeleteEntity" => pb::DeleteEntityRequest {
                project: fraud(),
                name: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "CreateFeatureGroup" => pb::CreateFeatureGroupRequest {
                feature_group: Some(group("fraud", "matrix_group", "card", &[("x", "int64")])),
            }
            .encode_to_vec(),
            "GetFeatureGroup" => pb::GetFeatureGroupRequest {
                project: fraud(),
                name: "tx".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "ListFeatureGroups" => pb::ListFeatureGroupsRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec(),
            "UpdateFeatureGroup" => pb::UpdateFeatureGroupRequest {
                feature_group: Some(group("fraud", "nope", "card", &[("x", "int64")])),
                expected_revision: 0,
            }
            .encode_to_vec(),
            "DeleteFeatureGroup" => pb::DeleteFeatureGroupRequest {
                project: fraud(),
                name: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "CreateFeatureView" => pb::CreateFeatureViewRequest {
                feature_view: Some(view("fraud", "matrix_view", &[("tx", &[])])),
            }
            .encode_to_vec(),
            "GetFeatureView" => pb::GetFeatureViewRequest {
                project: fraud(),
                name: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "ListFeatureViews" => pb::ListFeatureViewsRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec(),
            "DeleteFeatureView" => pb::DeleteFeatureViewRequest {
                project: fraud(),
                name: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "SearchFeatures" => pb::SearchFeaturesRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec(),
            // With a snapshot, so an allowed watch answers at once.
            "WatchCatalog" => pb::WatchCatalogRequest {
                project: fraud(),
                send_initial_snapshot: true,
                ..Default::default()
            }
            .encode_to_vec(),
            _ => return None,
        },
        ("featurestore.v1.IngestionService", "Ingest" | "IngestStream") => pb::IngestRequest {
            group: group_ref("nope"),
            ..Default::default()
        }
        .encode_to_vec(),
        ("featurestore.v1.IngestionService", "IngestArrow") => pb::IngestArrowRequest {
            group: group_ref("nope"),
            ..Default::default()
        }
        .encode_to_vec(),
        ("featurestore.v1.MaterializationAdminService", m) => match m {
            "GetMaterializationStatus" => pb::GetMaterializationStatusRequest {
                group: group_ref("tx"),
            }
            .encode_to_vec(),
            "StartBackfill" => pb::StartBackfillRequest {
                group: group_ref("nope"),
                start_time_micros: 0,
                end_time_micros: 1,
            }
            .encode_to_vec(),
            "GetBackfillJob" => pb::GetBackfillJobRequest {
                id: f.backfill_job.clone(),
            }
            .encode_to_vec(),
            "GetPipelineStatus" => pb::GetPipelineStatusRequest {}.encode_to_vec(),
            _ => return None,
        },
        ("featurestore.v1.OfflineQueryService", m) => match m {
            "GetHistoricalFeatures" => pb::GetHistoricalFeaturesRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec(),
            "ReadFeatureGroup" => pb::ReadFeatureGroupRequest {
                group: group_ref("tx"),
                ..Default::default()
            }
            .encode_to_vec(),
            _ => return None,
        },
        ("featurestore.v1.TrainingDatasetService", m) => match m {
            "CreateTrainingDataset" => pb::CreateTrainingDatasetRequest {
                project: fraud(),
                name: "matrix_dataset".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "GetTrainingDataset" => pb::GetTrainingDatasetRequest {
                project: fraud(),
                name: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            "ListTrainingDatasets" => pb::ListTrainingDatasetsRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec(),
            "DeleteTrainingDataset" => pb::DeleteTrainingDatasetRequest {
                project: fraud(),
                name: "nope".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            _ => return None,
        },
        ("featurestore.v1.OnlineServingService", "GetFeatureVector") => {
            pb::GetFeatureVectorRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec()
        }
        ("featurestore.v1.OnlineServingService", "GetFeatureVectors") => {
            pb::GetFeatureVectorsRequest {
                project: fraud(),
                ..Default::default()
            }
            .encode_to_vec()
        }
        ("arrow.flight.protocol.FlightService", m) => match m {
            "GetFlightInfo" | "GetSchema" | "PollFlightInfo" => descriptor().encode_to_vec(),
            "DoGet" => arrow_flight::Ticket::new(ticket()).encode_to_vec(),
            "Handshake" => arrow_flight::HandshakeRequest::default().encode_to_vec(),
            "ListFlights" => arrow_flight::Criteria::default().encode_to_vec(),
            "DoPut" | "DoExchange" => arrow_flight::FlightData::default().encode_to_vec(),
            "DoAction" => arrow_flight::Action::default().encode_to_vec(),
            "ListActions" => arrow_flight::Empty::default().encode_to_vec(),
            _ => return None,
        },
        _ => return None,
    })
}

/// Every served RPC path: the featurestore descriptors and Flight.
fn every_rpc() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths: Vec<String> = set
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_string();
            file.service.iter().flat_map(move |service| {
                let package = package.clone();
                service
                    .method
                    .iter()
                    .map(move |m| format!("/{package}.{}/{}", service.name(), m.name()))
            })
        })
        .collect();
    paths.extend(
        FLIGHT
            .iter()
            .map(|m| format!("/arrow.flight.protocol.FlightService/{m}")),
    );
    paths
}

struct Store {
    standalone: featurestore_standalone::Standalone,
    _data: tempfile::TempDir,
    audit: std::path::PathBuf,
}

impl Store {
    async fn channel(&self, path: &str) -> Channel {
        let a = &self.standalone.addrs;
        let addr = match path.trim_start_matches('/').split_once('/').unwrap().0 {
            "featurestore.v1.RegistryService" => a.registry,
            "featurestore.v1.IngestionService" => a.ingestion,
            "featurestore.v1.MaterializationAdminService" => a.materialization,
            "featurestore.v1.OnlineServingService" => a.serving,
            _ => a.offline,
        };
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

async fn start() -> Store {
    let data = tempfile::tempdir().unwrap();
    let jwks = data.path().join("jwks.json");
    std::fs::write(
        &jwks,
        format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{SECRET_B64}"}}]}}"#),
    )
    .unwrap();
    let audit = data.path().join("audit.jsonl");
    let config = StandaloneConfig {
        data_dir: data.path().join("featurestore-data"),
        listen: Listen::any_port(),
        // Anonymous calls get through authentication: authorization alone
        // must refuse them.
        auth: AuthConfig {
            required: false,
            issuers: vec![IssuerConfig {
                issuer: ISSUER.into(),
                audiences: vec![],
                jwks_file: Some(jwks),
                ..IssuerConfig::default()
            }],
        },
        authz: AuthzConfig {
            enabled: true,
            admins: vec!["group:platform".into()],
            audit_file: Some(audit.clone()),
        },
        ..StandaloneConfig::default()
    };
    let standalone = featurestore_standalone::start(&config, featurestore_runtime::Shutdown::new())
        .await
        .unwrap();
    Store {
        standalone,
        _data: data,
        audit,
    }
}

/// Polls `f` until it returns `Some` (role changes reach each service's
/// catalog within milliseconds).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

/// The operator creates `fraud` (roles for rita, will, ada) and `other`
/// (admin otto), a group in `fraud` with one row, and a backfill job.
async fn fixture(store: &Store) -> Fixture {
    use pb::{
        ingestion_service_client::IngestionServiceClient,
        materialization_admin_service_client::MaterializationAdminServiceClient,
        offline_query_service_client::OfflineQueryServiceClient,
        registry_service_client::RegistryServiceClient,
    };
    let op = Caller::Operator;
    let mut registry =
        RegistryServiceClient::new(store.channel("/featurestore.v1.RegistryService/x").await);
    let mut fraud = project("fraud");
    fraud.roles = fraud_roles();
    registry
        .create_project(with(
            op,
            pb::CreateProjectRequest {
                project: Some(fraud),
            },
        ))
        .await
        .unwrap();
    let mut other = project("other");
    other.roles = vec![pb::RoleBinding {
        role: pb::Role::Admin as i32,
        members: vec![member("otto")],
    }];
    registry
        .create_project(with(
            op,
            pb::CreateProjectRequest {
                project: Some(other),
            },
        ))
        .await
        .unwrap();
    registry
        .create_entity(with(
            Caller::Admin,
            pb::CreateEntityRequest {
                entity: Some(entity(
                    "fraud",
                    "card",
                    &[("card_id", pb::ScalarType::Int64)],
                )),
            },
        ))
        .await
        .unwrap();
    registry
        .create_feature_group(with(
            Caller::Admin,
            pb::CreateFeatureGroupRequest {
                feature_group: Some(group("fraud", "tx", "card", &[("amount", "float64")])),
            },
        ))
        .await
        .unwrap();
    let ingestion =
        IngestionServiceClient::new(store.channel("/featurestore.v1.IngestionService/x").await);
    let v = |kind| pb::Value { kind: Some(kind) };
    let row = pb::IngestRequest {
        group: group_ref("tx"),
        columns: ["card_id", "event_time", "amount"]
            .map(String::from)
            .to_vec(),
        rows: vec![pb::Row {
            values: vec![
                v(Kind::Int64Value(7)),
                v(Kind::TimestampValue(1_700_000_000_000_000)),
                v(Kind::Float64Value(12.5)),
            ],
        }],
        idempotency_key: String::new(),
    };
    let ingested = eventually("the writer's ingest", || {
        let (mut ingestion, row) = (ingestion.clone(), row.clone());
        async move { ingestion.ingest(with(Caller::Writer, row)).await.ok() }
    })
    .await;
    let write_token = ingested.into_inner().write_token;
    assert!(!write_token.is_empty());
    let offline = OfflineQueryServiceClient::new(
        store
            .channel("/featurestore.v1.OfflineQueryService/x")
            .await,
    );
    let mut tickets = HashMap::new();
    for caller in [
        Caller::Reader,
        Caller::Writer,
        Caller::Admin,
        Caller::Operator,
    ] {
        let ticket = eventually("a ticket for the group's rows", || {
            let (mut offline, write_token) = (offline.clone(), write_token.clone());
            async move {
                let request = pb::ReadFeatureGroupRequest {
                    group: group_ref("tx"),
                    consistency: Some(pb::Consistency {
                        level: pb::consistency::Level::AfterWrite as i32,
                        write_tokens: vec![write_token],
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                offline
                    .read_feature_group(with(caller, request))
                    .await
                    .ok()
                    .map(|r| r.into_inner().flight_ticket)
            }
        })
        .await;
        tickets.insert(caller, ticket);
    }
    for caller in [Caller::Nobody, Caller::OtherAdmin] {
        tickets.insert(caller, tickets[&Caller::Reader].clone());
    }
    let mut admin = MaterializationAdminServiceClient::new(
        store
            .channel("/featurestore.v1.MaterializationAdminService/x")
            .await,
    );
    let job = admin
        .start_backfill(with(
            Caller::Admin,
            pb::StartBackfillRequest {
                group: group_ref("tx"),
                start_time_micros: 0,
                end_time_micros: 2_000_000_000_000_000,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    Fixture {
        tickets,
        backfill_job: job.id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_admits_exactly_the_roles_its_rule_names() {
    let store = start().await;
    let fixture = fixture(&store).await;
    let mut failures = Vec::new();
    for path in every_rpc() {
        let action = rules::action_of(&path)
            .unwrap_or_else(|| panic!("{path} has no rule in featurestore_runtime::authz::rules"));
        let channel = store.channel(&path).await;
        for caller in CALLERS {
            let body = request_for(&path, caller, &fixture)
                .unwrap_or_else(|| panic!("{path}: the matrix has no request for it; add one"));
            let code = call(&channel, &path, caller, body).await;
            let expected = caller.expected(action.need());
            let ok = match expected {
                Some(refusal) => code == refusal,
                // Allowed: it may still fail on its own terms (NOT_FOUND,
                // INVALID_ARGUMENT...), never for permission.
                None => !matches!(
                    code,
                    Code::PermissionDenied | Code::Unauthenticated | Code::Internal
                ),
            };
            if !ok {
                failures.push(format!(
                    "{path} as {caller:?}: got {code:?}, expected {}",
                    expected.map_or("allowed".to_string(), |c| format!("{c:?}"))
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every denial is in the audit log, and so is every catalog change,
    // with who, what and where — never a feature value.
    let audit = std::fs::read_to_string(&store.audit).unwrap();
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let has = |principal: &str, action: &str, outcome: &str| {
        records.iter().any(|r| {
            r["principal"] == principal && r["action"] == action && r["outcome"] == outcome
        })
    };
    assert!(
        has(&member("rita"), "ingest", "PERMISSION_DENIED"),
        "{audit}"
    );
    assert!(has("anonymous", "serve", "UNAUTHENTICATED"), "{audit}");
    assert!(has(&member("ada"), "change_catalog", "OK"), "{audit}");
    assert!(has(&member("olga"), "create_project", "OK"), "{audit}");
    assert!(records.iter().all(|r| r["project"] == "fraud"
        || r["project"] == "made_by_matrix"
        || r["project"] == "other"
        || r["project"] == ""));
    // (Each record less its time: "…:12.5…" is a second, not a value.)
    assert!(
        records.iter().all(|r| {
            let mut r = r.clone();
            r.as_object_mut().map(|r| r.remove("time"));
            !r.to_string().contains("12.5")
        }),
        "no feature values in the audit log: {audit}"
    );
    store.standalone.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_only_readable_projects_and_a_revoked_reader_loses_its_ticket() {
    use pb::registry_service_client::RegistryServiceClient;
    let store = start().await;
    let fixture = fixture(&store).await;
    let mut registry =
        RegistryServiceClient::new(store.channel("/featurestore.v1.RegistryService/x").await);
    let names = |caller: Caller| {
        let mut registry = registry.clone();
        async move {
            let mut names: Vec<String> = registry
                .list_projects(with(caller, pb::ListProjectsRequest::default()))
                .await
                .unwrap()
                .into_inner()
                .projects
                .into_iter()
                .map(|p| p.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names(Caller::OtherAdmin).await, ["other"]);
    assert_eq!(names(Caller::Reader).await, ["fraud"]);
    assert_eq!(names(Caller::Operator).await, ["fraud", "other"]);

    // The reader's ticket reads while the role stands...
    let flight = store
        .channel("/arrow.flight.protocol.FlightService/DoGet")
        .await;
    let do_get = "/arrow.flight.protocol.FlightService/DoGet";
    let ticket =
        || arrow_flight::Ticket::new(fixture.tickets[&Caller::Reader].clone()).encode_to_vec();
    assert_eq!(
        call(&flight, do_get, Caller::Reader, ticket()).await,
        Code::Ok
    );
    // ...and not once the admin has taken it away.
    let mut roles = fraud_roles();
    roles.remove(0);
    registry
        .set_project_roles(with(
            Caller::Admin,
            pb::SetProjectRolesRequest {
                project: "fraud".into(),
                roles,
                expected_revision: 0,
            },
        ))
        .await
        .unwrap();
    eventually("the revoked reader refused", || async {
        (call(&flight, do_get, Caller::Reader, ticket()).await == Code::PermissionDenied)
            .then_some(())
    })
    .await;
    // A binding that is not one is refused, naming the field.
    let err = registry
        .set_project_roles(with(
            Caller::Admin,
            pb::SetProjectRolesRequest {
                project: "fraud".into(),
                roles: vec![pb::RoleBinding {
                    role: pb::Role::Reader as i32,
                    members: vec!["has space".into()],
                }],
                expected_revision: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("roles[0].members[0]"), "{err:?}");
    store.standalone.stop().await.unwrap();
}
