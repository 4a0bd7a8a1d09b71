//! Known-answer tests pinned to the AWS SigV4 documentation examples for S3 (access key
//! `AKIAIOSFODNN7EXAMPLE`, 2013-05-24, us-east-1), plus one test per error kind.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    ACCESS_KEY, CHUNK1_SIG, CHUNK2_SIG, CHUNKED_PUT_HEADERS, CHUNKED_PUT_PATH,
    CHUNKED_PUT_SIGNED_HEADERS, FINAL_SIG, SECRET, SEED_SIG,
};
use sha2::{Digest, Sha256};
use stratum_auth::{
    verify_header, verify_presigned, verify_request, AuthError, AuthMechanism, CredentialStore,
    MemoryCredentialStore, PayloadMode, ScopePart, SecretKey, SignedRequest, VerifierConfig,
};

const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const CREDENTIAL: &str = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";

/// 2013-05-24T00:00:00Z, the time of every example.
fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

fn store() -> MemoryCredentialStore {
    MemoryCredentialStore::new().with_key(ACCESS_KEY, SECRET)
}

fn config() -> VerifierConfig {
    VerifierConfig::new("us-east-1")
}

fn authorization(signed_headers: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders={signed_headers},Signature={signature}")
}

/// A header-signed example request: owns its headers so tests can mutate them.
struct Example {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: Vec<(String, String)>,
}

impl Example {
    fn new(
        method: &'static str,
        path: &'static str,
        query: &'static str,
        headers: &[(&str, &str)],
    ) -> Self {
        Example {
            method,
            path,
            query,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
            }
        }
    }

    fn verify_at(
        &self,
        now: SystemTime,
        store: &dyn CredentialStore,
    ) -> Result<stratum_auth::Verified, AuthError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = SignedRequest {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: &headers,
        };
        verify_request(store, &config(), &req, now).map(|v| v.expect("request is signed"))
    }

    fn verify(&self) -> Result<stratum_auth::Verified, AuthError> {
        self.verify_at(example_time(), &store())
    }
}

/// Flips one hex digit of `sig`.
fn flip(sig: &str) -> String {
    let mut chars: Vec<char> = sig.chars().collect();
    chars[10] = if chars[10] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

fn get_object(signature: &str) -> Example {
    Example::new(
        "GET",
        "/test.txt",
        "",
        &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            (
                "Authorization",
                &authorization("host;range;x-amz-content-sha256;x-amz-date", signature),
            ),
        ],
    )
}

