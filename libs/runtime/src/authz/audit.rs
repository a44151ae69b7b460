//! The audit log: one JSON line per catalog change, dataset creation,
//! backfill and denial — who, what, where, the outcome and the trace id;
//! never feature values or keys.

use std::{
    fs::File,
    io::Write,
    path::Path,
    sync::{Arc, Mutex},
};

use serde::Serialize;

/// One audited event.
#[derive(Debug, Serialize)]
pub(super) struct Record<'a> {
    pub principal: &'a str,
    pub action: &'a str,
    /// The project the request named; empty when it names none.
    pub project: &'a str,
    #[serde(serialize_with = "code_name")]
    pub outcome: tonic::Code,
    /// Why it was refused; empty otherwise.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub detail: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub trace_id: &'a str,
}

/// The canonical gRPC name of a code (`PERMISSION_DENIED`).
fn code_name<S: serde::Serializer>(code: &tonic::Code, s: S) -> Result<S::Ok, S::Error> {
    let camel = format!("{code:?}");
    let mut name = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    s.serialize_str(&name)
}

/// Where audit records go: a file (appended, one write per line) or the
/// service log.
#[derive(Clone, Default)]
pub struct AuditLog {
    file: Option<Arc<Mutex<File>>>,
}

impl AuditLog {
    pub fn open(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("server.authz.audit_file {}: {e}", path.display()))?;
        Ok(Self {
            file: Some(Arc::new(Mutex::new(file))),
        })
    }

    pub(super) fn record(&self, record: &Record<'_>) {
        #[derive(Serialize)]
        struct Line<'a> {
            time: String,
            #[serde(flatten)]
            record: &'a Record<'a>,
        }
        let mut line = serde_json::to_string(&Line {
            time: humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            record,
        })
        .expect("a record serializes");
        match &self.file {
            Some(file) => {
                line.push('\n');
                let written = file
                    .lock()
                    .expect("not poisoned")
                    .write_all(line.as_bytes());
                if let Err(e) = written {
                    tracing::error!(error = %e, record = %line.trim_end(), "audit record not written to the audit file");
                }
            }
            None => tracing::info!(target: "audit", "{line}"),
        }
    }
}
