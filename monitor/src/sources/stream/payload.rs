//! Payload profiling: a sample of JSON messages → one Arrow `RecordBatch` (schema inferred from the
//! sample, nested objects as struct columns reported by field path `a.b.c`) → metrics computed with
//! Arrow kernels. The same code profiles Kafka and NATS samples; it does no IO.
//!
//! - `parse_error_rate` = messages that are not one JSON object / sampled messages.
//! - `null_count` / `null_rate` per leaf field path over the decoded messages; a missing field and a
//!   field under a NULL or missing parent count as NULL.
//! - `duplicate_count` on the key = messages whose key fields are all non-NULL minus distinct such keys
//!   (the warehouse rule); `duplicate_rate` = that / messages. `key: message_key` uses the broker's
//!   message key instead (messages without one are not duplicates of anything).
//! - `late_rate` = messages whose event time is older than their broker time minus `lateness_grace` /
//!   messages with both times. Event time: RFC 3339 string, or epoch seconds (milliseconds when its
//!   magnitude is above 1e11).
//! - `schema`: one `Column` per leaf field path with the Arrow type of its non-NULL values;
//!   nullability apart (`details.nullable`: the paths that held a NULL in the sample), so a field
//!   that starts carrying NULLs is no drift, and a field seen only as NULL has type `null`, which the
//!   diff treats as compatible with any type. A field whose values mix objects or arrays with other
//!   kinds is degraded: not decoded (no NULL metrics), in the schema as `mixed<kinds>` and listed in
//!   `details.degraded`; every other field is profiled as usual.

use crate::config::{KeySpec, StreamMonitor};
use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array, StructArray};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::{cast, cmp};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use checks::{Column, Failure, Metric, Observation, Target};
use std::collections::HashSet;
use std::sync::Arc;

/// One sampled message as the broker returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    pub payload: Vec<u8>,
    /// The broker's message key (Kafka key, NATS subject).
    pub key: Option<Vec<u8>>,
    /// Broker timestamp, unix milliseconds.
    pub broker_ms: Option<i64>,
}

/// What the payload side of a stream profile found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PayloadProfile {
    /// Leaf fields of the decoded sample; `None` when nothing decoded.
    pub schema: Option<Vec<Column>>,
    pub observations: Vec<Observation>,
    pub failures: Vec<Failure>,
    /// Event time (unix seconds) of each sampled message that decoded and had a readable one.
    pub event_times: Vec<i64>,
    /// Leaf field paths that held a NULL (or were missing) in the sample: nullability, kept apart
    /// from the types so a field that starts carrying NULLs is no type change.
    pub nullable: Vec<String>,
    /// Fields whose sampled values mix objects or arrays with other kinds: left out of the decode
    /// (no NULL metrics), in the schema as `mixed<kinds>`. (path, kinds)
    pub degraded: Vec<(String, String)>,
}

/// A leaf column of the batch: its path, array and the NULLs inherited from its parents.
struct Leaf {
    path: String,
    array: ArrayRef,
    nulls: Option<NullBuffer>,
}

impl Leaf {
    fn null_count(&self) -> usize {
        self.nulls.as_ref().map_or(0, NullBuffer::null_count)
    }
    fn is_valid(&self, i: usize) -> bool {
        self.nulls.as_ref().is_none_or(|n| n.is_valid(i))
    }
}

