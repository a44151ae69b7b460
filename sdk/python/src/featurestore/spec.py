"""The declarative spec ``fsctl apply -f`` reads, and its conversion to the
registry's protobuf objects.

A spec is a YAML file (or the same as a dict) describing the objects of one
project: its roles, entities, feature groups (with their aggregations) and
feature views::

    project: shop
    entities:
      - name: customer
        join_keys: [{name: customer_id, type: int64}]
    feature_groups:
      - name: customer_orders
        entity: customer
        ttl: 30days
        features:
          - {name: orders_7d, type: int64, default: 0}
    feature_views:
      - name: fraud_model
        features: [{group: customer_orders}]

This module follows ``fsctl`` exactly (``cli/fsctl/src/spec.rs``): the same
fields, defaults and unknown-field refusal, the same YAML reading rules
(YAML 1.2 scalars: ``no`` is a string, ``0123`` is a string, any scalar
reads as a string where a string is expected), the same conversion to
protobuf messages, and the same error messages, each naming the field.

This module holds the spec objects and the entry points; the rest lives
beside it: ``_yaml_nodes`` (a YAML document as serde_yaml's loader builds
it) and ``_spec_yaml`` (reading it by serde's rules), ``_domain`` (type and
aggregation function names, default values), ``_duration`` (humantime's
durations: ``30d``, ``1h 30m``) and ``_rust_text`` (text as Rust prints it).
Their public names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from featurestore._domain import (
    YamlMapping,
    YamlTagged,
    function_name,
    function_names,
    parse_function,
    parse_scalar,
    parse_type,
    scalar_name,
    type_name,
    value_of,
)
from featurestore._duration import DurationError, parse_duration
from featurestore._rust_text import debug_str, wrap_i64
from featurestore._spec_yaml import Reader
from featurestore._yaml_nodes import Composer, ReadError, import_yaml
from featurestore.errors import SpecError
from featurestore.v1 import catalog_pb2, types_pb2

__all__ = [
    "Spec",
    "RolesSpec",
    "KeySpec",
    "EntitySpec",
    "FeatureSpec",
    "GroupSpec",
    "AggregationSpec",
    "SelectionSpec",
    "ViewSpec",
    "load_spec",
    "parse_spec",
    "parse_duration",
    "parse_scalar",
    "parse_type",
    "scalar_name",
    "type_name",
    "parse_function",
    "function_name",
    "function_names",
    "value_of",
    "DurationError",
    "YamlMapping",
    "YamlTagged",
]


# ---------------------------------------------------------------------------
# The spec objects (field names and defaults as in fsctl's spec.rs).


def _seconds(what: str, text: str) -> int:
    """Whole seconds of a duration like ``5m`` or ``30d`` (at least 1)."""
    try:
        secs, nanos = parse_duration(text)
    except DurationError as e:
        raise SpecError(f"{what} {debug_str(text)}: {e}") from None
    if nanos != 0 or secs == 0:
        raise SpecError(f"{what} {debug_str(text)}: a whole number of seconds, at least 1")
    return wrap_i64(secs)


@dataclass
class RolesSpec:
    """Members per role: principal ids (``<issuer>#<subject>``,
    ``cert:<name>``) or ``group:<name>``."""

    reader: list[str] = field(default_factory=list)
    writer: list[str] = field(default_factory=list)
    admin: list[str] = field(default_factory=list)

    def to_proto(self) -> list[catalog_pb2.RoleBinding]:
        """One binding per role that has members, members sorted and
        deduplicated (so equal specs give equal bindings)."""
        return [
            catalog_pb2.RoleBinding(role=role, members=sorted(set(members)))
            for role, members in (
                (catalog_pb2.ROLE_READER, self.reader),
                (catalog_pb2.ROLE_WRITER, self.writer),
                (catalog_pb2.ROLE_ADMIN, self.admin),
            )
            if members
        ]

    @classmethod
    def from_proto(cls, bindings: Any) -> RolesSpec:
        """The members of stored bindings (unknown roles left out)."""
        spec = cls()
        by_role = {
            catalog_pb2.ROLE_READER: spec.reader,
            catalog_pb2.ROLE_WRITER: spec.writer,
            catalog_pb2.ROLE_ADMIN: spec.admin,
        }
        for binding in bindings:
            members = by_role.get(binding.role)
            if members is not None:
                members.extend(binding.members)
        return spec


@dataclass
class KeySpec:
    """A join key column: its name and scalar type (``int64``, ``string``)."""

    name: str
    type: str
    description: str = ""

    def to_proto(self) -> catalog_pb2.KeyColumn:
        scalar = parse_scalar(self.type)
        if scalar is None:
            raise SpecError(f"join key {debug_str(self.name)}: unknown type {debug_str(self.type)}")
        return catalog_pb2.KeyColumn(name=self.name, type=scalar, description=self.description)


@dataclass
class EntitySpec:
    """Something features describe, named by its join keys."""

    name: str
    join_keys: list[KeySpec]
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def to_proto(self, project: str) -> catalog_pb2.Entity:
        return catalog_pb2.Entity(
            project=project,
            name=self.name,
            join_keys=[k.to_proto() for k in self.join_keys],
            description=self.description,
            tags=self.tags,
            owner=self.owner,
        )


@dataclass
class FeatureSpec:
    """A feature column. ``default`` (served when the value is missing) is a
    YAML value matching the type; ``None`` means no default."""

    name: str
    type: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    default: Any = None

    def to_proto(self, group: str) -> catalog_pb2.Feature:
        ty = parse_type(self.type)
        if ty is None:
            raise SpecError(
                f"feature {group}.{self.name}: unknown type {debug_str(self.type)} (use bool, "
                "int32, int64, float32, float64, string, bytes, timestamp or list<...>)"
            )
        feature = catalog_pb2.Feature(
            name=self.name, type=ty, description=self.description, tags=self.tags
        )
        if self.default is not None:
            try:
                feature.default_value.CopyFrom(value_of(ty, self.default))
            except SpecError as e:
                raise SpecError(f"feature {group}.{self.name}: default: {e}") from None
        return feature


@dataclass
class AggregationSpec:
    """An aggregated feature: ``function`` of ``input`` over ``window``
    (``1h``, ``7d``, ``lifetime``), read at ``grain`` (one of the group's
    tile grains; omitted = the finest)."""

    name: str
    function: str
    window: str
    input: str | None = None
    grain: str | None = None
    k: int | None = None
    percentile: float | None = None
    description: str = ""

    def to_proto(self, group: str) -> catalog_pb2.Aggregation:
        what = f"feature group {debug_str(group)}: aggregation {debug_str(self.name)}"
        function = parse_function(self.function)
        if function is None:
            raise SpecError(
                f"{what}: unknown function {debug_str(self.function)} (one of {function_names()})"
            )
        window = 0 if self.window == "lifetime" else _seconds(f"{what}: window", self.window)
        grain = 0 if self.grain is None else _seconds(f"{what}: grain", self.grain)
        return catalog_pb2.Aggregation(
            name=self.name,
            function=function,
            input=self.input or "",
            window_seconds=window,
            grain_seconds=grain,
            k=self.k or 0,
            percentile=self.percentile or 0.0,
            description=self.description,
        )


@dataclass
class GroupSpec:
    """A feature group. ``version`` omitted means "version 1, or the
    latest"; ``primary_key`` defaults to the entity's join keys; ``ttl`` like
    ``30d`` (omitted = no limit); ``tile_grains`` finest first (default 5m,
    1h, 1d)."""

    name: str
    entity: str
    features: list[FeatureSpec]
    version: int | None = None
    primary_key: list[str] = field(default_factory=list)
    event_time_column: str | None = None
    online: bool = True
    offline: bool = True
    ttl: str | None = None
    partitions: int | None = None
    owner: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aggregations: list[AggregationSpec] = field(default_factory=list)
    tile_grains: list[str] = field(default_factory=list)

    def to_proto(
        self, project: str, entity: catalog_pb2.Entity | None = None
    ) -> catalog_pb2.FeatureGroup:
        """The group as the registry should store it; key column types come
        from ``entity`` (unspecified without it)."""
        ttl_seconds = 0
        if self.ttl is not None:
            try:
                ttl_seconds = wrap_i64(parse_duration(self.ttl)[0])
            except DurationError as e:
                raise SpecError(
                    f"feature group {debug_str(self.name)}: ttl {debug_str(self.ttl)}: {e}"
                ) from None
        features = [f.to_proto(self.name) for f in self.features]
        aggregations = [a.to_proto(self.name) for a in self.aggregations]
        grains = [
            _seconds(f"feature group {debug_str(self.name)}: tile grain", g)
            for g in self.tile_grains
        ]
        return catalog_pb2.FeatureGroup(
            project=project,
            name=self.name,
            version=self.version or 0,
            entity=self.entity,
            primary_key=[self._key(name, entity) for name in self.primary_key],
            event_time_column=self.event_time_column or "",
            features=features,
            online_enabled=self.online,
            offline_enabled=self.offline,
            ttl_seconds=ttl_seconds,
            partitions=self.partitions or 0,
            owner=self.owner,
            description=self.description,
            tags=self.tags,
            aggregations=aggregations,
            tile_grain_seconds=grains,
        )

    @staticmethod
    def _key(name: str, entity: catalog_pb2.Entity | None) -> catalog_pb2.KeyColumn:
        scalar = types_pb2.SCALAR_TYPE_UNSPECIFIED
        if entity is not None:
            scalar = next((k.type for k in entity.join_keys if k.name == name), scalar)
        return catalog_pb2.KeyColumn(name=name, type=scalar)


@dataclass
class SelectionSpec:
    """Features of one group for a view: ``version`` omitted = the latest
    when the view is created; ``features`` omitted = all of them."""

    group: str
    version: int | None = None
    features: list[str] = field(default_factory=list)


@dataclass
class ViewSpec:
    """A feature view: selections of groups' features, and label columns."""

    name: str
    features: list[SelectionSpec]
    labels: list[str] = field(default_factory=list)
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def to_proto(self, project: str) -> catalog_pb2.FeatureView:
        return catalog_pb2.FeatureView(
            project=project,
            name=self.name,
            version=0,
            selections=[
                catalog_pb2.FeatureSelection(
                    group=s.group, group_version=s.version or 0, features=s.features
                )
                for s in self.features
            ],
            label_columns=self.labels,
            description=self.description,
            tags=self.tags,
            owner=self.owner,
        )


