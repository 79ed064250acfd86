"""Who is calling: inbound SigV4 verification against the callers file,
per-caller rules, HTTPS, and mutual TLS, with real clients (boto3, the aws CLI)."""

from __future__ import annotations

import datetime
import json
import urllib.request

import botocore.auth
import botocore.exceptions
import pytest

from conftest import serve_once, write_config
from harness.certs import TestCA
from harness.processes import free_port, wait_for
from support import (
    ALLOWED_INGRESS,
    client_error,
    PROXY_SECRET_KEY,
    assert_api_error,
    capture_signatures,
    form_encode,
    ingress_pairs,
    send_raw,
    sign_raw,
)

CI_KEY, CI_SECRET = "AKIDCIDEPLOYER000001", "ci/Deployer+Secret/0123456789abcdefghij"
APP_KEY, APP_SECRET = "AKIDAPPPAYMENTS00001", "app/Payments+Secret/0123456789abcdefgh"
APP_IDENTITY = "spiffe://example.test/ns/payments/sa/app"
BATCH_IDENTITY = "batch.internal.test"

CALLERS = f"""\
callers:
  - name: ci-deployer
    access_key_id: {CI_KEY}
    secret_access_key: "{CI_SECRET}"
  - name: app-payments
    access_key_id: {APP_KEY}
    secret_access_key: "{APP_SECRET}"
    tls_identities: ["{APP_IDENTITY}"]
  - name: batch
    tls_identities: ["{BATCH_IDENTITY}"]
    certificate_only: true
"""

POLICY = """\
rules:
  - id: ci-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    callers: [ci-deployer]
    regions: [us-east-1]
    owner_ids: ["123456781234"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
  - id: describe-for-everyone
    effect: allow
    actions: ["Describe*"]
"""


@pytest.fixture
def authed(start_proxy):
    return start_proxy(policy=POLICY, callers=CALLERS)


def request_lines(proxy) -> list[dict]:
    """The audit lines (request lines are no longer on stderr)."""
    return proxy.audit_records()




# ---- SigV4 callers ---------------------------------------------------------------
def test_caller_with_its_own_keys_is_allowed_and_named(make_client, authed, upstream):
    client = make_client(authed, access_key=CI_KEY, secret_key=CI_SECRET)
    result = client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert result["CacheSecurityGroup"]["CacheSecurityGroupName"] == "prod-web"
    [record] = upstream.requests
    assert record.signature_ok
    [line] = request_lines(authed)
    assert (line["caller"], line["auth"], line["decision"], line["rules"]) == (
        "ci-deployer",
        "sigv4",
        "allow",
        ["ci-ingress"],
    )


def test_rule_for_one_caller_denies_another(make_client, authed, upstream):
    client = make_client(authed, access_key=APP_KEY, secret_key=APP_SECRET)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    message = client_error(raised)[2]
    # The caller hears that nothing allowed it, not which other callers' rules exist.
    assert message == (
        "not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress "
        "by caller `app-payments` in region `us-east-1`"
    )
    assert "ci-ingress" not in message
    # The audit log explains it in full.
    [line] = request_lines(authed)
    assert "rule `ci-ingress`: caller `app-payments` is not one of its callers" in line["explanation"]
    assert upstream.requests == []
    # The same caller may still describe.
    client.describe_cache_clusters()
    assert len(upstream.requests) == 1


