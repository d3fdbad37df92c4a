//! The one clock and the one timestamp format (every table stores epoch milliseconds, every
//! answer shows RFC 3339 UTC with seconds), and the few other formats shared by the crates:
//! sizes for people.

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 UTC with seconds, as every timestamp in the API and in `export_details.json`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A duration in whole milliseconds, saturating (for adding to epoch milliseconds).
pub fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Bytes for people: `13.0 MB` (powers of 1000, as file managers show them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(1_900_000_000_000), "2030-03-17T17:46:40Z");
        assert_eq!((human_bytes(999), human_bytes(13_000_000)), ("999 B".to_string(), "13.0 MB".to_string()));
        assert_eq!(millis(std::time::Duration::from_secs(2)), 2000);
        assert_eq!(millis(std::time::Duration::MAX), i64::MAX);
    }
}
