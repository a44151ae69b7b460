//! Standalone with TLS, bearer tokens and project roles on, over a data
//! directory another standalone filled: the same reads, secured, in the
//! same run (`bench_serve --secure`).

use std::{path::Path, time::Duration};

use featurestore_integration_tests::{
    certs::Ca,
    tokens::{as_caller, auth_config, bearer, member},
};
use featurestore_proto::v1::{
    GetProjectRequest, Role, RoleBinding, SetProjectRolesRequest,
    registry_service_client::RegistryServiceClient,
};
use tonic::{
    metadata::MetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig},
};

use crate::Killed;

/// A secured standalone and what its clients need.
pub struct Secure {
    pub process: Killed,
    pub ports: [u16; 5],
    /// The `authorization` header of the reader the benchmark calls as.
    pub token: MetadataValue<tonic::metadata::Ascii>,
    ca: String,
    _dir: tempfile::TempDir,
}

const READER: &str = "bench-reader";

impl Secure {
    /// Starts standalone over `data_dir` with TLS (a fresh CA), tokens
    /// required and roles enforced; binds the benchmark's caller as reader
    /// of `project` (a role looked up on every request, as in production).
    pub async fn start(data_dir: &Path, make_target: &str, project: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let ca = Ca::new("bench ca");
        ca.write_server_files(dir.path());
        let auth = auth_config(dir.path(), true);
        let config = dir.path().join("secure.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[tls]
cert_file = "{dir}/server.pem"
key_file = "{dir}/server.key"

[auth]
required = true

[[auth.issuers]]
issuer = "{issuer}"
jwks_file = "{jwks}"

[authz]
enabled = true
admins = ["group:bench-admins"]
"#,
                dir = dir.path().display(),
                issuer = auth.issuers[0].issuer,
                jwks = auth.issuers[0]
                    .jwks_file
                    .as_deref()
                    .expect("a JWKS file")
                    .display(),
            ),
        )?;
        let (process, ports) = crate::spawn_standalone_with(data_dir, make_target, Some(&config));
        let secure = Self {
            process,
            ports,
            token: bearer(READER, &[]).parse()?,
            ca: ca.pem.clone(),
            _dir: dir,
        };
        let mut registry = RegistryServiceClient::new(secure.channel(ports[0]).await);
        registry
            .set_project_roles(as_caller(
                "bench-admin",
                &["bench-admins"],
                SetProjectRolesRequest {
                    project: project.into(),
                    roles: vec![RoleBinding {
                        role: Role::Reader as i32,
                        members: vec![member(READER)],
                    }],
                    expected_revision: 0,
                },
            ))
            .await?;
        // Serving sees the role once its catalog has it.
        while registry
            .get_project(as_caller(
                READER,
                &[],
                GetProjectRequest {
                    name: project.into(),
                },
            ))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(secure)
    }

    /// An HTTPS connection to `port`, trusting the benchmark's CA.
    pub async fn channel(&self, port: u16) -> Channel {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name("localhost");
        loop {
            let endpoint = Channel::from_shared(format!("https://localhost:{port}"))
                .expect("url")
                .tls_config(tls.clone())
                .expect("tls config");
            if let Ok(channel) = endpoint.connect().await {
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
