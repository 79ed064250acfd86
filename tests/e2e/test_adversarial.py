"""Attacks on the wire: parser-differential and request-smuggling attempts,
sent as exact bytes to the running proxy.

The policy allows one ingress (cache group `app-cache`, EC2 group `app-web`,
owner 111122223333) and denies EC2 groups `admin-*`. Every attack tries to
get a forbidden value past the decision: a duplicate, a case variant, an
encoding trick, a second request hidden in the body or behind it, or a
message whose framing two parsers could read two ways. For each one the
outcome is exactly one of:

* rejected: an AWS Query XML error from the proxy (status, code, text/xml,
  the same request id in header and body), one audit line for it, and
  nothing upstream; or hyper's own bare answer (status only, no body, no
  audit line, connection closed) where the message is not HTTP the proxy's
  code ever sees; or
* forwarded: exactly one upstream request (verified with botocore's signer),
  whose form body is the canonical encoding of exactly the decided
  parameters, and an audit line that agrees with it.

And the connection either closes (hyper's answers, and the proxy's own after
a message whose framing is in doubt, with `Connection: close`), or stays in
sync: the next request on it is read and answered as one.

Over all of it, a module-wide check: no request the upstream ever received
carries a value the policy forbids (see `assert_policy_intent`).

Cases that test_proxy.py already covers for plain malformed requests (a
duplicate with the same value, JSON and multipart bodies, a bad escape, PUT,
a body over the limit) are not repeated here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl, quote, quote_plus

import pytest

from conftest import ProxyProcess
from fake_upstream import FakeElastiCache, RecordedRequest
from rawhttp import Connection, Response, chunked, request_bytes
from support import (
    API_VERSION,
    CALLER_ACCESS_KEY,
    PROXY_ACCESS_KEY,
    RAW_AMZ_DATE,
    assert_api_error,
    botocore_signed,
    form_encode,
    parse_error_xml,
    raw_authorization,
)

POLICY = """\
rules:
  - id: app-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-east-1]
    owner_ids: ["111122223333"]
    cache_security_groups: ["app-cache"]
    ec2_security_groups: ["app-web", "app web"]
  - id: describe
    effect: allow
    actions: ["Describe*"]
    regions: [us-east-1]
  - id: no-admin
    effect: deny
    ec2_security_groups: ["admin-.*"]
"""

INGRESS = "AuthorizeCacheSecurityGroupIngress"
OWNER = "111122223333"
FORBIDDEN_EC2_GROUP = re.compile(r"admin-.*", re.DOTALL)
ALLOWED_EC2_GROUPS = {"app-web", "app web"}
# The SigV4 query-string parameters: never forwarded in any spelling.
AUTH_PARAMS = {
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
}

SIGNER_KEY, SIGNER_SECRET = "AKIDADVERSARY0000001", "adversary/Secret+0123456789abcdefghijkl"
CALLERS = f"""\
callers:
  - name: tester
    access_key_id: {SIGNER_KEY}
    secret_access_key: "{SIGNER_SECRET}"
