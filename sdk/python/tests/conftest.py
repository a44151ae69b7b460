"""A ``standalone`` feature store started for the tests (the binary as a user
runs it, on free ports over a temporary data directory), and ``fsctl`` run
against it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import featurestore
from featurestore.errors import FeatureStoreError

SERVICES = ("registry", "ingestion", "serving", "offline", "materialization")
REPO = Path(__file__).resolve().parents[3]


def _binary(name: str) -> Path:
    explicit = os.environ.get(f"FS_{name.upper()}_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get(
        "CARGO_TARGET_DIR", os.path.expanduser("~/.cache/featurestore/target")
    )
    path = Path(target) / "debug" / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: build it first (cargo build -p featurestore-standalone "
            f"-p fsctl --bin standalone --bin fsctl) or set FS_{name.upper()}_BIN"
        )
    return path


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Standalone:
    """A running ``standalone`` process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.addresses = dict(zip(SERVICES, (f"127.0.0.1:{p}" for p in _free_ports(5))))
        env = dict(os.environ)
        env.pop("FS_STANDALONE_CONFIG", None)
        env["FS_STANDALONE_TELEMETRY__LOG_LEVEL"] = "warn"
        for name, address in self.addresses.items():
            env[f"FS_STANDALONE_LISTEN__{name.upper()}"] = address
        self.log = open(data_dir.parent / "standalone.log", "w")
        self.process = subprocess.Popen(
            [str(_binary("standalone")), "--data-dir", str(data_dir)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, seconds: float = 60.0) -> None:
        client = self.client()
        deadline = time.monotonic() + seconds
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"standalone exited with {self.process.returncode}")
            try:
                client.list("projects")
                for name in ("ingestion", "serving", "offline", "materialization"):
                    socket.create_connection(
                        ("127.0.0.1", int(self.addresses[name].rsplit(":", 1)[1])), timeout=1
                    ).close()
                break
            except (FeatureStoreError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()

    def client(self, **kwargs) -> featurestore.Client:
        return featurestore.Client(**self.addresses, **kwargs)

    def fsctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        for name, address in self.addresses.items():
            env[f"FS_{name.upper()}_ADDR"] = f"http://{address}"
        result = subprocess.run(
            [str(_binary("fsctl")), *args], env=env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"fsctl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def standalone():
    root = Path(tempfile.mkdtemp(prefix="featurestore-sdk-"))
    running = Standalone(root / "data")
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def project() -> str:
    """A project name of its own for each test."""
    return f"sdk_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def repo() -> Path:
    return REPO
