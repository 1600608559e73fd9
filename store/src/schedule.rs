//! What the service (`tidewatch run` and its HTTP API) adds to the store: claims of scheduled runs,
//! their outcomes, a readiness ping and a series' history with its bands.
//!
//! A scheduled run is claimed with ONE `INSERT … ON CONFLICT (monitor, scheduled_for) DO NOTHING`: the
//! primary key makes the claim atomic between processes on both backends, so of several service
//! processes sharing a PostgreSQL store exactly one executes each (monitor, scheduled time).

use crate::backend::Backend;
use crate::codec::{self, StoredKey};
use crate::sql::{query_err, Sql};
use crate::{Inner, SeriesKey, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{query, ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// One claimed run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledRun {
    pub monitor: String,
    /// The slot of the schedule, or the request time of a manual run.
    pub scheduled_for: DateTime<Utc>,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Which process claimed it.
    pub holder: String,
    pub claimed_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while running; then e.g. `ok`, `problems`, `error`, `skipped`.
    pub outcome: Option<String>,
    pub message: String,
    /// The scan's run (`runs.id`), when one was recorded.
    pub run_id: Option<i64>,
}

/// One measurement of a series with its band, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPoint {
    pub run_id: i64,
    pub observed_at: DateTime<Utc>,
    pub value: Option<f64>,
    pub status: checks::Status,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub message: String,
    /// Marked by [`Store::mark_expected`].
    pub expected_anomaly: bool,
}

/// How a claimed run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome<'a> {
    pub finished_at: DateTime<Utc>,
    pub outcome: &'a str,
    pub message: &'a str,
    pub run_id: Option<i64>,
}

const MAX_PAGE: i64 = 10_000;

fn check_page(limit: i64) -> Result<i64, StoreError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(StoreError::Invalid {
            what: "page size",
            reason: format!("{limit} is not between 1 and {MAX_PAGE}"),
        })
    }
}

