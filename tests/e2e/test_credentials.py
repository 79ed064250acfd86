"""The proxy's own upstream identity, found by the AWS SDK's credential chain:
a shared profile, ECS container credentials, web identity (EKS IRSA), and
`assume_role` with one session per caller. Local stubs stand in for the
credential endpoints and STS; the fake upstream checks that forwarded
requests are signed with exactly the credentials they hand out."""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import _test_failed, require_proxy_binary, write_config
from fake_upstream import FakeElastiCache, parse_authorization
from harness.processes import free_port, spawn, stop_process, wait_until_listening
from support import PROXY_ACCESS_KEY, PROXY_SECRET_KEY, TEST_POLICY

ROLE_ARN = "arn:aws:iam::123456789012:role/elasticache-proxy"


def iso(at: _dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StubServer:
    """A tiny HTTP server on 127.0.0.1 whose answers a test defines."""

    handle: callable
    requests: list = field(default_factory=list)

    def __post_init__(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
                stub.requests.append(record)
                status, content_type, payload = stub.handle(record)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve
            do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop's next poll: 0.5 s by default.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs():
    started: list[StubServer] = []

    def start(handle) -> StubServer:
        stub = StubServer(handle)
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.stop()


@pytest.fixture
def launch(tmp_path, request):
    """launch(upstream, env, extra_config="") starts the proxy with exactly
    `env` (plus PATH and HOME) and returns (process, port, stderr path)."""
    procs = []

    def start(upstream: FakeElastiCache, env: dict[str, str], extra_config: str = ""):
        workdir = tmp_path / f"proxy{len(procs)}"
        workdir.mkdir()
        port = free_port()
        config = write_config(workdir, listen_port=port, endpoint=upstream.endpoint, policy=TEST_POLICY)
        if extra_config:
            config.write_text(config.read_text() + extra_config)
        stderr_path = workdir / "stderr.log"
        full_env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            # No instance metadata on a test machine: do not wait for it.
            "AWS_EC2_METADATA_DISABLED": "true",
            **env,
        }
        proc = spawn(
            [str(require_proxy_binary()), "serve", "--config", str(config)],
            workdir / "stdout.log",
            stderr_path,
            env=full_env,
            cwd=workdir,
        )
        procs.append((proc, stderr_path))
        return proc, port, stderr_path

    yield start
    for proc, stderr_path in procs:
        stop_process(proc, timeout=10)
        if _test_failed(request):
            print(f"--- proxy stderr:\n{stderr_path.read_text(errors='replace')[-4000:]}")


def describe(make_client, port: int):
    return make_client(f"http://127.0.0.1:{port}").describe_cache_clusters()


def assert_signed_with(upstream: FakeElastiCache, token: str | None):
    [record] = upstream.requests
    assert record.signature_ok, "\n".join(record.signature_problems)
    assert record.access_key == upstream.access_key
    assert record.header("X-Amz-Security-Token") == token


def test_shared_profile(tmp_path, launch, make_client):
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIDWRONGPROFILE0001\naws_secret_access_key = wrong\n"
        "[team]\naws_access_key_id = AKIDPROFILETEAM00001\naws_secret_access_key = team/Profile+Secret\n"
    )
    upstream = FakeElastiCache("AKIDPROFILETEAM00001", "team/Profile+Secret").start()
    try:
        proc, port, stderr = launch(
            upstream,
            {
                "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                "AWS_PROFILE": "team",
            },
        )
        wait_until_listening(proc, port, stderr)
        describe(make_client, port)
        assert_signed_with(upstream, None)
    finally:
        upstream.stop()


