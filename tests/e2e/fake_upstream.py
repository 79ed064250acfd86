"""A local stand-in for the ElastiCache Query API, used as the proxy's upstream.

Every request it receives is checked the way AWS would check it: the SigV4
signature in the Authorization header is recomputed with botocore's own signer
(``botocore.auth.SigV4Auth``) from the headers named in ``SignedHeaders`` (as
received) and the raw received body, using the proxy's credentials. The result
of that check and everything else about the request is recorded, so the tests
can assert on what really reached "AWS".

A request with a bad signature is answered with a 403 SignatureDoesNotMatch
error, so a proxy that signs wrongly fails the tests loudly. Other requests get
responses shaped like the real service's (see the ElastiCache API reference).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

API_VERSION = "2015-02-02"
XMLNS = f"http://elasticache.amazonaws.com/doc/{API_VERSION}/"
SERVICE = "elasticache"
# The account that owns the cache security groups in the fake answers.
UPSTREAM_ACCOUNT_ID = "210987654321"
# AWS rejects requests whose X-Amz-Date is more than 15 minutes off.
MAX_CLOCK_SKEW = _dt.timedelta(minutes=15)
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
SIGV4_TIMESTAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass
class RecordedRequest:
    """One request as the fake upstream received it."""

    method: str
    path: str  # the raw request target, query string included
    headers: list[tuple[str, str]]  # as received, in order, original case
    body: bytes
    params: dict[str, str]  # form parameters (body, or query string for GET)
    param_pairs: list[tuple[str, str]]  # the same, in order, duplicates kept
    signature_ok: bool
    signature_problems: list[str]
    region: str | None  # from the credential scope
    access_key: str | None  # from the credential scope
    signed_headers: list[str]
    form_problems: list[str] = field(default_factory=list)
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively, or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def action(self) -> str | None:
        return self.params.get("Action")


@dataclass
class Override:
    """A canned answer for one action, instead of the built-in one."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]
    delay: float = 0.0


AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 (?P<rest>.+)$")


def parse_authorization(value: str) -> dict[str, str]:
    """Splits a SigV4 Authorization header into its Credential, SignedHeaders
    and Signature parts. Raises ValueError when it is not one."""
    match = AUTH_RE.match(value)
    if not match:
        raise ValueError(f"not an AWS4-HMAC-SHA256 Authorization header: {value!r}")
    parts: dict[str, str] = {}
    for item in match.group("rest").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"Authorization component without '=': {item!r}")
        if key in parts:
            raise ValueError(f"Authorization component {key} appears twice")
        parts[key] = val
    for needed in ("Credential", "SignedHeaders", "Signature"):
        if needed not in parts:
            raise ValueError(f"Authorization header has no {needed}")
    return parts


