"""A real S3-compatible server for the storage tests: moto's standalone server on loopback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

BUCKET = "raylaws-test"


@pytest.fixture(scope="session")
def s3() -> Iterator[str]:
    """A moto S3 server on a free loopback port with one bucket; yields the sweeps' storage URI."""
    moto_server = pytest.importorskip("moto.server")
    from pyarrow.fs import S3FileSystem

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True).create_dir(BUCKET)
    yield f"s3://{BUCKET}/sweeps?endpoint_override={host}:{port}&scheme=http"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sweep_uri(storage: str, name: str) -> str:
    base, _, query = storage.partition("?")
    return f"{base}/{name}?{query}"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RAYLAWS_CACHE", str(folder))
    return folder


