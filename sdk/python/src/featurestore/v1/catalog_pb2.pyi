from featurestore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_READER: _ClassVar[Role]
    ROLE_WRITER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]

class AggregationFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_FUNCTION_UNSPECIFIED: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_COUNT: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_SUM: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_MIN: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_MAX: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_MEAN: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_VARIANCE: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_STDDEV: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_FIRST: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_LAST: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_LAST_K: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_APPROX_DISTINCT: _ClassVar[AggregationFunction]
    AGGREGATION_FUNCTION_APPROX_PERCENTILE: _ClassVar[AggregationFunction]
ROLE_UNSPECIFIED: Role
ROLE_READER: Role
ROLE_WRITER: Role
ROLE_ADMIN: Role
AGGREGATION_FUNCTION_UNSPECIFIED: AggregationFunction
AGGREGATION_FUNCTION_COUNT: AggregationFunction
AGGREGATION_FUNCTION_SUM: AggregationFunction
AGGREGATION_FUNCTION_MIN: AggregationFunction
AGGREGATION_FUNCTION_MAX: AggregationFunction
AGGREGATION_FUNCTION_MEAN: AggregationFunction
AGGREGATION_FUNCTION_VARIANCE: AggregationFunction
AGGREGATION_FUNCTION_STDDEV: AggregationFunction
AGGREGATION_FUNCTION_FIRST: AggregationFunction
AGGREGATION_FUNCTION_LAST: AggregationFunction
AGGREGATION_FUNCTION_LAST_K: AggregationFunction
AGGREGATION_FUNCTION_APPROX_DISTINCT: AggregationFunction
AGGREGATION_FUNCTION_APPROX_PERCENTILE: AggregationFunction

class Project(_message.Message):
    __slots__ = ("name", "description", "tags", "owner", "roles", "meta")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    tags: _containers.ScalarMap[str, str]
    owner: str
    roles: _containers.RepeatedCompositeFieldContainer[RoleBinding]
    meta: _types_pb2.ObjectMeta
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[RoleBinding, _Mapping]]] = ..., meta: _Optional[_Union[_types_pb2.ObjectMeta, _Mapping]] = ...) -> None: ...

class RoleBinding(_message.Message):
    __slots__ = ("role", "members")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class KeyColumn(_message.Message):
    __slots__ = ("name", "type", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: _types_pb2.ScalarType
    description: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[_types_pb2.ScalarType, str]] = ..., description: _Optional[str] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("project", "name", "join_keys", "description", "tags", "owner", "meta")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    JOIN_KEYS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    join_keys: _containers.RepeatedCompositeFieldContainer[KeyColumn]
    description: str
    tags: _containers.ScalarMap[str, str]
    owner: str
    meta: _types_pb2.ObjectMeta
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., join_keys: _Optional[_Iterable[_Union[KeyColumn, _Mapping]]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.ObjectMeta, _Mapping]] = ...) -> None: ...

class Feature(_message.Message):
    __slots__ = ("name", "type", "description", "tags", "default_value")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: _types_pb2.ValueType
    description: str
    tags: _containers.ScalarMap[str, str]
    default_value: _types_pb2.Value
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[_types_pb2.ValueType, _Mapping]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., default_value: _Optional[_Union[_types_pb2.Value, _Mapping]] = ...) -> None: ...

class FeatureGroup(_message.Message):
    __slots__ = ("project", "name", "version", "entity", "primary_key", "event_time_column", "features", "online_enabled", "offline_enabled", "ttl_seconds", "partitions", "owner", "description", "tags", "meta", "aggregations", "tile_grain_seconds")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ONLINE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    AGGREGATIONS_FIELD_NUMBER: _ClassVar[int]
    TILE_GRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    entity: str
    primary_key: _containers.RepeatedCompositeFieldContainer[KeyColumn]
    event_time_column: str
    features: _containers.RepeatedCompositeFieldContainer[Feature]
    online_enabled: bool
    offline_enabled: bool
    ttl_seconds: int
    partitions: int
    owner: str
    description: str
    tags: _containers.ScalarMap[str, str]
    meta: _types_pb2.ObjectMeta
    aggregations: _containers.RepeatedCompositeFieldContainer[Aggregation]
    tile_grain_seconds: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., entity: _Optional[str] = ..., primary_key: _Optional[_Iterable[_Union[KeyColumn, _Mapping]]] = ..., event_time_column: _Optional[str] = ..., features: _Optional[_Iterable[_Union[Feature, _Mapping]]] = ..., online_enabled: _Optional[bool] = ..., offline_enabled: _Optional[bool] = ..., ttl_seconds: _Optional[int] = ..., partitions: _Optional[int] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., meta: _Optional[_Union[_types_pb2.ObjectMeta, _Mapping]] = ..., aggregations: _Optional[_Iterable[_Union[Aggregation, _Mapping]]] = ..., tile_grain_seconds: _Optional[_Iterable[int]] = ...) -> None: ...

class Aggregation(_message.Message):
    __slots__ = ("name", "function", "input", "window_seconds", "grain_seconds", "k", "description", "percentile")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    name: str
    function: AggregationFunction
    input: str
    window_seconds: int
    grain_seconds: int
    k: int
    description: str
    percentile: float
    def __init__(self, name: _Optional[str] = ..., function: _Optional[_Union[AggregationFunction, str]] = ..., input: _Optional[str] = ..., window_seconds: _Optional[int] = ..., grain_seconds: _Optional[int] = ..., k: _Optional[int] = ..., description: _Optional[str] = ..., percentile: _Optional[float] = ...) -> None: ...

class FeatureSelection(_message.Message):
    __slots__ = ("group", "group_version", "features")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    group: str
    group_version: int
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., group_version: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class FeatureView(_message.Message):
    __slots__ = ("project", "name", "version", "selections", "join_keys", "label_columns", "description", "tags", "owner", "meta")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SELECTIONS_FIELD_NUMBER: _ClassVar[int]
    JOIN_KEYS_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    selections: _containers.RepeatedCompositeFieldContainer[FeatureSelection]
    join_keys: _containers.RepeatedCompositeFieldContainer[KeyColumn]
    label_columns: _containers.RepeatedScalarFieldContainer[str]
    description: str
    tags: _containers.ScalarMap[str, str]
    owner: str
    meta: _types_pb2.ObjectMeta
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., selections: _Optional[_Iterable[_Union[FeatureSelection, _Mapping]]] = ..., join_keys: _Optional[_Iterable[_Union[KeyColumn, _Mapping]]] = ..., label_columns: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.ObjectMeta, _Mapping]] = ...) -> None: ...
