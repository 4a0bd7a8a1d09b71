//! Volume pins: a volume being read is never deleted under the reader.
//!
//! A GET pins the volumes of the record it read, then re-reads the record; if it is
//! unchanged, any later overwrite or delete that frees those volumes commits after the pin
//! and finds it, so it defers the deletion to the last unpin. That keeps "old or new, never
//! a mix" for readers racing an overwrite of a large object.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use stratum_core::{Tier, VolumeId};

/// Pin counts and deferred deletions.
#[derive(Debug, Default)]
pub struct Pins {
    state: Mutex<PinState>,
}

#[derive(Debug, Default)]
struct PinState {
    counts: HashMap<(Tier, VolumeId), usize>,
    deferred: BTreeSet<(Tier, VolumeId)>,
}

/// Called with the deferred deletions whose last pin was just released.
pub type OnRelease = Box<dyn FnOnce(Vec<(Tier, VolumeId)>) + Send>;

/// Holds pins until dropped; deferred deletions whose last pin this was are handed to
/// the `on_release` callback given at pin time.
pub struct PinGuard {
    pins: Arc<Pins>,
    volumes: Vec<(Tier, VolumeId)>,
    on_release: Option<OnRelease>,
}

impl std::fmt::Debug for PinGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinGuard")
            .field("volumes", &self.volumes)
            .finish()
    }
}

impl Pins {
    /// Pins `volumes` until the guard drops.
    pub fn pin(
        self: &Arc<Self>,
        volumes: Vec<(Tier, VolumeId)>,
        on_release: OnRelease,
    ) -> PinGuard {
        let mut s = self.state.lock().expect("pins lock");
        for v in &volumes {
            *s.counts.entry(*v).or_insert(0) += 1;
        }
        PinGuard {
            pins: self.clone(),
            volumes,
            on_release: Some(on_release),
        }
    }

    /// Returns the volumes that may be deleted now; pinned ones are deferred to their
    /// last unpin.
    pub fn release_or_defer(&self, volumes: Vec<(Tier, VolumeId)>) -> Vec<(Tier, VolumeId)> {
        let mut s = self.state.lock().expect("pins lock");
        let mut now = Vec::new();
        for v in volumes {
            if s.counts.get(&v).copied().unwrap_or(0) > 0 {
                s.deferred.insert(v);
            } else {
                now.push(v);
            }
        }
        now
    }

    /// Whether a volume is pinned right now (compaction skips pinned volumes).
    pub fn is_pinned(&self, volume: (Tier, VolumeId)) -> bool {
        let s = self.state.lock().expect("pins lock");
        s.counts.get(&volume).copied().unwrap_or(0) > 0
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let mut freed = Vec::new();
        {
            let mut s = self.pins.state.lock().expect("pins lock");
            for v in self.volumes.drain(..) {
                let n = s.counts.get_mut(&v).expect("pinned volume counted");
                *n -= 1;
                if *n == 0 {
                    s.counts.remove(&v);
                    if s.deferred.remove(&v) {
                        freed.push(v);
                    }
                }
            }
        }
        if let Some(f) = self.on_release.take() {
            if !freed.is_empty() {
                f(freed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn deletion_of_a_pinned_volume_waits_for_the_last_reader() {
        let pins = Arc::new(Pins::default());
        let v = (Tier::Hot, VolumeId(7));
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        let a = pins.pin(vec![v], Box::new(move |f| tx.send(f).unwrap()));
        let b = pins.pin(vec![v], Box::new(move |f| tx2.send(f).unwrap()));
        assert!(pins.release_or_defer(vec![v]).is_empty());
        drop(a);
        assert!(rx.try_recv().is_err());
        drop(b);
        assert_eq!(rx.try_recv().unwrap(), vec![v]);
        assert_eq!(pins.release_or_defer(vec![v]), vec![v]);
    }
}
