"""Offline reads over Arrow Flight: historical (point-in-time) features, a
group's table as of a time, and training sets."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc

from featurestore import _consistency, _frames, _values
from featurestore.errors import FeatureStoreError
from featurestore.v1 import offline_pb2, types_pb2
from featurestore.vectors import GroupFreshness

if TYPE_CHECKING:  # pragma: no cover
    from featurestore.client import Client

_FORMATS = {
    "parquet": offline_pb2.DATASET_FORMAT_PARQUET,
    "delta": offline_pb2.DATASET_FORMAT_DELTA,
}


def historical_request(
    project: str,
    view: str,
    version: int,
    entity_df: Any,
    timestamp_column: str,
    consistency: types_pb2.Consistency | None,
) -> offline_pb2.GetHistoricalFeaturesRequest:
    """The request for a view's features as of each entity row's time; the
    entity rows travel as one Arrow IPC stream."""
    table = _frames.to_arrow(entity_df)
    if timestamp_column not in table.column_names:
        raise ValueError(
            f"entity_df: no column {timestamp_column!r} (the rows' times; "
            f"columns: {', '.join(table.column_names)}); pass timestamp_column="
        )
    request = offline_pb2.GetHistoricalFeaturesRequest(
        project=project,
        view=types_pb2.FeatureViewRef(project=project, name=view, version=version),
        entities=offline_pb2.EntitySource(
            arrow_ipc_stream=_frames.ipc_stream(table), timestamp_column=timestamp_column
        ),
    )
    if consistency is not None:
        request.consistency.CopyFrom(consistency)
    return request


def _flight_error(error: Exception) -> FeatureStoreError:
    import grpc

    codes = {
        flight.FlightUnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
        flight.FlightUnauthorizedError: grpc.StatusCode.PERMISSION_DENIED,
        flight.FlightUnavailableError: grpc.StatusCode.UNAVAILABLE,
        flight.FlightTimedOutError: grpc.StatusCode.DEADLINE_EXCEEDED,
        flight.FlightCancelledError: grpc.StatusCode.CANCELLED,
    }
    code = next((c for t, c in codes.items() if isinstance(error, t)), grpc.StatusCode.INTERNAL)
    if isinstance(error, pa.ArrowInvalid):
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(error, (pa.ArrowKeyError, KeyError)):
        code = grpc.StatusCode.NOT_FOUND
    return FeatureStoreError(code, str(error))


class _FlightReader:
    """Streams a ticket's record batches from the offline service's Flight
    endpoint (the same address as its gRPC API)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _connection(self) -> flight.FlightClient:
        if self._client._flight is None:
            where = self._client.endpoints["offline"]
            creds = self._client._credentials
            scheme = "grpc+tls" if where.tls else "grpc+tcp"
            kwargs: dict[str, Any] = {}
            if where.tls:
                if creds.ca:
                    kwargs["tls_root_certs"] = creds.ca
                if creds.cert:
                    kwargs["cert_chain"] = creds.cert
                    kwargs["private_key"] = creds.key
                if creds.domain:
                    kwargs["override_hostname"] = creds.domain
            self._client._flight = flight.FlightClient(f"{scheme}://{where.target}", **kwargs)
        return self._client._flight

    def stream(self, ticket: bytes) -> flight.FlightStreamReader:
        headers = [(k.encode(), v.encode()) for k, v in self._client._metadata]
        options = flight.FlightCallOptions(headers=headers, timeout=self._client.timeout)
        try:
            return self._connection().do_get(flight.Ticket(ticket), options)
        except (flight.FlightError, pa.ArrowException) as e:
            raise _flight_error(e) from None


