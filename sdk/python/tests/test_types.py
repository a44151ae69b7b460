"""Every value type through the SDK and back: Arrow, polars and pandas frames
in; vectors and the offline table out; nulls, lists and zoned timestamps."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import WAIT, settled

from featurestore.errors import IngestError

UTC = pa.timestamp("us", tz="UTC")
TYPES = {
    "b": ("bool", pa.bool_()),
    "i32": ("int32", pa.int32()),
    "i64": ("int64", pa.int64()),
    "f32": ("float32", pa.float32()),
    "f64": ("float64", pa.float64()),
    "s": ("string", pa.string()),
    "by": ("bytes", pa.binary()),
    "ts": ("timestamp", UTC),
    "lb": ("list<bool>", pa.list_(pa.bool_())),
    "li32": ("list<int32>", pa.list_(pa.int32())),
    "li64": ("list<int64>", pa.list_(pa.int64())),
    "lf32": ("list<float32>", pa.list_(pa.float32())),
    "lf64": ("list<float64>", pa.list_(pa.float64())),
    "ls": ("list<string>", pa.list_(pa.string())),
    "lby": ("list<bytes>", pa.list_(pa.binary())),
    "lts": ("list<timestamp>", pa.list_(UTC)),
}


@pytest.fixture
def typed(store, project, tmp_path):
    features = "\n".join(f"      - {{name: {n}, type: '{t}'}}" for n, (t, _) in TYPES.items())
    spec = tmp_path / "typed.yaml"
    spec.write_text(
        f"""project: {project}
entities:
  - name: thing
    join_keys: [{{name: id, type: int64}}]
feature_groups:
  - name: typed
    entity: thing
    event_time_column: at
    features:
{features}
feature_views:
  - name: everything
    features: [{{group: typed}}]
