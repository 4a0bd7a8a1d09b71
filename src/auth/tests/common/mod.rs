//! The AWS documentation's example credentials and its chunked-upload example, shared by the
//! known-answer tests and the `aws-chunked` decoder tests, so the transcribed values exist once.
#![allow(dead_code)]

/// The example access key of every AWS SigV4 example.
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// The example secret key of every AWS SigV4 example.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Chunked PUT example: path of the object.
pub const CHUNKED_PUT_PATH: &str = "/examplebucket/chunkObject.txt";
/// Chunked PUT example: the headers it signs, in `SignedHeaders` form.
pub const CHUNKED_PUT_SIGNED_HEADERS: &str = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class";
/// Chunked PUT example: the request's headers, without `Authorization`.
pub const CHUNKED_PUT_HEADERS: [(&str, &str); 7] = [
    ("Host", "s3.amazonaws.com"),
    ("x-amz-date", "20130524T000000Z"),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("Content-Length", "66824"),
];
/// Chunked PUT example: the seed signature (the request's own).
pub const SEED_SIG: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
/// Chunked PUT example: the first chunk's signature (64 KiB of `a`).
pub const CHUNK1_SIG: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
/// Chunked PUT example: the second chunk's signature (1 KiB of `a`).
pub const CHUNK2_SIG: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
/// Chunked PUT example: the final (empty) chunk's signature.
pub const FINAL_SIG: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