def verify_sigv4(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    access_key: str,
    secret_key: str,
    expected_host: str,
    expected_region: str | None = None,
    now: _dt.datetime | None = None,
) -> tuple[bool, list[str], dict[str, object]]:
    """Checks a received request's SigV4 signature with botocore's signer.

    Returns (ok, problems, info) where info holds the region, access key and
    signed header names read from the Authorization header."""
    problems: list[str] = []
    info: dict[str, object] = {"region": None, "access_key": None, "signed_headers": []}

    def values(name: str) -> list[str]:
        return [v for k, v in headers if k.lower() == name]

    auth_values = values("authorization")
    if len(auth_values) != 1:
        return False, [f"expected one Authorization header, got {len(auth_values)}"], info
    try:
        auth = parse_authorization(auth_values[0])
    except ValueError as err:
        return False, [str(err)], info

    scope = auth["Credential"].split("/")
    if len(scope) != 5:
        return False, [f"credential scope is not KEY/DATE/REGION/SERVICE/aws4_request: {auth['Credential']!r}"], info
    key_id, scope_date, region, service, terminator = scope
    info["region"] = region
    info["access_key"] = key_id
    signed_names = auth["SignedHeaders"].split(";")
    info["signed_headers"] = signed_names

    if key_id != access_key:
        problems.append(f"signed with access key {key_id!r}, expected the proxy's {access_key!r}")
    if service != SERVICE:
        problems.append(f"credential scope service is {service!r}, expected {SERVICE!r}")
    if terminator != "aws4_request":
        problems.append(f"credential scope ends with {terminator!r}, expected 'aws4_request'")
    if not REGION_RE.match(region):
        problems.append(f"credential scope region {region!r} is not a region name")
    if expected_region is not None and region != expected_region:
        problems.append(f"credential scope region {region!r}, expected {expected_region!r}")

    amz_dates = values("x-amz-date")
    if len(amz_dates) != 1 or not SIGV4_TIMESTAMP_RE.match(amz_dates[0]):
        problems.append(f"expected one X-Amz-Date header like 20261125T050916Z, got {amz_dates!r}")
        return False, problems, info
    timestamp = amz_dates[0]
    if scope_date != timestamp[:8]:
        problems.append(f"credential scope date {scope_date} does not match X-Amz-Date {timestamp}")
    signed_at = _dt.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        problems.append(f"X-Amz-Date {timestamp} is more than 15 minutes from now")

    if signed_names != sorted(set(signed_names)) or any(n != n.lower() for n in signed_names):
        problems.append(f"SignedHeaders is not sorted, unique and lower case: {auth['SignedHeaders']!r}")
    if "host" not in signed_names:
        problems.append("the host header is not signed")
    if "x-amz-date" not in signed_names:
        problems.append("the x-amz-date header is not signed")
    hosts = values("host")
    if hosts != [expected_host]:
        problems.append(f"Host header is {hosts!r}, expected [{expected_host!r}]")

    # Rebuild the request from exactly the signed headers, as received.
    request = AWSRequest(method=method, url=f"http://{expected_host}{target}", data=body)
    for name in signed_names:
        got = values(name)
        if not got:
            problems.append(f"signed header {name!r} was not received")
        for value in got:
            request.headers[name] = value
    content_sha = values("x-amz-content-sha256")
    if content_sha and content_sha != [hashlib.sha256(body).hexdigest()]:
        problems.append("X-Amz-Content-SHA256 does not match the received body")
    request.context["timestamp"] = timestamp

    signer = SigV4Auth(Credentials(access_key, secret_key), SERVICE, region)
    botocore_signed = signer.signed_headers(signer.headers_to_sign(request))
    if botocore_signed != auth["SignedHeaders"]:
        problems.append(
            f"SignedHeaders {auth['SignedHeaders']!r} differs from what botocore signs "
            f"for those headers ({botocore_signed!r})"
        )
    canonical_request = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical_request)
    expected_signature = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected_signature, auth["Signature"]):
        problems.append(
            "signature mismatch: botocore computes "
            f"{expected_signature} for canonical request:\n{canonical_request}"
        )
    return not problems, problems, info


