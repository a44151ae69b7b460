"""`make bench-sdk`: what the Python SDK adds to the calls a notebook makes,
measured beside the same calls made from Rust (bench_sdk_reference) against
the same release `standalone` in the same run.

- 100-vector ``get_feature_vectors`` (``--calls`` sequential calls, one in
  flight; call i asks the keys (i*7919 + j*104729) mod --entities, as the
  Rust side does): p50/p99 per call, to dicts, and to pandas.
- ``get_historical_features`` of ``--entity-rows`` rows into pandas (and into
  Arrow): wall time and peak RSS, each in a fresh process.

Writes bench-results/sdk.json and prints a text table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import featurestore

REPO = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/featurestore/target"))
SERVICES = ("registry", "ingestion", "serving", "offline", "materialization")
FEATURES = [f"f{i}" for i in range(10)]


def free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_standalone(data_dir: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    addresses = dict(zip(SERVICES, (f"127.0.0.1:{p}" for p in free_ports(5)), strict=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FS_STANDALONE_")}
    env["FS_STANDALONE_TELEMETRY__LOG_LEVEL"] = "warn"
    env["FS_STANDALONE_QUERY__MEMORY_LIMIT_MB"] = "4096"
    for name, address in addresses.items():
        env[f"FS_STANDALONE_LISTEN__{name.upper()}"] = address
    process = subprocess.Popen(
        [str(TARGET / "release/standalone"), "--data-dir", str(data_dir)], env=env
    )
    client = featurestore.Client(**addresses)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list("projects")
            return process, addresses
        except featurestore.FeatureStoreError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.1)


def spec(entities: int) -> dict:
    return {
        "project": "bench",
        "entities": [{"name": "item", "join_keys": [{"name": "item_id", "type": "int64"}]}],
        "feature_groups": [
            {
                "name": "stats",
                "entity": "item",
                "event_time_column": "event_time",
                "partitions": 4,
                "features": [{"name": f, "type": "float64"} for f in FEATURES],
            }
        ],
        "feature_views": [{"name": "model", "features": [{"group": "stats"}]}],
    }


def load(client: featurestore.Client, entities: int, versions: int) -> featurestore.WriteResult:
    """``versions`` rows per entity, a day apart, ending yesterday."""
    rng = np.random.default_rng(7)
    n = entities * versions
    end = np.datetime64("now", "us") - np.timedelta64(1, "D")
    times = end - (np.arange(n) // entities).astype("timedelta64[D]")
    table = pa.table(
        {
            "item_id": pa.array(np.arange(n) % entities, pa.int64()),
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            **{f: pa.array(rng.random(n)) for f in FEATURES},
        }
    )
    return client.ingest("stats", table, chunk_rows=50_000)


def entity_rows(path: Path, entities: int, rows: int) -> None:
    rng = np.random.default_rng(11)
    now = np.datetime64("now", "us")
    offsets = rng.integers(0, 10 * 86_400_000_000, rows).astype("timedelta64[us]")
    pq.write_table(
        pa.table(
            {
                "item_id": pa.array(rng.integers(0, entities, rows), pa.int64()),
                "event_timestamp": pa.array(now - offsets, pa.timestamp("us", tz="UTC")),
                "label": pa.array(rng.random(rows)),
            }
        ),
        path,
    )


def quantile_ms(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    i = min(max(int(np.ceil(len(ordered) * p)), 1), len(ordered)) - 1
    return ordered[i] * 1e3


def vectors(client: featurestore.Client, entities: int, calls: int, batch: int, to: str) -> dict:
    times = []
    for i in range(calls):
        keys = [(i * 7919 + j * 104729) % entities for j in range(batch)]
        start = time.perf_counter()
        result = client.get_feature_vectors("model", keys)
        if to == "dicts":
            result.to_dicts()
        elif to == "pandas":
            result.to_pandas()
        times.append(time.perf_counter() - start)
    return {
        "calls": calls,
        "batch": batch,
        "p50_ms": quantile_ms(times, 0.5),
        "p99_ms": quantile_ms(times, 0.99),
    }


def grpcio_stub(addresses: dict[str, str], entities: int, calls: int, batch: int) -> dict:
    """The same calls through the generated stub alone (request built before
    the clock starts, response left as protobuf): what grpcio itself costs."""
    import grpc

    from featurestore.v1 import serving_pb2, serving_pb2_grpc, types_pb2

    stub = serving_pb2_grpc.OnlineServingServiceStub(grpc.insecure_channel(addresses["serving"]))
    view = serving_pb2.FeatureSelector(view=types_pb2.FeatureViewRef(project="bench", name="model"))
    times = []
    for i in range(calls):
        rows = [
            types_pb2.Row(values=[types_pb2.Value(int64_value=(i * 7919 + j * 104729) % entities)])
            for j in range(batch)
        ]
        request = serving_pb2.GetFeatureVectorsRequest(
            project="bench", selector=view, join_keys=["item_id"], entity_rows=rows
        )
        start = time.perf_counter()
        stub.GetFeatureVectors(request)
        times.append(time.perf_counter() - start)
    return {
        "calls": calls,
        "batch": batch,
        "p50_ms": quantile_ms(times, 0.5),
        "p99_ms": quantile_ms(times, 0.99),
    }


def historical_child(addresses: dict[str, str], path: str, to: str) -> None:
    """Runs in a fresh process: one historical read, wall time and peak RSS."""
    table = pq.read_table(path)
    if to == "pandas":
        # pandas imported and its conversion machinery warmed before the
        # clock, as in a notebook that has used it once (the first zoned
        # timestamp column a process converts costs ~0.16 s once).
        pa.table({"x": pa.array([0], pa.timestamp("us", tz="UTC"))}).to_pandas()
    client = featurestore.Client(**addresses, project="bench", timeout=600)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    result = client.get_historical_features("model", table)
    frame = result.to_pandas() if to == "pandas" else result.to_arrow()
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "rows": len(frame),
                "wall_s": wall,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "peak_rss_before_bytes": before,
            }
        )
    )


def historical(addresses: dict[str, str], path: Path, to: str, runs: int) -> dict:
    """The median run of ``runs``, each in a fresh process (its peak RSS is
    the read's); ``wall_s_runs`` lists them all."""
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--historical-child", json.dumps(addresses), str(path), to],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout))
    return median_run(results)


def median_run(results: list[dict]) -> dict:
    ordered = sorted(results, key=lambda r: r["wall_s"])
    median = dict(ordered[len(ordered) // 2])
    median["wall_s_runs"] = [r["wall_s"] for r in results]
    median["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in results)
    return median


def rust(addresses: dict[str, str], args, entities_file: Path) -> dict:
    """The reference's vectors once, its historical read the median of
    ``--runs`` fresh processes."""
    runs = [rust_once(addresses, args, entities_file) for _ in range(args.runs)]
    return {
        "vectors": runs[0]["vectors"],
        "historical": median_run([r["historical"] for r in runs]),
    }


def rust_once(addresses: dict[str, str], args, entities_file: Path) -> dict:
    out = subprocess.run(
        [
            str(TARGET / "release/bench_sdk_reference"),
            "--serving",
            f"http://{addresses['serving']}",
            "--offline",
            f"http://{addresses['offline']}",
            "--project",
            "bench",
            "--view",
            "model",
            "--join-key",
            "item_id",
            "--keys",
            str(args.entities),
            "--batch",
            str(args.batch),
            "--calls",
            str(args.calls),
            "--entities",
            str(entities_file),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--historical-child":
        historical_child(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=5, help="feature rows per entity")
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="historical reads per side (median)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as tmp:
        process, addresses = start_standalone(Path(tmp) / "data")
        try:
            client = featurestore.Client(**addresses, project="bench", timeout=600)
            client.apply(spec(args.entities))
            started = time.perf_counter()
            written = load(client, args.entities, args.versions)
            ingest_s = time.perf_counter() - started
            # Every row online and offline before anything is timed.
            client.get_feature_vectors("model", [0], after=written, max_wait=2.5)
            _ = client.read_feature_group("stats", after=written, max_wait=25)
            entities_file = Path(tmp) / "entities.parquet"
            entity_rows(entities_file, args.entities, args.entity_rows)

            # Warm-up: the server's caches and the historical read's files.
            vectors(client, args.entities, 200, args.batch, "raw")
            historical(addresses, entities_file, "arrow", 1)
            report = {
                "setup": {
                    "entities": args.entities,
                    "feature_rows": written.rows,
                    "features": len(FEATURES),
                    "entity_rows": args.entity_rows,
                    "sdk_ingest_rows_per_s": written.rows / ingest_s,
                },
                "rust": rust(addresses, args, entities_file),
                "python_grpcio_stub": grpcio_stub(addresses, args.entities, args.calls, args.batch),
                "python_vectors": vectors(client, args.entities, args.calls, args.batch, "raw"),
                "python_vectors_dicts": vectors(
                    client, args.entities, args.calls, args.batch, "dicts"
                ),
                "python_vectors_pandas": vectors(
                    client, args.entities, args.calls, args.batch, "pandas"
                ),
                "python_historical_arrow": historical(addresses, entities_file, "arrow", args.runs),
                "python_historical_pandas": historical(
                    addresses, entities_file, "pandas", args.runs
                ),
            }
        finally:
            process.kill()
            process.wait()

    write_report(report)


def write_report(report: dict) -> None:
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "sdk.json").write_text(json.dumps(report, indent=2) + "\n")
    rust_v, rust_h = report["rust"]["vectors"], report["rust"]["historical"]
    setup = report["setup"]
    print(
        f"setup: {setup['entities']} entities x {setup['features']} float64 features, "
        f"{setup['feature_rows']} feature rows (ingested by the SDK at "
        f"{setup['sdk_ingest_rows_per_s']:.0f} rows/s), {setup['entity_rows']} entity rows"
    )
    print(f"\n{'100-vector call':<34}{'p50 ms':>10}{'p99 ms':>10}{'+p99 ms':>10}")
    for label, v in [
        ("rust (tonic)", rust_v),
        ("python: grpcio stub, no SDK", report["python_grpcio_stub"]),
        ("python: SDK get_feature_vectors", report["python_vectors"]),
        ("python: SDK + to_dicts()", report["python_vectors_dicts"]),
        ("python: SDK + to_pandas()", report["python_vectors_pandas"]),
    ]:
        extra = v["p99_ms"] - rust_v["p99_ms"]
        print(f"{label:<34}{v['p50_ms']:>10.2f}{v['p99_ms']:>10.2f}{extra:>+10.2f}")
    print(
        f"\n{'historical read':<34}{'rows':>10}{'wall s':>10}{'vs rust':>10}"
        f"{'peak MB':>10}{'+MB':>8}"
    )
    for label, h in [
        ("rust (Flight, Arrow batches)", rust_h),
        ("python: to_arrow()", report["python_historical_arrow"]),
        ("python: to_pandas()", report["python_historical_pandas"]),
    ]:
        ratio = h["wall_s"] / rust_h["wall_s"] - 1
        peak = h["peak_rss_bytes"] / 2**20
        added = (h["peak_rss_bytes"] - h["peak_rss_before_bytes"]) / 2**20
        print(
            f"{label:<34}{h['rows']:>10}{h['wall_s']:>10.2f}{ratio:>+10.1%}"
            f"{peak:>10.0f}{added:>8.0f}"
        )
    print(
        "(wall s: median of the runs, each in a fresh process; +MB: peak RSS during the read "
        "minus before it, the entity rows already in memory)"
    )
    print("\n(bench-results/sdk.json)")


if __name__ == "__main__":
    main()