"""

FORM = "application/x-www-form-urlencoded; charset=utf-8"
TIMEOUT = 5.0
BODY_READ_TIMEOUT = "1s"


def ingress(ec2: str = "app-web", **overrides: str) -> dict[str, str]:
    params = {
        "Action": INGRESS,
        "Version": API_VERSION,
        "CacheSecurityGroupName": "app-cache",
        "EC2SecurityGroupName": ec2,
        "EC2SecurityGroupOwnerId": OWNER,
    }
    params.update(overrides)
    return params


ALLOWED = form_encode(ingress())
FORBIDDEN = form_encode(ingress("admin-db"))
DESCRIBE = form_encode({"Action": "DescribeCacheClusters", "Version": API_VERSION})


def canonical(pairs) -> str:
    """The body the proxy forwards: Action, Version, then the rest sorted
    by name, each percent-encoded but for RFC 3986 unreserved characters,
    and a space as `+` (as botocore writes a form)."""
    pairs = list(pairs.items() if isinstance(pairs, dict) else pairs)
    head = [p for name in ("Action", "Version") for p in pairs if p[0] == name]
    rest = sorted(p for p in pairs if p[0] not in ("Action", "Version"))
    return "&".join(f"{quote_plus(k, safe='-_.~')}={quote_plus(v, safe='-_.~')}" for k, v in head + rest)


# ---- the policy's intent, checked on everything the upstream received --------------
def assert_policy_intent(rec) -> None:
    """Fails when a request the upstream received is one the policy forbids,
    or is not exactly a canonical, proxy-signed request."""
    where = f"upstream received {rec.method} {rec.path} {rec.body!r}"
    assert rec.signature_ok, f"{where}: " + "; ".join(rec.signature_problems)
    assert rec.access_key == PROXY_ACCESS_KEY and rec.region == "us-east-1", where
    assert (rec.method, rec.path) == ("POST", "/"), where
    assert not rec.form_problems, f"{where}: {rec.form_problems}"
    folded = [name.lower() for name, _ in rec.param_pairs]
    assert len(folded) == len(set(folded)), f"{where}: a parameter twice, or in two spellings"
    assert rec.body == canonical(rec.param_pairs).encode(), f"{where}: not canonically encoded"
    assert not AUTH_PARAMS & set(folded), f"{where}: a signature parameter was forwarded"
    assert rec.header("X-Amz-Security-Token") is None, where
    for name, value in rec.headers:
        assert CALLER_ACCESS_KEY not in value and SIGNER_KEY not in value, f"{where}: caller identity in {name}"
    params = rec.params
    action = params.get("Action", "")
    if action == INGRESS:
        assert params.get("EC2SecurityGroupName") in ALLOWED_EC2_GROUPS, where
        assert params == ingress(params["EC2SecurityGroupName"]), where
    else:
        assert action.startswith("Describe"), f"{where}: action {action!r} is not allowed"
    ec2 = params.get("EC2SecurityGroupName")
    assert ec2 is None or not FORBIDDEN_EC2_GROUP.fullmatch(ec2), f"{where}: forbidden EC2 group"


def _record(body: str, **changes) -> RecordedRequest:
    pairs = parse_qsl(body, keep_blank_values=True)
    fields = {
        "method": "POST",
        "path": "/",
        "headers": [("Host", "127.0.0.1"), ("Content-Type", FORM)],
        "body": body.encode(),
        "params": dict(pairs),
        "param_pairs": pairs,
        "signature_ok": True,
        "signature_problems": [],
        "region": "us-east-1",
        "access_key": PROXY_ACCESS_KEY,
        "signed_headers": ["host"],
    }
    fields.update(changes)
    return RecordedRequest(**fields)


def test_the_intent_check_catches_what_the_policy_forbids():
    assert_policy_intent(_record(ALLOWED))
    assert_policy_intent(_record(canonical(ingress("app web"))))
    assert_policy_intent(_record(DESCRIBE))
    describe = {"Action": "DescribeCacheSecurityGroups", "Version": API_VERSION}
    for body in [
        FORBIDDEN,
        canonical(ingress(CacheSecurityGroupName="other-cache")),
        canonical(ingress(EC2SecurityGroupOwnerId="999988887777")),
        canonical({**ingress(), "Extra": "1"}),
        canonical({**describe, "EC2SecurityGroupName": "admin-x"}),
        canonical({**describe, "X-Amz-Security-Token": "smuggled"}),
        canonical({"Action": "DeleteCacheCluster", "Version": API_VERSION, "CacheClusterId": "c"}),
        ALLOWED + ADMIN,  # a duplicate
        ALLOWED + "&ec2securitygroupname=app-web",  # a case variant
        replace(ALLOWED, "app-web", "app%2Dweb"),  # not canonical
        f"Version={API_VERSION}&Action=DescribeCacheClusters",  # not in canonical order
    ]:
        with pytest.raises(AssertionError):
            assert_policy_intent(_record(body))
    for changes in [
        {"signature_ok": False},
        {"access_key": CALLER_ACCESS_KEY},
        {"region": "eu-west-1"},
        {"path": "/?Action=DescribeCacheClusters"},
        {"headers": [("X-Amz-Security-Token", "smuggled")]},
        {"headers": [("User-Agent", f"signed by {SIGNER_KEY}")]},
    ]:
        with pytest.raises(AssertionError):
            assert_policy_intent(_record(ALLOWED, **changes))


@pytest.fixture(autouse=True)
def upstream_received_nothing_forbidden(upstream):
    yield
    for rec in upstream.requests:
        assert_policy_intent(rec)


# ---- proxies -------------------------------------------------------------------
@pytest.fixture
def trusted(start_proxy):
    """`callers: none`: raw bytes need no real signature, only its shape."""
    return start_proxy(policy=POLICY, audit_log="audit.log", limits={"body_read_timeout": BODY_READ_TIMEOUT})


@pytest.fixture
def signed(start_proxy):
    """Every request must carry a valid SigV4 signature of the caller `tester`."""
    return start_proxy(policy=POLICY, callers=CALLERS, audit_log="audit.log")


# ---- building requests ----------------------------------------------------------
def head(port, body=None, *, host=True, content_type=FORM, length=True, auth=True, extra=()) -> list:
    """Headers in this order: Host, a dummy SigV4 Authorization and
    X-Amz-Date (enough for a trusted caller), Content-Type, Content-Length
    of `body`, then `extra` exactly as given."""
    headers: list = []
    if host:
        headers.append(("Host", f"127.0.0.1:{port}"))
    if auth:
        headers += [("Authorization", raw_authorization()), ("X-Amz-Date", RAW_AMZ_DATE)]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if body is not None and length:
        headers.append(("Content-Length", str(len(body))))
    return headers + list(extra)


def post(port, body: str | bytes, target: str | bytes = "/", version: str = "HTTP/1.1", **options) -> bytes:
    body = body.encode() if isinstance(body, str) else body
    return request_bytes("POST", target, head(port, body, **options), body, version)


def get(port, query: str | bytes, version: str = "HTTP/1.1", **options) -> bytes:
    query = query.encode() if isinstance(query, str) else query
    return request_bytes("GET", b"/?" + query, head(port, content_type=None, **options), b"", version)


def post_chunked(port, body_chunks: bytes, *, te: str | list[str] = "chunked", **options) -> bytes:
    """A POST whose body is already chunk-encoded, with these
    Transfer-Encoding header values (one header each)."""
    tes = [te] if isinstance(te, str) else te
    extra = [("Transfer-Encoding", value) for value in tes] + list(options.pop("extra", ()))
    return request_bytes("POST", "/", head(port, extra=extra, **options), body_chunks)


def sign(port, method: str, target: str, body: bytes, content_type: str | None = FORM) -> list:
    """Headers of a request signed by `tester` with botocore's signer over
    exactly these bytes: Host, X-Amz-Date, Authorization, Content-Type and,
    for a POST, Content-Length."""
    signed = botocore_signed(port, method, target, body, content_type, (SIGNER_KEY, SIGNER_SECRET))
    headers = [
        ("Host", f"127.0.0.1:{port}"),
        ("X-Amz-Date", signed["X-Amz-Date"]),
        ("Authorization", signed["Authorization"]),
    ]
    if content_type:
        headers.append(("Content-Type", content_type))
    if method == "POST":
        headers.append(("Content-Length", str(len(body))))
    return headers


def signed_post(port, body: str, sent: str | None = None, extra=()) -> bytes:
    """A POST signed over `body`, but sending `sent` (default: the same)."""
    headers = sign(port, "POST", "/", body.encode()) + list(extra)
    payload = (sent if sent is not None else body).encode()
    headers = [(k, str(len(payload)) if k == "Content-Length" else v) for k, v in headers]
    return request_bytes("POST", "/", headers, payload)


# ---- expected outcomes ------------------------------------------------------------
@dataclass
class Forwarded:
    """Answered 200 with the upstream's answer, after forwarding exactly `params`."""

    params: dict


