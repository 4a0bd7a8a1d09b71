//! The canonical request of SigV4, built exactly as S3 expects it.
//!
//! S3 differs from other AWS services in one way that matters here: the path is URI-encoded
//! once, not twice. We decode the path as received and re-encode each byte with the AWS rules
//! (unreserved `A-Za-z0-9-._~` kept, `/` kept between segments, everything else `%XX` in upper
//! case), so `/test$file.text` and `/test%24file.text` canonicalize alike.

use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::AuthError;

/// Everything but the AWS unreserved characters `A-Za-z0-9-._~`.
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// URI-encodes `bytes` per the AWS rules (every byte outside `A-Za-z0-9-._~` as `%XX`).
pub fn uri_encode(bytes: &[u8]) -> String {
    percent_encode(bytes, AWS_ENCODE).to_string()
}

/// Decodes `%XX` escapes (and, in query strings, `+` as a space).
fn decode(raw: &str, plus_is_space: bool) -> Vec<u8> {
    if plus_is_space && raw.contains('+') {
        let spaced = raw.replace('+', " ");
        percent_decode(spaced.as_bytes()).collect()
    } else {
        percent_decode(raw.as_bytes()).collect()
    }
}

/// The canonical URI of an S3 request: `path` as received (percent-encoded or not), decoded
/// once and each segment re-encoded. An empty path is `/`.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let decoded = decode(path, false);
    let mut out = String::with_capacity(decoded.len() + 8);
    for (i, segment) in decoded.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&uri_encode(segment));
    }
    out
}

/// Splits a raw query string into decoded `(name, value)` pairs, in order. `a` and `a=` both
/// give an empty value; empty pieces (`&&`) are skipped.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (
                String::from_utf8_lossy(&decode(name, true)).into_owned(),
                String::from_utf8_lossy(&decode(value, true)).into_owned(),
            )
        })
        .collect()
}

/// The canonical query string: every pair but those named `exclude`, names and values
/// URI-encoded, sorted by name then value, joined with `&`.
pub fn canonical_query(pairs: &[(String, String)], exclude: Option<&str>) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != exclude)
        .map(|(name, value)| (uri_encode(name.as_bytes()), uri_encode(value.as_bytes())))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A header value as SigV4 signs it: trimmed, runs of spaces collapsed to one.
pub fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word.trim_matches(|c| c == '\t'));
    }
    out
}

/// The canonical headers block (`name:value\n` per signed header, in `signed` order).
///
/// `headers` are the request's headers with names in any case; a name present several times
/// has its values joined with `,`. A signed header absent from `headers` is an error.
pub fn canonical_headers(signed: &[&str], headers: &[(&str, &str)]) -> Result<String, AuthError> {
    let mut out = String::new();
    for &name in signed {
        let mut values = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_header_value(v))
            .peekable();
        if values.peek().is_none() {
            return Err(AuthError::SignedHeaderMissing(name.to_owned()));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The inputs of a canonical request, already split out of the HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalParts<'a> {
    /// The HTTP method, upper case (`GET`).
    pub method: &'a str,
    /// The canonical URI (see [`canonical_uri`]).
    pub uri: &'a str,
    /// The canonical query string (see [`canonical_query`]).
    pub query: &'a str,
    /// The canonical headers block (see [`canonical_headers`]).
    pub headers: &'a str,
    /// The signed header names joined with `;`.
    pub signed_headers: &'a str,
    /// The payload hash line: hex SHA-256, `UNSIGNED-PAYLOAD` or a `STREAMING-*` mode.
    pub payload_hash: &'a str,
}

/// Joins the parts of a canonical request with newlines.
pub fn canonical_request(parts: &CanonicalParts<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        parts.uri,
        parts.query,
        parts.headers,
        parts.signed_headers,
        parts.payload_hash
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_encoded_once_per_segment() {
        assert_eq!(canonical_uri("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/a b/c%2Fd"), "/a%20b/c/d");
        assert_eq!(canonical_uri("/ü~x"), "/%C3%BC~x");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/dir//file/"), "/dir//file/");
    }

    #[test]
    fn query_is_decoded_sorted_and_reencoded() {
        let pairs = parse_query("prefix=J&max-keys=2&lifecycle&b=x%2Fy&a=1+2");
        assert_eq!(
            canonical_query(&pairs, None),
            "a=1%202&b=x%2Fy&lifecycle=&max-keys=2&prefix=J"
        );
        let pairs = parse_query("k=2&k=1&X-Amz-Signature=abc");
        assert_eq!(canonical_query(&pairs, Some("X-Amz-Signature")), "k=1&k=2");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(canonical_header_value("  a   b  c "), "a b c");
        let headers = [("Host", "h"), ("X-Multi", "1"), ("x-multi", " 2  3 ")];
        assert_eq!(
            canonical_headers(&["host", "x-multi"], &headers).unwrap(),
            "host:h\nx-multi:1,2 3\n"
        );
        assert!(matches!(
            canonical_headers(&["range"], &headers),
            Err(AuthError::SignedHeaderMissing(name)) if name == "range"
        ));
    }
}
