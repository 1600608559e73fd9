//! Incidents and silences over HTTP: list, get, acknowledge and resolve incidents; create, list and
//! expire silences. The state lives in the store (`tidewatch_store::alerts`); the transition rules
//! and the matcher syntax are the `alerts` crate's, so the API, the CLI and the service agree.

use crate::auth::{Admin, Reader};
use crate::error::{rejection, ApiError, ErrorBody};
use crate::ApiState;
use alerts::silence::SilenceState;
use alerts::{Incident, IncidentState, Matchers, Severity, Silence};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tidewatch_store::{IncidentRecord, SilenceRecord};
use utoipa::{IntoParams, ToSchema};

/// Longest `by`, `created_by` and `comment` accepted.
const MAX_NAME: usize = 200;
const MAX_COMMENT: usize = 2000;

// ---------------------------------------------------------------------------------------------
// Shared with the CLI

/// Why an incident cannot change as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionFailure {
    /// The stored state is not one the rules know.
    #[error("incident has an unknown state {0:?}")]
    UnknownState(String),
    /// The rules refuse it (e.g. acknowledging a resolved incident).
    #[error("incident {id} is {from}, cannot {action}")]
    Refused {
        id: i64,
        from: &'static str,
        action: &'static str,
    },
}

/// `rec` acknowledged (`resolve = false`) or resolved by `by` at `now`, by the `alerts` crate's
/// rules (`open → acknowledged → resolved`, `open → resolved`).
pub fn transition(
    rec: &IncidentRecord,
    resolve: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<IncidentRecord, TransitionFailure> {
    let state = match rec.state.as_str() {
        "open" => IncidentState::Open,
        "acknowledged" => IncidentState::Acknowledged,
        "resolved" => IncidentState::Resolved,
        other => return Err(TransitionFailure::UnknownState(other.to_string())),
    };
    let mut inc = Incident {
        dedup_key: rec.dedup_key.clone(),
        fingerprint: rec.fingerprint.clone(),
        state,
        severity: rec.severity.parse().unwrap_or(Severity::Warning),
        opened_at: rec.first_seen,
        last_seen: rec.last_seen,
        acknowledged_at: rec.acknowledged_at,
        acknowledged_by: rec.acknowledged_by.clone(),
        resolved_at: rec.resolved_at,
        resolution: None,
    };
    if resolve {
        inc.resolve(by, now)
    } else {
        inc.acknowledge(by, now)
    }
    .map_err(|e| TransitionFailure::Refused {
        id: rec.id,
        from: e.from.as_str(),
        action: e.action,
    })?;
    let mut out = rec.clone();
    out.state = inc.state.as_str().to_string();
    out.acknowledged_at = inc.acknowledged_at;
    out.acknowledged_by = inc.acknowledged_by;
    if resolve {
        out.resolved_at = inc.resolved_at;
        out.resolved_by = Some(by.to_string());
    }
    Ok(out)
}

/// A checked silence from its parts: each `matchers` entry is one matcher or a comma-separated
/// list (Alertmanager syntax, `{…}` optional), all of which must hold.
pub fn build_silence(
    matchers: &[String],
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: &str,
    comment: &str,
) -> Result<Silence, String> {
    let mut list = Vec::new();
    for m in matchers {
        let parsed = Matchers::parse(m).map_err(|e| format!("matcher {m:?}: {e}"))?;
        list.extend(parsed.iter().cloned());
    }
    Silence::new(
        "new",
        Matchers::new(list),
        starts_at,
        ends_at,
        created_by,
        comment,
    )
    .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Types

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    /// `open` (default: open and acknowledged) or `all` (resolved too).
    pub state: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Incidents to skip (newest first).
    pub offset: Option<u32>,
}

/// An incident: one failing series from its first failure until it passes again or is resolved.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentBody {
    pub id: i64,
    /// Stable per series (PagerDuty's dedup key).
    pub dedup_key: String,
    /// `monitor/metric[/column]`.
    pub fingerprint: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// `info`, `warning` or `critical`: the highest seen while open.
    pub severity: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `auto` when the check passed again, else who resolved it.
    pub resolved_by: Option<String>,
    /// Status of the series' latest result (`fail`, `anomaly`, `error`, or `pass` once resolved).
    pub last_status: String,
    /// The alert's labels (monitor, dataset, metric, column, severity, the monitor's own).
    #[schema(value_type = Object)]
    pub labels: serde_json::Value,
    /// The alert's annotations (value, expected band, check, message).
    #[schema(value_type = Object)]
    pub annotations: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    /// Newest first.
    pub incidents: Vec<IncidentBody>,
    pub total: usize,
    pub offset: u32,
    pub limit: u32,
}

