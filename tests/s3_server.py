"""moto's standalone S3 server for the S3 profile of the test suite (CI pass 2).

`TEST_S3_SERVER=moto` makes tests/settings.py call `start_for_settings` before the real settings are read:
the server runs in a thread of the test process on a free loopback port until the process ends, with one
bucket, and the returned variables (AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, credentials) switch
the real settings to S3 exactly as in a deployment. Any other value is refused, so a typo cannot quietly
run the suite on the filesystem.
"""

from __future__ import annotations

import atexit
import socket

BUCKET = "voiceclone-suite"


def start_for_settings(kind: str) -> dict[str, str]:
    if kind != "moto":
        raise RuntimeError(f"TEST_S3_SERVER must be 'moto' (or unset), got {kind!r}")
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    atexit.register(server.stop)
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_S3_REGION_NAME": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    return {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": endpoint, **credentials}
