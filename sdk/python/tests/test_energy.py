"""The notebook flow on the energy example: a pandas frame in, vectors out,
historical features and a training set identical to the one fsctl builds."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import WAIT, settled

import featurestore
from featurestore.errors import NotFoundError


@pytest.fixture
def energy(store, project, repo, tmp_path):
    """The energy spec applied by fsctl under a project of the test's own."""
    text = (repo / "examples/energy/energy.yaml").read_text()
    spec = tmp_path / "energy.yaml"
    spec.write_text(text.replace("project: energy", f"project: {project}", 1))
    store.fsctl("apply", "-f", str(spec))
    return store.client(project=project)


def daily(repo) -> pd.DataFrame:
    frame = pd.read_csv(repo / "examples/energy/daily_readings.csv")
    frame["day"] = pd.to_datetime(frame["day"], utc=True)
    return frame


def training_rows(repo) -> pd.DataFrame:
    frame = pd.read_csv(repo / "examples/energy/training_rows.csv")
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def test_ingest_pandas_then_vectors(energy, repo):
    frame = daily(repo)
    written = energy.ingest("daily_readings", frame)
    assert written.rows == len(frame)
    assert len(written.write_tokens) == 1

    vectors = settled(
        energy.get_feature_vectors,
        "consumption_model",
        [{"household_id": "MAC000000"}, "MAC000001", "nobody"],
        after=written,
        max_wait=WAIT,
        include_event_times=True,
    )
    latest = frame[frame.household_id == "MAC000000"].sort_values("day").iloc[-1]
    rows = vectors.to_dicts()
    assert rows[0]["household_id"] == "MAC000000"
    assert rows[0]["daily_readings__energy_sum"] == pytest.approx(latest.energy_sum)
    assert rows[0]["daily_readings__energy_count"] == latest.energy_count
    assert vectors.statuses[0] == ["PRESENT"] * 7
    assert vectors.statuses[2] == ["NOT_FOUND"] * 7
    assert rows[2]["daily_readings__energy_sum"] is None
    assert vectors.event_times[0][0] == latest.day.to_pydatetime()

    table = vectors.to_arrow(statuses=True, event_times=True)
    assert table.schema.field("daily_readings__energy_count").type == pa.int64()
    assert table.schema.field("daily_readings__energy_sum").type == pa.float64()
    assert table.column("daily_readings__energy_sum.status").to_pylist()[2] == "NOT_FOUND"
    assert table.schema.field("daily_readings__energy_sum.event_time").type == pa.timestamp(
        "us", tz="UTC"
    )
    polars_frame = vectors.to_polars()
    assert polars_frame.shape == (3, 8)
    assert vectors.to_pandas()["household_id"].tolist() == ["MAC000000", "MAC000001", "nobody"]


def test_keys_from_a_frame_and_freshness(energy, repo):
    written = energy.ingest("daily_readings", daily(repo))
    keys = pd.DataFrame({"household_id": ["MAC000002", "MAC000003"]})
    vectors = settled(
        energy.get_feature_vectors,
        "consumption_model",
        keys,
        after=written,
        include_freshness=True,
        max_wait=WAIT,
    )
    assert [d["household_id"] for d in vectors.to_dicts()] == ["MAC000002", "MAC000003"]
    assert vectors.statuses == [["PRESENT"] * 7] * 2
    [fresh] = vectors.freshness
    assert fresh.group == "daily_readings"
    assert fresh.watermark is not None
    status = energy.materialization_status("daily_readings")
    assert len(status.partitions) == 4
    assert status.online_watermark_micros > 0


def test_historical_features_and_training_set_match_fsctl(energy, store, repo, tmp_path):
    written = energy.ingest("daily_readings", daily(repo))
    entities = training_rows(repo)

    historical = settled(
        energy.get_historical_features, "consumption_model", entities, after=written, max_wait=WAIT
    )
    from_sdk = historical.to_arrow()
    assert from_sdk.num_rows == len(entities)
    assert set(historical.table_versions)  # the Delta version each group was read at
    assert historical.to_pandas().shape == (len(entities), from_sdk.num_columns)
    assert historical.to_polars().height == len(entities)
    assert sum(b.num_rows for b in historical.to_batches()) == len(entities)

    created = energy.training_sets.create("consumption", "consumption_model", entities)
    assert (created.name, created.version, created.row_count) == ("consumption", 1, len(entities))
    assert [s.name for s in energy.training_sets.list()] == ["consumption"]
    sdk_set = energy.training_sets.read("consumption").to_arrow()

    # The same training set through fsctl: entity rows from a Parquet file.
    entities_file = tmp_path / "entities.parquet"
    pq.write_table(pa.Table.from_pandas(entities, preserve_index=False), entities_file)
    store.fsctl(
        "training-set",
        "create",
        "consumption_cli",
        "-p",
        energy.project,
        "--view",
        "consumption_model",
        "--entities",
        str(entities_file),
    )
    exported = tmp_path / "exported.parquet"
    store.fsctl(
        "training-set", "export", "consumption_cli", "-p", energy.project, "--out", str(exported)
    )
    from_fsctl = pq.read_table(exported)

    order = [("household_id", "ascending"), ("event_timestamp", "ascending")]
    assert sdk_set.sort_by(order).equals(from_fsctl.sort_by(order))
    assert from_sdk.sort_by(order).equals(from_fsctl.sort_by(order))
    # Values as of each row's time: the day before the row's timestamp.
    first = from_sdk.sort_by(order).slice(0, 1).to_pylist()[0]
    assert first["daily_readings__energy_sum"] is not None


def test_read_feature_group_as_of(energy, repo):
    frame = daily(repo)
    first, second = frame.iloc[:1000], frame.iloc[1000:]
    written = energy.ingest("daily_readings", first)
    assert (
        settled(energy.read_feature_group, "daily_readings", after=written, max_wait=WAIT)
        .to_arrow()
        .num_rows
        == 1000
    )
    between = dt.datetime.now(dt.timezone.utc)
    written = energy.ingest("daily_readings", second)
    latest = settled(
        energy.read_feature_group, "daily_readings", after=written, max_wait=WAIT
    ).to_pandas()
    assert len(latest) == len(frame)
    assert energy.read_feature_group("daily_readings", as_of=between).to_arrow().num_rows == 1000
    with pytest.raises(NotFoundError, match="no version that old"):
        energy.read_feature_group("daily_readings", as_of=dt.datetime(2000, 1, 1))


def test_errors_carry_the_code_and_message(energy):
    with pytest.raises(NotFoundError) as e:
        energy.get_feature_vectors("no_such_view", ["x"])
    assert e.value.code.name == "NOT_FOUND"
    assert "no_such_view" in e.value.message
    with pytest.raises(ValueError, match="after_write"):
        energy.get_feature_vectors("consumption_model", ["x"], consistency="after_write")
    with pytest.raises(ValueError, match="missing 'household_id'"):
        energy.get_feature_vectors("consumption_model", [{}])
    with pytest.raises(ValueError, match="'household' is not a join key"):
        energy.get_feature_vectors("consumption_model", [{"household": "x"}])
    with pytest.raises(TypeError, match="household_id=7: not a string"):
        energy.get_feature_vectors("consumption_model", [7])


def test_timeout_is_a_deadline_error(energy, repo):
    # A point-in-time join takes the server far longer than a millisecond.
    with pytest.raises(featurestore.FeatureStoreError) as e:
        energy.get_historical_features("consumption_model", training_rows(repo), timeout=1e-3)
    assert e.value.code.name == "DEADLINE_EXCEEDED"
    assert isinstance(e.value, TimeoutError)
