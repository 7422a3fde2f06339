"""A real S3-compatible server for the tests: moto's server (PyPI moto[server]) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "site-s3-access"
SECRET_KEY = "site-s3-secret-0123456789"
REGION = "us-east-1"
BUCKET = "qpu-jobs"


@dataclass
class S3:
    url: str
    bucket: str = BUCKET
    region: str = REGION
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self, access_key: str | None = None, secret_key: str | None = None, url: str | None = None):  # noqa: ANN201
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=url or self.url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )


@contextmanager
def running(state_dir: Path, port: int) -> Iterator[S3]:
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / "moto.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    s3 = S3(f"http://127.0.0.1:{port}")
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(s3.url + "/moto-api/", timeout=2).read()  # noqa: S310 - 127.0.0.1
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        "moto server did not start:\n" + (state_dir / "moto.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.2)
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