def test_unknown_access_key_is_an_invalid_client_token(make_client, authed, upstream):
    client = make_client(authed, access_key="AKIDNOBODY0000000001", secret_key=CI_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    assert client_error(raised)[:2] == (403, "InvalidClientTokenId")
    assert upstream.requests == []


def test_right_key_wrong_secret_is_a_signature_mismatch(make_client, authed, upstream):
    client = make_client(authed, access_key=CI_KEY, secret_key="not/the+right/secret/0123456789abcdef")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    assert client_error(raised)[:2] == (403, "SignatureDoesNotMatch")
    assert upstream.requests == []


def test_a_certificate_only_caller_has_no_usable_keys(make_client, authed, upstream):
    # `batch` has no access key; an SDK cannot sign as it.
    client = make_client(authed, access_key="AKIDBATCH00000000001", secret_key=CI_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    assert client_error(raised)[1] == "InvalidClientTokenId"


def test_cli_with_caller_keys(run_aws, authed, upstream):
    done = run_aws(
        authed,
        "authorize-cache-security-group-ingress",
        "--cache-security-group-name",
        "prod-web",
        "--ec2-security-group-name",
        "app-frontend",
        "--ec2-security-group-owner-id",
        "123456781234",
        access_key=CI_KEY,
        secret_key=CI_SECRET,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["CacheSecurityGroup"]["CacheSecurityGroupName"] == "prod-web"
    assert upstream.requests[0].signature_ok
    denied = run_aws(authed, "describe-cache-clusters", access_key=CI_KEY, secret_key="wrong/secret/0123456789abcdefghijk")
    assert denied.returncode != 0
    assert "SignatureDoesNotMatch" in denied.stderr


@pytest.mark.parametrize(
    "shift, status, code, wording",
    [
        (datetime.timedelta(minutes=-10), 400, "RequestExpired", "Signature expired"),
        (datetime.timedelta(minutes=10), 403, "SignatureDoesNotMatch", "Signature not yet current"),
    ],
)
def test_signatures_outside_the_clock_skew(make_client, authed, upstream, monkeypatch, shift, status, code, wording):
    signed_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + shift
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: signed_at)
    client = make_client(authed, access_key=CI_KEY, secret_key=CI_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    got_status, got_code, message = client_error(raised)
    assert (got_status, got_code) == (status, code)
    assert wording in message
    assert upstream.requests == []


def test_signature_four_minutes_old_is_accepted(make_client, authed, upstream, monkeypatch):
    signed_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=4)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: signed_at)
    make_client(authed, access_key=CI_KEY, secret_key=CI_SECRET).describe_cache_clusters()
    assert len(upstream.requests) == 1


def _signed(port: int, body: str, key: str = CI_KEY, secret: str = CI_SECRET, region: str = "us-east-1"):
    return sign_raw(port, body, key, secret, region)


def test_tampered_body_fails_the_signature(authed, upstream):
    body = form_encode(ingress_pairs())
    authorization, amz_date = _signed(authed.port, body)
    untouched = send_raw(authed.port, body=body, authorization=authorization, amz_date=amz_date)
    assert untouched.status == 200, untouched.body
    tampered = send_raw(
        authed.port,
        body=body.replace("app-frontend", "app-backdoor"),
        authorization=authorization,
        amz_date=amz_date,
    )
    assert_api_error(tampered, 403, "SignatureDoesNotMatch")
    assert len(upstream.requests) == 1


def test_tampered_signed_header_fails_the_signature(authed, upstream):
    body = form_encode(ingress_pairs())
    authorization, amz_date = _signed(authed.port, body)
    resp = send_raw(
        authed.port,
        body=body,
        authorization=authorization,
        amz_date=amz_date,
        content_type="application/x-www-form-urlencoded",
    )
    assert_api_error(resp, 403, "SignatureDoesNotMatch")
    assert upstream.requests == []


def test_presigned_query_string_request(make_client, authed, upstream):
    client = make_client(authed, access_key=CI_KEY, secret_key=CI_SECRET)
    url = client.generate_presigned_url(
        "describe_cache_clusters", Params={"MaxRecords": 20}, ExpiresIn=60, HttpMethod="GET"
    )
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=10) as answer:
        assert answer.status == 200
    [record] = upstream.requests
    assert record.params["MaxRecords"] == "20"
    assert not any(name.startswith("X-Amz") for name in record.params)
    tampered = url.replace("MaxRecords=20", "MaxRecords=100")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(urllib.request.Request(tampered, method="GET"), timeout=10)
    assert raised.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in raised.value.read()


def test_no_secret_reaches_the_log(make_client, authed, upstream):
    signatures: list[str] = []
    token = "FQoGZXIvYXdzEXAMPLE+session/token/that/must/never/be/logged=="
    clients = [
        make_client(authed, access_key=CI_KEY, secret_key=CI_SECRET),
        make_client(authed, access_key=CI_KEY, secret_key=CI_SECRET, session_token=token),
        make_client(authed, access_key=APP_KEY, secret_key=APP_SECRET),
        make_client(authed, access_key=CI_KEY, secret_key="wrong/secret/0123456789abcdefghijk"),
        make_client(authed, access_key="AKIDNOBODY0000000001", secret_key=APP_SECRET),
    ]
    for client in clients:
        capture_signatures(client, signatures)
        for call in (client.describe_cache_clusters, lambda c=client: c.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)):
            try:
                call()
            except botocore.exceptions.ClientError:
                pass
    assert len(signatures) == 10
    output = authed.stderr() + authed.stdout_path.read_text()
    for secret in [CI_SECRET, APP_SECRET, PROXY_SECRET_KEY, token, *signatures]:
        assert secret not in output
    for record in upstream.requests:
        seen = "\n".join(f"{k}: {v}" for k, v in record.headers) + record.body.decode(errors="replace")
        assert not any(secret in seen for secret in [CI_SECRET, APP_SECRET, token])


# ---- starting up -------------------------------------------------------------------
def test_callers_file_readable_by_others_is_refused(tmp_path):
    config = write_config(tmp_path, listen_port=free_port(), endpoint="http://127.0.0.1:9", policy=POLICY, callers=CALLERS)
    (tmp_path / "callers.yaml").chmod(0o644)
    done = serve_once(config)
    assert done.returncode == 1
    assert "readable by group or others" in done.stderr and "chmod 600" in done.stderr
    assert CI_SECRET not in done.stderr


