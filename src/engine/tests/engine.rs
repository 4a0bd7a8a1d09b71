//! The engine's object-layer behaviour, one test per capability, with shrunk knobs.

mod common;

use common::*;
use stratum_core::{ChecksumAlgorithm, Tier};
use stratum_engine::{
    checksum_of, CompletedPart, CopyOptions, EngineError, ListParams, MetadataDirective,
    PutOptions, RangeSpec, TrailingChecksums, Usage,
};
use stratum_metadata::PutCondition;
use stratum_storage::VolumeKind;

fn dedicated_volumes(engine: &stratum_engine::Engine) -> usize {
    engine
        .storage()
        .volumes(Tier::Hot)
        .unwrap()
        .iter()
        .filter(|v| v.kind == VolumeKind::Dedicated)
        .count()
}

#[tokio::test]
async fn buckets_are_created_listed_and_deleted_only_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("photos");
    engine.create_bucket(&b).await.unwrap();
    assert!(matches!(
        engine.create_bucket(&b).await,
        Err(EngineError::BucketAlreadyOwnedByYou)
    ));
    engine.create_bucket(&bucket("another")).await.unwrap();
    let names: Vec<String> = engine
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, vec!["another", "photos"]);
    put(&engine, &b, "k", b"v").await;
    assert!(matches!(
        engine.delete_bucket(&b).await,
        Err(EngineError::BucketNotEmpty)
    ));
    engine
        .delete_object(&b, &key("k"), PutCondition::None)
        .await
        .unwrap();
    engine.delete_bucket(&b).await.unwrap();
    assert!(matches!(
        engine.delete_bucket(&b).await,
        Err(EngineError::NoSuchBucket)
    ));
    assert!(matches!(
        engine.head_bucket(&b).await,
        Err(EngineError::NoSuchBucket)
    ));
    assert!(matches!(
        engine
            .put_object(&b, &key("x"), body(b"x", 1), PutOptions::default())
            .await,
        Err(EngineError::NoSuchBucket)
    ));
}

#[tokio::test]
async fn objects_round_trip_whole_and_by_range_across_frame_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("data");
    engine.create_bucket(&b).await.unwrap();
    // Sizes around every threshold of the shrunk knobs: empty, one frame, the small-object
    // limit (8 KiB), medium frames (from 8 KiB), large frames (from 64 KiB).
    let sizes = [
        0usize, 1, 1023, 1024, 1025, 8191, 8192, 8193, 70_000, 300_000,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        for text in [true, false] {
            let data = data(size, i as u64, text);
            let name = format!("obj-{size}-{text}");
            let info = put(&engine, &b, &name, &data).await;
            assert_eq!(info.size, size as u64);
            assert_eq!(
                info.etag,
                md5_hex(&data),
                "ETag is the MD5 of the original bytes"
            );
            assert_eq!(get(&engine, &b, &name).await, data, "{name}");
            let head = engine.head_object(&b, &key(&name)).await.unwrap();
            assert_eq!(head.etag, info.etag);
            assert_eq!(head.size, size as u64);
            if size == 0 {
                continue;
            }
            for (first, last) in [
                (0, 0),
                (0, size as u64 - 1),
                (size as u64 / 3, size as u64 / 2),
                (size as u64 - 1, size as u64 + 100),
            ] {
                let got = get_range(&engine, &b, &name, first, last).await;
                let end = (last + 1).min(size as u64) as usize;
                assert_eq!(got, data[first as usize..end], "{name} {first}-{last}");
            }
            let suffix = engine
                .get_object(&b, &key(&name), Some(RangeSpec::Suffix(5)))
                .await
                .unwrap();
            assert_eq!(
                suffix.range,
                Some((size.saturating_sub(5) as u64, size as u64))
            );
            assert_eq!(read_all(suffix).await, data[size.saturating_sub(5)..]);
            assert!(matches!(
                engine
                    .get_object(&b, &key(&name), Some(RangeSpec::From(size as u64)))
                    .await,
                Err(EngineError::InvalidRange { .. })
            ));
        }
    }
    assert!(matches!(
        engine.get_object(&b, &key("missing"), None).await,
        Err(EngineError::NoSuchKey)
    ));
    assert!(matches!(
        engine.head_object(&bucket("nobucket"), &key("k")).await,
        Err(EngineError::NoSuchBucket)
    ));
}