/// Profiles the sampled payloads of `spec` (see the module docs).
pub fn profile(messages: &[Sampled], spec: &StreamMonitor) -> PayloadProfile {
    let mut out = PayloadProfile::default();
    let total = messages.len();
    if total == 0 {
        return out;
    }
    // 1. Which messages are one JSON object, and the shape of those that are (one serde pass each,
    // no values built). A message that fails half way may have left fields in the shape: then the
    // shape is rebuilt from the decodable messages alone.
    let mut shape = Shape::default();
    let mut decoded: Vec<&Sampled> = Vec::with_capacity(total);
    for m in messages {
        if shape_of(&m.payload, &mut shape) {
            decoded.push(m);
        }
    }
    if decoded.len() < total {
        shape = Shape::default();
        for m in &decoded {
            shape_of(&m.payload, &mut shape);
        }
    }
    let errors = total - decoded.len();
    out.observations.push(Observation::table(
        Metric::ParseErrorRate,
        errors as f64 / total as f64,
    ));
    if let KeySpec::MessageKey = spec.key {
        message_key_duplicates(messages, &mut out);
    }
    if decoded.is_empty() {
        out.failures.push(Failure {
            metric: Metric::Schema,
            target: Target::Table,
            message: format!("none of the {total} sampled messages is a JSON object"),
            whole: false,
        });
        return out;
    }
    // 2. One batch of the decoded messages.
    let batch = match decode(&shape, &decoded, &mut out.degraded) {
        Ok(b) => b,
        Err(e) => {
            out.failures.push(Failure {
                metric: Metric::Schema,
                target: Target::Table,
                message: format!("decoding the sampled payloads failed: {e}"),
                whole: false,
            });
            return out;
        }
    };
    let rows = batch.num_rows();
    let mut leaves = Vec::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        flatten(field.name(), array, None, &mut leaves);
    }

    // 3. Schema (types without nullability; degraded fields as `mixed<kinds>`) and NULLs per
    // field path.
    let mut columns: Vec<Column> = leaves
        .iter()
        .map(|l| Column {
            name: l.path.clone(),
            data_type: type_name(l.array.data_type()),
        })
        .collect();
    columns.extend(out.degraded.iter().map(|(path, kinds)| Column {
        name: path.clone(),
        data_type: format!("mixed<{kinds}>"),
    }));
    out.nullable = leaves
        .iter()
        .filter(|l| l.null_count() > 0)
        .map(|l| l.path.clone())
        .collect();
    let fields = columns.len();
    out.schema = Some(columns);
    out.observations
        .push(Observation::table(Metric::Schema, fields as f64));
    for l in &leaves {
        let nulls = l.null_count() as f64;
        out.observations.push(Observation::column(
            Metric::NullCount,
            l.path.clone(),
            nulls,
        ));
        out.observations.push(Observation::column(
            Metric::NullRate,
            l.path.clone(),
            nulls / rows as f64,
        ));
    }

    // 4. Duplicates on the key fields.
    if let KeySpec::Fields(paths) = &spec.key {
        field_duplicates(paths, &leaves, rows, &mut out);
    }

    // 5. Event time: late share and the per-message times.
    if let Some(field) = &spec.event_time_field {
        match leaves.iter().find(|l| &l.path == field) {
            Some(leaf) => {
                let grace_ms = spec.lateness_grace.as_millis() as i64;
                match event_millis(leaf) {
                    Ok(event) => {
                        late(&event, &decoded, grace_ms, &mut out);
                        out.event_times = event
                            .iter()
                            .flatten()
                            .map(|ms| ms.div_euclid(1000))
                            .collect();
                    }
                    Err(message) => out.failures.push(Failure {
                        metric: Metric::LateRate,
                        target: Target::Table,
                        message,
                        whole: false,
                    }),
                }
            }
            None => out.failures.push(Failure {
                metric: Metric::LateRate,
                target: Target::Table,
                message: format!("event time field {field} is not in the sampled payloads"),
                whole: false,
            }),
        }
    }
    out
}

/// Decodes the payloads into one batch of the inferred schema (the Arrow JSON tape decoder).
/// Fields that mix objects or arrays with other kinds are left out of the schema (the decoder skips
/// fields its schema does not name) and listed in `degraded`.
fn decode(
    shape: &Shape,
    decoded: &[&Sampled],
    degraded: &mut Vec<(String, String)>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let fields: Vec<Field> = shape
        .fields
        .iter()
        .filter_map(|(name, s)| Some(Field::new(name, s.arrow_type(name, degraded)?, true)))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    // Decoded in chunks that stay in cache, then concatenated.
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(DECODE_CHUNK)
        .with_coerce_primitive(true)
        .build_decoder()?;
    let mut batches = Vec::with_capacity(decoded.len() / DECODE_CHUNK + 1);
    for chunk in decoded.chunks(DECODE_CHUNK) {
        for m in chunk {
            decoder.decode(&m.payload)?;
            decoder.decode(b"\n")?;
        }
        batches.extend(decoder.flush()?);
    }
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches.remove(0)),
        _ => arrow::compute::concat_batches(&schema, &batches),
    }
}

/// Messages per decoded chunk.
const DECODE_CHUNK: usize = 8192;

