//! Credentials already checked. A client sends the same bearer token with
//! every call until it expires; checking its signature and claims once per
//! token instead of once per call takes the JWT work off the serving path.
//! An entry lasts until the token's `exp` (no leeway), and all go when an
//! issuer's keys change (a removed key stops its tokens at once). Likewise
//! the name in a client certificate (which TLS verified at the handshake)
//! is parsed once per certificate, not per call.

use std::{collections::HashMap, sync::RwLock};

use super::Principal;

/// Tokens kept at most; past it the cache starts over (a flood of distinct
/// tokens costs verification, never memory).
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct Verified(RwLock<HashMap<String, (Principal, i64)>>);

impl Verified {
    /// The principal of `token` if it was verified and has not expired at
    /// `now` (Unix seconds).
    pub(super) fn get(&self, token: &str, now: i64) -> Option<Principal> {
        let entries = self.0.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(token)
            .filter(|(_, exp)| now < *exp)
            .map(|(principal, _)| principal.clone())
    }

    pub(super) fn insert(&self, token: &str, principal: &Principal, exp: i64) {
        let mut entries = self.0.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token.to_string(), (principal.clone(), exp));
    }

    pub(super) fn clear(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The names of client certificates (DER) already parsed.
#[derive(Debug, Default)]
pub(super) struct CertificateNames(RwLock<HashMap<Vec<u8>, Option<String>>>);

impl CertificateNames {
    /// The name in `der`, parsed by `parse` the first time.
    pub(super) fn get_or_parse(
        &self,
        der: &[u8],
        parse: impl FnOnce(&[u8]) -> Option<String>,
    ) -> Option<String> {
        if let Some(name) = self.0.read().unwrap_or_else(|e| e.into_inner()).get(der) {
            return name.clone();
        }
        let name = parse(der);
        let mut names = self.0.write().unwrap_or_else(|e| e.into_inner());
        if names.len() >= CAPACITY {
            names.clear();
        }
        names.insert(der.to_vec(), name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Proof;

    #[test]
    fn entries_last_until_expiry_and_the_cache_stays_bounded() {
        let verified = Verified::default();
        let ana = Principal {
            name: "ana".into(),
            issuer: "i".into(),
            groups: vec![],
            proof: Proof::Token,
        };
        verified.insert("t", &ana, 100);
        assert_eq!(verified.get("t", 99), Some(ana.clone()));
        assert_eq!(verified.get("t", 100), None, "expired at exp");
        assert_eq!(verified.get("other", 0), None);
        for i in 0..=CAPACITY {
            verified.insert(&i.to_string(), &ana, 100);
        }
        assert!(verified.0.read().unwrap().len() <= CAPACITY);
        verified.clear();
        assert_eq!(verified.get("0", 0), None);
    }

    #[test]
    fn a_certificate_is_parsed_once() {
        let names = CertificateNames::default();
        let parses = std::cell::Cell::new(0);
        for _ in 0..3 {
            let name = names.get_or_parse(b"der", |_| {
                parses.set(parses.get() + 1);
                Some("svc".into())
            });
            assert_eq!(name.as_deref(), Some("svc"));
        }
        assert_eq!(parses.get(), 1);
    }
}
