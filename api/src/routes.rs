//! The handlers, their types and the router. Every `/api/v1` route is registered through
//! `utoipa_axum::routes!`, which takes the route and its OpenAPI operation from the same
//! `#[utoipa::path]`, so the document cannot drift from the routes.

use crate::auth::{Admin, Reader};
use crate::error::{rejection, ApiError, ErrorBody};
use crate::{dashboard, incidents, ApiState, TriggerError};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use checks::{Metric, SeriesKey, Status, Target};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidewatch_store::{HistoryPoint, MeasurementRecord, ScheduledRun};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tidewatch API",
        version = "1",
        description = "Monitors, their latest results, series history with expected bands, runs, feedback, per-dataset health, incidents and silences. Read endpoints need a read or admin bearer token, changes an admin token (when tokens are configured)."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn api_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(list_monitors))
        .routes(routes!(get_monitor))
        .routes(routes!(monitor_series))
        .routes(routes!(list_runs))
        .routes(routes!(trigger_run))
        .routes(routes!(feedback))
        .routes(routes!(dataset_health))
        .routes(routes!(incidents::list_incidents))
        .routes(routes!(incidents::get_incident))
        .routes(routes!(incidents::acknowledge_incident))
        .routes(routes!(incidents::resolve_incident))
        .routes(routes!(incidents::list_silences, incidents::create_silence))
        .routes(routes!(incidents::expire_silence))
}

pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

