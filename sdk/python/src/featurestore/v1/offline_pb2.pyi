from featurestore.v1 import catalog_pb2 as _catalog_pb2
from featurestore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_FORMAT_UNSPECIFIED: _ClassVar[DatasetFormat]
    DATASET_FORMAT_PARQUET: _ClassVar[DatasetFormat]
    DATASET_FORMAT_DELTA: _ClassVar[DatasetFormat]
DATASET_FORMAT_UNSPECIFIED: DatasetFormat
DATASET_FORMAT_PARQUET: DatasetFormat
DATASET_FORMAT_DELTA: DatasetFormat

class EntitySource(_message.Message):
    __slots__ = ("arrow_ipc_stream", "parquet_path", "delta_path", "timestamp_column", "delta_version")
    ARROW_IPC_STREAM_FIELD_NUMBER: _ClassVar[int]
    PARQUET_PATH_FIELD_NUMBER: _ClassVar[int]
    DELTA_PATH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_COLUMN_FIELD_NUMBER: _ClassVar[int]
    DELTA_VERSION_FIELD_NUMBER: _ClassVar[int]
    arrow_ipc_stream: bytes
    parquet_path: str
    delta_path: str
    timestamp_column: str
    delta_version: int
    def __init__(self, arrow_ipc_stream: _Optional[bytes] = ..., parquet_path: _Optional[str] = ..., delta_path: _Optional[str] = ..., timestamp_column: _Optional[str] = ..., delta_version: _Optional[int] = ...) -> None: ...

class GetHistoricalFeaturesRequest(_message.Message):
    __slots__ = ("project", "view", "feature_refs", "entities", "consistency")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    FEATURE_REFS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    project: str
    view: _types_pb2.FeatureViewRef
    feature_refs: FeatureRefs
    entities: EntitySource
    consistency: _types_pb2.Consistency
    def __init__(self, project: _Optional[str] = ..., view: _Optional[_Union[_types_pb2.FeatureViewRef, _Mapping]] = ..., feature_refs: _Optional[_Union[FeatureRefs, _Mapping]] = ..., entities: _Optional[_Union[EntitySource, _Mapping]] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, _Mapping]] = ...) -> None: ...

class FeatureRefs(_message.Message):
    __slots__ = ("features",)
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureRef]
    def __init__(self, features: _Optional[_Iterable[_Union[_types_pb2.FeatureRef, _Mapping]]] = ...) -> None: ...

class QueryHandle(_message.Message):
    __slots__ = ("flight_ticket", "arrow_schema", "table_versions", "freshness")
    class TableVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    FLIGHT_TICKET_FIELD_NUMBER: _ClassVar[int]
    ARROW_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    flight_ticket: bytes
    arrow_schema: bytes
    table_versions: _containers.ScalarMap[str, int]
    freshness: _containers.RepeatedCompositeFieldContainer[_types_pb2.GroupFreshness]
    def __init__(self, flight_ticket: _Optional[bytes] = ..., arrow_schema: _Optional[bytes] = ..., table_versions: _Optional[_Mapping[str, int]] = ..., freshness: _Optional[_Iterable[_Union[_types_pb2.GroupFreshness, _Mapping]]] = ...) -> None: ...

class FlightTicket(_message.Message):
    __slots__ = ("query", "dataset", "expires_at_micros", "principal")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    query: QueryTicket
    dataset: TrainingDatasetRef
    expires_at_micros: int
    principal: str
    def __init__(self, query: _Optional[_Union[QueryTicket, _Mapping]] = ..., dataset: _Optional[_Union[TrainingDatasetRef, _Mapping]] = ..., expires_at_micros: _Optional[int] = ..., principal: _Optional[str] = ...) -> None: ...

class SignedTicket(_message.Message):
    __slots__ = ("ticket", "mac")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    ticket: bytes
    mac: bytes
    def __init__(self, ticket: _Optional[bytes] = ..., mac: _Optional[bytes] = ...) -> None: ...

class QueryTicket(_message.Message):
    __slots__ = ("project", "groups", "entities")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    project: str
    groups: _containers.RepeatedCompositeFieldContainer[PinnedGroup]
    entities: EntitySource
    def __init__(self, project: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[PinnedGroup, _Mapping]]] = ..., entities: _Optional[_Union[EntitySource, _Mapping]] = ...) -> None: ...

class PinnedGroup(_message.Message):
    __slots__ = ("group", "group_version", "features", "delta_version")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    DELTA_VERSION_FIELD_NUMBER: _ClassVar[int]
    group: str
    group_version: int
    features: _containers.RepeatedScalarFieldContainer[str]
    delta_version: int
    def __init__(self, group: _Optional[str] = ..., group_version: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ..., delta_version: _Optional[int] = ...) -> None: ...

class ReadFeatureGroupRequest(_message.Message):
    __slots__ = ("group", "delta_version", "timestamp_micros", "consistency")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DELTA_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MICROS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    delta_version: int
    timestamp_micros: int
    consistency: _types_pb2.Consistency
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., delta_version: _Optional[int] = ..., timestamp_micros: _Optional[int] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, _Mapping]] = ...) -> None: ...

class CreateTrainingDatasetRequest(_message.Message):
    __slots__ = ("project", "name", "version", "query", "format")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    query: GetHistoricalFeaturesRequest
    format: DatasetFormat
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., query: _Optional[_Union[GetHistoricalFeaturesRequest, _Mapping]] = ..., format: _Optional[_Union[DatasetFormat, str]] = ...) -> None: ...

class TrainingDataset(_message.Message):
    __slots__ = ("project", "name", "version", "query", "format", "location", "row_count", "table_versions", "create_time_micros", "flight_ticket", "groups", "view", "entity_columns", "arrow_schema", "freshness")
    class TableVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    FLIGHT_TICKET_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    ENTITY_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ARROW_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    query: GetHistoricalFeaturesRequest
    format: DatasetFormat
    location: str
    row_count: int
    table_versions: _containers.ScalarMap[str, int]
    create_time_micros: int
    flight_ticket: bytes
    groups: _containers.RepeatedCompositeFieldContainer[PinnedGroup]
    view: _catalog_pb2.FeatureView
    entity_columns: _containers.RepeatedScalarFieldContainer[str]
    arrow_schema: bytes
    freshness: _containers.RepeatedCompositeFieldContainer[_types_pb2.GroupFreshness]
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., query: _Optional[_Union[GetHistoricalFeaturesRequest, _Mapping]] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., location: _Optional[str] = ..., row_count: _Optional[int] = ..., table_versions: _Optional[_Mapping[str, int]] = ..., create_time_micros: _Optional[int] = ..., flight_ticket: _Optional[bytes] = ..., groups: _Optional[_Iterable[_Union[PinnedGroup, _Mapping]]] = ..., view: _Optional[_Union[_catalog_pb2.FeatureView, _Mapping]] = ..., entity_columns: _Optional[_Iterable[str]] = ..., arrow_schema: _Optional[bytes] = ..., freshness: _Optional[_Iterable[_Union[_types_pb2.GroupFreshness, _Mapping]]] = ...) -> None: ...

class TrainingDatasetRef(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetTrainingDatasetRequest(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class DeleteTrainingDatasetRequest(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class DeleteTrainingDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTrainingDatasetsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrainingDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[TrainingDataset]
    next_page_token: str
    def __init__(self, datasets: _Optional[_Iterable[_Union[TrainingDataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
