//! Flight tickets a client cannot forge. `DoGet` runs whatever its ticket
//! names, so a ticket is the planned [`FlightTicket`] with an expiry, signed
//! and the caller it was issued to (`Principal::id`, empty when anonymous),
//! signed with HMAC-SHA256 under the deployment's ticket key
//! (`query.ticket_key_file`, the same file on every replica so that any of
//! them runs a ticket another issued). A ticket altered, signed under
//! another key or past its expiry is refused with UNAUTHENTICATED; one
//! issued to another caller with PERMISSION_DENIED (UNAUTHENTICATED when
//! the caller gives no identity); bytes that are not a ticket at all with
//! INVALID_ARGUMENT.
//!
//! Without a key file each process draws a random key at startup: tickets
//! then work only on the replica that issued them, and not across a restart
//! (fine for standalone and single-replica deployments).

use std::{path::Path, time::Duration};

use featurestore_proto::v1::{FlightTicket, SignedTicket, flight_ticket::Kind};
use prost::Message;
use ring::{
    hmac,
    rand::{SecureRandom, SystemRandom},
};

use crate::error::OfflineError;

/// The shortest key accepted: the HMAC-SHA256 output size.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct Tickets {
    key: hmac::Key,
    ttl: Duration,
}

impl Tickets {
    /// Signs with the key in `file` (its bytes, a trailing newline ignored).
    pub fn from_file(file: &Path, ttl: Duration) -> Result<Self, String> {
        let bytes = std::fs::read(file).map_err(|e| {
            format!(
                "query.ticket_key_file: {} cannot be read: {e}",
                file.display()
            )
        })?;
        let key = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "query.ticket_key_file: {} holds {} bytes; give at least {MIN_KEY_BYTES} random bytes \
                 (e.g. `head -c 32 /dev/urandom | base64`)",
                file.display(),
                key.len()
            ));
        }
        Ok(Self::with_key(key, ttl))
    }

    /// Signs with a key drawn now (tickets valid on this process only).
    pub fn random(ttl: Duration) -> Self {
        let mut key = [0u8; MIN_KEY_BYTES];
        SystemRandom::new()
            .fill(&mut key)
            .expect("the system random source works");
        Self::with_key(&key, ttl)
    }

    /// Signs with `key` (tests and fuzzing; services read a key file).
    pub fn with_key(key: &[u8], ttl: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            ttl,
        }
    }

    /// The ticket for `kind`, issued to `principal`, valid for the
    /// configured time from `now_micros`.
    pub fn sign(&self, kind: Kind, principal: &str, now_micros: i64) -> Vec<u8> {
        let ttl = i64::try_from(self.ttl.as_micros()).unwrap_or(i64::MAX);
        let ticket = FlightTicket {
            kind: Some(kind),
            expires_at_micros: now_micros.saturating_add(ttl),
            principal: principal.to_string(),
        }
        .encode_to_vec();
        let mac = hmac::sign(&self.key, &ticket).as_ref().to_vec();
        SignedTicket { ticket, mac }.encode_to_vec()
    }

    /// What a client-given ticket names, once its signature and expiry hold
    /// and `caller` is the one it was issued to.
    pub fn open(&self, bytes: &[u8], caller: &str, now_micros: i64) -> Result<Kind, OfflineError> {
        let not_a_ticket = || OfflineError::invalid("ticket", "not a ticket of this service");
        let signed = SignedTicket::decode(bytes).map_err(|_| not_a_ticket())?;
        if signed.ticket.is_empty() {
            return Err(not_a_ticket());
        }
        hmac::verify(&self.key, &signed.ticket, &signed.mac).map_err(|_| {
            OfflineError::Unauthenticated(
                "ticket: not issued by this deployment, or altered; plan the query again".into(),
            )
        })?;
        let ticket = FlightTicket::decode(signed.ticket.as_slice()).map_err(|_| not_a_ticket())?;
        if ticket.expires_at_micros <= now_micros {
            return Err(OfflineError::Unauthenticated(format!(
                "ticket: expired {} s ago; plan the query again (tickets last {} s)",
                (now_micros - ticket.expires_at_micros) / 1_000_000,
                self.ttl.as_secs()
            )));
        }
        if !ticket.principal.is_empty() && ticket.principal != caller {
            return Err(if caller.is_empty() {
                OfflineError::Unauthenticated(
                    "ticket: issued to an identified caller; call with the same credentials".into(),
                )
            } else {
                OfflineError::PermissionDenied(
                    "ticket: issued to another caller; plan the query yourself".into(),
                )
            });
        }
        ticket.kind.ok_or_else(not_a_ticket)
    }
}

