//! The alerting tables: incidents, silences, the durable outbox and the grouping state. The store
//! knows none of the `alerts` crate's types: labels, annotations, matchers and notifications arrive
//! as text (JSON or matcher syntax) that the monitor wrote, and leave the same way.
//!
//! The one write that matters for "never lose, never repeat" is [`Store::commit_alerting`]: incident
//! changes, the new outbox rows and the grouping state that produced them go in ONE transaction, and
//! the state is guarded by a version so two writers cannot both apply a flush.

use crate::backend::Backend;
use crate::sql::Sql;
use crate::{Inner, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{query, ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

/// An incident as stored. `state` is `open`, `acknowledged` or `resolved`; `labels` and
/// `annotations` are JSON objects; `last_status` is the status of the latest result row.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    /// 0 for an incident not yet stored.
    pub id: i64,
    pub dedup_key: String,
    pub fingerprint: String,
    pub state: String,
    pub severity: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub labels: String,
    pub annotations: String,
    pub last_status: String,
}

/// A change to the incidents table.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentWrite {
    /// A new incident (its `id` is ignored).
    Open(IncidentRecord),
    /// Every field of the incident with this `id`.
    Update(IncidentRecord),
}

/// A silence as stored; `matchers` in Alertmanager syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRecord {
    /// 0 for a silence not yet stored.
    pub id: i64,
    pub matchers: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

/// A notification to put in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxNew {
    /// The notification's own id (unique): writing it twice keeps the first row.
    pub notification_id: String,
    pub receiver: String,
    /// The notification as JSON.
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Option<OutboxState> {
        match s {
            "pending" => Some(OutboxState::Pending),
            "delivered" => Some(OutboxState::Delivered),
            "dead" => Some(OutboxState::Dead),
            _ => None,
        }
    }
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub id: i64,
    pub notification_id: String,
    pub receiver: String,
    pub body: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// Redacted by the notifier before it gets here.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The process sending it now ([`Store::claim_outbox`]); `None` when unclaimed.
    pub claimed_by: Option<String>,
    /// The claim holds until then; after it another process may take the row.
    pub claim_until: Option<DateTime<Utc>>,
}

impl OutboxRecord {
    /// When a process may next attempt the row: its `next_attempt_at`, or later while another
    /// process's claim on it is live at `now`.
    pub fn available_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.claim_until {
            Some(until) if until > now => until.max(self.next_attempt_at),
            _ => self.next_attempt_at,
        }
    }
}

/// What one alerting step stores, in ONE transaction ([`Store::commit_alerting`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingWrite {
    pub incidents: Vec<IncidentWrite>,
    /// The grouping state's name (one per process kind, e.g. `aggregator`).
    pub state_name: String,
    /// The version read with [`Store::alert_state`] (`0` when there was none).
    pub expected_version: i64,
    /// The new grouping state (JSON).
    pub state: String,
    pub outbox: Vec<OutboxNew>,
    pub at: DateTime<Utc>,
}

const INCIDENT_COLUMNS: &str = "id, dedup_key, fingerprint, state, severity, first_seen, \
     last_seen, acknowledged_at, acknowledged_by, resolved_at, resolved_by, labels, annotations, \
     last_status";

const OUTBOX_COLUMNS: &str = "id, notification_id, receiver, body, state, attempts, \
     next_attempt_at, last_error, created_at, delivered_at, claimed_by, claim_until";

fn query_err<DB: Backend>(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query {
        backend: DB::BACKEND,
        op,
        source,
    }
}

