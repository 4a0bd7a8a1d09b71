//! Group commit for the metadata: concurrent PUTs' commits are drained into one batch.
//!
//! One thread owns the commit queue. It takes every request waiting (up to
//! [`COMMIT_BATCH_MAX`]), applies them as one atomic, flushed `put_objects` batch, and
//! answers each. While a batch commits, the next one gathers, so the cost of a flush is
//! shared by everything that arrived meanwhile. Each item keeps exactly the semantics of a
//! single `put_object`: an item's own error fails only that item. It is a plain thread, not
//! a task on the blocking pool, so a batch never queues behind the requests it serves.

use std::sync::mpsc;
use std::sync::Arc;

use stratum_metadata::{MetaError, MetadataStore, PutItem, PutOutcome};
use tokio::sync::oneshot;

/// Most puts one batch commits.
pub const COMMIT_BATCH_MAX: usize = 512;

/// A put waiting for its commit.
pub(crate) type CommitRequest = (PutItem, oneshot::Sender<Result<PutOutcome, MetaError>>);

/// Starts the committer thread; it stops when every sender is gone.
pub(crate) fn start(meta: Arc<dyn MetadataStore>) -> std::io::Result<mpsc::Sender<CommitRequest>> {
    let (tx, rx) = mpsc::channel::<CommitRequest>();
    std::thread::Builder::new()
        .name("stratum-committer".into())
        .spawn(move || run(meta, rx))?;
    Ok(tx)
}

fn run(meta: Arc<dyn MetadataStore>, rx: mpsc::Receiver<CommitRequest>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < COMMIT_BATCH_MAX {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<PutItem>, Vec<_>) = batch.into_iter().unzip();
        let results = match meta.put_objects(&items) {
            Ok(results) => results,
            // A backend failure applied nothing; each item alone gets its own answer.
            Err(e) => {
                tracing::warn!(error = %e, items = items.len(), "batched commit failed; committing one by one");
                items
                    .iter()
                    .map(|i| meta.put_object(&i.bucket, &i.key, &i.record, &i.cond))
                    .collect()
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}