const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn aws_example_get_object_with_range() {
    let verified = get_object(GET_OBJECT_SIG).verify().unwrap();
    assert_eq!(verified.access_key, ACCESS_KEY);
    assert_eq!(verified.mechanism, AuthMechanism::Header);
    assert_eq!(verified.seed_signature, GET_OBJECT_SIG);
    let mut body = verified.body_check().expect("payload declared by hash");
    body.update(b"");
    body.finish().unwrap();

    assert!(matches!(
        get_object(&flip(GET_OBJECT_SIG)).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    let mut changed = get_object(GET_OBJECT_SIG);
    changed.set("Range", "bytes=0-8");
    assert!(matches!(
        changed.verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    let mut changed = get_object(GET_OBJECT_SIG);
    changed.path = "/test.txu";
    assert!(matches!(
        changed.verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

const PUT_OBJECT_SIG: &str = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
const PUT_BODY: &[u8] = b"Welcome to Amazon S3.";

fn put_object(path: &'static str, signature: &str) -> Example {
    Example::new(
        "PUT",
        path,
        "",
        &[
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("Host", "examplebucket.s3.amazonaws.com"),
            (
                "x-amz-content-sha256",
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            ),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            (
                "Authorization",
                &authorization(
                    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                    signature,
                ),
            ),
        ],
    )
}

#[test]
fn aws_example_put_object() {
    // The path reaches us raw or percent-encoded; S3 encodes it once either way.
    for path in ["/test$file.text", "/test%24file.text"] {
        let verified = put_object(path, PUT_OBJECT_SIG).verify().unwrap();
        let mut body = verified.body_check().unwrap();
        body.update(PUT_BODY);
        body.finish().unwrap();
        let mut tampered = verified.body_check().unwrap();
        tampered.update(b"Welcome to Amazon S4.");
        assert!(matches!(
            tampered.finish(),
            Err(AuthError::ContentSha256Mismatch)
        ));
    }
    assert!(matches!(
        put_object("/test$file.text", &flip(PUT_OBJECT_SIG)).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    let mut changed = put_object("/test$file.text", PUT_OBJECT_SIG);
    changed.set("x-amz-storage-class", "REDUCED_REDUNDANCZ");
    assert!(matches!(
        changed.verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

fn bucket_get(query: &'static str, signature: &str) -> Example {
    Example::new(
        "GET",
        "/",
        query,
        &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            (
                "Authorization",
                &authorization("host;x-amz-content-sha256;x-amz-date", signature),
            ),
        ],
    )
}

const LIFECYCLE_SIG: &str = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
const LIST_SIG: &str = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";

#[test]
fn aws_example_get_bucket_lifecycle() {
    bucket_get("lifecycle", LIFECYCLE_SIG).verify().unwrap();
    bucket_get("lifecycle=", LIFECYCLE_SIG).verify().unwrap();
    assert!(matches!(
        bucket_get("lifecycle", &flip(LIFECYCLE_SIG)).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    assert!(matches!(
        bucket_get("lifecyclf", LIFECYCLE_SIG).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

#[test]
fn aws_example_list_objects() {
    // Query order does not matter: the canonical query string is sorted.
    bucket_get("max-keys=2&prefix=J", LIST_SIG)
        .verify()
        .unwrap();
    bucket_get("prefix=J&max-keys=2", LIST_SIG)
        .verify()
        .unwrap();
    assert!(matches!(
        bucket_get("max-keys=2&prefix=J", &flip(LIST_SIG)).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    assert!(matches!(
        bucket_get("max-keys=3&prefix=J", LIST_SIG).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

const PRESIGNED_SIG: &str = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

fn presigned_query(expires: &str, signature: &str) -> String {
    format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
    )
}

fn presigned(query: &str, now: SystemTime) -> Result<stratum_auth::Verified, AuthError> {
    let headers = [("Host", "examplebucket.s3.amazonaws.com")];
    let req = SignedRequest {
        method: "GET",
        path: "/test.txt",
        query,
        headers: &headers,
    };
    verify_presigned(&store(), &config(), &req, now)
}

#[test]
fn aws_example_presigned_get() {
    let query = presigned_query("86400", PRESIGNED_SIG);
    let verified = presigned(&query, example_time() + Duration::from_secs(3600)).unwrap();
    assert_eq!(verified.mechanism, AuthMechanism::Presigned);
    assert_eq!(verified.payload, PayloadMode::Unsigned);
    // Through the dispatcher too.
    let headers = [("Host", "examplebucket.s3.amazonaws.com")];
    let req = SignedRequest {
        method: "GET",
        path: "/test.txt",
        query: &query,
        headers: &headers,
    };
    assert!(verify_request(&store(), &config(), &req, example_time())
        .unwrap()
        .is_some());

    assert!(matches!(
        presigned(
            &presigned_query("86400", &flip(PRESIGNED_SIG)),
            example_time()
        ),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    assert!(matches!(
        presigned(&presigned_query("86401", PRESIGNED_SIG), example_time()),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

#[test]
fn presigned_expiry_and_limits() {
    let query = presigned_query("86400", PRESIGNED_SIG);
    assert!(presigned(&query, example_time() + Duration::from_secs(86_400)).is_ok());
    assert!(matches!(
        presigned(&query, example_time() + Duration::from_secs(86_401)),
        Err(AuthError::PresignedExpired)
    ));
    assert!(matches!(
        presigned(&query, example_time() - Duration::from_secs(16 * 60)),
        Err(AuthError::PresignedNotYetValid)
    ));
    assert!(matches!(
        presigned(&presigned_query("604801", PRESIGNED_SIG), example_time()),
        Err(AuthError::AuthorizationQueryParametersError { .. })
    ));
    assert!(matches!(
        presigned(&presigned_query("-1", PRESIGNED_SIG), example_time()),
        Err(AuthError::AuthorizationQueryParametersError { .. })
    ));
    let missing = query.replace("&X-Amz-SignedHeaders=host", "");
    assert!(matches!(
        presigned(&missing, example_time()),
        Err(AuthError::AuthorizationQueryParametersError { .. })
    ));
    let wrong_algorithm = query.replace("AWS4-HMAC-SHA256&", "AWS4-HMAC-SHA512&");
    assert!(matches!(
        presigned(&wrong_algorithm, example_time()),
        Err(AuthError::AuthorizationQueryParametersError { .. })
    ));
}

fn chunked_put(signature: &str) -> Example {
    let authorization = authorization(CHUNKED_PUT_SIGNED_HEADERS, signature);
    let mut headers = CHUNKED_PUT_HEADERS.to_vec();
    headers.push(("Authorization", &authorization));
    Example::new("PUT", CHUNKED_PUT_PATH, "", &headers)
}

#[test]
fn aws_example_chunked_put_seed_and_chunk_signatures() {
    let verified = chunked_put(SEED_SIG).verify().unwrap();
    assert_eq!(verified.payload, PayloadMode::StreamingSigned);
    assert_eq!(verified.seed_signature, SEED_SIG);
    assert!(verified.body_check().is_none());
    let mut chain = verified.chunk_verifier().expect("signed chunks");

    let chunk1 = vec![b'a'; 64 * 1024];
    let chunk1_sig = CHUNK1_SIG;
    // A one-character change to the chunk or its signature fails and leaves the chain as it was.
    let mut bad = chunk1.clone();
    bad[100] = b'b';
    assert!(matches!(
        chain.verify_chunk(chunk1_sig, &bad),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    assert!(matches!(
        chain.verify_chunk(&flip(chunk1_sig), &chunk1),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    chain.verify_chunk(chunk1_sig, &chunk1).unwrap();

    let chunk2_digest: [u8; 32] = Sha256::digest(vec![b'a'; 1024]).into();
    chain
        .verify_chunk_digest(CHUNK2_SIG, &chunk2_digest)
        .unwrap();
    assert!(!chain.is_finished());
    chain.verify_final_chunk(FINAL_SIG).unwrap();
    assert!(chain.is_finished());

    assert!(matches!(
        chunked_put(&flip(SEED_SIG)).verify(),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

#[test]
fn payload_modes_are_recognized() {
    for (value, mode) in [
        ("UNSIGNED-PAYLOAD", PayloadMode::Unsigned),
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            PayloadMode::StreamingSigned,
        ),
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            PayloadMode::StreamingSignedTrailer,
        ),
        (
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            PayloadMode::StreamingUnsignedTrailer,
        ),
    ] {
        assert_eq!(PayloadMode::parse(value).unwrap(), mode);
    }
    assert!(matches!(
        PayloadMode::parse(EMPTY),
        Ok(PayloadMode::Sha256(_))
    ));
    assert!(matches!(
        PayloadMode::parse("STREAMING-FOO"),
        Err(AuthError::InvalidContentSha256)
    ));
    assert!(
        PayloadMode::StreamingUnsignedTrailer.is_chunked()
            && PayloadMode::StreamingUnsignedTrailer.has_trailer()
    );
    assert!(!PayloadMode::Unsigned.is_chunked());
}

#[test]
fn malformed_authorization_headers_are_rejected() {
    let sig = GET_OBJECT_SIG;
    for bad in [
        format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders=range,Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders=Host,Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request,SignedHeaders=host,Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders=host,Signature=xyz"),
        format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},Credential={CREDENTIAL},SignedHeaders=host,Signature={sig}"),
        format!("AWS4-HMAC-SHA256Credential={CREDENTIAL},SignedHeaders=host,Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders=host,Signature={sig},Extra=1"),
    ] {
        let mut example = get_object(sig);
        example.set("Authorization", &bad);
        assert!(
            matches!(example.verify(), Err(AuthError::AuthorizationHeaderMalformed { .. })),
            "{bad}"
        );
    }
}

#[test]
fn unknown_access_key_is_invalid_access_key_id() {
    let other = MemoryCredentialStore::new().with_key("SOMEONEELSE", SECRET);
    assert!(matches!(
        get_object(GET_OBJECT_SIG).verify_at(example_time(), &other),
        Err(AuthError::InvalidAccessKeyId)
    ));
}

#[test]
fn clock_skew_over_fifteen_minutes_is_rejected() {
    let example = get_object(GET_OBJECT_SIG);
    let limit = Duration::from_secs(15 * 60);
    assert!(example.verify_at(example_time() + limit, &store()).is_ok());
    assert!(example.verify_at(example_time() - limit, &store()).is_ok());
    let over = Duration::from_secs(15 * 60 + 1);
    assert!(matches!(
        example.verify_at(example_time() + over, &store()),
        Err(AuthError::RequestTimeTooSkewed)
    ));
    assert!(matches!(
        example.verify_at(example_time() - over, &store()),
        Err(AuthError::RequestTimeTooSkewed)
    ));
}

#[test]
fn credential_scope_mismatches_are_typed() {
    let cases = [
        (
            "AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request",
            ScopePart::Date,
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/eu-west-1/s3/aws4_request",
            ScopePart::Region,
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/ec2/aws4_request",
            ScopePart::Service,
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws5_request",
            ScopePart::Terminator,
        ),
    ];
    for (credential, expected_part) in cases {
        let mut example = get_object(GET_OBJECT_SIG);
        example.set(
            "Authorization",
            &authorization("host;range;x-amz-content-sha256;x-amz-date", GET_OBJECT_SIG)
                .replace(CREDENTIAL, credential),
        );
        match example.verify() {
            Err(AuthError::CredentialScopeMismatch { part, .. }) => assert_eq!(part, expected_part),
            other => panic!("{credential}: {other:?}"),
        }
    }
}

#[test]
fn missing_pieces_have_their_own_errors() {
    let mut no_hash = get_object(GET_OBJECT_SIG);
    no_hash.headers.retain(|(n, _)| n != "x-amz-content-sha256");
    assert!(matches!(
        no_hash.verify(),
        Err(AuthError::MissingContentSha256)
    ));

    let mut no_date = get_object(GET_OBJECT_SIG);
    no_date.headers.retain(|(n, _)| n != "x-amz-date");
    assert!(matches!(
        no_date.verify(),
        Err(AuthError::MissingOrInvalidDate)
    ));

    let mut no_range = get_object(GET_OBJECT_SIG);
    no_range.headers.retain(|(n, _)| n != "Range");
    assert!(
        matches!(no_range.verify(), Err(AuthError::SignedHeaderMissing(name)) if name == "range")
    );

    let mut bad_hash = get_object(GET_OBJECT_SIG);
    bad_hash.set("x-amz-content-sha256", "not-a-hash");
    assert!(matches!(
        bad_hash.verify(),
        Err(AuthError::InvalidContentSha256)
    ));
}

#[test]
fn dispatch_classifies_the_auth_mechanism() {
    let headers = [
        ("Host", "h"),
        (
            "Authorization",
            "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
        ),
    ];
    let req = SignedRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
    };
    assert!(matches!(
        verify_request(&store(), &config(), &req, example_time()),
        Err(AuthError::UnsupportedAuthScheme)
    ));

    let query = presigned_query("86400", PRESIGNED_SIG);
    let auth = authorization("host", GET_OBJECT_SIG);
    let headers = [("Host", "h"), ("Authorization", auth.as_str())];
    let req = SignedRequest {
        method: "GET",
        path: "/",
        query: &query,
        headers: &headers,
    };
    assert!(matches!(
        verify_request(&store(), &config(), &req, example_time()),
        Err(AuthError::MultipleAuthMechanisms)
    ));

    let headers = [("Host", "h")];
    let req = SignedRequest {
        method: "GET",
        path: "/",
        query: "prefix=a",
        headers: &headers,
    };
    assert!(verify_request(&store(), &config(), &req, example_time())
        .unwrap()
        .is_none());

    // A header-auth request answers verify_header directly too.
    let owned = get_object(GET_OBJECT_SIG);
    let headers: Vec<(&str, &str)> = owned
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = SignedRequest {
        method: "GET",
        path: "/test.txt",
        query: "",
        headers: &headers,
    };
    assert!(verify_header(&store(), &config(), &req, example_time()).is_ok());
}

/// A store that cannot answer, as the metadata-backed one may not.
struct BrokenStore;

impl CredentialStore for BrokenStore {
    fn secret_for(&self, _access_key: &str) -> Result<Option<SecretKey>, AuthError> {
        Err(AuthError::CredentialStoreUnavailable(
            "metadata offline".into(),
        ))
    }
}

#[test]
fn store_failure_passes_through_as_unavailable() {
    assert!(matches!(
        get_object(GET_OBJECT_SIG).verify_at(example_time(), &BrokenStore),
        Err(AuthError::CredentialStoreUnavailable(_))
    ));
}
