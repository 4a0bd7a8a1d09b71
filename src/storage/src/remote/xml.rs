//! The few S3 XML documents the cold-tier client reads (`ListBucketResult`,
//! `InitiateMultipartUploadResult`, `CompleteMultipartUploadResult`, `Error`) and the one it
//! writes (`CompleteMultipartUpload`), with quick-xml's event reader into a small tree.
//!
//! Element names are matched by local name (S3 puts them in its default namespace), and
//! text is kept exactly as sent (keys may have leading or trailing spaces).

use quick_xml::events::Event;
use quick_xml::Reader;

/// Element depth accepted; S3's documents are three or four deep.
const XML_DEPTH_MAX: usize = 16;

/// One element: its local name, its text, its child elements.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a document into its root element.
pub(crate) fn parse(xml: &[u8]) -> Result<Node, String> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= XML_DEPTH_MAX {
                    return Err(format!("XML deeper than {XML_DEPTH_MAX} elements"));
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::Empty(e) => {
                let node = Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("XML with two root elements".into()),
                }
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    let text = t.unescape().map_err(|e| format!("XML text: {e}"))?;
                    node.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("XML end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("XML with two root elements".into()),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("XML document ends inside an element".into());
    }
    root.ok_or_else(|| "empty XML document".into())
}

/// An S3 `<Error>` document's code and message, if `body` is one.
pub(crate) fn error_code(body: &[u8]) -> Option<(String, String)> {
    let root = parse(body).ok()?;
    (root.name == "Error").then(|| {
        (
            root.text_of("Code").unwrap_or_default().to_owned(),
            root.text_of("Message").unwrap_or_default().to_owned(),
        )
    })
}

/// One object of a `ListBucketResult`, key as stored (prefix included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// A parsed `ListBucketResult` (ListObjectsV2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListResult {
    pub objects: Vec<Listed>,
    pub next_continuation_token: Option<String>,
}

/// Parses a ListObjectsV2 response.
pub(crate) fn list_result(body: &[u8]) -> Result<ListResult, String> {
    let root = parse(body)?;
    if root.name != "ListBucketResult" {
        return Err(format!("expected ListBucketResult, got {}", root.name));
    }
    let mut objects = Vec::new();
    for c in root.all("Contents") {
        let key = c.text_of("Key").ok_or("Contents without Key")?.to_owned();
        let size = c
            .text_of("Size")
            .ok_or("Contents without Size")?
            .trim()
            .parse()
            .map_err(|e| format!("Size of {key:?}: {e}"))?;
        let etag = c.text_of("ETag").unwrap_or_default().to_owned();
        objects.push(Listed { key, size, etag });
    }
    let truncated = root.text_of("IsTruncated").map(str::trim) == Some("true");
    let next = root
        .text_of("NextContinuationToken")
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if truncated && next.is_none() {
        return Err("IsTruncated without NextContinuationToken".into());
    }
    Ok(ListResult {
        objects,
        next_continuation_token: if truncated { next } else { None },
    })
}

/// One page of a `ListMultipartUploadsResult`: (key, upload id) pairs and the markers of
/// the next page, if truncated.
pub(crate) struct UploadsPage {
    pub uploads: Vec<(String, String)>,
    pub next: Option<(String, String)>,
}

/// Parses a ListMultipartUploads response body.
pub(crate) fn uploads_page(body: &[u8]) -> Result<UploadsPage, String> {
    let root = parse(body)?;
    if root.name != "ListMultipartUploadsResult" {
        return Err(format!(
            "expected ListMultipartUploadsResult, got {}",
            root.name
        ));
    }
    let mut uploads = Vec::new();
    for u in root.all("Upload") {
        match (u.text_of("Key"), u.text_of("UploadId")) {
            (Some(k), Some(id)) if !id.is_empty() => uploads.push((k.to_owned(), id.to_owned())),
            _ => return Err("an Upload without Key or UploadId".into()),
        }
    }
    let truncated = root.text_of("IsTruncated") == Some("true");
    let next = match (
        root.text_of("NextKeyMarker"),
        root.text_of("NextUploadIdMarker"),
    ) {
        (Some(k), Some(u)) if truncated && !(k.is_empty() && u.is_empty()) => {
            Some((k.to_owned(), u.to_owned()))
        }
        _ if truncated => return Err("IsTruncated without next markers".into()),
        _ => None,
    };
    Ok(UploadsPage { uploads, next })
}

/// The `UploadId` of an `InitiateMultipartUploadResult`.
pub(crate) fn upload_id(body: &[u8]) -> Result<String, String> {
    let root = parse(body)?;
    if root.name != "InitiateMultipartUploadResult" {
        return Err(format!(
            "expected InitiateMultipartUploadResult, got {}",
            root.name
        ));
    }
    match root.text_of("UploadId") {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err("InitiateMultipartUploadResult without UploadId".into()),
    }
}

/// What a CompleteMultipartUpload's 200 carried: S3 may answer 200 and then an `<Error>`
/// document (it sends the status before the work is done).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Completed {
    /// The object's ETag.
    Done(String),
    /// An error code and message inside the 200.
    Error(String, String),
}