/// The JSON kinds seen at one place of the payloads, with the fields (objects) and items (arrays).
#[derive(Debug, Default)]
struct Shape {
    kinds: u8,
    /// In order of first appearance.
    fields: Vec<(String, Shape)>,
    item: Option<Box<Shape>>,
}

const K_NULL: u8 = 1;
const K_BOOL: u8 = 2;
const K_INT: u8 = 4;
const K_FLOAT: u8 = 8;
const K_STR: u8 = 16;
const K_OBJ: u8 = 32;
const K_ARR: u8 = 64;

impl Shape {
    /// The Arrow type of the values seen: numbers widen to float64, scalars of different kinds become
    /// utf8 (the decoder coerces numbers and booleans into it), only NULLs become null. `None` when
    /// objects or arrays mix with other kinds here (or an array's items do): that field is degraded,
    /// recorded in `degraded` with its path and kinds, and not decoded. A struct drops its degraded
    /// children and keeps the rest.
    fn arrow_type(&self, path: &str, degraded: &mut Vec<(String, String)>) -> Option<DataType> {
        let k = self.kinds & !K_NULL;
        if k & (K_OBJ | K_ARR) != 0 && k.count_ones() > 1 {
            degraded.push((path.to_string(), kind_names(k)));
            return None;
        }
        Some(match k {
            0 => DataType::Null,
            K_OBJ => DataType::Struct(
                self.fields
                    .iter()
                    .filter_map(|(n, s)| {
                        Some(Field::new(
                            n,
                            s.arrow_type(&format!("{path}.{n}"), degraded)?,
                            true,
                        ))
                    })
                    .collect(),
            ),
            K_ARR => {
                let item = match &self.item {
                    Some(i) => {
                        let mut inner = Vec::new();
                        match i.arrow_type(&format!("{path}[]"), &mut inner) {
                            Some(t) if inner.is_empty() => t,
                            _ => {
                                let kinds = inner
                                    .first()
                                    .map_or_else(|| kind_names(i.kinds), |(_, k)| k.clone());
                                degraded.push((path.to_string(), format!("list of {kinds}")));
                                return None;
                            }
                        }
                    }
                    None => DataType::Null,
                };
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            K_BOOL => DataType::Boolean,
            K_INT => DataType::Int64,
            k if k & !(K_INT | K_FLOAT) == 0 => DataType::Float64,
            // Strings, or mixed scalars.
            _ => DataType::Utf8,
        })
    }
}

/// The JSON kinds of a mask, e.g. `object, string`.
fn kind_names(k: u8) -> String {
    let names = [
        (K_BOOL, "boolean"),
        (K_INT, "integer"),
        (K_FLOAT, "number"),
        (K_STR, "string"),
        (K_OBJ, "object"),
        (K_ARR, "array"),
    ];
    names
        .iter()
        .filter(|(bit, _)| k & bit != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds the shape of one payload to `shape`; `false` when it is not exactly one JSON object.
fn shape_of(payload: &[u8], shape: &mut Shape) -> bool {
    use serde::de::DeserializeSeed;
    let first = payload.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return false;
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    let mut top = std::mem::take(shape);
    let ok = ShapeSeed(&mut top).deserialize(&mut de).is_ok() && de.end().is_ok();
    *shape = top;
    ok
}

struct ShapeSeed<'a>(&'a mut Shape);

impl<'de> serde::de::DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ShapeSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a json value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.kinds |= K_NULL;
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.kinds |= K_NULL;
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.0.kinds |= K_BOOL;
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.0.kinds |= K_INT;
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.kinds |= if v > i64::MAX as u64 { K_FLOAT } else { K_INT };
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.0.kinds |= K_FLOAT;
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.0.kinds |= K_STR;
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.kinds |= K_ARR;
        let item = self.0.item.get_or_insert_with(Box::default);
        while seq.next_element_seed(ShapeSeed(item))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.kinds |= K_OBJ;
        let fields = &mut self.0.fields;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let i = match fields.iter().position(|(n, _)| *n == *key) {
                Some(i) => i,
                None => {
                    fields.push((key.into_owned(), Shape::default()));
                    fields.len() - 1
                }
            };
            map.next_value_seed(ShapeSeed(&mut fields[i].1))?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the payload when it has no escapes.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_string()))
    }
}