#[cfg(test)]
mod tests {
    use featurestore_proto::{ServiceError, v1::TrainingDatasetRef};

    use super::*;

    const NOW: i64 = 1_800_000_000_000_000;

    fn kind() -> Kind {
        Kind::Dataset(TrainingDatasetRef {
            project: "p".into(),
            name: "churn".into(),
            version: 3,
        })
    }

    fn code(e: OfflineError) -> tonic::Code {
        e.error_code().grpc_code()
    }

    #[test]
    fn a_signed_ticket_opens_until_it_expires() {
        let tickets = Tickets::random(Duration::from_secs(60));
        let ticket = tickets.sign(kind(), "", NOW);
        assert_eq!(tickets.open(&ticket, "", NOW + 59_000_000).unwrap(), kind());
        let err = tickets.open(&ticket, "", NOW + 60_000_000).unwrap_err();
        assert_eq!(code(err), tonic::Code::Unauthenticated);
    }

    #[test]
    fn forged_altered_and_foreign_tickets_are_refused() {
        let tickets = Tickets::random(Duration::from_secs(60));
        // A ticket written by a client: the plain protobuf, unsigned.
        let forged = SignedTicket {
            ticket: FlightTicket {
                kind: Some(kind()),
                expires_at_micros: i64::MAX,
                principal: String::new(),
            }
            .encode_to_vec(),
            mac: vec![0; 32],
        }
        .encode_to_vec();
        assert_eq!(
            code(tickets.open(&forged, "", NOW).unwrap_err()),
            tonic::Code::Unauthenticated
        );
        // A real ticket with its expiry pushed out.
        let mut signed = SignedTicket::decode(tickets.sign(kind(), "", NOW).as_slice()).unwrap();
        let mut inner = FlightTicket::decode(signed.ticket.as_slice()).unwrap();
        inner.expires_at_micros = i64::MAX;
        signed.ticket = inner.encode_to_vec();
        assert_eq!(
            code(tickets.open(&signed.encode_to_vec(), "", NOW).unwrap_err()),
            tonic::Code::Unauthenticated
        );
        // Issued under another deployment's key.
        let other = Tickets::random(Duration::from_secs(60)).sign(kind(), "", NOW);
        assert_eq!(
            code(tickets.open(&other, "", NOW).unwrap_err()),
            tonic::Code::Unauthenticated
        );
        // Not a ticket at all.
        for garbage in [&b""[..], b"\xff\xff\xff", b"hello"] {
            assert_eq!(
                code(tickets.open(garbage, "", NOW).unwrap_err()),
                tonic::Code::InvalidArgument,
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn only_the_caller_it_was_issued_to_runs_a_ticket() {
        let tickets = Tickets::random(Duration::from_secs(60));
        let ana = "https://issuer.test#ana";
        let ticket = tickets.sign(kind(), ana, NOW);
        assert_eq!(tickets.open(&ticket, ana, NOW).unwrap(), kind());
        assert_eq!(
            code(tickets.open(&ticket, "cert:bob", NOW).unwrap_err()),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            code(tickets.open(&ticket, "", NOW).unwrap_err()),
            tonic::Code::Unauthenticated
        );
        // Issued anonymously (no identity configured): anyone runs it.
        let open = tickets.sign(kind(), "", NOW);
        assert_eq!(tickets.open(&open, ana, NOW).unwrap(), kind());
    }

    #[test]
    fn replicas_sharing_a_key_file_open_each_others_tickets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ticket.key");
        std::fs::write(&file, b"0123456789abcdef0123456789abcdef\n").unwrap();
        let a = Tickets::from_file(&file, Duration::from_secs(60)).unwrap();
        let b = Tickets::from_file(&file, Duration::from_secs(60)).unwrap();
        assert_eq!(b.open(&a.sign(kind(), "", NOW), "", NOW).unwrap(), kind());
        std::fs::write(&file, b"short").unwrap();
        let err = Tickets::from_file(&file, Duration::from_secs(60)).unwrap_err();
        assert!(err.contains("at least 32"), "{err}");
        let err =
            Tickets::from_file(&dir.path().join("missing"), Duration::from_secs(60)).unwrap_err();
        assert!(err.contains("cannot be read"), "{err}");
    }
}
