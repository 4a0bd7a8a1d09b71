//! [`MultipartUpload`]: writes a large cold object as parts of exactly `part_bytes` each
//! (the last may be shorter), a few uploading at once, and completes it — or aborts it on
//! any failure, or when dropped unfinished, so no orphaned parts keep costing storage.

use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use super::{CompletedPart, RemoteError, RemoteStore};

/// Parts of one upload in flight at most (also bounded by `max_concurrency`): memory is
/// about this many parts.
pub const PARTS_IN_FLIGHT_MAX: usize = 4;
/// S3's part-count limit.
const PARTS_MAX: u32 = 10_000;

/// A multipart upload in progress. Feed it with [`write`](Self::write) (any chunk sizes),
/// then [`finish`](Self::finish). Every non-last part is exactly `part_bytes` long, as R2
/// requires. A failed `write` or `finish` aborts the upload; so does dropping it unfinished
/// (in a spawned task, when a Tokio runtime is running).
#[derive(Debug)]
pub struct MultipartUpload {
    store: RemoteStore,
    key: String,
    upload_id: String,
    part_bytes: usize,
    buffer: BytesMut,
    next_part: u32,
    in_flight: JoinSet<Result<CompletedPart, RemoteError>>,
    parts: Vec<CompletedPart>,
    /// Completed or aborted: nothing left to clean up.
    closed: bool,
}

impl MultipartUpload {
    pub(crate) fn new(store: RemoteStore, key: String, upload_id: String) -> Self {
        let part_bytes = usize::try_from(store.config().part_bytes).unwrap_or(usize::MAX);
        MultipartUpload {
            store,
            key,
            upload_id,
            part_bytes,
            buffer: BytesMut::new(),
            next_part: 1,
            in_flight: JoinSet::new(),
            parts: Vec::new(),
            closed: false,
        }
    }

    /// The provider's upload id.
    pub fn upload_id(&self) -> &str {
        &self.upload_id
    }

    /// The key being written (relative to the prefix).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends `data`; uploads every whole part it completes. Waits while
    /// `PARTS_IN_FLIGHT_MAX` parts are uploading.
    pub async fn write(&mut self, data: Bytes) -> Result<(), RemoteError> {
        let result = self.write_inner(data).await;
        self.abort_on_error(result).await
    }

    async fn write_inner(&mut self, mut data: Bytes) -> Result<(), RemoteError> {
        while !data.is_empty() {
            if self.buffer.is_empty() && data.len() >= self.part_bytes {
                // A whole part straight from the caller's buffer: no copy.
                let part = data.split_to(self.part_bytes);
                self.start_part(part).await?;
                continue;
            }
            let take = (self.part_bytes - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data.split_to(take));
            if self.buffer.len() == self.part_bytes {
                let part = self.buffer.split().freeze();
                self.start_part(part).await?;
            }
        }
        Ok(())
    }

    /// Uploads the rest as the last part, waits for every part, and completes the upload.
    /// Returns the object's ETag.
    pub async fn finish(mut self) -> Result<String, RemoteError> {
        let result = self.finish_inner().await;
        self.abort_on_error(result).await
    }

    async fn finish_inner(&mut self) -> Result<String, RemoteError> {
        // An upload needs at least one part, even an empty one.
        if !self.buffer.is_empty() || self.next_part == 1 {
            let last = self.buffer.split().freeze();
            self.start_part(last).await?;
        }
        while let Some(joined) = self.in_flight.join_next().await {
            self.parts.push(joined_part(joined)?);
        }
        self.parts.sort_by_key(|p| p.part_number);
        let etag = self
            .store
            .complete_multipart_upload(&self.key, &self.upload_id, &self.parts)
            .await?;
        self.closed = true;
        Ok(etag)
    }

    /// Aborts the upload, freeing the parts already stored.
    pub async fn abort(mut self) -> Result<(), RemoteError> {
        self.abort_now().await
    }

    async fn abort_now(&mut self) -> Result<(), RemoteError> {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        self.closed = true;
        self.store
            .abort_multipart_upload(&self.key, &self.upload_id)
            .await
    }

    async fn abort_on_error<T>(
        &mut self,
        result: Result<T, RemoteError>,
    ) -> Result<T, RemoteError> {
        if result.is_err() && !self.closed {
            if let Err(e) = self.abort_now().await {
                tracing::warn!(key = %self.key, error = %e, "cold tier: aborting a failed multipart upload failed");
            }
        }
        result
    }

    /// Starts uploading `body` as the next part, first waiting for a slot.
    async fn start_part(&mut self, body: Bytes) -> Result<(), RemoteError> {
        if self.next_part > PARTS_MAX {
            return Err(RemoteError::InvalidRequest {
                op: "UploadPart",
                reason: format!(
                    "more than {PARTS_MAX} parts of {} bytes: raise part_bytes",
                    self.part_bytes
                ),
            });
        }
        let slots = PARTS_IN_FLIGHT_MAX.min(self.store.config().max_concurrency);
        while self.in_flight.len() >= slots {
            if let Some(joined) = self.in_flight.join_next().await {
                self.parts.push(joined_part(joined)?);
            }
        }
        let (store, key, id, n) = (
            self.store.clone(),
            self.key.clone(),
            self.upload_id.clone(),
            self.next_part,
        );
        self.next_part += 1;
        self.in_flight
            .spawn(async move { store.upload_part(&key, &id, n, body).await });
        Ok(())
    }
}

/// A joined part task's result; a panicked task becomes an error, never a panic here.
fn joined_part(
    joined: Result<Result<CompletedPart, RemoteError>, tokio::task::JoinError>,
) -> Result<CompletedPart, RemoteError> {
    joined.unwrap_or_else(|e| {
        Err(RemoteError::InvalidRequest {
            op: "UploadPart",
            reason: format!("part task failed: {e}"),
        })
    })
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        self.in_flight.abort_all();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(key = %self.key, "cold tier: multipart upload dropped outside a runtime; its parts stay until the bucket's lifecycle rule removes them");
            return;
        };
        let (store, key, id) = (
            self.store.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.upload_id),
        );
        runtime.spawn(async move {
            if let Err(e) = store.abort_multipart_upload(&key, &id).await {
                tracing::warn!(%key, error = %e, "cold tier: aborting a dropped multipart upload failed");
            }
        });
    }
}
