//! Generates the file tree of the benchmarks (`scripts/bench`, `benches/layer.rs`).
//!
//! usage: cargo run --release --example gen-tree -- DIR [--scale S]
//!
//! The same names, bytes, modes and links on every machine for a given scale
//! (a seeded PRNG, integer arithmetic, and no floating point but products by
//! the scale, which IEEE 754 rounds alike everywhere). --scale 1.0 is about
//! 665 MB in about 20,000 files, --scale 0.1 about a tenth of that; `tar |
//! zstd -3` makes it about 0.45 of its size:
//!
//! - about 19,900 small source-like text files (0.5 to 16 KiB, words of a
//!   seeded vocabulary; compressible), nested two or three directories deep
//!   under `lib/`, one in twenty an executable shell script;
//! - about 110 mid-size binaries (64 KiB to 4 MiB: code-like bytes, string
//!   and record tables, zero padding, compressed resources; partly
//!   compressible) in `bin/` (executables), `lib/*/native/` and `share/`;
//! - about 12 large files (20 to 40 MiB: random bytes, as of compressed
//!   data, between padding and tables; poorly compressible, zstd -3 halves
//!   them at best) in `share/assets/`: most of the bytes;
//! - a handful of relative symbolic links (to files and to directories, in
//!   the same directory and through `..`) and of hard links.
//!
//! Files are 0644 or 0755 and directories 0755 whatever the umask; mtimes are
//! left alone (builders normalise them). DIR must not exist or be empty.
//!
//! `benches/layer.rs` includes this file as a module and calls [`generate`].
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: gen-tree DIR [--scale S]

Writes the deterministic benchmark tree into DIR (which must not exist or be
empty). --scale 1.0 (the default) is about 665 MB in about 20,000 files.";

const SEED: u64 = 20_261_127;
/// File counts at scale 1.0.
const TEXT_FILES: f64 = 19_880.0;
const MID_FILES: f64 = 110.0;
const LARGE_FILES: f64 = 12.0;
/// Directories of sources at scale 1.0.
const TEXT_DIRS: f64 = 1261.0;
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

fn main() -> ExitCode {
    let (dir, scale) = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("gen-tree: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    #[allow(clippy::disallowed_methods, reason = "only asks whether the directory is empty")]
    let non_empty = fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if non_empty {
        eprintln!("gen-tree: {} exists and is not empty; give a new or an empty directory", dir.display());
        return ExitCode::from(2);
    }
    match generate(&dir, scale) {
        Ok(stats) => {
            println!(
                "gen-tree: {} bytes in {} files ({} names of {} hard-linked files), {} directories, {} symlinks in {}",
                stats.bytes,
                stats.files,
                stats.hard_link_names,
                stats.hard_linked_files,
                stats.dirs,
                stats.symlinks,
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gen-tree: {err}");
            ExitCode::FAILURE
        }
    }
}

/// DIR and the scale, or `None` for --help.
fn parse_args(args: impl Iterator<Item = std::ffi::OsString>) -> Result<Option<(PathBuf, f64)>, String> {
    let (mut dir, mut scale) = (None, 1.0);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(None),
            Some("--scale") => {
                let value = args.next().ok_or("--scale needs a value")?;
                let value = value.to_str().ok_or("the scale is not UTF-8")?;
                scale = match value.parse::<f64>() {
                    Ok(s) if s > 0.0 && s <= 1000.0 => s,
                    _ => return Err(format!("the scale must be a number above 0 and at most 1000, not {value:?}")),
                };
            }
            Some(s) if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err("one DIR only".to_owned()),
        }
    }
    Ok(Some((dir.ok_or("DIR is missing")?, scale)))
}

/// What [`generate`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Regular files (inodes).
    pub files: u64,
    /// The bytes of their contents.
    pub bytes: u64,
    /// Directories made, DIR included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Files with more than one name.
    pub hard_linked_files: u64,
    /// All the names of those files.
    pub hard_link_names: u64,
}