#[tokio::test]
async fn checksums_are_computed_in_the_same_pass_and_bad_digests_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("sums");
    engine.create_bucket(&b).await.unwrap();
    for size in [100usize, 50_000] {
        let data = data(size, 7, true);
        let info = engine
            .put_object(
                &b,
                &key("k"),
                body(&data, 777),
                PutOptions {
                    checksum_algorithms: ChecksumAlgorithm::ALL.to_vec(),
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap();
        let expected: Vec<_> = ChecksumAlgorithm::ALL
            .iter()
            .map(|a| checksum_of(*a, &data))
            .collect();
        assert_eq!(info.checksums, expected);
        let good_version = info.etag.clone();

        // Content-MD5 and x-amz-checksum-* mismatches: BadDigest, old version intact.
        let other = data.iter().map(|b| b ^ 1).collect::<Vec<_>>();
        let before = dedicated_volumes(&engine);
        let bad_md5 = engine
            .put_object(
                &b,
                &key("k"),
                body(&other, 1000),
                PutOptions {
                    expected_md5: Some([0; 16]),
                    ..PutOptions::default()
                },
            )
            .await;
        assert!(matches!(
            bad_md5,
            Err(EngineError::BadDigest { algorithm: "MD5" })
        ));
        let bad_crc = engine
            .put_object(
                &b,
                &key("k"),
                body(&other, 1000),
                PutOptions {
                    expected_checksums: vec![checksum_of(ChecksumAlgorithm::Crc32c, &data)],
                    ..PutOptions::default()
                },
            )
            .await;
        assert!(matches!(
            bad_crc,
            Err(EngineError::BadDigest {
                algorithm: "CRC32C"
            })
        ));
        let good_crc = engine
            .put_object(
                &b,
                &key("k2"),
                body(&data, 1000),
                PutOptions {
                    expected_checksums: vec![checksum_of(ChecksumAlgorithm::Crc64Nvme, &data)],
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(good_crc.checksums.len(), 1);

        // A trailing checksum (aws-chunked trailer) is only known once the body has ended:
        // a wrong one stores nothing, a right one is stored.
        for (sent, ok) in [(&other, false), (&data, true)] {
            let slot = TrailingChecksums::new();
            let announced = checksum_of(ChecksumAlgorithm::Crc32, &data);
            let filled = slot.clone();
            let stream = futures::StreamExt::chain(
                body(sent, 1000),
                futures::stream::once(async move {
                    filled.set(vec![announced]);
                    Ok(bytes::Bytes::new())
                }),
            );
            let put = engine
                .put_object(
                    &b,
                    &key("trailed"),
                    Box::pin(stream),
                    PutOptions {
                        checksum_algorithms: vec![ChecksumAlgorithm::Crc32],
                        trailing_checksums: Some(slot),
                        ..PutOptions::default()
                    },
                )
                .await;
            if ok {
                assert_eq!(put.unwrap().checksums.len(), 1);
            } else {
                assert!(matches!(
                    put,
                    Err(EngineError::BadDigest { algorithm: "CRC32" })
                ));
                assert!(matches!(
                    engine.head_object(&b, &key("trailed")).await,
                    Err(EngineError::NoSuchKey)
                ));
            }
        }
        engine
            .delete_object(&b, &key("trailed"), PutCondition::None)
            .await
            .unwrap();
        assert_eq!(
            engine.head_object(&b, &key("k")).await.unwrap().etag,
            good_version
        );
        assert_eq!(get(&engine, &b, "k").await, data);
        engine
            .delete_object(&b, &key("k2"), PutCondition::None)
            .await
            .unwrap();
        assert_eq!(
            dedicated_volumes(&engine),
            before,
            "failed puts leak no volume"
        );
    }
}

#[tokio::test]
async fn broken_bodies_fail_cleanly_and_leave_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("broken");
    engine.create_bucket(&b).await.unwrap();
    let old = data(100_000, 1, true);
    put(&engine, &b, "k", &old).await;
    let volumes = dedicated_volumes(&engine);
    for size in [1000usize, 100_000] {
        // Announced length differs from the body.
        let short = engine
            .put_object(
                &b,
                &key("k"),
                body(&data(size, 2, true), 999),
                PutOptions {
                    content_length: Some(size as u64 + 1),
                    ..PutOptions::default()
                },
            )
            .await;
        assert!(
            matches!(short, Err(EngineError::IncompleteBody { .. })),
            "{short:?}"
        );
        // The client goes away mid-body.
        let chunks: Vec<std::io::Result<bytes::Bytes>> = vec![
            Ok(bytes::Bytes::from(data(size / 2, 3, false))),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "gone",
            )),
        ];
        let cut = engine
            .put_object(
                &b,
                &key("k"),
                futures::stream::iter(chunks),
                PutOptions::default(),
            )
            .await;
        assert!(matches!(cut, Err(EngineError::Body(_))), "{cut:?}");
    }
    assert_eq!(get(&engine, &b, "k").await, old);
    // The aborted dedicated volumes are deleted by their drop guards (on blocking threads).
    for _ in 0..100 {
        if dedicated_volumes(&engine) == volumes {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(dedicated_volumes(&engine), volumes, "no volume leaked");
}

#[tokio::test]
async fn conditional_writes_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("cond");
    engine.create_bucket(&b).await.unwrap();
    let opts = |c| PutOptions {
        condition: c,
        ..PutOptions::default()
    };
    let first = engine
        .put_object(
            &b,
            &key("k"),
            body(b"one", 2),
            opts(PutCondition::IfNoneMatch),
        )
        .await
        .unwrap();
    assert!(matches!(
        engine
            .put_object(
                &b,
                &key("k"),
                body(b"two", 2),
                opts(PutCondition::IfNoneMatch)
            )
            .await,
        Err(EngineError::PreconditionFailed)
    ));
    assert!(matches!(
        engine
            .put_object(
                &b,
                &key("k"),
                body(b"two", 2),
                opts(PutCondition::IfMatch("nope".into()))
            )
            .await,
        Err(EngineError::PreconditionFailed)
    ));
    engine
        .put_object(
            &b,
            &key("k"),
            body(b"two", 2),
            opts(PutCondition::IfMatch(first.etag)),
        )
        .await
        .unwrap();
    assert_eq!(get(&engine, &b, "k").await, b"two");
    assert!(matches!(
        engine
            .delete_object(&b, &key("k"), PutCondition::IfMatch("nope".into()))
            .await,
        Err(EngineError::PreconditionFailed)
    ));
    assert!(engine
        .delete_object(&b, &key("k"), PutCondition::None)
        .await
        .unwrap());
    assert!(!engine
        .delete_object(&b, &key("k"), PutCondition::None)
        .await
        .unwrap());
    assert!(matches!(
        engine
            .delete_object(&bucket("nobucket"), &key("k"), PutCondition::None)
            .await,
        Err(EngineError::NoSuchBucket)
    ));
}

#[tokio::test]
async fn large_objects_get_dedicated_volumes_freed_on_delete_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("big");
    engine.create_bucket(&b).await.unwrap();
    let before = dedicated_volumes(&engine);
    put(&engine, &b, "a", &data(200_000, 1, true)).await;
    put(&engine, &b, "small", &data(2000, 1, true)).await;
    assert_eq!(
        dedicated_volumes(&engine),
        before + 1,
        "only the large object is dedicated"
    );
    put(&engine, &b, "a", &data(150_000, 2, false)).await;
    assert_eq!(
        dedicated_volumes(&engine),
        before + 1,
        "the overwritten volume is freed"
    );
    engine
        .delete_object(&b, &key("a"), PutCondition::None)
        .await
        .unwrap();
    assert_eq!(dedicated_volumes(&engine), before);
}

