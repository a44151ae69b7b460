"""The offline benchmark's reference: the same point-in-time join with DuckDB's
ASOF LEFT JOIN over the same files (entity rows in Parquet; the group's Delta
table read through its Parquet data files). Prints JSON on stdout:
wall seconds of the join (materialised into a table), rows, peak RSS, and the
checksums the Rust side computes too.

    bench_duckdb.py ENTITIES.parquet DELTA_TABLE_DIR FEATURES THREADS
"""
import json
import sys
import time

import duckdb


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    entities, table, features, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    columns = ", ".join(f"f.f{i}" for i in range(features))
    # The peak RSS is inherited across fork and exec: start from this process.
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    started = time.perf_counter()
    con.execute(
        f"""
        CREATE TEMP TABLE result AS
        SELECT e.*, {columns}
        FROM read_parquet('{entities}') e
        ASOF LEFT JOIN read_parquet('{table}/*.parquet') f
          ON e.customer_id = f.customer_id AND e.event_timestamp >= f.event_time
        """
    )
    wall = time.perf_counter() - started
    rows, matched, total, weighted = con.execute(
        "SELECT count(*), count(f0), coalesce(sum(f0), 0), coalesce(sum((row_id % 1000) * f0), 0) FROM result"
    ).fetchone()
    print(
        json.dumps(
            {
                "wall_s": wall,
                "rows": rows,
                "matched": matched,
                "sum_f0": float(total),
                "weighted_f0": float(weighted),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
