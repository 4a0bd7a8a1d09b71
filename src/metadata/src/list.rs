//! S3 object listing (ListObjects / ListObjectsV2 semantics) over any [`MetadataStore`].
//!
//! The listing walks the bucket in byte order through [`MetadataStore::scan_objects`] in
//! pages of [`LIST_SCAN_PAGE`] entries; it never loads the whole bucket. With a delimiter,
//! once a key rolls up into a common prefix the scan seeks to the prefix's successor (the
//! smallest string greater than every string starting with it), so a prefix holding a million
//! keys costs one seek, not a million entries.

use std::ops::Bound;

use stratum_core::{BucketName, ObjectKey};

use crate::records::ObjectRecord;
use crate::{MetaError, MetadataStore};

/// Entries fetched from the store per scan call.
pub const LIST_SCAN_PAGE: usize = 256;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys whose remainder after `prefix` contains this into common prefixes. An empty
    /// delimiter is no delimiter.
    pub delimiter: Option<String>,
    /// Only entries after this key (exclusive); a common prefix containing it is not returned.
    pub start_after: Option<String>,
    /// Most keys plus common prefixes to return. The caller applies S3's cap
    /// ([`stratum_core::limits::LIST_KEYS_MAX`]).
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// Keys and their records, in byte order.
    pub objects: Vec<(ObjectKey, ObjectRecord)>,
    /// Common prefixes (each ending with the delimiter), in byte order.
    pub common_prefixes: Vec<String>,
    /// Whether more entries follow.
    pub is_truncated: bool,
    /// the last key or common prefix returned when truncated: pass it back as start_after to
    /// continue
    pub next_start_after: Option<String>,
}

/// S3 listing semantics over any store: byte order; prefix filter; with a delimiter, keys
/// whose remainder after the prefix contains the delimiter roll up into one common prefix
/// (each counted once toward max_keys); start_after exclusive (and if start_after is itself
/// inside a common prefix "p/", that prefix is NOT returned again). max_keys == 0 returns an
/// empty, non-truncated page. `NoSuchBucket` if the bucket does not exist.
pub fn list_objects(
    store: &dyn MetadataStore,
    bucket: &BucketName,
    params: &ListParams,
) -> Result<ListPage, MetaError> {
    let mut page = ListPage::default();
    if params.max_keys == 0 {
        if store.get_bucket(bucket)?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        return Ok(page);
    }
    let prefix = params.prefix.as_str();
    let delimiter = params.delimiter.as_deref().filter(|d| !d.is_empty());
    let start_after = params.start_after.as_deref();
    // Start after start_after, but never before the prefix: keys below it cannot match.
    let mut cursor = match start_after {
        Some(s) if s >= prefix => Bound::Excluded(s.to_owned()),
        _ => Bound::Included(prefix.to_owned()),
    };
    let mut returned = 0;
    let mut last: Option<String> = None;
    'scan: loop {
        let batch =
            store.scan_objects(bucket, cursor.as_ref().map(String::as_str), LIST_SCAN_PAGE)?;
        let full = batch.len() == LIST_SCAN_PAGE;
        let mut next = None;
        for (key, rec) in batch {
            let k = key.as_str();
            if !k.starts_with(prefix) {
                // Keys with the prefix are contiguous and the scan started inside or before
                // them: this key is past them all.
                break 'scan;
            }
            let rolled_up = delimiter.and_then(|d| {
                k[prefix.len()..]
                    .find(d)
                    .map(|i| k[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(cp) = rolled_up {
                // A start_after inside the prefix means an earlier page returned it.
                if !start_after.is_some_and(|s| s.starts_with(&cp)) {
                    if returned == params.max_keys {
                        page.is_truncated = true;
                        break 'scan;
                    }
                    returned += 1;
                    page.common_prefixes.push(cp.clone());
                    last = Some(cp.clone());
                }
                match successor(&cp) {
                    Some(s) => {
                        next = Some(Bound::Included(s));
                        break;
                    }
                    // Only U+10FFFF characters: nothing sorts after the prefix's keys.
                    None => break 'scan,
                }
            }
            if returned == params.max_keys {
                page.is_truncated = true;
                break 'scan;
            }
            returned += 1;
            last = Some(k.to_owned());
            next = Some(Bound::Excluded(k.to_owned()));
            page.objects.push((key, rec));
        }
        match next {
            // A seek past a common prefix always rescans, whether the batch was full or not.
            Some(Bound::Included(s)) => cursor = Bound::Included(s),
            Some(after) if full => cursor = after,
            _ => break,
        }
    }
    if page.is_truncated {
        page.next_start_after = last;
    }
    Ok(page)
}

/// The smallest string greater than every string that starts with `s`, if there is one.
///
/// UTF-8 byte order is code point order, so incrementing the last character that is not
/// U+10FFFF (dropping those after it) gives it.
pub fn successor(s: &str) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    while let Some(c) = chars.pop() {
        let next = match c {
            char::MAX => continue,
            '\u{D7FF}' => '\u{E000}',
            c => char::from_u32(u32::from(c) + 1)?,
        };
        chars.push(next);
        return Some(chars.into_iter().collect());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::successor;

    #[test]
    fn successor_is_above_every_extension_and_below_everything_else() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(successor("\u{10FFFF}\u{10FFFF}"), None);
        let s = successor("é/").unwrap();
        for ext in ["é/", "é/\u{10FFFF}\u{10FFFF}", "é/zzz"] {
            assert!(ext.as_bytes() < s.as_bytes());
        }
        assert!("é0".as_bytes() >= s.as_bytes());
    }
}