/// Who acknowledges or resolves (optional body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// A name for the record (default `api`).
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Matchers that must all hold, Alertmanager syntax: `dataset="public.orders"`,
    /// `team=~"pay.*"`, `severity!="info"`; an entry may hold several separated by commas.
    pub matchers: Vec<String>,
    /// How long from `starts_at`, e.g. `2h`, `1d`, `1h30m`. Give this or `ends_at`.
    pub duration: Option<String>,
    /// When it ends (RFC 3339). Give this or `duration`.
    pub ends_at: Option<DateTime<Utc>>,
    /// When it starts (default now).
    pub starts_at: Option<DateTime<Utc>>,
    /// Why (required).
    pub comment: String,
    /// Who (required).
    pub created_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceBody {
    pub id: i64,
    /// The matchers, e.g. `{dataset="public.orders"}`.
    pub matchers: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// `pending`, `active` or `expired`, now.
    pub state: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SilencesQuery {
    /// `active` (default: active and pending) or `all` (expired too).
    pub state: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Silences to skip (by start time).
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SilencePage {
    pub silences: Vec<SilenceBody>,
    pub total: usize,
    pub offset: u32,
    pub limit: u32,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn json_object(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

fn incident_body(r: IncidentRecord) -> IncidentBody {
    IncidentBody {
        labels: json_object(&r.labels),
        annotations: json_object(&r.annotations),
        id: r.id,
        dedup_key: r.dedup_key,
        fingerprint: r.fingerprint,
        state: r.state,
        severity: r.severity,
        first_seen: r.first_seen,
        last_seen: r.last_seen,
        acknowledged_at: r.acknowledged_at,
        acknowledged_by: r.acknowledged_by,
        resolved_at: r.resolved_at,
        resolved_by: r.resolved_by,
        last_status: r.last_status,
    }
}

fn silence_state(s: &SilenceRecord, now: DateTime<Utc>) -> SilenceState {
    // An expired pending silence ends before it starts: expired wins.
    if now >= s.ends_at {
        SilenceState::Expired
    } else if now < s.starts_at {
        SilenceState::Pending
    } else {
        SilenceState::Active
    }
}

fn silence_body(s: SilenceRecord, now: DateTime<Utc>) -> SilenceBody {
    let state = match silence_state(&s, now) {
        SilenceState::Pending => "pending",
        SilenceState::Active => "active",
        SilenceState::Expired => "expired",
    };
    SilenceBody {
        id: s.id,
        matchers: s.matchers,
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
        created_at: s.created_at,
        state: state.into(),
    }
}

fn offset_page<T>(all: Vec<T>, offset: u32, limit: u32) -> Vec<T> {
    all.into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect()
}

/// The raw body, or the JSON error for one too large (413) or unreadable (400).
fn raw_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => rejection(r.body_text()),
    })
}

/// A JSON body that may be empty (then `T::default()`).
fn optional_body<T: Default + for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| rejection(format!("invalid json body: {e}")))
}

fn name_field(what: &str, v: &str, max: usize) -> Result<String, ApiError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(ApiError::BadRequest(format!("{what} must not be empty")));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{what} must be at most {max} characters without control characters"
        )));
    }
    Ok(v.to_string())
}

