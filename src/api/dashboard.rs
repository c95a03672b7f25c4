//! The dashboard: a static single-page app (`dashboard/` in the repository: HTML, CSS, ES
//! modules and the vendored Chart.js), embedded in the binary at build time and served at
//! `/dashboard`. It only calls the JSON API with the signed-in credential; nothing here reads
//! the database. See docs/dashboard.md.
//!
//! These are plain routes, outside the OpenAPI document: they serve files, not an API.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));
}

/// What the pages may load: their own scripts, styles and API only (no inline script or style
/// element, no other origin, no frames, no forms posted anywhere).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes: `/dashboard` (the page) and `/dashboard/{file}` (its assets).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(index))
        .route("/dashboard/", get(index))
        .route("/dashboard/{*path}", get(asset))
}

/// An embedded file by its path under `dashboard/`.
pub fn file(path: &str) -> Option<&'static [u8]> {
    embedded::ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, bytes, _)| *bytes)
}

/// Every embedded path.
pub fn paths() -> impl Iterator<Item = &'static str> {
    embedded::ASSETS.iter().map(|(p, _, _)| *p)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, bytes: &'static [u8], etag: &'static str, headers: &HeaderMap) -> Response {
    let tag = HeaderValue::from_static(etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let common = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // Revalidated on every load (a cheap 304), so a new binary's files are used at once.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, tag),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        )],
        bytes,
    )
        .into_response()
}

async fn index(headers: HeaderMap) -> Response {
    match embedded::ASSETS.iter().find(|(p, _, _)| *p == "index.html") {
        Some((path, bytes, etag)) => serve(path, bytes, etag, &headers),
        None => ApiError::not_found("not_found", "this build has no dashboard").into_response(),
    }
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match embedded::ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((path, bytes, etag)) => serve(path, bytes, etag, &headers),
        None => {
            ApiError::not_found("not_found", format!("no dashboard file '{path}'")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `dashboard/` is embedded (build.rs lists the directory), and nothing else.
    #[test]
    fn every_dashboard_file_is_embedded() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let p = entry.path();
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, base, out);
                } else {
                    let rel = p.strip_prefix(base).unwrap().to_str().unwrap();
                    out.push(rel.replace('\\', "/"));
                }
            }
        }
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
        let mut on_disk = Vec::new();
        walk(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = paths().map(String::from).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        assert!(file("index.html").is_some());
        for path in &embedded {
            assert_eq!(
                file(path).unwrap(),
                std::fs::read(base.join(path)).unwrap().as_slice(),
                "{path}"
            );
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
