//! AWS Signature Version 4 verification, as AWS's non-S3 services verify it,
//! for both the `Authorization` header form and the presigned query-string
//! form.
//!
//! Pure: no I/O, no clock, no globals. The caller passes the request as
//! received, the already-parsed claim, the secret key and the current time.
//! The body is always hashed as received; `x-amz-content-sha256` is never
//! trusted.

use std::fmt;

use ring::{digest, hmac};

use crate::encoding::{civil_seconds, hex, hex_value, percent_encode, push_hex, utc_fields};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Allowed clock skew, either way, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// The request as received. Header names in any case; values as received
/// (untrimmed).
#[derive(Clone, Copy)]
pub struct ReceivedRequest<'a> {
    pub method: &'a str,
    /// Raw path from the request line, e.g. `/` or `/%E1%88%B4`.
    pub path: &'a str,
    /// Raw query string without `?`, as received.
    pub query: Option<&'a str>,
    /// Every header line in order; repeated names appear repeatedly.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

// Headers may hold a session token: keep them out of debug output.
impl fmt::Debug for ReceivedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Location {
    Header,
    QueryString,
}

/// What the caller claims, already parsed from `Authorization` or the
/// `X-Amz-*` query parameters.
#[derive(Clone, Copy)]
pub struct Claim<'a> {
    pub location: Location,
    pub access_key_id: &'a str,
    /// `YYYYMMDD` from the credential scope.
    pub scope_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// Lowercase names as listed in SignedHeaders.
    pub signed_headers: &'a [String],
    /// 64 lowercase hex digits.
    pub signature: &'a str,
    /// For [`Location::QueryString`] the `X-Amz-Date` query parameter; for
    /// [`Location::Header`] pass `None`: the `x-amz-date` header is read from
    /// the request.
    pub query_date: Option<&'a str>,
    /// `X-Amz-Expires` in seconds (query form).
    pub query_expires: Option<u32>,
}

// The signature is secret-derived: keep it out of debug output.
impl fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("location", &self.location)
            .field("access_key_id", &self.access_key_id)
            .field("scope_date", &self.scope_date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("query_date", &self.query_date)
            .field("query_expires", &self.query_expires)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum VerifyError {
    MissingDate,
    MalformedDate {
        value: String,
    },
    ScopeDateMismatch {
        scope_date: String,
        amz_date: String,
    },
    Expired {
        message: String,
    },
    NotYetValid {
        message: String,
    },
    SignedHeaderMissing {
        name: String,
    },
    HostNotSigned,
    SignatureDoesNotMatch,
    Malformed {
        message: String,
    },
}

impl VerifyError {
    fn malformed(message: impl Into<String>) -> Self {
        VerifyError::Malformed {
            message: message.into(),
        }
    }
}

// Messages never include the signature, the secret or header/query values
// other than the date, which may carry a session token.
impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingDate => f.write_str(
                "the request has no x-amz-date (an X-Amz-Date header, or query parameter for a presigned request)",
            ),
            VerifyError::MalformedDate { value } => write!(
                f,
                "x-amz-date {:?} is not a valid date in the form YYYYMMDDTHHMMSSZ",
                shorten(value)
            ),
            VerifyError::ScopeDateMismatch {
                scope_date,
                amz_date,
            } => write!(
                f,
                "the credential scope date {:?} does not match the date of x-amz-date {:?}",
                shorten(scope_date),
                shorten(amz_date)
            ),
            VerifyError::Expired { message } | VerifyError::NotYetValid { message } => {
                f.write_str(message)
            }
            VerifyError::SignedHeaderMissing { name } => write!(
                f,
                "header {:?} is listed in SignedHeaders but is not in the request",
                shorten(name)
            ),
            VerifyError::HostNotSigned => f.write_str("the host header must be signed"),
            VerifyError::SignatureDoesNotMatch => f.write_str(
                "the request signature we calculated does not match the signature you provided; check your secret access key and signing method",
            ),
            VerifyError::Malformed { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Caps caller-supplied text echoed in messages, so an error stays readable.
fn shorten(text: &str) -> &str {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `{date}/{region}/{service}/aws4_request`
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The canonical request AWS computes for `req` under `claim`. Checks that
/// SignedHeaders is sorted, has no duplicates and names only headers present
/// in the request; for the query form the `X-Amz-Signature` pair is left out.
pub fn canonical_request(req: &ReceivedRequest, claim: &Claim) -> Result<String, VerifyError> {
    canonical_request_of(req, claim.location, claim.signed_headers)
}

/// The canonical request of `req` with `signed_headers` signed and the
/// signature in `location`: what a signer signs (the proxy, for its own
/// upstream requests) and a verifier recomputes.
pub fn canonical_request_of<S: AsRef<str>>(
    req: &ReceivedRequest,
    location: Location,
    signed_headers: &[S],
) -> Result<String, VerifyError> {
    check_signed_headers_list(signed_headers)?;
    // One buffer, sized for the usual request: this runs on every request.
    let mut out = String::with_capacity(
        192 + req.path.len()
            + 3 * req.query.map_or(0, str::len)
            + req
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 2)
                .sum::<usize>(),
    );
    out.push_str(req.method);
    out.push('\n');
    push_canonical_uri(req.path, &mut out);
    out.push('\n');
    out.push_str(&canonical_query(req.query, location)?);
    out.push('\n');
    push_canonical_headers(req.headers, signed_headers, &mut out)?;
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name.as_ref());
    }
    out.push('\n');
    push_hex(digest::digest(&digest::SHA256, req.body).as_ref(), &mut out);
    Ok(out)
}

/// `AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hex sha256(canonical_request)}`
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = digest::digest(&digest::SHA256, canonical_request.as_bytes());
    let mut out = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    for part in [ALGORITHM, amz_date, scope] {
        out.push_str(part);
        out.push('\n');
    }
    push_hex(hash.as_ref(), &mut out);
    out
}

/// The derived key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let k_secret = format!("AWS4{secret_access_key}");
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, k_secret.as_bytes());
    for part in [date, region, service, "aws4_request"] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

/// Signing keys derived lately, kept for the day they belong to: a key is
/// the same for a whole day and scope, and deriving one is four HMACs. At
/// most `capacity` entries; a key of a new day drops the older days' keys.
/// `K` tells what else a key depends on (the region, the credentials).
pub struct DailyKeys<K, V> {
    entries: std::sync::Mutex<Vec<(String, K, V)>>,
    capacity: usize,
}

impl<K, V: Clone> DailyKeys<K, V> {
    pub fn new(capacity: usize) -> DailyKeys<K, V> {
        DailyKeys {
            entries: std::sync::Mutex::new(Vec::new()),
            capacity: capacity.max(1),
        }
    }

    /// The key of `date` (`YYYYMMDD`) whose `K` satisfies `is`, derived by
    /// `derive` (which gives the `K` to keep it under) when there is none.
    pub fn get_or_derive(
        &self,
        date: &str,
        is: impl Fn(&K) -> bool,
        derive: impl FnOnce() -> (K, V),
    ) -> V {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, key)) = entries.iter().find(|(d, k, _)| d == date && is(k)) {
            return key.clone();
        }
        let (k, key) = derive();
        entries.retain(|(d, _, _)| d == date);
        if entries.len() >= self.capacity {
            entries.remove(0);
        }
        entries.push((date.to_owned(), k, key.clone()));
        key
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The hex signature of `string_to_sign`.
pub fn sign(
    secret_access_key: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let key = signing_key(secret_access_key, date, region, service);
    hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref())
}

/// Verifies `claim` against `req`. Checks, in order: x-amz-date present and
/// well-formed, scope date equals its first 8 characters, time window,
/// SignedHeaders well-formed, includes `host` and names only present
/// headers, and finally the signature (constant-time).
pub fn verify(
    req: &ReceivedRequest,
    claim: &Claim,
    secret_access_key: &str,
    now_unix_secs: i64,
) -> Result<(), VerifyError> {
    verify_with_key(
        req,
        claim,
        |date, region, service| signing_key(secret_access_key, date, region, service),
        now_unix_secs,
    )
}

/// `verify`, with the signing key for (scope date, region, service) from
/// `signing_key_for` (a caller's remembered keys), asked for only once every
/// other check has passed.
pub fn verify_with_key(
    req: &ReceivedRequest,
    claim: &Claim,
    signing_key_for: impl FnOnce(&str, &str, &str) -> hmac::Key,
    now_unix_secs: i64,
) -> Result<(), VerifyError> {
    let amz_date = claimed_date(req, claim)?;
    let Some(date_secs) = parse_amz_date(amz_date) else {
        return Err(VerifyError::MalformedDate {
            value: amz_date.to_owned(),
        });
    };
    if claim.scope_date != &amz_date[..8] {
        return Err(VerifyError::ScopeDateMismatch {
            scope_date: claim.scope_date.to_owned(),
            amz_date: amz_date.to_owned(),
        });
    }
    check_time(claim, amz_date, date_secs, now_unix_secs)?;

    check_signed_headers_list(claim.signed_headers)?;
    if !claim.signed_headers.iter().any(|name| name == "host") {
        return Err(VerifyError::HostNotSigned);
    }
    if let Some(name) = claim.signed_headers.iter().find(|name| {
        !req.headers
            .iter()
            .any(|(h, _)| h.eq_ignore_ascii_case(name))
    }) {
        return Err(VerifyError::SignedHeaderMissing { name: name.clone() });
    }

    let creq = canonical_request(req, claim)?;
    let scope = credential_scope(claim.scope_date, claim.region, claim.service);
    let sts = string_to_sign(amz_date, &scope, &creq);
    let Some(claimed) = decode_signature(claim.signature) else {
        return Err(VerifyError::SignatureDoesNotMatch);
    };
    let key = signing_key_for(claim.scope_date, claim.region, claim.service);
    hmac::verify(&key, sts.as_bytes(), &claimed).map_err(|_| VerifyError::SignatureDoesNotMatch)
}

/// The date the signature was made at: the `X-Amz-Date` query parameter for
/// the query form, the single `x-amz-date` header for the header form.
fn claimed_date<'a>(req: &ReceivedRequest<'a>, claim: &Claim<'a>) -> Result<&'a str, VerifyError> {
    match claim.location {
        Location::QueryString => claim.query_date.ok_or(VerifyError::MissingDate),
        Location::Header => {
            let mut values = req
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("x-amz-date"))
                .map(|(_, value)| *value);
            let first = values.next().ok_or(VerifyError::MissingDate)?;
            // Two dates would be joined in the canonical headers; which one
            // the string to sign means would be a guess.
            if values.next().is_some() {
                return Err(VerifyError::malformed(
                    "the request has more than one x-amz-date header",
                ));
            }
            Ok(first.trim_matches([' ', '\t']))
        }
    }
}

fn check_time(claim: &Claim, amz_date: &str, date_secs: i64, now: i64) -> Result<(), VerifyError> {
    let latest = now.saturating_add(MAX_SKEW_SECS);
    if date_secs > latest {
        return Err(VerifyError::NotYetValid {
            message: format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
                format_amz_date(latest),
                format_amz_date(now)
            ),
        });
    }
    match claim.location {
        Location::Header => {
            let earliest = now.saturating_sub(MAX_SKEW_SECS);
            if date_secs < earliest {
                return Err(VerifyError::Expired {
                    message: format!(
                        "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                        format_amz_date(earliest),
                        format_amz_date(now)
                    ),
                });
            }
        }
        Location::QueryString => {
            let Some(expires) = claim.query_expires else {
                return Err(VerifyError::malformed(
                    "a presigned request must carry X-Amz-Expires",
                ));
            };
            if now > date_secs + i64::from(expires) {
                return Err(VerifyError::Expired {
                    message: "Request has expired".to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// SignedHeaders must be non-empty lowercase names, strictly ascending: AWS
/// signs the list as given, so any other shape means the signer and the
/// verifier could disagree on what was signed.
fn check_signed_headers_list<S: AsRef<str>>(names: &[S]) -> Result<(), VerifyError> {
    for name in names {
        let name = name.as_ref();
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b':' && b != b';');
        if !plain {
            return Err(VerifyError::malformed(format!(
                "SignedHeaders holds {:?}, which is not a lowercase header name",
                shorten(name)
            )));
        }
    }
    for pair in names.windows(2) {
        let (first, second) = (pair[0].as_ref(), pair[1].as_ref());
        if first == second {
            return Err(VerifyError::malformed(format!(
                "SignedHeaders lists {:?} twice",
                shorten(first)
            )));
        }
        if first > second {
            return Err(VerifyError::malformed("SignedHeaders is not sorted"));
        }
    }
    Ok(())
}

/// Non-S3 canonical URI: drop empty and `.` segments, resolve `..`, keep a
/// trailing slash, then percent-encode the raw bytes (so `%` in the path as
/// received becomes `%25`: AWS's non-S3 services encode twice).
fn push_canonical_uri(path: &str, out: &mut String) {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    out.push('/');
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        percent_encode(segment.as_bytes(), out);
    }
    if !segments.is_empty() && path.ends_with('/') {
        out.push('/');
    }
}

fn canonical_query(query: Option<&str>, location: Location) -> Result<String, VerifyError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut signatures = 0usize;
    for piece in query.unwrap_or("").split('&') {
        if piece.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = percent_decode(raw_name)?;
        if location == Location::QueryString && name == b"X-Amz-Signature" {
            signatures += 1;
            continue;
        }
        let value = percent_decode(raw_value)?;
        let mut encoded_name = String::with_capacity(name.len());
        percent_encode(&name, &mut encoded_name);
        let mut encoded_value = String::with_capacity(value.len());
        percent_encode(&value, &mut encoded_value);
        pairs.push((encoded_name, encoded_value));
    }
    if signatures > 1 {
        return Err(VerifyError::malformed(
            "the query string has more than one X-Amz-Signature",
        ));
    }
    // Tuple order: by encoded name, then encoded value, bytewise.
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    Ok(out)
}

/// The signed headers, in SignedHeaders order, each `name:value\n`; repeated
/// headers joined with `,` in the order received.
fn push_canonical_headers<S: AsRef<str>>(
    headers: &[(&str, &str)],
    signed_headers: &[S],
    out: &mut String,
) -> Result<(), VerifyError> {
    for name in signed_headers {
        let name = name.as_ref();
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for (_, value) in headers.iter().filter(|(h, _)| h.eq_ignore_ascii_case(name)) {
            if found {
                out.push(',');
            }
            found = true;
            push_trimmed(value, out);
        }
        if !found {
            return Err(VerifyError::SignedHeaderMissing {
                name: name.to_owned(),
            });
        }
        out.push('\n');
    }
    Ok(())
}

/// Trims the value and collapses each run of whitespace to one space.
fn push_trimmed(value: &str, out: &mut String) {
    for (i, word) in value.split_ascii_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// Decodes `%XX` escapes, and `+` as a space to agree with the proxy's form
/// parser.
fn percent_decode(raw: &str) -> Result<Vec<u8>, VerifyError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escape = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?));
                let Some(byte) = escape else {
                    return Err(VerifyError::malformed(
                        "the query string has a malformed percent escape",
                    ));
                };
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// 64 lowercase hex digits into 32 bytes; anything else cannot match.
fn decode_signature(signature: &str) -> Option<[u8; 32]> {
    let bytes = signature.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        *slot = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Seconds since the Unix epoch of `YYYYMMDDTHHMMSSZ`, if it is a real UTC
/// date and time (no leap seconds).
fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    civil_seconds(b, [(0, 4), (4, 6), (6, 8), (9, 11), (11, 13), (13, 15)])
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time.
pub fn format_amz_date(secs: i64) -> String {
    let [year, month, day, hour, minute, second] = utc_fields(secs);
    format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // reads AWS's test vectors, shipped in tests/data
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z (from `date -u -d ... +%s`).
    const VECTOR_NOW: i64 = 1_440_938_160;
    const VECTOR_DATE: &str = "20150830T123600Z";
    /// 2026-11-25T12:10:00Z.
    const NOV_2026: i64 = 1_795_608_600;

    // ---- vector suite ----------------------------------------------------

    /// A request parsed from a `.req` file, owning its parts.
    #[derive(Clone)]
    struct OwnedRequest {
        method: String,
        path: String,
        query: Option<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl OwnedRequest {
        fn header_refs(&self) -> Vec<(&str, &str)> {
            self.headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect()
        }

        fn received<'a>(&'a self, headers: &'a [(&'a str, &'a str)]) -> ReceivedRequest<'a> {
            ReceivedRequest {
                method: &self.method,
                path: &self.path,
                query: self.query.as_deref(),
                headers,
                body: &self.body,
            }
        }
    }

    fn parse_req(text: &str) -> OwnedRequest {
        let (head, body) = match text.split_once("\n\n") {
            Some((head, body)) => (head, body),
            None => (text, ""),
        };
        let mut lines = head.split('\n');
        let request_line = lines.next().expect("request line");
        let (method, rest) = request_line.split_once(' ').expect("method");
        // get-space has a literal space in its target: the target runs to
        // the last ` HTTP/`.
        let target = &rest[..rest.rfind(" HTTP/").expect("http version")];
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Obsolete line folding: continue the previous value.
                let last = headers.last_mut().expect("folded line after a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').expect("header colon");
            headers.push((name.to_owned(), value.to_owned()));
        }
        OwnedRequest {
            method: method.to_owned(),
            path,
            query,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    struct Authz {
        access_key_id: String,
        scope_date: String,
        region: String,
        service: String,
        signed_headers: Vec<String>,
        signature: String,
    }

    fn parse_authz(text: &str) -> Authz {
        let rest = text
            .trim()
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .expect("algorithm");
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(", ") {
            let (k, v) = part.split_once('=').expect("key=value");
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                other => panic!("unexpected authz part {other}"),
            }
        }
        let scope: Vec<&str> = credential.expect("credential").split('/').collect();
        assert_eq!(scope.len(), 5);
        assert_eq!(scope[4], "aws4_request");
        Authz {
            access_key_id: scope[0].to_owned(),
            scope_date: scope[1].to_owned(),
            region: scope[2].to_owned(),
            service: scope[3].to_owned(),
            signed_headers: signed
                .expect("signed headers")
                .split(';')
                .map(str::to_owned)
                .collect(),
            signature: signature.expect("signature").to_owned(),
        }
    }

    impl Authz {
        fn claim(&self) -> Claim<'_> {
            Claim {
                location: Location::Header,
                access_key_id: &self.access_key_id,
                scope_date: &self.scope_date,
                region: &self.region,
                service: &self.service,
                signed_headers: &self.signed_headers,
                signature: &self.signature,
                query_date: None,
                query_expires: None,
            }
        }
    }

    fn find_cases(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read vector dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                find_cases(&path, out);
            } else if path.extension().is_some_and(|e| e == "req") {
                for ext in ["creq", "sts", "authz"] {
                    assert!(
                        path.with_extension(ext).is_file(),
                        "{} has no .{ext}",
                        path.display()
                    );
                }
                out.push(path.with_extension(""));
            }
        }
    }

    fn read(path: &Path, ext: &str) -> String {
        std::fs::read_to_string(path.with_extension(ext))
            .unwrap_or_else(|e| panic!("{}.{ext}: {e}", path.display()))
    }

    fn assert_mismatch(case: &str, what: &str, req: &OwnedRequest, claim: &Claim, secret: &str) {
        let headers = req.header_refs();
        assert_eq!(
            verify(&req.received(&headers), claim, secret, VECTOR_NOW),
            Err(VerifyError::SignatureDoesNotMatch),
            "{case}: {what}"
        );
    }

    #[test]
    fn aws_test_suite_vectors() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/sigv4"));
        let sts_token = std::fs::read_to_string(root.join("post-sts-token/readme.txt"))
            .expect("readme")
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .expect("token line")
            .trim()
            .to_owned();
        assert!(sts_token.starts_with("AQoDYXdz"));

        let mut cases = Vec::new();
        find_cases(root, &mut cases);
        assert_eq!(cases.len(), 34, "vector cases found: {cases:?}");

        for base in &cases {
            let case = base
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let mut req = parse_req(&read(base, "req"));
            let creq = read(base, "creq");
            let sts = read(base, "sts");
            let authz = parse_authz(&read(base, "authz"));
            assert_eq!(authz.access_key_id, "AKIDEXAMPLE");

            let has_token = |r: &OwnedRequest| {
                r.headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"))
            };
            // The session token of get-vanilla-with-session-token is only in
            // its .creq, as botocore's harness assumes.
            if let Some(line) = creq
                .lines()
                .find(|l| l.starts_with("x-amz-security-token:"))
            {
                if !has_token(&req) {
                    let value = &line["x-amz-security-token:".len()..];
                    req.headers
                        .push(("X-Amz-Security-Token".to_owned(), value.to_owned()));
                }
            }
            if case == "post-sts-header-before" {
                let (_, token) = req
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"))
                    .expect("token header");
                assert_eq!(token, &sts_token, "{case}: token differs from readme");
            }

            let claim = authz.claim();
            let headers = req.header_refs();
            let received = req.received(&headers);
            let got_creq = canonical_request(&received, &claim).expect("canonical request");
            assert_eq!(got_creq, creq, "{case}: canonical request");
            let scope = credential_scope(&authz.scope_date, &authz.region, &authz.service);
            assert_eq!(scope, "20150830/us-east-1/service/aws4_request");
            let got_sts = string_to_sign(VECTOR_DATE, &scope, &got_creq);
            assert_eq!(got_sts, sts, "{case}: string to sign");
            let signature = sign(
                SECRET,
                &authz.scope_date,
                &authz.region,
                &authz.service,
                &got_sts,
            );
            assert_eq!(signature, authz.signature, "{case}: signature");
            assert_eq!(
                verify(&received, &claim, SECRET, VECTOR_NOW),
                Ok(()),
                "{case}: verify"
            );

            if case == "post-sts-header-after" {
                // The token is added after signing: unsigned, it must not
                // change the outcome.
                let mut with_token = req.clone();
                with_token
                    .headers
                    .push(("X-Amz-Security-Token".to_owned(), sts_token.clone()));
                let headers = with_token.header_refs();
                assert_eq!(
                    verify(&with_token.received(&headers), &claim, SECRET, VECTOR_NOW),
                    Ok(()),
                    "{case}: token added after signing"
                );
            }

            // A signed header other than the date, altered.
            let target = authz
                .signed_headers
                .iter()
                .find(|n| *n != "x-amz-date")
                .expect("a signed header besides x-amz-date");
            let mut altered = req.clone();
            let header = altered
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(target))
                .expect("signed header present");
            header.1.push('x');
            assert_mismatch(&case, "altered header", &altered, &claim, SECRET);

            // The body, altered (or made non-empty).
            let mut altered = req.clone();
            match altered.body.first_mut() {
                Some(b) => *b ^= 1,
                None => altered.body.push(b'x'),
            }
            assert_mismatch(&case, "altered body", &altered, &claim, SECRET);

            if let Some(query) = &req.query {
                let mut altered = req.clone();
                let first_piece_end = query.find('&').unwrap_or(query.len());
                let mut q = query.clone();
                q.insert(first_piece_end, 'x');
                altered.query = Some(q);
                assert_mismatch(&case, "altered query", &altered, &claim, SECRET);
            }

            assert_mismatch(
                &case,
                "wrong secret",
                &req,
                &claim,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz",
            );
        }
    }

    // ---- unit tests -------------------------------------------------------

    const DESCRIBE: &str = "Action=DescribeCacheClusters&Version=2015-02-02";

    struct Fixture {
        method: String,
        path: String,
        query: Option<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        signed_headers: Vec<String>,
        location: Location,
        query_date: Option<String>,
        query_expires: Option<u32>,
        scope_date: String,
        signature: String,
    }

    impl Fixture {
        /// A header-signed POST dated `amz_date`, signed with SECRET.
        fn header(amz_date: &str) -> Fixture {
            let mut f = Fixture {
                method: "POST".to_owned(),
                path: "/".to_owned(),
                query: None,
                headers: vec![
                    (
                        "Content-Type".to_owned(),
                        "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
                    ),
                    (
                        "Host".to_owned(),
                        "elasticache.us-east-1.amazonaws.com".to_owned(),
                    ),
                    ("X-Amz-Date".to_owned(), amz_date.to_owned()),
                    (
                        "X-Amz-Security-Token".to_owned(),
                        "SESSIONTOKENxyz".to_owned(),
                    ),
                ],
                body: DESCRIBE.as_bytes().to_vec(),
                signed_headers: ["content-type", "host", "x-amz-date", "x-amz-security-token"]
                    .map(str::to_owned)
                    .to_vec(),
                location: Location::Header,
                query_date: None,
                query_expires: None,
                scope_date: amz_date.get(..8).unwrap_or(amz_date).to_owned(),
                signature: String::new(),
            };
            f.sign();
            f
        }

        /// A presigned GET dated `amz_date`, valid for `expires` seconds.
        fn presigned(amz_date: &str, expires: u32) -> Fixture {
            let scope_date = &amz_date[..8];
            let query = format!(
                "{DESCRIBE}&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKIDEXAMPLE%2F{scope_date}%2Fus-east-1%2Felasticache%2Faws4_request\
                 &X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
            );
            let mut f = Fixture {
                method: "GET".to_owned(),
                path: "/".to_owned(),
                query: Some(query),
                headers: vec![(
                    "host".to_owned(),
                    "elasticache.us-east-1.amazonaws.com".to_owned(),
                )],
                body: Vec::new(),
                signed_headers: vec!["host".to_owned()],
                location: Location::QueryString,
                query_date: Some(amz_date.to_owned()),
                query_expires: Some(expires),
                scope_date: scope_date.to_owned(),
                signature: String::new(),
            };
            f.sign();
            // The signature goes in the query after signing, as SDKs do.
            let signature = f.signature.clone();
            if let Some(q) = f.query.as_mut() {
                q.push_str("&X-Amz-Signature=");
                q.push_str(&signature);
            }
            f
        }

        fn header_refs(&self) -> Vec<(&str, &str)> {
            self.headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect()
        }

        fn with<R>(&self, run: impl FnOnce(&ReceivedRequest, &Claim) -> R) -> R {
            let headers = self.header_refs();
            let req = ReceivedRequest {
                method: &self.method,
                path: &self.path,
                query: self.query.as_deref(),
                headers: &headers,
                body: &self.body,
            };
            let claim = Claim {
                location: self.location,
                access_key_id: "AKIDEXAMPLE",
                scope_date: &self.scope_date,
                region: "us-east-1",
                service: "elasticache",
                signed_headers: &self.signed_headers,
                signature: &self.signature,
                query_date: self.query_date.as_deref(),
                query_expires: self.query_expires,
            };
            run(&req, &claim)
        }

        /// Signs the request as it stands, with the date the verifier would
        /// read.
        fn sign(&mut self) {
            let signature = self.with(|req, claim| {
                let amz_date = claimed_date(req, claim).expect("date");
                let creq = canonical_request(req, claim).expect("creq");
                let scope = credential_scope(claim.scope_date, claim.region, claim.service);
                sign(
                    SECRET,
                    claim.scope_date,
                    claim.region,
                    claim.service,
                    &string_to_sign(amz_date, &scope, &creq),
                )
            });
            self.signature = signature;
        }

        fn verify_at(&self, now: i64) -> Result<(), VerifyError> {
            self.with(|req, claim| verify(req, claim, SECRET, now))
        }

        fn creq(&self) -> Result<String, VerifyError> {
            self.with(canonical_request)
        }

        fn set_header(&mut self, name: &str, value: &str) {
            for (n, v) in &mut self.headers {
                if n.eq_ignore_ascii_case(name) {
                    *v = value.to_owned();
                }
            }
        }
    }

    #[test]
    fn date_arithmetic() {
        assert_eq!(parse_amz_date(VECTOR_DATE), Some(VECTOR_NOW));
        assert_eq!(parse_amz_date("20261125T121000Z"), Some(NOV_2026));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("19691231T235959Z"), Some(-1));
        assert_eq!(parse_amz_date("20000229T000000Z"), Some(951_782_400));
        assert_eq!(parse_amz_date("21000301T000000Z"), Some(4_107_542_400));
        assert_eq!(format_amz_date(VECTOR_NOW), VECTOR_DATE);
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
        for days in -800_000..800_000 {
            let (y, m, d) = crate::encoding::civil_from_days(days);
            assert!((1..=crate::encoding::days_in_month(y, m)).contains(&d));
            assert_eq!(crate::encoding::days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn malformed_dates() {
        for bad in [
            "20151330T000000Z", // month 13
            "20150230T000000Z", // 30 February
            "20190229T000000Z", // not a leap year
            "21000229T000000Z", // not a leap year
            "20150832T000000Z",
            "20150800T000000Z",
            "20150830T250000Z",
            "20150830T240000Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "20150830T123600",
            "20150830T123600ZZ",
            "2015083T123600Z",
            "20150830 123600Z",
            "20150830T12360OZ",
            "2015-08-30T12:36:00Z",
            "+0150830T123600Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
            let mut f = Fixture::header(VECTOR_DATE);
            f.set_header("x-amz-date", bad);
            assert_eq!(
                f.verify_at(VECTOR_NOW),
                Err(VerifyError::MalformedDate {
                    value: bad.to_owned()
                }),
                "{bad}"
            );
        }
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
        assert_eq!(
            Fixture::presigned(VECTOR_DATE, 60).with(|req, claim| verify(
                req,
                &Claim {
                    query_date: Some("20150830T1236Z"),
                    ..*claim
                },
                SECRET,
                VECTOR_NOW
            )),
            Err(VerifyError::MalformedDate {
                value: "20150830T1236Z".to_owned()
            })
        );
    }

    #[test]
    fn missing_date() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.headers.retain(|(n, _)| n != "X-Amz-Date");
        assert_eq!(f.verify_at(VECTOR_NOW), Err(VerifyError::MissingDate));

        let mut f = Fixture::presigned(VECTOR_DATE, 60);
        f.query_date = None;
        assert_eq!(f.verify_at(VECTOR_NOW), Err(VerifyError::MissingDate));
    }

    #[test]
    fn two_date_headers_are_malformed() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.headers
            .push(("x-amz-date".to_owned(), VECTOR_DATE.to_owned()));
        assert!(matches!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn scope_date_mismatch() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.scope_date = "20150831".to_owned();
        assert_eq!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::ScopeDateMismatch {
                scope_date: "20150831".to_owned(),
                amz_date: VECTOR_DATE.to_owned()
            })
        );
    }

    #[test]
    fn header_form_skew_edges() {
        let f = Fixture::header(VECTOR_DATE);
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
        assert_eq!(f.verify_at(VECTOR_NOW + 300), Ok(()));
        assert_eq!(f.verify_at(VECTOR_NOW - 300), Ok(()));
        assert_eq!(
            f.verify_at(VECTOR_NOW + 301),
            Err(VerifyError::Expired {
                message: "Signature expired: 20150830T123600Z is now earlier than \
                          20150830T123601Z (20150830T124101Z - 5 min.)"
                    .to_owned()
            })
        );
        assert_eq!(
            f.verify_at(VECTOR_NOW - 301),
            Err(VerifyError::NotYetValid {
                message: "Signature not yet current: 20150830T123600Z is still later than \
                          20150830T123559Z (20150830T123059Z + 5 min.)"
                    .to_owned()
            })
        );
    }

    #[test]
    fn header_form_aws_wording() {
        let old = Fixture::header("20261125T120000Z");
        assert_eq!(
            old.verify_at(NOV_2026).map_err(|e| e.to_string()),
            Err(
                "Signature expired: 20261125T120000Z is now earlier than 20261125T120500Z \
                 (20261125T121000Z - 5 min.)"
                    .to_owned()
            )
        );
        let new = Fixture::header("20261125T123000Z");
        assert_eq!(
            new.verify_at(NOV_2026).map_err(|e| e.to_string()),
            Err(
                "Signature not yet current: 20261125T123000Z is still later than \
                 20261125T121500Z (20261125T121000Z + 5 min.)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn query_form_expiry() {
        let f = Fixture::presigned(VECTOR_DATE, 900);
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
        assert_eq!(f.verify_at(VECTOR_NOW + 900), Ok(()));
        let err = f.verify_at(VECTOR_NOW + 901).expect_err("expired");
        assert_eq!(
            err,
            VerifyError::Expired {
                message: "Request has expired".to_owned()
            }
        );
        assert_eq!(err.to_string(), "Request has expired");
        assert_eq!(f.verify_at(VECTOR_NOW - 300), Ok(()));
        assert!(matches!(
            f.verify_at(VECTOR_NOW - 301),
            Err(VerifyError::NotYetValid { .. })
        ));

        let mut f = Fixture::presigned(VECTOR_DATE, 900);
        f.query_expires = None;
        assert!(matches!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn query_form_signature_covers_the_other_parameters() {
        let f = Fixture::presigned(VECTOR_DATE, 60);
        let creq = f.creq().expect("creq");
        assert!(!creq.contains("X-Amz-Signature"));
        assert!(creq.contains("X-Amz-Expires=60"));

        let mut altered = Fixture::presigned(VECTOR_DATE, 60);
        altered.query = altered
            .query
            .map(|q| q.replace("X-Amz-Expires=60", "X-Amz-Expires=61"));
        assert_eq!(
            altered.verify_at(VECTOR_NOW),
            Err(VerifyError::SignatureDoesNotMatch)
        );

        let mut doubled = Fixture::presigned(VECTOR_DATE, 60);
        if let Some(q) = doubled.query.as_mut() {
            q.push_str("&X-Amz-Signature=00");
        }
        assert!(matches!(
            doubled.verify_at(VECTOR_NOW),
            Err(VerifyError::Malformed { .. })
        ));

        // In the header form X-Amz-Signature is an ordinary parameter.
        let mut header_form = Fixture::header(VECTOR_DATE);
        header_form.query = Some("X-Amz-Signature=abc".to_owned());
        assert!(header_form
            .creq()
            .expect("creq")
            .contains("\nX-Amz-Signature=abc\n"));
    }

    #[test]
    fn signed_headers_must_be_sorted_and_unique() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.signed_headers = ["host", "content-type", "x-amz-date"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::Malformed {
                message: "SignedHeaders is not sorted".to_owned()
            })
        );
        assert!(matches!(f.creq(), Err(VerifyError::Malformed { .. })));

        f.signed_headers = ["host", "host", "x-amz-date"].map(str::to_owned).to_vec();
        assert!(matches!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::Malformed { message }) if message.contains("twice")
        ));

        for bad in ["Host", "", "ho st", "a:b"] {
            f.signed_headers = vec![bad.to_owned(), "x-amz-date".to_owned()];
            assert!(
                matches!(f.verify_at(VECTOR_NOW), Err(VerifyError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn host_must_be_signed() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.signed_headers = ["content-type", "x-amz-date"].map(str::to_owned).to_vec();
        f.sign();
        assert_eq!(f.verify_at(VECTOR_NOW), Err(VerifyError::HostNotSigned));
    }

    #[test]
    fn signed_header_must_be_present() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.headers.retain(|(n, _)| n != "Content-Type");
        let expected = VerifyError::SignedHeaderMissing {
            name: "content-type".to_owned(),
        };
        assert_eq!(f.verify_at(VECTOR_NOW), Err(expected.clone()));
        assert_eq!(f.creq(), Err(expected));
    }

    #[test]
    fn unsigned_headers_do_not_matter() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.headers
            .push(("User-Agent".to_owned(), "anything".to_owned()));
        f.headers.push((
            "X-Amz-Content-Sha256".to_owned(),
            "UNSIGNED-PAYLOAD".to_owned(),
        ));
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
    }

    #[test]
    fn signed_header_value_is_trimmed_and_collapsed() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.set_header(
            "content-type",
            " \tapplication/x-www-form-urlencoded;   charset=utf-8  ",
        );
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
        f.set_header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        );
        assert_eq!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn plus_and_percent_20_canonicalize_the_same() {
        let plus = canonical_query(Some("b=x+y&a=1+2"), Location::Header).expect("plus");
        let pct = canonical_query(Some("a=1%202&b=x%20y"), Location::Header).expect("pct");
        assert_eq!(plus, "a=1%202&b=x%20y");
        assert_eq!(plus, pct);

        let mut f = Fixture::header(VECTOR_DATE);
        f.query = Some("Marker=a+b".to_owned());
        f.sign();
        f.query = Some("Marker=a%20b".to_owned());
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
        // A literal plus is %2B and differs.
        f.query = Some("Marker=a%2Bb".to_owned());
        assert_eq!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn query_canonicalization_details() {
        let q = |raw: &str| canonical_query(Some(raw), Location::Header);
        assert_eq!(q("").as_deref(), Ok(""));
        assert_eq!(canonical_query(None, Location::Header).as_deref(), Ok(""));
        assert_eq!(q("&&b&a=&&").as_deref(), Ok("a=&b="));
        assert_eq!(q("a=b=c").as_deref(), Ok("a=b%3Dc"));
        assert_eq!(q("%7e=%2a").as_deref(), Ok("~=%2A"));
        assert_eq!(q("p=2&p=10&P=1").as_deref(), Ok("P=1&p=10&p=2"));
        assert_eq!(q("k=\u{1234}").as_deref(), Ok("k=%E1%88%B4"));
        for bad in ["a=%", "a=%4", "a=%zz", "%g1=b", "a=%%41"] {
            assert!(
                matches!(q(bad), Err(VerifyError::Malformed { .. })),
                "{bad}"
            );
        }
        let mut f = Fixture::header(VECTOR_DATE);
        f.query = Some("Action=%ZZ".to_owned());
        assert!(matches!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::Malformed { .. })
        ));
    }

    fn canonical_uri(path: &str) -> String {
        let mut out = String::new();
        push_canonical_uri(path, &mut out);
        out
    }

    #[test]
    fn path_canonicalization() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//a//b//"), "/a/b/");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_uri("/../../a"), "/a");
        assert_eq!(canonical_uri("/a/b/.."), "/a");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        // Already-encoded input is encoded again.
        assert_eq!(canonical_uri("/%E1%88%B4"), "/%25E1%2588%25B4");
        assert_eq!(canonical_uri("/a%2Fb"), "/a%252Fb");
        assert_eq!(canonical_uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(canonical_uri("/$delete+x"), "/%24delete%2Bx");

        let mut f = Fixture::header(VECTOR_DATE);
        f.path = "/%7Ea".to_owned();
        f.sign();
        assert!(f.creq().expect("creq").contains("\n/%257Ea\n"));
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
        f.path = "/~a".to_owned();
        assert_eq!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn body_is_hashed_as_received() {
        let mut f = Fixture::header(VECTOR_DATE);
        f.headers.push((
            "x-amz-content-sha256".to_owned(),
            hex(digest::digest(&digest::SHA256, f.body.as_slice()).as_ref()),
        ));
        f.signed_headers.push("x-amz-content-sha256".to_owned());
        f.signed_headers.sort();
        f.sign();
        assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));
        f.body.push(b'&');
        assert_eq!(
            f.verify_at(VECTOR_NOW),
            Err(VerifyError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn bad_signature_shapes_do_not_match() {
        let f = Fixture::header(VECTOR_DATE);
        let upper = f.signature.to_uppercase();
        for bad in [upper.as_str(), "", "00", &f.signature[..63], "zz"] {
            let result = f.with(|req, claim| {
                verify(
                    req,
                    &Claim {
                        signature: bad,
                        ..*claim
                    },
                    SECRET,
                    VECTOR_NOW,
                )
            });
            assert_eq!(result, Err(VerifyError::SignatureDoesNotMatch), "{bad}");
        }
    }

    #[test]
    fn errors_never_reveal_secrets() {
        let f = Fixture::header(VECTOR_DATE);
        let token = "SESSIONTOKENxyz";
        let mut errors = vec![
            VerifyError::MissingDate,
            VerifyError::HostNotSigned,
            VerifyError::SignatureDoesNotMatch,
        ];
        let mut scenarios: Vec<Fixture> = Vec::new();
        for now in [VECTOR_NOW - 10_000, VECTOR_NOW + 10_000] {
            errors.push(f.verify_at(now).expect_err("time"));
        }
        let mut g = Fixture::header(VECTOR_DATE);
        g.query = Some(format!("X-Amz-Security-Token={token}&bad=%G0"));
        scenarios.push(g);
        let mut g = Fixture::header(VECTOR_DATE);
        g.signed_headers.swap(0, 3);
        scenarios.push(g);
        let mut g = Fixture::header(VECTOR_DATE);
        g.headers.retain(|(n, _)| n != "X-Amz-Security-Token");
        scenarios.push(g);
        let mut g = Fixture::header(VECTOR_DATE);
        g.set_header("x-amz-security-token", "other");
        scenarios.push(g);
        let mut g = Fixture::header(VECTOR_DATE);
        g.set_header("x-amz-date", "garbage");
        scenarios.push(g);
        let mut g = Fixture::header(VECTOR_DATE);
        g.scope_date = "20000101".to_owned();
        scenarios.push(g);
        let mut g = Fixture::presigned(VECTOR_DATE, 1);
        g.query_expires = None;
        scenarios.push(g);
        errors.push(
            Fixture::presigned(VECTOR_DATE, 1)
                .verify_at(VECTOR_NOW + 2)
                .expect_err("expired"),
        );
        for g in &scenarios {
            errors.push(g.verify_at(VECTOR_NOW).expect_err("scenario fails"));
        }
        let wrong = f.with(|req, claim| verify(req, claim, "wrong", VECTOR_NOW));
        errors.push(wrong.expect_err("wrong secret"));
        assert!(errors.len() >= 12);
        for error in &errors {
            let shown = format!("{error} {error:?}");
            assert!(!shown.is_empty());
            assert!(!shown.contains(&f.signature), "{shown}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains(token), "{shown}");
            let message = error.to_string();
            assert!(
                !message.ends_with('.') || message.ends_with("min.)"),
                "{message}"
            );
        }
        let debug = f.with(|req, claim| format!("{req:?} {claim:?}"));
        assert!(!debug.contains(&f.signature));
        assert!(!debug.contains(token));
    }

    // ---- property test ----------------------------------------------------

    fn query_component() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), 0..12).prop_map(|chars| {
            let text: String = chars.into_iter().collect();
            let mut out = String::new();
            percent_encode(text.as_bytes(), &mut out);
            out
        })
    }

    proptest! {
        #[test]
        fn signed_requests_verify_and_body_flips_fail(
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
            pairs in proptest::collection::vec((query_component(), query_component()), 0..6),
            plus_for_space in any::<bool>(),
            value in "[ \t!-~]{0,40}",
            repeated in proptest::collection::vec("[ -~]{0,10}", 0..3),
            body in proptest::collection::vec(any::<u8>(), 1..200),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut query: String = pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            if plus_for_space {
                query = query.replace("%20", "+");
            }
            let mut f = Fixture::header(VECTOR_DATE);
            f.method = method.to_owned();
            f.query = Some(query);
            f.body = body;
            f.headers.push(("X-Custom".to_owned(), value));
            for r in &repeated {
                f.headers.push(("x-custom".to_owned(), r.clone()));
            }
            f.signed_headers.push("x-custom".to_owned());
            f.signed_headers.sort();
            f.sign();
            prop_assert_eq!(f.verify_at(VECTOR_NOW), Ok(()));

            let i = flip.index(f.body.len());
            f.body[i] ^= 1 << bit;
            prop_assert_eq!(f.verify_at(VECTOR_NOW), Err(VerifyError::SignatureDoesNotMatch));
        }
    }
}