@dataclass
class Rejected:
    """An AWS Query XML error from the proxy's own code."""

    status: int
    code: str


@dataclass
class Bare:
    """Hyper's own answer to a message it cannot parse: this status, an
    empty body, and the connection closed. The proxy's code never runs, so
    there is no audit line and nothing can be forwarded."""

    status: int


@dataclass
class Wire:
    """A running proxy, its upstream, and how to make a request that it
    answers with 200 (to check a connection is still in sync)."""

    proxy: ProxyProcess
    upstream: FakeElastiCache
    benign: Callable[[int], bytes]

    @property
    def port(self) -> int:
        return self.proxy.port

    def audit_records(self) -> list[dict]:
        return self.proxy.audit_records()


def exchange(wire: Wire, data: bytes | list[bytes], expected: list, closes: bool = False) -> list[Response]:
    """Sends `data` on one connection (a list: one write each), reads as
    many responses as expected and checks them (see `check`). With
    closes=True the proxy must close the connection afterwards (a Bare
    answer implies it); otherwise it must answer another request on it,
    read as the next request: the framing stayed in sync."""
    since = Mark.of(wire)
    with Connection(wire.port, TIMEOUT) as conn:
        if isinstance(data, list):
            conn.send_parts(data)
        else:
            conn.send(data)
        responses = conn.read_responses(len(expected))
        if closes or any(isinstance(e, Bare) for e in expected):
            assert conn.closed_by_peer(), "the proxy kept the connection open"
            if responses and isinstance(expected[-1], Rejected):
                assert responses[-1].header("Connection") == "close", responses[-1]
        else:
            conn.send(wire.benign(wire.port))
            responses += conn.read_responses(1)
            expected = expected + [DESCRIBED]
    check(wire, since, responses, expected)
    return responses


@dataclass
class Mark:
    """How many upstream requests and audit lines there were."""

    upstream: int
    audit: int

    @classmethod
    def of(cls, wire: Wire) -> "Mark":
        return cls(len(wire.upstream.requests), len(wire.audit_records()))


def check(wire: Wire, since: Mark, responses: list[Response], expected: list) -> None:
    """Checks each response against its expectation, in order, together
    with what the upstream received and the audit lines written since."""
    assert len(responses) == len(expected), f"expected {len(expected)} responses, got {responses}"
    records = wire.upstream.requests[since.upstream :]
    lines = wire.audit_records()[since.audit :]
    for response, expectation in zip(responses, expected):
        if isinstance(expectation, Forwarded):
            assert response.status == 200, response
            assert response.body.startswith(f"<{expectation.params['Action']}Response ".encode()), response
            assert records, f"answered 200 but nothing was forwarded: {response}"
            rec, records = records[0], records[1:]
            assert rec.body == canonical(expectation.params).encode(), rec.body
            assert rec.params == expectation.params and len(rec.param_pairs) == len(expectation.params)
            assert lines, "no audit line for a forwarded request"
            line, lines = lines[0], lines[1:]
            assert_audit_agrees(line, rec)
        elif isinstance(expectation, Rejected):
            err = assert_api_error(response, expectation.status, expectation.code)
            assert lines, "no audit line for a rejection"
            line, lines = lines[0], lines[1:]
            decision = "deny" if expectation.code == "InvalidParameterCombination" else "error"
            assert (line["request_id"], line["decision"], line["error_code"], line["upstream_status"]) == (
                err.request_id,
                decision,
                expectation.code,
                None,
            ), line
        else:
            assert (response.status, response.body) == (expectation.status, b""), response
            assert response.header("x-amzn-RequestId") is None, response
    assert records == [], f"forwarded more than was answered: {[r.body for r in records]}"
    assert lines == [], f"audit lines without a response: {lines}"


def assert_audit_agrees(line: dict, rec) -> None:
    """The audit line of a forwarded request names what was forwarded."""
    params = rec.params
    owner = params.get("EC2SecurityGroupOwnerId")
    assert line["decision"] == "allow", line
    assert line["action"] == params["Action"], line
    assert line["cache_security_group"] == params.get("CacheSecurityGroupName"), line
    assert line["ec2_security_group"] == params.get("EC2SecurityGroupName"), line
    assert line["owner_id"] == owner, line
    assert line["rules"] == (["app-ingress"] if params["Action"] == INGRESS else ["describe"]), line
    assert (line["error_code"], line["upstream_status"], line["region"]) == (None, 200, "us-east-1"), line


@pytest.fixture
def wire(trusted, upstream):
    return Wire(trusted, upstream, lambda port: post(port, DESCRIBE))


@pytest.fixture
def signed_wire(signed, upstream):
    return Wire(signed, upstream, lambda port: signed_post(port, DESCRIBE))


ALLOWED_PARAMS = ingress()
# A forbidden parameter to append to an allowed request.
ADMIN = "&EC2SecurityGroupName=admin-db"

# The outcomes the table names most often.
FORWARDED = Forwarded(ALLOWED_PARAMS)
FORWARDED_SPACED = Forwarded(ingress("app web"))  # the EC2 group read as `app web`
DENIED = Rejected(400, "InvalidParameterCombination")
INVALID = Rejected(400, "InvalidQueryParameter")
MALFORMED = Rejected(400, "MalformedQueryString")
UNSIGNED = Rejected(400, "IncompleteSignature")
UNSUPPORTED = Rejected(415, "UnsupportedMediaType")
NO_METHOD = Rejected(405, "MethodNotAllowed")
MISMATCHED = Rejected(403, "SignatureDoesNotMatch")
DESCRIBED = Forwarded({"Action": "DescribeCacheClusters", "Version": API_VERSION})


