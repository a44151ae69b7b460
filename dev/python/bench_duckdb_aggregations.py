"""The aggregations benchmark's offline reference: DuckDB computing the same
8 aggregated features point in time with SQL, under the same window rule
(ARCHITECTURE.md, "Windowed aggregations"): for an entity row (card, t),
the card's events with event time in [E - W, t], E the end of the 5-minute
tile holding t. Reads the entity rows from Parquet and the event group's
Delta table through its Parquet data files. Prints JSON on stdout: wall
seconds of the query (materialised into a table), rows, and per feature the
sum of its values and the number of non-null values (the Rust side computes
the same from its answer). For the exact functions (count, max, last) the
sum is of the values in tenths, rounded (the amounts have one decimal):
an integer, compared exactly.

    bench_duckdb_aggregations.py ENTITIES.parquet DELTA_TABLE_DIR THREADS
"""

import glob
import json
import sys
import time

import duckdb

MINUTE = 60_000_000
DAY = 24 * 60 * MINUTE
GRAIN = 5 * MINUTE

# name -> SQL aggregate over the window's events (ft: event time in µs),
# window, whether the function is exact.
FEATURES = {
    "n_1h": ("count(*)", 60 * MINUTE, True),
    "amount_1d": ("sum(amount)", DAY, False),
    "mean_7d": ("avg(amount)", 7 * DAY, False),
    "max_30d": ("max(amount)", 30 * DAY, True),
    "stddev_30d": ("stddev_pop(amount)", 30 * DAY, False),
    "n_90d": ("count(*)", 90 * DAY, True),
    "amount_90d": ("sum(amount)", 90 * DAY, False),
    "last_7d": ("arg_max(amount, ft)", 7 * DAY, True),
}


def main() -> None:
    entities, table, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    longest = max(w for _, w, _ in FEATURES.values())
    columns = ",\n".join(
        f"{agg} FILTER (WHERE f.ft >= e.edge - {window}) AS {name}"
        for name, (agg, window, _) in FEATURES.items()
    )
    # The table's data files, not the checkpoints in its _delta_log (the
    # table is append-only: every data file is live).
    files = sorted(
        f
        for f in glob.glob(f"{table}/**/*.parquet", recursive=True)
        if "/_delta_log/" not in f
    )
    started = time.perf_counter()
    con.execute(
        f"""
        CREATE TEMP TABLE result AS
        WITH e AS (
            SELECT row_number() OVER () AS row_id, card_id,
                   epoch_us(event_timestamp) AS t,
                   (epoch_us(event_timestamp) // {GRAIN} + 1) * {GRAIN} AS edge
            FROM read_parquet('{entities}')
        ),
        f AS (
            SELECT card_id, epoch_us(event_time) AS ft, amount
            FROM read_parquet({files!r})
        )
        SELECT e.row_id, {columns}
        FROM e LEFT JOIN f
          ON f.card_id = e.card_id AND f.ft <= e.t AND f.ft >= e.edge - {longest}
        GROUP BY e.row_id
        """
    )
    wall = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM result").fetchone()[0]
    checks = {}
    for name, (_, _, exact) in FEATURES.items():
        value = f"round({name} * 10)" if exact else name
        total, present = con.execute(
            f"SELECT coalesce(sum({value}), 0), count({name}) FROM result"
        ).fetchone()
        checks[name] = {"sum": float(total), "present": present}
    print(json.dumps({"wall_s": wall, "rows": rows, "features": checks}))


if __name__ == "__main__":
    main()
