//! What a caller may do, and the audit trail of what it did.
//!
//! Every request passes one [`AuthzLayer`]: it finds the request's
//! [`Action`] in the table of every RPC ([`rules::RULES`]; a path without a
//! row is refused) and hands the handler an [`Access`] in the request's
//! extensions. Only the handler knows the project a request touches (it is
//! inside the message, or inside a signed ticket), so it calls
//! [`check`] with it before doing anything; a handler that answers OK
//! without having checked is turned into INTERNAL by the layer, so a
//! forgotten check fails loudly instead of letting everyone in.
//!
//! Roles are per project (reader < writer < admin), bound to principal ids
//! or `group:<name>` in the project's catalog object; the configured
//! `admins` hold every role in every project and alone create projects.
//! With `[server.authz] enabled = false` (the default) every check passes,
//! and the audit log is still written when configured.

mod audit;
pub mod rules;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use featurestore_proto::v1::{Project, Role as ProtoRole};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::auth::Principal;
pub use audit::AuditLog;

/// `[server.authz]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// Enforce roles. Needs identities: `[server.auth]` issuers or mutual
    /// TLS.
    pub enabled: bool,
    /// Principal ids or `group:<name>` holding every role in every project
    /// (and alone creating projects).
    pub admins: Vec<String>,
    /// Append the audit log (JSON lines) to this file; unset: audit records
    /// go to the service log (target `audit`).
    pub audit_file: Option<PathBuf>,
}

impl AuthzConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, member) in self.admins.iter().enumerate() {
            featurestore_domain::schema::validate_member(member)
                .map_err(|e| format!("server.authz.admins[{i}]: {e}"))?;
        }
        Ok(())
    }
}

/// A project role; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub fn from_proto(role: i32) -> Option<Self> {
        match ProtoRole::try_from(role).ok()? {
            ProtoRole::Reader => Some(Role::Reader),
            ProtoRole::Writer => Some(Role::Writer),
            ProtoRole::Admin => Some(Role::Admin),
            ProtoRole::Unspecified => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

/// What an RPC does, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read catalog objects, statuses and jobs of a project.
    Describe,
    /// List projects: every identified caller, seeing those it may describe.
    ListProjects,
    /// Service-wide counters with no project data in them.
    ServiceStatus,
    Serve,
    ReadHistory,
    ReadDatasets,
    Ingest,
    CreateDataset,
    ChangeCatalog,
    Backfill,
    Delete,
    ManageRoles,
    CreateProject,
    /// A method the service answers UNIMPLEMENTED.
    Unoffered,
}

/// Who may do an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// At least this role in the request's project.
    Role(Role),
    /// Any identified caller.
    Identified,
    /// One of the configured admins.
    Operator,
}

impl Action {
    pub fn need(self) -> Need {
        use Action::*;
        match self {
            Describe | Serve | ReadHistory | ReadDatasets => Need::Role(Role::Reader),
            Ingest | CreateDataset => Need::Role(Role::Writer),
            ChangeCatalog | Backfill | Delete | ManageRoles => Need::Role(Role::Admin),
            ListProjects | ServiceStatus | Unoffered => Need::Identified,
            CreateProject => Need::Operator,
        }
    }

    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            Describe => "describe",
            ListProjects => "list_projects",
            ServiceStatus => "service_status",
            Serve => "serve",
            ReadHistory => "read_history",
            ReadDatasets => "read_datasets",
            Ingest => "ingest",
            CreateDataset => "create_dataset",
            ChangeCatalog => "change_catalog",
            Backfill => "backfill",
            Delete => "delete",
            ManageRoles => "manage_roles",
            CreateProject => "create_project",
            Unoffered => "unoffered",
        }
    }

    /// Changes worth an audit record even when they succeed.
    pub fn audited(self) -> bool {
        use Action::*;
        matches!(
            self,
            CreateDataset | ChangeCatalog | Backfill | Delete | ManageRoles | CreateProject
        )
    }
}

/// Where the roles of a project come from (the service's catalog).
pub trait ProjectDirectory: Send + Sync + 'static {
    fn project(&self, name: &str) -> Option<Arc<Project>>;
}

impl<F> ProjectDirectory for F
where
    F: Fn(&str) -> Option<Arc<Project>> + Send + Sync + 'static,
{
    fn project(&self, name: &str) -> Option<Arc<Project>> {
        self(name)
    }
}

