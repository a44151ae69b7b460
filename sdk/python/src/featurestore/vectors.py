"""Online feature vectors as a caller reads them: dicts, Arrow, pandas or
polars, with each feature's status (and event time, when asked)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
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
    serving_pb2.FEATURE_STATUS_BACKFILLING: "BACKFILLING",
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


_NAMES = tuple(status_name(s) for s in range(max(_STATUS) + 1))


class FeatureVectors:
    """The answer to :meth:`Client.get_feature_vectors`, in request order.

    ``feature_names`` are ``group__feature`` (the column names training data
    uses); ``statuses[i][j]`` is PRESENT, NOT_FOUND, NULL, OUTSIDE_MAX_AGE,
    STALE or BACKFILLING (an aggregation whose history is being computed);
    ``event_times`` is filled when the request asked for them. Values are
    converted from the response when first asked for."""

    def __init__(
        self,
        response: serving_pb2.GetFeatureVectorsResponse,
        join_keys: list[str],
        key_types: list[pa.DataType],
        keys: list[tuple[Any, ...]],
        types: dict[str, pa.DataType],
        include_event_times: bool,
    ) -> None:
        self._response = response
        self.join_keys = join_keys
        self.keys = keys
        self.feature_names = list(response.feature_names)
        self._key_types = key_types
        self._types = [types.get(name) for name in self.feature_names]
        self._include_event_times = include_event_times
        self._rows: list[list[Any]] | None = None
        self._statuses: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"FeatureVectors({len(self)} vectors x {len(self.feature_names)} features)"

    @property
    def freshness(self) -> list[GroupFreshness]:
        return [GroupFreshness.of(f) for f in self._response.freshness]

    @property
    def statuses(self) -> list[list[str]]:
        if self._statuses is None:
            names = _NAMES
            self._statuses = [
                [names[s] if s < len(names) else "UNSPECIFIED" for s in vector.statuses]
                for vector in self._response.vectors
            ]
        return self._statuses

    @property
    def event_times(self) -> list[list[_dt.datetime | None]] | None:
        if not self._include_event_times:
            return None
        return [
            [_values.datetime_of(t) if t else None for t in vector.event_times_micros]
            for vector in self._response.vectors
        ]

    def _raw_rows(self) -> list[list[Any]]:
        """Values as raw Python (timestamps as µs), one list per vector."""
        if self._rows is None:
            fields = [_values.value_field(t) for t in self._types]
            lists = [i for i, t in enumerate(self._types) if t is not None and pa.types.is_list(t)]
            self._rows = [
                _values.row_values(vector.values, fields, lists)
                for vector in self._response.vectors
            ]
        return self._rows

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per entity: its keys, then each feature's value (None when
        absent; the status says why)."""
        times = [
            i
            for i, t in enumerate(self._types)
            if t is not None
            and (
                pa.types.is_timestamp(t)
                or (pa.types.is_list(t) and pa.types.is_timestamp(t.value_type))
            )
        ]
        out = []
        for key, row in zip(self.keys, self._raw_rows(), strict=False):
            if times:
                row = list(row)
                for i in times:
                    row[i] = _values.from_raw(row[i], self._types[i])
            d = dict(zip(self.join_keys, key, strict=False))
            d.update(zip(self.feature_names, row, strict=False))
            out.append(d)
        return out

    def to_arrow(self, statuses: bool = False, event_times: bool = False) -> pa.Table:
        """Keys then features as columns of the features' types; with
        ``statuses`` a ``<feature>.status`` column beside each feature, with
        ``event_times`` a ``<feature>.event_time`` column."""
        if event_times and not self._include_event_times:
            raise ValueError("event times were not asked for (include_event_times=True)")
        columns: dict[str, pa.Array] = {}
        for i, name in enumerate(self.join_keys):
            columns[name] = _values.column((k[i] for k in self.keys), self._key_types[i])
        rows = self._raw_rows()
        status_rows = self.statuses if statuses else None
        time_rows = self.event_times if event_times else None
        for j, name in enumerate(self.feature_names):
            columns[name] = _values.column((row[j] for row in rows), self._types[j])
            if status_rows is not None:
                columns[f"{name}.status"] = pa.array([s[j] for s in status_rows], pa.string())
            if time_rows is not None:
                columns[f"{name}.event_time"] = pa.array(
                    [t[j] for t in time_rows], pa.timestamp("us", tz="UTC")
                )
        return pa.table(columns)

    def to_pandas(self, statuses: bool = False, event_times: bool = False):
        return _frames.to_pandas(self.to_arrow(statuses, event_times))

    def to_polars(self, statuses: bool = False, event_times: bool = False):
        return _frames.to_polars(self.to_arrow(statuses, event_times))
