"""One-shot: create the artifact bucket in the S3-compatible store (idempotent), then exit 0.

Run by the `createbucket` service of docker-compose.yml with the project image; reads
VODREC_S3_BUCKET, VODREC_S3_ENDPOINT_URL (unset for AWS itself), AWS_REGION and the usual AWS_*
credentials. Waits (bounded) for the store to answer first.
"""

from __future__ import annotations

import os
import sys
import time

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError


def ensure_bucket(bucket: str, endpoint_url: str | None, region: str, wait_seconds: float = 60.0) -> bool:
    """Create `bucket` unless it exists; returns True when it was created now."""
    client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            client.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
            break
        except EndpointConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
    kwargs = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise
    return True


def main() -> int:
    bucket = os.environ.get("VODREC_S3_BUCKET")
    if not bucket:
        print("create_bucket: VODREC_S3_BUCKET is not set", file=sys.stderr)
        return 2
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    created = ensure_bucket(bucket, os.environ.get("VODREC_S3_ENDPOINT_URL"), region)
    print(f"create_bucket: bucket {bucket} {'created' if created else 'already there'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