async fn load_incident(state: &ApiState, id: i64) -> Result<IncidentRecord, ApiError> {
    state
        .inner
        .store
        .incident(id)
        .await
        .map_err(|e| ApiError::internal("read an incident", e))?
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))
}

async fn change_incident(
    state: ApiState,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    resolve: bool,
) -> Result<Json<IncidentBody>, ApiError> {
    let Path(id) = id.map_err(rejection)?;
    let req: TransitionRequest = optional_body(&raw_body(body)?)?;
    let by = match &req.by {
        Some(b) => name_field("by", b, MAX_NAME)?,
        None => "api".to_string(),
    };
    let rec = load_incident(&state, id).await?;
    let next = transition(&rec, resolve, &by, Utc::now()).map_err(|e| match e {
        TransitionFailure::Refused { .. } => ApiError::Conflict(e.to_string()),
        TransitionFailure::UnknownState(_) => ApiError::internal("change an incident", e),
    })?;
    let found = state
        .inner
        .store
        .update_incident(&next)
        .await
        .map_err(|e| ApiError::internal("update an incident", e))?;
    if !found {
        return Err(ApiError::NotFound(format!("no incident {id}")));
    }
    Ok(Json(incident_body(next)))
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Incidents, newest first: open and acknowledged ones (default), or all.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])),
    params(IncidentsQuery),
    responses(
        (status = 200, body = IncidentPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ))]
pub(crate) async fn list_incidents(
    _: Reader,
    State(state): State<ApiState>,
    q: Result<Query<IncidentsQuery>, QueryRejection>,
) -> Result<Json<IncidentPage>, ApiError> {
    let Query(q) = q.map_err(rejection)?;
    let unresolved_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state {other:?} is not open or all"
            )))
        }
    };
    let limit = state.inner.limits.page(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let all = state
        .inner
        .store
        .incidents(unresolved_only)
        .await
        .map_err(|e| ApiError::internal("list incidents", e))?;
    let total = all.len();
    Ok(Json(IncidentPage {
        incidents: offset_page(all, offset, limit)
            .into_iter()
            .map(incident_body)
            .collect(),
        total,
        offset,
        limit,
    }))
}

/// One incident.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "incident id")),
    responses(
        (status = 200, body = IncidentBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub(crate) async fn get_incident(
    _: Reader,
    State(state): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<IncidentBody>, ApiError> {
    let Path(id) = id.map_err(rejection)?;
    Ok(Json(incident_body(load_incident(&state, id).await?)))
}

/// Acknowledges an open incident (admin): `open → acknowledged`. The body is optional.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "incident id")),
    request_body(content = TransitionRequest, description = "optional: who acknowledges"),
    responses(
        (status = 200, body = IncidentBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the incident is not open", body = ErrorBody),
        (status = 413, body = ErrorBody),
    ))]
pub(crate) async fn acknowledge_incident(
    _: Admin,
    State(state): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentBody>, ApiError> {
    change_incident(state, id, body, false).await
}

/// Resolves an open or acknowledged incident by hand (admin). A series that still fails opens a
/// new incident at its next run. The body is optional.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "incident id")),
    request_body(content = TransitionRequest, description = "optional: who resolves"),
    responses(
        (status = 200, body = IncidentBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the incident is already resolved", body = ErrorBody),
        (status = 413, body = ErrorBody),
    ))]
pub(crate) async fn resolve_incident(
    _: Admin,
    State(state): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentBody>, ApiError> {
    change_incident(state, id, body, true).await
}

/// Silences that have not ended (default: active and pending), or all, by start time.
#[utoipa::path(get, path = "/api/v1/silences", tag = "silences", security(("bearer" = [])),
    params(SilencesQuery),
    responses(
        (status = 200, body = SilencePage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ))]
pub(crate) async fn list_silences(
    _: Reader,
    State(state): State<ApiState>,
    q: Result<Query<SilencesQuery>, QueryRejection>,
) -> Result<Json<SilencePage>, ApiError> {
    let Query(q) = q.map_err(rejection)?;
    let now = Utc::now();
    let ending_after = match q.state.as_deref() {
        None | Some("active") => Some(now),
        Some("all") => None,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state {other:?} is not active or all"
            )))
        }
    };
    let limit = state.inner.limits.page(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let all = state
        .inner
        .store
        .silences(ending_after)
        .await
        .map_err(|e| ApiError::internal("list silences", e))?;
    let total = all.len();
    Ok(Json(SilencePage {
        silences: offset_page(all, offset, limit)
            .into_iter()
            .map(|s| silence_body(s, now))
            .collect(),
        total,
        offset,
        limit,
    }))
}

