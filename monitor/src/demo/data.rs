//! The demo warehouse's rows: a small web shop, generated hour by hour from one seed up to `now`.
//!
//! Every table follows the same calendar: a daily curve by UTC hour (a night trough, a lunch bump, the
//! evening peak), a weekly one (more at the weekend) and growth of [`GROWTH_PER_WEEK`]. Counts per
//! hour are Poisson draws around that rate, so the history looks like traffic, not like a sine. The
//! incidents are written into the last hours (see the `*_SINCE` constants); everything before them is
//! what the monitors learn as normal.
//!
//! Deterministic: the same seed and the same `now` give the same rows. The noise is drawn in hour
//! order from the oldest hour, so two runs at different times of day see the same kind of history,
//! shifted to their own clock.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The seed of every table's random stream (each table mixes in its own tag).
pub const SEED: u64 = 0x5EED_7DE0_2026_0010;
/// Days of history generated (the monitors learn from the default 28-day lookback).
pub const DAYS: i64 = 30;
/// Growth of every rate, compounded weekly.
pub const GROWTH_PER_WEEK: f64 = 0.04;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const WEEK: f64 = 7.0 * DAY as f64;

/// The orders loader stalled this long ago: no order newer than this reached the warehouse.
pub const ORDERS_STALLED_SINCE: i64 = 3 * HOUR + 7 * 60;
/// The loader release of a day ago: since then it writes most emails as NULL.
pub const ORDERS_NULL_EMAILS_SINCE: i64 = 27 * HOUR;
pub const ORDERS_NULL_EMAIL_SHARE: f64 = 0.7;
/// Rows a retried batch loaded twice, just before the stall.
pub const ORDERS_DUPLICATED: usize = 12;
/// Payment webhooks: since this long ago only [`PAYMENTS_KEPT`] of the payments arrive.
pub const PAYMENTS_DROP_SINCE: i64 = 2 * HOUR + 50 * 60;
pub const PAYMENTS_KEPT: f64 = 0.1;
/// The carrier's label service: since this long ago most shipments have no tracking number.
pub const SHIPMENTS_NULLS_SINCE: i64 = 2 * HOUR + 40 * 60;
pub const SHIPMENTS_NULL_SHARE: f64 = 0.65;

/// Orders per hour at the daily peak of an average weekday, four weeks ago.
const ORDERS_PEAK: f64 = 170.0;
/// Sign-ups per hour at the peak.
const SIGNUPS_PEAK: f64 = 25.0;
/// Clickstream events per hour at the peak.
const EVENTS_PEAK: f64 = 260.0;
/// Customers who signed up before the generated history.
const OLD_CUSTOMERS: i64 = 3000;
const PRODUCTS: i64 = 240;

/// Share of the peak by UTC hour of day.
///
/// Milder than many shops' (the trough is 60% of the peak): the learned volume band has one residual
/// scale for all hours, so with a deeper trough a drop at night hides inside the band's daytime width
/// (checked with `tidewatch detect` on simulated series of this shape: with a trough of 15% and 90
/// orders an hour at the peak, even an empty night hour stayed inside the band about a third of the
/// time).
const DAILY: [f64; 24] = [
    0.67, 0.63, 0.61, 0.60, 0.60, 0.63, 0.69, 0.77, 0.85, 0.90, 0.94, 0.97, //
    1.00, 0.98, 0.95, 0.94, 0.96, 1.00, 1.05, 1.10, 1.09, 1.01, 0.88, 0.75,
];
/// By weekday, Monday first: a little more at the weekend.
const WEEKLY: [f64; 7] = [0.982, 0.976, 0.985, 0.994, 1.015, 1.048, 1.036];

/// SplitMix64: small, fast, and the same on every platform.
pub struct Rng(u64);

/// The SplitMix64 finalizer: a bijection on u64, so distinct inputs give distinct ids.
pub fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(tag: u64) -> Rng {
        Rng(mix(SEED ^ tag))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n > 0; the modulo bias is far below anything the demo shows).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson: exact (Knuth) for small rates, the normal approximation above 30.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// One of `choices`, by weight.
    pub fn pick<T: Copy>(&mut self, choices: &[(T, f64)]) -> T {
        let total: f64 = choices.iter().map(|c| c.1).sum();
        let mut x = self.unit() * total;
        for &(v, w) in choices {
            if x < w {
                return v;
            }
            x -= w;
        }
        choices[choices.len() - 1].0
    }
}

