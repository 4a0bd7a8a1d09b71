//! The key file: access keys in `<data_dir>/keys.json`, shared by the running server and
//! the `stratum admin key` commands.
//!
//! sled admits one process per database, so keys cannot live in the metadata store while
//! an admin command runs beside the server. The file instead:
//! - is JSON, `{"version": 1, "keys": [{"access_key", "secret_key", "created_unix_secs",
//!   "root"}]}`, mode 0600;
//! - is only ever replaced whole: a writer writes `keys.json.tmp`, fsyncs it, renames it over
//!   `keys.json` and fsyncs the directory, so a reader sees the old file or the new one;
//! - has one writer at a time: writers hold an exclusive lock on `keys.lock` across their
//!   read-modify-write, so concurrent `admin key create` runs never lose a key. Readers take
//!   no lock (the rename is atomic).
//!
//! Secrets leave this module only through [`KeyEntry::secret_key`]; no `Debug` prints one.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "keys.json";
/// The writers' lock file's name inside the data directory.
pub const LOCK_FILE: &str = "keys.lock";
/// The temporary file a writer fills before renaming it over the key file.
const TEMP_FILE: &str = "keys.json.tmp";
/// The key file format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// Access keys: length bounds.
pub const ACCESS_KEY_CHARS: std::ops::RangeInclusive<usize> = 3..=128;
/// Secret keys: length bounds.
pub const SECRET_KEY_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
/// Length of a generated access key (AWS's is 20 too).
const GENERATED_ACCESS_KEY_CHARS: usize = 20;
/// Length of a generated secret key (AWS's is 40 too).
const GENERATED_SECRET_KEY_CHARS: usize = 40;
/// Prefix of generated access keys, so a Stratum key is recognisable.
const GENERATED_ACCESS_KEY_PREFIX: &str = "STR";

/// What went wrong with the key file or a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading, writing or locking a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a key file this build understands.
    #[error("{path} is not a valid key file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An access key or secret has the wrong form.
    #[error("{0}")]
    Invalid(String),
    /// The access key is already in the file.
    #[error("access key {0} already exists")]
    Exists(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One access key as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
    /// When it was created, seconds since the Unix epoch.
    pub created_unix_secs: u64,
    /// Whether this is the root key the server generated on first start.
    #[serde(default)]
    pub root: bool,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("created_unix_secs", &self.created_unix_secs)
            .field("root", &self.root)
            .finish()
    }
}

impl KeyEntry {
    /// The creation time in RFC 3339 (UTC).
    pub fn created_rfc3339(&self) -> String {
        i64::try_from(self.created_unix_secs)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.created_unix_secs.to_string())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    keys: Vec<KeyEntry>,
}

/// Identifies one version of the key file: writers replace it by rename, so a new version
/// has a new inode (and usually a new length and mtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

/// The key file of one data directory.
#[derive(Debug, Clone)]
pub struct KeyFile {
    dir: PathBuf,
}

