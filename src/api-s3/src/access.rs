//! The access log and per-request metrics, written when the response body is finished (or
//! dropped because the client went away), so bytes and latency cover the whole transfer.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// A body that counts the data bytes passing through it.
pub(crate) struct Counted {
    inner: Body,
    bytes: Arc<AtomicU64>,
}

impl Counted {
    /// Wraps `inner`, adding every data frame's length to `bytes`.
    pub(crate) fn new(inner: Body, bytes: Arc<AtomicU64>) -> Self {
        Counted { inner, bytes }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request's access-log line, emitted on drop.
pub(crate) struct AccessRecord {
    pub request_id: String,
    pub operation: &'static str,
    pub method: http::Method,
    pub bucket: String,
    pub key: String,
    pub status: u16,
    pub started: Instant,
    pub bytes_in: Arc<AtomicU64>,
    pub bytes_out: Arc<AtomicU64>,
}

impl Drop for AccessRecord {
    fn drop(&mut self) {
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        let bytes_out = self.bytes_out.load(Ordering::Relaxed);
        let latency = self.started.elapsed();
        record(self.operation, self.status, bytes_in, bytes_out, latency);
        tracing::info!(
            target: "stratum::access",
            request_id = %self.request_id,
            operation = self.operation,
            method = %self.method,
            bucket = %self.bucket,
            key = %self.key,
            status = self.status,
            bytes_in,
            bytes_out,
            latency_ms = latency.as_secs_f64() * 1000.0,
        );
    }
}

/// A response body that emits its [`AccessRecord`] as soon as it is known to be complete
/// (its last frame sent, or empty from the start), or when dropped (the client went away).
pub(crate) struct Logged {
    inner: Counted,
    record: Mutex<Option<AccessRecord>>,
}

impl Logged {
    /// Wraps a response body; `record.bytes_out` must be the counter `inner` adds to.
    pub(crate) fn new(inner: Counted, record: AccessRecord) -> Self {
        Logged {
            inner,
            record: Mutex::new(Some(record)),
        }
    }

    /// Emits the record now (dropping it writes the line).
    fn finish(&self) {
        let record = self.record.lock().map(|mut r| r.take());
        drop(record);
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.finish();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Per-request metrics through the `metrics` facade; the binary installs the exporter.
fn record(op: &'static str, status: u16, bytes_in: u64, bytes_out: u64, latency: Duration) {
    let status = status.to_string();
    metrics::counter!("stratum_s3_requests_total", "operation" => op, "status" => status)
        .increment(1);
    metrics::histogram!("stratum_s3_request_duration_seconds", "operation" => op)
        .record(latency.as_secs_f64());
    metrics::counter!("stratum_s3_received_bytes_total", "operation" => op).increment(bytes_in);
    metrics::counter!("stratum_s3_sent_bytes_total", "operation" => op).increment(bytes_out);
}