@dataclass
class Spec:
    """A spec: the objects of one project, applied in dependency order.
    ``roles`` absent leaves the project's roles as they are."""

    project: str
    description: str = ""
    roles: RolesSpec | None = None
    entities: list[EntitySpec] = field(default_factory=list)
    feature_groups: list[GroupSpec] = field(default_factory=list)
    feature_views: list[ViewSpec] = field(default_factory=list)

    def project_proto(self) -> catalog_pb2.Project:
        """The project as created when it does not exist."""
        roles = self.roles.to_proto() if self.roles is not None else []
        return catalog_pb2.Project(name=self.project, description=self.description, roles=roles)

    def validate(self) -> None:
        """Converts every entity and group once, raising the first
        :class:`SpecError` fsctl would raise while planning."""
        for entity in self.entities:
            entity.to_proto(self.project)
        for group in self.feature_groups:
            group.to_proto(self.project)


# ---------------------------------------------------------------------------
# Reading a spec the way serde_yaml_ng does: a YAML document is composed into
# nodes (``_yaml_nodes``), then each field is read by the rules of its Rust
# type (``_spec_yaml``). A dict is read by the rules serde applies to an
# already parsed serde_yaml::Value.


def _spec_reader(reader: Reader) -> Callable[[Any, str], Spec]:
    """The reader of a whole spec: every struct with its fields in the
    order fsctl declares them (error messages list them in that order)."""
    r = reader
    text, opt = r.string, r.optional
    texts = r.sequence(r.string)
    tags = r.string_map
    key = r.structure(
        KeySpec, (("name", text, True), ("type", text, True), ("description", text, False))
    )
    entity = r.structure(
        EntitySpec,
        (
            ("name", text, True),
            ("join_keys", r.sequence(key), True),
            ("description", text, False),
            ("owner", text, False),
            ("tags", tags, False),
        ),
    )
    feature = r.structure(
        FeatureSpec,
        (
            ("name", text, True),
            ("type", text, True),
            ("description", text, False),
            ("tags", tags, False),
            ("default", opt(r.value), False),
        ),
    )
    aggregation = r.structure(
        AggregationSpec,
        (
            ("name", text, True),
            ("function", text, True),
            ("input", opt(text), False),
            ("window", text, True),
            ("grain", opt(text), False),
            ("k", opt(r.u32), False),
            ("percentile", opt(r.f64), False),
            ("description", text, False),
        ),
    )
    group = r.structure(
        GroupSpec,
        (
            ("name", text, True),
            ("version", opt(r.u32), False),
            ("entity", text, True),
            ("primary_key", texts, False),
            ("event_time_column", opt(text), False),
            ("features", r.sequence(feature), True),
            ("online", r.boolean, False),
            ("offline", r.boolean, False),
            ("ttl", opt(text), False),
            ("partitions", opt(r.u32), False),
            ("owner", text, False),
            ("description", text, False),
            ("tags", tags, False),
            ("aggregations", r.sequence(aggregation), False),
            ("tile_grains", texts, False),
        ),
    )
    selection = r.structure(
        SelectionSpec,
        (("group", text, True), ("version", opt(r.u32), False), ("features", texts, False)),
    )
    view = r.structure(
        ViewSpec,
        (
            ("name", text, True),
            ("features", r.sequence(selection), True),
            ("labels", texts, False),
            ("description", text, False),
            ("owner", text, False),
            ("tags", tags, False),
        ),
    )
    roles = r.structure(
        RolesSpec, (("reader", texts, False), ("writer", texts, False), ("admin", texts, False))
    )
    return r.structure(
        Spec,
        (
            ("project", text, True),
            ("description", text, False),
            ("roles", opt(roles), False),
            ("entities", r.sequence(entity), False),
            ("feature_groups", r.sequence(group), False),
            ("feature_views", r.sequence(view), False),
        ),
    )