/// Parses a CompleteMultipartUpload response body.
pub(crate) fn completed(body: &[u8]) -> Result<Completed, String> {
    let root = parse(body)?;
    match root.name.as_str() {
        "CompleteMultipartUploadResult" => Ok(Completed::Done(
            root.text_of("ETag").unwrap_or_default().to_owned(),
        )),
        "Error" => Ok(Completed::Error(
            root.text_of("Code").unwrap_or_default().to_owned(),
            root.text_of("Message").unwrap_or_default().to_owned(),
        )),
        other => Err(format!(
            "expected CompleteMultipartUploadResult, got {other}"
        )),
    }
}

/// One part for the `CompleteMultipartUpload` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub part_number: u32,
    /// The ETag UploadPart returned.
    pub etag: String,
    /// Its body's size.
    pub bytes: u64,
    /// Its base64 CRC32, when checksums are sent.
    pub(crate) crc32: Option<String>,
}

/// The `CompleteMultipartUpload` request body.
pub(crate) fn complete_body(parts: &[CompletedPart]) -> String {
    let mut out =
        String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for p in parts {
        out.push_str("<Part><PartNumber>");
        out.push_str(&p.part_number.to_string());
        out.push_str("</PartNumber><ETag>");
        out.push_str(&quick_xml::escape::escape(p.etag.as_str()));
        out.push_str("</ETag>");
        if let Some(crc) = &p.crc32 {
            out.push_str("<ChecksumCRC32>");
            out.push_str(crc);
            out.push_str("</ChecksumCRC32>");
        }
        out.push_str("</Part>");
    }
    out.push_str("</CompleteMultipartUpload>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_result_keeps_keys_exactly_and_follows_the_token() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>
  <Contents><Key>p/ a &amp; b </Key><Size>12</Size><ETag>&quot;e1&quot;</ETag></Contents>
  <Contents><Key>p/c</Key><Size>0</Size><ETag>"e2"</ETag><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"#;
        let r = list_result(xml).unwrap();
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[0].key, "p/ a & b ");
        assert_eq!(r.objects[0].size, 12);
        assert_eq!(r.objects[0].etag, "\"e1\"");
        assert_eq!(r.next_continuation_token.as_deref(), Some("tok/+="));
        let last = br#"<ListBucketResult><IsTruncated>false</IsTruncated><NextContinuationToken>x</NextContinuationToken></ListBucketResult>"#;
        let r = list_result(last).unwrap();
        assert!(r.objects.is_empty() && r.next_continuation_token.is_none());
    }

    #[test]
    fn errors_and_uploads_parse() {
        let e = br#"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"#;
        assert_eq!(
            error_code(e),
            Some(("SlowDown".into(), "Reduce your rate".into()))
        );
        assert_eq!(error_code(b"not xml <"), None);
        assert_eq!(error_code(b""), None);
        let i = br#"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(upload_id(i).unwrap(), "u-1");
        assert!(upload_id(b"<InitiateMultipartUploadResult/>").is_err());
        let c = br#"<CompleteMultipartUploadResult><ETag>"abc-2"</ETag></CompleteMultipartUploadResult>"#;
        assert_eq!(completed(c).unwrap(), Completed::Done("\"abc-2\"".into()));
        let c = br#"<Error><Code>InternalError</Code><Message>m</Message></Error>"#;
        assert_eq!(
            completed(c).unwrap(),
            Completed::Error("InternalError".into(), "m".into())
        );
    }

    #[test]
    fn upload_listings_parse_and_follow_the_markers() {
        let page = uploads_page(
            br#"<?xml version="1.0"?><ListMultipartUploadsResult><Bucket>b</Bucket>
            <IsTruncated>true</IsTruncated><NextKeyMarker>p/k2</NextKeyMarker>
            <NextUploadIdMarker>u2</NextUploadIdMarker>
            <Upload><Key>p/k1</Key><UploadId>u1</UploadId></Upload>
            <Upload><Key>p/k2</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>"#,
        )
        .unwrap();
        assert_eq!(
            page.uploads,
            vec![("p/k1".into(), "u1".into()), ("p/k2".into(), "u2".into())]
        );
        assert_eq!(page.next, Some(("p/k2".into(), "u2".into())));
        let last = uploads_page(b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>").unwrap();
        assert!(last.uploads.is_empty() && last.next.is_none());
        assert!(uploads_page(b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>").is_err());
        assert!(uploads_page(b"<Other/>").is_err());
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"").is_err());
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn complete_body_lists_parts_in_order() {
        let parts = [
            CompletedPart {
                part_number: 1,
                etag: "\"a\"".into(),
                bytes: 5,
                crc32: None,
            },
            CompletedPart {
                part_number: 2,
                etag: "\"b\"".into(),
                bytes: 1,
                crc32: Some("AAAAAA==".into()),
            },
        ];
        let body = complete_body(&parts);
        let root = parse(body.as_bytes()).unwrap();
        let nums: Vec<_> = root
            .all("Part")
            .map(|p| p.text_of("PartNumber").unwrap().to_owned())
            .collect();
        assert_eq!(nums, ["1", "2"]);
        assert_eq!(
            root.all("Part").nth(1).unwrap().text_of("ETag"),
            Some("\"b\"")
        );
        assert!(body.contains("<ChecksumCRC32>AAAAAA==</ChecksumCRC32>"));
    }
}
