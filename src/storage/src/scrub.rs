//! Scrub: read every piece of every stripe of a tier, and rewrite the lost ones.
//!
//! Scrub finds stripes from their piece headers (it needs no index), checks every piece's
//! header and BLAKE3, and rebuilds lost pieces from the good ones in place. It is one pass;
//! a background worker that paces it belongs to the caller.

use std::sync::Arc;

use crate::error::StorageError;
use crate::layout::VOLUME_HEADER_BYTES;
use crate::stripe::{next_offset, probe, repair};
use crate::tier::TierShared;
use crate::volume::VolumeFiles;
use crate::ScrubReport;

/// Scrubs every volume of a tier.
pub(crate) fn scrub_tier(tier: &TierShared) -> Result<ScrubReport, StorageError> {
    let mut report = ScrubReport::default();
    for vf in tier.all() {
        scrub_volume(tier, &vf, &mut report)?;
        report.volumes += 1;
    }
    Ok(report)
}

fn scrub_volume(
    tier: &TierShared,
    vf: &Arc<VolumeFiles>,
    report: &mut ScrubReport,
) -> Result<(), StorageError> {
    // Scrub checks what is on disk, not what the handle cache remembers.
    vf.revalidate_shards();
    // Stripes past this end may still be in a writer's unsynced round: not scrubbed.
    let end = vf.end();
    let width = vf.width() as u64;
    let mut offset = VOLUME_HEADER_BYTES;
    while offset < end {
        let Some(p) = probe(vf, offset) else {
            // Without one intact header the next stripe cannot be found: the rest of the
            // volume is out of scrub's reach.
            tracing::error!(volume = %vf.id, offset, "no intact piece header; scrub stops in this volume");
            report.pieces_checked += width;
            report.pieces_lost += width;
            report.stripes_unrecoverable.push((vf.id, offset));
            return Ok(());
        };
        report.stripes += 1;
        match repair(vf, &tier.codec, offset, p.shape, &[0; 32]) {
            Ok(o) => {
                report.pieces_checked += o.checked;
                report.pieces_lost += o.lost;
                report.pieces_repaired += u64::from(o.rewritten);
            }
            Err(StorageError::Unrecoverable { lost, .. }) => {
                tracing::error!(volume = %vf.id, offset, lost, "stripe unrecoverable");
                report.pieces_checked += width;
                report.pieces_lost += lost as u64;
                report.stripes_unrecoverable.push((vf.id, offset));
            }
            Err(e @ StorageError::Corrupt { .. }) | Err(e @ StorageError::HashMismatch { .. }) => {
                tracing::error!(volume = %vf.id, offset, error = %e, "stripe corrupt");
                report.pieces_checked += width;
                report.stripes_unrecoverable.push((vf.id, offset));
            }
            Err(e) => return Err(e),
        }
        offset = next_offset(offset, p.shape.piece_bytes);
    }
    Ok(())
}
