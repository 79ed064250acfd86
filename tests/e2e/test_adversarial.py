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
from urllib.parse import parse_qsl, quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ProxyProcess
from fake_upstream import FakeElastiCache, RecordedRequest
from rawhttp import Connection, Response, chunked, request_bytes
from support import (
    API_VERSION,
    CALLER_ACCESS_KEY,
    PROXY_ACCESS_KEY,
    RAW_AMZ_DATE,
    assert_api_error,
    form_encode,
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
    by name, each percent-encoded but for RFC 3986 unreserved characters."""
    pairs = list(pairs.items() if isinstance(pairs, dict) else pairs)
    head = [p for name in ("Action", "Version") for p in pairs if p[0] == name]
    rest = sorted(p for p in pairs if p[0] not in ("Action", "Version"))
    return form_encode(head + rest)


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
    request = AWSRequest(
        method=method,
        url=f"http://127.0.0.1:{port}{target}",
        data=body,
        headers={"Content-Type": content_type} if content_type else {},
    )
    SigV4Auth(Credentials(SIGNER_KEY, SIGNER_SECRET), "elasticache", "us-east-1").add_auth(request)
    headers = [
        ("Host", f"127.0.0.1:{port}"),
        ("X-Amz-Date", request.headers["X-Amz-Date"]),
        ("Authorization", request.headers["Authorization"]),
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
            expected = expected + [Forwarded({"Action": "DescribeCacheClusters", "Version": API_VERSION})]
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


def replace(body: str, old: str, new: str) -> str:
    assert old in body, (old, body)
    return body.replace(old, new)


def mixed(port, query: str, body: str) -> bytes:
    return post(port, body, target="/?" + query)


# ---- the table: one request (or bytes), one outcome -------------------------------
# Each entry: (id, build(port) -> bytes, expected outcome, closes).
CASES = [
    # Parameters: the decided value is allowed, a second spelling is forbidden.
    ("duplicate-forbidden-last", lambda p: post(p, ALLOWED + ADMIN), Rejected(400, "InvalidQueryParameter"), False),
    (
        "duplicate-forbidden-first",
        lambda p: post(p, ADMIN[1:] + "&" + ALLOWED),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        "case-variant-lower-added",
        lambda p: post(p, ALLOWED + "&ec2securitygroupname=admin-db"),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        # Alone, a case variant must not pass as an unknown, unchecked parameter.
        "case-variant-upper-alone",
        lambda p: post(p, replace(FORBIDDEN, "EC2SecurityGroupName=", "EC2SECURITYGROUPNAME=")),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        "query-and-body-same-name",
        lambda p: mixed(p, ADMIN[1:], ALLOWED),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        "action-in-query-and-body",
        lambda p: mixed(p, "Action=DescribeCacheClusters", FORBIDDEN),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        # Query and body together are one request: the decision sees both halves.
        "split-across-query-and-body-forbidden",
        lambda p: mixed(p, "EC2SecurityGroupName=admin-db", replace(ALLOWED, "&EC2SecurityGroupName=app-web", "")),
        Rejected(400, "InvalidParameterCombination"),
        False,
    ),
    (
        "split-across-query-and-body-allowed",
        lambda p: mixed(p, f"Action={INGRESS}", replace(ALLOWED, f"Action={INGRESS}&", "")),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        "percent-encoded-name",
        lambda p: post(p, ALLOWED + "&EC2SecurityGroup%4Eame=admin-db"),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "percent-encoded-name-alone",
        lambda p: post(p, replace(FORBIDDEN, "EC2SecurityGroupName=", "EC2SecurityGroup%4Eame=")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "plus-in-name",
        lambda p: post(p, ALLOWED + "&EC2Security+GroupName=admin-db"),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        # `%26` and `%3D` are data, not separators: one value, not allowed.
        "encoded-separators-in-ingress",
        lambda p: post(p, replace(ALLOWED, "app-web", "app-web%26EC2SecurityGroupName%3Dadmin-db")),
        Rejected(400, "InvalidParameterCombination"),
        False,
    ),
    (
        # Describe allows any group name: forwarded as one value, re-encoded,
        # in the lower case ElastiCache stores cache security group names in.
        "encoded-separators-forwarded-as-data",
        lambda p: post(
            p,
            "Action=DescribeCacheSecurityGroups&Version=2015-02-02"
            "&CacheSecurityGroupName=app-cache%26EC2SecurityGroupName%3Dadmin-db",
        ),
        Forwarded(
            {
                "Action": "DescribeCacheSecurityGroups",
                "Version": API_VERSION,
                "CacheSecurityGroupName": "app-cache&ec2securitygroupname=admin-db",
            }
        ),
        False,
    ),
    ("plus-is-space", lambda p: post(p, replace(ALLOWED, "app-web", "app+web")), Forwarded(ingress("app web")), False),
    (
        "percent-20-is-space",
        lambda p: post(p, replace(ALLOWED, "app-web", "app%20web")),
        Forwarded(ingress("app web")),
        False,
    ),
    (
        "plus-is-space-in-query",
        lambda p: get(p, replace(ALLOWED, "app-web", "app+web")),
        Forwarded(ingress("app web")),
        False,
    ),
    (
        # `%2B` is a plus sign, not a space: `app+web` is no allowed group.
        "encoded-plus-is-plus",
        lambda p: post(p, replace(ALLOWED, "app-web", "app%2Bweb")),
        Rejected(400, "InvalidParameterCombination"),
        False,
    ),
    (
        # Decoded exactly once: `%2561` is the three characters `%61`.
        "double-encoding",
        lambda p: post(p, replace(ALLOWED, "app-web", "%2561pp-web")),
        Rejected(400, "InvalidParameterCombination"),
        False,
    ),
    (
        "double-encoded-forbidden",
        lambda p: post(p, replace(FORBIDDEN, "admin-db", "%2561dmin-db")),
        Rejected(400, "InvalidParameterCombination"),
        False,
    ),
    (
        "iis-unicode-escape",
        lambda p: post(p, replace(ALLOWED, "app-web", "%u0061pp-web")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "encoded-nul",
        lambda p: post(p, replace(ALLOWED, "app-web", "app-web%00admin-db")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "raw-nul",
        lambda p: post(p, replace(ALLOWED, "app-web", "app-web\0admin-db")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "encoded-escape-char",
        lambda p: post(p, replace(ALLOWED, "app-web", "app-web%1B")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        # CR LF are allowed characters in a value; they stay data.
        "encoded-crlf-in-value",
        lambda p: post(p, replace(ALLOWED, "app-web", "app-web%0D%0AEC2SecurityGroupName%3Dadmin-db")),
        Rejected(400, "InvalidParameterCombination"),
        False,
    ),
    (
        "non-utf8-byte-in-name",
        lambda p: post(p, ALLOWED.encode() + b"&EC2SecurityGroupName\xff=admin-db"),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "overlong-utf8",
        lambda p: post(p, replace(ALLOWED, "app-web", "app%C0%ADweb")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        "utf8-surrogate",
        lambda p: post(p, replace(ALLOWED, "app-web", "app%ED%A0%80web")),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    # Content-Type and Content-Encoding.
    (
        "content-type-missing",
        lambda p: post(p, ALLOWED, content_type=None),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    ("content-type-empty", lambda p: post(p, ALLOWED, content_type=""), Rejected(415, "UnsupportedMediaType"), False),
    (
        "content-type-latin1",
        lambda p: post(p, ALLOWED, content_type="application/x-www-form-urlencoded; charset=latin1"),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    (
        "content-type-uppercase",
        lambda p: post(p, ALLOWED, content_type="APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8"),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        "content-type-twice-same",
        lambda p: post(p, ALLOWED, extra=[("Content-Type", FORM)]),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    (
        "content-type-twice-different",
        lambda p: post(p, ALLOWED, extra=[("Content-Type", "text/plain")]),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    (
        "content-type-list",
        lambda p: post(p, ALLOWED, content_type="application/x-www-form-urlencoded, text/plain"),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    (
        "content-type-two-charsets",
        lambda p: post(p, ALLOWED, content_type=FORM + "; charset=latin1"),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    (
        "content-type-non-ascii",
        lambda p: post(p, ALLOWED, content_type=b"application/x-www-form-urlencoded\xff"),
        Rejected(415, "UnsupportedMediaType"),
        False,
    ),
    (
        "json-labelled-as-form",
        lambda p: post(p, '{"Action":"AuthorizeCacheSecurityGroupIngress","EC2SecurityGroupName":"admin-db"}'),
        Rejected(400, "MalformedQueryString"),
        False,
    ),
    (
        # The proxy does not decode content codings, so it cannot read such a body.
        "content-encoding-gzip",
        lambda p: post(p, ALLOWED, extra=[("Content-Encoding", "gzip")]),
        Rejected(415, "UnsupportedMediaType"),
        True,
    ),
    # Chunked bodies.
    (
        "chunked-split-mid-parameter",
        lambda p: post_chunked(p, chunked(ALLOWED[:17].encode(), ALLOWED[17:].encode())),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        "chunked-trailer-adds-headers",
        lambda p: post_chunked(
            p, chunked(ALLOWED.encode(), trailers=b"Content-Type: text/plain\r\nX-Amz-Security-Token: smuggled\r\n")
        ),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        "chunked-trailer-announced",
        lambda p: post_chunked(
            p, chunked(FORBIDDEN.encode(), trailers=b"X-Extra: 1\r\n"), extra=[("Trailer", "X-Extra")]
        ),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        # Chunk extensions carry no meaning; hyper skips them.
        "chunk-extensions",
        lambda p: post_chunked(p, chunked(ALLOWED.encode(), extensions=b';ext="EC2SecurityGroupName=admin-db"')),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        # Malformed chunk framing is a broken body: an XML error, then close.
        "chunk-size-not-hex",
        lambda p: post_chunked(p, b"zz\r\n" + ALLOWED.encode() + b"\r\n0\r\n\r\n"),
        Rejected(400, "MalformedQueryString"),
        True,
    ),
    (
        "chunk-size-negative",
        lambda p: post_chunked(p, b"-1\r\n" + ALLOWED.encode() + b"\r\n0\r\n\r\n"),
        Rejected(400, "MalformedQueryString"),
        True,
    ),
    (
        "chunk-size-overflow",
        lambda p: post_chunked(p, b"1" + b"0" * 17 + b"\r\n" + ALLOWED.encode() + b"\r\n0\r\n\r\n"),
        Rejected(400, "MalformedQueryString"),
        True,
    ),
    (
        # The chunk is longer than its size says: the excess is not a chunk size.
        "chunk-longer-than-size",
        lambda p: post_chunked(p, b"%x\r\n" % len(ALLOWED) + (ALLOWED + ADMIN).encode() + b"\r\n0\r\n\r\n"),
        Rejected(400, "MalformedQueryString"),
        True,
    ),
    # Transfer-Encoding and Content-Length.
    (
        # CL.TE: a Content-Length reader would take the whole thing as one
        # body. Hyper follows Transfer-Encoding (RFC 9112 section 6.3), drops
        # the Content-Length and closes after answering: the forbidden request
        # behind the chunked body is never read.
        "cl-te-hidden-request",
        lambda p: post_chunked(
            p,
            chunked(ALLOWED.encode()) + post(p, FORBIDDEN),
            extra=[("Content-Length", str(len(chunked(ALLOWED.encode()) + post(p, FORBIDDEN))))],
        ),
        Forwarded(ALLOWED_PARAMS),
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
        Rejected(400, "MalformedQueryString"),
        True,
    ),
    (
        "te-gzip-chunked",
        lambda p: post_chunked(p, chunked(ALLOWED.encode()), te="gzip, chunked"),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        "te-chunked-twice",
        lambda p: post_chunked(p, chunked(ALLOWED.encode()), te="chunked, chunked"),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        "te-two-headers",
        lambda p: post_chunked(p, chunked(ALLOWED.encode()), te=["gzip", "chunked"]),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    # Transfer-coding names are case-insensitive and whitespace around a
    # header value is not part of it (RFC 9110 5.5, 10.1.4): still chunked.
    (
        "te-capitalised",
        lambda p: post_chunked(p, chunked(ALLOWED.encode()), te="Chunked"),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        "te-padded",
        lambda p: post_chunked(p, chunked(ALLOWED.encode()), te="  chunked  "),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    # Hyper refuses codings it does not know, before any proxy code runs.
    ("te-identity", lambda p: post_chunked(p, ALLOWED.encode(), te="identity"), Bare(400), True),
    ("te-x-chunked", lambda p: post_chunked(p, chunked(ALLOWED.encode()), te="x-chunked"), Bare(400), True),
    ("te-trailing-comma", lambda p: post_chunked(p, chunked(ALLOWED.encode()), te="chunked,"), Bare(400), True),
    (
        "te-in-http-1.0",
        lambda p: request_bytes(
            "POST", "/", head(p, extra=[("Transfer-Encoding", "chunked")]), chunked(ALLOWED.encode()), "HTTP/1.0"
        ),
        Bare(400),
        True,
    ),
    (
        "content-length-list",
        lambda p: post(p, ALLOWED, length=False, extra=[("Content-Length", f"{len(ALLOWED)}, {len(ALLOWED) + 1}")]),
        Bare(400),
        True,
    ),
    (
        "content-length-two-different",
        lambda p: post(p, ALLOWED, extra=[("Content-Length", str(len(ALLOWED) - len("app-web")))]),
        Bare(400),
        True,
    ),
    (
        # Identical repeats are one length (RFC 9110 section 8.6).
        "content-length-two-same",
        lambda p: post(p, ALLOWED, extra=[("Content-Length", str(len(ALLOWED)))]),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        "content-length-plus-sign",
        lambda p: post(p, ALLOWED, length=False, extra=[("Content-Length", f"+{len(ALLOWED)}")]),
        Bare(400),
        True,
    ),
    # The request target.
    ("path-double-slash", lambda p: post(p, ALLOWED, target="//"), Rejected(400, "InvalidQueryParameter"), False),
    ("path-dot-segments", lambda p: post(p, ALLOWED, target="/%2e%2e/"), Rejected(400, "InvalidQueryParameter"), False),
    ("path-dot", lambda p: post(p, ALLOWED, target="/./"), Rejected(400, "InvalidQueryParameter"), False),
    ("path-other", lambda p: post(p, ALLOWED, target="/x"), Rejected(400, "InvalidQueryParameter"), False),
    ("empty-query", lambda p: post(p, ALLOWED, target="/?"), Forwarded(ALLOWED_PARAMS), False),
    (
        "absolute-form",
        lambda p: post(p, ALLOWED, target="http://evil.example/"),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        "absolute-form-own-host",
        lambda p: post(p, ALLOWED, target=f"http://127.0.0.1:{p}/"),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        # The http crate drops a fragment before anything sees the target; the
        # part after `#` is neither decided on nor forwarded.
        "fragment-dropped",
        lambda p: get(p, ALLOWED + "#" + ADMIN),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    ("path-non-utf8", lambda p: post(p, ALLOWED, target=b"/\xff"), Bare(400), True),
    ("query-non-utf8", lambda p: get(p, ALLOWED.encode() + b"\xff"), Bare(400), True),
    ("query-raw-space", lambda p: get(p, replace(ALLOWED, "app-web", "app web")), Bare(400), True),
    # Methods.
    (
        "options-asterisk",
        lambda p: request_bytes("OPTIONS", "*", head(p, content_type=None)),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        "options-slash",
        lambda p: request_bytes("OPTIONS", "/?" + ALLOWED, head(p, content_type=None)),
        Rejected(405, "MethodNotAllowed"),
        False,
    ),
    (
        "connect-authority-form",
        lambda p: request_bytes("CONNECT", "evil.example:443", head(p, content_type=None)),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        "connect-slash",
        lambda p: request_bytes("CONNECT", "/", head(p, ALLOWED.encode()), ALLOWED),
        Rejected(405, "MethodNotAllowed"),
        False,
    ),
    (
        "lowercase-post",
        lambda p: request_bytes("post", "/", head(p, ALLOWED.encode()), ALLOWED),
        Rejected(405, "MethodNotAllowed"),
        False,
    ),
    # Versions.
    ("http-1.0", lambda p: post(p, ALLOWED, version="HTTP/1.0"), Forwarded(ALLOWED_PARAMS), True),
    (
        "http-1.0-without-host",
        lambda p: post(p, ALLOWED, version="HTTP/1.0", host=False),
        Forwarded(ALLOWED_PARAMS),
        True,
    ),
    ("http-1.2", lambda p: post(p, ALLOWED, version="HTTP/1.2"), Bare(400), True),
    ("http-0.9", lambda p: b"GET /?" + ALLOWED.encode() + b"\r\n\r\n", Bare(400), True),
    # The head.
    ("host-missing", lambda p: post(p, ALLOWED, host=False), Rejected(400, "InvalidQueryParameter"), True),
    (
        "host-twice",
        lambda p: post(p, ALLOWED, extra=[("Host", "evil.example")]),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    (
        "host-with-userinfo",
        lambda p: post(p, ALLOWED, host=False, extra=[("Host", f"evil@127.0.0.1:{p}")]),
        Rejected(400, "InvalidQueryParameter"),
        True,
    ),
    ("obs-fold", lambda p: post(p, ALLOWED, extra=[("X-Folded", "a\r\n b")]), Bare(400), True),
    (
        "obs-fold-content-type",
        lambda p: post(p, ALLOWED, content_type="text/plain\r\n ;x=application/x-www-form-urlencoded"),
        Bare(400),
        True,
    ),
    ("space-before-colon", lambda p: post(p, ALLOWED, extra=[("Content-Type ", "text/plain")]), Bare(400), True),
    ("leading-space-header-line", lambda p: post(p, ALLOWED, extra=[(" X-A", "1")]), Bare(400), True),
    ("non-ascii-header-name", lambda p: post(p, ALLOWED, extra=[(b"X-\xff", "1")]), Bare(400), True),
    ("nul-in-header", lambda p: post(p, ALLOWED, extra=[("X-A", b"a\0b")]), Bare(400), True),
    ("bare-cr-in-header", lambda p: post(p, ALLOWED, extra=[("X-A", b"a\rb")]), Bare(400), True),
    (
        # httparse accepts bare LF line ends (RFC 9112 section 2.2 allows it);
        # there is one reading, and it is what the proxy decides on.
        "bare-lf-line-ends",
        lambda p: post(p, ALLOWED).replace(b"\r\n", b"\n", 4),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        # A header value that is not UTF-8 is kept out of everything forwarded.
        "non-utf8-user-agent",
        lambda p: post(p, ALLOWED, extra=[("User-Agent", b"agent\xff\xfe")]),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    (
        "non-utf8-authorization",
        lambda p: post(p, ALLOWED, auth=False, extra=[("Authorization", raw_authorization().encode() + b"\xff")]),
        Rejected(400, "IncompleteSignature"),
        False,
    ),
    ("header-line-too-long", lambda p: post(p, ALLOWED, extra=[("X-Long", "a" * 70_000)]), Bare(431), True),
    ("too-many-headers", lambda p: post(p, ALLOWED, extra=[(f"X-H{i}", "1") for i in range(120)]), Bare(431), True),
    # The head limit (64 KiB) applies before hyper's own URI limit (414).
    ("request-line-too-long", lambda p: get(p, ALLOWED + "&" + "a" * 70_000), Bare(431), True),
    (
        # An upgrade offer is ignored: the answer is an ordinary response.
        "upgrade-h2c",
        lambda p: post(
            p, ALLOWED, extra=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "")]
        ),
        Forwarded(ALLOWED_PARAMS),
        False,
    ),
    # Signature material smuggled in trusted mode: never forwarded.
    (
        "security-token-in-body",
        lambda p: post(p, ALLOWED + "&X-Amz-Security-Token=smuggled"),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        "security-token-in-query-with-header",
        lambda p: mixed(p, "X-Amz-Security-Token=smuggled", ALLOWED),
        Rejected(400, "IncompleteSignature"),
        False,
    ),
    (
        "security-token-in-query-lowercase",
        lambda p: mixed(p, "x-amz-security-token=smuggled", ALLOWED),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        "authorization-in-ingress-body",
        lambda p: post(p, ALLOWED + "&Authorization=AWS4-HMAC-SHA256"),
        Rejected(400, "InvalidQueryParameter"),
        False,
    ),
    (
        # Describe takes any parameter: `Authorization` goes as a form
        # parameter, never as a header (the upstream's is the proxy's own).
        "authorization-in-describe-body",
        lambda p: post(p, DESCRIBE + "&Authorization=AWS4-HMAC-SHA256"),
        Forwarded({"Action": "DescribeCacheClusters", "Version": API_VERSION, "Authorization": "AWS4-HMAC-SHA256"}),
        False,
    ),
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
        Forwarded(ALLOWED_PARAMS),
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
    exchange(wire, data, [Forwarded(ALLOWED_PARAMS), Bare(400)])


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
    check(wire, since, responses, [Rejected(400, "MalformedQueryString")])
    assert responses[0].header("Connection") == "close"


def test_split_writes_across_every_boundary(wire):
    # Head, separator and body arrive in separate reads, cut mid-token.
    data = post(wire.port, ALLOWED) + post(wire.port, FORBIDDEN)
    end_of_head = data.index(b"\r\n\r\n")
    cuts = [3, 30, end_of_head + 2, end_of_head + 9, len(data) - len(FORBIDDEN) - 5, len(data) - 7]
    parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    assert b"".join(parts) == data
    exchange(wire, parts, [Forwarded(ALLOWED_PARAMS), Rejected(400, "InvalidParameterCombination")])


# ---- Expect: 100-continue ----------------------------------------------------------
def _expect_head(port, body: str, length: int | None = None, **options) -> bytes:
    extra = [("Expect", "100-continue"), ("Content-Length", str(len(body) if length is None else length))]
    return request_bytes("POST", "/", head(port, length=False, extra=extra, **options))


@pytest.mark.parametrize(
    "body, expected",
    [(ALLOWED, Forwarded(ALLOWED_PARAMS)), (FORBIDDEN, Rejected(400, "InvalidParameterCombination"))],
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
    expected = {
        ALLOWED: Forwarded(ALLOWED_PARAMS),
        FORBIDDEN: Rejected(400, "InvalidParameterCombination"),
        ALLOWED + ADMIN: Rejected(400, "InvalidQueryParameter"),
        DESCRIBE: Forwarded({"Action": "DescribeCacheClusters", "Version": API_VERSION}),
    }
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
    responses = exchange(wire, data, [Forwarded(ALLOWED_PARAMS), Rejected(400, "InvalidParameterCombination")])
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
    exchange(signed_wire, data, [Forwarded(ALLOWED_PARAMS), Rejected(400, "InvalidParameterCombination")])
    assert {line["caller"] for line in signed_wire.audit_records()} == {"tester"}


@pytest.mark.parametrize(
    "signed_body, sent_body, expected",
    [
        # The body is hashed as received: `+` signed and sent, one reading.
        (replace(ALLOWED, "app-web", "app+web"), None, Forwarded(ingress("app web"))),
        # Same meaning, other bytes: the signature no longer matches.
        (
            replace(ALLOWED, "app-web", "app%20web"),
            replace(ALLOWED, "app-web", "app+web"),
            Rejected(403, "SignatureDoesNotMatch"),
        ),
        (ALLOWED, ALLOWED + ADMIN, Rejected(400, "InvalidQueryParameter")),
        (ALLOWED, FORBIDDEN, Rejected(403, "SignatureDoesNotMatch")),
        (ALLOWED, replace(ALLOWED, "app-web", "app%2Dweb"), Rejected(403, "SignatureDoesNotMatch")),
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
        (replace(ALLOWED, "app-web", "app%20web"), Forwarded(ingress("app web"))),
        # botocore signs the query as written (`+`); the proxy reads `+` as
        # a space, as its form decoder does, and canonicalizes it to %20: the
        # two disagree, so the request is refused, not read two ways.
        (replace(ALLOWED, "app-web", "app+web"), Rejected(403, "SignatureDoesNotMatch")),
        (ALLOWED + ADMIN, Rejected(400, "InvalidQueryParameter")),
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
    exchange(signed_wire, request_bytes("POST", "/?" + ALLOWED, headers), [Rejected(403, "SignatureDoesNotMatch")])


def test_signed_with_a_second_host_header(signed_wire):
    # A signature over `host:a,b` would verify; the message is refused first.
    p = signed_wire.port
    data = signed_post(p, ALLOWED, extra=[("Host", "evil.example")])
    exchange(signed_wire, data, [Rejected(400, "InvalidQueryParameter")], closes=True)


def test_signed_chunked_with_trailers(signed_wire):
    p = signed_wire.port
    headers = [(k, v) for k, v in sign(p, "POST", "/", ALLOWED.encode()) if k != "Content-Length"]
    data = request_bytes(
        "POST",
        "/",
        headers + [("Transfer-Encoding", "chunked")],
        chunked(ALLOWED.encode(), trailers=b"X-Amz-Security-Token: smuggled\r\n"),
    )
    exchange(signed_wire, data, [Rejected(400, "InvalidQueryParameter")], closes=True)
    # Without the trailer, the same signed chunked request goes through.
    exchange(signed_wire, data.replace(b"X-Amz-Security-Token: smuggled\r\n", b""), [Forwarded(ALLOWED_PARAMS)])
