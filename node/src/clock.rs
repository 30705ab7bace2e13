//! The node's one clock. Everything the node stamps (messages, receipts,
//! audit entries, directory versions) reads the time here, as Unix seconds,
//! so that the protocol crate never reads a clock itself.

/// Now, in Unix seconds (UTC).
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as an RFC 3339 UTC time, for messages to people.
pub fn format_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}
