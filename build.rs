//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the migrations at
//! compile time, and cargo does not otherwise watch the directory.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
