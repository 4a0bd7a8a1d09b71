//! Group commit for the metadata: concurrent PUTs' commits are drained into one batch.
//!
//! One task owns the commit queue. It takes every request waiting (up to
//! [`COMMIT_BATCH_MAX`]), applies them as one atomic, flushed `put_objects` batch on a
//! blocking thread, and answers each. While a batch commits, the next one gathers, so the
//! cost of a flush is shared by everything that arrived meanwhile. Each item keeps exactly
//! the semantics of a single `put_object`: an item's own error fails only that item.

use std::sync::Arc;

use stratum_metadata::{MetaError, MetadataStore, PutItem, PutOutcome};

use tokio::sync::{mpsc, oneshot};

/// Most puts one batch commits.
pub const COMMIT_BATCH_MAX: usize = 512;

/// A put waiting for its commit.
pub(crate) type CommitRequest = (PutItem, oneshot::Sender<Result<PutOutcome, MetaError>>);

/// Runs until every sender is gone.
pub(crate) async fn committer(
    meta: Arc<dyn MetadataStore>,
    mut rx: mpsc::UnboundedReceiver<CommitRequest>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < COMMIT_BATCH_MAX {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<PutItem>, Vec<_>) = batch.into_iter().unzip();
        let meta = meta.clone();
        let outcome = tokio::task::spawn_blocking(move || match meta.put_objects(&items) {
            Ok(results) => results,
            // A backend failure applied nothing; each item alone gets its own answer.
            Err(e) => {
                tracing::warn!(error = %e, items = items.len(), "batched commit failed; committing one by one");
                items
                    .iter()
                    .map(|i| meta.put_object(&i.bucket, &i.key, &i.record, &i.cond))
                    .collect()
            }
        })
        .await;
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            // The repliers drop: their callers see the engine as unavailable.
            Err(_) => tracing::error!("a metadata commit batch panicked"),
        }
    }
}
