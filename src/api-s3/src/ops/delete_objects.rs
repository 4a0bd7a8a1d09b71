//! DeleteObjects: up to 1000 keys in one request, quiet or verbose.
//!
//! The request sequence, as S3 runs it:
//! 1. the bucket must exist (NoSuchBucket fails the whole request);
//! 2. the body is read whole (an XML document, at most [`XML_BODY_MAX`] bytes), its
//!    signature or chunk signatures checked as it streams;
//! 3. an integrity value is required — `Content-MD5`, an `x-amz-checksum-*` header, or an
//!    `aws-chunked` trailer — and checked against the bytes read (BadDigest);
//! 4. the document is parsed (MalformedXML; more than 1000 objects is MalformedXML too);
//! 5. each key is deleted; a failure is that key's `<Error>`, never the request's. Deleting
//!    a missing key succeeds, as in S3.

use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use md5::Digest as _;
use quick_xml::events::Event;
use serde::Serialize;
use stratum_core::{limits, ChecksumValue, ObjectKey};
use stratum_engine::checksum_of;
use stratum_engine::PutCondition;

use crate::body;
use crate::error::{S3Error, S3ErrorCode};
use crate::headers::{content_md5, sent_checksums};
use crate::xml::{self, S3_NS, XML_BODY_MAX};
use crate::Ctx;

/// Deletes run this many at a time; each makes a tombstone durable before its commit.
const DELETES_IN_FLIGHT: usize = 16;

/// The one version an object of an unversioned bucket has.
const NULL_VERSION: &str = "null";

/// The request document.
#[derive(Debug, Default)]
struct Delete {
    quiet: Option<String>,
    objects: Vec<ObjectIdentifier>,
}

#[derive(Debug, Default)]
struct ObjectIdentifier {
    key: String,
    version_id: Option<String>,
}

#[derive(Serialize)]
struct DeleteResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$value")]
    entries: Vec<Entry>,
}

/// One key's outcome, in request order.
#[derive(Serialize)]
enum Entry {
    Deleted {
        #[serde(rename = "Key")]
        key: String,
        #[serde(rename = "VersionId", skip_serializing_if = "Option::is_none")]
        version_id: Option<String>,
    },
    Error {
        #[serde(rename = "Key")]
        key: String,
        #[serde(rename = "VersionId", skip_serializing_if = "Option::is_none")]
        version_id: Option<String>,
        #[serde(rename = "Code")]
        code: &'static str,
        #[serde(rename = "Message")]
        message: String,
    },
}

/// DeleteObjects (see the module docs for the sequence).
pub(crate) async fn delete_objects(ctx: &Ctx, body: Body) -> Result<Response, S3Error> {
    // 1. The bucket.
    ctx.engine.head_bucket(ctx.bucket()?).await?;
    // 2. The whole document, verified as it streamed.
    let (stream, info) = ctx.body(body)?;
    let bytes = body::collect(stream, XML_BODY_MAX).await?;
    // 3. Its integrity value.
    let trailing = info
        .trailing
        .map(|(_, slot)| slot.get())
        .unwrap_or_default();
    check_integrity(ctx, &bytes, &trailing)?;
    // 4. The document.
    let doc = parse_delete(&bytes)?;
    if doc.objects.is_empty() || doc.objects.len() > limits::DELETE_OBJECTS_KEYS_MAX {
        return Err(S3Error::malformed_xml());
    }
    let quiet = match doc.quiet.as_deref().map(str::trim) {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(S3Error::malformed_xml()),
    };
    // 5. Each key, a few at a time, results in request order.
    let entries: Vec<Entry> = futures::stream::iter(doc.objects)
        .map(|o| delete_one(ctx, o))
        .buffered(DELETES_IN_FLIGHT)
        .filter(|e| std::future::ready(!(quiet && matches!(e, Entry::Deleted { .. }))))
        .collect()
        .await;
    xml::response(
        "DeleteResult",
        &DeleteResult {
            xmlns: S3_NS,
            entries,
        },
    )
}

/// Deletes one key; any failure becomes its `<Error>` entry.
async fn delete_one(ctx: &Ctx, o: ObjectIdentifier) -> Entry {
    let result = async {
        if o.version_id.as_deref().is_some_and(|v| v != NULL_VERSION) {
            return Err(S3Error::invalid_argument("Invalid version id specified"));
        }
        let bucket = ctx.bucket()?;
        let key = ObjectKey::new(o.key.clone())?;
        if ctx
            .engine
            .delete_object(bucket, &key, PutCondition::None)
            .await?
        {
            super::object::forget_access(ctx, bucket, &key).await;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Entry::Deleted {
            key: o.key,
            version_id: o.version_id,
        },
        Err(e) => Entry::Error {
            key: o.key,
            version_id: o.version_id,
            code: e.code.as_str(),
            message: e.message.into_owned(),
        },
    }
}

/// S3 requires DeleteObjects to carry an integrity value; every one sent must match.
fn check_integrity(ctx: &Ctx, bytes: &[u8], trailing: &[ChecksumValue]) -> Result<(), S3Error> {
    let md5 = content_md5(&ctx.headers)?;
    let sent = sent_checksums(&ctx.headers)?;
    if md5.is_none() && sent.is_empty() && trailing.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5",
        ));
    }
    if let Some(expected) = md5 {
        if md5::Md5::digest(bytes).as_slice() != expected {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    for expected in sent.iter().chain(trailing) {
        if checksum_of(expected.algorithm, bytes) != *expected {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    expected.algorithm.aws_name()
                ),
            ));
        }
    }
    Ok(())
}

