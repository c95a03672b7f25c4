//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the migrations at
//! compile time, and cargo does not otherwise watch the directory.
//!
//! Also embeds the dashboard (`dashboard/`, a static single-page app): every file under it is
//! listed, with `include_bytes!`, in `$OUT_DIR/dashboard_assets.rs`, which
//! `src/api/dashboard.rs` includes. A file added, changed or removed there rebuilds the crate.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=dashboard");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dir = root.join("dashboard");
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let mut out =
        String::from("/// Every file of `dashboard/`: (path under it, contents, ETag).\n");
    out.push_str("pub static ASSETS: &[(&str, &[u8], &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&dir)
            .expect("under dashboard/")
            .to_str()
            .expect("dashboard file names are UTF-8")
            .replace('\\', "/");
        let bytes = std::fs::read(file).expect("read a dashboard file");
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&bytes, &mut hasher);
        let etag = format!(
            "\"{:016x}-{}\"",
            std::hash::Hasher::finish(&hasher),
            bytes.len()
        );
        out.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?}), {etag:?}),\n",
            file.to_str().expect("UTF-8 path")
        ));
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("dashboard_assets.rs");
    std::fs::write(target, out).expect("write dashboard_assets.rs");
}

/// Files under `dir`, recursively, skipping hidden ones (editor swap files and the like).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
