"""SigV4 signing with botocore's signer."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sigv4_headers(
    url: str,
    body: bytes | str,
    credentials: tuple[str, str],
    *,
    method: str = "POST",
    content_type: str | None = "application/x-www-form-urlencoded; charset=utf-8",
    region: str = "us-east-1",
    service: str = "elasticache",
) -> dict[str, str]:
    """The headers botocore's SigV4 signer gives a request (Authorization
    and X-Amz-Date among them), signed with `credentials` = (access key,
    secret key)."""
    request = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": content_type} if content_type else {}
    )
    SigV4Auth(Credentials(*credentials), service, region).add_auth(request)
    return dict(request.headers.items())
