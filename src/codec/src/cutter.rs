//! Cutting a body stream into frames' original bytes, following a [`FramePolicy`].
//!
//! The cutter decides frame boundaries from offsets alone, so the same body cut with the
//! same policy gives the same frames however the network chunked it. It holds at most one
//! frame's bytes: a PUT's memory is bounded by the frame size, not the object size.

use stratum_core::config::FramePolicy;

/// Cuts a body stream into frames' original bytes following a [`FramePolicy`], buffering at
/// most one frame.
#[derive(Debug)]
pub struct FrameCutter {
    policy: FramePolicy,
    /// Bytes of the frame being filled; never longer than `target`.
    buffer: Vec<u8>,
    /// Length of the frame being filled: the policy's size at `emitted`.
    target: usize,
    /// Offset in the object at which the frame being filled starts.
    emitted: u64,
}

impl FrameCutter {
    /// A cutter at the start of an object.
    pub fn new(policy: FramePolicy) -> Self {
        let target = frame_bytes(&policy, 0);
        Self {
            policy,
            buffer: Vec::new(),
            target,
            emitted: 0,
        }
    }

    /// Feeds bytes; returns every frame that became complete, in order (each exactly
    /// `policy.frame_bytes_at(its start offset)` bytes long).
    pub fn push(&mut self, mut data: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while !data.is_empty() {
            if self.buffer.is_empty() && data.len() >= self.target {
                // A whole frame is in the input: copy it once, straight into its own buffer.
                let (frame, rest) = data.split_at(self.target);
                frames.push(frame.to_vec());
                self.advance();
                data = rest;
                continue;
            }
            let take = data.len().min(self.target - self.buffer.len());
            if self.buffer.capacity() < self.buffer.len() + take {
                // First chunk: allocate only what it needs, so a tiny object does not cost a
                // whole frame of memory. Later chunks: allocate the full frame once, rather
                // than doubling and copying on the way up.
                let want = if self.buffer.is_empty() {
                    take
                } else {
                    self.target - self.buffer.len()
                };
                self.buffer.reserve_exact(want);
            }
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == self.target {
                frames.push(std::mem::take(&mut self.buffer));
                self.advance();
            }
        }
        frames
    }

    /// The buffered remainder as the last frame (`None` if nothing is buffered). Call once at
    /// the end of the body.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.buffer.is_empty() {
            return None;
        }
        let last = std::mem::take(&mut self.buffer);
        self.emitted += last.len() as u64;
        Some(last)
    }

    /// Bytes fed so far.
    pub fn bytes_in(&self) -> u64 {
        self.emitted + self.buffer.len() as u64
    }

    /// Bytes currently buffered (not yet emitted).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Moves past a completed frame of `target` bytes.
    fn advance(&mut self) {
        self.emitted += self.target as u64;
        self.target = frame_bytes(&self.policy, self.emitted);
    }
}

/// The policy's frame size at `offset`, at least one byte (a zero-sized frame would stop the
/// cutter from making progress; validated configurations never ask for one).
fn frame_bytes(policy: &FramePolicy, offset: u64) -> usize {
    (policy.frame_bytes_at(offset) as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> FramePolicy {
        FramePolicy {
            small_frame_bytes: 4,
            medium_frame_bytes: 8,
            large_frame_bytes: 16,
            medium_from_bytes: 8,
            large_from_bytes: 24,
        }
    }

    #[test]
    fn frames_follow_policy_sizes() {
        let mut c = FrameCutter::new(tiny());
        let data: Vec<u8> = (0..50u8).collect();
        let mut frames = c.push(&data);
        assert_eq!(c.bytes_in(), 50);
        assert_eq!(c.buffered(), 50 - 40);
        frames.extend(c.finish());
        let lens: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert_eq!(lens, [4, 4, 8, 8, 16, 10]);
        assert_eq!(frames.concat(), data);
        assert_eq!(c.finish(), None);
    }

    #[test]
    fn empty_body_has_no_frames() {
        let mut c = FrameCutter::new(tiny());
        assert!(c.push(&[]).is_empty());
        assert_eq!(c.finish(), None);
        assert_eq!(c.bytes_in(), 0);
    }

    #[test]
    fn exact_multiple_leaves_nothing_to_finish() {
        let mut c = FrameCutter::new(tiny());
        assert_eq!(c.push(&[7; 8]).len(), 2);
        assert_eq!(c.buffered(), 0);
        assert_eq!(c.finish(), None);
    }

    #[test]
    fn buffered_capacity_is_bounded_by_one_frame() {
        let mut c = FrameCutter::new(FramePolicy::default());
        c.push(&[1; 10]);
        assert!(
            c.buffer.capacity() < 1024,
            "a tiny body must not reserve a whole frame"
        );
        for _ in 0..1000 {
            c.push(&[1; 3000]);
            assert!(c.buffer.capacity() <= 1 << 20);
        }
    }
}