impl Store {
    /// Claims (monitor, scheduled_for) for `holder`: `true` when this call inserted the claim, `false`
    /// when any holder (this one included) claimed it before. One atomic statement.
    pub async fn claim_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        trigger: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_backend!(self, s => s.claim_scheduled_run(monitor, scheduled_for, trigger, holder, now).await)
    }

    /// Extends the lease of a run `holder` claimed and has not finished, to `until` (the executing
    /// process renews it while the run goes). Returns whether the row was still `holder`'s and
    /// running.
    pub async fn renew_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_backend!(self, s => s.renew_scheduled_run(monitor, scheduled_for, holder, until).await)
    }

    /// Marks every run still going whose lease ended before `now` as `abandoned` (its process died:
    /// nobody renews it) and returns them. One conditional `UPDATE`: of several processes reaping at
    /// once each row is returned to exactly one.
    pub async fn reap_abandoned_runs(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ScheduledRun>, StoreError> {
        on_backend!(self, s => s.reap_abandoned_runs(now).await)
    }

    /// Records that the claimed run started (after waiting for its source's concurrency slot).
    pub async fn start_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.start_scheduled_run(monitor, scheduled_for, started_at).await)
    }

    /// Records how the claimed run ended.
    pub async fn finish_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        outcome: &RunOutcome<'_>,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.finish_scheduled_run(monitor, scheduled_for, outcome).await)
    }

    /// Claimed runs, newest `scheduled_for` first, of one monitor or all, strictly before `before` when
    /// given (the page cursor), at most `limit` (1 to 10,000).
    pub async fn scheduled_runs(
        &self,
        monitor: Option<&str>,
        before: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ScheduledRun>, StoreError> {
        let limit = check_page(limit)?;
        on_backend!(self, s => s.scheduled_runs(monitor, before, limit).await)
    }

    /// The newest `scheduled_for` of the monitor's runs with trigger `schedule`, if any.
    pub async fn last_scheduled(&self, monitor: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_backend!(self, s => s.last_scheduled(monitor).await)
    }

    /// One trivial statement: whether the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, s => s.ping().await)
    }

    /// The measurements of one series with their bands and messages, oldest first, `observed_at >=
    /// since` when given, only the newest `limit` (1 to 10,000).
    pub async fn history(
        &self,
        key: &SeriesKey,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let key = StoredKey::of(key)?;
        let limit = check_page(limit)?;
        on_backend!(self, s => s.history(&key, since, limit).await)
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
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    f64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    for<'q> Option<f64>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
    bool: Type<DB> + for<'r> Decode<'r, DB>,
{
    async fn claim_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        trigger: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = query(
            "INSERT INTO scheduled_runs (monitor, scheduled_for, trigger, holder, claimed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (monitor, scheduled_for) DO NOTHING \
             RETURNING monitor",
        )
        .bind(monitor)
        .bind(DB::encode_time(scheduled_for))
        .bind(trigger)
        .bind(holder)
        .bind(DB::encode_time(now))
        .fetch_optional(self.pool())
        .await
        .map_err(query_err::<DB>("claim a scheduled run"))?;
        Ok(row.is_some())
    }

    async fn renew_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE scheduled_runs SET lease_until = $1 \
             WHERE monitor = $2 AND scheduled_for = $3 AND holder = $4 AND outcome IS NULL",
        )
        .bind(DB::encode_time(until))
        .bind(monitor)
        .bind(DB::encode_time(scheduled_for))
        .bind(holder)
        .execute(self.pool())
        .await
        .map_err(query_err::<DB>("renew a scheduled run"))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn reap_abandoned_runs(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ScheduledRun>, StoreError> {
        let rows = query(
            "UPDATE scheduled_runs SET outcome = 'abandoned', finished_at = $1, \
                    message = 'its process stopped renewing the lease (killed or hung); a survivor marked it' \
             WHERE outcome IS NULL AND lease_until IS NOT NULL AND lease_until < $1 \
             RETURNING monitor, scheduled_for, trigger, holder, claimed_at, started_at, \
                       finished_at, outcome, message, run_id",
        )
        .bind(DB::encode_time(now))
        .fetch_all(self.pool())
        .await
        .map_err(query_err::<DB>("reap abandoned runs"))?;
        rows.iter().map(Self::scheduled_run_row).collect()
    }

    fn scheduled_run_row(row: &DB::Row) -> Result<ScheduledRun, StoreError> {
        let opt_time = |col: &'static str| -> Result<_, StoreError> {
            Self::get::<Option<DB::Time>>(row, col)?
                .map(|t| Self::decode_time(col, t))
                .transpose()
        };
        Ok(ScheduledRun {
            monitor: Self::get(row, "monitor")?,
            scheduled_for: Self::get_time(row, "scheduled_for")?,
            trigger: Self::get(row, "trigger")?,
            holder: Self::get(row, "holder")?,
            claimed_at: Self::get_time(row, "claimed_at")?,
            started_at: opt_time("started_at")?,
            finished_at: opt_time("finished_at")?,
            outcome: Self::get(row, "outcome")?,
            message: Self::get(row, "message")?,
            run_id: Self::get(row, "run_id")?,
        })
    }

    async fn start_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "UPDATE scheduled_runs SET started_at = $1 WHERE monitor = $2 AND scheduled_for = $3",
        )
        .bind(DB::encode_time(started_at))
        .bind(monitor)
        .bind(DB::encode_time(scheduled_for))
        .execute(self.pool())
        .await
        .map_err(query_err::<DB>("start a scheduled run"))?;
        Ok(())
    }

    async fn finish_scheduled_run(
        &self,
        monitor: &str,
        scheduled_for: DateTime<Utc>,
        o: &RunOutcome<'_>,
    ) -> Result<(), StoreError> {
        query(
            "UPDATE scheduled_runs SET finished_at = $1, outcome = $2, message = $3, run_id = $4 \
             WHERE monitor = $5 AND scheduled_for = $6",
        )
        .bind(DB::encode_time(o.finished_at))
        .bind(o.outcome)
        .bind(o.message)
        .bind(o.run_id)
        .bind(monitor)
        .bind(DB::encode_time(scheduled_for))
        .execute(self.pool())
        .await
        .map_err(query_err::<DB>("finish a scheduled run"))?;
        Ok(())
    }

    async fn scheduled_runs(
        &self,
        monitor: Option<&str>,
        before: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ScheduledRun>, StoreError> {
        let rows = query(
            "SELECT monitor, scheduled_for, trigger, holder, claimed_at, started_at, finished_at, \
                    outcome, message, run_id FROM scheduled_runs \
             WHERE ($1 IS NULL OR monitor = $1) AND ($2 IS NULL OR scheduled_for < $2) \
             ORDER BY scheduled_for DESC, monitor ASC LIMIT $3",
        )
        .bind(monitor)
        .bind(before.map(DB::encode_time))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(query_err::<DB>("list scheduled runs"))?;
        let opt_time = |row: &DB::Row, col: &'static str| -> Result<_, StoreError> {
            Self::get::<Option<DB::Time>>(row, col)?
                .map(|t| Self::decode_time(col, t))
                .transpose()
        };
        rows.iter()
            .map(|row| {
                Ok(ScheduledRun {
                    monitor: Self::get(row, "monitor")?,
                    scheduled_for: Self::get_time(row, "scheduled_for")?,
                    trigger: Self::get(row, "trigger")?,
                    holder: Self::get(row, "holder")?,
                    claimed_at: Self::get_time(row, "claimed_at")?,
                    started_at: opt_time(row, "started_at")?,
                    finished_at: opt_time(row, "finished_at")?,
                    outcome: Self::get(row, "outcome")?,
                    message: Self::get(row, "message")?,
                    run_id: Self::get(row, "run_id")?,
                })
            })
            .collect()
    }

    async fn last_scheduled(&self, monitor: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = query(
            "SELECT scheduled_for FROM scheduled_runs WHERE monitor = $1 AND trigger = 'schedule' \
             ORDER BY scheduled_for DESC LIMIT 1",
        )
        .bind(monitor)
        .fetch_optional(self.pool())
        .await
        .map_err(query_err::<DB>("read the last scheduled run"))?;
        row.map(|row| Self::get_time(&row, "scheduled_for"))
            .transpose()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(query_err::<DB>("answer a ping"))?;
        Ok(())
    }

    async fn history(
        &self,
        key: &StoredKey<'_>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let rows = query(
            "SELECT run_id, observed_at, value, status, lower_bound, upper_bound, message, \
                    expected_anomaly FROM ( \
               SELECT * FROM measurements \
               WHERE monitor = $1 AND metric = $2 AND column_name = $3 \
                 AND ($4 IS NULL OR observed_at >= $4) \
               ORDER BY observed_at DESC, id DESC LIMIT $5 \
             ) AS newest ORDER BY observed_at ASC, id ASC",
        )
        .bind(key.monitor)
        .bind(key.metric)
        .bind(key.column.as_str())
        .bind(since.map(DB::encode_time))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(query_err::<DB>("read a series' history"))?;
        rows.iter()
            .map(|row| {
                Ok(HistoryPoint {
                    run_id: Self::get(row, "run_id")?,
                    observed_at: Self::get_time(row, "observed_at")?,
                    value: Self::get(row, "value")?,
                    status: codec::parse_status(DB::BACKEND, &Self::get::<String>(row, "status")?)?,
                    lower: Self::get(row, "lower_bound")?,
                    upper: Self::get(row, "upper_bound")?,
                    message: Self::get(row, "message")?,
                    expected_anomaly: Self::get(row, "expected_anomaly")?,
                })
            })
            .collect()
    }
}