impl<DB> Sql<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB>,
    str: Type<DB>,
    String: Type<DB> + for<'r> Decode<'r, DB>,
    Option<String>: for<'r> Decode<'r, DB>,
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
{
    fn col<'r, T>(row: &'r DB::Row, col: &'static str) -> Result<T, StoreError>
    where
        T: Decode<'r, DB> + Type<DB>,
    {
        row.try_get(col).map_err(query_err::<DB>("decode a row"))
    }

    fn time(row: &DB::Row, col: &'static str) -> Result<DateTime<Utc>, StoreError> {
        let v: DB::Time = Self::col(row, col)?;
        DB::decode_time(v).map_err(|reason| StoreError::Corrupt {
            backend: DB::BACKEND,
            what: col,
            reason,
        })
    }

    fn opt_time(row: &DB::Row, col: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let v: Option<DB::Time> = Self::col(row, col)?;
        v.map(|v| {
            DB::decode_time(v).map_err(|reason| StoreError::Corrupt {
                backend: DB::BACKEND,
                what: col,
                reason,
            })
        })
        .transpose()
    }

    fn incident_row(row: &DB::Row) -> Result<IncidentRecord, StoreError> {
        Ok(IncidentRecord {
            id: Self::col(row, "id")?,
            dedup_key: Self::col(row, "dedup_key")?,
            fingerprint: Self::col(row, "fingerprint")?,
            state: Self::col(row, "state")?,
            severity: Self::col(row, "severity")?,
            first_seen: Self::time(row, "first_seen")?,
            last_seen: Self::time(row, "last_seen")?,
            acknowledged_at: Self::opt_time(row, "acknowledged_at")?,
            acknowledged_by: Self::col(row, "acknowledged_by")?,
            resolved_at: Self::opt_time(row, "resolved_at")?,
            resolved_by: Self::col(row, "resolved_by")?,
            labels: Self::col(row, "labels")?,
            annotations: Self::col(row, "annotations")?,
            last_status: Self::col(row, "last_status")?,
        })
    }

    fn outbox_row(row: &DB::Row) -> Result<OutboxRecord, StoreError> {
        let state: String = Self::col(row, "state")?;
        Ok(OutboxRecord {
            id: Self::col(row, "id")?,
            notification_id: Self::col(row, "notification_id")?,
            receiver: Self::col(row, "receiver")?,
            body: Self::col(row, "body")?,
            state: OutboxState::parse(&state).ok_or_else(|| StoreError::Corrupt {
                backend: DB::BACKEND,
                what: "outbox state",
                reason: format!("unknown state {state:?}"),
            })?,
            attempts: Self::col(row, "attempts")?,
            next_attempt_at: Self::time(row, "next_attempt_at")?,
            last_error: Self::col(row, "last_error")?,
            created_at: Self::time(row, "created_at")?,
            delivered_at: Self::opt_time(row, "delivered_at")?,
            claimed_by: Self::col(row, "claimed_by")?,
            claim_until: Self::opt_time(row, "claim_until")?,
        })
    }

    fn silence_row(row: &DB::Row) -> Result<SilenceRecord, StoreError> {
        Ok(SilenceRecord {
            id: Self::col(row, "id")?,
            matchers: Self::col(row, "matchers")?,
            starts_at: Self::time(row, "starts_at")?,
            ends_at: Self::time(row, "ends_at")?,
            created_by: Self::col(row, "created_by")?,
            comment: Self::col(row, "comment")?,
            created_at: Self::time(row, "created_at")?,
        })
    }

    async fn put_incident(
        conn: &mut DB::Connection,
        w: &IncidentWrite,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let (sql, r) = match w {
            IncidentWrite::Open(r) => (
                "INSERT INTO incidents (dedup_key, fingerprint, state, severity, first_seen, \
                 last_seen, acknowledged_at, acknowledged_by, resolved_at, resolved_by, labels, \
                 annotations, last_status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                r,
            ),
            IncidentWrite::Update(r) => (
                "UPDATE incidents SET dedup_key = $1, fingerprint = $2, state = $3, severity = $4, \
                 first_seen = $5, last_seen = $6, acknowledged_at = $7, acknowledged_by = $8, \
                 resolved_at = $9, resolved_by = $10, labels = $11, annotations = $12, \
                 last_status = $13 WHERE id = $14",
                r,
            ),
        };
        let mut q = query(sql)
            .bind(r.dedup_key.as_str())
            .bind(r.fingerprint.as_str())
            .bind(r.state.as_str())
            .bind(r.severity.as_str())
            .bind(DB::encode_time(r.first_seen))
            .bind(DB::encode_time(r.last_seen))
            .bind(r.acknowledged_at.map(DB::encode_time))
            .bind(r.acknowledged_by.as_deref())
            .bind(r.resolved_at.map(DB::encode_time))
            .bind(r.resolved_by.as_deref())
            .bind(r.labels.as_str())
            .bind(r.annotations.as_str())
            .bind(r.last_status.as_str());
        if let IncidentWrite::Update(r) = w {
            q = q.bind(r.id);
        }
        q.execute(&mut *conn).await.map_err(query_err::<DB>(op))?;
        Ok(())
    }

    pub async fn commit_alerting(&self, w: &AlertingWrite) -> Result<bool, StoreError> {
        let op = "commit alerting state";
        let mut tx = self.pool().begin().await.map_err(query_err::<DB>(op))?;
        // The state first: a writer that lost the race changes nothing.
        let done = if w.expected_version == 0 {
            query(
                "INSERT INTO alert_state (name, state, version, updated_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(w.state_name.as_str())
            .bind(w.state.as_str())
            .bind(DB::encode_time(w.at))
            .execute(&mut *tx)
            .await
        } else {
            query(
                "UPDATE alert_state SET state = $1, version = version + 1, updated_at = $2 \
                 WHERE name = $3 AND version = $4",
            )
            .bind(w.state.as_str())
            .bind(DB::encode_time(w.at))
            .bind(w.state_name.as_str())
            .bind(w.expected_version)
            .execute(&mut *tx)
            .await
        }
        .map_err(query_err::<DB>(op))?;
        if DB::rows_affected(&done) == 0 {
            return Ok(false);
        }
        for i in &w.incidents {
            Self::put_incident(&mut tx, i, op).await?;
        }
        for n in &w.outbox {
            query(
                "INSERT INTO outbox (notification_id, receiver, body, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4) \
                 ON CONFLICT (notification_id) DO NOTHING",
            )
            .bind(n.notification_id.as_str())
            .bind(n.receiver.as_str())
            .bind(n.body.as_str())
            .bind(DB::encode_time(n.created_at))
            .execute(&mut *tx)
            .await
            .map_err(query_err::<DB>(op))?;
        }
        tx.commit().await.map_err(query_err::<DB>(op))?;
        Ok(true)
    }

    pub async fn alert_state(&self, name: &str) -> Result<Option<(String, i64)>, StoreError> {
        let row = query("SELECT state, version FROM alert_state WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(query_err::<DB>("read alerting state"))?;
        row.map(|r| Ok((Self::col(&r, "state")?, Self::col(&r, "version")?)))
            .transpose()
    }

    pub async fn unresolved_incident(
        &self,
        fingerprint: &str,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE fingerprint = $1 AND state <> 'resolved'"
        );
        let row = query(&sql)
            .bind(fingerprint)
            .fetch_optional(self.pool())
            .await
            .map_err(query_err::<DB>("read an incident"))?;
        row.as_ref().map(Self::incident_row).transpose()
    }

    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        let row = query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(query_err::<DB>("read an incident"))?;
        row.as_ref().map(Self::incident_row).transpose()
    }

    pub async fn incidents(
        &self,
        unresolved_only: bool,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents \
             WHERE ($1 = 0 OR state <> 'resolved') ORDER BY first_seen DESC, id DESC"
        );
        let rows = query(&sql)
            .bind(i64::from(unresolved_only))
            .fetch_all(self.pool())
            .await
            .map_err(query_err::<DB>("list incidents"))?;
        rows.iter().map(Self::incident_row).collect()
    }

    pub async fn update_incident(&self, r: &IncidentRecord) -> Result<bool, StoreError> {
        let op = "update an incident";
        let mut conn = self.pool().acquire().await.map_err(query_err::<DB>(op))?;
        if self.incident(r.id).await?.is_none() {
            return Ok(false);
        }
        Self::put_incident(&mut conn, &IncidentWrite::Update(r.clone()), op).await?;
        Ok(true)
    }

    pub async fn insert_silence(&self, s: &SilenceRecord) -> Result<i64, StoreError> {
        let row = query(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(s.matchers.as_str())
        .bind(DB::encode_time(s.starts_at))
        .bind(DB::encode_time(s.ends_at))
        .bind(s.created_by.as_str())
        .bind(s.comment.as_str())
        .bind(DB::encode_time(s.created_at))
        .fetch_one(self.pool())
        .await
        .map_err(query_err::<DB>("add a silence"))?;
        Self::col(&row, "id")
    }

    pub async fn silences(
        &self,
        ending_after: Option<DateTime<Utc>>,
    ) -> Result<Vec<SilenceRecord>, StoreError> {
        let rows = query(
            "SELECT id, matchers, starts_at, ends_at, created_by, comment, created_at \
             FROM silences WHERE ($1 IS NULL OR ends_at > $1) ORDER BY starts_at, id",
        )
        .bind(ending_after.map(DB::encode_time))
        .fetch_all(self.pool())
        .await
        .map_err(query_err::<DB>("list silences"))?;
        rows.iter().map(Self::silence_row).collect()
    }

    pub async fn set_silence_end(
        &self,
        id: i64,
        ends_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = query("UPDATE silences SET ends_at = $1 WHERE id = $2")
            .bind(DB::encode_time(ends_at))
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(query_err::<DB>("expire a silence"))?;
        Ok(DB::rows_affected(&done))
    }

    pub async fn enqueue(&self, rows: &[OutboxNew]) -> Result<(), StoreError> {
        let op = "enqueue notifications";
        let mut tx = self.pool().begin().await.map_err(query_err::<DB>(op))?;
        for n in rows {
            query(
                "INSERT INTO outbox (notification_id, receiver, body, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4) \
                 ON CONFLICT (notification_id) DO NOTHING",
            )
            .bind(n.notification_id.as_str())
            .bind(n.receiver.as_str())
            .bind(n.body.as_str())
            .bind(DB::encode_time(n.created_at))
            .execute(&mut *tx)
            .await
            .map_err(query_err::<DB>(op))?;
        }
        tx.commit().await.map_err(query_err::<DB>(op))
    }

    pub async fn outbox(
        &self,
        state: Option<OutboxState>,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 IS NULL OR state = $1) \
             ORDER BY next_attempt_at, id"
        );
        let rows = query(&sql)
            .bind(state.map(OutboxState::as_str))
            .fetch_all(self.pool())
            .await
            .map_err(query_err::<DB>("read the outbox"))?;
        rows.iter().map(Self::outbox_row).collect()
    }

    pub async fn claim_outbox(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        // The subquery picks the soonest due row nobody holds; the outer conditions are checked
        // again on the row itself when the UPDATE takes it (PostgreSQL re-evaluates them after a
        // concurrent writer's commit), so of two claimers exactly one gets it.
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, claim_until = $2 \
             WHERE id = (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3 \
                           AND (claim_until IS NULL OR claim_until <= $3) \
                         ORDER BY next_attempt_at, id LIMIT 1{}) \
               AND state = 'pending' AND (claim_until IS NULL OR claim_until <= $3) \
             RETURNING {OUTBOX_COLUMNS}",
            DB::SKIP_LOCKED
        );
        let row = query(&sql)
            .bind(holder)
            .bind(DB::encode_time(until))
            .bind(DB::encode_time(now))
            .fetch_optional(self.pool())
            .await
            .map_err(query_err::<DB>("claim a notification"))?;
        row.as_ref().map(Self::outbox_row).transpose()
    }

    pub async fn finish_delivery(
        &self,
        id: i64,
        state: OutboxState,
        attempts: i64,
        next_attempt_at: DateTime<Utc>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let delivered = (state == OutboxState::Delivered).then_some(at);
        let done = query(
            "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, \
             last_error = COALESCE($4, last_error), delivered_at = $5, claimed_by = NULL, \
             claim_until = NULL WHERE id = $6 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(attempts)
        .bind(DB::encode_time(next_attempt_at))
        .bind(error)
        .bind(delivered.map(DB::encode_time))
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(query_err::<DB>("record a delivery"))?;
        Ok(DB::rows_affected(&done))
    }

    pub async fn prune_alerting(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let op = "prune alerting history";
        let mut tx = self.pool().begin().await.map_err(query_err::<DB>(op))?;
        let mut n = 0;
        for sql in [
            "DELETE FROM outbox WHERE state <> 'pending' AND created_at < $1",
            "DELETE FROM incidents WHERE state = 'resolved' AND resolved_at < $1",
            "DELETE FROM silences WHERE ends_at < $1",
        ] {
            let done = query(sql)
                .bind(DB::encode_time(before))
                .execute(&mut *tx)
                .await
                .map_err(query_err::<DB>(op))?;
            n += DB::rows_affected(&done);
        }
        tx.commit().await.map_err(query_err::<DB>(op))?;
        Ok(n)
    }
}

