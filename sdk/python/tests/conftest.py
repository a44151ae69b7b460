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
from featurestore.errors import DeadlineExceededError, FeatureStoreError

# How long a read waits for the rows a test just wrote (seconds; serving
# caps one wait at 2.5 s, so `settled` asks again until SETTLE runs out: a
# distributed materializer discovers a new group's topic first).
WAIT = 2.5
SETTLE = 60.0


def settled(read, *args, **kwargs):
    """``read(*args, **kwargs)`` (a read with ``after=`` and ``max_wait=WAIT``),
    asked again while its consistency wait runs out, for up to SETTLE
    seconds: observes the rows arriving instead of sleeping."""
    deadline = time.monotonic() + SETTLE
    while True:
        try:
            return read(*args, **kwargs)
        except DeadlineExceededError:
            if time.monotonic() > deadline:
                raise


SERVICES = ("registry", "ingestion", "serving", "offline", "materialization")
REPO = Path(__file__).resolve().parents[3]


def _binary(name: str) -> Path:
    explicit = os.environ.get(f"FS_{name.upper()}_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/featurestore/target"))
    path = Path(target) / "debug" / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: build it first (cargo build --workspace --bins) "
            f"or set FS_{name.upper()}_BIN"
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


def _run_fsctl(addresses: dict[str, str], args, check: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name, address in addresses.items():
        env[f"FS_{name.upper()}_ADDR"] = f"http://{address}"
    result = subprocess.run([str(_binary("fsctl")), *args], env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"fsctl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        )
    return result


def _wait_ready(
    addresses: dict[str, str], processes, credentials: dict | None = None, seconds: float = 90.0
) -> None:
    """Until the registry answers and every other service accepts connections."""
    client = featurestore.Client(**addresses, **(credentials or {}))
    deadline = time.monotonic() + seconds
    while True:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            client.list("projects")
            for address in addresses.values():
                host, port = address.rsplit(":", 1)
                socket.create_connection((host, int(port)), timeout=1).close()
            break
        except (FeatureStoreError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    client.close()


class Standalone:
    """A running ``standalone`` process."""

    mode = "standalone"

    def __init__(
        self, data_dir: Path, config: Path | None = None, credentials: dict | None = None
    ) -> None:
        """``config``: a TOML file (TLS, auth); ``credentials``: the Client
        arguments that reach it (``tls_ca``, ``token``, ...)."""
        self.data_dir = data_dir
        self.credentials = credentials or {}
        self.addresses = dict(
            zip(SERVICES, (f"127.0.0.1:{p}" for p in _free_ports(5)), strict=False)
        )
        env = dict(os.environ)
        env.pop("FS_STANDALONE_CONFIG", None)
        env["FS_STANDALONE_TELEMETRY__LOG_LEVEL"] = "warn"
        for name, address in self.addresses.items():
            env[f"FS_STANDALONE_LISTEN__{name.upper()}"] = address
        args = [str(_binary("standalone")), "--data-dir", str(data_dir)]
        if config is not None:
            args += ["--config", str(config)]
        self.log = open(data_dir.parent / "standalone.log", "w")
        self.process = subprocess.Popen(
            args,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        _wait_ready(self.addresses, [self.process], self.credentials)

    def client(self, **kwargs) -> featurestore.Client:
        return featurestore.Client(**self.addresses, **{**self.credentials, **kwargs})

    def fsctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run_fsctl(self.addresses, args, check)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()


class Distributed:
    """The five services as separate processes over the test etcd, Kafka and
    Cassandra (``make infra-up``), each on a free port; catalog under an etcd
    root of its own, topics under a prefix of its own."""

    mode = "distributed"

    def __init__(self, root: Path, prefix: str) -> None:
        ports = _free_ports(5)
        self.addresses = dict(zip(SERVICES, (f"127.0.0.1:{p}" for p in ports), strict=False))
        etcd = os.environ.get("FS_ETCD_ENDPOINT", "http://127.0.0.1:2379")
        kafka = os.environ.get("FS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
        cassandra = os.environ.get("FS_CASSANDRA_NODE", "127.0.0.1:9042")
        common = {
            "ETCD__ENDPOINTS": f'["{etcd}"]',
            "ETCD__ROOT": f"/featurestore-sdk-tests/{prefix}",
            "TELEMETRY__LOG_LEVEL": "warn",
        }
        events = {"KAFKA__BOOTSTRAP_SERVERS": kafka}
        store = {"CASSANDRA__NODES": f'["{cassandra}"]', "CASSANDRA__KEYSPACE": "fs_sdk_tests"}
        offline = {"OFFLINE__ROOT": str(root / "offline")}
        services = {
            # binary, env prefix, settings beside the common ones
            "registry": ("registry", "FS_REGISTRY_", {}),
            "ingestion": ("ingestion", "FS_INGESTION_", events),
            "materialization": (
                "materialization",
                "FS_MATERIALIZATION_",
                {
                    **store,
                    **offline,
                    **events,
                    "KAFKA__GROUP_ID": f"materialization-{prefix}",
                    "KAFKA__TOPIC_PREFIX": f"fs.{prefix}",
                },
            ),
            "serving": ("online-serving", "FS_SERVING_", {**store, **events}),
            "offline": (
                "offline-query",
                "FS_OFFLINE_",
                {**offline, **events, "DATASETS__ROOT": str(root / "datasets")},
            ),
        }
        self.logs = []
        self.processes = []
        for name, (binary, env_prefix, settings) in services.items():
            env = {k: v for k, v in os.environ.items() if not k.startswith(env_prefix)}
            env[f"{env_prefix}SERVER__LISTEN_ADDR"] = self.addresses[name]
            for key, value in {**common, **settings}.items():
                env[f"{env_prefix}{key}"] = value
            log = open(root / f"{binary}.log", "w")
            self.logs.append(log)
            self.processes.append(
                subprocess.Popen(
                    [str(_binary(binary))], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        _wait_ready(self.addresses, self.processes)

    def client(self, **kwargs) -> featurestore.Client:
        return featurestore.Client(**self.addresses, **kwargs)

    def fsctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run_fsctl(self.addresses, args, check)

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        for log in self.logs:
            log.close()


# Every project of this run starts with it (the distributed materializer
# follows only this run's topics).
RUN = f"sdk{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def standalone():
    root = Path(tempfile.mkdtemp(prefix="featurestore-sdk-"))
    running = Standalone(root / "data")
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def distributed():
    root = Path(tempfile.mkdtemp(prefix="featurestore-sdk-distributed-"))
    running = Distributed(root, RUN)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["standalone", "distributed"])
def store(request):
    """Each test that takes it runs against both modes."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def project() -> str:
    """A project name of its own for each test."""
    return f"{RUN}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def repo() -> Path:
    return REPO