def _error_xml(code: str, message: str, request_id: str, error_type: str = "Sender") -> bytes:
    return (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>{error_type}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def _metadata(request_id: str) -> str:
    return f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"


def authorize_ingress_xml(params: dict[str, str], region: str, request_id: str) -> bytes:
    """The AuthorizeCacheSecurityGroupIngress answer, echoing the request."""
    group = escape(params.get("CacheSecurityGroupName", ""))
    ec2_group = escape(params.get("EC2SecurityGroupName", ""))
    ec2_owner = escape(params.get("EC2SecurityGroupOwnerId", ""))
    return (
        f'<AuthorizeCacheSecurityGroupIngressResponse xmlns="{XMLNS}">'
        "<AuthorizeCacheSecurityGroupIngressResult><CacheSecurityGroup>"
        "<EC2SecurityGroups><EC2SecurityGroup>"
        "<Status>authorizing</Status>"
        f"<EC2SecurityGroupName>{ec2_group}</EC2SecurityGroupName>"
        f"<EC2SecurityGroupOwnerId>{ec2_owner}</EC2SecurityGroupOwnerId>"
        "</EC2SecurityGroup></EC2SecurityGroups>"
        f"<CacheSecurityGroupName>{group}</CacheSecurityGroupName>"
        f"<OwnerId>{UPSTREAM_ACCOUNT_ID}</OwnerId>"
        f"<Description>Cache security group {group}</Description>"
        f"<ARN>arn:aws:elasticache:{escape(region)}:{UPSTREAM_ACCOUNT_ID}:securitygroup:{group}</ARN>"
        "</CacheSecurityGroup></AuthorizeCacheSecurityGroupIngressResult>"
        f"{_metadata(request_id)}</AuthorizeCacheSecurityGroupIngressResponse>"
    ).encode()


def describe_cache_clusters_xml(region: str, request_id: str) -> bytes:
    """A DescribeCacheClusters answer with one cluster."""
    zone = escape(region) + "a"
    return (
        f'<DescribeCacheClustersResponse xmlns="{XMLNS}"><DescribeCacheClustersResult>'
        "<CacheClusters><CacheCluster>"
        "<CacheClusterId>fake-cluster-1</CacheClusterId>"
        "<CacheClusterStatus>available</CacheClusterStatus>"
        "<CacheNodeType>cache.t3.micro</CacheNodeType>"
        "<Engine>redis</Engine><EngineVersion>7.1.0</EngineVersion>"
        "<NumCacheNodes>1</NumCacheNodes>"
        f"<PreferredAvailabilityZone>{zone}</PreferredAvailabilityZone>"
        "<CacheClusterCreateTime>2026-01-02T03:04:05.678Z</CacheClusterCreateTime>"
        "<PreferredMaintenanceWindow>fri:08:30-fri:09:30</PreferredMaintenanceWindow>"
        "<CacheSecurityGroups/>"
        "<CacheParameterGroup><CacheParameterGroupName>default.redis7</CacheParameterGroupName>"
        "<ParameterApplyStatus>in-sync</ParameterApplyStatus><CacheNodeIdsToReboot/>"
        "</CacheParameterGroup>"
        "<CacheSubnetGroupName>default</CacheSubnetGroupName>"
        "<AutoMinorVersionUpgrade>true</AutoMinorVersionUpgrade>"
        f"<ARN>arn:aws:elasticache:{escape(region)}:{UPSTREAM_ACCOUNT_ID}:cluster:fake-cluster-1</ARN>"
        "</CacheCluster></CacheClusters>"
        f"</DescribeCacheClustersResult>{_metadata(request_id)}</DescribeCacheClustersResponse>"
    ).encode()


# The error AWS gives ListTagsForResource for a resource that does not
# exist, by the resource type in its ARN.
_NOT_FOUND_BY_ARN_TYPE = {
    "cluster": "CacheClusterNotFound",
    "replicationgroup": "ReplicationGroupNotFoundFault",
    "snapshot": "SnapshotNotFoundFault",
    "user": "UserNotFound",
    "usergroup": "UserGroupNotFound",
}


def list_tags_xml(tags: dict[str, str], request_id: str) -> bytes:
    """A ListTagsForResource answer with these tags."""
    items = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags.items())
    return (
        f'<ListTagsForResourceResponse xmlns="{XMLNS}"><ListTagsForResourceResult>'
        f"<TagList>{items}</TagList></ListTagsForResourceResult>"
        f"{_metadata(request_id)}</ListTagsForResourceResponse>"
    ).encode()


def generic_action_xml(action: str, request_id: str) -> bytes:
    name = escape(action)
    return (
        f'<{name}Response xmlns="{XMLNS}"><{name}Result/>{_metadata(request_id)}</{name}Response>'
    ).encode()


class LoopbackServer:
    """What the test upstreams share: `with` starts and stops them, and the
    proxy reaches them at `endpoint`. A subclass has start(), stop() and
    `port`, and `_host` if it listens elsewhere than 127.0.0.1."""

    _host = "127.0.0.1"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host_header(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host_header}"