impl Store {
    /// Deletes delivered and dead outbox rows created, incidents resolved and silences ended before
    /// `before` (pending notifications are never pruned). Returns how many rows went.
    pub async fn prune_alerting(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, s => s.prune_alerting(before).await)
    }

    /// Incident changes, new outbox rows and the grouping state in ONE transaction. Returns `false`
    /// (and writes nothing) when the state's version is no longer `expected_version`: another writer
    /// got there first; read the state again and redo the step.
    pub async fn commit_alerting(&self, w: &AlertingWrite) -> Result<bool, StoreError> {
        on_backend!(self, s => s.commit_alerting(w).await)
    }

    /// The grouping state stored under `name` and its version.
    pub async fn alert_state(&self, name: &str) -> Result<Option<(String, i64)>, StoreError> {
        on_backend!(self, s => s.alert_state(name).await)
    }

    /// The open or acknowledged incident of a series, if any.
    pub async fn unresolved_incident(
        &self,
        fingerprint: &str,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        on_backend!(self, s => s.unresolved_incident(fingerprint).await)
    }

    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        on_backend!(self, s => s.incident(id).await)
    }

    /// Incidents, newest first; only those not resolved when `unresolved_only`.
    pub async fn incidents(
        &self,
        unresolved_only: bool,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        on_backend!(self, s => s.incidents(unresolved_only).await)
    }

    /// Overwrites the incident with `r.id`; `false` when there is none.
    pub async fn update_incident(&self, r: &IncidentRecord) -> Result<bool, StoreError> {
        on_backend!(self, s => s.update_incident(r).await)
    }

    /// Stores a silence and returns its id.
    pub async fn insert_silence(&self, s: &SilenceRecord) -> Result<i64, StoreError> {
        on_backend!(self, q => q.insert_silence(s).await)
    }

    /// Silences by start time; with `Some(t)` only those ending after `t` (active or pending).
    pub async fn silences(
        &self,
        ending_after: Option<DateTime<Utc>>,
    ) -> Result<Vec<SilenceRecord>, StoreError> {
        on_backend!(self, s => s.silences(ending_after).await)
    }

    /// Moves a silence's end; returns how many rows changed (0: no such silence).
    pub async fn set_silence_end(
        &self,
        id: i64,
        ends_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_backend!(self, s => s.set_silence_end(id, ends_at).await)
    }

    /// Puts notifications in the outbox as pending, due at their `created_at`, in one transaction.
    pub async fn enqueue(&self, rows: &[OutboxNew]) -> Result<(), StoreError> {
        on_backend!(self, s => s.enqueue(rows).await)
    }

    /// Outbox rows (all, or in one state), the soonest due first.
    pub async fn outbox(
        &self,
        state: Option<OutboxState>,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        on_backend!(self, s => s.outbox(state).await)
    }

    /// Claims the soonest due pending row that no live claim holds, for `holder` until `until`, and
    /// returns it (`None`: nothing is due and free at `now`). One conditional statement on both
    /// backends (PostgreSQL adds `FOR UPDATE SKIP LOCKED` to its row pick), so of several
    /// processes draining one outbox exactly one sends each row; a claim left by a dead process
    /// expires at `until`. [`Store::finish_delivery`] releases it.
    pub async fn claim_outbox(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        on_backend!(self, s => s.claim_outbox(holder, now, until).await)
    }

    /// Records the outcome of a delivery attempt on a pending row: `Delivered`, `Pending` again (a
    /// retry at `next_attempt_at`) or `Dead`, and releases its claim. `error` (already redacted)
    /// replaces the last error when given. Returns 0 when the row is not pending any more.
    pub async fn finish_delivery(
        &self,
        id: i64,
        state: OutboxState,
        attempts: i64,
        next_attempt_at: DateTime<Utc>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_backend!(self, s => s.finish_delivery(id, state, attempts, next_attempt_at, error, at).await)
    }
}
