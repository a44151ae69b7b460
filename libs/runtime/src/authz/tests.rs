use std::collections::HashMap;

use featurestore_proto::v1::{Project, RoleBinding};

use super::*;
use crate::auth::Proof;

fn token(name: &str, groups: &[&str]) -> Principal {
    Principal {
        name: name.into(),
        issuer: "https://idp".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        proof: Proof::Token,
    }
}

fn policy(enabled: bool) -> Arc<Policy> {
    let mut projects = HashMap::new();
    projects.insert(
        "fraud".to_string(),
        Arc::new(Project {
            name: "fraud".into(),
            roles: vec![
                RoleBinding {
                    role: ProtoRole::Reader as i32,
                    members: vec!["https://idp#rita".into(), "group:analysts".into()],
                },
                RoleBinding {
                    role: ProtoRole::Writer as i32,
                    members: vec!["https://idp#will".into()],
                },
            ],
            ..Default::default()
        }),
    );
    let directory = move |name: &str| projects.get(name).cloned();
    Arc::new(Policy {
        enabled,
        admins: vec!["group:platform".into()],
        directory: Some(Arc::new(directory)),
        audit: AuditLog::default(),
    })
}

fn access(action: Action, principal: Option<Principal>, enabled: bool) -> Access {
    Access {
        action,
        principal,
        policy: policy(enabled),
        checked: Arc::default(),
        project: Arc::default(),
        trace_id: "".into(),
    }
}

#[test]
fn roles_include_the_ones_below_them() {
    let rita = Some(token("rita", &[]));
    let will = Some(token("will", &[]));
    assert!(
        access(Action::Serve, rita.clone(), true)
            .check("fraud")
            .is_ok()
    );
    let denied = access(Action::Ingest, rita, true)
        .check("fraud")
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "ingest on project \"fraud\" needs role writer; https://idp#rita has reader"
    );
    assert!(
        access(Action::Ingest, will.clone(), true)
            .check("fraud")
            .is_ok()
    );
    assert!(
        access(Action::Serve, will.clone(), true)
            .check("fraud")
            .is_ok()
    );
    assert!(
        access(Action::ChangeCatalog, will, true)
            .check("fraud")
            .is_err()
    );
}

#[test]
fn groups_bind_and_admins_hold_every_project() {
    let analyst = Some(token("ann", &["analysts"]));
    assert_eq!(
        access(Action::Describe, analyst, true).role_in("fraud"),
        Some(Role::Reader)
    );
    let operator = Some(token("olga", &["platform"]));
    for action in [Action::Delete, Action::CreateProject, Action::ManageRoles] {
        assert!(
            access(action, operator.clone(), true)
                .check("other")
                .is_ok()
        );
    }
    let stranger = Some(token("sam", &[]));
    let denied = access(Action::CreateProject, stranger.clone(), true)
        .check("new")
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let unknown = access(Action::Serve, stranger, true)
        .check("nope")
        .unwrap_err();
    assert!(
        unknown.message().ends_with("has no role there"),
        "{unknown:?}"
    );
}

#[test]
fn anonymous_callers_are_unauthenticated_and_disabled_checks_pass() {
    let denied = access(Action::ListProjects, None, true)
        .check("")
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    assert!(access(Action::Delete, None, false).check("fraud").is_ok());
    assert!(
        access(Action::ListProjects, Some(token("sam", &[])), true)
            .check("")
            .is_ok()
    );
}

#[test]
fn certificates_bind_by_their_id() {
    let cert = Principal {
        name: "trainer".into(),
        issuer: String::new(),
        groups: vec![],
        proof: Proof::Certificate,
    };
    let mut p = policy(true);
    Arc::get_mut(&mut p).unwrap().admins = vec!["cert:trainer".into()];
    let a = Access {
        policy: p,
        ..access(Action::Backfill, Some(cert), true)
    };
    assert!(a.check("fraud").is_ok());
}

#[test]
fn every_rpc_path_has_one_rule() {
    let mut seen = std::collections::HashSet::new();
    for (service, method, action) in rules::RULES {
        let path = format!("{service}{method}");
        assert!(seen.insert(path.clone()), "{path} twice");
        assert_eq!(rules::action_of(&path), Some(*action));
    }
    assert_eq!(
        rules::action_of("/featurestore.v1.RegistryService/Nope"),
        None
    );
}

mod layer {
    use std::convert::Infallible;

    use tower::{Layer, Service, ServiceExt};

    use super::*;

    fn layer() -> AuthzLayer {
        let config = AuthzConfig {
            enabled: true,
            ..AuthzConfig::default()
        };
        let directory: Arc<dyn ProjectDirectory> = Arc::new(|_: &str| None);
        AuthzLayer::new(&config, Some(directory)).unwrap()
    }

    async fn answer(path: &str, handler_checks: bool) -> Option<tonic::Code> {
        let handler = tower::service_fn(move |request: http::Request<()>| async move {
            if handler_checks {
                let access = request.extensions().get::<Access>().expect("an Access");
                access.check_listing().unwrap();
            }
            Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
        });
        let mut service = layer().layer(handler);
        let mut request = http::Request::builder().uri(path).body(()).unwrap();
        request.extensions_mut().insert(token("sam", &[]));
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        header_status(&response)
    }

    #[tokio::test]
    async fn a_handler_answering_without_a_check_is_turned_into_internal() {
        let path = "/featurestore.v1.RegistryService/ListProjects";
        assert_eq!(answer(path, false).await, Some(tonic::Code::Internal));
        assert_eq!(answer(path, true).await, None);
    }

    #[tokio::test]
    async fn a_path_without_a_rule_is_refused_unrun() {
        let path = "/featurestore.v1.RegistryService/Unknown";
        assert_eq!(
            answer(path, true).await,
            Some(tonic::Code::PermissionDenied)
        );
    }
}
