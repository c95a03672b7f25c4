//! What SQLite's WAL write pattern costs on this machine's file system, against the same bytes
//! written at once (issue 14; docs/benchmarks.md, "Gathering a commit's WAL frames").
//!
//! SQLite appends each page a transaction changed to the WAL as a frame, and writes every frame
//! with two `pwrite`s: its 24-byte header, then the page. A VFS could gather a commit's frames
//! into one write. This measures what that would save per commit before anyone writes such a
//! VFS: the CPU time (user and system, from the thread's `schedstat`) of `frames` frames per
//! commit written SQLite's way and gathered into one buffer and one `pwrite` (the copy
//! counted), alternately, in a scratch file under `dir`.
//!
//! ```text
//! cargo run --release --example wal_writes -- [frames=8] [commits=200000] [dir=target]
//! ```

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

const HEADER: usize = 24;
const PAGE: usize = 4096;
const FRAME: u64 = (HEADER + PAGE) as u64;
const WAL_HEADER: u64 = 32;

/// This thread's time on a CPU so far, in nanoseconds (user and system).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat")
}

/// Writes `commits` commits of `frames` frames each, one way; returns the CPU and wall time
/// per commit, in microseconds.
fn run(file: &File, frames: usize, commits: usize, gather: bool) -> (f64, f64) {
    let header = [b'h'; HEADER];
    let page = [b'p'; PAGE];
    let mut buffer: Vec<u8> = Vec::with_capacity(frames * (HEADER + PAGE));
    // The WAL restarts from its start after a checkpoint: wrap after 1,000 commits.
    let wrap = WAL_HEADER + FRAME * frames as u64 * 1000;
    let mut offset = WAL_HEADER;
    let (cpu, wall) = (cpu_ns(), Instant::now());
    for _ in 0..commits {
        if gather {
            buffer.clear();
            for _ in 0..frames {
                buffer.extend_from_slice(&header);
                buffer.extend_from_slice(&page);
            }
            file.write_all_at(&buffer, offset).expect("pwrite");
        } else {
            let mut at = offset;
            for _ in 0..frames {
                file.write_all_at(&header, at).expect("pwrite");
                file.write_all_at(&page, at + HEADER as u64)
                    .expect("pwrite");
                at += FRAME;
            }
        }
        offset += FRAME * frames as u64;
        if offset >= wrap {
            offset = WAL_HEADER;
        }
    }
    let per = |ns: f64| ns / commits as f64 / 1000.0;
    (
        per((cpu_ns() - cpu) as f64),
        per(wall.elapsed().as_nanos() as f64),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frames: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(8);
    let commits: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = args.get(2).map(String::as_str).unwrap_or("target");
    std::fs::create_dir_all(dir).expect("scratch directory");
    let path = Path::new(dir).join("wal_writes.scratch");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("scratch file");
    println!(
        "{frames} frames per commit, {commits} commits, in {}",
        path.display()
    );
    println!("way\tCPU µs per commit\twall µs per commit\tpwrites per commit");
    for _ in 0..3 {
        for gather in [false, true] {
            let (cpu, wall) = run(&file, frames, commits, gather);
            let (name, calls) = if gather {
                ("gathered", 1)
            } else {
                ("sqlite", 2 * frames)
            };
            println!("{name}\t{cpu:.2}\t{wall:.2}\t{calls}");
        }
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
