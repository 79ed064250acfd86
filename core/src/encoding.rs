//! Byte-level encodings the stages share: RFC 3986 percent-encoding (the
//! form codec and SigV4's canonical form), lowercase hex (digests and ids)
//! and the proleptic Gregorian calendar (`x-amz-date` and log timestamps).

/// RFC 3986 unreserved characters: never percent-encoded.
pub const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// [`is_unreserved`] for every byte, looked up once per byte.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_unreserved(b as u8);
        b += 1;
    }
    table
};

/// The value of one hex digit, either case.
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes every byte outside the unreserved characters, with
/// uppercase hex, as SigV4's canonical form and the forwarded body need.
pub fn percent_encode(bytes: &[u8], out: &mut String) {
    encode(bytes, out, false);
}

/// [`percent_encode`], but a space becomes `+`: a form component as
/// botocore writes it.
pub fn form_encode(bytes: &[u8], out: &mut String) {
    encode(bytes, out, true);
}

fn encode(bytes: &[u8], out: &mut String, plus_for_space: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len());
    // Runs of unreserved characters are copied whole: most values are one.
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if UNRESERVED[usize::from(b)] {
            continue;
        }
        push_ascii(&bytes[run..i], out);
        if plus_for_space && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        run = i + 1;
    }
    push_ascii(&bytes[run..], out);
}

/// A run of unreserved bytes, which are ASCII and so valid UTF-8.
fn push_ascii(run: &[u8], out: &mut String) {
    if !run.is_empty() {
        out.push_str(std::str::from_utf8(run).unwrap_or_default());
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    out
}

/// Lowercase hex of `bytes`, appended to `out`.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted
/// from March so the leap day falls at the end of the (shifted) year, and
/// 400-year eras repeat exactly.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds since the Unix epoch as ISO 8601 in UTC, with `fraction` (as
/// `.123`, or empty) before the `Z`: `2026-12-01T10:00:00Z`.
pub fn utc_text(seconds: i64, fraction: &str) -> String {
    let [year, month, day, hour, minute, second] = utc_fields(seconds);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

/// Seconds since the Unix epoch as UTC year, month, day, hour, minute and
/// second: what every timestamp format here is written from.
pub fn utc_fields(seconds: i64) -> [i64; 6] {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    [
        year,
        month,
        day,
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60,
    ]
}

/// Seconds since the Unix epoch of a date and time given as digit fields
/// of `text`, each `(from, to)` byte range, in the order year, month, day,
/// hour, minute, second; `None` unless each is digits and together they
/// are a real UTC date and time (no leap seconds).
pub fn civil_seconds(text: &[u8], fields: [(usize, usize); 6]) -> Option<i64> {
    let number = |(from, to): (usize, usize)| -> Option<i64> {
        text.get(from..to)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let [year, month, day, hour, minute, second] = fields.map(number);
    let (year, month, day) = (year?, month?, day?);
    let (hour, minute, second) = (hour?, minute?, second?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}