def replace(body: str, old: str, new: str) -> str:
    assert old in body, (old, body)
    return body.replace(old, new)


def with_ec2(value: str) -> str:
    """The allowed body with `value`, as written, for the EC2 group."""
    return replace(ALLOWED, "app-web", value)


def forbidden_named(name: str) -> str:
    """The forbidden body with its EC2 group parameter named `name`."""
    return replace(FORBIDDEN, "EC2SecurityGroupName=", name + "=")


def one_chunk(size_line: bytes, data: str) -> bytes:
    """A chunked body of one chunk with this size line, whatever its data."""
    return size_line + b"\r\n" + data.encode() + b"\r\n0\r\n\r\n"


CHUNKED = chunked(ALLOWED.encode())


# ---- the table: one request (or bytes), one outcome -------------------------------
# Each entry: (id, build(port) -> bytes, expected outcome, closes). A Bare
# outcome closes the connection whatever `closes` says (see `exchange`).
def sent(case_id: str, body: str | bytes, expected, closes: bool = False):
    """POSTs `body` with the default head."""
    return case_id, lambda p: post(p, body), expected, closes


def posted(case_id: str, expected, closes: bool = False, **options):
    """POSTs the allowed body with these `head` (or `post`) options."""
    return case_id, lambda p: post(p, ALLOWED, **options), expected, closes


def queried(case_id: str, query: str | bytes, expected, closes: bool = False):
    """GETs `query`, no body."""
    return case_id, lambda p: get(p, query), expected, closes


def split(case_id: str, query: str, body: str, expected):
    """POSTs `body` with `query` in the request target: one request in two halves."""
    return case_id, lambda p: post(p, body, target="/?" + query), expected, False


def chunks(case_id: str, body_chunks: bytes, expected, closes: bool = False, **options):
    """POSTs an already chunk-encoded body (see `post_chunked`)."""
    return case_id, lambda p: post_chunked(p, body_chunks, **options), expected, closes


