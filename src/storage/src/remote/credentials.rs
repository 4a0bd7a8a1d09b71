//! Cold-tier credentials: loaded once from the environment or a credentials file, and never
//! printed (`Debug` shows the access key id only; no error message quotes a value).
//!
//! The credentials file is a TOML subset: `access_key = "..."` and `secret_key = "..."`
//! lines, `#` comments and blank lines; quotes are optional. Any other key is refused by
//! name, so a typo is not silently ignored.

use std::fmt;
use std::path::Path;

use stratum_core::config::ColdTierConfig;

use super::RemoteError;

/// An access key pair for the remote bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteCredentials {
    access_key: String,
    secret_key: String,
}

impl fmt::Debug for RemoteCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

fn refuse(reason: impl Into<String>) -> RemoteError {
    RemoteError::Credentials {
        reason: reason.into(),
    }
}

impl RemoteCredentials {
    /// A key pair given directly (tests, or a caller with its own secret store).
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        RemoteCredentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// The access key id (not secret).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub(crate) fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// Loads the key pair the config points at: `credentials_file` when set, else the two
    /// environment variables it names.
    pub fn load(config: &ColdTierConfig) -> Result<Self, RemoteError> {
        match &config.credentials_file {
            Some(path) => Self::from_file(path),
            None => {
                let var = |name: &str| {
                    std::env::var(name)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| refuse(format!("environment variable {name} is not set")))
                };
                let c = RemoteCredentials {
                    access_key: var(&config.access_key_env)?,
                    secret_key: var(&config.secret_key_env)?,
                };
                Ok(c)
            }
        }
    }

    /// Reads a credentials file (format in the module doc).
    pub fn from_file(path: &Path) -> Result<Self, RemoteError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| refuse(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|reason| refuse(format!("{}: {reason}", path.display())))
    }

    /// Parses a credentials file's text; the error names the line, never its value.
    fn parse(text: &str) -> Result<Self, String> {
        let (mut access_key, mut secret_key) = (None, None);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {n}: expected key = \"value\""))?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let slot = match key.trim() {
                "access_key" => &mut access_key,
                "secret_key" => &mut secret_key,
                other => {
                    return Err(format!(
                        "line {n}: unknown key `{other}` (expected access_key, secret_key)"
                    ))
                }
            };
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(format!(
                    "line {n}: `{}` must be non-empty, no spaces",
                    key.trim()
                ));
            }
            if slot.replace(value.to_owned()).is_some() {
                return Err(format!("line {n}: `{}` given twice", key.trim()));
            }
        }
        Ok(RemoteCredentials {
            access_key: access_key.ok_or("access_key is missing")?,
            secret_key: secret_key.ok_or("secret_key is missing")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_format_and_its_errors() {
        let c = RemoteCredentials::parse(
            "# B2 application key\naccess_key = \"004abc\"\n\nsecret_key = K004secretsecret\n",
        )
        .unwrap();
        assert_eq!(c.access_key(), "004abc");
        assert_eq!(c.secret_key(), "K004secretsecret");
        for (text, wanted) in [
            ("access_key = \"a\"\n", "secret_key is missing"),
            (
                "access_key = a\nsecret_key = s\nregion = x\n",
                "unknown key `region`",
            ),
            ("access_key a\n", "line 1"),
            (
                "access_key = a\naccess_key = b\nsecret_key = s\n",
                "given twice",
            ),
            ("access_key = a\nsecret_key = \"\"\n", "must be non-empty"),
        ] {
            let err = RemoteCredentials::parse(text).unwrap_err();
            assert!(err.contains(wanted), "{text:?} -> {err}");
        }
        let err =
            RemoteCredentials::parse("access_key = a\nsecret_key = \"hunter2 x\"\n").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = RemoteCredentials::new("AKID", "hunter2hunter2");
        let text = format!("{c:?}");
        assert!(text.contains("AKID") && !text.contains("hunter2"));
    }

    #[test]
    fn a_missing_variable_is_named_without_values() {
        let mut cfg = ColdTierConfig::new("https://h", "bkt");
        cfg.access_key_env = "STRATUM_TEST_SURELY_UNSET_VARIABLE".into();
        let err = RemoteCredentials::load(&cfg).unwrap_err().to_string();
        assert!(err.contains("STRATUM_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    }
}
