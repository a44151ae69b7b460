"""``Client``: the feature store from Python — catalog, ingest, online vectors,
historical features and training sets."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import pyarrow as pa

from featurestore import _connection, _consistency, _frames, _values
from featurestore.errors import (
    DeadlineExceededError,
    FeatureStoreError,
    FieldViolation,
    RowViolation,
    from_rpc_error,
)
from featurestore.v1 import (
    ingestion_pb2,
    ingestion_pb2_grpc,
    materialization_pb2,
    materialization_pb2_grpc,
    offline_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    serving_pb2,
    serving_pb2_grpc,
    types_pb2,
)
from featurestore.vectors import FeatureVectors

# Rows per ingest request: the ingestion service's default limit is 100,000.
DEFAULT_CHUNK_ROWS = 50_000
# How long a view's schema (join keys, feature types) is reused before the
# registry is asked again (a view's latest version can change).
_SCHEMA_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class WriteResult:
    """What an ingest wrote: rows, the group version, and the write tokens to
    pass as ``after=`` to a read that must see these rows (one per request
    the frame was sent in)."""

    rows: int
    group_version: int
    write_tokens: tuple[bytes, ...]

    @property
    def write_token(self) -> bytes:
        """The token of a single-request ingest (most ingests)."""
        if len(self.write_tokens) != 1:
            raise ValueError(
                f"this ingest was sent in {len(self.write_tokens)} requests: "
                "use write_tokens (or pass the WriteResult itself as after=)"
            )
        return self.write_tokens[0]


@dataclass(frozen=True)
class _ViewSchema:
    join_keys: list[str]
    key_scalars: list[int]
    key_types: list[pa.DataType]
    types: dict[str, pa.DataType]
    fetched: float


class Client:
    """A connection to a feature store.

    Standalone (all services in one process on their default ports)::

        fs = Client("127.0.0.1")

    Distributed: each service's address (``host:port``, ``http://…`` or
    ``https://…``); an address not given comes from ``FS_<SERVICE>_ADDR``
    (as for ``fsctl``), else ``host`` on the service's default port.

    ``tls_ca`` (CA that signed the services' certificates) turns TLS on for
    every service; ``tls_cert``/``tls_key`` add the client certificate for
    mutual TLS; ``token`` (or ``FS_TOKEN``) is sent as a bearer token.
    ``timeout`` (seconds) bounds every call unless the call gives its own.
    ``project`` is the default project of calls that take one.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        registry: str | None = None,
        ingestion: str | None = None,
        serving: str | None = None,
        offline: str | None = None,
        materialization: str | None = None,
        project: str | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_domain: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        tls = tls_ca is not None
        given = {
            "registry": registry,
            "ingestion": ingestion,
            "serving": serving,
            "offline": offline,
            "materialization": materialization,
        }
        self.endpoints = {
            name: _connection.endpoint(name, address, host, tls) for name, address in given.items()
        }
        self._credentials = _connection.Credentials.load(
            tls_ca, tls_cert, tls_key, tls_domain, token
        )
        self._metadata = tuple(self._credentials.metadata())
        self.project = project
        self.timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[tuple[str, type], Any] = {}
        self._schemas: dict[tuple[str, str, int], _ViewSchema] = {}
        self._flight = None

    # ---- plumbing -------------------------------------------------------

    def _channel(self, service: str) -> grpc.Channel:
        if service not in self._channels:
            self._channels[service] = _connection.channel(
                self.endpoints[service], self._credentials
            )
        return self._channels[service]

    def _stub(self, service: str, stub_type):
        """The service's stub, made once (a stub builds a callable per RPC)."""
        key = (service, stub_type)
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = stub_type(self._channel(service))
        return stub

    @property
    def _registry(self) -> registry_pb2_grpc.RegistryServiceStub:
        return self._stub("registry", registry_pb2_grpc.RegistryServiceStub)

    @property
    def _ingestion(self) -> ingestion_pb2_grpc.IngestionServiceStub:
        return self._stub("ingestion", ingestion_pb2_grpc.IngestionServiceStub)

    @property
    def _serving(self) -> serving_pb2_grpc.OnlineServingServiceStub:
        return self._stub("serving", serving_pb2_grpc.OnlineServingServiceStub)

    @property
    def _offline(self) -> offline_pb2_grpc.OfflineQueryServiceStub:
        return self._stub("offline", offline_pb2_grpc.OfflineQueryServiceStub)

    @property
    def _datasets(self) -> offline_pb2_grpc.TrainingDatasetServiceStub:
        return self._stub("offline", offline_pb2_grpc.TrainingDatasetServiceStub)

    @property
    def _materialization(self) -> materialization_pb2_grpc.MaterializationAdminServiceStub:
        return self._stub(
            "materialization", materialization_pb2_grpc.MaterializationAdminServiceStub
        )

    def _call(self, method, request, timeout: float | None = None):
        """One unary call with the client's timeout and credentials; a failure
        raises :class:`FeatureStoreError` (a subclass by status code).

        A server that notices the deadline first answers CANCELLED ("Timeout
        expired"); that is the call's timeout running out, raised as
        :class:`DeadlineExceededError` like the client's own deadline."""
        timeout = self.timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            error = from_rpc_error(e)
            if error.code == grpc.StatusCode.CANCELLED and time.monotonic() - started >= timeout:
                error = DeadlineExceededError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"the call's timeout ({timeout:g} s) ran out ({error.message})",
                )
            raise error from None

    def _project(self, project: str | None) -> str:
        project = project or self.project
        if not project:
            raise ValueError("no project: pass project= (or Client(project=...))")
        return project

    def close(self) -> None:
        """Closes every connection (the client can no longer be used)."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        self._stubs.clear()
        if self._flight is not None:
            self._flight.close()
            self._flight = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- catalog --------------------------------------------------------

    def apply(self, spec: str | os.PathLike | Mapping[str, Any], dry_run: bool = False):
        """Creates or updates what a spec describes (a YAML file's path, or the
        same as a dict), like ``fsctl apply``; returns the plan, whose
        ``str()`` is the plan ``fsctl`` prints. With ``dry_run`` nothing is
        changed."""
        from featurestore import apply as _apply
        from featurestore import spec as _spec

        plan = _apply.plan(self, _spec.load_spec(spec))
        if not dry_run:
            _apply.apply_plan(self, plan)
        return plan

    def list(self, kind: str, project: str | None = None, **filters: Any) -> list:
        """Every object of a kind: ``projects``, ``entities``,
        ``feature_groups`` or ``feature_views`` (protobuf messages), all pages.
        Filters are the list request's fields (``name_prefix``, ``entity``,
        ``owner``, ``tags``, ``latest_only``, ``group``)."""
        kinds = {
            "projects": (self._registry.ListProjects, registry_pb2.ListProjectsRequest, "projects"),
            "entities": (self._registry.ListEntities, registry_pb2.ListEntitiesRequest, "entities"),
            "feature_groups": (
                self._registry.ListFeatureGroups,
                registry_pb2.ListFeatureGroupsRequest,
                "feature_groups",
            ),
            "feature_views": (
                self._registry.ListFeatureViews,
                registry_pb2.ListFeatureViewsRequest,
                "feature_views",
            ),
        }
        if kind not in kinds:
            raise ValueError(f"kind {kind!r}: expected one of {', '.join(kinds)}")
        method, request_type, field = kinds[kind]
        request = request_type(page_size=1000, **filters)
        if kind != "projects":
            request.project = self._project(project)
        out: list = []
        while True:
            page = self._call(method, request)
            out.extend(getattr(page, field))
            if not page.next_page_token:
                return out
            request.page_token = page.next_page_token

    def get(self, kind: str, name: str, project: str | None = None, version: int = 0):
        """One object: ``project``, ``entity``, ``feature_group`` or
        ``feature_view`` (version 0 = the latest); NotFoundError if absent."""
        r = registry_pb2
        if kind == "project":
            return self._call(self._registry.GetProject, r.GetProjectRequest(name=name))
        project = self._project(project)
        if kind == "entity":
            return self._call(
                self._registry.GetEntity, r.GetEntityRequest(project=project, name=name)
            )
        if kind == "feature_group":
            request = r.GetFeatureGroupRequest(project=project, name=name, version=version)
            return self._call(self._registry.GetFeatureGroup, request)
        if kind == "feature_view":
            request = r.GetFeatureViewRequest(project=project, name=name, version=version)
            return self._call(self._registry.GetFeatureView, request)
        raise ValueError(f"kind {kind!r}: expected project, entity, feature_group or feature_view")

    def search(
        self,
        query: str = "",
        project: str | None = None,
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> list:
        """Features whose name or description (or group's) contains ``query``
        (case-insensitive), in ``project`` or every project when None:
        ``FeatureHit`` messages (project, group, group_version, feature)."""
        request = registry_pb2.SearchFeaturesRequest(
            project=project or "", query=query, tags=dict(tags or {}), owner=owner, page_size=1000
        )
        hits: list = []
        while True:
            page = self._call(self._registry.SearchFeatures, request)
            hits.extend(page.hits)
            if not page.next_page_token:
                return hits
            request.page_token = page.next_page_token

    def materialization_status(self, group: str, project: str | None = None, version: int = 0):
        """How far materialization has come for a group version (0 = the
        latest): watermarks and lag online and offline, per partition too,
        events folded into tiles — the ``MaterializationStatus`` message
        ``fsctl status`` shows."""
        project = self._project(project)
        if version == 0:
            version = self.get("feature_group", group, project).version
        request = materialization_pb2.GetMaterializationStatusRequest(
            group=types_pb2.FeatureGroupRef(project=project, name=group, version=version)
        )
        return self._call(self._materialization.GetMaterializationStatus, request)

    # ---- ingest ---------------------------------------------------------

    def ingest(
        self,
        group: str,
        frame: Any,
        project: str | None = None,
        version: int = 0,
        idempotency_key: str | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        timeout: float | None = None,
    ) -> WriteResult:
        """Writes a frame's rows into a feature group (pandas, polars, a pyarrow
        table or a Parquet path; sent as Arrow IPC): the primary key, the
        event time column and any subset of features.

        Every row is validated first: a request with a bad row writes nothing
        and raises :class:`~featurestore.errors.IngestError`, whose ``rows``
        name each bad row (its index in ``frame``), column and reason. A
        frame of more than ``chunk_rows`` rows goes in several requests, each
        all-or-nothing; if one is refused the ones before it stay written: the
        error's ``rows_written`` says how many rows they held and its
        ``write_tokens`` (the error itself works as ``after=``) let a read wait
        for them. Each request
        carries an idempotency key (derived from ``idempotency_key`` when
        given), so retrying the same call with the same key never writes a
        row twice."""
        if chunk_rows <= 0:
            raise ValueError("chunk_rows must be positive")
        table = _frames.to_arrow(frame)
        ref = types_pb2.FeatureGroupRef(project=self._project(project), name=group, version=version)
        base_key = idempotency_key or uuid.uuid4().hex
        tokens: list[bytes] = []
        rows = 0
        group_version = version
        for offset in range(0, max(table.num_rows, 1), chunk_rows):
            chunk = table.slice(offset, chunk_rows)
            key = base_key if table.num_rows <= chunk_rows else f"{base_key}/{offset}"
            if len(key) > 256:
                key = hashlib.sha256(key.encode()).hexdigest()
            request = ingestion_pb2.IngestArrowRequest(
                group=ref, arrow_ipc_stream=_frames.ipc_stream(chunk), idempotency_key=key
            )
            try:
                response = self._call(self._ingestion.IngestArrow, request, timeout)
            except FeatureStoreError as e:
                _shift_rows(e, offset, rows, tokens)
                raise
            rows += response.rows_accepted
            group_version = response.group_version
            tokens.append(response.write_token)
        return WriteResult(rows=rows, group_version=group_version, write_tokens=tuple(tokens))

    # ---- online vectors -------------------------------------------------

    def _view_schema(self, project: str, view: str, version: int) -> _ViewSchema:
        cached = self._schemas.get((project, view, version))
        if cached is not None and (
            version != 0 or time.monotonic() - cached.fetched < _SCHEMA_TTL_SECONDS
        ):
            return cached
        fv = self.get("feature_view", view, project, version)
        types: dict[str, pa.DataType] = {}
        for selection in fv.selections:
            fg = self.get("feature_group", selection.group, project, selection.group_version)
            for feature in fg.features:
                types[f"{fg.name}__{feature.name}"] = _values.arrow_type(feature.type)
            for aggregation in fg.aggregations:
                types[f"{fg.name}__{aggregation.name}"] = _values.aggregation_arrow_type(
                    aggregation
                )
        schema = _ViewSchema(
            join_keys=[k.name for k in fv.join_keys],
            key_scalars=[k.type for k in fv.join_keys],
            key_types=[
                _values.arrow_type(types_pb2.ValueType(scalar=k.type)) for k in fv.join_keys
            ],
            types=types,
            fetched=time.monotonic(),
        )
        self._schemas[(project, view, version)] = schema
        return schema

    def _key_rows(self, schema: _ViewSchema, keys: Any) -> list[tuple[Any, ...]]:
        """Entity keys as tuples in the view's join-key order, from dicts, tuples,
        scalars (single-key views) or a frame with the key columns."""
        names = schema.join_keys
        known = ", ".join(names)
        if not isinstance(keys, (list, tuple)):
            table = _frames.to_arrow(keys)
            missing = [n for n in names if n not in table.column_names]
            if missing:
                raise ValueError(
                    f"keys: missing column(s) {', '.join(missing)} (the view's keys: {known})"
                )
            return list(zip(*(table.column(n).to_pylist() for n in names), strict=False))
        if len(names) == 1 and all(type(k) in (int, str, bytes) for k in keys):
            return [(k,) for k in keys]  # plain values of a single-key view
        rows = []
        for i, key in enumerate(keys):
            if isinstance(key, Mapping):
                unknown = [k for k in key if k not in names]
                if unknown:
                    raise ValueError(
                        f"keys[{i}]: {unknown[0]!r} is not a join key of the view ({known})"
                    )
                missing = [n for n in names if n not in key]
                if missing:
                    raise ValueError(
                        f"keys[{i}]: missing {missing[0]!r} (the view's keys: {known})"
                    )
                rows.append(tuple(key[n] for n in names))
            elif isinstance(key, tuple):
                if len(key) != len(names):
                    raise ValueError(
                        f"keys[{i}]: {len(key)} values for {len(names)} join keys ({known})"
                    )
                rows.append(key)
            elif len(names) == 1:
                rows.append((key,))
            else:
                raise ValueError(
                    f"keys[{i}]: the view has {len(names)} join keys ({known}): "
                    "give a dict or a tuple"
                )
        return rows

    def get_feature_vectors(
        self,
        view: str,
        keys: Any,
        project: str | None = None,
        version: int = 0,
        include_event_times: bool = False,
        include_freshness: bool = False,
        consistency: str | None = None,
        after: Any = None,
        at_least: _dt.datetime | int | None = None,
        max_wait: float | None = None,
        serve_stale: bool = False,
        timeout: float | None = None,
    ) -> FeatureVectors:
        """A view's features for each entity key, in order (keys: dicts, tuples,
        plain values for a single-key view, or a frame with the key columns).

        The result converts with ``.to_dicts()``, ``.to_arrow()``,
        ``.to_pandas()`` and ``.to_polars()`` and keeps each feature's status.
        ``after=`` (the result of :meth:`ingest`, or write tokens) waits until
        those rows are served; ``at_least=`` until every row up to that event
        time is; ``max_wait`` seconds bounds the wait."""
        project = self._project(project)
        schema = self._view_schema(project, view, version)
        rows = self._key_rows(schema, keys)
        request = serving_pb2.GetFeatureVectorsRequest(
            project=project,
            selector=serving_pb2.FeatureSelector(
                view=types_pb2.FeatureViewRef(project=project, name=view, version=version)
            ),
            join_keys=schema.join_keys,
            include_event_times=include_event_times,
            include_freshness=include_freshness,
        )
        _values.add_key_rows(request.entity_rows, schema.join_keys, schema.key_scalars, rows)
        wanted = _consistency.consistency(consistency, after, at_least, max_wait, serve_stale)
        if wanted is not None:
            request.consistency.CopyFrom(wanted)
        response = self._call(self._serving.GetFeatureVectors, request, timeout)
        types = schema.types
        if version == 0 and any(name not in types for name in response.feature_names):
            # A feature added to a group since the schema was read.
            self._schemas.pop((project, view, version), None)
            types = self._view_schema(project, view, version).types
        return FeatureVectors(
            response, schema.join_keys, schema.key_types, rows, types, include_event_times
        )

    # ---- offline --------------------------------------------------------

    def get_historical_features(
        self,
        view: str,
        entity_df: Any,
        project: str | None = None,
        version: int = 0,
        timestamp_column: str = "event_timestamp",
        consistency: str | None = None,
        after: Any = None,
        at_least: _dt.datetime | int | None = None,
        max_wait: float | None = None,
        timeout: float | None = None,
    ):
        """Point-in-time-correct features for each entity row (the view's keys
        and ``timestamp_column``; other columns, labels say, are kept): each
        row gets the values as of its time. Returns a
        :class:`~featurestore.offline.HistoricalFeatures` to read with
        ``.to_arrow()``, ``.to_pandas()``, ``.to_polars()`` or
        ``.to_batches()`` (streamed over Arrow Flight)."""
        from featurestore import offline

        request = offline.historical_request(
            self._project(project),
            view,
            version,
            entity_df,
            timestamp_column,
            _consistency.consistency(consistency, after, at_least, max_wait),
        )
        handle = self._call(self._offline.GetHistoricalFeatures, request, timeout)
        return offline.HistoricalFeatures(self, handle)

    def read_feature_group(
        self,
        group: str,
        project: str | None = None,
        version: int = 0,
        as_of: _dt.datetime | int | None = None,
        delta_version: int | None = None,
        consistency: str | None = None,
        after: Any = None,
        at_least: _dt.datetime | int | None = None,
        max_wait: float | None = None,
        timeout: float | None = None,
    ):
        """Every row of a group's offline table, as it was at ``as_of`` (a time)
        or at a Delta ``delta_version`` (the latest when neither is given).
        ``after=`` (an ingest's result) waits until those rows are in the
        table."""
        from featurestore import offline
        from featurestore.v1 import offline_pb2

        if as_of is not None and delta_version is not None:
            raise ValueError("give as_of or delta_version, not both")
        request = offline_pb2.ReadFeatureGroupRequest(
            group=types_pb2.FeatureGroupRef(
                project=self._project(project), name=group, version=version
            )
        )
        if as_of is not None:
            request.timestamp_micros = _values.micros(as_of)
        if delta_version is not None:
            request.delta_version = delta_version
        wanted = _consistency.consistency(consistency, after, at_least, max_wait)
        if wanted is not None:
            request.consistency.CopyFrom(wanted)
        handle = self._call(self._offline.ReadFeatureGroup, request, timeout)
        return offline.HistoricalFeatures(self, handle)

    @property
    def training_sets(self):
        """Named, versioned training sets: ``create``, ``list``, ``get``,
        ``read``, ``delete``."""
        from featurestore import offline

        return offline.TrainingSets(self)


def _shift_rows(error: FeatureStoreError, offset: int, written: int, tokens: list[bytes]) -> None:
    """Makes a chunk's row indices the frame's, and says what earlier chunks
    wrote (``rows_written``, and their ``write_tokens``: the error can be
    passed as ``after=``)."""
    rows = getattr(error, "rows", None)
    if rows is not None and offset:
        error.rows = tuple(RowViolation(r.row + offset, r.field, r.reason) for r in rows)
        error.violations = tuple(
            FieldViolation(f"rows[{r.row}].{r.field}" if r.field else f"rows[{r.row}]", r.reason)
            for r in error.rows
        )
    error.rows_written = written
    error.write_tokens = tuple(tokens)