CASES = [
    # Parameters: the decided value is allowed, a second spelling is forbidden.
    sent("duplicate-forbidden-last", ALLOWED + ADMIN, INVALID),
    sent("duplicate-forbidden-first", ADMIN[1:] + "&" + ALLOWED, INVALID),
    sent("case-variant-lower-added", ALLOWED + "&ec2securitygroupname=admin-db", INVALID),
    # Alone, a case variant must not pass as an unknown, unchecked parameter.
    sent("case-variant-upper-alone", forbidden_named("EC2SECURITYGROUPNAME"), INVALID),
    split("query-and-body-same-name", ADMIN[1:], ALLOWED, INVALID),
    split("action-in-query-and-body", "Action=DescribeCacheClusters", FORBIDDEN, INVALID),
    # Query and body together are one request: the decision sees both halves.
    split(
        "split-across-query-and-body-forbidden",
        "EC2SecurityGroupName=admin-db",
        replace(ALLOWED, "&EC2SecurityGroupName=app-web", ""),
        DENIED,
    ),
    split(
        "split-across-query-and-body-allowed",
        f"Action={INGRESS}",
        replace(ALLOWED, f"Action={INGRESS}&", ""),
        FORWARDED,
    ),
    sent("percent-encoded-name", ALLOWED + "&EC2SecurityGroup%4Eame=admin-db", MALFORMED),
    sent("percent-encoded-name-alone", forbidden_named("EC2SecurityGroup%4Eame"), MALFORMED),
    sent("plus-in-name", ALLOWED + "&EC2Security+GroupName=admin-db", MALFORMED),
    # `%26` and `%3D` are data, not separators: one value, not allowed.
    sent("encoded-separators-in-ingress", with_ec2("app-web%26EC2SecurityGroupName%3Dadmin-db"), DENIED),
    # Describe allows any group name: forwarded as one value, re-encoded,
    # in the lower case ElastiCache stores cache security group names in.
    sent(
        "encoded-separators-forwarded-as-data",
        "Action=DescribeCacheSecurityGroups&Version=2015-02-02"
        "&CacheSecurityGroupName=app-cache%26EC2SecurityGroupName%3Dadmin-db",
        Forwarded(
            {
                "Action": "DescribeCacheSecurityGroups",
                "Version": API_VERSION,
                "CacheSecurityGroupName": "app-cache&ec2securitygroupname=admin-db",
            }
        ),
    ),
    sent("plus-is-space", with_ec2("app+web"), FORWARDED_SPACED),
    sent("percent-20-is-space", with_ec2("app%20web"), FORWARDED_SPACED),
    queried("plus-is-space-in-query", with_ec2("app+web"), FORWARDED_SPACED),
    # `%2B` is a plus sign, not a space: `app+web` is no allowed group.
    sent("encoded-plus-is-plus", with_ec2("app%2Bweb"), DENIED),
    # Decoded exactly once: `%2561` is the three characters `%61`.
    sent("double-encoding", with_ec2("%2561pp-web"), DENIED),
    sent("double-encoded-forbidden", replace(FORBIDDEN, "admin-db", "%2561dmin-db"), DENIED),
    sent("iis-unicode-escape", with_ec2("%u0061pp-web"), MALFORMED),
    sent("encoded-nul", with_ec2("app-web%00admin-db"), MALFORMED),
    sent("raw-nul", with_ec2("app-web\0admin-db"), MALFORMED),
    sent("encoded-escape-char", with_ec2("app-web%1B"), MALFORMED),
    # CR LF are allowed characters in a value; they stay data.
    sent("encoded-crlf-in-value", with_ec2("app-web%0D%0AEC2SecurityGroupName%3Dadmin-db"), DENIED),
    sent("non-utf8-byte-in-name", ALLOWED.encode() + b"&EC2SecurityGroupName\xff=admin-db", MALFORMED),
    sent("overlong-utf8", with_ec2("app%C0%ADweb"), MALFORMED),
    sent("utf8-surrogate", with_ec2("app%ED%A0%80web"), MALFORMED),
    # Content-Type and Content-Encoding.
    posted("content-type-missing", UNSUPPORTED, content_type=None),
    posted("content-type-empty", UNSUPPORTED, content_type=""),
    posted("content-type-latin1", UNSUPPORTED, content_type="application/x-www-form-urlencoded; charset=latin1"),
    posted("content-type-uppercase", FORWARDED, content_type="APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8"),
    posted("content-type-twice-same", UNSUPPORTED, extra=[("Content-Type", FORM)]),
    posted("content-type-twice-different", UNSUPPORTED, extra=[("Content-Type", "text/plain")]),
    posted("content-type-list", UNSUPPORTED, content_type="application/x-www-form-urlencoded, text/plain"),
    posted("content-type-two-charsets", UNSUPPORTED, content_type=FORM + "; charset=latin1"),
    posted("content-type-non-ascii", UNSUPPORTED, content_type=b"application/x-www-form-urlencoded\xff"),
    sent(
        "json-labelled-as-form",
        '{"Action":"AuthorizeCacheSecurityGroupIngress","EC2SecurityGroupName":"admin-db"}',
        MALFORMED,
    ),
    # The proxy does not decode content codings, so it cannot read such a body.
    posted("content-encoding-gzip", UNSUPPORTED, True, extra=[("Content-Encoding", "gzip")]),
    # Chunked bodies.
    chunks("chunked-split-mid-parameter", chunked(ALLOWED[:17].encode(), ALLOWED[17:].encode()), FORWARDED),
    chunks(
        "chunked-trailer-adds-headers",
        chunked(ALLOWED.encode(), trailers=b"Content-Type: text/plain\r\nX-Amz-Security-Token: smuggled\r\n"),
        INVALID,
        True,
    ),
    chunks(
        "chunked-trailer-announced",
        chunked(FORBIDDEN.encode(), trailers=b"X-Extra: 1\r\n"),
        INVALID,
        True,
        extra=[("Trailer", "X-Extra")],
    ),
    # Chunk extensions carry no meaning; hyper skips them.
    chunks(
        "chunk-extensions", chunked(ALLOWED.encode(), extensions=b';ext="EC2SecurityGroupName=admin-db"'), FORWARDED
    ),
    # Malformed chunk framing is a broken body: an XML error, then close.
    chunks("chunk-size-not-hex", one_chunk(b"zz", ALLOWED), MALFORMED, True),
    chunks("chunk-size-negative", one_chunk(b"-1", ALLOWED), MALFORMED, True),
    chunks("chunk-size-overflow", one_chunk(b"1" + b"0" * 17, ALLOWED), MALFORMED, True),
    # The chunk is longer than its size says: the excess is not a chunk size.
    chunks("chunk-longer-than-size", one_chunk(b"%x" % len(ALLOWED), ALLOWED + ADMIN), MALFORMED, True),
    # Transfer-Encoding and Content-Length.
    (
        # CL.TE: a Content-Length reader would take the whole thing as one
        # body. Hyper follows Transfer-Encoding (RFC 9112 section 6.3), drops
        # the Content-Length and closes after answering: the forbidden request
        # behind the chunked body is never read.
        "cl-te-hidden-request",
        lambda p: post_chunked(
            p, CHUNKED + post(p, FORBIDDEN), extra=[("Content-Length", str(len(CHUNKED + post(p, FORBIDDEN))))]
        ),
        FORWARDED,
        True,
    ),
    (
        # TE.CL: a Content-Length reader would stop after 4 bytes and read the
        # chunk's data as a second request. Read as chunked, that data is the
        # body, and it is no form.
        "te-cl-hidden-request",
        lambda p: request_bytes(
            "POST",
            "/",
            head(p, extra=[("Content-Length", "4"), ("Transfer-Encoding", "chunked")]),
            chunked(post(p, FORBIDDEN)),
        ),
        MALFORMED,
        True,
    ),
    chunks("te-gzip-chunked", CHUNKED, INVALID, True, te="gzip, chunked"),
    chunks("te-chunked-twice", CHUNKED, INVALID, True, te="chunked, chunked"),
    chunks("te-two-headers", CHUNKED, INVALID, True, te=["gzip", "chunked"]),
    # Transfer-coding names are case-insensitive and whitespace around a
    # header value is not part of it (RFC 9110 5.5, 10.1.4): still chunked.
    chunks("te-capitalised", CHUNKED, FORWARDED, te="Chunked"),
    chunks("te-padded", CHUNKED, FORWARDED, te="  chunked  "),
    # Hyper refuses codings it does not know, before any proxy code runs.
    chunks("te-identity", ALLOWED.encode(), Bare(400), te="identity"),
    chunks("te-x-chunked", CHUNKED, Bare(400), te="x-chunked"),
    chunks("te-trailing-comma", CHUNKED, Bare(400), te="chunked,"),
    (
        "te-in-http-1.0",
        lambda p: request_bytes("POST", "/", head(p, extra=[("Transfer-Encoding", "chunked")]), CHUNKED, "HTTP/1.0"),
        Bare(400),
        True,
    ),
    posted(
        "content-length-list",
        Bare(400),
        length=False,
        extra=[("Content-Length", f"{len(ALLOWED)}, {len(ALLOWED) + 1}")],
    ),
    posted("content-length-two-different", Bare(400), extra=[("Content-Length", str(len(ALLOWED) - len("app-web")))]),
    # Identical repeats are one length (RFC 9110 section 8.6).
    posted("content-length-two-same", FORWARDED, extra=[("Content-Length", str(len(ALLOWED)))]),
    posted("content-length-plus-sign", Bare(400), length=False, extra=[("Content-Length", f"+{len(ALLOWED)}")]),
    # The request target.
    posted("path-double-slash", INVALID, target="//"),
    posted("path-dot-segments", INVALID, target="/%2e%2e/"),
    posted("path-dot", INVALID, target="/./"),
    posted("path-other", INVALID, target="/x"),
    posted("empty-query", FORWARDED, target="/?"),
    posted("absolute-form", INVALID, True, target="http://evil.example/"),
    ("absolute-form-own-host", lambda p: post(p, ALLOWED, target=f"http://127.0.0.1:{p}/"), INVALID, True),
    # The http crate drops a fragment before anything sees the target; the
    # part after `#` is neither decided on nor forwarded.
    queried("fragment-dropped", ALLOWED + "#" + ADMIN, FORWARDED),
    posted("path-non-utf8", Bare(400), target=b"/\xff"),
    queried("query-non-utf8", ALLOWED.encode() + b"\xff", Bare(400)),
    queried("query-raw-space", with_ec2("app web"), Bare(400)),
    # Methods.
    ("options-asterisk", lambda p: request_bytes("OPTIONS", "*", head(p, content_type=None)), INVALID, False),
    ("options-slash", lambda p: request_bytes("OPTIONS", "/?" + ALLOWED, head(p, content_type=None)), NO_METHOD, False),
    (
        "connect-authority-form",
        lambda p: request_bytes("CONNECT", "evil.example:443", head(p, content_type=None)),
        INVALID,
        True,
    ),
    ("connect-slash", lambda p: request_bytes("CONNECT", "/", head(p, ALLOWED.encode()), ALLOWED), NO_METHOD, False),
    ("lowercase-post", lambda p: request_bytes("post", "/", head(p, ALLOWED.encode()), ALLOWED), NO_METHOD, False),
    # Versions.
    posted("http-1.0", FORWARDED, True, version="HTTP/1.0"),
    posted("http-1.0-without-host", FORWARDED, True, version="HTTP/1.0", host=False),
    posted("http-1.2", Bare(400), version="HTTP/1.2"),
    ("http-0.9", lambda p: b"GET /?" + ALLOWED.encode() + b"\r\n\r\n", Bare(400), True),
    # The head.
    posted("host-missing", INVALID, True, host=False),
    posted("host-twice", INVALID, True, extra=[("Host", "evil.example")]),
    (
        "host-with-userinfo",
        lambda p: post(p, ALLOWED, host=False, extra=[("Host", f"evil@127.0.0.1:{p}")]),
        INVALID,
        True,
    ),
    posted("obs-fold", Bare(400), extra=[("X-Folded", "a\r\n b")]),
    posted("obs-fold-content-type", Bare(400), content_type="text/plain\r\n ;x=application/x-www-form-urlencoded"),
    posted("space-before-colon", Bare(400), extra=[("Content-Type ", "text/plain")]),
    posted("leading-space-header-line", Bare(400), extra=[(" X-A", "1")]),
    posted("non-ascii-header-name", Bare(400), extra=[(b"X-\xff", "1")]),
    posted("nul-in-header", Bare(400), extra=[("X-A", b"a\0b")]),
    posted("bare-cr-in-header", Bare(400), extra=[("X-A", b"a\rb")]),
    # httparse accepts bare LF line ends (RFC 9112 section 2.2 allows it);
    # there is one reading, and it is what the proxy decides on.
    ("bare-lf-line-ends", lambda p: post(p, ALLOWED).replace(b"\r\n", b"\n", 4), FORWARDED, False),
    # A header value that is not UTF-8 is kept out of everything forwarded.
    posted("non-utf8-user-agent", FORWARDED, extra=[("User-Agent", b"agent\xff\xfe")]),
    posted(
        "non-utf8-authorization",
        UNSIGNED,
        auth=False,
        extra=[("Authorization", raw_authorization().encode() + b"\xff")],
    ),
    posted("header-line-too-long", Bare(431), extra=[("X-Long", "a" * 70_000)]),
    posted("too-many-headers", Bare(431), extra=[(f"X-H{i}", "1") for i in range(120)]),
    # The head limit (64 KiB) applies before hyper's own URI limit (414).
    queried("request-line-too-long", ALLOWED + "&" + "a" * 70_000, Bare(431)),
    # An upgrade offer is ignored: the answer is an ordinary response.
    posted(
        "upgrade-h2c",
        FORWARDED,
        extra=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "")],
    ),
    # Signature material smuggled in trusted mode: never forwarded.
    sent("security-token-in-body", ALLOWED + "&X-Amz-Security-Token=smuggled", INVALID),
    split("security-token-in-query-with-header", "X-Amz-Security-Token=smuggled", ALLOWED, UNSIGNED),
    split("security-token-in-query-lowercase", "x-amz-security-token=smuggled", ALLOWED, INVALID),
    sent("authorization-in-ingress-body", ALLOWED + "&Authorization=AWS4-HMAC-SHA256", INVALID),
    # DescribeCacheClusters has no parameter `Authorization` in the model:
    # rejected, never forwarded (as a parameter or, worse, as a header).
    sent("authorization-in-describe-body", DESCRIBE + "&Authorization=AWS4-HMAC-SHA256", INVALID),
    (
        # A presigned (query) signature in trusted mode: the token and the
        # other X-Amz-* parameters are about the caller, not forwarded.
        "presigned-query-with-token",
        lambda p: request_bytes(
            "GET",
            "/?"
            + ALLOWED
            + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
            + quote(f"{CALLER_ACCESS_KEY}/{RAW_AMZ_DATE[:8]}/us-east-1/elasticache/aws4_request", safe="")
            + f"&X-Amz-Date={RAW_AMZ_DATE}&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
            + "&X-Amz-Security-Token=smuggled&X-Amz-Signature="
            + "0" * 64,
            head(p, content_type=None, auth=False),
        ),
        FORWARDED,
        False,
    ),
]


