//! Key layouts of the sled trees, chosen so that byte order is the order listings need.
//!
//! - `objects`: `bucket 0x00 key`. Bucket names never contain 0x00, so one bucket's objects
//!   are a contiguous range, ordered bytewise by key (S3's order).
//! - `parts`: `upload_id 0x00 part_number (u32 big-endian)`. An upload's parts are the keys
//!   that start with `upload_id 0x00` and are exactly four bytes longer (the length check
//!   keeps an upload whose id extends another's with a 0x00 out of its parts).
//! - `uploads_by_key`: `bucket 0x00 escaped(key) 0x00 0x00 upload_id`, value `upload_id`. The
//!   key is escaped (0x00 → 0x00 0xFF) and terminated by 0x00 0x00 so that the order is
//!   exactly (key, upload_id) even for keys that contain 0x00 or extend one another.
//! - `access`: `bucket 0x00 key`, as `objects`; across buckets the byte order is the
//!   (bucket, key) order, since 0x00 sorts before every byte of a bucket name.
//! - `volumes`: the volume id as u64 big-endian; values are u64 big-endian live bytes.
//! - `decisions`: the decision id as u64 big-endian, so byte order is id order. The value is
//!   `n (u32 big-endian) | bucket 0x00 key (n bytes) | row bytes`: the object is kept beside
//!   the caller's opaque bytes so that a trim can find the row's index entry.
//! - `decisions_by_object`: `bucket 0x00 key 0x00 id (u64 big-endian)`, empty value. One
//!   object's entries are the keys that start with `bucket 0x00 key 0x00` and are exactly
//!   eight bytes longer, in id order; an object whose key extends this one's with 0x00 has
//!   longer entries in the same range, which the length check leaves out (as for `parts`).

use std::ops::Bound;

use stratum_core::{BucketName, ObjectKey, VolumeId};

use crate::MetaError;

/// The range of one bucket's entries in a tree keyed by `bucket 0x00 ...`.
pub(crate) fn bucket_range(bucket: &BucketName) -> (Vec<u8>, Vec<u8>) {
    let mut start = bucket.as_str().as_bytes().to_vec();
    let mut end = start.clone();
    start.push(0);
    end.push(1);
    (start, end)
}