#[tokio::test]
async fn copies_keep_bytes_and_etag_and_can_replace_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let (src, dst) = (bucket("src"), bucket("dst"));
    engine.create_bucket(&src).await.unwrap();
    engine.create_bucket(&dst).await.unwrap();
    for (name, size) in [("small", 3000usize), ("large", 120_000)] {
        let data = data(size, 9, true);
        let info = engine
            .put_object(
                &src,
                &key(name),
                body(&data, 4096),
                PutOptions {
                    content_type: Some("text/plain".into()),
                    user_metadata: vec![("colour".into(), "blue".into())],
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap();
        let copy = engine
            .copy_object(&src, &key(name), &dst, &key("copy"), CopyOptions::default())
            .await
            .unwrap();
        assert_eq!(copy.etag, info.etag);
        assert_eq!(copy.content_type.as_deref(), Some("text/plain"));
        assert_eq!(get(&engine, &dst, "copy").await, data);
        // The copy is independent of its source.
        engine
            .delete_object(&src, &key(name), PutCondition::None)
            .await
            .unwrap();
        assert_eq!(get(&engine, &dst, "copy").await, data);
        // Copy onto itself with new metadata.
        let replaced = engine
            .copy_object(
                &dst,
                &key("copy"),
                &dst,
                &key("copy"),
                CopyOptions {
                    metadata: MetadataDirective::Replace {
                        content_type: Some("application/json".into()),
                        headers: vec![],
                        user_metadata: vec![("colour".into(), "red".into())],
                    },
                    ..CopyOptions::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            replaced.user_metadata,
            vec![("colour".into(), "red".into())]
        );
        let head = engine.head_object(&dst, &key("copy")).await.unwrap();
        assert_eq!(head.content_type.as_deref(), Some("application/json"));
        assert_eq!(get(&engine, &dst, "copy").await, data);
    }
    put(&engine, &src, "s", b"abc").await;
    assert!(matches!(
        engine
            .copy_object(
                &src,
                &key("s"),
                &dst,
                &key("t"),
                CopyOptions {
                    source_etag: Some("0000".into()),
                    ..CopyOptions::default()
                }
            )
            .await,
        Err(EngineError::PreconditionFailed)
    ));
    assert!(matches!(
        engine
            .copy_object(
                &src,
                &key("missing"),
                &dst,
                &key("t"),
                CopyOptions::default()
            )
            .await,
        Err(EngineError::NoSuchKey)
    ));
}

#[tokio::test]
async fn listing_with_prefix_and_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("list");
    engine.create_bucket(&b).await.unwrap();
    for k in ["a/1", "a/2", "b", "c/d/e", "c/x", "é"] {
        put(&engine, &b, k, k.as_bytes()).await;
    }
    let page = engine
        .list_objects(
            &b,
            ListParams {
                prefix: String::new(),
                delimiter: Some("/".into()),
                start_after: None,
                max_keys: 1000,
            },
        )
        .await
        .unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["b", "é"]);
    assert_eq!(page.common_prefixes, vec!["a/", "c/"]);
    let page = engine
        .list_objects(
            &b,
            ListParams {
                prefix: "c/".into(),
                delimiter: None,
                start_after: None,
                max_keys: 1,
            },
        )
        .await
        .unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.objects[0].0.as_str(), "c/d/e");
    assert!(matches!(
        engine
            .list_objects(
                &bucket("nobucket"),
                ListParams {
                    prefix: String::new(),
                    delimiter: None,
                    start_after: None,
                    max_keys: 10
                }
            )
            .await,
        Err(EngineError::NoSuchBucket)
    ));
}