@pytest.mark.parametrize("build, expected, closes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attack(wire, build, expected, closes):
    exchange(wire, build(wire.port), [expected], closes=closes)


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# ---- bodies and lengths ----------------------------------------------------------
def test_content_length_shorter_than_the_body(wire):
    # The decision covers exactly Content-Length bytes; the forbidden rest
    # is the start of a next request, which is no HTTP: hyper's 400, close.
    data = post(wire.port, ALLOWED) + ADMIN.encode() + b"\r\n\r\n"
    exchange(wire, data, [FORWARDED, Bare(400)])


def test_content_length_longer_than_the_body_times_out(wire):
    # The proxy waits for the announced bytes, up to body_read_timeout.
    data = post(wire.port, ALLOWED, length=False, extra=[("Content-Length", str(len(ALLOWED) + 40))])
    exchange(wire, data, [Rejected(408, "RequestTimeout")], closes=True)


def test_content_length_longer_than_the_body_then_eof(wire):
    # The client half-closes instead: the body is incomplete, nothing decided.
    since = Mark.of(wire)
    with Connection(wire.port, TIMEOUT) as conn:
        conn.send(post(wire.port, ALLOWED, length=False, extra=[("Content-Length", str(len(ALLOWED) + 40))]))
        conn.shutdown_write()
        responses = conn.read_responses(1)
        assert conn.closed_by_peer()
    check(wire, since, responses, [MALFORMED])
    assert responses[0].header("Connection") == "close"


def test_split_writes_across_every_boundary(wire):
    # Head, separator and body arrive in separate reads, cut mid-token.
    data = post(wire.port, ALLOWED) + post(wire.port, FORBIDDEN)
    end_of_head = data.index(b"\r\n\r\n")
    cuts = [3, 30, end_of_head + 2, end_of_head + 9, len(data) - len(FORBIDDEN) - 5, len(data) - 7]
    parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    assert b"".join(parts) == data
    exchange(wire, parts, [FORWARDED, DENIED])


# ---- Expect: 100-continue ----------------------------------------------------------
def _expect_head(port, body: str, length: int | None = None, **options) -> bytes:
    extra = [("Expect", "100-continue"), ("Content-Length", str(len(body) if length is None else length))]
    return request_bytes("POST", "/", head(port, length=False, extra=extra, **options))


@pytest.mark.parametrize(
    "body, expected",
    [(ALLOWED, FORWARDED), (FORBIDDEN, DENIED)],
    ids=["allowed", "denied"],
)
def test_expect_100_continue(wire, body, expected):
    since = Mark.of(wire)
    with Connection(wire.port, TIMEOUT) as conn:
        conn.send(_expect_head(wire.port, body))
        interim = conn.read_response()
        assert interim is not None and interim.status == 100, interim
        conn.send(body.encode())
        responses = conn.read_responses(1)
    check(wire, since, responses, [expected])


@pytest.mark.parametrize(
    "options, status, code",
    [({"length": 10**6}, 413, "RequestEntityTooLarge"), ({"host": False}, 400, "InvalidQueryParameter")],
    ids=["oversized", "no-host"],
)
def test_expect_100_continue_refused_before_the_body(wire, options, status, code):
    # The proxy answers without `100 Continue`, so the client never sends
    # the body; hyper closes the connection since the body stays unread.
    since = Mark.of(wire)
    with Connection(wire.port, TIMEOUT) as conn:
        conn.send(_expect_head(wire.port, FORBIDDEN, **options))
        responses = conn.read_responses(1)
        assert responses and responses[0].header("Connection") == "close", responses
        conn.send(FORBIDDEN.encode())  # what a client that does not wait would send
        assert conn.closed_by_peer()
    check(wire, since, responses, [Rejected(status, code)])


# ---- pipelines and versions --------------------------------------------------------
@pytest.mark.parametrize(
    "bodies",
    [(ALLOWED, FORBIDDEN), (FORBIDDEN, ALLOWED), (ALLOWED, FORBIDDEN, ALLOWED), (ALLOWED + ADMIN, ALLOWED, DESCRIBE)],
    ids=["allowed-denied", "denied-allowed", "three-in-one-write", "malformed-first"],
)
def test_pipelined_requests_are_answered_in_order(wire, bodies):
    expected = {ALLOWED: FORWARDED, FORBIDDEN: DENIED, ALLOWED + ADMIN: INVALID, DESCRIBE: DESCRIBED}
    data = b"".join(post(wire.port, body) for body in bodies)
    exchange(wire, data, [expected[body] for body in bodies])


def test_pipeline_after_a_bare_rejection_is_not_read(wire):
    # After a message hyper cannot parse, nothing behind it is a request.
    data = post(wire.port, ALLOWED, extra=[("Bad Header", "1")]) + post(wire.port, ALLOWED)
    exchange(wire, data, [Bare(400)])


def test_http_1_0_keep_alive_pipeline(wire):
    keep = [("Connection", "keep-alive")]
    data = post(wire.port, ALLOWED, version="HTTP/1.0", extra=keep) + post(
        wire.port, FORBIDDEN, version="HTTP/1.0", extra=keep
    )
    responses = exchange(wire, data, [FORWARDED, DENIED])
    assert [r.header("Connection") for r in responses[:2]] == ["keep-alive", "keep-alive"]


def test_http2_preface_on_the_plain_port_is_closed(wire):
    # The listener speaks HTTP/1.1 only: the prior-knowledge preface gets a close.
    with Connection(wire.port, TIMEOUT) as conn:
        conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + post(wire.port, ALLOWED))
        assert conn.read_response() is None
    assert wire.audit_records() == []


# ---- SigV4 callers: the signature covers the bytes the decision was made on -------------
def test_signed_baseline_and_pipeline(signed_wire):
    p = signed_wire.port
    data = signed_post(p, ALLOWED) + signed_post(p, FORBIDDEN)
    exchange(signed_wire, data, [FORWARDED, DENIED])
    assert {line["caller"] for line in signed_wire.audit_records()} == {"tester"}


@pytest.mark.parametrize(
    "signed_body, sent_body, expected",
    [
        # The body is hashed as received: `+` signed and sent, one reading.
        (with_ec2("app+web"), None, FORWARDED_SPACED),
        # Same meaning, other bytes: the signature no longer matches.
        (with_ec2("app%20web"), with_ec2("app+web"), MISMATCHED),
        (ALLOWED, ALLOWED + ADMIN, INVALID),
        (ALLOWED, FORBIDDEN, MISMATCHED),
        (ALLOWED, with_ec2("app%2Dweb"), MISMATCHED),
    ],
    ids=["plus-signed-as-sent", "percent20-signed-plus-sent", "param-appended", "value-changed", "unreserved-encoded"],
)
def test_signed_body_encodings(signed_wire, signed_body, sent_body, expected):
    exchange(signed_wire, signed_post(signed_wire.port, signed_body, sent_body), [expected])