impl KeyFile {
    /// The key file in `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        KeyFile {
            dir: data_dir.to_owned(),
        }
    }

    /// Path of `keys.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    /// The current version's stamp, or `None` when there is no file.
    pub fn stamp(&self) -> Result<Option<FileStamp>, KeyError> {
        let path = self.path();
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(FileStamp {
                ino: m.ino(),
                len: m.len(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Every key in the file (none when there is no file).
    pub fn read(&self) -> Result<Vec<KeyEntry>, KeyError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let contents: Contents = serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if contents.version != FORMAT_VERSION {
            return Err(KeyError::Corrupt {
                path,
                message: format!(
                    "format version {} (this build reads {FORMAT_VERSION})",
                    contents.version
                ),
            });
        }
        Ok(contents.keys)
    }

    /// Adds a key: the given pair (validated), or a generated one.
    pub fn create(&self, pair: Option<(String, String)>) -> Result<KeyEntry, KeyError> {
        let (access_key, secret_key) = match pair {
            Some((a, s)) => {
                validate_access_key(&a).map_err(KeyError::Invalid)?;
                validate_secret_key(&s).map_err(KeyError::Invalid)?;
                (a, s)
            }
            None => generate_pair(),
        };
        self.update(|keys| {
            if keys.iter().any(|k| k.access_key == access_key) {
                return Err(KeyError::Exists(access_key));
            }
            let entry = KeyEntry {
                access_key,
                secret_key,
                created_unix_secs: now_secs(),
                root: false,
            };
            keys.push(entry.clone());
            Ok(entry)
        })
    }

    /// Removes a key; the removed entry, or `None` if there was no such key.
    pub fn delete(&self, access_key: &str) -> Result<Option<KeyEntry>, KeyError> {
        self.update(|keys| {
            let Some(i) = keys.iter().position(|k| k.access_key == access_key) else {
                return Ok(None);
            };
            Ok(Some(keys.remove(i)))
        })
    }

    /// Generates and stores a root key unless the file has one; the new key, if any.
    pub fn ensure_root(&self) -> Result<Option<KeyEntry>, KeyError> {
        self.update(|keys| {
            if keys.iter().any(|k| k.root) {
                return Ok(None);
            }
            let (access_key, secret_key) = generate_pair();
            let entry = KeyEntry {
                access_key,
                secret_key,
                created_unix_secs: now_secs(),
                root: true,
            };
            keys.push(entry.clone());
            Ok(Some(entry))
        })
    }

    /// One read-modify-write under the writers' lock. The file is rewritten only when `f`
    /// returns `Ok`.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<KeyEntry>) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        // Released when `lock` is closed at the end of this function (or by the kernel if
        // the process dies), so a crashed writer never leaves the file locked.
        lock.lock().map_err(io_error(&lock_path))?;
        let mut keys = self.read()?;
        let before = keys.clone();
        let out = f(&mut keys)?;
        if keys != before {
            self.write(keys)?;
        }
        Ok(out)
    }

    /// Replaces the file: temp file, fsync, rename, fsync of the directory.
    fn write(&self, keys: Vec<KeyEntry>) -> Result<(), KeyError> {
        let tmp = self.dir.join(TEMP_FILE);
        let contents = Contents {
            version: FORMAT_VERSION,
            keys,
        };
        let mut json = serde_json::to_vec_pretty(&contents).map_err(|e| KeyError::Corrupt {
            path: tmp.clone(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        // A temp file left by a crashed writer is replaced (we hold the lock); remove it
        // first so the new one is created with mode 0600 whatever the old one had.
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&tmp)(e)),
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_error(&tmp))?;
        file.write_all(&json).map_err(io_error(&tmp))?;
        file.sync_all().map_err(io_error(&tmp))?;
        drop(file);
        let path = self.path();
        std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        Ok(())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks an access key id: 3-128 characters of `A-Z a-z 0-9 _ - .`.
pub fn validate_access_key(key: &str) -> Result<(), String> {
    let ok = ACCESS_KEY_CHARS.contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "an access key is {}-{} characters of A-Z, a-z, 0-9, '_', '-' and '.'",
            ACCESS_KEY_CHARS.start(),
            ACCESS_KEY_CHARS.end()
        ))
    }
}

/// Checks a secret key: 8-128 printable ASCII characters, no spaces. The message never
/// contains the secret.
pub fn validate_secret_key(secret: &str) -> Result<(), String> {
    let ok =
        SECRET_KEY_CHARS.contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a secret key is {}-{} printable ASCII characters without spaces",
            SECRET_KEY_CHARS.start(),
            SECRET_KEY_CHARS.end()
        ))
    }
}