class FakeElastiCache(LoopbackServer):
    """The fake upstream. Start it with start() (or `with`), stop it with stop()."""

    def __init__(self, access_key: str, secret_key: str, host: str = "127.0.0.1"):
        self.access_key = access_key
        self.secret_key = secret_key
        self._host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._overrides: dict[str, Override] = {}
        self._tags: dict[str, dict[str, str]] = {}
        # When set, a request signed for any other region fails the check.
        self.expected_region: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> "FakeElastiCache":
        server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-elasticache", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "fake upstream is not running"
        return self._server.server_address[1]

    # ---- what the tests read and set -------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._overrides.clear()
            self._tags.clear()
        self.expected_region = None

    def override(
        self,
        action: str,
        status: int,
        body: bytes | str,
        headers: list[tuple[str, str]] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer `action` with this status, body and headers (after `delay`
        seconds) instead of the built-in answer. Signatures are still checked."""
        if isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._overrides[action] = Override(status, body, list(headers or []), delay)

    def set_tags(self, arn: str, tags: dict[str, str]) -> None:
        """ListTagsForResource of `arn` answers these tags; of an ARN never
        set, the not-found error of its resource type (an override of the
        action comes first)."""
        with self._lock:
            self._tags[arn] = dict(tags)

    def _list_tags(self, arn: str, request_id: str) -> tuple[int, bytes]:
        with self._lock:
            tags = self._tags.get(arn)
        if tags is not None:
            return 200, list_tags_xml(tags, request_id)
        arn_type = arn.split(":")[5] if arn.count(":") >= 6 else ""
        code = _NOT_FOUND_BY_ARN_TYPE.get(arn_type, "InvalidARN")
        return 404 if code != "InvalidARN" else 400, _error_xml(code, f"{arn} is not found", request_id)

    # ---- request handling ------------------------------------------------
    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def _override_for(self, action: str | None) -> Override | None:
        with self._lock:
            return self._overrides.get(action or "")


def _make_handler(fake: FakeElastiCache) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeElastiCache/1.0"

        def log_message(self, fmt, *args):  # keep the test output quiet
            pass

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size_line = self.rfile.readline()
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            request_id = str(uuid.uuid4())
            body = self._read_body()
            headers = list(self.headers.items())
            ok, problems, info = verify_sigv4(
                method=self.command,
                target=self.path,
                headers=headers,
                body=body,
                access_key=fake.access_key,
                secret_key=fake.secret_key,
                expected_host=fake.host_header,
                expected_region=fake.expected_region,
            )
            form_problems: list[str] = []
            if self.command == "GET":
                raw_params = urlsplit(self.path).query
            else:
                raw_params = body.decode("utf-8", errors="replace")
            try:
                pairs = parse_qsl(raw_params, keep_blank_values=True, strict_parsing=bool(raw_params))
            except ValueError as err:
                pairs = []
                form_problems.append(f"form parameters do not parse: {err}")
            rec = RecordedRequest(
                method=self.command,
                path=self.path,
                headers=headers,
                body=body,
                params=dict(pairs),
                param_pairs=pairs,
                signature_ok=ok,
                signature_problems=problems,
                region=info["region"],  # type: ignore[arg-type]
                access_key=info["access_key"],  # type: ignore[arg-type]
                signed_headers=info["signed_headers"],  # type: ignore[arg-type]
                form_problems=form_problems,
            )
            fake._record(rec)

            region = rec.region or "us-east-1"
            extra_headers: list[tuple[str, str]] = []
            if not ok:
                status = 403
                payload = _error_xml(
                    "SignatureDoesNotMatch",
                    "fake upstream: the request signature does not verify: " + "; ".join(problems),
                    request_id,
                )
            else:
                override = fake._override_for(rec.action)
                if override is not None:
                    if override.delay:
                        time.sleep(override.delay)
                    status, payload, extra_headers = override.status, override.body, override.headers
                elif rec.action == "AuthorizeCacheSecurityGroupIngress":
                    status, payload = 200, authorize_ingress_xml(rec.params, region, request_id)
                elif rec.action == "DescribeCacheClusters":
                    status, payload = 200, describe_cache_clusters_xml(region, request_id)
                elif rec.action == "ListTagsForResource":
                    status, payload = fake._list_tags(rec.params.get("ResourceName", ""), request_id)
                elif rec.action:
                    status, payload = 200, generic_action_xml(rec.action, request_id)
                else:
                    status, payload = 400, _error_xml("MissingAction", "fake upstream: no Action", request_id)

            self.send_response(status)
            names = {k.lower() for k, _ in extra_headers}
            if "content-type" not in names:
                self.send_header("Content-Type", "text/xml")
            if "x-amzn-requestid" not in names:
                self.send_header("x-amzn-RequestId", request_id)
            for key, value in extra_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler
