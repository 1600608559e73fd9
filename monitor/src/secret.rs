//! Keeping secrets out of messages. The one redaction function lives in the store crate, which needs it
//! for its own connection errors; the warehouse connectors use it from here.

pub use tidewatch_store::redact;