/// Parses `<Delete>` with quick-xml's event reader rather than serde: serde's deserializer
/// trims the whitespace around text, and a key is every byte between its tags (` a` and `a`
/// are different objects, and deleting the wrong one is not an option).
fn parse_delete(bytes: &[u8]) -> Result<Delete, S3Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| S3Error::malformed_xml())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut doc = Delete::default();
    let mut path: Vec<String> = Vec::new();
    let mut object: Option<ObjectIdentifier> = None;
    let mut key: Option<String> = None;
    let mut value = String::new();
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|_| S3Error::malformed_xml())?;
        let (name, opens, closes) = match &event {
            Event::Start(e) => (local_name(e.local_name().as_ref())?, true, false),
            Event::Empty(e) => (local_name(e.local_name().as_ref())?, true, true),
            Event::End(e) => (local_name(e.local_name().as_ref())?, false, true),
            Event::Text(t) => {
                let t = t.unescape().map_err(|_| S3Error::malformed_xml())?;
                value.push_str(&t);
                continue;
            }
            Event::CData(c) => {
                let c = std::str::from_utf8(c.as_ref()).map_err(|_| S3Error::malformed_xml())?;
                value.push_str(c);
                continue;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => continue,
        };
        if opens {
            // Only the root, `Quiet`, `Object` and the fields of an object have meaning;
            // text-only elements hold no elements.
            let parent: Vec<&str> = path.iter().map(String::as_str).collect();
            match (parent.as_slice(), name.as_str()) {
                ([], "Delete") if !seen_root => seen_root = true,
                ([], _) => return Err(S3Error::malformed_xml()),
                (["Delete"], "Object") => object = Some(ObjectIdentifier::default()),
                (["Delete", "Object", _], _) | (["Delete", "Quiet"], _) => {
                    return Err(S3Error::malformed_xml())
                }
                _ => {}
            }
            path.push(name.clone());
            value.clear();
        }
        if closes {
            if path.pop().as_deref() != Some(name.as_str()) {
                return Err(S3Error::malformed_xml());
            }
            let parent: Vec<&str> = path.iter().map(String::as_str).collect();
            let text = std::mem::take(&mut value);
            match (parent.as_slice(), name.as_str()) {
                (["Delete"], "Quiet") => doc.quiet = Some(text),
                (["Delete", "Object"], "Key") => key = Some(text),
                (["Delete", "Object"], "VersionId") => {
                    if let Some(o) = object.as_mut() {
                        o.version_id = Some(text);
                    }
                }
                (["Delete"], "Object") => {
                    let mut o = object.take().ok_or_else(S3Error::malformed_xml)?;
                    o.key = key.take().ok_or_else(S3Error::malformed_xml)?;
                    doc.objects.push(o);
                    if doc.objects.len() > limits::DELETE_OBJECTS_KEYS_MAX {
                        return Err(S3Error::malformed_xml());
                    }
                }
                _ => {}
            }
        }
    }
    if !seen_root || !path.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok(doc)
}

fn local_name(name: &[u8]) -> Result<String, S3Error> {
    std::str::from_utf8(name)
        .map(str::to_owned)
        .map_err(|_| S3Error::malformed_xml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_whitespace_and_entities() {
        let doc = parse_delete(
            b"<?xml version=\"1.0\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n\
              <Quiet>true</Quiet>\n<Object>\n <Key> a &amp; b </Key>\n\
              <VersionId>null</VersionId></Object><Object><Key><![CDATA[<c>]]></Key></Object>\
              </Delete>",
        )
        .unwrap();
        assert_eq!(doc.quiet.as_deref(), Some("true"));
        assert_eq!(doc.objects.len(), 2);
        assert_eq!(doc.objects[0].key, " a & b ");
        assert_eq!(doc.objects[0].version_id.as_deref(), Some("null"));
        assert_eq!(doc.objects[1].key, "<c>");
        assert_eq!(doc.objects[1].version_id, None);
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            &b""[..],
            b"<Delete>",
            b"<Delete><Object><Key>a</Key></Delete>",
            b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            b"<Delete><Object><Key>a<b/></Key></Object></Delete>",
            b"<Other/>",
            b"<Delete/><Delete/>",
            b"<Delete><Object><Key>a &bogus; b</Key></Object></Delete>",
            b"\xff",
        ] {
            assert_eq!(
                parse_delete(bad).unwrap_err().code,
                S3ErrorCode::MalformedXML,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_delete(b"<Delete><Object><Key/></Object></Delete>").is_ok());
    }
}
