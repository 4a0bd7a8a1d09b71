//! A small AWS Signature Version 4 signer for hand-built requests (the bad-input tests): header
//! signatures, streaming chunk signatures and presigned URLs, written from the AWS SigV4
//! documentation so the tests do not share code with the server's verifier.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The SHA-256 of the empty string, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `(YYYYMMDDTHHMMSSZ, YYYYMMDD)` for `when`.
pub fn amz_date(when: SystemTime) -> (String, String) {
    let secs = when.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let time = format!("{:02}{:02}{:02}", rem / 3600, (rem / 60) % 60, rem % 60);
    (format!("{date}T{time}Z"), date)
}

/// Percent-encodes per SigV4: everything but `A-Za-z0-9-_.~` (and `/` when `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Credentials and scope.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Region (us-east-1).
    pub region: String,
}

/// What a header signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// `host:port`.
    pub host: &'a str,
    /// The URI-encoded path, as sent.
    pub path: &'a str,
    /// The decoded query pairs.
    pub query: &'a [(&'a str, &'a str)],
    /// The extra headers to sign (besides host, x-amz-date, x-amz-content-sha256).
    pub headers: &'a [(&'a str, &'a str)],
}

/// A signed request's parts.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Headers to send (including `Authorization`, `x-amz-date`, `x-amz-content-sha256`).
    pub headers: Vec<(String, String)>,
    /// The request's signature (the seed of a chunked body).
    pub signature: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// `DATE/REGION/s3/aws4_request`.
    pub scope: String,
}

impl Signer {
    /// A signer for `us-east-1`.
    pub fn new(access_key: &str, secret_key: &str) -> Signer {
        Signer {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: "us-east-1".to_string(),
        }
    }

    fn signing_key(&self, date: &str) -> Vec<u8> {
        let k = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, b"s3");
        hmac(&k, b"aws4_request")
    }

    fn canonical_query(query: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Signs `req` with an `Authorization` header; `payload_hash` is the value of
    /// `x-amz-content-sha256` (a hex SHA-256, or `STREAMING-…`/`UNSIGNED-PAYLOAD`).
    pub fn sign(&self, req: &Request<'_>, payload_hash: &str, when: SystemTime) -> Signed {
        let Request {
            method,
            host,
            path,
            query,
            headers,
        } = *req;
        let (amz_date, date) = amz_date(when);
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        all.push(("host".into(), host.into()));
        all.push(("x-amz-date".into(), amz_date.clone()));
        all.push(("x-amz-content-sha256".into(), payload_hash.into()));
        all.sort();
        let canonical_headers: String = all.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_headers = all
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
            Self::canonical_query(query)
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let signature = hex::encode(hmac(&self.signing_key(&date), string_to_sign.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key
        );
        let mut out: Vec<(String, String)> = all.into_iter().filter(|(k, _)| k != "host").collect();
        out.push(("Authorization".into(), authorization));
        Signed {
            headers: out,
            signature,
            amz_date,
            scope,
        }
    }

    /// The signature of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body.
    pub fn chunk_signature(&self, signed: &Signed, previous: &str, chunk: &[u8]) -> String {
        let date = &signed.amz_date[..8];
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{EMPTY_SHA256}\n{}",
            signed.amz_date,
            signed.scope,
            sha256_hex(chunk)
        );
        hex::encode(hmac(&self.signing_key(date), string_to_sign.as_bytes()))
    }

    /// A presigned GET URL (`http://host/path?X-Amz-…`) signed at `when`, valid `expires`.
    pub fn presign_get(
        &self,
        host: &str,
        path: &str,
        when: SystemTime,
        expires: Duration,
    ) -> String {
        let (amz_date, date) = amz_date(when);
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let credential = format!("{}/{scope}", self.access_key);
        let expires = expires.as_secs().to_string();
        let query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", credential.as_str()),
            ("X-Amz-Date", amz_date.as_str()),
            ("X-Amz-Expires", expires.as_str()),
            ("X-Amz-SignedHeaders", "host"),
        ];
        let canonical_query = Self::canonical_query(&query);
        let canonical_request =
            format!("GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let signature = hex::encode(hmac(&self.signing_key(&date), string_to_sign.as_bytes()));
        format!("http://{host}{path}?{canonical_query}&X-Amz-Signature={signature}")
    }
}

#[test]
fn amz_date_matches_known_instants() {
    let at = |s: u64| amz_date(UNIX_EPOCH + Duration::from_secs(s)).0;
    assert_eq!(at(0), "19700101T000000Z");
    assert_eq!(at(1_440_938_160), "20150830T123600Z"); // the AWS SigV4 examples' instant
    assert_eq!(at(951_782_400), "20000229T000000Z");
}

#[test]
fn signature_matches_the_aws_get_object_example() {
    // "Example: GET Object" of the AWS SigV4 for S3 documentation (Range header, empty body).
    let signer = Signer {
        access_key: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        region: "us-east-1".into(),
    };
    // 20130524T000000Z
    let when = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
    let req = Request {
        method: "GET",
        host: "examplebucket.s3.amazonaws.com",
        path: "/test.txt",
        query: &[],
        headers: &[("range", "bytes=0-9")],
    };
    let signed = signer.sign(&req, EMPTY_SHA256, when);
    assert_eq!(
        signed.signature,
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
}
