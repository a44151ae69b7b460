from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScalarType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALAR_TYPE_UNSPECIFIED: _ClassVar[ScalarType]
    SCALAR_TYPE_BOOL: _ClassVar[ScalarType]
    SCALAR_TYPE_INT32: _ClassVar[ScalarType]
    SCALAR_TYPE_INT64: _ClassVar[ScalarType]
    SCALAR_TYPE_FLOAT32: _ClassVar[ScalarType]
    SCALAR_TYPE_FLOAT64: _ClassVar[ScalarType]
    SCALAR_TYPE_STRING: _ClassVar[ScalarType]
    SCALAR_TYPE_BYTES: _ClassVar[ScalarType]
    SCALAR_TYPE_TIMESTAMP: _ClassVar[ScalarType]

class NullValue(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NULL_VALUE: _ClassVar[NullValue]

class ResourceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOURCE_STATE_UNSPECIFIED: _ClassVar[ResourceState]
    RESOURCE_STATE_PENDING: _ClassVar[ResourceState]
    RESOURCE_STATE_READY: _ClassVar[ResourceState]
    RESOURCE_STATE_FAILED: _ClassVar[ResourceState]
    RESOURCE_STATE_BACKFILLING: _ClassVar[ResourceState]
SCALAR_TYPE_UNSPECIFIED: ScalarType
SCALAR_TYPE_BOOL: ScalarType
SCALAR_TYPE_INT32: ScalarType
SCALAR_TYPE_INT64: ScalarType
SCALAR_TYPE_FLOAT32: ScalarType
SCALAR_TYPE_FLOAT64: ScalarType
SCALAR_TYPE_STRING: ScalarType
SCALAR_TYPE_BYTES: ScalarType
SCALAR_TYPE_TIMESTAMP: ScalarType
NULL_VALUE: NullValue
RESOURCE_STATE_UNSPECIFIED: ResourceState
RESOURCE_STATE_PENDING: ResourceState
RESOURCE_STATE_READY: ResourceState
RESOURCE_STATE_FAILED: ResourceState
RESOURCE_STATE_BACKFILLING: ResourceState

class ValueType(_message.Message):
    __slots__ = ("scalar", "is_list")
    SCALAR_FIELD_NUMBER: _ClassVar[int]
    IS_LIST_FIELD_NUMBER: _ClassVar[int]
    scalar: ScalarType
    is_list: bool
    def __init__(self, scalar: _Optional[_Union[ScalarType, str]] = ..., is_list: _Optional[bool] = ...) -> None: ...

class BoolList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, values: _Optional[_Iterable[bool]] = ...) -> None: ...

