//! The dashboard's files: served from the binary with their types and a strict
//! Content-Security-Policy, revalidated by ETag; unknown files are a JSON 404. (What the pages
//! show is tested in a real browser: tests/browser.)

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary() {
    let app = spawn_app().await;
    for path in ["/dashboard", "/dashboard/", "/dashboard/index.html"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        let body = r.text().await.unwrap();
        assert!(body.contains("/dashboard/js/app.js"), "{body}");
        assert!(!body.contains("<script>"), "no inline script");
    }
    let r = app.get("/dashboard/js/app.js").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = r.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url("/dashboard/js/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let r = app.get("/dashboard/style.css").await;
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    let r = app.get("/dashboard/vendor/chart.umd.min.js").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Chart.js v4"));
    let (status, body) = app.get_json("/dashboard/nope.js").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let (status, _) = app.get_json("/dashboard/../Cargo.toml").await;
    assert_eq!(status, 404);
}