"""
    )
    store.fsctl("apply", "-f", str(spec))
    return store.client(project=project)


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def rows() -> pa.Table:
    """Three rows: every value set, every value null, and empty lists.
    Timestamps are in other zones and units than what comes back."""
    t0 = paris(2026, 3, 1, 12, 30, 15, 123456)
    t1 = paris(2026, 3, 2, 8, 0)
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "at": pa.array([t0, t0, t1], pa.timestamp("ns", tz="Europe/Paris")),
            "b": pa.array([True, None, False]),
            "i32": pa.array([-7, None, 2**31 - 1], pa.int32()),
            "i64": pa.array([2**60, None, -1], pa.int64()),
            "f32": pa.array([1.5, None, -0.25], pa.float32()),
            "f64": pa.array([3.141592653589793, None, 1e300], pa.float64()),
            "s": pa.array(["héllo", None, ""], pa.string()),
            "by": pa.array([b"\x00\xff", None, b""], pa.binary()),
            "ts": pa.array([t1, None, t0], pa.timestamp("ms", tz="America/New_York")),
            "lb": pa.array([[True, False], None, []], pa.list_(pa.bool_())),
            "li32": pa.array([[1, -2], None, []], pa.list_(pa.int32())),
            "li64": pa.array([[2**40], None, []], pa.list_(pa.int64())),
            "lf32": pa.array([[0.5, 2.0], None, []], pa.list_(pa.float32())),
            "lf64": pa.array([[1e-9, 2.5], None, []], pa.list_(pa.float64())),
            "ls": pa.array([["a", "b"], None, []], pa.list_(pa.string())),
            "lby": pa.array([[b"x", b""], None, []], pa.list_(pa.binary())),
            "lts": pa.array([[t0, t1], None, []], pa.list_(pa.timestamp("us", tz="Asia/Tokyo"))),
        }
    )


def expected(table: pa.Table) -> dict[str, list]:
    """Each feature as the store gives it back: timestamps in UTC µs."""
    return {n: table.column(n).cast(t).to_pylist() for n, (_, t) in TYPES.items()}


def served(typed, written) -> pa.Table:
    vectors = settled(
        typed.get_feature_vectors, "everything", [1, 2, 3], after=written, max_wait=WAIT
    )
    table = vectors.to_arrow(statuses=True)
    for name, (_, arrow_type) in TYPES.items():
        assert table.schema.field(f"typed__{name}").type == arrow_type, name
    assert table.column("typed__b.status").to_pylist() == ["PRESENT", "NULL", "PRESENT"]
    return table


def check_served(table: pa.Table, source: pa.Table) -> None:
    want = expected(source)
    for name in TYPES:
        assert table.column(f"typed__{name}").to_pylist() == want[name], name


@pytest.mark.parametrize("kind", ["arrow", "polars"])
def test_round_trip_online_and_offline(typed, kind):
    source = rows()
    frame = source if kind == "arrow" else pl.from_arrow(source)
    written = typed.ingest("typed", frame)
    assert written.rows == 3

    check_served(served(typed, written), source)
    if kind == "polars":
        back = typed.get_feature_vectors("everything", [1, 2, 3]).to_polars()
        assert back["typed__s"].to_list() == ["héllo", None, ""]
        assert back["typed__lts"].dtype == pl.List(pl.Datetime("us", "UTC"))

    offline = (
        settled(typed.read_feature_group, "typed", after=written, max_wait=WAIT)
        .to_arrow()
        .sort_by("id")
    )
    want = expected(source)
    for name in TYPES:
        assert offline.column(name).cast(TYPES[name][1]).to_pylist() == want[name], name
    assert (
        offline.column("event_time").cast(UTC).to_pylist()
        == source.column("at").cast(UTC).to_pylist()
    )


def test_round_trip_pandas(typed):
    stamps = pd.to_datetime(["2026-03-01T12:30:15.123456+01:00"] * 3, utc=True)
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "at": stamps.tz_convert("Europe/Paris"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "i32": pd.array([-7, None, 5], dtype="Int32"),
            "i64": pd.array([2**60, None, -1], dtype="Int64"),
            "f64": [3.5, None, 1e300],
            "s": ["héllo", None, ""],
            "ts": pd.Series([stamps[0], pd.NaT, stamps[2]]).dt.tz_convert("America/New_York"),
            "lf64": [[1.0, 2.5], None, []],
            "ls": [["a"], None, []],
        }
    )
    written = typed.ingest("typed", frame)
    back = settled(
        typed.get_feature_vectors, "everything", [1, 2, 3], after=written, max_wait=WAIT
    ).to_pandas()
    assert back["typed__i64"].tolist()[0] == 2**60
    assert back["typed__i32"].isna().tolist() == [False, True, False]
    assert back["typed__s"].isna().tolist() == [False, True, False]
    assert back["typed__s"][0] == "héllo" and back["typed__s"][2] == ""
    assert back["typed__ts"][0] == stamps[0]
    assert str(back["typed__ts"].dt.tz) == "UTC"
    assert pd.isna(back["typed__ts"][1])
    assert [None if v is None else list(v) for v in back["typed__lf64"]] == [[1.0, 2.5], None, []]
    # Features the frame did not name are written as null.
    assert back["typed__by"].isna().all()


def test_bad_rows_are_listed_and_nothing_is_written(typed):
    source = rows()
    ids = pa.array([1, None, 3, None], pa.int64())
    bad = pa.concat_tables([source, source.slice(0, 1)]).set_column(0, "id", ids)
    with pytest.raises(IngestError) as e:
        typed.ingest("typed", bad)
    assert e.value.code.name == "INVALID_ARGUMENT"
    assert [(r.row, r.field) for r in e.value.rows] == [(1, "id"), (3, "id")]
    assert all(r.reason for r in e.value.rows)
    assert [v.field for v in e.value.violations] == ["rows[1].id", "rows[3].id"]
    vectors = typed.get_feature_vectors("everything", [1, 3])
    assert vectors.statuses == [["NOT_FOUND"] * len(TYPES)] * 2


def test_chunked_ingest_names_rows_of_the_frame(typed):
    source = rows()
    ids = pc.add(source.column("id"), 10)
    good_then_bad = pa.concat_tables([source, source]).set_column(
        0, "id", pa.array(ids.to_pylist() + [21, None, 23], pa.int64())
    )
    with pytest.raises(IngestError) as e:
        typed.ingest("typed", good_then_bad, chunk_rows=3)
    assert [(r.row, r.field) for r in e.value.rows] == [(4, "id")]
    assert e.value.rows_written == 3
    # The first request's rows were written; the refused one's were not.
    statuses = settled(
        typed.get_feature_vectors, "everything", [11, 21], after=e.value, max_wait=WAIT
    ).statuses
    assert statuses[0][0] == "PRESENT"
    assert statuses[1] == ["NOT_FOUND"] * len(TYPES)

    fine = typed.ingest("typed", pa.concat_tables([source] * 3), chunk_rows=4)
    assert (fine.rows, len(fine.write_tokens)) == (9, 3)
    with pytest.raises(ValueError, match="3 requests"):
        _ = fine.write_token
    check_served(served(typed, fine), source)


def test_every_serving_status_has_its_name():
    """A status added to the contract (BACKFILLING, say) is named, never
    UNSPECIFIED."""
    from featurestore.v1 import serving_pb2
    from featurestore.vectors import status_name

    for name, number in serving_pb2.FeatureStatus.items():
        if number:
            assert status_name(number) == name.removeprefix("FEATURE_STATUS_")