def _signed_get(port, query: str) -> bytes:
    return request_bytes("GET", "/?" + query, sign(port, "GET", "/?" + query, b"", content_type=None))


@pytest.mark.parametrize(
    "query, expected",
    [
        (with_ec2("app%20web"), FORWARDED_SPACED),
        # botocore signs the query as written (`+`); the proxy reads `+` as
        # a space, as its form decoder does, while the query's canonical form
        # has %20 for it: the two disagree, so the request is refused, not
        # read two ways.
        (with_ec2("app+web"), MISMATCHED),
        (ALLOWED + ADMIN, INVALID),
    ],
    ids=["percent20", "plus", "duplicate"],
)
def test_signed_query_encodings(signed_wire, query, expected):
    exchange(signed_wire, _signed_get(signed_wire.port, query), [expected])


def test_signed_body_moved_to_the_query_string(signed_wire):
    # The same parameters in another place are another signed request.
    p = signed_wire.port
    headers = sign(p, "POST", "/", ALLOWED.encode())
    headers = [(k, "0" if k == "Content-Length" else v) for k, v in headers]
    exchange(signed_wire, request_bytes("POST", "/?" + ALLOWED, headers), [MISMATCHED])


def test_signed_with_a_second_host_header(signed_wire):
    # A signature over `host:a,b` would verify; the message is refused first.
    p = signed_wire.port
    data = signed_post(p, ALLOWED, extra=[("Host", "evil.example")])
    exchange(signed_wire, data, [INVALID], closes=True)


def test_signed_chunked_with_trailers(signed_wire):
    p = signed_wire.port
    headers = [(k, v) for k, v in sign(p, "POST", "/", ALLOWED.encode()) if k != "Content-Length"]
    data = request_bytes(
        "POST",
        "/",
        headers + [("Transfer-Encoding", "chunked")],
        chunked(ALLOWED.encode(), trailers=b"X-Amz-Security-Token: smuggled\r\n"),
    )
    exchange(signed_wire, data, [INVALID], closes=True)
    # Without the trailer, the same signed chunked request goes through.
    exchange(signed_wire, data.replace(b"X-Amz-Security-Token: smuggled\r\n", b""), [FORWARDED])


# ---- no answer echoes a piece of a secret -------------------------------------------
# The two halves of an AuthToken whose `&` a client did not encode.
TOKEN_START, TOKEN_REST = "token-start-7c1e", "Token-Rest-9f3b"
CREATE = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&ReplicationGroupDescription=d"
AFTER_TOKEN = "it is not shown, since it follows `AuthToken` and may be part of its value"


@pytest.mark.parametrize(
    "build, code, closes, says",
    [
        pytest.param(
            lambda p: post(p, f"{CREATE}&AuthToken={TOKEN_START}&{TOKEN_REST}"),
            "MalformedQueryString",
            False,
            f"body: the 6th pair has no `=`: expected `Name=value`; {AFTER_TOKEN}",
            id="unencoded-ampersand-in-auth-token",
        ),
        pytest.param(
            lambda p: get(p, f"{CREATE}&AuthToken={TOKEN_START}&{TOKEN_REST}=x"),
            "InvalidQueryParameter",
            False,
            f"the 6th pair of the query string: CreateReplicationGroup does not take a parameter of its name; {AFTER_TOKEN}",
            id="unencoded-ampersand-and-equals-in-auth-token",
        ),
        pytest.param(
            lambda p: post(p, f'{{"Action": "CreateReplicationGroup", "AuthToken": "{TOKEN_START}&{TOKEN_REST}"}}'),
            "MalformedQueryString",
            False,
            "the body looks like JSON; ElastiCache's Query API takes an `application/x-www-form-urlencoded` form",
            id="json-body",
        ),
        pytest.param(
            lambda p: request_bytes(
                "GET",
                f"http://127.0.0.1:{p}/?{CREATE}&AuthToken={TOKEN_START}{TOKEN_REST}",
                head(p, content_type=None),
            ),
            "InvalidQueryParameter",
            True,
            "the request has an absolute-form request target (scheme `http`, host `127.0.0.1`), which is not served",
            id="absolute-form-target",
        ),
    ],
)
def test_no_answer_echoes_a_secret(wire, build, code, closes, says):
    (response,) = exchange(wire, build(wire.port), [Rejected(400, code)], closes)[:1]
    message = parse_error_xml(response.body).message
    assert says in message, message
    # Nor does anything the proxy writes about it.
    for text in (response.body.decode(), wire.proxy.audit_text(), wire.proxy.stderr()):
        for piece in (TOKEN_START, TOKEN_REST):
            assert piece not in text, text
