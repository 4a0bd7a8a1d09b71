//! End to end with boto3 (default settings) against the real `stratum` binary: the suite is
//! one Python script, `tests/e2e/boto3_suite.py`, that exits non-zero with a message at its
//! first failure; this test runs it and asserts it passed.
//!
//! Its sections: the transfer manager (multipart upload_file/download_file), listing
//! pagination over more than 1000 keys (with and without a delimiter), DeleteObjects of 1000
//! keys, ranged GETs, CopyObject and UploadPartCopy, special-character and Unicode keys,
//! checksums (CRC32 by default, SHA256, CRC32C) and error codes.

use stratum_workspace_tests::{python, python_with_env, venv_dir, Server};

#[test]
fn boto3_suite() {
    let server = Server::start();
    let run = python(&server, "boto3_suite.py", &[] as &[&str]);
    eprintln!("{}", run.stdout);
    run.ok();
}

/// ChecksumAlgorithm CRC32C needs awscrt, which also changes botocore's signer; it runs in its
/// own process with `<venv>/crt` on the path (scripts/e2e-deps.sh installs it there).
#[test]
fn boto3_crc32c_with_awscrt() {
    let server = Server::start();
    let crt = venv_dir().join("crt");
    assert!(
        crt.join("awscrt").is_dir(),
        "{} is missing: run ./scripts/e2e-deps.sh",
        crt.display()
    );
    let env = [("PYTHONPATH", crt.as_os_str())];
    let run = python_with_env(&server, "boto3_suite.py", &["crc32c"], &env);
    eprintln!("{}", run.stdout);
    run.ok();
}
