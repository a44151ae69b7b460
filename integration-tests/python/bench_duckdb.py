"""The offline benchmark's reference: the same point-in-time join with DuckDB's
ASOF LEFT JOIN over the same files (entity rows in Parquet; the group's Delta
table read through its Parquet data files). Prints JSON on stdout:
wall seconds of the join (materialised into a table), rows, peak RSS, and the
checksums the Rust side computes too.

    bench_duckdb.py ENTITIES.parquet DELTA_TABLE_DIR FEATURES THREADS
"""
import json
import resource
import sys
import time

import duckdb


def main() -> None:
    entities, table, features, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    columns = ", ".join(f"f.f{i}" for i in range(features))
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
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
