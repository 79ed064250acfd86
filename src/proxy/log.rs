//! Operational log lines on stderr, one JSON object each: start, reloads,
//! warnings. Request decisions go to the audit log (`audit.rs`).

use std::io::Write;
use std::time::SystemTime;

use serde_json::{json, Value};

pub fn info(message: &str, fields: Value) {
    emit("info", message, fields);
}

pub fn error(message: &str, fields: Value) {
    emit("error", message, fields);
}

pub fn warn(message: &str, fields: Value) {
    emit("warn", message, fields);
}

pub fn debug(message: &str, fields: Value) {
    if std::env::var_os("EAP_DEBUG").is_some() {
        emit("debug", message, fields);
    }
}

fn emit(level: &str, message: &str, fields: Value) {
    let mut line = json!({ "time": rfc3339(SystemTime::now()), "level": level, "msg": message });
    if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
        line.extend(fields);
    }
    // A log line that cannot be written must not take the proxy down.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A UUID-shaped request id (version 4 layout), the shape AWS request ids
/// have: a counter run through SipHash under a key drawn from the OS once per
/// process. Unique within the process and unguessable across processes,
/// without a system call or a lock per request.
pub fn new_request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = KEY.get_or_init(std::collections::hash_map::RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let half = |lane: u8| {
        let mut hasher = key.build_hasher();
        hasher.write_u64(n);
        hasher.write_u8(lane);
        hasher.finish()
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&half(0).to_le_bytes());
    bytes[8..].copy_from_slice(&half(1).to_le_bytes());
    format_uuid(bytes)
}

fn format_uuid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::encoding::hex(&bytes);
    let mut id = String::with_capacity(36);
    for (i, digit) in hex.char_indices() {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(digit);
    }
    id
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
/// Now, in seconds since the Unix epoch: the time rules that expire are
/// judged at.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let [year, month, day, hour, minute, second] =
        crate::encoding::utc_fields(since_epoch.as_secs() as i64);
    // Hand-formatted: one line per request carries it.
    let mut out = String::with_capacity(24);
    for (value, width, then) in [
        (year as u64, 4, '-'),
        (month as u64, 2, '-'),
        (day as u64, 2, 'T'),
        (hour as u64, 2, ':'),
        (minute as u64, 2, ':'),
        (second as u64, 2, '.'),
        (u64::from(since_epoch.subsec_millis()), 3, 'Z'),
    ] {
        push_padded(&mut out, value, width);
        out.push(then);
    }
    out
}

/// `value` in decimal, zero-padded to `width` digits (more if it needs them).
fn push_padded(out: &mut String, value: u64, width: u32) {
    let digits = value.checked_ilog10().unwrap_or(0) + 1;
    for _ in digits..width {
        out.push('0');
    }
    let mut divisor = 10u64.pow(digits - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_times() {
        let at = |secs| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_764_072_000), "2025-11-25T12:00:00.000Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59.000Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_072_000_007)),
            "2025-11-25T12:00:00.007Z"
        );
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59.000Z");
        assert_eq!(at(253_402_300_800), "10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
        assert_eq!(format_uuid([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            format_uuid([0xab; 16]),
            "abababab-abab-4bab-abab-abababababab"
        );
    }

    #[test]
    fn request_ids_do_not_repeat() {
        let ids: std::collections::HashSet<String> =
            (0..100_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(ids.iter().all(|id| id
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
    }
}