/// `bucket 0x00 key`.
pub(crate) fn object(bucket: &BucketName, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bucket.as_str().len() + 1 + key.len());
    out.extend_from_slice(bucket.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

/// The scan bounds of `bucket`'s objects starting at `start`.
pub(crate) fn object_scan(bucket: &BucketName, start: Bound<&str>) -> (Bound<Vec<u8>>, Vec<u8>) {
    let (first, end) = bucket_range(bucket);
    let lower = match start {
        Bound::Included(k) => Bound::Included(object(bucket, k)),
        Bound::Excluded(k) => Bound::Excluded(object(bucket, k)),
        Bound::Unbounded => Bound::Included(first),
    };
    (lower, end)
}

/// The object key stored after the `bucket 0x00` prefix.
pub(crate) fn object_key_of(bucket: &BucketName, raw: &[u8]) -> Result<String, MetaError> {
    let corrupt = |detail: &str| MetaError::Corrupt {
        tree: "objects",
        detail: detail.to_owned(),
    };
    let rest = raw
        .get(bucket.as_str().len() + 1..)
        .ok_or_else(|| corrupt("key shorter than its bucket prefix"))?;
    String::from_utf8(rest.to_vec()).map_err(|_| corrupt("object key is not UTF-8"))
}

/// `upload_id 0x00`: the prefix of every part of the upload.
pub(crate) fn part_prefix(upload_id: &str) -> Vec<u8> {
    let mut out = upload_id.as_bytes().to_vec();
    out.push(0);
    out
}

/// `upload_id 0x00 part_number`.
pub(crate) fn part(upload_id: &str, part_number: u32) -> Vec<u8> {
    let mut out = part_prefix(upload_id);
    out.extend_from_slice(&part_number.to_be_bytes());
    out
}

/// `bucket 0x00 escaped(key) 0x00 0x00 upload_id`.
pub(crate) fn upload_index(bucket: &BucketName, key: &str, upload_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bucket.as_str().len() + key.len() + upload_id.len() + 4);
    out.extend_from_slice(bucket.as_str().as_bytes());
    out.push(0);
    for &b in key.as_bytes() {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(upload_id.as_bytes());
    out
}

/// The volumes-tree key of a volume.
pub(crate) fn volume(id: VolumeId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// The `decisions` key of a decision id.
pub(crate) fn decision(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// `bucket 0x00 key 0x00`: the prefix of every `decisions_by_object` entry of the object
/// whose [`object`] key is `object_key`.
pub(crate) fn decision_index_prefix(object_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object_key.len() + 9);
    out.extend_from_slice(object_key);
    out.push(0);
    out
}

/// `bucket 0x00 key 0x00 id`: the `decisions_by_object` entry of row `id` of the object
/// whose [`object`] key is `object_key`.
pub(crate) fn decision_index(object_key: &[u8], id: u64) -> Vec<u8> {
    let mut out = decision_index_prefix(object_key);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

/// The stored value of a decision row: `n | object_key (n bytes) | bytes`.
pub(crate) fn decision_value(object_key: &[u8], bytes: &[u8]) -> Result<Vec<u8>, MetaError> {
    let n = u32::try_from(object_key.len()).map_err(|_| MetaError::Corrupt {
        tree: "decisions",
        detail: format!("object key of {} bytes is too long", object_key.len()),
    })?;
    let mut out = Vec::with_capacity(4 + object_key.len() + bytes.len());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(object_key);
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Splits a stored decision value into the object key (`bucket 0x00 key`) and the row bytes.
pub(crate) fn split_decision_value(raw: &[u8]) -> Result<(&[u8], &[u8]), MetaError> {
    let corrupt = || MetaError::Corrupt {
        tree: "decisions",
        detail: format!(
            "value of {} bytes shorter than its object prefix",
            raw.len()
        ),
    };
    let (n, rest) = raw.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let n = usize::try_from(u32::from_be_bytes(*n)).map_err(|_| corrupt())?;
    if rest.len() < n {
        return Err(corrupt());
    }
    Ok(rest.split_at(n))
}

/// Reads a big-endian u64 value (a volumes-tree key or value, a counter).
pub(crate) fn read_u64(tree: &'static str, raw: &[u8]) -> Result<u64, MetaError> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| MetaError::Corrupt {
        tree,
        detail: format!("expected 8 bytes, found {}", raw.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// The (bucket, key) of an `access` tree entry keyed `bucket 0x00 key`.
pub(crate) fn access_of(raw: &[u8]) -> Result<(BucketName, ObjectKey), MetaError> {
    let corrupt = |detail: &str| MetaError::Corrupt {
        tree: "access",
        detail: detail.to_owned(),
    };
    let split = raw
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| corrupt("key without a bucket separator"))?;
    let (bucket, rest) = raw.split_at(split);
    let bucket = std::str::from_utf8(bucket)
        .ok()
        .and_then(|b| BucketName::new(b).ok())
        .ok_or_else(|| corrupt("invalid bucket name"))?;
    let key = std::str::from_utf8(rest.get(1..).unwrap_or_default())
        .ok()
        .and_then(|k| ObjectKey::new(k).ok())
        .ok_or_else(|| corrupt("invalid object key"))?;
    Ok((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> BucketName {
        BucketName::new("bkt").unwrap()
    }

    #[test]
    fn upload_index_orders_by_key_then_id_even_with_nul_in_keys() {
        let pairs = [
            ("a", "z"),
            ("a\0", "a"),
            ("a\0b", "a"),
            ("a\u{1}", "a"),
            ("ab", "a"),
            ("ab", "b"),
            ("b", "a"),
        ];
        let encoded: Vec<_> = pairs
            .iter()
            .map(|(k, id)| upload_index(&b(), k, id))
            .collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
    }

    #[test]
    fn part_keys_of_an_upload_id_extended_by_nul_have_another_length() {
        // "up\0\0\0\0"'s part 1 starts with "up\0" like "up"'s parts, but is longer.
        let other = part("up\0\0\0\0", 1);
        assert!(other.starts_with(&part_prefix("up")));
        assert_ne!(other.len(), part_prefix("up").len() + 4);
        assert_eq!(part("up", 7).len(), part_prefix("up").len() + 4);
    }

    #[test]
    fn decision_values_split_back_and_short_ones_are_corrupt() {
        let obj = object(&b(), "k\0");
        let v = decision_value(&obj, b"row").unwrap();
        assert_eq!(split_decision_value(&v).unwrap(), (&obj[..], &b"row"[..]));
        assert!(split_decision_value(&v[..3]).is_err());
        assert!(split_decision_value(&v[..4 + obj.len() - 1]).is_err());
        assert_eq!(split_decision_value(&v[..4 + obj.len()]).unwrap().1, b"");
    }

    #[test]
    fn decision_index_orders_by_id_within_an_object() {
        let obj = object(&b(), "k");
        let ids = [0, 1, 255, 256, 1 << 40, u64::MAX];
        let encoded: Vec<_> = ids.iter().map(|&id| decision_index(&obj, id)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        assert!(encoded
            .iter()
            .all(|k| k.len() == decision_index_prefix(&obj).len() + 8));
    }

    #[test]
    fn object_keys_split_back() {
        let raw = object(&b(), "x/\0y");
        assert_eq!(object_key_of(&b(), &raw).unwrap(), "x/\0y");
    }
}