/// Writes the tree of `scale` into `root`, which must not exist or be empty.
/// An error names the path it is about.
pub fn generate(root: &Path, scale: f64) -> io::Result<Stats> {
    let count = |n: f64| ((n * scale).round() as u64).max(1);
    let (n_text, n_mid, n_large) = (count(TEXT_FILES), count(MID_FILES), count(LARGE_FILES));
    // About 16 sources a directory, 13 directories a package, whatever the scale.
    let n_dirs = count(TEXT_DIRS);
    let n_pkgs = n_dirs.div_ceil(13);
    // When rounding changes a count, the sizes make up for it.
    let (mid_factor, large_factor) = (MID_FILES * scale / n_mid as f64, LARGE_FILES * scale / n_large as f64);
    let mut rng = Rng::new(SEED);
    let vocab: Vec<Vec<u8>> = (0..4000)
        .map(|_| (0..rng.range(2, 12)).map(|_| b"abcdefghijklmnopqrstuvwxyz_"[rng.below(27) as usize]).collect())
        .collect();
    let code = CodeTable::new(&mut rng);
    let mut tree = Tree::new(root)?;
    let mut buf = Vec::new();

    let mut texts = Vec::new();
    for i in 0..n_text {
        let mut rng = Rng::new(SEED ^ (1 << 56) ^ i);
        let (ext, exec) = match rng.below(20) {
            0..8 => ("rs", false),
            8..12 => ("py", false),
            12..15 => ("c", false),
            15..17 => ("h", false),
            17 => ("md", false),
            18 => ("json", false),
            _ => ("sh", true),
        };
        let (pkg, module) = (i % n_dirs % n_pkgs, i % n_dirs / n_pkgs);
        let mut dir = format!("lib/pkg{pkg:02}/mod{module}");
        // One package in eight goes a level deeper.
        match i / n_dirs % 3 {
            1 if pkg % 8 == 0 => dir += "/internal",
            2 if pkg % 8 == 0 => dir += "/tests",
            _ => {}
        }
        let name = format!("{dir}/{}_{i:05}.{ext}", String::from_utf8_lossy(&vocab[rng.below(4000) as usize]));
        let size = rng.range(512, 16 * KIB) as usize;
        text(&mut rng, &vocab, size, exec, &mut buf);
        tree.file(&name, if exec { 0o755 } else { 0o644 }, &buf)?;
        texts.push(name);
    }

    let mut tools = Vec::new();
    for i in 0..n_mid {
        let mut rng = Rng::new(SEED ^ (2 << 56) ^ i);
        // Even in log scale: an octave of 64 KiB to 4 MiB, in turn (so any six
        // files in a row have one of each, whatever the scale), then a size in it.
        let octave = (64 * KIB) << [5, 0, 3, 1, 4, 2][i as usize % 6];
        let size = ((rng.range(octave, 2 * octave - 1) as f64 * mid_factor).round() as u64).max(1);
        let word = String::from_utf8_lossy(&vocab[rng.below(4000) as usize]).into_owned();
        let (name, mode) = match i % 3 {
            0 => (format!("bin/tool{i:03}"), 0o755),
            1 => (format!("lib/pkg{:02}/native/lib{word}.so.{i}", i % n_pkgs), 0o644),
            _ => (format!("share/{word}/res{i:03}.bin"), 0o644),
        };
        tree.stream(&name, mode, size, &mut buf, |buf| binary(&mut rng, &vocab, &code, buf))?;
        if mode == 0o755 {
            tools.push(i);
        }
    }

    for i in 0..n_large {
        let mut rng = Rng::new(SEED ^ (3 << 56) ^ i);
        // 20 to 40 MiB: one of twelve slots in turn (the first is the middle,
        // then pairs even out), then a size in it.
        let slot = [6, 5, 9, 2, 11, 0, 8, 3, 10, 1, 7, 4][i as usize % 12];
        let size = 20 * MIB + (slot * 20 * MIB + rng.below(20 * MIB)) / 12;
        let size = (size as f64 * large_factor).round() as u64;
        tree.stream(&format!("share/assets/pack{i:02}.pak"), 0o644, size, &mut buf, |buf| {
            noisy(&mut rng, &code, buf);
        })?;
    }

    // Symbolic links: to files and directories, beside them and through `..`.
    for (k, &i) in tools.iter().take(6).enumerate() {
        tree.symlink(&format!("bin/alias{k}"), &format!("tool{i:03}"))?;
    }
    tree.symlink("bin/pack", "../share/assets/pack00.pak")?;
    tree.symlink("lib/current", "pkg00")?;
    tree.symlink("share/lib", "../lib")?;
    tree.symlink("share/doc/examples", "../../lib/pkg00/mod0")?;

    // Hard links: three tools and three sources get a second name.
    for &i in tools.iter().take(3) {
        tree.hard_link(&format!("bin/tool{i:03}"), &format!("libexec/tool{i:03}-real"))?;
    }
    for (k, name) in texts.iter().take(3).enumerate() {
        tree.hard_link(name, &format!("share/doc/source{k}.txt"))?;
    }
    Ok(tree.stats)
}

