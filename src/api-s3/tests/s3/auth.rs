//! Authentication at the door: anonymous requests, wrong secrets, unknown keys, and
//! `UNSIGNED-PAYLOAD` bodies.

use crate::common::{self, Harness, Payload, ACCESS_KEY};

#[tokio::test]
async fn anonymous_request_is_access_denied() {
    let h = Harness::new().await;
    let resp = h.send(common::unsigned("GET", "/", &[], b"")).await;
    resp.err(403, "AccessDenied");
    let resp = h
        .send(common::unsigned("PUT", "/anon-bucket", &[], b""))
        .await;
    resp.err(403, "AccessDenied");
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let h = Harness::new().await;
    let req = common::sign_with("GET", "/", &[], b"", Payload::Signed, "not-the-secret");
    h.send(req).await.err(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn unknown_access_key_is_invalid_access_key_id() {
    let h = Harness::new().await;
    let mut req = common::signed("GET", "/", &[], b"");
    let auth = req.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace(ACCESS_KEY, "AKIAUNKNOWNKEY000000");
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    h.send(req).await.err(403, "InvalidAccessKeyId");
}

#[tokio::test]
async fn unsigned_payload_is_accepted() {
    let h = Harness::new().await;
    let req = common::signed_unsigned_payload("PUT", "/unsigned-payload", &[], b"");
    h.send(req).await.ok();
    let body = b"<Delete><Object><Key>k</Key></Object></Delete>";
    let md5 = common::content_md5(body);
    let req = common::signed_unsigned_payload(
        "POST",
        "/unsigned-payload?delete",
        &[("content-md5", &md5)],
        body,
    );
    let resp = h.send(req).await.ok();
    assert!(
        resp.text().contains("<Deleted><Key>k</Key></Deleted>"),
        "{}",
        resp.text()
    );
}
