//! Project roles against the real catalog (etcd): two registry replicas
//! enforce the roles an admin sets through either of them, refusals name
//! the action and project, and the audit log records who changed what.

use featurestore_domain::fixtures::{entity, project};
use featurestore_integration_tests::{
    registry::RegistrySandbox,
    tokens::{as_caller, auth_config, member},
    unique_name,
};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateProjectRequest, GetProjectRequest, Role, RoleBinding, ScalarType,
    SetProjectRolesRequest,
};
use featurestore_runtime::AuthzConfig;
use tonic::Code;

fn binding(role: Role, sub: &str) -> RoleBinding {
    RoleBinding {
        role: role as i32,
        members: vec![member(sub)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_set_through_one_replica_are_enforced_by_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let root = format!("/fs-test/{}", unique_name("authz"));
    let audit = dir.path().join("audit.jsonl");
    let secure = |server: &mut featurestore_runtime::ServerConfig| {
        server.auth = auth_config(dir.path(), true);
        server.authz = AuthzConfig {
            enabled: true,
            admins: vec!["group:platform".into()],
            audit_file: Some(audit.clone()),
        };
    };
    let one = RegistrySandbox::start_with(&root, secure).await;
    let two = RegistrySandbox::start_with(&root, secure).await;
    let (mut one_client, mut two_client) = (one.client().await, two.client().await);

    let name = unique_name("fraud");
    let mut fraud = project(&name);
    fraud.roles = vec![binding(Role::Reader, "rita"), binding(Role::Admin, "ada")];
    // Only a configured admin creates projects.
    let refused = one_client
        .create_project(as_caller(
            "ada",
            &[],
            CreateProjectRequest {
                project: Some(fraud.clone()),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    one_client
        .create_project(as_caller(
            "olga",
            &["platform"],
            CreateProjectRequest {
                project: Some(fraud),
            },
        ))
        .await
        .unwrap();

    // The reader reads through the other replica (once its catalog has the
    // project) but may not change the catalog. Each replica's roles come
    // from its catalog's watch, the creating replica's too: both are
    // waited for.
    let get = || GetProjectRequest { name: name.clone() };
    for client in [&mut two_client, &mut one_client] {
        let mut attempts = 0;
        while client
            .get_project(as_caller("rita", &[], get()))
            .await
            .is_err()
        {
            attempts += 1;
            assert!(attempts < 200, "a replica never saw the reader's role");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let card = || CreateEntityRequest {
        entity: Some(entity(&name, "card", &[("card_id", ScalarType::Int64)])),
    };
    let refused = two_client
        .create_entity(as_caller("rita", &[], card()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("change_catalog")
            && refused.message().contains(&name)
            && refused.message().contains("needs role admin"),
        "{refused:?}"
    );

    // The admin promotes her through replica one; replica two follows.
    one_client
        .set_project_roles(as_caller(
            "ada",
            &[],
            SetProjectRolesRequest {
                project: name.clone(),
                roles: vec![binding(Role::Admin, "rita"), binding(Role::Admin, "ada")],
                expected_revision: 0,
            },
        ))
        .await
        .unwrap();
    let mut attempts = 0;
    loop {
        match two_client
            .create_entity(as_caller("rita", &[], card()))
            .await
        {
            Ok(_) => break,
            Err(s) if s.code() == Code::PermissionDenied && attempts < 200 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }

    let lines = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |who: &str, action: &str, outcome: &str| {
        records
            .iter()
            .any(|r| r["principal"] == who && r["action"] == action && r["outcome"] == outcome)
    };
    assert!(
        has(&member("ada"), "create_project", "PERMISSION_DENIED"),
        "{lines}"
    );
    assert!(has(&member("olga"), "create_project", "OK"), "{lines}");
    assert!(
        has(&member("rita"), "change_catalog", "PERMISSION_DENIED"),
        "{lines}"
    );
    assert!(has(&member("ada"), "manage_roles", "OK"), "{lines}");
    assert!(has(&member("rita"), "change_catalog", "OK"), "{lines}");
    one.stop().await.unwrap();
    two.stop().await.unwrap();
}
