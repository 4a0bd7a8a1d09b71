//! End to end with awscli (v1 from PyPI, default settings: its botocore sends CRC checksums
//! in aws-chunked trailers, as awscli v2 does) against the real `stratum` binary.
//!
//! One server for the file; each step uses its own bucket and runs even if an earlier one
//! failed (`run_steps`).

use std::path::Path;
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};
use serde_json::Value;
use stratum_workspace_tests::fs::{
    assert_files_equal, assert_trees_equal, list_files, random_bytes, text_bytes, write,
};
use stratum_workspace_tests::{aws, aws_with_env, http, run_steps, Server};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn head_object(server: &Server, bucket: &str, key: &str) -> Value {
    let out = aws(
        server,
        &["s3api", "head-object", "--bucket", bucket, "--key", key],
    );
    serde_json::from_str(out.ok())
        .unwrap_or_else(|e| panic!("head-object JSON: {e}\n{}", out.describe()))
}

fn mb(server: &Server, bucket: &str) {
    aws(server, &["s3", "mb", &format!("s3://{bucket}")]).ok();
}

fn small_objects_up_and_down(server: &Server) {
    let bucket = "cli-small";
    mb(server, bucket);
    let dir = server.scratch("small");
    let up = dir.join("hello.txt");
    let body = text_bytes(1, 10_000);
    write(&up, &body);
    aws(
        server,
        &["s3", "cp", p(&up), &format!("s3://{bucket}/dir/hello.txt")],
    )
    .ok();
    let down = dir.join("back.txt");
    aws(
        server,
        &[
            "s3",
            "cp",
            &format!("s3://{bucket}/dir/hello.txt"),
            p(&down),
        ],
    )
    .ok();
    assert_files_equal(&up, &down);

    let head = head_object(server, bucket, "dir/hello.txt");
    assert_eq!(
        head["ContentLength"],
        body.len() as u64,
        "head-object: {head}"
    );
    let md5 = hex::encode(Md5::digest(&body));
    assert_eq!(
        head["ETag"],
        format!("\"{md5}\""),
        "single-part ETag is the MD5: {head}"
    );

    // An empty object.
    let empty = dir.join("empty");
    write(&empty, b"");
    aws(
        server,
        &["s3", "cp", p(&empty), &format!("s3://{bucket}/empty")],
    )
    .ok();
    let empty_back = dir.join("empty-back");
    aws(
        server,
        &["s3", "cp", &format!("s3://{bucket}/empty"), p(&empty_back)],
    )
    .ok();
    assert_files_equal(&empty, &empty_back);
    let head = head_object(server, bucket, "empty");
    assert_eq!(head["ContentLength"], 0, "head-object: {head}");
}

fn multipart_70_mib(server: &Server) {
    let bucket = "cli-big";
    mb(server, bucket);
    let dir = server.scratch("big");
    let up = dir.join("big.bin");
    let body = random_bytes(70, 70 << 20);
    write(&up, &body);
    let sha_up = hex::encode(sha2::Sha256::digest(&body));
    drop(body);
    aws(
        server,
        &["s3", "cp", p(&up), &format!("s3://{bucket}/big.bin")],
    )
    .ok();
    let head = head_object(server, bucket, "big.bin");
    assert_eq!(head["ContentLength"], 70u64 << 20, "head-object: {head}");
    // awscli's default: 8 MiB parts above an 8 MiB threshold, so 9 parts.
    let etag = head["ETag"].as_str().unwrap_or_default();
    assert!(
        etag.ends_with("-9\""),
        "a 70 MiB awscli upload is 9 parts; ETag {etag}"
    );

    let down = dir.join("big-back.bin");
    aws(
        server,
        &["s3", "cp", &format!("s3://{bucket}/big.bin"), p(&down)],
    )
    .ok();
    let sha_down = hex::encode(sha2::Sha256::digest(std::fs::read(&down).unwrap()));
    assert_eq!(sha_up, sha_down, "SHA-256 of the 70 MiB download");
    assert_files_equal(&up, &down);
}

