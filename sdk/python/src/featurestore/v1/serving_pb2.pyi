from featurestore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_STATUS_UNSPECIFIED: _ClassVar[FeatureStatus]
    FEATURE_STATUS_PRESENT: _ClassVar[FeatureStatus]
    FEATURE_STATUS_NOT_FOUND: _ClassVar[FeatureStatus]
    FEATURE_STATUS_OUTSIDE_MAX_AGE: _ClassVar[FeatureStatus]
    FEATURE_STATUS_NULL: _ClassVar[FeatureStatus]
    FEATURE_STATUS_STALE: _ClassVar[FeatureStatus]
    FEATURE_STATUS_BACKFILLING: _ClassVar[FeatureStatus]
FEATURE_STATUS_UNSPECIFIED: FeatureStatus
FEATURE_STATUS_PRESENT: FeatureStatus
FEATURE_STATUS_NOT_FOUND: FeatureStatus
FEATURE_STATUS_OUTSIDE_MAX_AGE: FeatureStatus
FEATURE_STATUS_NULL: FeatureStatus
FEATURE_STATUS_STALE: FeatureStatus
FEATURE_STATUS_BACKFILLING: FeatureStatus

class FeatureList(_message.Message):
    __slots__ = ("features",)
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureRef]
    def __init__(self, features: _Optional[_Iterable[_Union[_types_pb2.FeatureRef, _Mapping]]] = ...) -> None: ...

class FeatureSelector(_message.Message):
    __slots__ = ("view", "features")
    VIEW_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    view: _types_pb2.FeatureViewRef
    features: FeatureList
    def __init__(self, view: _Optional[_Union[_types_pb2.FeatureViewRef, _Mapping]] = ..., features: _Optional[_Union[FeatureList, _Mapping]] = ...) -> None: ...

class FeatureVector(_message.Message):
    __slots__ = ("values", "statuses", "event_times_micros")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMES_MICROS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    statuses: _containers.RepeatedScalarFieldContainer[FeatureStatus]
    event_times_micros: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ..., statuses: _Optional[_Iterable[_Union[FeatureStatus, str]]] = ..., event_times_micros: _Optional[_Iterable[int]] = ...) -> None: ...

class GetFeatureVectorRequest(_message.Message):
    __slots__ = ("project", "selector", "entity_key", "include_event_times", "consistency", "include_freshness")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EVENT_TIMES_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    project: str
    selector: FeatureSelector
    entity_key: _types_pb2.EntityKey
    include_event_times: bool
    consistency: _types_pb2.Consistency
    include_freshness: bool
    def __init__(self, project: _Optional[str] = ..., selector: _Optional[_Union[FeatureSelector, _Mapping]] = ..., entity_key: _Optional[_Union[_types_pb2.EntityKey, _Mapping]] = ..., include_event_times: _Optional[bool] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, _Mapping]] = ..., include_freshness: _Optional[bool] = ...) -> None: ...

class GetFeatureVectorResponse(_message.Message):
    __slots__ = ("feature_names", "vector", "freshness")
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    vector: FeatureVector
    freshness: _containers.RepeatedCompositeFieldContainer[_types_pb2.GroupFreshness]
    def __init__(self, feature_names: _Optional[_Iterable[str]] = ..., vector: _Optional[_Union[FeatureVector, _Mapping]] = ..., freshness: _Optional[_Iterable[_Union[_types_pb2.GroupFreshness, _Mapping]]] = ...) -> None: ...

class GetFeatureVectorsRequest(_message.Message):
    __slots__ = ("project", "selector", "join_keys", "entity_rows", "include_event_times", "consistency", "include_freshness")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    JOIN_KEYS_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ROWS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EVENT_TIMES_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    project: str
    selector: FeatureSelector
    join_keys: _containers.RepeatedScalarFieldContainer[str]
    entity_rows: _containers.RepeatedCompositeFieldContainer[_types_pb2.Row]
    include_event_times: bool
    consistency: _types_pb2.Consistency
    include_freshness: bool
    def __init__(self, project: _Optional[str] = ..., selector: _Optional[_Union[FeatureSelector, _Mapping]] = ..., join_keys: _Optional[_Iterable[str]] = ..., entity_rows: _Optional[_Iterable[_Union[_types_pb2.Row, _Mapping]]] = ..., include_event_times: _Optional[bool] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, _Mapping]] = ..., include_freshness: _Optional[bool] = ...) -> None: ...

class GetFeatureVectorsResponse(_message.Message):
    __slots__ = ("feature_names", "vectors", "freshness")
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    vectors: _containers.RepeatedCompositeFieldContainer[FeatureVector]
    freshness: _containers.RepeatedCompositeFieldContainer[_types_pb2.GroupFreshness]
    def __init__(self, feature_names: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Iterable[_Union[FeatureVector, _Mapping]]] = ..., freshness: _Optional[_Iterable[_Union[_types_pb2.GroupFreshness, _Mapping]]] = ...) -> None: ...
