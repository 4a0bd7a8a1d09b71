//! Long-lived I/O threads for the per-shard-file jobs of a group commit.
//!
//! A group-commit round ends with one fdatasync per shard file, run in parallel so one disk
//! flush does not queue behind another. Spawning a thread per file per round costs more than
//! the flushes themselves on a small machine, so each tier's writer owns a fixed set of
//! workers, started once, fed by channels. `IoWorkers::run` hands job `i` (for `i >= 1`) to
//! worker `i - 1`, runs job 0 on the caller's thread, and returns only once every job has
//! finished, with the results in job order. A job that panics has its panic re-raised on the
//! caller's thread, as `std::thread::scope` would; the worker itself survives.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

use crate::error::StorageError;

/// One file operation of a round (an fdatasync, or a header write and fdatasync).
pub(crate) type Job = Box<dyn FnOnce() -> Result<(), StorageError> + Send>;

/// What a job returned, or the payload of its panic.
type Outcome = Result<Result<(), StorageError>, Box<dyn Any + Send>>;

/// A job for one worker: its index in the round and where to answer.
struct Task {
    index: usize,
    job: Job,
    reply: Sender<(usize, Outcome)>,
}

/// One worker thread and its job channel.
struct Worker {
    tx: Option<Sender<Task>>,
    thread: Option<JoinHandle<()>>,
}

/// A fixed set of I/O threads; dropping it closes their channels and joins them (each
/// finishes the job in hand first).
pub(crate) struct IoWorkers {
    workers: Vec<Worker>,
}

impl std::fmt::Debug for IoWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoWorkers")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl IoWorkers {
    /// Starts `count` workers named `{name}-{i}`. With `count == 0`, `run` runs every job
    /// on the caller's thread, one after another.
    pub(crate) fn start(name: &str, count: usize) -> Result<Self, StorageError> {
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let (tx, rx) = channel::<Task>();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    while let Ok(task) = rx.recv() {
                        let out = catch_unwind(AssertUnwindSafe(task.job));
                        // The caller waits for every answer; if it is gone, nobody cares.
                        let _ = task.reply.send((task.index, out));
                    }
                })
                .map_err(|e| StorageError::io("I/O worker thread", e))?;
            workers.push(Worker {
                tx: Some(tx),
                thread: Some(thread),
            });
        }
        // On an early `?` above, `workers` drops and joins the threads already started.
        Ok(Self { workers })
    }

    /// Runs every job, in parallel as far as there are workers, and returns their results
    /// in job order once all of them have finished.
    pub(crate) fn run(&self, jobs: Vec<Job>) -> Vec<Result<(), StorageError>> {
        let n = jobs.len();
        let mut out: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
        let (reply, answers) = channel();
        let mut inline = Vec::new();
        let mut sent = 0;
        for (index, job) in jobs.into_iter().enumerate() {
            // Job 0, and any job past the workers, runs here.
            let worker = index.checked_sub(1).and_then(|w| self.workers.get(w));
            let Some(tx) = worker.and_then(|w| w.tx.as_ref()) else {
                inline.push((index, job));
                continue;
            };
            let task = Task {
                index,
                job,
                reply: reply.clone(),
            };
            match tx.send(task) {
                Ok(()) => sent += 1,
                // The worker is gone (only if its thread died): run the job here instead.
                Err(std::sync::mpsc::SendError(task)) => inline.push((task.index, task.job)),
            }
        }
        drop(reply);
        for (index, job) in inline {
            out[index] = Some(catch_unwind(AssertUnwindSafe(job)));
        }
        // Every sent task answers exactly once: a worker catches its job's panic, and a
        // worker only stops once its channel closes, which `self` prevents while borrowed.
        for _ in 0..sent {
            match answers.recv() {
                Ok((index, outcome)) => out[index] = Some(outcome),
                Err(_) => break,
            }
        }
        out.into_iter()
            .map(|o| match o {
                Some(Ok(r)) => r,
                Some(Err(panic)) => resume_unwind(panic),
                // Unreachable (see above); never report an unfinished job as done.
                None => Err(StorageError::WriterGone),
            })
            .collect()
    }
}

impl Drop for IoWorkers {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.tx.take();
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                if t.join().is_err() {
                    tracing::error!("I/O worker thread panicked");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn runs_every_job_in_order_and_in_parallel() {
        let w = IoWorkers::start("test-io", 3).expect("start");
        for _ in 0..50 {
            // All four jobs must be running at once to pass the barrier.
            let barrier = Arc::new(Barrier::new(4));
            let jobs: Vec<Job> = (0..4)
                .map(|i| {
                    let b = Arc::clone(&barrier);
                    Box::new(move || {
                        b.wait();
                        if i == 2 {
                            Err(StorageError::WriterGone)
                        } else {
                            Ok(())
                        }
                    }) as Job
                })
                .collect();
            let r = w.run(jobs);
            assert_eq!(r.len(), 4);
            assert!(r[0].is_ok() && r[1].is_ok() && r[3].is_ok());
            assert!(matches!(r[2], Err(StorageError::WriterGone)));
        }
    }

    #[test]
    fn more_jobs_than_workers_and_no_workers() {
        for count in [0, 1, 2] {
            let w = IoWorkers::start("test-io", count).expect("start");
            let done = Arc::new(AtomicUsize::new(0));
            let jobs: Vec<Job> = (0..6)
                .map(|_| {
                    let d = Arc::clone(&done);
                    Box::new(move || {
                        d.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }) as Job
                })
                .collect();
            assert!(w.run(jobs).iter().all(Result::is_ok));
            assert_eq!(done.load(Ordering::SeqCst), 6);
        }
    }

    #[test]
    fn a_panicking_job_panics_the_caller_and_the_worker_survives() {
        let w = IoWorkers::start("test-io", 1).expect("start");
        let jobs: Vec<Job> = vec![Box::new(|| Ok(())), Box::new(|| panic!("boom"))];
        let r = catch_unwind(AssertUnwindSafe(|| w.run(jobs)));
        assert!(r.is_err());
        let jobs: Vec<Job> = vec![Box::new(|| Ok(())), Box::new(|| Ok(()))];
        assert!(w.run(jobs).iter().all(Result::is_ok));
    }
}
