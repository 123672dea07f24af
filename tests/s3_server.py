"""A local S3 endpoint for tests: moto's server mode as a process (real HTTP, real s3fs/botocore)."""

from __future__ import annotations

import sys
from pathlib import Path

from callmine.local.services import ServiceProcess, start_service
from callmine.local.stack import free_port

# moto accepts any credentials; these only have to be recognizable (and never printed).
ACCESS_KEY_ID = "AKIACALLMINETEST0001"
SECRET_ACCESS_KEY = "callmine-test-secret-0001"
REGION = "us-east-1"


def start_s3(log_dir: Path, timeout: float = 60) -> ServiceProcess:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start_service("moto-s3", argv, port, log_dir, "/moto-api/data.json", timeout)


def s3_env(endpoint: str) -> dict[str, str]:
    """The standard AWS environment pointing at the local endpoint."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
    }


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY_ID,
                 aws_secret_access_key=SECRET_ACCESS_KEY, region_name=REGION).create_bucket(Bucket=bucket)