/// A fresh key pair from the OS random source: a 20-character upper-case alphanumeric
/// access key starting with `STR` and a 40-character alphanumeric secret.
pub fn generate_pair() -> (String, String) {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = OsRng;
    let mut pick = |alphabet: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
            .collect()
    };
    let access = format!(
        "{GENERATED_ACCESS_KEY_PREFIX}{}",
        pick(
            UPPER,
            GENERATED_ACCESS_KEY_CHARS - GENERATED_ACCESS_KEY_PREFIX.len()
        )
    );
    let secret = pick(ALNUM, GENERATED_SECRET_KEY_CHARS);
    (access, secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_pairs_have_the_documented_form() {
        let (a, s) = generate_pair();
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("STR"));
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        validate_access_key(&a).unwrap();
        validate_secret_key(&s).unwrap();
        assert_ne!(generate_pair(), generate_pair());
    }

    #[test]
    fn key_forms_are_checked() {
        assert!(validate_access_key("ab").is_err());
        assert!(validate_access_key("abc").is_ok());
        assert!(validate_access_key("a.b-c_D9").is_ok());
        assert!(validate_access_key("a b c").is_err());
        assert!(validate_access_key(&"a".repeat(129)).is_err());
        assert!(validate_secret_key("1234567").is_err());
        assert!(validate_secret_key("12345678").is_ok());
        assert!(validate_secret_key("abc/+=!~xyz").is_ok());
        assert!(validate_secret_key("has a space").is_err());
        assert!(!validate_secret_key("bad\u{7f}secret")
            .unwrap_err()
            .contains("bad"));
    }

    #[test]
    fn create_list_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(&dir.path().join("data"));
        assert!(file.read().unwrap().is_empty());
        let a = file.create(None).unwrap();
        let b = file
            .create(Some(("MYKEY".into(), "my-secret-1".into())))
            .unwrap();
        let keys = file.read().unwrap();
        assert_eq!(keys, vec![a.clone(), b.clone()]);
        assert!(matches!(
            file.create(Some(("MYKEY".into(), "other-secret".into()))),
            Err(KeyError::Exists(_))
        ));
        assert!(matches!(
            file.create(Some(("MYKEY2".into(), "short".into()))),
            Err(KeyError::Invalid(_))
        ));
        assert_eq!(file.delete("MYKEY").unwrap(), Some(b));
        assert_eq!(file.delete("MYKEY").unwrap(), None);
        assert_eq!(file.read().unwrap(), vec![a]);
    }

    #[test]
    fn the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path());
        file.create(None).unwrap();
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let lock = std::fs::metadata(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(lock.permissions().mode() & 0o777, 0o600);
        assert!(!dir.path().join(TEMP_FILE).exists());
    }

    #[test]
    fn one_root_key_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path());
        file.create(None).unwrap();
        let root = file.ensure_root().unwrap().unwrap();
        assert!(root.root);
        assert_eq!(file.ensure_root().unwrap(), None);
        let keys = file.read().unwrap();
        assert_eq!(keys.iter().filter(|k| k.root).count(), 1);
    }

    #[test]
    fn concurrent_writers_lose_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let file = KeyFile::new(dir.path());
                std::thread::spawn(move || {
                    for i in 0..10 {
                        file.create(Some((format!("KEY-{t}-{i}"), "secret-value".into())))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let keys = KeyFile::new(dir.path()).read().unwrap();
        assert_eq!(keys.len(), 80);
    }

    #[test]
    fn a_corrupt_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path());
        std::fs::write(file.path(), b"{not json").unwrap();
        assert!(matches!(file.read(), Err(KeyError::Corrupt { .. })));
        assert!(file.create(None).is_err());
        assert_eq!(std::fs::read(file.path()).unwrap(), b"{not json");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let e = KeyEntry {
            access_key: "AK".into(),
            secret_key: "topsecretvalue".into(),
            created_unix_secs: 0,
            root: true,
        };
        assert!(!format!("{e:?}").contains("topsecretvalue"));
        assert_eq!(e.created_rfc3339(), "1970-01-01T00:00:00Z");
    }
}