/// Source-like lines of vocabulary words, indented, cut at `size` bytes.
fn text(rng: &mut Rng, vocab: &[Vec<u8>], size: usize, script: bool, out: &mut Vec<u8>) {
    out.clear();
    if script {
        out.extend_from_slice(b"#!/bin/sh\n");
    }
    let mut depth = 0;
    while out.len() < size {
        for _ in 0..depth {
            out.extend_from_slice(b"    ");
        }
        for j in 0..rng.range(3, 12) {
            if j > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(&vocab[rng.below(vocab.len() as u64) as usize]);
        }
        out.extend_from_slice([&b""[..], b";", b" {", b")", b","][rng.below(5) as usize]);
        out.push(b'\n');
        depth = match rng.below(4) {
            0 => depth + 1,
            1 => depth.max(1) - 1,
            _ => depth,
        }
        .min(4);
    }
    out.truncate(size);
}

/// Appends sections of an executable-like file to `out`: code, string and
/// record tables, zero padding and compressed resources.
fn binary(rng: &mut Rng, vocab: &[Vec<u8>], code: &CodeTable, out: &mut Vec<u8>) {
    let len = rng.range(4 * KIB, 128 * KIB) as usize;
    match rng.below(20) {
        0..7 => code.fill(rng, len, out),
        7..10 => strings(rng, vocab, len, out),
        10..13 => records(rng, len, out),
        13..17 => out.resize(out.len() + len, 0),
        _ => random(rng, len, out),
    }
}

/// Appends blocks of a poorly compressible file to `out`: random bytes (as
/// in compressed data) and padding, some code and records.
fn noisy(rng: &mut Rng, code: &CodeTable, out: &mut Vec<u8>) {
    let len = rng.range(64 * KIB, MIB) as usize;
    match rng.below(20) {
        0..8 => random(rng, len, out),
        8 => code.fill(rng, len, out),
        9..11 => records(rng, len, out),
        _ => out.resize(out.len() + len, 0),
    }
}

fn random(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + len, 0);
    for chunk in out[start..].chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
    }
}

/// Words separated by NULs, as in a symbol table.
fn strings(rng: &mut Rng, vocab: &[Vec<u8>], len: usize, out: &mut Vec<u8>) {
    let end = out.len() + len;
    while out.len() < end {
        for j in 0..rng.range(1, 3) {
            if j > 0 {
                out.push(b'_');
            }
            out.extend_from_slice(&vocab[rng.below(vocab.len() as u64) as usize]);
        }
        out.push(0);
    }
    out.truncate(end);
}

/// 16-byte records: an increasing offset, a small type, a small index.
fn records(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let end = out.len() + len;
    let mut offset = rng.below(1 << 24) * 16;
    while out.len() < end {
        offset += 8 * rng.range(1, 32);
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(rng.below(12) as u32).to_le_bytes());
        out.extend_from_slice(&(rng.below(4096) as u32).to_le_bytes());
    }
    out.truncate(end);
}

/// Machine-code-like bytes: instructions drawn from a fixed set, the common
/// ones more often, some followed by a random 32-bit operand.
struct CodeTable {
    instructions: Vec<Vec<u8>>,
}

