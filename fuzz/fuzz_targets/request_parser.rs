//! The request parser (`request::parse`) on arbitrary HTTP requests.
//!
//! Input layout, so that seeds stay readable text:
//!
//! ```text
//! METHOD\n
//! PATH[?QUERY]\n
//! CONTENT-TYPE\n      (empty: no header; a lone `!`: several or unreadable)
//! BODY...             (raw bytes, to the end)
//! ```
//!
//! Besides never panicking, a request that parses must survive the trip the
//! proxy makes with it: its forwarded body (`to_form_body`) re-parses to
//! exactly the same typed request, re-encodes byte for byte the same, and
//! carries none of the caller's signature parameters.
#![no_main]

use elasticache_authz_core::error::Rejection;
use elasticache_authz_core::form;
use elasticache_authz_core::request::{self, HttpParts, SingleHeader, QUERY_AUTH_PARAMS};
use libfuzzer_sys::fuzz_target;

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(4, |b| *b == b'\n');
    let (Some(method), Some(target), Some(content_type)) =
        (lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let body = lines.next().unwrap_or_default();
    // The HTTP layer hands the parser text for everything but the body.
    let (Ok(method), Ok(target), Ok(content_type)) = (
        std::str::from_utf8(method),
        std::str::from_utf8(target),
        std::str::from_utf8(content_type),
    ) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let content_type = match content_type {
        "" => SingleHeader::Absent,
        "!" => SingleHeader::Unreadable,
        one => SingleHeader::One(one),
    };
    let parsed = request::parse(&HttpParts {
        method,
        path,
        query,
        content_type,
        body,
    });
    let (request, query_auth) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            // Every rejection renders as the XML the caller gets.
            assert!(!Rejection::from(error).answer().to_xml("fuzz").is_empty());
            return;
        }
    };
    for name in query_auth.params.keys() {
        assert!(QUERY_AUTH_PARAMS.contains(name), "{name}");
    }

    let forwarded = request.to_form_body();
    let (again, again_auth) = request::parse(&HttpParts {
        method: "POST",
        path: "/",
        query: None,
        content_type: SingleHeader::One(FORM),
        body: forwarded.as_bytes(),
    })
    .unwrap_or_else(|e| panic!("the forwarded body {forwarded:?} does not re-parse: {e}"));
    assert_eq!(again, request, "forwarded body {forwarded:?}");
    assert!(again_auth.is_empty(), "forwarded body {forwarded:?}");
    assert_eq!(again.to_form_body(), forwarded);

    let pairs = form::decode(forwarded.as_bytes()).expect("the forwarded body decodes");
    assert!(
        pairs.iter().all(|(name, _)| !QUERY_AUTH_PARAMS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))),
        "forwarded body {forwarded:?} carries a signature parameter"
    );
    if request.action.is_ingress_change() {
        assert_eq!(pairs.len(), 5, "forwarded body {forwarded:?}");
    }
});
