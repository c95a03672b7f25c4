//! A bare proxy hop built from the crates Tollgate is built from, doing nothing else: axum
//! (hyper) takes the request, reqwest posts its body to the upstream on a keep-alive pool, the
//! answer's bytes stream back. No parsing, no catalog, no metering.
//!
//! `bench/compare` measures it beside the bare nginx hop: the difference between the two is
//! what the Rust HTTP stack itself costs on this machine, and the difference between it and
//! Tollgate is Tollgate's own work (docs/benchmarks.md).
//!
//! ```text
//! cargo run --release --example rust_hop -- 127.0.0.1:8081 http://127.0.0.1:8080
//! ```

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Hop {
    client: reqwest::Client,
    upstream: String,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: rust_hop LISTEN_ADDR UPSTREAM_BASE_URL");
        std::process::exit(2);
    };
    let hop = Hop {
        client: reqwest::Client::new(),
        upstream: upstream.trim_end_matches('/').to_string(),
    };
    let app = Router::new().fallback(forward).with_state(hop);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    axum::serve(listener, app).await.expect("the server runs");
}

async fn forward(State(hop): State<Hop>, req: Request) -> Response {
    let target = format!(
        "{}{}",
        hop.upstream,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let Ok(body) = axum::body::to_bytes(req.into_body(), 1 << 24).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let sent = hop
        .client
        .post(target)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            if let Some(kind) = answer.headers().get(header::CONTENT_TYPE) {
                response = response.header(header::CONTENT_TYPE, kind.clone());
            }
            response
                .body(Body::from_stream(answer.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