/// The shop's calendar at `ts`: daily × weekly curve × growth, relative to `now`.
fn rate(peak: f64, ts: i64, now: i64) -> f64 {
    let t = DateTime::<Utc>::from_timestamp(ts, 0).unwrap_or_default();
    let daily = DAILY[t.hour() as usize];
    let weekly = WEEKLY[t.weekday().num_days_from_monday() as usize];
    let growth = (1.0 + GROWTH_PER_WEEK).powf((ts - now) as f64 / WEEK);
    peak * daily * weekly * growth
}

/// Arrival times (unix seconds, sorted) of a process with `peak`'s calendar rate over `[from, to)`.
fn arrivals(rng: &mut Rng, peak: f64, from: i64, to: i64, now: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut hour = from.div_euclid(HOUR) * HOUR;
    while hour < to {
        let n = rng.poisson(rate(peak, hour, now));
        let start = out.len();
        for _ in 0..n {
            let t = hour + rng.below(HOUR as u64) as i64;
            if t >= from && t < to {
                out.push(t);
            }
        }
        out[start..].sort_unstable();
        hour += HOUR;
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` in UTC: what SQLite's date functions read.
pub fn timestamp(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A value of a generated row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// One table: its DDL, its columns in insert order and its rows.
pub struct Table {
    pub name: &'static str,
    pub ddl: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Value>>,
    /// One line for the demo's output: what the table is and what happened to it.
    pub about: &'static str,
}

/// The whole warehouse at `now` (unix seconds).
pub fn shop(now: i64) -> Vec<Table> {
    let start = now - DAYS * DAY;
    let customers = customers(now, start);
    let orders = orders(now, start, &customers);
    vec![
        orders_table(&orders, now),
        payments_table(&orders, now),
        shipments_table(&orders, now),
        customers_table(&customers),
        events_table(now, start, &customers),
        products_table(),
    ]
}

const FIRST: &[&str] = &[
    "ada", "alan", "grace", "linus", "barbara", "edsger", "frances", "donald", "margaret", "ken",
    "radia", "john", "hedy", "dennis", "karen", "tim",
];
const LAST: &[&str] = &[
    "lovelace", "turing", "hopper", "torvalds", "liskov", "dijkstra", "allen", "knuth", "hamilton",
    "thompson", "perlman", "backus", "lamarr", "ritchie", "jones", "berners",
];

pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub country: Option<&'static str>,
    pub created_at: i64,
}

fn customers(now: i64, start: i64) -> Vec<Customer> {
    let mut rng = Rng::new(1);
    // Older customers over the year before the history, then the sign-ups of the history itself.
    let mut times: Vec<i64> = (0..OLD_CUSTOMERS)
        .map(|_| start - 1 - rng.below(365 * DAY as u64) as i64)
        .collect();
    times.sort_unstable();
    times.extend(arrivals(&mut rng, SIGNUPS_PEAK, start, now, now));
    times
        .into_iter()
        .enumerate()
        .map(|(i, created_at)| {
            let id = i as i64 + 1;
            let first = FIRST[rng.below(FIRST.len() as u64) as usize];
            let last = LAST[rng.below(LAST.len() as u64) as usize];
            Customer {
                id,
                name: format!("{} {}", capital(first), capital(last)),
                email: format!("{first}.{last}{id}@example.com"),
                phone: (!rng.chance(0.4)).then(|| format!("+49 30 {:07}", rng.below(10_000_000))),
                // Only records imported before the history lack a country.
                country: (created_at >= start || !rng.chance(0.03)).then(|| {
                    rng.pick(&[
                        ("DE", 40.0),
                        ("FR", 20.0),
                        ("NL", 15.0),
                        ("AT", 10.0),
                        ("PT", 8.0),
                        ("PL", 7.0),
                    ])
                }),
                created_at,
            }
        })
        .collect()
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn customers_table(customers: &[Customer]) -> Table {
    Table {
        name: "customers",
        ddl: "CREATE TABLE customers (
            customer_id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT,
            phone TEXT,
            country TEXT,
            created_at TEXT NOT NULL
        )",
        columns: &[
            "customer_id",
            "name",
            "email",
            "phone",
            "country",
            "created_at",
        ],
        rows: customers
            .iter()
            .map(|c| {
                vec![
                    c.id.into(),
                    c.name.clone().into(),
                    c.email.clone().into(),
                    c.phone.clone().into(),
                    c.country.into(),
                    timestamp(c.created_at).into(),
                ]
            })
            .collect(),
        about: "sign-ups; after the first scan an upstream migration renames phone to phone_number",
    }
}

/// An order as the shop took it (the warehouse's `orders` table misses the ones after the stall).
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub email: Option<String>,
    pub amount: f64,
    pub status: &'static str,
    pub created_at: i64,
}

fn orders(now: i64, start: i64, customers: &[Customer]) -> Vec<Order> {
    let mut rng = Rng::new(2);
    let mut known = 0; // customers signed up by the order's time
    arrivals(&mut rng, ORDERS_PEAK, start, now, now)
        .into_iter()
        .enumerate()
        .map(|(i, created_at)| {
            while known < customers.len() && customers[known].created_at <= created_at {
                known += 1;
            }
            let c = &customers[rng.below(known.max(1) as u64) as usize];
            let broken_loader = created_at >= now - ORDERS_NULL_EMAILS_SINCE;
            let null_email = if broken_loader {
                rng.chance(ORDERS_NULL_EMAIL_SHARE)
            } else {
                rng.chance(0.002) // a guest checkout now and then
            };
            // Baskets: a long tail of big orders.
            let amount = (8.0 + (3.1 + 0.6 * rng.normal()).exp()).min(2500.0);
            Order {
                id: 100_001 + i as i64,
                customer_id: c.id,
                email: (!null_email).then(|| c.email.clone()),
                amount: (amount * 100.0).round() / 100.0,
                status: rng.pick(&[
                    ("paid", 86.0),
                    ("pending", 7.0),
                    ("refunded", 5.0),
                    ("cancelled", 2.0),
                ]),
                created_at,
            }
        })
        .collect()
}

fn orders_table(orders: &[Order], now: i64) -> Table {
    let row = |o: &Order| -> Vec<Value> {
        vec![
            o.id.into(),
            o.customer_id.into(),
            o.email.clone().into(),
            o.amount.into(),
            o.status.into(),
            timestamp(o.created_at).into(),
        ]
    };
    let loaded: Vec<&Order> = orders
        .iter()
        .filter(|o| o.created_at < now - ORDERS_STALLED_SINCE)
        .collect();
    let mut rows: Vec<Vec<Value>> = loaded.iter().map(|o| row(o)).collect();
    // The retried batch: the newest rows once more.
    let retried = loaded.len().saturating_sub(ORDERS_DUPLICATED);
    rows.extend(loaded[retried..].iter().map(|o| row(o)));
    Table {
        name: "orders",
        ddl: "CREATE TABLE orders (
            id INTEGER NOT NULL,
            customer_id INTEGER NOT NULL,
            email TEXT,
            amount NUMERIC,
            status TEXT,
            created_at TEXT NOT NULL
        )",
        columns: &[
            "id",
            "customer_id",
            "email",
            "amount",
            "status",
            "created_at",
        ],
        rows,
        about:
            "orders; the loader upgraded a day ago drops emails, loaded a batch twice, then stalled",
    }
}

fn payments_table(orders: &[Order], now: i64) -> Table {
    let mut rng = Rng::new(3);
    let mut rows = Vec::with_capacity(orders.len());
    for o in orders {
        let paid_at = o.created_at + 3 + rng.below(90) as i64;
        let method = rng.pick(&[
            ("card", 62.0),
            ("paypal", 23.0),
            ("klarna", 10.0),
            ("voucher", 5.0),
        ]);
        let lost = paid_at >= now - PAYMENTS_DROP_SINCE && !rng.chance(PAYMENTS_KEPT);
        if paid_at >= now || lost {
            continue;
        }
        let status = match o.status {
            "pending" => "authorized",
            "cancelled" => "failed",
            _ => "captured",
        };
        rows.push(vec![
            (rows.len() as i64 + 1).into(),
            o.id.into(),
            o.amount.into(),
            method.into(),
            status.into(),
            timestamp(paid_at).into(),
        ]);
    }
    Table {
        name: "payments",
        ddl: "CREATE TABLE payments (
            payment_id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL,
            amount NUMERIC NOT NULL,
            method TEXT NOT NULL,
            status TEXT NOT NULL,
            paid_at TEXT NOT NULL
        )",
        columns: &[
            "payment_id",
            "order_id",
            "amount",
            "method",
            "status",
            "paid_at",
        ],
        rows,
        about: "payment webhooks; for the last three hours most deliveries have been lost",
    }
}

fn shipments_table(orders: &[Order], now: i64) -> Table {
    let mut rng = Rng::new(4);
    let mut shipped: Vec<(i64, i64)> = Vec::new(); // (shipped_at, order id)
    for o in orders {
        if !matches!(o.status, "paid" | "refunded") {
            continue;
        }
        // Picked, packed and handed to the carrier a day later, give or take four hours.
        let t = o.created_at + 20 * HOUR + rng.below(8 * HOUR as u64) as i64;
        if t < now {
            shipped.push((t, o.id));
        }
    }
    shipped.sort_unstable();
    let rows = shipped
        .into_iter()
        .enumerate()
        .map(|(i, (t, order_id))| {
            let (carrier, prefix) = rng.pick(&[
                (("DHL", "JJD"), 45.0),
                (("UPS", "1Z"), 25.0),
                (("DPD", "DP"), 20.0),
                (("GLS", "GL"), 10.0),
            ]);
            let share = if t >= now - SHIPMENTS_NULLS_SINCE {
                SHIPMENTS_NULL_SHARE
            } else {
                0.015
            };
            let tracking = (!rng.chance(share))
                .then(|| format!("{prefix}{:012}", rng.below(1_000_000_000_000)));
            vec![
                (i as i64 + 1).into(),
                order_id.into(),
                carrier.into(),
                tracking.into(),
                timestamp(t).into(),
            ]
        })
        .collect();
    Table {
        name: "shipments",
        ddl: "CREATE TABLE shipments (
            shipment_id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL,
            carrier TEXT NOT NULL,
            tracking_number TEXT,
            shipped_at TEXT NOT NULL
        )",
        columns: &[
            "shipment_id",
            "order_id",
            "carrier",
            "tracking_number",
            "shipped_at",
        ],
        rows,
        about:
            "handed to carriers; for the last three hours most labels came back without tracking",
    }
}

fn events_table(now: i64, start: i64, customers: &[Customer]) -> Table {
    let mut rng = Rng::new(5);
    let mut rows = Vec::new();
    let mut known = 0;
    for (i, t) in arrivals(&mut rng, EVENTS_PEAK, start, now, now)
        .into_iter()
        .enumerate()
    {
        // Most events land within seconds; a phone that was offline sends its events hours late.
        let lag = if rng.chance(0.025) {
            300 + rng.below(3 * HOUR as u64 - 300) as i64
        } else {
            1 + rng.below(25) as i64
        };
        let kind = rng.pick(&[
            ("page_view", 70.0),
            ("search", 10.0),
            ("add_to_cart", 15.0),
            ("checkout", 5.0),
        ]);
        let session = mix(SEED ^ (t / 1800) as u64 ^ (rng.below(40) << 40));
        let signed_in = rng.chance(0.65);
        while known < customers.len() && customers[known].created_at <= t {
            known += 1;
        }
        let user = rng.below(known.max(1) as u64) as i64 + 1;
        if t + lag > now {
            continue; // still on its way
        }
        rows.push(vec![
            format!("{:016x}", mix(SEED.wrapping_add(i as u64))).into(),
            format!("{session:012x}").into(),
            signed_in.then_some(user).into(),
            kind.into(),
            timestamp(t).into(),
            timestamp(t + lag).into(),
        ]);
    }
    Table {
        name: "events",
        ddl: "CREATE TABLE events (
            event_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            user_id INTEGER,
            event_type TEXT NOT NULL,
            event_time TEXT NOT NULL,
            ingested_at TEXT NOT NULL
        )",
        columns: &[
            "event_id",
            "session_id",
            "user_id",
            "event_type",
            "event_time",
            "ingested_at",
        ],
        rows,
        about: "clickstream landed from a stream: event and ingestion time, late arrivals; healthy",
    }
}

fn products_table() -> Table {
    let mut rng = Rng::new(6);
    const WHAT: &[&str] = &[
        "mug", "notebook", "hoodie", "sticker", "poster", "cap", "tote", "socks",
    ];
    const HOW: &[&str] = &["classic", "tidal", "midnight", "harbour", "reef", "storm"];
    let rows = (1..=PRODUCTS)
        .map(|i| {
            let what = WHAT[rng.below(WHAT.len() as u64) as usize];
            let how = HOW[rng.below(HOW.len() as u64) as usize];
            let category = match what {
                "hoodie" | "cap" | "socks" => "apparel",
                "mug" | "tote" => "home",
                _ => "paper",
            };
            let category = (!rng.chance(0.02)).then_some(category);
            let price = (4.99 + rng.below(190) as f64 + 0.5 * rng.below(2) as f64).min(199.0);
            vec![
                format!("SKU-{i:05}").into(),
                format!("{how} {what}").into(),
                category.into(),
                price.into(),
            ]
        })
        .collect();
    Table {
        name: "products",
        ddl: "CREATE TABLE products (
            sku TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            category TEXT,
            price NUMERIC NOT NULL
        )",
        columns: &["sku", "name", "category", "price"],
        rows,
        about: "the catalogue, no timestamp: explicit checks only; healthy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_rows() {
        let now = 1_790_000_000;
        let a = shop(now);
        let b = shop(now);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.rows, y.rows, "{}", x.name);
        }
    }

    #[test]
    fn incidents_are_where_the_constants_say() {
        let now = 1_790_000_000;
        let tables = shop(now);
        let get = |n: &str| tables.iter().find(|t| t.name == n).unwrap();
        let ts = |v: &Value| match v {
            Value::Text(s) => chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp(),
            other => panic!("not a timestamp: {other:?}"),
        };
        // The orders loader stalled; the retried batch is the newest rows twice.
        let orders = get("orders");
        let newest = orders.rows.iter().map(|r| ts(&r[5])).max().unwrap();
        assert!(newest < now - ORDERS_STALLED_SINCE);
        let ids: std::collections::HashSet<String> =
            orders.rows.iter().map(|r| format!("{:?}", r[0])).collect();
        assert_eq!(orders.rows.len() - ids.len(), ORDERS_DUPLICATED);
        // Payments in the last hour are a tenth of the same hour a week before.
        let count = |t: &Table, col: usize, from: i64, to: i64| {
            t.rows
                .iter()
                .filter(|r| (from..to).contains(&ts(&r[col])))
                .count() as f64
        };
        let payments = get("payments");
        let last = count(payments, 5, now - HOUR, now);
        let week_ago = count(payments, 5, now - 7 * DAY - HOUR, now - 7 * DAY);
        assert!(last < 0.25 * week_ago, "{last} vs {week_ago}");
        // Shipments of the last hour mostly lack a tracking number, a day ago hardly any.
        let shipments = get("shipments");
        let nulls = |from: i64, to: i64| {
            let rows: Vec<_> = shipments
                .rows
                .iter()
                .filter(|r| (from..to).contains(&ts(&r[4])))
                .collect();
            rows.iter().filter(|r| r[3] == Value::Null).count() as f64 / rows.len() as f64
        };
        assert!(nulls(now - HOUR, now) > 0.4);
        assert!(nulls(now - DAY - HOUR, now - DAY) < 0.1);
        // Events: none arrived after now, some arrived late.
        let events = get("events");
        assert!(events.rows.iter().all(|r| ts(&r[5]) <= now));
        let late = events
            .rows
            .iter()
            .filter(|r| ts(&r[5]) - ts(&r[4]) > 300)
            .count();
        assert!(late > 100, "{late} late events");
    }
}
