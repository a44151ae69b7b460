//! How fsctl proves itself to the services: an `https://` address is
//! reached over TLS, trusting the CA in `--tls-ca` and, for listeners that
//! require mutual TLS, presenting `--tls-cert` / `--tls-key`; `--token`
//! (`FS_TOKEN`) is sent as `authorization: Bearer <token>` on every call.
//! Set once from the command line, read by every connection fsctl opens.

use std::{path::PathBuf, sync::OnceLock};

use anyhow::{Context, Result, bail};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

/// The TLS and token flags, shared by every command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Credentials {
    /// CA certificate (PEM) that signed the services' certificates; needed
    /// for `https://` addresses.
    #[arg(long, global = true, env = "FS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for services that require mutual TLS.
    #[arg(long, global = true, env = "FS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "FS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name to check the services' certificates against, when it is not
    /// the address's host.
    #[arg(long, global = true, env = "FS_TLS_DOMAIN")]
    pub tls_domain: Option<String>,
    /// Bearer token (a JWT of an issuer the services trust).
    #[arg(long, global = true, env = "FS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

static CLIENT: OnceLock<Option<ClientTlsConfig>> = OnceLock::new();
static TOKEN: OnceLock<(String, MetadataValue<tonic::metadata::Ascii>)> = OnceLock::new();

/// A channel whose calls carry the bearer token, when one is given.
pub type Conn = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <--token>` to every call.
#[derive(Debug, Clone, Copy)]
pub struct Bearer;

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = TOKEN.get() {
            request
                .metadata_mut()
                .insert("authorization", value.1.clone());
        }
        Ok(request)
    }
}

/// `channel` with the bearer token on every call.
pub fn authorized(channel: Channel) -> Conn {
    InterceptedService::new(channel, Bearer)
}

/// The bearer header, for clients built without an interceptor (Flight).
pub fn bearer() -> Option<&'static str> {
    TOKEN.get().map(|(text, _)| text.as_str())
}

impl Credentials {
    /// Reads the files once, before any connection.
    pub fn install(&self) -> Result<()> {
        if let Some(token) = &self.token {
            let text = format!("Bearer {}", token.trim());
            let value = text
                .parse()
                .context("--token holds characters a header cannot carry")?;
            let _ = TOKEN.set((text, value));
        }
        let config = match &self.tls_ca {
            None => {
                if self.tls_cert.is_some() {
                    bail!("--tls-cert needs --tls-ca (the CA of the services' certificates)");
                }
                None
            }
            Some(ca) => {
                let read = |path: &PathBuf, what: &str| {
                    std::fs::read(path)
                        .with_context(|| format!("cannot read the {what} {}", path.display()))
                };
                let mut tls = ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
                if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
                    tls = tls.identity(Identity::from_pem(
                        read(cert, "client certificate")?,
                        read(key, "client key")?,
                    ));
                }
                if let Some(domain) = &self.tls_domain {
                    tls = tls.domain_name(domain);
                }
                Some(tls)
            }
        };
        CLIENT
            .set(config)
            .map_err(|_| anyhow::anyhow!("TLS settings installed twice"))
    }
}

/// `endpoint` with TLS when its address is `https://`.
pub fn apply(endpoint: Endpoint, address: &str) -> Result<Endpoint> {
    if !address.starts_with("https://") {
        return Ok(endpoint);
    }
    match CLIENT.get().and_then(Option::as_ref) {
        Some(tls) => endpoint
            .tls_config(tls.clone())
            .with_context(|| format!("TLS settings for {address}")),
        None => bail!("{address} is https: give --tls-ca (or FS_TLS_CA)"),
    }
}
