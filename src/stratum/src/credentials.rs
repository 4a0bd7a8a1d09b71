//! The server's [`CredentialStore`]: an in-memory root key (from the environment or the
//! config file, never written anywhere) in front of a cache of the key file.
//!
//! The cache follows the file without a restart: a lookup re-checks the file's stamp
//! (inode, length, mtime) when the last check is older than [`RECHECK_INTERVAL`], and always
//! on a miss, so a key made by `stratum admin key create` works at once and a deleted one
//! stops working within [`RECHECK_INTERVAL`]. A stat is all a check costs unless the file
//! changed.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stratum_auth::{AuthError, CredentialStore, SecretKey};

use crate::keys::{FileStamp, KeyError, KeyFile};

/// How stale the cached key file may get on the lookup path.
pub const RECHECK_INTERVAL: Duration = Duration::from_millis(500);

/// A root key pair held in memory.
#[derive(Clone)]
pub struct RootKey {
    /// The access key id.
    pub access_key: String,
    /// The secret.
    pub secret: SecretKey,
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKey")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

struct Cache {
    keys: HashMap<String, SecretKey>,
    /// The stamp of the file version `keys` came from (`None`: no file).
    stamp: Option<FileStamp>,
    /// When the stamp was last compared with the file.
    checked: Option<Instant>,
}

/// The key file, cached, behind an optional in-memory root key.
pub struct FileCredentialStore {
    file: KeyFile,
    root: Option<RootKey>,
    cache: Mutex<Cache>,
}

impl fmt::Debug for FileCredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileCredentialStore")
            .field("file", &self.file)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl FileCredentialStore {
    /// Opens the store and reads the file once, so a corrupt file fails at startup.
    pub fn open(file: KeyFile, root: Option<RootKey>) -> Result<Self, KeyError> {
        let store = FileCredentialStore {
            file,
            root,
            cache: Mutex::new(Cache {
                keys: HashMap::new(),
                stamp: None,
                checked: None,
            }),
        };
        {
            let mut cache = store.lock();
            store.reload(&mut cache)?;
        }
        Ok(store)
    }

    /// Keys currently in the cache (the in-memory root key not counted).
    pub fn cached_keys(&self) -> usize {
        self.lock().keys.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds no invariant a panicking holder could break half-way.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the file if its stamp changed since the cached version.
    fn reload(&self, cache: &mut Cache) -> Result<(), KeyError> {
        // The stamp is taken before the read: if the file is replaced in between, the next
        // check sees a newer stamp and reads again.
        let stamp = self.file.stamp()?;
        if cache.checked.is_some() && stamp == cache.stamp {
            cache.checked = Some(Instant::now());
            return Ok(());
        }
        let entries = self.file.read()?;
        cache.keys = entries
            .into_iter()
            .map(|e| (e.access_key, SecretKey::new(e.secret_key)))
            .collect();
        cache.stamp = stamp;
        cache.checked = Some(Instant::now());
        tracing::debug!(keys = cache.keys.len(), "loaded the key file");
        Ok(())
    }
}

fn unavailable(e: KeyError) -> AuthError {
    tracing::warn!(error = %e, "the key file cannot be read");
    AuthError::CredentialStoreUnavailable(Box::new(e))
}

impl CredentialStore for FileCredentialStore {
    fn secret_for(&self, access_key: &str) -> Result<Option<SecretKey>, AuthError> {
        if let Some(root) = &self.root {
            if root.access_key == access_key {
                return Ok(Some(root.secret.clone()));
            }
        }
        let mut cache = self.lock();
        let due = cache
            .checked
            .is_none_or(|t| t.elapsed() >= RECHECK_INTERVAL);
        if due {
            self.reload(&mut cache).map_err(unavailable)?;
        }
        if let Some(secret) = cache.keys.get(access_key) {
            return Ok(Some(secret.clone()));
        }
        if !due {
            self.reload(&mut cache).map_err(unavailable)?;
        }
        Ok(cache.keys.get(access_key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_sees_keys_other_handles_create_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCredentialStore::open(KeyFile::new(dir.path()), None).unwrap();
        assert_eq!(store.secret_for("NEWKEY").unwrap(), None);
        // Another writer (in production: another process) adds a key.
        let writer = KeyFile::new(dir.path());
        writer
            .create(Some(("NEWKEY".into(), "new-secret".into())))
            .unwrap();
        // A miss re-reads at once.
        assert_eq!(
            store.secret_for("NEWKEY").unwrap(),
            Some(SecretKey::new("new-secret"))
        );
        writer.delete("NEWKEY").unwrap();
        std::thread::sleep(RECHECK_INTERVAL + Duration::from_millis(50));
        assert_eq!(store.secret_for("NEWKEY").unwrap(), None);
        assert_eq!(store.cached_keys(), 0);
    }

    #[test]
    fn the_root_key_is_answered_from_memory_and_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey {
            access_key: "ROOTKEY".into(),
            secret: SecretKey::new("root-secret"),
        };
        let store = FileCredentialStore::open(KeyFile::new(dir.path()), Some(root)).unwrap();
        assert_eq!(
            store.secret_for("ROOTKEY").unwrap(),
            Some(SecretKey::new("root-secret"))
        );
        assert!(!KeyFile::new(dir.path()).path().exists());
        assert!(!format!("{store:?}").contains("root-secret"));
    }

    #[test]
    fn a_corrupt_file_makes_the_store_unavailable_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path());
        file.create(Some(("AKEY".into(), "a-secret".into())))
            .unwrap();
        let store = FileCredentialStore::open(file.clone(), None).unwrap();
        std::fs::write(file.path(), b"garbage").unwrap();
        assert!(matches!(
            store.secret_for("OTHER"),
            Err(AuthError::CredentialStoreUnavailable(_))
        ));
    }
}
