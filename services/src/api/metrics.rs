//! `GET /metrics`: Prometheus text exposition ([`metrics`] recorded where things happen,
//! [`metrics_exporter_prometheus`] rendering them).
//!
//! Partition sizes reveal accrual per cohort, so the route needs an `auditor` token on the
//! API's address; `serve --metrics-listen ADDR` serves it without a token on a separate
//! address (for a scraper on a private network).
//!
//! | metric | type | what |
//! |---|---|---|
//! | `tl_submissions_total{outcome,reason}` | counter | submissions answered: `recorded`, `duplicate`, `refused` (reason: the answer's code, a FORMAT.md reason or `rate-limited`, `bad-request`, ...) or `failed` |
//! | `tl_sequencer_latency_seconds` | histogram | from handing a submission to the sequencer to its durable answer |
//! | `tl_group_commit_batch_size` | histogram | submissions per group commit |
//! | `tl_group_commit_order_seconds` | histogram | ordering, checking and sealing a batch |
//! | `tl_group_commit_fsync_seconds` | histogram | appending, syncing and checkpointing a batch |
//! | `tl_records{partition}` | gauge | records under each partition's latest checkpoint |
//! | `tl_projection_lag_records{view,partition}` | gauge | records the views have not applied yet |
//! | `tl_stream_clients` | gauge | connected safety stream clients |
//! | `tl_kafka_consumer_lag{consumer,partition}` | gauge | on Kafka: offsets behind the end; `consumer="intake"`: intake's high mark minus the sequencers' group's committed offset; `"writer"`, `"stream"`: the committed ledger's end minus the server's follower's position |

use super::auth::{ApiRole, Caller};
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's metrics recorder (once; later calls do nothing).
pub fn install() -> anyhow::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let seconds = [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let sizes = [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full("tl_group_commit_batch_size".into()), &sizes)?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    let _ = HANDLE.set(handle);
    describe();
    Ok(())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "tl_submissions_total",
        "Submissions answered, by outcome and reason"
    );
    describe_histogram!(
        "tl_sequencer_latency_seconds",
        Unit::Seconds,
        "From handing a submission to the sequencer to its durable answer"
    );
    describe_histogram!(
        "tl_group_commit_batch_size",
        Unit::Count,
        "Submissions per group commit"
    );
    describe_histogram!(
        "tl_group_commit_order_seconds",
        Unit::Seconds,
        "Ordering, checking and sealing one batch"
    );
    describe_histogram!(
        "tl_group_commit_fsync_seconds",
        Unit::Seconds,
        "Appending, syncing and checkpointing one batch"
    );
    describe_gauge!(
        "tl_records",
        "Records under each partition's latest checkpoint"
    );
    describe_gauge!(
        "tl_projection_lag_records",
        "Records the views have not applied yet"
    );
    describe_gauge!("tl_stream_clients", "Connected safety stream clients");
    describe_gauge!(
        "tl_kafka_consumer_lag",
        "On Kafka: offsets not yet consumed, by intake's sequencers or by a follower of the committed ledger"
    );
}

/// Counts one answered submission.
pub fn submission(outcome: &'static str, reason: &str) {
    metrics::counter!("tl_submissions_total", "outcome" => outcome, "reason" => reason.to_string())
        .increment(1);
}

/// Held by each connected stream client; the gauge goes down when it is dropped.
pub struct StreamClient(());

impl StreamClient {
    /// One more connected client.
    pub fn connect() -> Self {
        metrics::gauge!("tl_stream_clients").increment(1.0);
        StreamClient(())
    }
}

impl Drop for StreamClient {
    fn drop(&mut self) {
        metrics::gauge!("tl_stream_clients").decrement(1.0);
    }
}

/// The route on the API's address (auditor token).
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(with_token))
}

/// The route alone, without a token, for `--metrics-listen`.
pub fn open_router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::not_found("this address serves /metrics only") })
        .with_state(state)
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    tag = "service",
    description = "Prometheus text exposition (the module's table lists the metrics). Needs an \
                   `auditor` token here: partition sizes reveal accrual per cohort; \
                   `--metrics-listen` serves it without one on a private address.",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "This process records no metrics (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn with_token(state: State<Arc<ApiState>>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[ApiRole::Auditor], "the metrics")?;
    scrape(state).await
}

async fn scrape(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let handle = HANDLE
        .get()
        .ok_or_else(|| ApiError::unavailable("metrics are not recorded by this process"))?
        .clone();
    let text = tokio::task::spawn_blocking(move || {
        gauges(&state);
        handle.render()
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The gauges read at scrape time: partition sizes and the views' lag.
fn gauges(state: &ApiState) {
    // On Kafka the partitions' sizes are the brokers' to report.
    let dir = state.backend.ledger_dir("partition sizes").ok();
    for p in 0..state.partitions {
        if let Some(held) = dir.and_then(|d| tl_ledger::publish::read_published(d, p).ok()) {
            let size = held.last().map_or(0, |c| c.unverified().size);
            metrics::gauge!("tl_records", "partition" => p.to_string()).set(size as f64);
        }
    }
    if let super::backend::Backend::Kafka(_, lag, _) = &state.backend {
        kafka_lag(lag, state.partitions);
    }
    for l in state.reads.lag() {
        metrics::gauge!(
            "tl_projection_lag_records",
            "view" => l.view,
            "partition" => l.partition.to_string()
        )
        .set(l.behind as f64);
    }
}

/// Sets `tl_kafka_consumer_lag`; a broker that does not answer leaves the last values (and
/// is logged), so the scrape itself still answers.
fn kafka_lag(lag: &crate::hosts::kafka_lag::KafkaLag, partitions: u32) {
    match lag.measure(partitions) {
        Ok(lags) => {
            for (consumer, p, behind) in lags {
                metrics::gauge!(
                    "tl_kafka_consumer_lag",
                    "consumer" => consumer,
                    "partition" => p.to_string()
                )
                .set(behind as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the consumer lag on Kafka"),
    }
}

/// Serves [`open_router`] on `addr` until the runtime stops; returns the bound address.
pub async fn serve_open(
    addr: std::net::SocketAddr,
    state: Arc<ApiState>,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
    let bound = listener.local_addr()?;
    let app = super::limits::layers(open_router(state), &super::limits::ServerFlags::default());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(bound)
}