pub(crate) fn router(state: ApiState) -> Router {
    let limits = state.inner.limits;
    let (router, doc) = api_router().split_for_parts();
    let doc = std::sync::Arc::new(doc);
    router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .merge(dashboard::routes())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.body_bytes,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Types

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` (process up) or `ready` (state store reachable).
    pub status: String,
}

/// The band a value was expected in (explicit checks or the learned baseline).
#[derive(Debug, Serialize, ToSchema)]
pub struct Band {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

/// The latest measurement of one series.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultBody {
    pub metric: String,
    /// `null` for table metrics; key columns joined by `,`.
    pub column: Option<String>,
    pub value: Option<f64>,
    /// `pass`, `fail`, `anomaly`, `learning` or `error`.
    pub status: String,
    pub expected: Option<Band>,
    pub message: String,
    pub observed_at: DateTime<Utc>,
    pub run_id: i64,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorBody {
    pub name: String,
    pub source: String,
    pub dataset: String,
    /// e.g. `every 900s`; `null` when the monitor runs only on request.
    pub schedule: Option<String>,
    /// The worst status of the latest results (error > fail > anomaly > learning > pass), or
    /// `unknown` before the first run.
    pub status: String,
    pub results: Vec<ResultBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorPage {
    pub monitors: Vec<MonitorBody>,
    pub total: usize,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Monitors to skip.
    pub offset: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// A metric name, e.g. `volume`, `null_rate`, `freshness_seconds`.
    pub metric: String,
    /// The column (key columns joined by `,`); absent for table metrics.
    pub column: Option<String>,
    /// Only points observed at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// The newest `limit` points (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One measurement of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointBody {
    pub observed_at: DateTime<Utc>,
    pub value: Option<f64>,
    pub status: String,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// `status` is `anomaly` and nobody marked it expected.
    pub anomaly: bool,
    /// Marked expected through feedback: learned from, not an incident.
    pub expected_anomaly: bool,
    pub message: String,
    pub run_id: i64,
}

/// One bucket of a bucketed series (volume, bucket_null_rate): the history the baseline learns from.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketBody {
    pub start: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesBody {
    pub monitor: String,
    pub metric: String,
    pub column: Option<String>,
    /// Oldest first.
    pub points: Vec<PointBody>,
    /// For bucketed metrics, the stored buckets of the last 28 days (at most 1000, oldest first);
    /// empty otherwise.
    pub buckets: Vec<BucketBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this monitor's runs.
    pub monitor: Option<String>,
    /// Only runs scheduled strictly before this time (RFC 3339): the next page's cursor.
    pub before: Option<DateTime<Utc>>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One claimed run of a monitor.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    pub monitor: String,
    pub scheduled_for: DateTime<Utc>,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// The process that ran it.
    pub holder: String,
    pub claimed_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `ok`, `problems`, `error`, `skipped`, or `abandoned` (its process died mid-run); `null`
    /// while running.
    pub outcome: Option<String>,
    pub message: String,
    pub run_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// Newest first.
    pub runs: Vec<RunBody>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriggeredBody {
    pub monitor: String,
    /// The run's `scheduled_for`, to find it in `/api/v1/runs`.
    pub scheduled_for: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The anomalous series' metric.
    pub metric: String,
    /// Its column, absent for table metrics.
    pub column: Option<String>,
    /// The measurement's time as the API shows it; absent: the newest measurement.
    pub observed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackBody {
    /// `false` when the point was already marked.
    pub changed: bool,
    pub observed_at: DateTime<Utc>,
    pub message: String,
}

/// Why a dataset is failing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reason {
    pub monitor: String,
    pub metric: Option<String>,
    pub column: Option<String>,
    pub status: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetHealth {
    pub dataset: String,
    /// `ok` or `failing`.
    pub status: String,
    /// The monitors watching it.
    pub monitors: Vec<String>,
    pub reasons: Vec<Reason>,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn rank(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Learning => 1,
        Status::Anomaly => 2,
        Status::Fail => 3,
        Status::Error => 4,
    }
}

fn result_body(r: MeasurementRecord) -> ResultBody {
    ResultBody {
        metric: r.key.metric.as_str().to_string(),
        column: r.key.label(),
        value: r.value,
        status: r.status.as_str().to_string(),
        expected: (r.lower.is_some() || r.upper.is_some()).then_some(Band {
            lower: r.lower,
            upper: r.upper,
        }),
        message: r.message,
        observed_at: r.observed_at,
        run_id: r.run_id,
        details: r.details,
    }
}

fn known_monitor<'s>(state: &'s ApiState, name: &str) -> Result<&'s crate::MonitorInfo, ApiError> {
    state
        .inner
        .service
        .monitors()
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no monitor named {name}")))
}

/// A monitor's latest results: the serving process's snapshot when it has one, else the store.
async fn latest_of(
    state: &ApiState,
    monitor: &str,
) -> Result<std::sync::Arc<Vec<MeasurementRecord>>, ApiError> {
    if let Some(rows) = state.inner.service.latest(monitor) {
        return Ok(rows);
    }
    state
        .inner
        .store
        .latest(monitor)
        .await
        .map(std::sync::Arc::new)
        .map_err(|e| ApiError::internal("read latest results", e))
}

async fn monitor_body(state: &ApiState, m: &crate::MonitorInfo) -> Result<MonitorBody, ApiError> {
    let latest = latest_of(state, &m.name).await?;
    let status = latest
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| rank(*s))
        .map_or("unknown", |s| s.as_str())
        .to_string();
    Ok(MonitorBody {
        name: m.name.clone(),
        source: m.source.clone(),
        dataset: m.dataset.clone(),
        schedule: m.schedule.clone(),
        status,
        results: latest.iter().cloned().map(result_body).collect(),
    })
}

fn series_key(monitor: &str, metric: &str, column: Option<&str>) -> Result<SeriesKey, ApiError> {
    let Some(m) = Metric::parse(metric) else {
        return Err(ApiError::BadRequest(format!("unknown metric {metric}")));
    };
    let column = column.filter(|c| !c.is_empty());
    if m.is_column_metric() || m.is_key_metric() {
        if column.is_none() {
            return Err(ApiError::BadRequest(format!(
                "metric {metric} needs a column"
            )));
        }
    } else if column.is_some() {
        return Err(ApiError::BadRequest(format!(
            "metric {metric} is a table metric: leave out the column"
        )));
    }
    Ok(SeriesKey::new(monitor, m, Target::from_label(m, column)))
}

fn point_body(p: HistoryPoint) -> PointBody {
    PointBody {
        observed_at: p.observed_at,
        value: p.value,
        status: p.status.as_str().to_string(),
        lower: p.lower,
        upper: p.upper,
        anomaly: p.status == Status::Anomaly && !p.expected_anomaly,
        expected_anomaly: p.expected_anomaly,
        message: p.message,
        run_id: p.run_id,
    }
}

fn run_body(r: ScheduledRun) -> RunBody {
    RunBody {
        monitor: r.monitor,
        scheduled_for: r.scheduled_for,
        trigger: r.trigger,
        holder: r.holder,
        claimed_at: r.claimed_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        outcome: r.outcome,
        message: r.message,
        run_id: r.run_id,
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "up", body = HealthBody)))]
async fn healthz() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
    })
}

/// The state store answers.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "ready", body = HealthBody),
        (status = 503, description = "the state store does not answer", body = ErrorBody),
    ))]
async fn readyz(State(state): State<ApiState>) -> Result<Json<HealthBody>, ApiError> {
    match state.inner.store.ping().await {
        Ok(()) => Ok(Json(HealthBody {
            status: "ready".into(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::Unavailable(
                "the state store does not answer".into(),
            ))
        }
    }
}

/// Prometheus text exposition (open unless `api.protect_metrics` is set).
#[utoipa::path(get, path = "/metrics", tag = "health", security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "protect_metrics is set and no valid token was sent", body = ErrorBody),
    ))]
async fn metrics(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if state.inner.tokens.protect_metrics {
        state.inner.tokens.role(&headers)?;
    }
    let text = state
        .inner
        .telemetry
        .render()
        .map_err(|e| ApiError::internal("render metrics", e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Monitors with their latest results and status, in config order.
#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitors", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = MonitorPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ))]
async fn list_monitors(
    _: Reader,
    State(state): State<ApiState>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<MonitorPage>, ApiError> {
    let Query(q) = q.map_err(rejection)?;
    let limit = state.inner.limits.page(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let all = state.inner.service.monitors();
    let mut monitors = Vec::new();
    for m in all.iter().skip(offset as usize).take(limit as usize) {
        monitors.push(monitor_body(&state, m).await?);
    }
    Ok(Json(MonitorPage {
        monitors,
        total: all.len(),
        offset,
        limit,
    }))
}

/// One monitor with its latest results.
#[utoipa::path(get, path = "/api/v1/monitors/{monitor}", tag = "monitors", security(("bearer" = [])),
    params(("monitor" = String, Path, description = "monitor name")),
    responses(
        (status = 200, body = MonitorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn get_monitor(
    _: Reader,
    State(state): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<MonitorBody>, ApiError> {
    let Path(name) = name.map_err(rejection)?;
    let m = known_monitor(&state, &name)?.clone();
    Ok(Json(monitor_body(&state, &m).await?))
}

/// One series' history with its expected band and the anomalies marked.
#[utoipa::path(get, path = "/api/v1/monitors/{monitor}/series", tag = "monitors", security(("bearer" = [])),
    params(("monitor" = String, Path, description = "monitor name"), SeriesQuery),
    responses(
        (status = 200, body = SeriesBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn monitor_series(
    _: Reader,
    State(state): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<Json<SeriesBody>, ApiError> {
    let Path(name) = name.map_err(rejection)?;
    let Query(q) = q.map_err(rejection)?;
    let info = known_monitor(&state, &name)?.clone();
    let limit = state.inner.limits.page(q.limit)?;
    let key = series_key(&name, &q.metric, q.column.as_deref())?;
    let points = state
        .inner
        .store
        .history(&key, q.since, i64::from(limit))
        .await
        .map_err(|e| ApiError::internal("read a series", e))?;
    let mut buckets = Vec::new();
    if let (true, Some(width)) = (key.metric.is_bucketed(), info.bucket_seconds) {
        let since = q
            .since
            .unwrap_or_else(|| Utc::now() - chrono::Duration::days(28));
        let mut all = state
            .inner
            .store
            .buckets(&key, width, Some(since))
            .await
            .map_err(|e| ApiError::internal("read buckets", e))?;
        let skip = all.len().saturating_sub(1000);
        buckets = all
            .drain(skip..)
            .map(|b| BucketBody {
                start: b.bucket_start,
                value: b.value,
            })
            .collect();
    }
    Ok(Json(SeriesBody {
        monitor: name,
        metric: key.metric.as_str().to_string(),
        column: key.label(),
        points: points.into_iter().map(point_body).collect(),
        buckets,
    }))
}

/// Claimed runs, newest first (scheduled and manual), with their times and outcome.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", security(("bearer" = [])),
    params(RunsQuery),
    responses(
        (status = 200, body = RunPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn list_runs(
    _: Reader,
    State(state): State<ApiState>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<RunPage>, ApiError> {
    let Query(q) = q.map_err(rejection)?;
    if let Some(m) = &q.monitor {
        known_monitor(&state, m)?;
    }
    let limit = state.inner.limits.page(q.limit)?;
    let runs = state
        .inner
        .store
        .scheduled_runs(q.monitor.as_deref(), q.before, i64::from(limit))
        .await
        .map_err(|e| ApiError::internal("list runs", e))?;
    let next_before = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.scheduled_for))
        .flatten();
    Ok(Json(RunPage {
        runs: runs.into_iter().map(run_body).collect(),
        next_before,
    }))
}

/// Runs a monitor now (admin). The run is claimed under the returned `scheduled_for`.
#[utoipa::path(post, path = "/api/v1/monitors/{monitor}/runs", tag = "runs", security(("bearer" = [])),
    params(("monitor" = String, Path, description = "monitor name")),
    responses(
        (status = 202, body = TriggeredBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "a run is already requested", body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
async fn trigger_run(
    _: Admin,
    State(state): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<TriggeredBody>), ApiError> {
    let Path(name) = name.map_err(rejection)?;
    known_monitor(&state, &name)?;
    match state.inner.service.trigger(&name) {
        Ok(at) => Ok((
            StatusCode::ACCEPTED,
            Json(TriggeredBody {
                monitor: name,
                scheduled_for: at,
            }),
        )),
        Err(TriggerError::UnknownMonitor(m)) => {
            Err(ApiError::NotFound(format!("no monitor named {m}")))
        }
        Err(e @ TriggerError::ShuttingDown) => Err(ApiError::Unavailable(e.to_string())),
        Err(e @ TriggerError::Busy(_)) => Err(ApiError::Conflict(e.to_string())),
    }
}

/// Marks an anomaly expected (admin): it stays in the history, is no longer an incident and is
/// learned from.
#[utoipa::path(post, path = "/api/v1/monitors/{monitor}/feedback", tag = "monitors", security(("bearer" = [])),
    params(("monitor" = String, Path, description = "monitor name")),
    request_body = FeedbackRequest,
    responses(
        (status = 200, body = FeedbackBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "the measurement is no anomaly", body = ErrorBody),
        (status = 413, body = ErrorBody),
    ))]
async fn feedback(
    _: Admin,
    State(state): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<FeedbackRequest>, JsonRejection>,
) -> Result<Json<FeedbackBody>, ApiError> {
    let Path(name) = name.map_err(rejection)?;
    known_monitor(&state, &name)?;
    let Json(req) = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => rejection(r.body_text()),
    })?;
    let key = series_key(&name, &req.metric, req.column.as_deref())?;
    let store = &state.inner.store;
    let points = match req.observed_at {
        Some(at) => store.history(&key, Some(at), 1000).await,
        None => store.history(&key, None, 1).await,
    }
    .map_err(|e| ApiError::internal("read a series", e))?;
    let point = match req.observed_at {
        Some(at) => points.into_iter().find(|p| p.observed_at == at),
        None => points.into_iter().last(),
    }
    .ok_or_else(|| ApiError::NotFound("no such measurement".into()))?;
    if point.status != Status::Anomaly {
        return Err(ApiError::Conflict(format!(
            "the measurement at {} is {}, not an anomaly",
            point.observed_at.to_rfc3339(),
            point.status.as_str()
        )));
    }
    let changed = store
        .mark_expected(&key, point.observed_at)
        .await
        .map_err(|e| ApiError::internal("mark a measurement expected", e))?;
    Ok(Json(FeedbackBody {
        changed: changed > 0,
        observed_at: point.observed_at,
        message: if changed > 0 {
            "marked expected: no longer an incident, and learned from".into()
        } else {
            "already marked expected".into()
        },
    }))
}

/// Health of a dataset for a pipeline to gate on: `failing` when any monitor watching it has a
/// latest result that failed, is an unmarked anomaly or an error, or has not run yet.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/health", tag = "datasets", security(("bearer" = [])),
    params(("dataset" = String, Path, description = "the dataset as configured, e.g. public.orders")),
    responses(
        (status = 200, body = DatasetHealth),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn dataset_health(
    _: Reader,
    State(state): State<ApiState>,
    dataset: Result<Path<String>, PathRejection>,
) -> Result<Json<DatasetHealth>, ApiError> {
    let Path(dataset) = dataset.map_err(rejection)?;
    let watching: Vec<crate::MonitorInfo> = state
        .inner
        .service
        .monitors()
        .iter()
        .filter(|m| m.dataset == dataset)
        .cloned()
        .collect();
    if watching.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no monitor watches dataset {dataset}"
        )));
    }
    let store = &state.inner.store;
    let mut reasons = Vec::new();
    for m in &watching {
        let latest = latest_of(&state, &m.name).await?;
        if latest.is_empty() {
            reasons.push(Reason {
                monitor: m.name.clone(),
                metric: None,
                column: None,
                status: "unknown".into(),
                message: "no measurement yet".into(),
            });
        }
        for r in latest.iter() {
            let failing = match r.status {
                Status::Fail | Status::Error => true,
                Status::Anomaly => {
                    let p = store
                        .history(&r.key, Some(r.observed_at), 1)
                        .await
                        .map_err(|e| ApiError::internal("read a series", e))?;
                    !p.last().is_some_and(|p| p.expected_anomaly)
                }
                Status::Pass | Status::Learning => false,
            };
            if failing {
                reasons.push(Reason {
                    monitor: m.name.clone(),
                    metric: Some(r.key.metric.as_str().to_string()),
                    column: r.key.label(),
                    status: r.status.as_str().to_string(),
                    message: r.message.clone(),
                });
            }
        }
    }
    Ok(Json(DatasetHealth {
        dataset,
        status: if reasons.is_empty() { "ok" } else { "failing" }.into(),
        monitors: watching.into_iter().map(|m| m.name).collect(),
        reasons,
    }))
}
