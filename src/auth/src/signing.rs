//! The signature check's arithmetic: request dates, credential scopes, signing-key derivation,
//! strings to sign and constant-time signature comparison.
//!
//! Pure functions of their inputs: no clock is read here (the caller passes `now`).

use std::fmt;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::{AuthError, ScopePart, SecretKey};

/// The only algorithm we accept.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The algorithm line of a chunk's string to sign.
pub const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// The algorithm line of a signed trailer's string to sign.
pub const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";
/// The last part of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A request time in SigV4's basic ISO 8601 form, `YYYYMMDDTHHMMSSZ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate {
    text: String,
    at: SystemTime,
}

impl AmzDate {
    /// Parses `20130524T000000Z`.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let format = format_description!("[year][month][day]T[hour][minute][second]Z");
        let at = PrimitiveDateTime::parse(text, format)
            .map_err(|_| AuthError::MissingOrInvalidDate)?
            .assume_utc();
        Ok(AmzDate {
            text: text.to_owned(),
            at: at.into(),
        })
    }

    /// Parses an RFC 1123 `Date` header (`Fri, 24 May 2013 00:00:00 GMT`), the fallback when
    /// `X-Amz-Date` is absent.
    pub fn parse_http_date(text: &str) -> Result<Self, AuthError> {
        let format = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let at: OffsetDateTime = PrimitiveDateTime::parse(text, format)
            .map_err(|_| AuthError::MissingOrInvalidDate)?
            .assume_utc();
        let text = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        Ok(AmzDate {
            text,
            at: at.into(),
        })
    }

    /// The full timestamp, `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The date part, `YYYYMMDD`, as it appears in the credential scope.
    pub fn date(&self) -> &str {
        &self.text[..8]
    }

    /// The instant.
    pub fn at(&self) -> SystemTime {
        self.at
    }
}

/// A credential scope, `<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// `s3`.
    pub service: String,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{SCOPE_TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// A `Credential=` value: the access key id and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id.
    pub access_key: String,
    /// The scope the signature was made for.
    pub scope: Scope,
}

impl Credential {
    /// Parses `AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request`. `None` if it does not
    /// have five non-empty parts with an 8-digit date; a wrong terminator is reported by
    /// [`Credential::check_scope`].
    pub fn parse(text: &str) -> Option<(Self, &str)> {
        let mut parts = text.rsplitn(5, '/');
        let terminator = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let date = parts.next()?;
        let access_key = parts.next()?;
        let all_present = [access_key, date, region, service, terminator]
            .iter()
            .all(|p| !p.is_empty());
        if !all_present || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let credential = Credential {
            access_key: access_key.to_owned(),
            scope: Scope {
                date: date.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
            },
        };
        Some((credential, terminator))
    }

    /// Checks the scope against the request date and the server's region and service.
    pub fn check_scope(
        &self,
        terminator: &str,
        date: &AmzDate,
        region: &str,
        service: &str,
    ) -> Result<(), AuthError> {
        let checks = [
            (ScopePart::Terminator, terminator, SCOPE_TERMINATOR),
            (ScopePart::Date, self.scope.date.as_str(), date.date()),
            (ScopePart::Region, self.scope.region.as_str(), region),
            (ScopePart::Service, self.scope.service.as_str(), service),
        ];
        for (part, found, expected) in checks {
            if found != expected {
                return Err(AuthError::CredentialScopeMismatch {
                    part,
                    found: found.to_owned(),
                    expected: expected.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The derived SigV4 signing key for one secret, date, region and service. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    pub fn derive(secret: &SecretKey, scope: &Scope) -> Self {
        let k_secret = format!("AWS4{}", secret.expose());
        let k_date = hmac_sha256(k_secret.as_bytes(), scope.date.as_bytes());
        let k_region = hmac_sha256(&k_date, scope.region.as_bytes());
        let k_service = hmac_sha256(&k_region, scope.service.as_bytes());
        SigningKey(hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes()))
    }

    /// The hex signature of `string_to_sign`.
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac_sha256(&self.0, string_to_sign.as_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The string to sign of a request: algorithm, timestamp, scope, hash of the canonical request.
pub fn string_to_sign(canonical_request: &str, date: &AmzDate, scope: &Scope) -> String {
    format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        date.as_str(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Whether `text` is a SigV4 signature: 64 lower-case hex digits.
pub fn is_signature(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares a computed signature with the declared one in constant time.
pub fn check_signature(computed: &str, declared: &str) -> Result<(), AuthError> {
    if bool::from(computed.as_bytes().ct_eq(declared.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_parse_in_both_forms() {
        let amz = AmzDate::parse("20130524T000000Z").unwrap();
        assert_eq!(amz.date(), "20130524");
        assert_eq!(amz.at(), UNIX_EPOCH + Duration::from_secs(1_369_353_600));
        let http = AmzDate::parse_http_date("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(http, amz);
        assert!(matches!(
            AmzDate::parse("2013-05-24"),
            Err(AuthError::MissingOrInvalidDate)
        ));
    }

    #[test]
    fn credentials_parse_and_reject_garbage() {
        let (cred, terminator) =
            Credential::parse("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request").unwrap();
        assert_eq!(cred.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(cred.scope.to_string(), "20130524/us-east-1/s3/aws4_request");
        assert_eq!(terminator, "aws4_request");
        assert!(Credential::parse("AK/2013/us-east-1/s3/aws4_request").is_none());
        assert!(Credential::parse("AK/20130524/us-east-1/s3").is_none());
        assert!(Credential::parse("/20130524/us-east-1/s3/aws4_request").is_none());
    }

    #[test]
    fn signature_shape_is_checked() {
        assert!(is_signature(EMPTY_SHA256));
        assert!(!is_signature(&EMPTY_SHA256.to_uppercase()));
        assert!(!is_signature("abc"));
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }
}
