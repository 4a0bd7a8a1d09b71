//! Validated names and identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::limits;

/// Why a bucket name or object key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The bucket name breaks the S3 naming rules; the message says which.
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(&'static str),
    /// The key is longer than [`limits::KEY_BYTES_MAX`] bytes.
    #[error("object key is {0} bytes, more than the limit of 1024")]
    KeyTooLong(usize),
    /// The key is empty.
    #[error("object key is empty")]
    EmptyKey,
}

/// A bucket name that follows the S3 general-purpose bucket naming rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BucketName(String);

impl BucketName {
    /// Validates `name` against the S3 rules: 3–63 characters of lowercase letters, digits,
    /// dots and hyphens; starts and ends with a letter or digit; no `..`; not shaped like an
    /// IPv4 address; no reserved prefix (`xn--`, `sthree-`) or suffix (`-s3alias`, `--ol-s3`).
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        let bad = NameError::InvalidBucketName;
        if name.len() < 3 || name.len() > 63 {
            return Err(bad("length must be between 3 and 63 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(bad(
                "only lowercase letters, digits, dots and hyphens are allowed",
            ));
        }
        let first = name.as_bytes()[0];
        let last = name.as_bytes()[name.len() - 1];
        if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
            return Err(bad("must begin and end with a letter or digit"));
        }
        if name.contains("..") || name.contains(".-") || name.contains("-.") {
            return Err(bad("dots may not be adjacent to dots or hyphens"));
        }
        if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
            return Err(bad("must not be formatted as an IP address"));
        }
        if name.starts_with("xn--") || name.starts_with("sthree-") {
            return Err(bad("reserved prefix"));
        }
        if name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
            return Err(bad("reserved suffix"));
        }
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BucketName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<BucketName> for String {
    fn from(value: BucketName) -> Self {
        value.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object key: any non-empty UTF-8 string of at most [`limits::KEY_BYTES_MAX`] bytes.
///
/// Keys are opaque byte strings ordered bytewise; `a` and `a/b` are unrelated keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates the key length.
    pub fn new(key: impl Into<String>) -> Result<Self, NameError> {
        let key = key.into();
        if key.is_empty() {
            return Err(NameError::EmptyKey);
        }
        if key.len() > limits::KEY_BYTES_MAX {
            return Err(NameError::KeyTooLong(key.len()));
        }
        Ok(Self(key))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ObjectKey> for String {
    fn from(value: ObjectKey) -> Self {
        value.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A volume's identifier, unique across all tiers of one store.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct VolumeId(pub u64);

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A multipart upload's identifier (an opaque string handed to clients).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UploadId(pub String);

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an object's bytes live.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The hot disk set (normally NVMe/SSD).
    #[default]
    Hot,
    /// The warm disk set (normally HDD).
    Warm,
    /// A remote S3 bucket.
    Cold,
}

impl Tier {
    /// The lowercase name used in configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket", "my.bucket.01", "a1b", &"a".repeat(63)] {
            assert!(BucketName::new(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a_b",
        ] {
            assert!(BucketName::new(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn keys_are_limited_to_1024_bytes() {
        assert!(ObjectKey::new("a".repeat(1024)).is_ok());
        assert_eq!(
            ObjectKey::new("a".repeat(1025)),
            Err(NameError::KeyTooLong(1025))
        );
        assert_eq!(ObjectKey::new(""), Err(NameError::EmptyKey));
        // Multi-byte characters count in bytes, as S3 counts them.
        assert!(ObjectKey::new("é".repeat(513)).is_err());
    }
}