/// Creates a silence (admin): alerts matching every matcher are not notified between `starts_at`
/// and its end (incidents are still recorded).
#[utoipa::path(post, path = "/api/v1/silences", tag = "silences", security(("bearer" = [])),
    request_body = SilenceRequest,
    responses(
        (status = 201, body = SilenceBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody),
    ))]
pub(crate) async fn create_silence(
    _: Admin,
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SilenceBody>), ApiError> {
    let body = raw_body(body)?;
    let req: SilenceRequest =
        serde_json::from_slice(&body).map_err(|e| rejection(format!("invalid json body: {e}")))?;
    let now = Utc::now();
    let created_by = name_field("created_by", &req.created_by, MAX_NAME)?;
    let comment = name_field("comment", &req.comment, MAX_COMMENT)?;
    let starts_at = req.starts_at.unwrap_or(now);
    let ends_at = match (&req.duration, req.ends_at) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give duration or ends_at, not both".into(),
            ))
        }
        (None, None) => return Err(ApiError::BadRequest("give duration or ends_at".into())),
        (None, Some(t)) => t,
        (Some(d), None) => {
            let parsed = alerts::route::parse_duration(d)
                .map_err(|e| ApiError::BadRequest(format!("duration {d:?}: {e}")))?;
            TimeDelta::from_std(parsed)
                .ok()
                .and_then(|d| starts_at.checked_add_signed(d))
                .ok_or_else(|| ApiError::BadRequest(format!("duration {d:?} is too long")))?
        }
    };
    if ends_at <= now {
        return Err(ApiError::BadRequest(
            "the silence would end in the past".into(),
        ));
    }
    let s = build_silence(&req.matchers, starts_at, ends_at, &created_by, &comment)
        .map_err(ApiError::BadRequest)?;
    let mut rec = SilenceRecord {
        id: 0,
        matchers: s.matchers.to_string(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
        created_at: now,
    };
    rec.id = state
        .inner
        .store
        .insert_silence(&rec)
        .await
        .map_err(|e| ApiError::internal("store a silence", e))?;
    Ok((StatusCode::CREATED, Json(silence_body(rec, now))))
}

/// Ends a silence now (admin); a pending one ends before it starts (and never mutes).
#[utoipa::path(post, path = "/api/v1/silences/{id}/expire", tag = "silences", security(("bearer" = [])),
    params(("id" = i64, Path, description = "silence id")),
    responses(
        (status = 200, body = SilenceBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the silence already ended", body = ErrorBody),
    ))]
pub(crate) async fn expire_silence(
    _: Admin,
    State(state): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<SilenceBody>, ApiError> {
    let Path(id) = id.map_err(rejection)?;
    let store = &state.inner.store;
    let now = Utc::now();
    let mut s = store
        .silences(None)
        .await
        .map_err(|e| ApiError::internal("read silences", e))?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no silence {id}")))?;
    if s.ends_at <= now {
        return Err(ApiError::Conflict(format!(
            "silence {id} already ended at {}",
            s.ends_at.to_rfc3339()
        )));
    }
    let end = now;
    let changed = store
        .set_silence_end(id, end)
        .await
        .map_err(|e| ApiError::internal("expire a silence", e))?;
    if changed == 0 {
        return Err(ApiError::NotFound(format!("no silence {id}")));
    }
    s.ends_at = end;
    Ok(Json(silence_body(s, now)))
}