#[tokio::test]
async fn multipart_uploads_stitch_parts_without_copying() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("mpu");
    engine.create_bucket(&b).await.unwrap();
    let k = key("big");
    const MIB: usize = 1024 * 1024;
    let parts_data = [
        data(5 * MIB, 1, true),
        data(5 * MIB, 2, false),
        data(1234, 3, true),
    ];
    let upload = engine
        .create_multipart_upload(
            &b,
            &k,
            PutOptions {
                content_type: Some("video/mp4".into()),
                checksum_algorithms: vec![ChecksumAlgorithm::Crc32c],
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    let id = upload.upload_id.clone();
    // Part 2 is first uploaded with other bytes, then replaced.
    engine
        .upload_part(
            &b,
            &k,
            &id,
            2,
            body(&data(5 * MIB, 99, true), 65536),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let mut etags = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        let part = engine
            .upload_part(
                &b,
                &k,
                &id,
                i as u32 + 1,
                body(d, 65536),
                PutOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(part.etag, md5_hex(d));
        etags.push(part.etag);
    }
    let listed = engine.list_parts(&b, &k, &id, 0, 2).await.unwrap();
    assert_eq!(listed.parts.len(), 2);
    assert!(listed.is_truncated);
    let uploads = engine
        .list_multipart_uploads(&b, "", None, 10)
        .await
        .unwrap();
    assert_eq!(uploads.uploads.len(), 1);
    assert!(matches!(
        engine.delete_bucket(&b).await,
        Err(EngineError::BucketNotEmpty)
    ));

    let completed = |nums: &[u32], etags: &[String]| -> Vec<CompletedPart> {
        nums.iter()
            .zip(etags)
            .map(|(n, e)| CompletedPart {
                part_number: *n,
                etag: format!("\"{e}\""),
            })
            .collect()
    };
    assert!(matches!(
        engine
            .complete_multipart_upload(&b, &k, &id, completed(&[2, 1], &etags), PutCondition::None)
            .await,
        Err(EngineError::InvalidPartOrder)
    ));
    assert!(matches!(
        engine
            .complete_multipart_upload(
                &b,
                &k,
                &id,
                completed(&[1, 2], &[etags[1].clone(), etags[1].clone()]),
                PutCondition::None
            )
            .await,
        Err(EngineError::InvalidPart { part_number: 1 })
    ));
    assert!(matches!(
        engine
            .complete_multipart_upload(
                &b,
                &k,
                &id,
                completed(
                    &[1, 3, 2],
                    &[etags[0].clone(), etags[2].clone(), etags[1].clone()]
                ),
                PutCondition::None
            )
            .await,
        Err(EngineError::InvalidPartOrder)
    ));
    let info = engine
        .complete_multipart_upload(
            &b,
            &k,
            &id,
            completed(&[1, 2, 3], &etags),
            PutCondition::None,
        )
        .await
        .unwrap();
    let mut md5s = Vec::new();
    for e in &etags {
        md5s.extend(hex::decode(e).unwrap());
    }
    assert_eq!(info.etag, format!("{}-3", md5_hex(&md5s)));
    assert_eq!(info.part_sizes, vec![5 * MIB as u64, 5 * MIB as u64, 1234]);
    assert_eq!(info.content_type.as_deref(), Some("video/mp4"));
    let mut joined = Vec::new();
    for d in &parts_data {
        joined.extend(checksum_of(ChecksumAlgorithm::Crc32c, d).digest);
    }
    assert_eq!(
        info.checksums,
        vec![checksum_of(ChecksumAlgorithm::Crc32c, &joined)]
    );
    let whole: Vec<u8> = parts_data.concat();
    assert_eq!(get(&engine, &b, "big").await, whole);
    let (first, last) = (5 * MIB as u64 - 10, 5 * MIB as u64 + 10);
    assert_eq!(
        get_range(&engine, &b, "big", first, last).await,
        whole[first as usize..=last as usize]
    );
    assert!(matches!(
        engine.list_parts(&b, &k, &id, 0, 10).await,
        Err(EngineError::NoSuchUpload)
    ));

    // A small non-last part is refused; abort frees everything.
    let up = engine
        .create_multipart_upload(&b, &k, PutOptions::default())
        .await
        .unwrap();
    let before = dedicated_volumes(&engine);
    let p1 = engine
        .upload_part(
            &b,
            &k,
            &up.upload_id,
            1,
            body(&data(100_000, 5, true), 9999),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let p2 = engine
        .upload_part(
            &b,
            &k,
            &up.upload_id,
            2,
            body(b"tail", 4),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert!(matches!(
        engine
            .complete_multipart_upload(
                &b,
                &k,
                &up.upload_id,
                completed(&[1, 2], &[p1.etag, p2.etag]),
                PutCondition::None
            )
            .await,
        Err(EngineError::EntityTooSmall { part_number: 1 })
    ));
    assert_eq!(dedicated_volumes(&engine), before + 1);
    engine
        .abort_multipart_upload(&b, &k, &up.upload_id)
        .await
        .unwrap();
    assert_eq!(
        dedicated_volumes(&engine),
        before,
        "aborted parts are freed"
    );
    assert!(matches!(
        engine.abort_multipart_upload(&b, &k, &up.upload_id).await,
        Err(EngineError::NoSuchUpload)
    ));
    // The completed object survives all of that.
    assert_eq!(get(&engine, &b, "big").await.len(), whole.len());
}

#[tokio::test]
async fn lost_disk_and_corrupt_pieces_are_served_from_parity_and_scrubbed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("heal");
    engine.create_bucket(&b).await.unwrap();
    let mut objects = Vec::new();
    for i in 0..20 {
        let d = data(500 + i * 7000, i as u64, i % 2 == 0);
        put(&engine, &b, &format!("o{i}"), &d).await;
        objects.push(d);
    }
    // Lose one disk entirely and flip bytes in every shard file of another.
    std::fs::remove_dir_all(dir.path().join("hot/d2")).unwrap();
    for f in shard_files(dir.path())
        .iter()
        .filter(|p| p.starts_with(dir.path().join("hot/d4")))
    {
        let mut bytes = std::fs::read(f).unwrap();
        let len = bytes.len();
        for i in (len / 2..len).step_by(97) {
            bytes[i] ^= 0x5a;
        }
        std::fs::write(f, bytes).unwrap();
    }
    for (i, d) in objects.iter().enumerate() {
        assert_eq!(
            &get(&engine, &b, &format!("o{i}")).await,
            d,
            "o{i} served intact"
        );
    }
    let report = engine.scrub(Tier::Hot).await.unwrap();
    assert!(report.pieces_lost > 0);
    assert!(report.stripes_unrecoverable.is_empty());
    let again = engine.scrub(Tier::Hot).await.unwrap();
    assert_eq!(again.pieces_lost, 0, "scrub repaired everything: {again:?}");
    for (i, d) in objects.iter().enumerate() {
        assert_eq!(&get(&engine, &b, &format!("o{i}")).await, d);
    }
}

#[tokio::test]
async fn compaction_reclaims_mostly_dead_shared_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("compact");
    engine.create_bucket(&b).await.unwrap();
    let mut kept = Vec::new();
    for i in 0..200 {
        let d = data(3000, i, true);
        put(&engine, &b, &format!("k{i:03}"), &d).await;
        if i % 10 == 0 {
            kept.push((format!("k{i:03}"), d));
        }
    }
    for i in 0..200 {
        if i % 10 != 0 {
            engine
                .delete_object(&b, &key(&format!("k{i:03}")), PutCondition::None)
                .await
                .unwrap();
        }
    }
    engine.storage().seal_active(Tier::Hot).unwrap();
    let shared_before = engine.storage().volumes(Tier::Hot).unwrap().len();
    let report = engine.compact(Tier::Hot).await.unwrap();
    assert!(report.volumes_deleted > 0, "{report:?}");
    assert!(report.objects_moved > 0);
    assert!(engine.storage().volumes(Tier::Hot).unwrap().len() < shared_before + 1);
    for (k, d) in &kept {
        assert_eq!(&get(&engine, &b, k).await, d);
    }
    // The compacted store still rebuilds to the same listing (tombstones were carried).
    let report = engine.rebuild_index().await.unwrap();
    assert_eq!(report.objects, kept.len());
    for (k, d) in &kept {
        assert_eq!(&get(&engine, &b, k).await, d);
    }
    assert!(matches!(
        engine.head_object(&b, &key("k001")).await,
        Err(EngineError::NoSuchKey)
    ));
}

#[tokio::test]
async fn a_read_that_reconstructs_schedules_the_repair() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("heal");
    engine.create_bucket(&b).await.unwrap();
    let d = data(200_000, 3, false);
    put(&engine, &b, "big", &d).await;
    // Damage the data region of one shard file of the object's dedicated volume.
    let info = engine
        .metadata()
        .get_object(&b, &key("big"))
        .unwrap()
        .unwrap();
    let stripe = &info.location.extents[0].stripe;
    let path = engine
        .storage()
        .shard_path(Tier::Hot, stripe.volume, 0)
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = (stripe.offset + 80 + 10) as usize;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    // The read is served from parity and queues the stripe for the healer.
    assert_eq!(get(&engine, &b, "big").await, d);
    let mut healed = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let read = engine.storage().read_stripe(Tier::Hot, stripe).unwrap();
        if !read.reconstructed {
            healed = true;
            break;
        }
    }
    assert!(healed, "the healer rewrote the damaged piece");
    assert_eq!(engine.scrub(Tier::Hot).await.unwrap().pieces_lost, 0);
}