def test_policy_naming_an_unknown_caller_starts_with_a_warning(start_proxy, make_client):
    # A name the callers file lacks never matches; refusing it would keep a
    # removed caller's key alive until the policy is edited too.
    policy = POLICY.replace("callers: [ci-deployer]", "callers: [ci-deployr]")
    proxy = start_proxy(policy=policy, callers=CALLERS)
    wait_for(lambda: any(r.get("msg") == "policy warning" for r in proxy.log_records()), what="the warning")
    [warning] = [r for r in proxy.log_records() if r.get("msg") == "policy warning"]
    assert warning["level"] == "warn"
    assert "`ci-deployr` is not a caller in the callers file" in warning["warning"]
    assert "did you mean `ci-deployer`?" in warning["warning"]
    client = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)


# ---- TLS and mTLS -------------------------------------------------------------------
@pytest.fixture
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = TestCA(folder)
    rogue = TestCA(folder / "rogue", name="someone else's CA")
    return {
        "ca": ca,
        "server": ca.server(),
        "app": ca.client("app", uri=APP_IDENTITY),
        "batch": ca.client("batch", dns=BATCH_IDENTITY),
        "stranger": ca.client("stranger", dns="stranger.internal.test"),
        "rogue-app": rogue.client("rogue-app", uri=APP_IDENTITY),
    }


def test_https_with_the_proxy_ca(make_client, start_proxy, upstream, pki, run_aws):
    proxy = start_proxy(
        policy=POLICY, callers=CALLERS, tls={"cert": str(pki["server"].cert), "key": str(pki["server"].key)}
    )
    assert proxy.url.startswith("https://")
    client = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET, verify=str(pki["ca"].pem))
    client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    done = run_aws(proxy, "describe-cache-clusters", access_key=CI_KEY, secret_key=CI_SECRET, ca_bundle=str(pki["ca"].pem))
    assert done.returncode == 0, done.stderr
    assert len(upstream.requests) == 2
    # A client that does not trust the proxy's CA refuses to talk to it.
    with pytest.raises(botocore.exceptions.SSLError):
        make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET, verify=True).describe_cache_clusters()


@pytest.fixture
def mtls_proxy(start_proxy, pki):
    return start_proxy(
        policy=POLICY,
        callers=CALLERS,
        tls={"cert": str(pki["server"].cert), "key": str(pki["server"].key), "client_ca": str(pki["ca"].pem)},
    )


def _mtls_client(make_client, proxy, pki, cert_name, key=APP_KEY, secret=APP_SECRET):
    cert = pki[cert_name] if cert_name else None
    return make_client(
        proxy,
        access_key=key,
        secret_key=secret,
        verify=str(pki["ca"].pem),
        client_cert=(str(cert.cert), str(cert.key)) if cert else None,
    )


def test_mtls_certificate_and_signature_of_the_same_caller(make_client, mtls_proxy, upstream, pki):
    _mtls_client(make_client, mtls_proxy, pki, "app").describe_cache_clusters()
    assert len(upstream.requests) == 1
    [line] = request_lines(mtls_proxy)
    assert (line["caller"], line["auth"]) == ("app-payments", "sigv4")


def test_mtls_certificate_of_another_caller_than_the_signature(make_client, mtls_proxy, upstream, pki):
    client = _mtls_client(make_client, mtls_proxy, pki, "app", key=CI_KEY, secret=CI_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    status, code, message = client_error(raised)
    assert (status, code) == (403, "AccessDenied")
    assert "app-payments" in message and "ci-deployer" in message
    assert upstream.requests == []


def test_mtls_certificate_only_caller(make_client, mtls_proxy, upstream, pki):
    # The SDK still signs (with keys the proxy does not know): the certificate decides.
    client = _mtls_client(make_client, mtls_proxy, pki, "batch", key="AKIDWHATEVER00000001", secret="x" * 40)
    client.describe_cache_clusters()
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert len(upstream.requests) == 1
    lines = request_lines(mtls_proxy)
    assert [(l["caller"], l["auth"]) for l in lines] == [("batch", "client_certificate")] * 2


def test_mtls_certificate_of_no_caller(make_client, mtls_proxy, upstream, pki):
    client = _mtls_client(make_client, mtls_proxy, pki, "stranger")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.describe_cache_clusters()
    assert client_error(raised)[:2] == (403, "AccessDenied")
    assert upstream.requests == []


@pytest.mark.parametrize("cert_name", [None, "rogue-app"])
def test_mtls_without_a_trusted_certificate_fails_the_handshake(make_client, mtls_proxy, upstream, pki, cert_name):
    client = _mtls_client(make_client, mtls_proxy, pki, cert_name)
    with pytest.raises(botocore.exceptions.BotoCoreError):
        client.describe_cache_clusters()
    assert upstream.requests == []
    assert mtls_proxy.proc.poll() is None, "the proxy must survive a failed handshake"
    # The client may see the handshake fail before the proxy has logged it.
    wait_for(
        lambda: [r for r in mtls_proxy.log_records() if r.get("msg") == "tls handshake failed"],
        what=f"the proxy to log the failed handshake:\n{mtls_proxy.stderr()}",
    )