fn make_tree(root: &Path) {
    write(&root.join("a.txt"), &text_bytes(2, 3000));
    write(&root.join("b/c.txt"), &text_bytes(3, 100));
    write(&root.join("b/d/e.bin"), &random_bytes(4, 300_000));
    write(&root.join("b/d/empty"), b"");
    write(&root.join("with space/ü ñ 日本.txt"), &text_bytes(5, 777));
    write(&root.join("mid.bin"), &random_bytes(6, 5 << 20));
}

/// Sets the mtime of every file under `root` to `age` ago.
fn age_files(root: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    for rel in list_files(root).keys() {
        let f = std::fs::File::options()
            .write(true)
            .open(root.join(rel))
            .unwrap();
        f.set_modified(when).unwrap();
    }
}

fn sync_up_and_down(server: &Server) {
    let bucket = "cli-sync";
    mb(server, bucket);
    let dir = server.scratch("sync");
    let src = dir.join("src");
    make_tree(&src);
    // awscli's sync uploads when the local mtime is later than the object's LastModified;
    // files written in the second of their upload would race that (as with AWS), so date them
    // an hour back.
    age_files(&src, Duration::from_secs(3600));
    let url = format!("s3://{bucket}/tree");
    let first = aws(server, &["s3", "sync", p(&src), &url]);
    assert!(first.ok().contains("upload:"), "{}", first.describe());
    let second = aws(server, &["s3", "sync", p(&src), &url]);
    assert_eq!(
        second.ok().trim(),
        "",
        "a second sync uploads nothing:\n{}",
        second.describe()
    );

    let dst = dir.join("dst");
    aws(server, &["s3", "sync", &url, p(&dst)]).ok();
    assert_trees_equal(&src, &dst);
    let again = aws(server, &["s3", "sync", &url, p(&dst)]);
    assert_eq!(
        again.ok().trim(),
        "",
        "a second sync down downloads nothing:\n{}",
        again.describe()
    );

    // A changed file syncs again, and only it.
    write(&src.join("b/c.txt"), &text_bytes(7, 200));
    let third = aws(server, &["s3", "sync", p(&src), &url]);
    let lines: Vec<&str> = third
        .ok()
        .lines()
        .filter(|l| l.contains("upload:"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "only the changed file uploads:\n{}",
        third.describe()
    );

    // sync --delete removes what the source no longer has; mv moves within the bucket.
    std::fs::remove_file(src.join("a.txt")).unwrap();
    let fourth = aws(server, &["s3", "sync", "--delete", p(&src), &url]);
    assert!(
        fourth.ok().contains("delete: s3://cli-sync/tree/a.txt"),
        "{}",
        fourth.describe()
    );
    aws(
        server,
        &[
            "s3",
            "mv",
            &format!("{url}/mid.bin"),
            &format!("{url}/moved/mid.bin"),
        ],
    )
    .ok();
    let ls = aws(
        server,
        &["s3", "ls", "--recursive", &format!("s3://{bucket}/")],
    );
    let listing = ls.ok();
    assert!(
        !listing.contains("tree/a.txt")
            && !listing.contains("tree/mid.bin")
            && listing.contains("tree/moved/mid.bin"),
        "after sync --delete and mv:\n{}",
        ls.describe()
    );
    let moved = dir.join("moved.bin");
    aws(
        server,
        &["s3", "cp", &format!("{url}/moved/mid.bin"), p(&moved)],
    )
    .ok();
    assert_files_equal(&src.join("mid.bin"), &moved);
}

fn ls_and_rm_recursive(server: &Server) {
    let bucket = "cli-ls";
    mb(server, bucket);
    let dir = server.scratch("ls");
    let src = dir.join("src");
    make_tree(&src);
    aws(
        server,
        &[
            "s3",
            "cp",
            "--recursive",
            p(&src),
            &format!("s3://{bucket}/"),
        ],
    )
    .ok();
    let ls = aws(
        server,
        &["s3", "ls", "--recursive", &format!("s3://{bucket}/")],
    );
    // `ls` prints "DATE TIME SIZE KEY"; the key may hold spaces, so take what follows SIZE.
    let mut keys: Vec<String> = ls
        .ok()
        .lines()
        .filter_map(|l| {
            let mut rest = l.trim_start();
            for _ in 0..3 {
                rest = rest[rest.find(char::is_whitespace)?..].trim_start();
            }
            Some(rest.to_string())
        })
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    let mut expected = vec![
        "a.txt",
        "b/c.txt",
        "b/d/e.bin",
        "b/d/empty",
        "mid.bin",
        "with space/ü ñ 日本.txt",
    ];
    expected.sort();
    assert_eq!(keys, expected, "{}", ls.describe());

    // Non-recursive ls shows the common prefixes.
    let top = aws(server, &["s3", "ls", &format!("s3://{bucket}/")]);
    assert!(
        top.ok().contains("PRE b/") && top.ok().contains("PRE with space/"),
        "{}",
        top.describe()
    );

    aws(
        server,
        &["s3", "rm", "--recursive", &format!("s3://{bucket}/b/")],
    )
    .ok();
    let ls = aws(
        server,
        &["s3", "ls", "--recursive", &format!("s3://{bucket}/")],
    );
    assert!(
        !ls.ok().contains("b/"),
        "b/ was removed:\n{}",
        ls.describe()
    );
    aws(
        server,
        &["s3", "rm", "--recursive", &format!("s3://{bucket}/")],
    )
    .ok();
    let ls = aws(
        server,
        &["s3", "ls", "--recursive", &format!("s3://{bucket}/")],
    );
    assert_eq!(
        ls.stdout.trim(),
        "",
        "the bucket is empty:\n{}",
        ls.describe()
    );
    aws(server, &["s3", "rb", &format!("s3://{bucket}")]).ok();
    let buckets = aws(server, &["s3", "ls"]);
    assert!(!buckets.ok().contains(bucket), "{}", buckets.describe());
}

fn presigned_get(server: &Server) {
    let bucket = "cli-presign";
    mb(server, bucket);
    let dir = server.scratch("presign");
    let up = dir.join("obj.bin");
    let body = random_bytes(8, 1_000_003);
    write(&up, &body);
    aws(
        server,
        &[
            "s3",
            "cp",
            p(&up),
            &format!("s3://{bucket}/some dir/obj+1.bin"),
        ],
    )
    .ok();
    // awscli v1 presigns with SigV2 by default; Stratum verifies those too.
    let url = aws(
        server,
        &[
            "s3",
            "presign",
            &format!("s3://{bucket}/some dir/obj+1.bin"),
        ],
    );
    let url = url.ok().trim().to_string();
    assert!(
        url.contains("AWSAccessKeyId="),
        "a SigV2 presigned URL: {url}"
    );
    let resp = http::get_url(&url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(
        resp.status,
        200,
        "SigV2 presigned GET {url}:\n{}",
        resp.describe()
    );
    assert!(
        resp.body == body,
        "SigV2 presigned GET returned other bytes"
    );
    // awscli v2 presigns with SigV4, as does v1 told `s3.signature_version = s3v4`.
    let config = dir.join("aws-config-s3v4");
    write(&config, b"[default]\ns3 =\n    signature_version = s3v4\n");
    let env = [("AWS_CONFIG_FILE", p(&config))];
    let url = aws_with_env(
        server,
        &[
            "s3",
            "presign",
            &format!("s3://{bucket}/some dir/obj+1.bin"),
        ],
        &env,
    );
    let url = url.ok().trim().to_string();
    let resp = http::get_url(&url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(
        resp.status,
        200,
        "presigned GET {url}:\n{}",
        resp.describe()
    );
    assert!(
        resp.body == body,
        "presigned GET returned other bytes ({} bytes)",
        resp.body.len()
    );

    assert!(
        url.contains("X-Amz-Signature="),
        "a SigV4 presigned URL: {url}"
    );
    let short = aws_with_env(
        server,
        &[
            "s3",
            "presign",
            "--expires-in",
            "1",
            &format!("s3://{bucket}/some dir/obj+1.bin"),
        ],
        &env,
    );
    let short = short.ok().trim().to_string();
    std::thread::sleep(Duration::from_secs(2));
    let resp = http::get_url(&short).unwrap();
    assert_eq!(
        resp.status,
        403,
        "expired presigned GET {short}:\n{}",
        resp.describe()
    );
    assert!(
        resp.body_text().contains("<Code>AccessDenied</Code>"),
        "expired presigned GET:\n{}",
        resp.describe()
    );
}

fn admin_key_while_running(server: &Server) {
    let (ak, sk) = (
        "E2EADMINKEY000000001",
        "e2e-admin-secret-key-0123456789abcdefghij",
    );
    server.admin_key_create(ak, sk);
    let bucket = "cli-second-key";
    let env = [("AWS_ACCESS_KEY_ID", ak), ("AWS_SECRET_ACCESS_KEY", sk)];
    aws_with_env(server, &["s3", "mb", &format!("s3://{bucket}")], &env).ok();
    let ls = aws_with_env(server, &["s3", "ls"], &env);
    assert!(ls.ok().contains(bucket), "{}", ls.describe());
}

/// awscli v1 vendors a botocore (< 1.44) that, after a PUT with `Expect: 100-continue`
/// answered without `100 Continue` (hyper sends none for an empty body), parses the next
/// response on that pooled connection against the stale status line and stalls for its 60 s
/// read timeout before a silent retry (boto/botocore#3755). AWS sends `100 Continue` anyway;
/// a server that does not has to close such a connection. One worker thread makes the
/// connection reuse certain; a 5 s read timeout and no retries make the stall an error.
fn empty_file_then_another_on_one_connection(server: &Server) {
    let bucket = "cli-expect";
    mb(server, bucket);
    let dir = server.scratch("expect");
    let src = dir.join("src");
    write(&src.join("a-empty"), b"");
    write(&src.join("b-data"), &random_bytes(9, 100_000));
    write(&src.join("c-data"), &random_bytes(10, 1000));
    let config = dir.join("aws-config-one-thread");
    write(
        &config,
        b"[default]\nmax_attempts = 1\ns3 =\n    max_concurrent_requests = 1\n",
    );
    let env = [("AWS_CONFIG_FILE", p(&config))];
    // Three rounds: the reuse is certain with one worker, but cheap to make doubly sure.
    for round in 0..3 {
        let started = std::time::Instant::now();
        let run = aws_with_env(
            server,
            &[
                "--cli-read-timeout",
                "5",
                "s3",
                "cp",
                "--recursive",
                p(&src),
                &format!("s3://{bucket}/round{round}/"),
            ],
            &env,
        );
        assert!(
            run.success(),
            "after an empty file, the next upload on the same connection failed after {:.1?} \
             (botocore#3755: the server answered an `Expect: 100-continue` PUT without \
             `100 Continue` and kept the connection open):\n{}",
            started.elapsed(),
            run.describe()
        );
    }
}

#[test]
fn awscli() {
    let server = Server::start();
    let version = aws(&server, &["--version"]);
    eprintln!("{}", version.ok().trim());
    run_steps(
        &server,
        &[
            (
                "small objects up and down, head-object",
                &small_objects_up_and_down,
            ),
            ("70 MiB multipart up and down", &multipart_70_mib),
            ("sync up and down, idempotent", &sync_up_and_down),
            ("ls --recursive, rm --recursive, rb", &ls_and_rm_recursive),
            ("presigned GET, expired presigned GET", &presigned_get),
            (
                "a key created while the server runs",
                &admin_key_while_running,
            ),
            (
                "an empty file, then another upload on the same connection",
                &empty_file_then_another_on_one_connection,
            ),
        ],
    );
}
