//! The server's limits and how it is served (the server issue, "Transport and browser safety"):
//! the `serve` flags ([`ServerFlags`]), the rate limits of submissions ([`RateLimits`]), the
//! tower layers every request passes through ([`layers`]), and the listener, plain or TLS
//! ([`serve`]).
//!
//! | limit | where | answer |
//! |---|---|---|
//! | body size ([`super::MAX_BODY`]) | `RequestBodyLimitLayer`: a `Content-Length` over it is refused before a byte of the body is read; a chunked body is cut off at the limit | 413 `too-large` |
//! | header size ([`MAX_HEADER_BYTES`]) | hyper's read buffer | 431 (hyper's own, no body) |
//! | header read time ([`HEADER_TIMEOUT`]) | hyper | connection closed |
//! | time to answer (`--request-timeout`) | `TimeoutLayer` (until the answer starts: a stream may last) | 408 `timeout` |
//! | requests in flight (`--max-concurrent`) | `GlobalConcurrencyLimitLayer` (others wait) | — |
//! | safety streams open per token (`--max-streams-per-token`) | [`super::stream::StreamSlots`], a slot held by the stream's body | 429 `too-many-streams` |
//! | submissions per key and per client address (`--rate-per-key`, `--rate-per-address`) | [`RateLimits`], GCRA ([`governor`]) | 429 `rate-limited` with `Retry-After` |
//!
//! Answers are gzip-compressed for clients that ask for it ([`compression`]).

use super::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;
use tl_schemas::KeyId;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// Largest request head (request line and headers) hyper reads.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Content-Security-Policy` of every answer: nothing from anywhere but this server.
pub const CSP: &str = "default-src 'self'";

/// The `Strict-Transport-Security` of every answer over TLS (one year).
pub const HSTS: &str = "max-age=31536000";

/// How `serve` listens and what it allows (flags shared by `serve` and `up`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerFlags {
    /// The server's certificate chain (PEM); with `--tls-key`, the server speaks only HTTPS
    /// and sends HSTS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// An origin whose pages may call the GET routes (CORS), for example
    /// `https://pages.example.org`; `null` allows a page opened from a saved file. Repeatable.
    /// Without it, only same-origin pages may read.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Submissions per second one author key may make (bursts up to the same number).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub rate_per_key: u32,
    /// Submissions per second one client address may make (bursts up to the same number).
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub rate_per_address: u32,
    /// Longest time a request may take until its answer starts, in seconds (408 after).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
    /// Most requests handled at once; more wait for a free place.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_concurrent: usize,
    /// Most safety streams one token may hold open at once; more get 429
    /// `too-many-streams` until one closes.
    #[arg(long, value_name = "N", default_value_t = super::stream::DEFAULT_MAX_STREAMS_PER_TOKEN)]
    pub max_streams_per_token: usize,
    /// Also serve `/metrics`, without a token, on this address (plain HTTP; keep it private).
    /// On the API's own address `/metrics` needs an auditor token.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// An embedded writer saves its snapshot (FORMAT.md §17, "Writer snapshot") after a group
    /// commit once this many records are not covered by the one on disk, so that a server
    /// killed without closing reopens replaying at most about this many.
    #[arg(long, value_name = "N", default_value_t = tl_ledger::snapshot::SnapshotPolicy::SERVE.every_records)]
    pub snapshot_every: u64,
    /// ... or once this many minutes passed since the last one and a record is not covered.
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    pub snapshot_minutes: u64,
}

impl Default for ServerFlags {
    fn default() -> Self {
        ServerFlags {
            tls_cert: None,
            tls_key: None,
            cors_origins: Vec::new(),
            rate_per_key: 1000,
            rate_per_address: 5000,
            request_timeout: 30,
            max_concurrent: 1024,
            max_streams_per_token: super::stream::DEFAULT_MAX_STREAMS_PER_TOKEN,
            metrics_listen: None,
            snapshot_every: tl_ledger::snapshot::SnapshotPolicy::SERVE.every_records,
            snapshot_minutes: 10,
        }
    }
}

impl ServerFlags {
    /// The embedded writer's snapshot policy these flags give.
    pub fn snapshot_policy(&self) -> tl_ledger::snapshot::SnapshotPolicy {
        tl_ledger::snapshot::SnapshotPolicy {
            every_records: self.snapshot_every,
            every: std::time::Duration::from_secs(self.snapshot_minutes.saturating_mul(60)),
        }
    }

    /// Whether the server speaks TLS.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls() {
            "https"
        } else {
            "http"
        }
    }
}

/// The rate limits of submissions: one GCRA bucket per author key and one per client address.
pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<KeyId>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

/// Keyed buckets kept before idle ones are dropped (a flood of made-up key ids cannot grow
/// memory without bound).
const MAX_BUCKETS: usize = 100_000;

impl RateLimits {
    /// `per_key` and `per_address` submissions per second, each its own burst.
    pub fn new(per_key: u32, per_address: u32) -> Self {
        let quota = |n: u32| Quota::per_second(NonZeroU32::new(n.max(1)).expect("at least 1"));
        RateLimits {
            per_key: DefaultKeyedRateLimiter::keyed(quota(per_key)),
            per_address: DefaultKeyedRateLimiter::keyed(quota(per_address)),
        }
    }

