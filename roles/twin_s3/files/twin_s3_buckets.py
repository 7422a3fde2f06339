"""Keep the buckets of a twin S3 store (roles/twin_s3): run by the unit after every start.

moto's server keeps objects in memory, so a (re)started store is empty: this waits until the
store answers, then creates each bucket of its configuration that is missing, signed with that
bucket's QPU key pair (the same pair qrmid forwards with). Prints one line per bucket; exit 0
when every bucket exists, 1 otherwise (the unit then fails to start, and says why).
Usage: python twin_s3_buckets.py CONFIG.json [--wait SECONDS]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

MAX_CONFIG_BYTES = 1 << 20


def client(endpoint: str, bucket: dict[str, Any]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=bucket["region"],
        aws_access_key_id=bucket["access_key_id"],
        aws_secret_access_key=bucket["secret_access_key"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2,
                      read_timeout=10),
    )


def ensure(endpoint: str, bucket: dict[str, Any]) -> str:
    s3 = client(endpoint, bucket)
    try:
        s3.head_bucket(Bucket=bucket["name"])
        return "present"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    extra = {} if bucket["region"] == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": bucket["region"]}}
    s3.create_bucket(Bucket=bucket["name"], **extra)
    return "created"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--wait"):
        print("usage: twin_s3_buckets.py CONFIG.json [--wait SECONDS]", file=sys.stderr)
        return 2
    wait_s = float(argv[3]) if len(argv) == 4 else 30.0
    with open(argv[1], "rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        print(f"{argv[1]}: larger than {MAX_CONFIG_BYTES} bytes", file=sys.stderr)
        return 2
    config = json.loads(raw)
    endpoint, buckets = config["endpoint"], config["buckets"]
    deadline = time.monotonic() + wait_s
    pending = list(buckets)
    last = ""
    while pending:
        try:
            for bucket in list(pending):
                print(f"bucket {bucket['name']} ({bucket['region']}): {ensure(endpoint, bucket)}")
                pending.remove(bucket)
        except (BotoCoreError, ClientError) as exc:
            last = str(exc)
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    for bucket in pending:
        print(f"bucket {bucket['name']}: not created at {endpoint} within {wait_s:.0f} s: {last}", file=sys.stderr)
    return 1 if pending else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