/// Leaf arrays by field path; a struct's NULLs are inherited by its children.
fn flatten(path: &str, array: &ArrayRef, parent: Option<&NullBuffer>, out: &mut Vec<Leaf>) {
    let nulls = NullBuffer::union(parent, array.logical_nulls().as_ref());
    if let DataType::Struct(fields) = array.data_type() {
        if !fields.is_empty() {
            let s: &StructArray = array.as_struct();
            for (f, child) in fields.iter().zip(s.columns()) {
                flatten(&format!("{path}.{}", f.name()), child, nulls.as_ref(), out);
            }
            return;
        }
    }
    out.push(Leaf {
        path: path.to_string(),
        array: array.clone(),
        nulls,
    });
}

/// The type as shown in the schema: Arrow's name, lowercased (`null` for a field seen only as NULL,
/// which the schema diff treats as compatible with any type).
fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::List(f) | DataType::LargeList(f) => {
            format!("list<{}>", type_name(f.data_type()))
        }
        DataType::Struct(_) => "struct".to_string(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// `duplicate_count` / `duplicate_rate` over complete keys, distinct keys found through the Arrow row
/// format.
fn field_duplicates(paths: &[String], leaves: &[Leaf], rows: usize, out: &mut PayloadProfile) {
    let parts: Vec<&Leaf> = paths
        .iter()
        .filter_map(|p| leaves.iter().find(|l| &l.path == p))
        .collect();
    let target = Target::Key(paths.to_vec());
    if parts.len() != paths.len() {
        let missing: Vec<&str> = paths
            .iter()
            .filter(|p| !leaves.iter().any(|l| &l.path == *p))
            .map(String::as_str)
            .collect();
        out.failures.push(Failure {
            metric: Metric::DuplicateCount,
            target,
            message: format!(
                "key field {} is not in the sampled payloads",
                missing.join(", ")
            ),
            whole: false,
        });
        return;
    }
    let converter = RowConverter::new(
        parts
            .iter()
            .map(|l| SortField::new(l.array.data_type().clone()))
            .collect(),
    );
    let arrays: Vec<ArrayRef> = parts.iter().map(|l| l.array.clone()).collect();
    let converted = converter.and_then(|c| c.convert_columns(&arrays));
    let converted = match converted {
        Ok(r) => r,
        Err(e) => {
            out.failures.push(Failure {
                metric: Metric::DuplicateCount,
                target,
                message: format!("key fields cannot be compared: {e}"),
                whole: false,
            });
            return;
        }
    };
    let mut seen = HashSet::with_capacity(rows);
    let mut complete = 0usize;
    for i in 0..rows {
        if parts.iter().all(|l| l.is_valid(i)) {
            complete += 1;
            seen.insert(converted.row(i));
        }
    }
    let dups = (complete - seen.len()) as f64;
    out.observations.push(Observation::key(
        Metric::DuplicateCount,
        paths.to_vec(),
        dups,
    ));
    out.observations.push(Observation::key(
        Metric::DuplicateRate,
        paths.to_vec(),
        dups / rows as f64,
    ));
}

/// Duplicates of the broker's message key over every sampled message.
fn message_key_duplicates(messages: &[Sampled], out: &mut PayloadProfile) {
    let keys = BinaryArray::from_iter(messages.iter().map(|m| m.key.as_deref()));
    let mut seen = HashSet::with_capacity(keys.len());
    let mut complete = 0usize;
    for k in keys.iter().flatten() {
        complete += 1;
        seen.insert(k);
    }
    let dups = (complete - seen.len()) as f64;
    let key = vec!["message_key".to_string()];
    out.observations
        .push(Observation::key(Metric::DuplicateCount, key.clone(), dups));
    out.observations.push(Observation::key(
        Metric::DuplicateRate,
        key,
        dups / messages.len() as f64,
    ));
}

/// The event time of every row in unix milliseconds (NULL where absent or unreadable).
fn event_millis(leaf: &Leaf) -> Result<Int64Array, String> {
    let array = match leaf.array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 => {
            let ts = cast::cast(
                &leaf.array,
                &DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            )
            .map_err(|e| format!("event time field {} is not a time: {e}", leaf.path))?;
            let ts = ts.as_primitive::<TimestampMillisecondType>();
            // A field whose values mix strings and numbers is a string column: numbers in it are
            // epoch seconds or milliseconds too.
            let text = cast::cast(&leaf.array, &DataType::Utf8)
                .map_err(|e| format!("event time field {} is not a time: {e}", leaf.path))?;
            let text = text.as_string::<i32>();
            ts.iter()
                .zip(text.iter())
                .map(|(t, s)| {
                    t.or_else(|| {
                        s.and_then(|s| s.trim().parse::<f64>().ok())
                            .and_then(epoch_millis)
                    })
                })
                .collect()
        }
        DataType::Int64 | DataType::Float64 | DataType::Int32 | DataType::UInt64 => {
            let f = cast::cast(&leaf.array, &DataType::Float64)
                .map_err(|e| format!("event time field {} is not a time: {e}", leaf.path))?;
            f.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.and_then(epoch_millis))
                .collect()
        }
        DataType::Null => Int64Array::new_null(leaf.array.len()),
        other => {
            return Err(format!(
            "event time field {} has type {} (expected an RFC 3339 string or epoch seconds/millis)",
            leaf.path,
            type_name(other)
        ))
        }
    };
    // Rows under a NULL parent have no event time either.
    let nulls = NullBuffer::union(array.nulls(), leaf.nulls.as_ref());
    Ok(Int64Array::new(array.values().clone(), nulls))
}

