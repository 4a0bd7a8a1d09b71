//! Access tracking through the API: GET, range GET and HEAD update the object's statistics
//! in memory (nothing is written per request), a failed or untracked request does not, and
//! a flush persists them to the engine's metadata store.

use stratum_core::{BucketName, ObjectKey};

use crate::common::Harness;

#[tokio::test]
async fn get_range_get_and_head_update_the_stats() {
    let h = Harness::with_tracker().await;
    let tracker = h.tracker.clone().expect("a tracker");
    h.create_bucket("trk").await;
    let data = vec![7u8; 1000];
    h.put("trk", "obj", &data).await;
    let (b, k) = (
        BucketName::new("trk").unwrap(),
        ObjectKey::new("obj").unwrap(),
    );
    assert_eq!(tracker.stats(&b, &k).unwrap(), None);

    let r = h.call("GET", "/trk/obj", b"").await.ok();
    assert_eq!(r.body.len(), 1000);
    let r = h
        .call_with("GET", "/trk/obj", &[("range", "bytes=100-199")], b"")
        .await;
    assert_eq!(r.status.as_u16(), 206);
    h.call("HEAD", "/trk/obj", b"").await.ok();

    let s = tracker.stats(&b, &k).unwrap().expect("stats");
    assert_eq!(s.gets, 2);
    assert_eq!(s.heads, 1);
    assert_eq!(s.bytes_read, 1000 + 100, "a range GET counts its range");
    assert_eq!(s.size, 1000);
    assert!(
        s.last_access_s.is_some_and(|t| t > 1.0e9),
        "wall-clock seconds"
    );
    assert!(s.last_head_s.is_some());

    // A missing object is not tracked.
    h.call("GET", "/trk/missing", b"")
        .await
        .err(404, "NoSuchKey");
    assert_eq!(
        tracker
            .stats(&b, &ObjectKey::new("missing").unwrap())
            .unwrap(),
        None
    );

    // In memory only until a flush, which persists them in the engine's metadata store.
    assert_eq!(h.engine.metadata().get_access(&b, &k).unwrap(), None);
    assert_eq!(tracker.flush().unwrap().written, 1);
    assert!(h.engine.metadata().get_access(&b, &k).unwrap().is_some());
}

#[tokio::test]
async fn an_untracked_service_still_serves_reads() {
    let h = Harness::new().await;
    assert!(h.tracker.is_none());
    h.create_bucket("plain").await;
    h.put("plain", "obj", b"hello").await;
    let r = h.call("GET", "/plain/obj", b"").await.ok();
    assert_eq!(&r.body[..], b"hello");
}
