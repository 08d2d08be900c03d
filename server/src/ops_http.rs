//! The operations listener: a small HTTP/1.1 server (hyper) on
//! `--metrics-listen` that answers `GET /metrics`, `GET /healthz` and
//! `GET /readyz`. Off unless configured.
//!
//! - `/metrics`: the server's [`crate::metrics::Metrics`] as OpenMetrics
//!   text, which Prometheus scrapes.
//! - `/healthz`: `200 ok` while the process serves at all (liveness).
//! - `/readyz`: `200 ready` while the store accepts writes; `503` with
//!   `degraded: <reason>` while it is degraded after a disk fault
//!   ([`crate::store::health`]), so a load balancer or orchestrator can
//!   route around it (test: `e2e::metrics::readyz_is_503_while_the_store_is_degraded`).
//!
//! It carries no secrets and needs no login, so bind it to a private
//! address (the default is off; the README's example is 127.0.0.1).

use crate::shared::Shared;
use crate::store::health::Health;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Most HTTP connections served at once; a scraper and a health checker
/// need a handful.
pub const MAX_HTTP_CONNECTIONS: usize = 64;

/// How long a client may take to send its request head, in ms, before the
/// connection is closed (slow-loris bound).
pub const HEADER_TIMEOUT_MS: u64 = 5_000;

/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The `Content-Type` of `/metrics`.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves HTTP on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: log, back off
                // briefly (as hyper's and axum's servers do) instead of
                // spinning, and go on.
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move {
                    let response = route(&shared, req.method(), req.uri().path()).await;
                    Ok::<_, Infallible>(response)
                }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_millis(HEADER_TIMEOUT_MS))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "metrics listener: connection ended with an error");
            }
            drop(permit);
        });
    }
}

async fn route(shared: &Shared, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served here\n".into(),
        );
    }
    match path {
        "/metrics" => {
            let mut r = text(StatusCode::OK, shared.metrics.scrape_fresh(shared).await);
            if let Ok(v) = hyper::header::HeaderValue::from_str(METRICS_CONTENT_TYPE) {
                r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
            }
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match shared.store.health() {
            Health::Healthy => text(StatusCode::OK, "ready\n".into()),
            degraded @ Health::Degraded { .. } => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{}\n", degraded.describe()),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; this listener serves /metrics, /healthz and /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