    /// 429 if the client address has used its rate up.
    pub fn check_address(&self, addr: IpAddr) -> Result<(), ApiError> {
        if self.per_address.len() > MAX_BUCKETS {
            self.per_address.retain_recent();
        }
        self.per_address
            .check_key(&addr)
            .map_err(|n| limited(&format!("client address {addr}"), n))
    }

    /// 429 if the author key has used its rate up.
    pub fn check_key(&self, key: &KeyId) -> Result<(), ApiError> {
        if self.per_key.len() > MAX_BUCKETS {
            self.per_key.retain_recent();
        }
        self.per_key
            .check_key(key)
            .map_err(|n| limited(&format!("key {}", hex::encode(key.0)), n))
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        let f = ServerFlags::default();
        RateLimits::new(f.rate_per_key, f.rate_per_address)
    }
}

/// The 429 answer, saying when to try again.
fn limited(who: &str, n: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let wait = n.wait_time_from(DefaultClock::default().now());
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        format!(
            "too many submissions from {who}; try again in {} ms",
            wait.as_millis().max(1)
        ),
    );
    e.retry_after = Some(wait.as_secs() + 1);
    e
}

/// The layers around the whole API: limits, then the headers every answer carries.
pub fn layers(router: Router, flags: &ServerFlags) -> Router {
    let mut r = router
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            super::MAX_BODY,
        ))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            flags.max_concurrent.max(1),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(flags.request_timeout.max(1)),
        ))
        .layer(axum::middleware::from_fn(super::error::json_rejections))
        .layer(compression())
        .layer(cors(&flags.cors_origins))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    if flags.tls() {
        r = r.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ));
    }
    r
}

/// Marks an answer whose bytes do not compress (hash tiles, seals: hashes and signatures), so
/// that [`compression`] leaves it alone: gzip would only add its header and spend the CPU.
#[derive(Clone, Copy, Debug)]
pub struct Incompressible;

/// gzip for a client whose `Accept-Encoding` allows it (`Content-Encoding: gzip`; without
/// `Accept-Encoding`, or with `gzip;q=0`, the bytes go as they are). tlog-tiles asks for
/// compressed entry bundles ("SHOULD be compressed at the HTTP layer ... any compression
/// algorithm requested by the client with `Accept-Encoding`"); JSON answers (views, trails,
/// records) shrink several-fold too. Not compressed: answers of 32 bytes or less, images, the
/// safety stream (`text/event-stream`: compression would hold events back in its buffer), and
/// [`Incompressible`] ones. Every answer that could be compressed carries `Vary:
/// Accept-Encoding`, so that a cache keeps the two forms apart.
pub fn compression(
) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate};
    let predicate = DefaultPredicate::new().and(
        |_: StatusCode,
         _: axum::http::Version,
         _: &axum::http::HeaderMap,
         ext: &axum::http::Extensions| { ext.get::<Incompressible>().is_none() },
    );
    tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .compress_when(predicate)
}

/// CORS for the GET routes only, for the origins listed (none: same-origin only).
fn cors(origins: &[String]) -> CorsLayer {
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([axum::http::Method::GET])
        .allow_headers([
            header::AUTHORIZATION,
            header::ACCEPT,
            header::HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Checks the flags before anything is started: a bad origin or an unreadable certificate is
/// the operator's error, said at once.
pub fn check(flags: &ServerFlags) -> anyhow::Result<()> {
    for o in &flags.cors_origins {
        let host = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        let ok = o == "null"
            || host.is_some_and(|h| {
                !h.is_empty() && !h.contains(['/', '?', '#']) && HeaderValue::from_str(o).is_ok()
            });
        if !ok {
            anyhow::bail!(
                "--cors-origin {o:?} is not an origin: give scheme://host[:port] with no path \
                 (for example https://pages.example.org), or null for pages opened from a file"
            );
        }
    }
    for f in [&flags.tls_cert, &flags.tls_key].into_iter().flatten() {
        std::fs::metadata(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
    }
    Ok(())
}

/// Serves `router` on `listener` (TLS when the flags say so) until `shutdown` resolves;
/// requests in flight finish first. The client's address reaches handlers as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    flags: &ServerFlags,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    match (&flags.tls_cert, &flags.tls_key) {
        (Some(cert), Some(key)) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot use the certificate {} and key {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let mut server = axum_server::from_tcp_rustls(listener, config)?.handle(handle);
            // Header size and header read time (hyper's own limits).
            server
                .http_builder()
                .http1()
                .max_buf_size(MAX_HEADER_BYTES)
                .header_read_timeout(Some(HEADER_TIMEOUT));
            server.serve(app).await?;
        }
        _ => {
            let mut server = axum_server::from_tcp(listener)?.handle(handle);
            server
                .http_builder()
                .http1()
                .max_buf_size(MAX_HEADER_BYTES)
                .header_read_timeout(Some(HEADER_TIMEOUT));
            server.serve(app).await?;
        }
    }
    Ok(())
}