def _read_spec(root: Any, events: int) -> Spec:
    try:
        spec = _spec_reader(Reader(events))(root, ".")
    except ReadError as e:
        raise SpecError(f"invalid spec: {e}") from None
    return spec


def _checked_spec(spec: Spec) -> Spec:
    if spec.project == "":
        raise SpecError("invalid spec: `project` is required")
    spec.validate()
    return spec


def parse_spec(text: str) -> Spec:
    """A spec from YAML text, read exactly as ``fsctl apply`` reads it;
    raises :class:`SpecError` naming the field (and its line and column)."""
    if text.startswith("\ufeff"):
        # fsctl's libyaml is told the text is UTF-8, so a byte order mark is
        # not dropped by its reader but skipped by its scanner as one column.
        text = " " + text[1:]
    composer = Composer(import_yaml(), text)
    root, trailing_error, more = composer.document()
    spec = _read_spec(root, composer.count)
    if trailing_error is not None:
        raise SpecError(f"invalid spec: {trailing_error}")
    if more:
        raise SpecError(
            "invalid spec: deserializing from YAML containing more than one document is "
            "not supported"
        )
    return _checked_spec(spec)


def load_spec(source: str | os.PathLike | Mapping[str, Any] | Spec) -> Spec:
    """Reads a spec: ``source`` is the path of a YAML file, or the spec
    already parsed (a dict with the same fields), or a :class:`Spec`.

    Raises :class:`SpecError` for a spec ``fsctl apply`` would refuse, with
    its message (the field's path, and for a file its line and column),
    before anything is sent; ``OSError`` when the file cannot be read."""
    if isinstance(source, Spec):
        return _checked_spec(source)
    if isinstance(source, Mapping):
        return _checked_spec(_read_spec(source, 0))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"a spec is a path or a dict, not {type(source).__name__}")
    path = os.fspath(source)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"reading {path}: stream did not contain valid UTF-8") from None
    return parse_spec(text)
