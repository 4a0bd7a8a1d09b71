//! Tidy: the crate-boundary table of `STYLE.md`, module docs and file size, as a test.
//!
//! It reads `cargo metadata` and fails on a dependency edge between workspace crates that the
//! table does not allow, on a `.rs` file under `src/` that does not open with `//!`, and on a
//! source file over 1,500 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use stratum_workspace_tests::workspace_root;

/// The allowed edges between workspace crates (`STYLE.md`, "Crate boundaries").
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let table: &[(&str, &[&str])] = &[
        ("stratum-core", &[]),
        ("stratum-codec", &["stratum-core"]),
        ("stratum-storage", &["stratum-core"]),
        ("stratum-metadata", &["stratum-core"]),
        (
            "stratum-engine",
            &[
                "stratum-core",
                "stratum-codec",
                "stratum-storage",
                "stratum-metadata",
            ],
        ),
        (
            "stratum-tiering",
            &[
                "stratum-core",
                "stratum-codec",
                "stratum-metadata",
                "stratum-engine",
            ],
        ),
        ("stratum-auth", &["stratum-core"]),
        (
            "stratum-api-s3",
            &[
                "stratum-core",
                "stratum-auth",
                "stratum-engine",
                "stratum-tiering",
            ],
        ),
    ];
    table
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect()
}

#[test]
fn crate_edges_follow_the_boundary_table() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let allowed = allowed();
    let mut violations = Vec::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        // The binary and the test package may use every crate.
        if name == "stratum" || name == "stratum-workspace-tests" {
            continue;
        }
        let Some(ok) = allowed.get(name) else {
            violations.push(format!("{name} is not in the boundary table"));
            continue;
        };
        for dep in pkg["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            // Dev-dependencies may reach further (tests wire real parts together).
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            if members.contains(dep_name) && !ok.contains(dep_name) {
                violations.push(format!("{name} -> {dep_name}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "edges outside STYLE.md's table: {violations:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_a_module_doc_and_stays_small() {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("src"), &mut files);
    rust_files(&workspace_root().join("tests"), &mut files);
    assert!(files.len() > 5, "found too few sources: {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{}: does not open with //!", file.display()));
        }
        let lines = text.lines().count();
        if lines > 1500 {
            problems.push(format!("{}: {lines} lines (limit 1500)", file.display()));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
