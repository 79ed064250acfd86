//! The SigV4 parsers (`auth::parse_authorization_header`,
//! `auth::parse_credential`, the query-string form) and the verifier
//! behind them, on arbitrary signed-looking requests.
//!
//! Input layout, so that seeds stay readable text:
//!
//! ```text
//! AUTHORIZATION\n     (empty: no header)
//! METHOD\n
//! PATH[?QUERY]\n
//! NAME: VALUE\n       (zero or more header lines)
//! \n
//! BODY...             (raw bytes, to the end)
//! ```
//!
//! Besides never panicking: a header that parses has consistent parts and
//! renders back to a header that parses the same; every error renders; and no
//! error shows the caller's secret or signature unless the input itself
//! repeats it elsewhere.
#![no_main]

use std::sync::OnceLock;

use elasticache_authz_core::auth::{self, CallerDirectory, CallerSignature, ClientCertificate};
use elasticache_authz_core::callers;
use elasticache_authz_core::error::Rejection;
use elasticache_authz_core::model::Region;
use elasticache_authz_core::request::{self, HttpParts, QueryAuth, SingleHeader};
use elasticache_authz_core::sigv4::ReceivedRequest;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-0123456789abcdef";
/// 2026-11-25T00:00:00Z, the date of the seeds.
const NOW: i64 = 1_795_564_800;

fn directory() -> &'static CallerDirectory {
    static DIRECTORY: OnceLock<CallerDirectory> = OnceLock::new();
    DIRECTORY.get_or_init(|| {
        let file = format!(
            "callers:\n  - name: fuzz-caller\n    access_key_id: AKIAFUZZEXAMPLE00001\n    secret_access_key: \"{SECRET}\"\n"
        );
        CallerDirectory::Callers(callers::compile("callers.yaml", &file).expect("callers file"))
    })
}

fn check_consistent(signature: &CallerSignature) {
    let scope = &signature.scope;
    // Any key shape parses (a trusted sidecar takes `test`); whose key it
    // is, is the callers file's question.
    assert!((1..=128).contains(&scope.access_key_id.len()));
    assert!(scope.access_key_id.bytes().all(|b| b.is_ascii_graphic()));
    assert!(scope.date.len() == 8 && scope.date.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        Region::parse(scope.region.as_str()).as_ref(),
        Some(&scope.region)
    );
    assert!(signature.signed_headers.iter().any(|h| h == "host"));
    assert!(signature
        .signed_headers
        .iter()
        .all(|h| !h.is_empty() && h.bytes().all(|b| !b.is_ascii_uppercase())));
    assert!(
        signature.signature.len() == 64
            && signature
                .signature
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
}

fn header_of(signature: &CallerSignature) -> String {
    let scope = &signature.scope;
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{}/elasticache/aws4_request, SignedHeaders={}, Signature={}",
        scope.access_key_id,
        scope.date,
        scope.region,
        signature.signed_headers.join(";"),
        signature.signature
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.split('\n');
    let authorization = lines.next().unwrap_or("");
    let method = lines.next().unwrap_or("GET");
    let target = lines.next().unwrap_or("/");
    let headers: Vec<(&str, &str)> = lines
        .map(|line| line.split_once(':').unwrap_or((line, "")))
        .map(|(name, value)| (name.trim(), value))
        .collect();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };

    // The credential parser on its own, on the raw line.
    if let Ok(scope) = auth::parse_credential(authorization) {
        assert_eq!(
            format!(
                "{}/{}/{}/elasticache/aws4_request",
                scope.access_key_id, scope.date, scope.region
            ),
            authorization
        );
    }

    let header = if authorization.is_empty() {
        SingleHeader::Absent
    } else {
        SingleHeader::One(authorization)
    };
    if let SingleHeader::One(value) = header {
        if let Ok(parsed) = auth::parse_authorization_header(value) {
            check_consistent(&parsed);
            let rendered = header_of(&parsed);
            let again = auth::parse_authorization_header(&rendered)
                .unwrap_or_else(|e| panic!("{rendered:?} does not re-parse: {e}"));
            assert_eq!(again, parsed);
        }
    }

    // The query-string form comes out of the request parser.
    let content_type = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or(SingleHeader::Absent, |(_, value)| SingleHeader::One(value));
    let query_auth = request::parse(&HttpParts {
        method,
        path,
        query,
        content_type,
        body: body.as_bytes(),
    })
    .map(|(_, query_auth)| query_auth)
    .unwrap_or_else(|_| QueryAuth::default());
    let signature = match auth::caller_signature(header, &query_auth) {
        Ok(Some(signature)) => signature,
        Ok(None) => return,
        Err(error) => {
            assert!(!Rejection::from(error).answer().to_xml("fuzz").is_empty());
            return;
        }
    };
    check_consistent(&signature);

    let received = ReceivedRequest {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let no_certificate = ClientCertificate {
        required: false,
        identities: &[],
    };
    match auth::authenticate(
        directory(),
        Some(&signature),
        &received,
        no_certificate,
        NOW,
    ) {
        Ok(caller) => assert_eq!(caller.caller, "fuzz-caller"),
        Err(failure) => {
            let shown = format!(
                "{} {:?}",
                Rejection::from(failure.clone()).answer().to_xml("fuzz"),
                failure
            );
            if !text.contains(SECRET) {
                assert!(!shown.contains(SECRET), "{shown}");
            }
            if text.matches(signature.signature.as_str()).count() == 1 {
                assert!(!shown.contains(&signature.signature), "{shown}");
            }
        }
    }
});