@pytest.mark.parametrize("access_key", ["AKIDENVIRONMENT00001", " "])
def test_environment_keys_come_before_the_profile(tmp_path, launch, make_client, access_key):
    """Keys in the environment are the chain's first source, used without
    setting up the rest of it; blank ones are none, and the profile is next."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[team]\naws_access_key_id = AKIDPROFILETEAM00001\naws_secret_access_key = team/Profile+Secret\n"
    )
    from_environment = access_key.strip() != ""
    upstream = (
        FakeElastiCache(access_key, "env/Environment+Secret")
        if from_environment
        else FakeElastiCache("AKIDPROFILETEAM00001", "team/Profile+Secret")
    ).start()
    try:
        env = {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": "env/Environment+Secret",
            "AWS_SESSION_TOKEN": "environment-session-token",
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_PROFILE": "team",
        }
        proc, port, stderr = launch(upstream, env)
        wait_until_listening(proc, port, stderr)
        describe(make_client, port)
        assert_signed_with(upstream, "environment-session-token" if from_environment else None)
    finally:
        upstream.stop()


def container_credentials(expires_in: _dt.timedelta):
    def handle(record):
        body = json.dumps(
            {
                "AccessKeyId": "ASIAECSCONTAINER0001",
                "SecretAccessKey": "ecs/Container+Secret",
                "Token": "ecs-session-token",
                "Expiration": iso(_dt.datetime.now(_dt.timezone.utc) + expires_in),
            }
        ).encode()
        return 200, "application/json", body

    return handle


def test_ecs_container_credentials_are_refreshed_before_they_expire(launch, stubs, make_client):
    # Credentials that expire in 4 minutes are inside the 5-minute refresh
    # margin: every use fetches new ones.
    endpoint = stubs(container_credentials(_dt.timedelta(minutes=4)))
    upstream = FakeElastiCache("ASIAECSCONTAINER0001", "ecs/Container+Secret").start()
    try:
        proc, port, stderr = launch(
            upstream,
            {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint.url}/v2/credentials",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-agent-token",
            },
        )
        wait_until_listening(proc, port, stderr)
        fetched_at_start = len(endpoint.requests)
        assert fetched_at_start >= 1
        describe(make_client, port)
        assert_signed_with(upstream, "ecs-session-token")
        assert len(endpoint.requests) > fetched_at_start
        assert endpoint.requests[0]["headers"].get("authorization") == "ecs-agent-token"
    finally:
        upstream.stop()


def test_ecs_container_credentials_are_cached_while_fresh(launch, stubs, make_client):
    endpoint = stubs(container_credentials(_dt.timedelta(hours=6)))
    upstream = FakeElastiCache("ASIAECSCONTAINER0001", "ecs/Container+Secret").start()
    try:
        proc, port, stderr = launch(
            upstream, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint.url}/v2/credentials"}
        )
        wait_until_listening(proc, port, stderr)
        fetched_at_start = len(endpoint.requests)
        for _ in range(3):
            describe(make_client, port)
        assert len(upstream.requests) == 3
        assert len(endpoint.requests) == fetched_at_start
    finally:
        upstream.stop()


def sts_check_signature(record, access_key: str, secret_key: str) -> None:
    """The STS call is signed with the proxy's own credentials (botocore's
    signer recomputes the signature)."""
    auth = parse_authorization(record["headers"]["authorization"])
    key_id, _, region, service, _ = auth["Credential"].split("/")
    assert (key_id, service) == (access_key, "sts")
    host = record["headers"]["host"]
    request = AWSRequest(method="POST", url=f"http://{host}{record['path']}", data=record["body"])
    for name in auth["SignedHeaders"].split(";"):
        request.headers[name] = record["headers"][name]
    request.context["timestamp"] = record["headers"]["x-amz-date"]
    signer = SigV4Auth(Credentials(access_key, secret_key), "sts", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert hmac.compare_digest(expected, auth["Signature"])


def assumed_keys(session: str) -> tuple[str, str]:
    """The keys the STS stub hands out for a role session."""
    return f"ASIAASSUMED{len(session):09d}", f"assumed/Secret+{session}"


def sts_stub(expires_in: _dt.timedelta):
    def handle(record):
        params = dict(urllib.parse.parse_qsl(record["body"].decode()))
        action = params.get("Action")
        session = params.get("RoleSessionName", "web")
        expiry = iso(_dt.datetime.now(_dt.timezone.utc) + expires_in)
        body = f"""<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <{action}Result>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/elasticache-proxy/{session}</Arn>
      <AssumedRoleId>AROAEXAMPLE0000000001:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{assumed_keys(session)[0]}</AccessKeyId>
      <SecretAccessKey>{assumed_keys(session)[1]}</SecretAccessKey>
      <SessionToken>token-for-{session}</SessionToken>
      <Expiration>{expiry}</Expiration>
    </Credentials>
  </{action}Result>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</{action}Response>"""
        return 200, "text/xml", body.encode()

    return handle


def test_assume_role_per_caller(launch, stubs, make_client):
    sts = stubs(sts_stub(_dt.timedelta(hours=1)))
    session = "local-test"  # the trusted caller of the test config
    upstream = FakeElastiCache(*assumed_keys(session)).start()
    try:
        proc, port, stderr = launch(
            upstream,
            {"AWS_ACCESS_KEY_ID": PROXY_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": PROXY_SECRET_KEY},
            f'assume_role:\n  role_arn: "{ROLE_ARN}"\n  external_id: "team-42"\n'
            f'  sts_region: us-east-1\n  sts_endpoint: "{sts.url}"\n',
        )
        wait_until_listening(proc, port, stderr)
        assert sts.requests == [], "roles are assumed when a caller first needs one"
        for _ in range(2):
            describe(make_client, port)
        assert len(upstream.requests) == 2
        assert all(r.signature_ok for r in upstream.requests), upstream.requests[0].signature_problems
        assert upstream.requests[0].header("X-Amz-Security-Token") == f"token-for-{session}"

        [call] = sts.requests  # cached for the second request
        params = dict(urllib.parse.parse_qsl(call["body"].decode()))
        assert params["Action"] == "AssumeRole"
        assert params["RoleArn"] == ROLE_ARN
        assert params["RoleSessionName"] == session
        assert params["SourceIdentity"] == session
        assert params["ExternalId"] == "team-42"
        assert params["DurationSeconds"] == "3600"
        sts_check_signature(call, PROXY_ACCESS_KEY, PROXY_SECRET_KEY)
    finally:
        upstream.stop()


def test_web_identity(tmp_path, launch, stubs, make_client):
    sts = stubs(sts_stub(_dt.timedelta(hours=1)))
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.test-web-identity-token.sig")
    upstream = FakeElastiCache(*assumed_keys("proxy-pod-1")).start()
    try:
        proc, port, stderr = launch(
            upstream,
            {
                "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
                "AWS_ROLE_ARN": ROLE_ARN,
                "AWS_ROLE_SESSION_NAME": "proxy-pod-1",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_STS": sts.url,
            },
        )
        wait_until_listening(proc, port, stderr)
        describe(make_client, port)
        assert_signed_with(upstream, "token-for-proxy-pod-1")
        params = dict(urllib.parse.parse_qsl(sts.requests[0]["body"].decode()))
        assert params["Action"] == "AssumeRoleWithWebIdentity"
        assert params["WebIdentityToken"] == token_file.read_text()
    finally:
        upstream.stop()


def test_no_credentials_anywhere_refuses_to_start(tmp_path):
    config = write_config(tmp_path, listen_port=free_port(), endpoint="http://127.0.0.1:9", policy=TEST_POLICY)
    done = subprocess.run(
        [str(require_proxy_binary()), "serve", "--config", str(config)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "no upstream credentials" in done.stderr
    assert "AWS_ACCESS_KEY_ID" in done.stderr
