//! The `Content-Encoding: aws-chunked` body decoder: a push-style, streaming, bounded-memory
//! parser for the three streaming payload modes.
//!
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: `<hex-size>;chunk-signature=<sig>\r\n<data>\r\n` …
//!   then `0;chunk-signature=<sig>\r\n\r\n`.
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: as above, but the final chunk
//!   `0;chunk-signature=<sig>\r\n` is followed by trailer lines `name:value\r\n` …, then
//!   `x-amz-trailer-signature:<sig>\r\n\r\n`.
//! - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `<hex-size>\r\n<data>\r\n` … then `0\r\n`, trailer
//!   lines, then `\r\n`.
//!
//! Chunk data is hashed as it arrives and handed straight to the caller, so memory stays bounded
//! by the limits on header and trailer lines whatever the chunk size. Because data leaves the
//! decoder before its chunk signature can be checked, the caller must not commit anything until
//! [`ChunkedDecoder::finish`] succeeds. Trailers are only parsed here: comparing
//! `x-amz-checksum-*` values with the decoded body is the caller's job.

use crate::chunk::{ChunkVerifier, PayloadHasher};
use crate::signing::is_signature;
use crate::{AuthError, PayloadMode};

/// The longest chunk header line, without its CRLF.
pub const MAX_CHUNK_HEADER_LINE: usize = 4 * 1024;
/// The largest trailer section, every line and CRLF included.
pub const MAX_TRAILER_SECTION: usize = 16 * 1024;
/// The most trailer lines (`x-amz-trailer-signature` not counted).
pub const MAX_TRAILER_LINES: usize = 16;
/// The largest chunk: 5 GiB, S3's largest single PUT.
pub const MAX_CHUNK_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The trailer line carrying the trailer signature in the signed-trailer mode.
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
/// The chunk extension carrying a chunk's signature.
const CHUNK_SIGNATURE: &str = "chunk-signature=";

/// The bounds a [`ChunkedDecoder`] enforces; [`Default`] gives the named constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// The longest chunk header line, without its CRLF.
    pub max_header_line: usize,
    /// The largest trailer section in bytes.
    pub max_trailer_section: usize,
    /// The most trailer lines.
    pub max_trailer_lines: usize,
    /// The largest chunk.
    pub max_chunk_size: u64,
}

impl Default for ChunkedLimits {
    fn default() -> Self {
        ChunkedLimits {
            max_header_line: MAX_CHUNK_HEADER_LINE,
            max_trailer_section: MAX_TRAILER_SECTION,
            max_trailer_lines: MAX_TRAILER_LINES,
            max_chunk_size: MAX_CHUNK_SIZE,
        }
    }
}

/// The trailer headers of an `aws-chunked` body, names lower-cased, values trimmed, in order.
/// The trailer signature is not among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    entries: Vec<(String, String)>,
}

impl Trailers {
    /// The value of the first trailer named `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every trailer as `(name, value)`, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many trailers there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The trailers as owned pairs.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.entries
    }
}

/// Which framing the body uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Signed,
    SignedTrailer,
    UnsignedTrailer,
}

impl Framing {
    fn is_signed(self) -> bool {
        self != Framing::UnsignedTrailer
    }
}

/// Where the decoder stands.
#[derive(Debug)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk's data.
    Data {
        remaining: u64,
        signature: Option<String>,
        hasher: Option<PayloadHasher>,
    },
    /// After a chunk's data: `seen` bytes of its CRLF read.
    DataEnd { seen: u8 },
    /// After the final chunk of the signed mode: expecting the closing empty line.
    Closing,
    /// Reading trailer lines.
    Trailer,
    /// After the trailer signature: expecting the closing empty line.
    TrailerClosing,
    /// The body is complete; nothing more may follow.
    Done,
    /// An error was returned; the decoder refuses everything after it.
    Failed,
}

/// A push-style `aws-chunked` decoder: feed it the raw body with [`push`](Self::push), get
/// the decoded payload, and call [`finish`](Self::finish) at end of input.
#[derive(Debug)]
pub struct ChunkedDecoder {
    framing: Framing,
    verifier: Option<ChunkVerifier>,
    limits: ChunkedLimits,
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
    trailers: Trailers,
    decoded: u64,
    declared: Option<u64>,
}

/// A malformed-body error with `reason`.
fn malformed(reason: &'static str) -> AuthError {
    AuthError::MalformedChunkedBody { reason }
}

/// Parses an `x-amz-decoded-content-length` value: decimal digits only, fitting in a `u64`.
pub fn parse_decoded_content_length(value: &str) -> Result<u64, AuthError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("invalid x-amz-decoded-content-length"));
    }
    value
        .parse()
        .map_err(|_| malformed("invalid x-amz-decoded-content-length"))
}

/// Parses a chunk size: 1 to 16 hex digits, checked for overflow and against `max`.
fn parse_chunk_size(text: &str, max: u64) -> Result<u64, AuthError> {
    if text.is_empty() {
        return Err(malformed("empty chunk size"));
    }
    let mut size: u64 = 0;
    for b in text.bytes() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(malformed("chunk size is not hexadecimal")),
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(malformed("chunk size overflows"))?;
    }
    if size > max {
        return Err(malformed("chunk size exceeds the limit"));
    }
    Ok(size)
}

impl ChunkedDecoder {
    /// A decoder for `mode`, which must be one of the three streaming modes. The signed modes
    /// need the request's chunk `verifier` ([`crate::Verified::chunk_verifier`]); the unsigned
    /// mode takes none.
    pub fn new(
        mode: PayloadMode,
        verifier: Option<ChunkVerifier>,
        limits: ChunkedLimits,
    ) -> Result<Self, AuthError> {
        let framing = match mode {
            PayloadMode::StreamingSigned => Framing::Signed,
            PayloadMode::StreamingSignedTrailer => Framing::SignedTrailer,
            PayloadMode::StreamingUnsignedTrailer => Framing::UnsignedTrailer,
            PayloadMode::Sha256(_) | PayloadMode::Unsigned => {
                return Err(malformed("payload mode is not aws-chunked"))
            }
        };
        if framing.is_signed() != verifier.is_some() {
            return Err(malformed(
                "signed modes need a chunk verifier, the unsigned mode none",
            ));
        }
        Ok(ChunkedDecoder {
            framing,
            verifier,
            limits,
            state: State::Header,
            line: Vec::new(),
            trailer_bytes: 0,
            trailers: Trailers::default(),
            decoded: 0,
            declared: None,
        })
    }

    /// Requires the decoded body to be exactly `length` bytes (`x-amz-decoded-content-length`):
    /// otherwise [`AuthError::DecodedContentLengthMismatch`], as soon as it exceeds or at the end.
    pub fn with_decoded_content_length(mut self, length: u64) -> Self {
        self.declared = Some(length);
        self
    }

    /// The decoded bytes so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Whether the whole body (final chunk and any trailer) has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Feeds the next raw body bytes, appending the decoded payload to `out`; returns how
    /// many bytes were appended. After an error the decoder refuses every further call.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, AuthError> {
        let before = out.len();
        match self.push_inner(input, out) {
            Ok(()) => Ok(out.len() - before),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Ends the body: [`AuthError::IncompleteBody`] if it stopped before its end, the length
    /// mismatch if one was declared; otherwise the parsed trailers.
    pub fn finish(self) -> Result<Trailers, AuthError> {
        match self.state {
            State::Done => {}
            State::Failed => return Err(malformed("the body was rejected earlier")),
            _ => return Err(AuthError::IncompleteBody),
        }
        self.check_length(true)?;
        Ok(self.trailers)
    }

    /// Checks the decoded length against the declared one; `at_end` also rejects a short body.
    fn check_length(&self, at_end: bool) -> Result<(), AuthError> {
        match self.declared {
            Some(declared) if self.decoded > declared || (at_end && self.decoded != declared) => {
                Err(AuthError::DecodedContentLengthMismatch {
                    declared,
                    decoded: self.decoded,
                })
            }
            _ => Ok(()),
        }
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), AuthError> {
        while !input.is_empty() {
            let consumed = match &mut self.state {
                State::Failed => return Err(malformed("the body was rejected earlier")),
                State::Done => return Err(malformed("data after the final chunk")),
                State::Header => {
                    let (n, complete) = self.take_line(input, self.limits.max_header_line)?;
                    if complete {
                        self.on_header_line()?;
                    }
                    n
                }
                State::Data {
                    remaining,
                    signature,
                    hasher,
                } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let data = &input[..take];
                    if let Some(h) = hasher.as_mut() {
                        h.update(data);
                    }
                    out.extend_from_slice(data);
                    *remaining -= take as u64;
                    self.decoded += take as u64;
                    if *remaining == 0 {
                        let signature = signature.take();
                        let digest = hasher.take().map(PayloadHasher::finish);
                        self.state = State::DataEnd { seen: 0 };
                        if let (Some(sig), Some(digest), Some(v)) =
                            (signature, digest, self.verifier.as_mut())
                        {
                            v.verify_chunk_digest(&sig, &digest)?;
                        }
                    }
                    self.check_length(false)?;
                    take
                }
                State::DataEnd { seen } => {
                    let expected = if *seen == 0 { b'\r' } else { b'\n' };
                    if input[0] != expected {
                        return Err(malformed("chunk data not followed by CRLF"));
                    }
                    *seen += 1;
                    if *seen == 2 {
                        self.state = State::Header;
                    }
                    1
                }
                State::Closing | State::TrailerClosing | State::Trailer => {
                    let budget = self
                        .limits
                        .max_trailer_section
                        .saturating_sub(self.trailer_bytes);
                    let (n, complete) = self
                        .take_line(input, budget.saturating_sub(2))
                        .map_err(|_| malformed("trailer section too large"))?;
                    self.trailer_bytes += n;
                    if complete {
                        self.on_trailer_line()?;
                    }
                    n
                }
            };
            input = &input[consumed..];
        }
        Ok(())
    }