/// The event time (unix ms) of one payload at the field path `path`: a timestamp string (RFC 3339,
/// read as the Arrow cast reads it, naive as UTC) or epoch seconds / milliseconds, as number or
/// string. `None` when the payload is no JSON object or has no readable time there.
pub fn event_time_ms(payload: &[u8], path: &[&str]) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let mut at = &v;
    for p in path {
        at = at.as_object()?.get(*p)?;
    }
    match at {
        serde_json::Value::Number(n) => n.as_f64().and_then(epoch_millis),
        serde_json::Value::String(s) => {
            let s = s.trim();
            arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(s)
                .ok()
                .map(|ns| ns.div_euclid(1_000_000))
                .or_else(|| s.parse::<f64>().ok().and_then(epoch_millis))
        }
        _ => None,
    }
}

/// Epoch seconds, or milliseconds when the magnitude is above 1e11 (year 5138 in seconds).
fn epoch_millis(v: f64) -> Option<i64> {
    if !v.is_finite() {
        None
    } else if v.abs() > 1e11 {
        Some(v as i64)
    } else {
        Some((v * 1000.0) as i64)
    }
}

/// `late_rate`: event time < broker time - grace, over messages with both.
fn late(event: &Int64Array, decoded: &[&Sampled], grace_ms: i64, out: &mut PayloadProfile) {
    let threshold: Int64Array = decoded
        .iter()
        .map(|m| m.broker_ms.map(|b| b.saturating_sub(grace_ms)))
        .collect();
    match cmp::lt(event, &threshold) {
        Ok(is_late) => {
            let judged = is_late.len() - is_late.null_count();
            if judged > 0 {
                out.observations.push(Observation::table(
                    Metric::LateRate,
                    is_late.true_count() as f64 / judged as f64,
                ));
            } else {
                out.failures.push(Failure {
                    metric: Metric::LateRate,
                    target: Target::Table,
                    message: "no sampled message has both an event time and a broker time".into(),
                    whole: false,
                });
            }
        }
        Err(e) => out.failures.push(Failure {
            metric: Metric::LateRate,
            target: Target::Table,
            message: format!("comparing event times failed: {e}"),
            whole: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(key: KeySpec, event: Option<&str>) -> StreamMonitor {
        StreamMonitor {
            name: "t".into(),
            format: crate::config::PayloadFormat::Json,
            key,
            event_time_field: event.map(String::from),
            sample: 100,
            consumer_groups: Vec::new(),
            lateness_grace: Duration::from_secs(300),
        }
    }

    fn msg(payload: &str, broker_ms: i64) -> Sampled {
        Sampled {
            payload: payload.as_bytes().to_vec(),
            key: None,
            broker_ms: Some(broker_ms),
        }
    }

    fn value(p: &PayloadProfile, metric: Metric, target: Target) -> Option<f64> {
        p.observations
            .iter()
            .find(|o| o.metric == metric && o.target == target)
            .map(|o| o.value)
    }

    #[test]
    fn nulls_duplicates_late_and_parse_errors_are_exact() {
        let t = 1_800_000_000_000i64;
        let msgs = vec![
            msg(
                r#"{"id": 1, "user": {"email": "a@x"}, "ts": "2027-01-15T08:00:00Z"}"#,
                t,
            ),
            msg(r#"{"id": 1, "user": {"email": null}, "ts": 1799999000}"#, t),
            msg(r#"{"id": 2, "user": null, "ts": 1799999999000}"#, t),
            msg(r#"{"id": 3, "ts": 1800000000}"#, t),
            msg("not json", t),
            msg("[1, 2]", t),
        ];
        let p = profile(&msgs, &spec(KeySpec::Fields(vec!["id".into()]), Some("ts")));
        assert_eq!(
            value(&p, Metric::ParseErrorRate, Target::Table),
            Some(2.0 / 6.0)
        );
        let email = Target::Column("user.email".into());
        assert_eq!(value(&p, Metric::NullCount, email.clone()), Some(3.0));
        assert_eq!(value(&p, Metric::NullRate, email), Some(0.75));
        let key = Target::Key(vec!["id".into()]);
        assert_eq!(value(&p, Metric::DuplicateCount, key.clone()), Some(1.0));
        assert_eq!(value(&p, Metric::DuplicateRate, key), Some(0.25));
        // 2027-01-15T08:00:00Z is the broker time itself; 1799999000 s is 1000 s before it (late with
        // a 300 s grace); 1799999999000 ms is 1 s before it; 1800000000 s is it again.
        assert_eq!(value(&p, Metric::LateRate, Target::Table), Some(0.25));
        let schema = p.schema.unwrap();
        let names: Vec<&str> = schema.iter().map(|c| c.name.as_str()).collect();
        // In order of first appearance; `ts` mixes strings and numbers, so it is a string field.
        assert_eq!(names, ["id", "user.email", "ts"]);
        assert_eq!(schema[0].data_type, "int64");
        assert_eq!(schema[1].data_type, "utf8");
        assert_eq!(schema[2].data_type, "utf8");
        assert_eq!(p.nullable, ["user.email"]);
        assert_eq!(p.event_times.len(), 4);
    }

    fn types(p: &PayloadProfile) -> Vec<(String, String)> {
        p.schema
            .clone()
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.data_type))
            .collect()
    }

    #[test]
    fn a_field_that_starts_carrying_nulls_keeps_its_type() {
        let s = spec(KeySpec::None, None);
        let before = profile(&[msg(r#"{"e": "a"}"#, 0), msg(r#"{"e": "b"}"#, 0)], &s);
        let after = profile(&[msg(r#"{"e": "a"}"#, 0), msg(r#"{"e": null}"#, 0)], &s);
        let only_nulls = profile(&[msg(r#"{"e": null}"#, 0), msg("{}", 0)], &s);
        assert_eq!(types(&before), types(&after));
        assert!(before.nullable.is_empty());
        assert_eq!(after.nullable, ["e"]);
        assert_eq!(types(&only_nulls), [("e".to_string(), "null".to_string())]);
        let diff = |a: &PayloadProfile, b: &PayloadProfile| {
            checks::SchemaDiff::between(a.schema.as_deref().unwrap(), b.schema.as_deref().unwrap())
        };
        assert!(diff(&before, &after).is_empty());
        assert!(diff(&before, &only_nulls).is_empty());
        let number = profile(&[msg(r#"{"e": 5}"#, 0)], &s);
        assert_eq!(diff(&before, &number).changed.len(), 1);
    }

    #[test]
    fn a_field_mixing_objects_and_scalars_is_degraded_alone() {
        let msgs = vec![
            msg(
                r#"{"id": 1, "m": {"x": 1}, "n": {"ok": true, "bad": [1]}, "e": "a"}"#,
                0,
            ),
            msg(
                r#"{"id": 2, "m": "text", "n": {"ok": false, "bad": 3}, "e": null}"#,
                0,
            ),
            msg(r#"{"id": 2, "l": [1, {"y": 2}], "e": "c"}"#, 0),
        ];
        let p = profile(&msgs, &spec(KeySpec::Fields(vec!["id".into()]), None));
        assert!(p.failures.is_empty(), "{:?}", p.failures);
        let mut degraded = p.degraded.clone();
        degraded.sort();
        assert_eq!(
            degraded,
            [
                ("l".to_string(), "list of integer, object".to_string()),
                ("m".to_string(), "string, object".to_string()),
                ("n.bad".to_string(), "integer, array".to_string()),
            ]
        );
        let t = types(&p);
        assert!(
            t.contains(&("m".to_string(), "mixed<string, object>".to_string())),
            "{t:?}"
        );
        assert!(
            t.contains(&("n.ok".to_string(), "boolean".to_string())),
            "{t:?}"
        );
        // The other fields are profiled as usual.
        assert_eq!(
            value(&p, Metric::NullCount, Target::Column("e".into())),
            Some(1.0)
        );
        assert_eq!(
            value(&p, Metric::NullCount, Target::Column("n.ok".into())),
            Some(1.0)
        );
        assert_eq!(
            value(&p, Metric::NullCount, Target::Column("m".into())),
            None
        );
        let key = Target::Key(vec!["id".into()]);
        assert_eq!(value(&p, Metric::DuplicateCount, key), Some(1.0));
        assert_eq!(
            value(&p, Metric::Schema, Target::Table),
            Some(t.len() as f64)
        );
    }

    #[test]
    fn a_message_that_breaks_half_way_leaves_no_field_behind() {
        let msgs = vec![
            msg(r#"{"a": 1, "b": [1, 2.5], "c": {"d": true}}"#, 0),
            msg(r#"{"a": 2, "ghost": 1, "b": ["#, 0),
            msg(r#"{"a": 3.5, "b": null, "c": {"d": false}} trailing"#, 0),
        ];
        let p = profile(&msgs, &spec(KeySpec::None, None));
        let schema: Vec<(String, String)> = p
            .schema
            .clone()
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.data_type))
            .collect();
        let want = [("a", "int64"), ("b", "list<float64>"), ("c.d", "boolean")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(schema, want);
        assert_eq!(
            value(&p, Metric::ParseErrorRate, Target::Table),
            Some(2.0 / 3.0)
        );
    }

    #[test]
    fn samples_longer_than_one_decode_chunk_are_counted_whole() {
        let n = 2 * DECODE_CHUNK + 17;
        let msgs: Vec<Sampled> = (0..n)
            .map(|i| {
                let email = if i % 4 == 0 {
                    "null".to_string()
                } else {
                    format!("\"e{i}\"")
                };
                msg(
                    &format!(r#"{{"id": {}, "email": {email}}}"#, i % (n - 5)),
                    0,
                )
            })
            .collect();
        let p = profile(&msgs, &spec(KeySpec::Fields(vec!["id".into()]), None));
        let email = Target::Column("email".into());
        assert_eq!(
            value(&p, Metric::NullCount, email),
            Some(n.div_ceil(4) as f64)
        );
        let key = Target::Key(vec!["id".into()]);
        assert_eq!(value(&p, Metric::DuplicateCount, key), Some(5.0));
    }

    #[test]
    fn event_times_of_single_payloads() {
        let path = ["a", "ts"];
        let t = |p: &str| event_time_ms(p.as_bytes(), &path);
        assert_eq!(
            t(r#"{"a": {"ts": "2027-01-15T08:00:00Z"}}"#),
            Some(1_800_000_000_000)
        );
        assert_eq!(t(r#"{"a": {"ts": 1800000000}}"#), Some(1_800_000_000_000));
        assert_eq!(
            t(r#"{"a": {"ts": 1800000000123}}"#),
            Some(1_800_000_000_123)
        );
        assert_eq!(t(r#"{"a": {"ts": "1800000000"}}"#), Some(1_800_000_000_000));
        assert_eq!(t(r#"{"a": {"ts": null}}"#), None);
        assert_eq!(t(r#"{"a": 5}"#), None);
        assert_eq!(t("not json"), None);
    }

    #[test]
    fn message_keys_and_no_decodable_message() {
        let mut msgs = vec![msg("x", 0), msg("y", 0), msg("z", 0)];
        msgs[0].key = Some(b"k".to_vec());
        msgs[1].key = Some(b"k".to_vec());
        let p = profile(&msgs, &spec(KeySpec::MessageKey, None));
        assert_eq!(value(&p, Metric::ParseErrorRate, Target::Table), Some(1.0));
        let key = Target::Key(vec!["message_key".into()]);
        assert_eq!(value(&p, Metric::DuplicateCount, key), Some(1.0));
        assert!(p.schema.is_none());
        assert_eq!(p.failures.len(), 1);
    }
}