#[tokio::test]
async fn usage_totals_follow_puts_overwrites_deletes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("usage");
    engine.create_bucket(&b).await.unwrap();
    assert_eq!(engine.usage(), Usage::default());
    put(&engine, &b, "a", &data(1000, 1, true)).await;
    put(&engine, &b, "b", &data(5_000_000, 2, false)).await;
    assert_eq!(engine.usage().objects, 2);
    assert_eq!(engine.usage().logical_bytes, 5_001_000);
    // An overwrite changes bytes, not the count.
    put(&engine, &b, "a", &data(10, 3, true)).await;
    assert_eq!(engine.usage().logical_bytes, 5_000_010);
    engine
        .delete_object(&b, &key("b"), PutCondition::None)
        .await
        .unwrap();
    // Deleting a missing key changes nothing.
    engine
        .delete_object(&b, &key("b"), PutCondition::None)
        .await
        .unwrap();
    assert_eq!(
        engine.usage(),
        Usage {
            objects: 1,
            logical_bytes: 10,
            tier_objects: [1, 0, 0],
            tier_logical_bytes: [10, 0, 0],
        }
    );
    drop(engine);
    let engine = open(dir.path()).await;
    assert_eq!(
        engine.usage(),
        Usage {
            objects: 1,
            logical_bytes: 10,
            tier_objects: [1, 0, 0],
            tier_logical_bytes: [10, 0, 0],
        }
    );
}