class Int32List(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class Int64List(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class Float32List(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Float64List(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class BytesList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class TimestampList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("null_value", "bool_value", "int32_value", "int64_value", "float32_value", "float64_value", "string_value", "bytes_value", "timestamp_value", "bool_list", "int32_list", "int64_list", "float32_list", "float64_list", "string_list", "bytes_list", "timestamp_list")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT32_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT32_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BYTES_VALUE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_LIST_FIELD_NUMBER: _ClassVar[int]
    INT32_LIST_FIELD_NUMBER: _ClassVar[int]
    INT64_LIST_FIELD_NUMBER: _ClassVar[int]
    FLOAT32_LIST_FIELD_NUMBER: _ClassVar[int]
    FLOAT64_LIST_FIELD_NUMBER: _ClassVar[int]
    STRING_LIST_FIELD_NUMBER: _ClassVar[int]
    BYTES_LIST_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_LIST_FIELD_NUMBER: _ClassVar[int]
    null_value: NullValue
    bool_value: bool
    int32_value: int
    int64_value: int
    float32_value: float
    float64_value: float
    string_value: str
    bytes_value: bytes
    timestamp_value: int
    bool_list: BoolList
    int32_list: Int32List
    int64_list: Int64List
    float32_list: Float32List
    float64_list: Float64List
    string_list: StringList
    bytes_list: BytesList
    timestamp_list: TimestampList
    def __init__(self, null_value: _Optional[_Union[NullValue, str]] = ..., bool_value: _Optional[bool] = ..., int32_value: _Optional[int] = ..., int64_value: _Optional[int] = ..., float32_value: _Optional[float] = ..., float64_value: _Optional[float] = ..., string_value: _Optional[str] = ..., bytes_value: _Optional[bytes] = ..., timestamp_value: _Optional[int] = ..., bool_list: _Optional[_Union[BoolList, _Mapping]] = ..., int32_list: _Optional[_Union[Int32List, _Mapping]] = ..., int64_list: _Optional[_Union[Int64List, _Mapping]] = ..., float32_list: _Optional[_Union[Float32List, _Mapping]] = ..., float64_list: _Optional[_Union[Float64List, _Mapping]] = ..., string_list: _Optional[_Union[StringList, _Mapping]] = ..., bytes_list: _Optional[_Union[BytesList, _Mapping]] = ..., timestamp_list: _Optional[_Union[TimestampList, _Mapping]] = ...) -> None: ...

class EntityKey(_message.Message):
    __slots__ = ("join_keys", "values")
    JOIN_KEYS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    join_keys: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, join_keys: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class ObjectMeta(_message.Message):
    __slots__ = ("create_time_micros", "update_time_micros", "revision")
    CREATE_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    create_time_micros: int
    update_time_micros: int
    revision: int
    def __init__(self, create_time_micros: _Optional[int] = ..., update_time_micros: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class FeatureGroupRef(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class FeatureViewRef(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class FeatureRef(_message.Message):
    __slots__ = ("group", "group_version", "feature")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    group: str
    group_version: int
    feature: str
    def __init__(self, group: _Optional[str] = ..., group_version: _Optional[int] = ..., feature: _Optional[str] = ...) -> None: ...

class FieldViolation(_message.Message):
    __slots__ = ("row", "field", "reason")
    ROW_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    row: int
    field: str
    reason: str
    def __init__(self, row: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class BadRows(_message.Message):
    __slots__ = ("violations", "truncated")
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[FieldViolation]
    truncated: bool
    def __init__(self, violations: _Optional[_Iterable[_Union[FieldViolation, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class WriteToken(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[WrittenGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[WrittenGroup, _Mapping]]] = ...) -> None: ...

class WrittenGroup(_message.Message):
    __slots__ = ("group", "end_offsets")
    class EndOffsetsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    END_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    group: FeatureGroupRef
    end_offsets: _containers.ScalarMap[int, int]
    def __init__(self, group: _Optional[_Union[FeatureGroupRef, _Mapping]] = ..., end_offsets: _Optional[_Mapping[int, int]] = ...) -> None: ...

class Consistency(_message.Message):
    __slots__ = ("level", "write_tokens", "max_wait_millis", "serve_stale", "at_least_micros")
    class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        LEVEL_EVENTUAL: _ClassVar[Consistency.Level]
        LEVEL_AFTER_WRITE: _ClassVar[Consistency.Level]
        LEVEL_AT_LEAST: _ClassVar[Consistency.Level]
    LEVEL_EVENTUAL: Consistency.Level
    LEVEL_AFTER_WRITE: Consistency.Level
    LEVEL_AT_LEAST: Consistency.Level
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    SERVE_STALE_FIELD_NUMBER: _ClassVar[int]
    AT_LEAST_MICROS_FIELD_NUMBER: _ClassVar[int]
    level: Consistency.Level
    write_tokens: _containers.RepeatedScalarFieldContainer[bytes]
    max_wait_millis: int
    serve_stale: bool
    at_least_micros: int
    def __init__(self, level: _Optional[_Union[Consistency.Level, str]] = ..., write_tokens: _Optional[_Iterable[bytes]] = ..., max_wait_millis: _Optional[int] = ..., serve_stale: _Optional[bool] = ..., at_least_micros: _Optional[int] = ...) -> None: ...

class GroupFreshness(_message.Message):
    __slots__ = ("group", "watermark_micros", "applied_offsets")
    class AppliedOffsetsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    group: FeatureGroupRef
    watermark_micros: int
    applied_offsets: _containers.ScalarMap[int, int]
    def __init__(self, group: _Optional[_Union[FeatureGroupRef, _Mapping]] = ..., watermark_micros: _Optional[int] = ..., applied_offsets: _Optional[_Mapping[int, int]] = ...) -> None: ...