    /// Appends `input` up to and including the first LF to the line buffer, refusing a line
    /// longer than `max` (CRLF excluded). Returns the bytes consumed and whether the line ended.
    fn take_line(&mut self, input: &[u8], max: usize) -> Result<(usize, bool), AuthError> {
        let (n, complete) = match input.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (input.len(), false),
        };
        // A complete line may hold max + CRLF; a partial one max + a pending CR.
        let total = self.line.len().saturating_add(n);
        let pending_cr = !complete && input[..n].last().or(self.line.last()) == Some(&b'\r');
        let allowed = max.saturating_add(if complete { 2 } else { usize::from(pending_cr) });
        if total > allowed {
            return Err(malformed("chunk header line too long"));
        }
        let segment = &input[..n];
        if self.line.last() == Some(&b'\r') && segment.first() != Some(&b'\n') {
            return Err(malformed("CR not followed by LF"));
        }
        let cr_allowed_at = n.checked_sub(if complete { 2 } else { 1 });
        if segment
            .iter()
            .enumerate()
            .any(|(j, &b)| b == b'\r' && Some(j) != cr_allowed_at)
        {
            return Err(malformed("CR not followed by LF"));
        }
        self.line.extend_from_slice(segment);
        Ok((n, complete))
    }

    /// Takes the complete line from the buffer, without its CRLF.
    fn finished_line(&mut self) -> Result<String, AuthError> {
        let mut line = std::mem::take(&mut self.line);
        if !line.ends_with(b"\r\n") {
            return Err(malformed("line not terminated by CRLF"));
        }
        line.truncate(line.len() - 2);
        if line.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return Err(malformed("control character in a line"));
        }
        String::from_utf8(line).map_err(|_| malformed("line is not UTF-8"))
    }

    fn on_header_line(&mut self) -> Result<(), AuthError> {
        let line = self.finished_line()?;
        let (size, signature) = if self.framing.is_signed() {
            let (size, ext) = line
                .split_once(';')
                .ok_or(malformed("chunk header lacks chunk-signature"))?;
            let sig = ext
                .strip_prefix(CHUNK_SIGNATURE)
                .ok_or(malformed("chunk header lacks chunk-signature"))?;
            if !is_signature(sig) {
                return Err(malformed("chunk signature is not 64 hex characters"));
            }
            (size, Some(sig.to_owned()))
        } else {
            if line.contains(';') {
                return Err(malformed("chunk extension in an unsigned body"));
            }
            (line.as_str(), None)
        };
        let size = parse_chunk_size(size, self.limits.max_chunk_size)?;
        if size > 0 {
            self.state = State::Data {
                remaining: size,
                hasher: signature.as_ref().map(|_| PayloadHasher::new()),
                signature,
            };
            return Ok(());
        }
        if let (Some(sig), Some(v)) = (signature, self.verifier.as_mut()) {
            v.verify_final_chunk(&sig)?;
        }
        self.check_length(true)?;
        self.state = match self.framing {
            Framing::Signed => State::Closing,
            Framing::SignedTrailer | Framing::UnsignedTrailer => State::Trailer,
        };
        Ok(())
    }

    fn on_trailer_line(&mut self) -> Result<(), AuthError> {
        let line = self.finished_line()?;
        if line.is_empty() {
            return match self.state {
                State::Trailer if self.framing == Framing::SignedTrailer => {
                    Err(malformed("signed trailer lacks x-amz-trailer-signature"))
                }
                _ => {
                    self.state = State::Done;
                    Ok(())
                }
            };
        }
        if !matches!(self.state, State::Trailer) {
            return Err(malformed("missing the closing CRLF"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(malformed("trailer line lacks a colon"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(malformed("invalid trailer name"));
        }
        if name == TRAILER_SIGNATURE {
            let Some(v) = self.verifier.as_mut() else {
                return Err(malformed("trailer signature in an unsigned body"));
            };
            if !is_signature(value) {
                return Err(malformed("trailer signature is not 64 hex characters"));
            }
            let pairs: Vec<(&str, &str)> = self.trailers.iter().collect();
            v.verify_trailer(value, &pairs)?;
            self.state = State::TrailerClosing;
            return Ok(());
        }
        if self.trailers.len() >= self.limits.max_trailer_lines {
            return Err(malformed("too many trailer lines"));
        }
        self.trailers.entries.push((name, value.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_parse_with_overflow_checks() {
        assert_eq!(parse_chunk_size("10000", MAX_CHUNK_SIZE).unwrap(), 65536);
        assert_eq!(parse_chunk_size("Ff", MAX_CHUNK_SIZE).unwrap(), 255);
        assert!(parse_chunk_size("", MAX_CHUNK_SIZE).is_err());
        assert!(parse_chunk_size("1g", MAX_CHUNK_SIZE).is_err());
        assert!(parse_chunk_size("+1", MAX_CHUNK_SIZE).is_err());
        assert!(parse_chunk_size("1ffffffffffffffff", u64::MAX).is_err());
        assert!(parse_chunk_size("140000001", MAX_CHUNK_SIZE).is_err());
        assert_eq!(
            parse_chunk_size("140000000", MAX_CHUNK_SIZE).unwrap(),
            MAX_CHUNK_SIZE
        );
    }

    #[test]
    fn decoded_content_length_parses_digits_only() {
        assert_eq!(parse_decoded_content_length("66560").unwrap(), 66560);
        assert!(parse_decoded_content_length("-1").is_err());
        assert!(parse_decoded_content_length("").is_err());
        assert!(parse_decoded_content_length("99999999999999999999999").is_err());
    }
}
