//! Key lookup, the second of the three auth seams: the [`CredentialStore`] trait and an
//! in-memory implementation for tests.
//!
//! The production store lives over the metadata keys tree and is wired by the binary;
//! this crate never touches sled.

use std::collections::HashMap;
use std::fmt;

use crate::AuthError;

/// A secret access key. Its `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a secret access key.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretKey(secret.into())
    }

    /// The secret itself, for deriving signing keys.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Looks up the secret key of an access key id.
///
/// `Ok(None)` means the key does not exist (`InvalidAccessKeyId`); `Err` is reserved for a
/// store that cannot answer (`AuthError::CredentialStoreUnavailable`).
pub trait CredentialStore: Send + Sync {
    /// The secret for `access_key`, or `None` if there is no such key.
    fn secret_for(&self, access_key: &str) -> Result<Option<SecretKey>, AuthError>;
}

/// A [`CredentialStore`] held in a `HashMap`, for tests and single-key setups.
#[derive(Debug, Default, Clone)]
pub struct MemoryCredentialStore {
    keys: HashMap<String, SecretKey>,
}

impl MemoryCredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a key pair; returns `self` for chaining.
    pub fn with_key(mut self, access_key: impl Into<String>, secret: impl Into<String>) -> Self {
        self.insert(access_key, secret);
        self
    }

    /// Adds (or replaces) a key pair.
    pub fn insert(&mut self, access_key: impl Into<String>, secret: impl Into<String>) {
        self.keys.insert(access_key.into(), SecretKey::new(secret));
    }
}

impl CredentialStore for MemoryCredentialStore {
    fn secret_for(&self, access_key: &str) -> Result<Option<SecretKey>, AuthError> {
        Ok(self.keys.get(access_key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_finds_known_keys_only() {
        let store = MemoryCredentialStore::new().with_key("AK", "SK");
        assert_eq!(store.secret_for("AK").unwrap(), Some(SecretKey::new("SK")));
        assert_eq!(store.secret_for("other").unwrap(), None);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert!(!format!("{:?}", SecretKey::new("hunter2")).contains("hunter2"));
    }
}