class HistoricalFeatures:
    """A query's result on the server, read over Arrow Flight when asked:
    ``to_arrow()``, ``to_pandas()``, ``to_polars()`` or ``to_batches()`` (an
    iterator, for results larger than memory). Each read streams the result
    again; the ticket expires after a while (ask again then).

    ``table_versions`` are the Delta versions read (a rerun of the same
    request with them gives the same rows); ``freshness`` how fresh each
    group was."""

    def __init__(self, client: Client, handle: offline_pb2.QueryHandle) -> None:
        self._reader = _FlightReader(client)
        self._ticket = handle.flight_ticket
        self.schema: pa.Schema = ipc.read_schema(pa.py_buffer(handle.arrow_schema))
        self.table_versions: dict[str, int] = dict(handle.table_versions)
        self.freshness = [GroupFreshness.of(f) for f in handle.freshness]

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        reader = self._reader.stream(self._ticket)
        try:
            for chunk in reader:
                yield chunk.data
        except (flight.FlightError, pa.ArrowException) as e:
            raise _flight_error(e) from None

    def to_arrow(self) -> pa.Table:
        """The whole result as one table (the streamed batches, not copied)."""
        reader = self._reader.stream(self._ticket)
        try:
            return reader.read_all()
        except (flight.FlightError, pa.ArrowException) as e:
            raise _flight_error(e) from None

    def to_pandas(self):
        """The result as a pandas DataFrame (timestamps keep their UTC zone)."""
        return _frames.to_pandas(self.to_arrow())

    def to_polars(self):
        return _frames.to_polars(self.to_arrow())


@dataclass
class TrainingSet:
    """A stored training set: its rows are read with ``read()``."""

    project: str
    name: str
    version: int
    row_count: int
    format: str
    location: str
    table_versions: dict[str, int]
    created: _dt.datetime | None
    freshness: list[GroupFreshness]
    message: offline_pb2.TrainingDataset

    @classmethod
    def of(cls, d: offline_pb2.TrainingDataset) -> TrainingSet:
        formats = {v: k for k, v in _FORMATS.items()}
        return cls(
            project=d.project,
            name=d.name,
            version=d.version,
            row_count=d.row_count,
            format=formats.get(d.format, "unspecified"),
            location=d.location,
            table_versions=dict(d.table_versions),
            created=_values.datetime_of(d.create_time_micros) if d.create_time_micros else None,
            freshness=[GroupFreshness.of(f) for f in d.freshness],
            message=d,
        )


class TrainingSets:
    """``client.training_sets``: create, list, get, read, delete."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        name: str,
        view: str,
        entity_df: Any,
        project: str | None = None,
        view_version: int = 0,
        version: int = 0,
        format: str = "parquet",
        timestamp_column: str = "event_timestamp",
        consistency: str | None = None,
        after: Any = None,
        at_least: Any | None = None,
        max_wait: float | None = None,
        timeout: float | None = None,
    ) -> TrainingSet:
        """Joins the view's features as of each entity row's time and stores
        the result as ``name`` (``version`` 0 = the next one)."""
        if format not in _FORMATS:
            raise ValueError(f"format {format!r}: expected one of {', '.join(_FORMATS)}")
        project = self._client._project(project)
        query = historical_request(
            project,
            view,
            view_version,
            entity_df,
            timestamp_column,
            _consistency.consistency(consistency, after, at_least, max_wait),
        )
        request = offline_pb2.CreateTrainingDatasetRequest(
            project=project, name=name, version=version, query=query, format=_FORMATS[format]
        )
        c = self._client
        return TrainingSet.of(c._call(c._datasets.CreateTrainingDataset, request, timeout))

    def get(self, name: str, project: str | None = None, version: int = 0) -> TrainingSet:
        c = self._client
        request = offline_pb2.GetTrainingDatasetRequest(
            project=c._project(project), name=name, version=version
        )
        return TrainingSet.of(c._call(c._datasets.GetTrainingDataset, request))

    def list(self, project: str | None = None) -> list[TrainingSet]:
        c = self._client
        request = offline_pb2.ListTrainingDatasetsRequest(
            project=c._project(project), page_size=1000
        )
        out: list[TrainingSet] = []
        while True:
            page = c._call(c._datasets.ListTrainingDatasets, request)
            out.extend(TrainingSet.of(d) for d in page.datasets)
            if not page.next_page_token:
                return out
            request.page_token = page.next_page_token

    def read(self, name: str, project: str | None = None, version: int = 0) -> HistoricalFeatures:
        """The training set's rows (``.to_arrow()``, ``.to_pandas()``, …)."""
        dataset = self.get(name, project, version).message
        handle = offline_pb2.QueryHandle(
            flight_ticket=dataset.flight_ticket,
            arrow_schema=dataset.arrow_schema,
            table_versions=dataset.table_versions,
            freshness=dataset.freshness,
        )
        return HistoricalFeatures(self._client, handle)

    def delete(self, name: str, version: int, project: str | None = None) -> None:
        c = self._client
        request = offline_pb2.DeleteTrainingDatasetRequest(
            project=c._project(project), name=name, version=version
        )
        c._call(c._datasets.DeleteTrainingDataset, request)
