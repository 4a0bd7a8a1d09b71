//! Test data and file comparisons: deterministic pseudo-random bytes, trees of files,
//! byte-for-byte comparison of files and trees, and a census of a data directory's volume
//! shard files (`docs/format/volume.md`) for leak checks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// `len` deterministic pseudo-random bytes (xorshift64*): incompressible, so the codec stores
/// them as they are.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of compressible text (numbered lines with a seed-dependent word), so zstd
/// really compresses them.
pub fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    let words = [
        "stratum", "frame", "stripe", "piece", "volume", "tier", "object",
    ];
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        let w = words[((seed + i) % words.len() as u64) as usize];
        out.extend_from_slice(format!("{i:08} {w} {seed} the quick brown fox\n").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Writes `bytes` to `path`, creating its parent directories.
pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Panics unless files `a` and `b` hold the same bytes (naming the first difference).
#[track_caller]
pub fn assert_files_equal(a: &Path, b: &Path) {
    if let Err(msg) = compare_files(a, b) {
        panic!("{msg}");
    }
}

/// `Ok` if `a` and `b` hold the same bytes; otherwise where they differ.
pub fn compare_files(a: &Path, b: &Path) -> Result<(), String> {
    let open = |p: &Path| {
        File::open(p)
            .map(|f| {
                (
                    f.metadata().map(|m| m.len()).unwrap_or(0),
                    BufReader::new(f),
                )
            })
            .map_err(|e| format!("open {}: {e}", p.display()))
    };
    let (len_a, mut ra) = open(a)?;
    let (len_b, mut rb) = open(b)?;
    if len_a != len_b {
        return Err(format!(
            "{} is {len_a} bytes, {} is {len_b} bytes",
            a.display(),
            b.display()
        ));
    }
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut ra, &mut ba).map_err(|e| format!("read {}: {e}", a.display()))?;
        let m = read_full(&mut rb, &mut bb).map_err(|e| format!("read {}: {e}", b.display()))?;
        if n != m {
            return Err(format!(
                "{} and {} changed while read",
                a.display(),
                b.display()
            ));
        }
        if n == 0 {
            return Ok(());
        }
        if ba[..n] != bb[..n] {
            let at = (0..n).find(|&i| ba[i] != bb[i]).unwrap();
            return Err(format!(
                "{} and {} differ first at byte {} (of {len_a})",
                a.display(),
                b.display(),
                offset + at as u64
            ));
        }
        offset += n as u64;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Every file under `root`, by path relative to it (`/`-separated), with its size.
pub fn list_files(root: &Path) -> BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(rel.join("/"), meta.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Panics unless the trees under `a` and `b` have the same files with the same bytes
/// (directories that hold no file are not compared: S3 has none).
#[track_caller]
pub fn assert_trees_equal(a: &Path, b: &Path) {
    let fa = list_files(a);
    let fb = list_files(b);
    let names_a: Vec<&String> = fa.keys().collect();
    let names_b: Vec<&String> = fb.keys().collect();
    assert_eq!(
        names_a,
        names_b,
        "the trees {} and {} hold different files",
        a.display(),
        b.display()
    );
    let mut problems = Vec::new();
    for name in fa.keys() {
        if let Err(e) = compare_files(&a.join(name), &b.join(name)) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A shard file of a volume, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The volume kind byte of its header: 1 shared, 2 dedicated (0 if unreadable).
    pub kind: u8,
}

/// Every `*.shard` file in a `volumes/` directory under `data_dir`, sorted by path.
pub fn shard_files(data_dir: &Path) -> Vec<ShardFile> {
    let mut out = Vec::new();
    for (rel, bytes) in list_files(data_dir) {
        let path = data_dir.join(&rel);
        let in_volumes = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "volumes");
        if !in_volumes || !rel.ends_with(".shard") {
            continue;
        }
        let mut header = [0u8; 8];
        let kind = match File::open(&path).and_then(|mut f| f.read_exact(&mut header)) {
            Ok(()) if &header[..4] == b"S4VL" => header[6],
            _ => 0,
        };
        out.push(ShardFile { path, bytes, kind });
    }
    out
}

/// The total size of the files under `dir`, leaving out the subdirectories named in `skip`
/// (by name, at any depth).
pub fn tree_bytes(dir: &Path, skip: &[&str]) -> u64 {
    list_files(dir)
        .iter()
        .filter(|(rel, _)| !rel.split('/').any(|c| skip.contains(&c)))
        .map(|(_, b)| *b)
        .sum()
}
