"""Storage credentials end to end: request/reply latency of a first request (STS AssumeRole, seal,
Secret) and of a replay (answered from the lease), and store commands per request.

Runs the engine in this process against nats-server, the embedded MongoDB-wire store and moto's
S3/STS server (or JETFLOW_BENCH_NATS_URL / _MONGO_URL / _S3_URL with _S3_ACCESS_KEY / _S3_SECRET_KEY
for a real MinIO); Secrets go to a manifests folder, so the Kubernetes API is not measured.

    uv run python bench/bench_credentials.py [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from pydantic import SecretStr
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CommandCounter, bench_servers, describe
from engine.app import Engine
from engine.credentials.sealing import generate_private_key, public_key_of
from engine.settings import Settings, StorageAccess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def s3_server() -> tuple[str, str, str, subprocess.Popen[bytes] | None]:
    if url := os.environ.get("JETFLOW_BENCH_S3_URL"):
        return url, os.environ.get("JETFLOW_BENCH_S3_ACCESS_KEY", "minioadmin"), "", None
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return f"http://127.0.0.1:{port}", "admin", "adminsecret", process


def request(i: int) -> dict[str, str]:
    """The i-th credential request; sending it again is a replay (same id)."""
    return {
        "id": f"run-{i}:credential:minio",
        "execution": f"run-{i}",
        "storage": "minio",
        "bucket": "bench",
        "access": "read",
        "compute": "node-a",
        "expires_at": "2099-01-01T00:00:00Z",
    }


async def timed(nc: Any, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    reply = await nc.request("jetflow.ctl.credential.request", json.dumps(body).encode(), timeout=30)
    return json.loads(reply.data), time.perf_counter() - started


async def main(requests: int) -> None:
    counter = CommandCounter()
    monitoring.register(counter)
    endpoint, access_key, secret_key, moto = await asyncio.to_thread(s3_server)
    secret_key = secret_key or os.environ.get("JETFLOW_BENCH_S3_SECRET_KEY", "minioadmin")
    role_arn = None
    if moto is not None:
        import boto3  # type: ignore[import-untyped]  # moto's dependency

        options = {
            "endpoint_url": endpoint,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
            "region_name": "us-east-1",
        }
        boto3.client("s3", **options).create_bucket(Bucket="bench")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
        role_arn = boto3.client("iam", **options).create_role(
            RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
    private = generate_private_key()
    try:
        async with bench_servers() as (nats_url, mongo_url, database):
            with tempfile.TemporaryDirectory() as folder:
                settings = Settings.load(
                    mongo_db=database,
                    manifests_dir=Path(folder),
                    peer_private_key=SecretStr(private),
                    storages={
                        "minio": StorageAccess(
                            endpoint=endpoint,
                            access_key=access_key,
                            secret_key=SecretStr(secret_key),
                            role_arn=role_arn,
                            buckets=("bench",),
                        )
                    },
                    scheduler_enabled=False,
                    _env_file=None,
                )
                engine = Engine(settings, nats_url=nats_url, mongo_url=mongo_url)
                await engine.start()
                nc = await nats.connect(nats_url)
                try:
                    js = nc.jetstream()
                    await js.publish(
                        "jetflow.resource.upsert",
                        json.dumps({"id": "minio", "kind": "storage", "endpoint": endpoint}).encode(),
                    )
                    await js.publish(
                        "jetflow.resource.upsert",
                        json.dumps({"id": "node-a", "kind": "compute", "public_key": public_key_of(private)}).encode(),
                    )
                    await asyncio.sleep(1.0)
                    first, replay = [], []
                    before = counter.total()
                    for i in range(requests):
                        outcome, seconds = await timed(nc, request(i))
                        assert outcome["status"] == "issued", outcome
                        first.append(seconds)
                    after_first = counter.total()
                    for i in range(requests):
                        outcome, seconds = await timed(nc, request(i))
                        assert outcome["status"] == "issued", outcome
                        replay.append(seconds)
                    after_replay = counter.total()
                finally:
                    await nc.close()
                    await engine.stop()
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
    print(f"credentials, {requests} requests one at a time (STS: {'moto' if moto else endpoint})")
    print(f"  first request : {describe(first)}")
    ratio = statistics.median(first) / statistics.median(replay)
    print(f"  replay        : {describe(replay)}  (first/replay p50 ratio {ratio:.0f}x)")
    print(
        f"  store commands: {(after_first - before) / requests:.1f} per first request, "
        f"{(after_replay - after_first) / requests:.1f} per replay"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    asyncio.run(main(parser.parse_args().requests))
