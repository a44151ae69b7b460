"""Online feature vectors as a caller reads them: dicts, Arrow, pandas or
polars, with each feature's status (and event time, when asked)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from featurestore import _frames, _values
from featurestore.v1 import serving_pb2, types_pb2

_STATUS = {
    serving_pb2.FEATURE_STATUS_PRESENT: "PRESENT",
    serving_pb2.FEATURE_STATUS_NOT_FOUND: "NOT_FOUND",
    serving_pb2.FEATURE_STATUS_OUTSIDE_MAX_AGE: "OUTSIDE_MAX_AGE",
    serving_pb2.FEATURE_STATUS_NULL: "NULL",
    serving_pb2.FEATURE_STATUS_STALE: "STALE",
}


def status_name(status: int) -> str:
    return _STATUS.get(status, "UNSPECIFIED")


@dataclass(frozen=True)
class GroupFreshness:
    """How fresh a group's answer was: its watermark (every row with an
    earlier event time had been applied) and the log offsets read at."""

    project: str
    group: str
    version: int
    watermark: _dt.datetime | None
    applied_offsets: dict[int, int]

    @classmethod
    def of(cls, f: types_pb2.GroupFreshness) -> GroupFreshness:
        return cls(
            project=f.group.project,
            group=f.group.name,
            version=f.group.version,
            watermark=_values.datetime_of(f.watermark_micros) if f.watermark_micros else None,
            applied_offsets=dict(f.applied_offsets),
        )


@dataclass
class FeatureVectors:
    """The answer to :meth:`Client.get_feature_vectors`, in request order.

    ``feature_names`` are ``group__feature`` (the column names training data
    uses); ``statuses[i][j]`` is PRESENT, NOT_FOUND, NULL, OUTSIDE_MAX_AGE or
    STALE; ``event_times`` is filled when the request asked for them."""

    join_keys: list[str]
    keys: list[tuple[Any, ...]]
    feature_names: list[str]
    _values: list[list[Any]]  # raw: timestamps as µs
    statuses: list[list[str]]
    event_times: list[list[_dt.datetime | None]] | None
    freshness: list[GroupFreshness]
    _types: dict[str, pa.DataType] = field(repr=False)
    _key_types: list[pa.DataType] = field(repr=False)

    def __len__(self) -> int:
        return len(self.keys)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per entity: its keys, then each feature's value (None when
        absent; the status says why)."""
        out = []
        for key, row in zip(self.keys, self._values):
            d = dict(zip(self.join_keys, key))
            for name, value in zip(self.feature_names, row):
                d[name] = _values.from_raw(value, self._types.get(name))
            out.append(d)
        return out

    def to_arrow(self, statuses: bool = False, event_times: bool = False) -> pa.Table:
        """Keys then features as columns of the features' types; with
        ``statuses`` a ``<feature>.status`` column beside each feature, with
        ``event_times`` a ``<feature>.event_time`` column."""
        columns: dict[str, pa.Array] = {}
        for i, name in enumerate(self.join_keys):
            columns[name] = _values.column((k[i] for k in self.keys), self._key_types[i])
        for j, name in enumerate(self.feature_names):
            columns[name] = _values.column((row[j] for row in self._values), self._types.get(name))
            if statuses:
                columns[f"{name}.status"] = pa.array([s[j] for s in self.statuses], pa.string())
            if event_times:
                if self.event_times is None:
                    raise ValueError("event times were not asked for (include_event_times=True)")
                columns[f"{name}.event_time"] = pa.array(
                    [t[j] for t in self.event_times], pa.timestamp("us", tz="UTC")
                )
        return pa.table(columns)

    def to_pandas(self, statuses: bool = False, event_times: bool = False):
        return _frames.to_pandas(self.to_arrow(statuses, event_times))

    def to_polars(self, statuses: bool = False, event_times: bool = False):
        return _frames.to_polars(self.to_arrow(statuses, event_times))


def read_response(
    response: serving_pb2.GetFeatureVectorsResponse,
    join_keys: list[str],
    key_types: list[pa.DataType],
    keys: list[tuple[Any, ...]],
    types: dict[str, pa.DataType],
    include_event_times: bool,
) -> FeatureVectors:
    values = [[_values.raw(v) for v in vector.values] for vector in response.vectors]
    statuses = [[status_name(s) for s in vector.statuses] for vector in response.vectors]
    event_times = None
    if include_event_times:
        event_times = [
            [_values.datetime_of(t) if t else None for t in vector.event_times_micros]
            for vector in response.vectors
        ]
    return FeatureVectors(
        join_keys=join_keys,
        keys=keys,
        feature_names=list(response.feature_names),
        _values=values,
        statuses=statuses,
        event_times=event_times,
        freshness=[GroupFreshness.of(f) for f in response.freshness],
        _types=types,
        _key_types=key_types,
    )
