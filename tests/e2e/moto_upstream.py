"""moto's server (``moto[server]``, pinned in requirements.txt) as the
proxy's upstream: a local ElastiCache that keeps state, so a test can create
a replication group through the proxy and describe it back.

moto checks signatures too. Each test starts from an empty moto that holds
one IAM user, the proxy's identity, allowed ``elasticache:*``; after that
moto verifies the SigV4 signature of every request against that user's
secret key (its "IAM authentication" mode), so a proxy that signs wrongly
gets moto's ``SignatureDoesNotMatch``. The fake upstream
(fake_upstream.py) stays the stricter signature check: moto recomputes the
signature over the form as it re-encodes it (``urllib.parse.urlencode``),
not over the bytes received; see test_moto.py for what that rejects.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import botocore.config

from harness import aws
from harness.processes import spawn, stop_process

# The account moto puts every resource in.
MOTO_ACCOUNT = "123456789012"
# urllib without any HTTP proxy of the machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Identity:
    """An access key of an IAM user in moto."""

    access_key: str
    secret_key: str


class MotoServer:
    """`python -m moto.server` on 127.0.0.1:port, as a child process."""

    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.identity: Identity | None = None  # the proxy's, set by reset()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> subprocess.Popen:
        """Starts the server; the caller waits until it listens."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.log_path.parent),
            # moto needs no credentials of its own, and reaches nothing.
            "AWS_EC2_METADATA_DISABLED": "true",
            # Where start_recording() has moto write the requests it gets.
            "MOTO_RECORDER_FILEPATH": str(self.recording_path),
        }
        self.proc = spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], self.log_path, None, env=env
        )
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)

    @property
    def recording_path(self) -> Path:
        return self.log_path.parent / "recording.jsonl"

    def start_recording(self) -> None:
        """From now on (until the next reset()), moto records every request
        it gets: what recorded_actions() reads back."""
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def recorded_actions(self) -> list[tuple[str, dict[str, str]]]:
        """The (Action, form parameters) of each API request recorded, in
        order (moto's own /moto-api/ left out)."""
        if not self.recording_path.exists():
            return []
        found = []
        for line in self.recording_path.read_text().splitlines():
            entry = json.loads(line)
            if "/moto-api/" in entry["url"]:
                continue
            body = base64.b64decode(entry["body"]) if entry["body_encoded"] else (entry["body"] or "").encode()
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            found.append((params.get("Action", ""), params))
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _post(self, path: str, data: bytes = b"") -> bytes:
        # text/plain: moto reads the raw body, which a form type would consume.
        request = urllib.request.Request(
            self.endpoint + path, data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        with _DIRECT.open(request, timeout=10) as answer:
            return answer.read()

    def records(self, model: str) -> list[dict]:
        """What moto holds of one kind of ElastiCache resource, as its own
        attributes (`ReplicationGroup`, `CacheCluster`, `Snapshot`, `User`,
        `CacheSubnetGroup`): the parameters it received, including those its
        answers leave out."""
        with _DIRECT.open(self.endpoint + "/moto-api/data.json", timeout=10) as answer:
            return json.loads(answer.read()).get("elasticache", {}).get(model, [])

    def reset(self) -> Identity:
        """Empties moto, creates the proxy's IAM user with an access key and
        turns signature checking on for every request after that."""
        self._post("/moto-api/recorder/stop-recording")
        self._post("/moto-api/reset-auth", b"inf")  # no checks while setting up
        self._post("/moto-api/reset")
        iam = aws.client(
            "iam",
            region_name="us-east-1",
            endpoint_url=self.endpoint,
            aws_access_key_id="AKIDMOTOSETUP0000001",
            aws_secret_access_key="setup/Only+Secret/0123456789abcdefghij",
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )
        iam.create_user(UserName="elasticache-authz-proxy")
        iam.put_user_policy(
            UserName="elasticache-authz-proxy",
            PolicyName="elasticache",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "elasticache:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="elasticache-authz-proxy")["AccessKey"]
        self._post("/moto-api/reset-auth", b"0")  # from now on, every request is checked
        self.identity = Identity(key["AccessKeyId"], key["SecretAccessKey"])
        return self.identity

    @property
    def credentials(self) -> tuple[str, str]:
        """The proxy's upstream keys (start_proxy's `credentials`)."""
        assert self.identity is not None, "reset() moto first"
        return (self.identity.access_key, self.identity.secret_key)

    def client(self, region: str = "us-east-1", identity: Identity | None = None):
        """A boto3 ElastiCache client that talks to moto directly, signed as
        the proxy's identity (or `identity`): what a test uses to see moto's
        state, past the proxy."""
        identity = identity or self.identity
        assert identity is not None, "reset() moto first"
        return aws.client(
            "elasticache",
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=identity.access_key,
            aws_secret_access_key=identity.secret_key,
            config=botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=15),
        )


def moto_arn(region: str, kind: str, name: str) -> str:
    """The ARN moto gives an ElastiCache resource (`replicationgroup`,
    `cluster`, `snapshot`, `subnetgroup`, `user`)."""
    return f"arn:aws:elasticache:{region}:{MOTO_ACCOUNT}:{kind}:{name}"