/// Whether the caller with principal id `id` in `groups` is one of
/// `members`.
fn is_member(id: &str, groups: &[String], members: &[String]) -> bool {
    members.iter().any(|m| {
        m == id
            || m.strip_prefix("group:")
                .is_some_and(|g| groups.iter().any(|pg| pg == g))
    })
}

struct Policy {
    enabled: bool,
    admins: Vec<String>,
    directory: Option<Arc<dyn ProjectDirectory>>,
    audit: AuditLog,
}

/// The permission a handler checks: the request's action, its caller and
/// the policy. Put in every request's extensions by [`AuthzLayer`].
#[derive(Clone)]
pub struct Access {
    action: Action,
    principal: Option<Principal>,
    policy: Arc<Policy>,
    checked: Arc<AtomicBool>,
    project: Arc<std::sync::OnceLock<String>>,
    trace_id: Arc<str>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("action", &self.action)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl Access {
    fn caller(&self) -> String {
        self.principal
            .as_ref()
            .map(Principal::id)
            .unwrap_or_else(|| "anonymous".into())
    }

    fn is_operator(&self) -> bool {
        self.principal
            .as_ref()
            .is_some_and(|p| is_member(&p.id(), &p.groups, &self.policy.admins))
    }

    /// The caller's role in `project`, `None` without one.
    pub fn role_in(&self, project: &str) -> Option<Role> {
        let principal = self.principal.as_ref()?;
        let id = principal.id();
        if is_member(&id, &principal.groups, &self.policy.admins) {
            return Some(Role::Admin);
        }
        let project = self.policy.directory.as_ref()?.project(project)?;
        project
            .roles
            .iter()
            .filter(|b| is_member(&id, &principal.groups, &b.members))
            .filter_map(|b| Role::from_proto(b.role))
            .max()
    }

    /// Whether the caller may do the request's action in `project`
    /// (without recording a check: for filtering listings).
    ///
    /// A listing across projects (`ListProjects`, a search or watch with
    /// no project) keeps what the caller may describe.
    pub fn allows(&self, project: &str) -> bool {
        if !self.policy.enabled {
            return true;
        }
        let needed = match self.action.need() {
            Need::Role(role) => role,
            Need::Identified | Need::Operator => Role::Reader,
        };
        self.role_in(project).is_some_and(|role| role >= needed)
    }

    fn decide(&self, project: &str) -> Result<(), Status> {
        if !self.policy.enabled {
            return Ok(());
        }
        let Some(principal) = &self.principal else {
            return Err(Status::unauthenticated(
                "authorization is on: call with a bearer token or a client certificate",
            ));
        };
        let action = self.action.name();
        match self.action.need() {
            Need::Identified => Ok(()),
            Need::Operator if self.is_operator() => Ok(()),
            Need::Operator => Err(Status::permission_denied(format!(
                "{action} needs a configured admin ([server.authz] admins); {} is not one",
                principal.id()
            ))),
            Need::Role(needed) => match self.role_in(project) {
                Some(role) if role >= needed => Ok(()),
                held => Err(Status::permission_denied(format!(
                    "{action} on project {project:?} needs role {}; {} has {}",
                    needed.name(),
                    principal.id(),
                    held.map_or("no role there", Role::name)
                ))),
            },
        }
    }

    /// See [`check_listing`].
    pub fn check_listing(&self) -> Result<(), Status> {
        if self.policy.enabled && self.principal.is_none() {
            return self.check("");
        }
        self.checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Checks the request's action on `project` (empty for actions that
    /// are not about one project); a denial is audited.
    pub fn check(&self, project: &str) -> Result<(), Status> {
        self.checked.store(true, Ordering::Release);
        let _ = self.project.set(project.to_string());
        let decision = self.decide(project);
        if let Err(status) = &decision {
            self.policy.audit.record(&audit::Record {
                principal: &self.caller(),
                action: self.action.name(),
                project,
                outcome: status.code(),
                detail: status.message(),
                trace_id: &self.trace_id,
            });
        }
        decision
    }
}

/// Checks that the caller of a request spanning projects (an empty project
/// in a listing, search or watch) is identified; the handler then keeps
/// only what [`allows`] passes.
pub fn check_listing<T>(request: &tonic::Request<T>) -> Result<(), Status> {
    match request.extensions().get::<Access>() {
        Some(access) => access.check_listing(),
        None => Ok(()),
    }
}

/// Checks the action of `request` on `project`: the first thing every
/// handler does. Passes when the request went through no [`AuthzLayer`]
/// (in-process calls in tests).
pub fn check<T>(request: &tonic::Request<T>, project: &str) -> Result<(), Status> {
    match request.extensions().get::<Access>() {
        Some(access) => access.check(project),
        None => Ok(()),
    }
}

/// The project of a group reference; empty when there is none (the check
/// then refuses, and without authorization the handler names the field).
pub fn group_project(group: Option<&featurestore_proto::v1::FeatureGroupRef>) -> &str {
    group.map_or("", |g| g.project.as_str())
}

/// Whether the caller of `request` may do its action in `project`: for
/// listings across projects, which keep only what passes.
pub fn allows<T>(request: &tonic::Request<T>, project: &str) -> bool {
    request
        .extensions()
        .get::<Access>()
        .is_none_or(|access| access.allows(project))
}

/// The [`Access`] of a request, for handlers that check later than their
/// first line (a Flight `DoGet` knows its project once the ticket is read).
pub fn access_of<T>(request: &tonic::Request<T>) -> Option<Access> {
    request.extensions().get::<Access>().cloned()
}

/// Paths that stay open to everyone: probes and tools.
fn open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

/// The tower layer putting an [`Access`] in every request.
#[derive(Clone)]
pub struct AuthzLayer {
    policy: Arc<Policy>,
}

impl std::fmt::Debug for AuthzLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzLayer")
            .field("enabled", &self.policy.enabled)
            .finish_non_exhaustive()
    }
}

impl AuthzLayer {
    /// Fails when enforcement is on but the service gave no project
    /// directory, or the audit file cannot be opened.
    pub fn new(
        config: &AuthzConfig,
        directory: Option<Arc<dyn ProjectDirectory>>,
    ) -> Result<Self, String> {
        if config.enabled && directory.is_none() {
            return Err("server.authz: this service has no catalog to read roles from".into());
        }
        Ok(Self {
            policy: Arc::new(Policy {
                enabled: config.enabled,
                admins: config.admins.clone(),
                directory,
                audit: AuditLog::open(config.audit_file.as_deref())?,
            }),
        })
    }
}

impl<S> tower::Layer<S> for AuthzLayer {
    type Service = Authorized<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorized {
            inner,
            policy: self.policy.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authorized<S> {
    inner: S,
    policy: Arc<Policy>,
}

/// The W3C trace id of a request: its `traceparent`, else the current span.
fn trace_id_of<B>(request: &http::Request<B>) -> String {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let id = span.span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        return id.to_string();
    }
    request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(1))
        .unwrap_or_default()
        .to_string()
}

/// `grpc-status` of a response's headers: set for an error answered
/// without a body (how tonic answers a handler's `Err`).
fn header_status(response: &http::Response<tonic::body::Body>) -> Option<tonic::Code> {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

impl<S, B> tower::Service<http::Request<B>> for Authorized<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path().to_string();
        if open_path(&path) {
            return Box::pin(inner.call(request));
        }
        let principal = request.extensions().get::<Principal>().cloned();
        let Some(action) = rules::action_of(&path) else {
            let status =
                Status::permission_denied(format!("{path} has no authorization rule; refused"));
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let access = Access {
            action,
            principal,
            policy: self.policy.clone(),
            checked: Arc::new(AtomicBool::new(false)),
            project: Arc::default(),
            trace_id: trace_id_of(&request).into(),
        };
        request.extensions_mut().insert(access.clone());
        Box::pin(async move {
            let response = inner.call(request).await?;
            let status = header_status(&response);
            let failed = status.is_some_and(|c| c != tonic::Code::Ok);
            if !failed && !access.checked.load(Ordering::Acquire) {
                tracing::error!(%path, "handler answered without checking authorization");
                return Ok(Status::internal(format!(
                    "{path} answered without an authorization check; refused"
                ))
                .into_http());
            }
            // Denials were recorded by `check`; audited actions record
            // their outcome here.
            let denied = matches!(
                status,
                Some(tonic::Code::PermissionDenied | tonic::Code::Unauthenticated)
            );
            if action.audited() && !denied {
                let code = status.unwrap_or(tonic::Code::Ok);
                access.policy.audit.record(&audit::Record {
                    principal: &access.caller(),
                    action: action.name(),
                    project: access.project.get().map_or("", String::as_str),
                    outcome: code,
                    detail: "",
                    trace_id: &access.trace_id,
                });
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests;