impl CodeTable {
    fn new(rng: &mut Rng) -> Self {
        let instructions = (0..1024)
            .map(|_| {
                let (len, mut bytes) = (rng.range(1, 7) as usize, Vec::new());
                random(rng, len, &mut bytes);
                bytes
            })
            .collect();
        CodeTable { instructions }
    }

    fn fill(&self, rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
        let end = out.len() + len;
        while out.len() < end {
            let r = rng.next_u64();
            // The minimum of two draws: low indices (common instructions) are likelier.
            let i = ((r & 0x3ff).min((r >> 10) & 0x3ff)) as usize;
            out.extend_from_slice(&self.instructions[i]);
            if (r >> 20) & 3 == 0 {
                out.extend_from_slice(&((r >> 32) as u32).to_le_bytes());
            }
        }
        out.truncate(end);
    }
}

/// xoshiro256** seeded with splitmix64: fast, and the same sequence everywhere.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut state = seed;
        let mut splitmix = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([splitmix(), splitmix(), splitmix(), splitmix()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// In `0..n` (multiply-shift: a bias below 2^-40 for the small `n` used here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// The tree being written: makes directories (0755) on demand and counts.
struct Tree {
    root: PathBuf,
    dirs: BTreeSet<PathBuf>,
    stats: Stats,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |err| io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

impl Tree {
    fn new(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root).map_err(at(root))?;
        fs::set_permissions(root, Permissions::from_mode(0o755)).map_err(at(root))?;
        let stats = Stats { dirs: 1, ..Stats::default() };
        Ok(Tree { root: root.to_owned(), dirs: BTreeSet::new(), stats })
    }

    /// The path of `rel`, its parent directories made.
    fn path(&mut self, rel: &str) -> io::Result<PathBuf> {
        let path = self.root.join(rel);
        let mut dir = self.root.clone();
        for part in Path::new(rel).parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            if !self.dirs.contains(&dir) {
                fs::create_dir(&dir).map_err(at(&dir))?;
                fs::set_permissions(&dir, Permissions::from_mode(0o755)).map_err(at(&dir))?;
                self.dirs.insert(dir.clone());
                self.stats.dirs += 1;
            }
        }
        Ok(path)
    }

    fn file(&mut self, rel: &str, mode: u32, contents: &[u8]) -> io::Result<()> {
        let path = self.path(rel)?;
        fs::write(&path, contents).map_err(at(&path))?;
        fs::set_permissions(&path, Permissions::from_mode(mode)).map_err(at(&path))?;
        self.stats.files += 1;
        self.stats.bytes += contents.len() as u64;
        Ok(())
    }

    /// A file of `size` bytes written in pieces that `more` appends to `buf`.
    fn stream(
        &mut self,
        rel: &str,
        mode: u32,
        size: u64,
        buf: &mut Vec<u8>,
        mut more: impl FnMut(&mut Vec<u8>),
    ) -> io::Result<()> {
        let path = self.path(rel)?;
        let mut file = File::create(&path).map_err(at(&path))?;
        let mut left = size;
        while left > 0 {
            buf.clear();
            while (buf.len() as u64) < left.min(MIB) {
                more(buf);
            }
            buf.truncate(left.min(buf.len() as u64) as usize);
            file.write_all(buf).map_err(at(&path))?;
            left -= buf.len() as u64;
        }
        file.set_permissions(Permissions::from_mode(mode)).map_err(at(&path))?;
        self.stats.files += 1;
        self.stats.bytes += size;
        Ok(())
    }

    fn symlink(&mut self, rel: &str, target: &str) -> io::Result<()> {
        let path = self.path(rel)?;
        symlink(target, &path).map_err(at(&path))?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hard_link(&mut self, existing: &str, rel: &str) -> io::Result<()> {
        let path = self.path(rel)?;
        fs::hard_link(self.root.join(existing), &path).map_err(at(&path))?;
        self.stats.hard_linked_files += 1;
        self.stats.hard_link_names += 2;
        Ok(())
    }
}
