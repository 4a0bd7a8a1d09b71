//! XML in and out with quick-xml's serde support: request documents are parsed with a size
//! limit into typed structs (MalformedXML otherwise), responses are typed structs serialized
//! with the XML declaration and the S3 namespace.

use axum::body::Body;
use axum::response::Response;
use http::HeaderValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::S3Error;

/// The S3 XML namespace, as `xmlns` on response roots.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The largest XML request document accepted (DeleteObjects with 1000 long keys fits).
pub const XML_BODY_MAX: u64 = 4 * 1024 * 1024;

/// Serializes `doc` as the whole body of a 200 response. The root element's name is `root`.
pub fn response<T: Serialize>(root: &str, doc: &T) -> Result<Response, S3Error> {
    let body = to_string(root, doc)?;
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    Ok(resp)
}

/// Serializes `doc` under `root`, with the XML declaration.
pub fn to_string<T: Serialize>(root: &str, doc: &T) -> Result<String, S3Error> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let ser = quick_xml::se::Serializer::with_root(&mut out, Some(root)).map_err(xml_internal)?;
    doc.serialize(ser).map_err(xml_internal)?;
    Ok(out)
}

fn xml_internal(e: quick_xml::SeError) -> S3Error {
    tracing::error!(error = %e, "serializing a response document failed");
    S3Error::new(
        crate::error::S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

/// Parses a request document; anything that does not fit `T` is MalformedXML.
///
/// quick-xml's deserializer trims whitespace around text, so never use this for values
/// whose exact text matters, such as object keys (DeleteObjects reads its keys with the
/// event reader instead).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, S3Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| S3Error::malformed_xml())?;
    quick_xml::de::from_str(text).map_err(|_| S3Error::malformed_xml())
}

/// Escapes text for XML character data and attribute values.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize)]
    struct Doc {
        #[serde(rename = "@xmlns")]
        xmlns: &'static str,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Item")]
        items: Vec<u32>,
    }

    #[derive(Deserialize, Debug)]
    struct In {
        #[serde(rename = "Part", default)]
        parts: Vec<Part>,
    }

    #[derive(Deserialize, Debug)]
    struct Part {
        #[serde(rename = "PartNumber")]
        number: u32,
    }

    impl Part {
        fn number(&self) -> u32 {
            self.number
        }
    }

    #[test]
    fn round_trip_shapes() {
        let s = to_string(
            "Root",
            &Doc {
                xmlns: S3_NS,
                name: "a&b".into(),
                items: vec![1, 2],
            },
        )
        .unwrap();
        assert!(s.starts_with("<?xml"));
        assert!(s.contains("<Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"));
        assert!(s.contains("<Name>a&amp;b</Name><Item>1</Item><Item>2</Item>"));
        let parsed: In = parse(
            b"<Complete><Part><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber></Part></Complete>",
        )
        .unwrap();
        assert_eq!(
            parsed.parts.iter().map(Part::number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(parse::<In>(b"<Complete><Part>").is_err());
    }
}
