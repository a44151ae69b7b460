from featurestore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestRequest(_message.Message):
    __slots__ = ("group", "columns", "rows", "idempotency_key")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    columns: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[_types_pb2.Row]
    idempotency_key: str
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., columns: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[_types_pb2.Row, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class IngestArrowRequest(_message.Message):
    __slots__ = ("group", "arrow_ipc_stream", "idempotency_key")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_STREAM_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    arrow_ipc_stream: bytes
    idempotency_key: str
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., arrow_ipc_stream: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("rows_accepted", "group_version", "write_token", "written")
    ROWS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    GROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    WRITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    rows_accepted: int
    group_version: int
    write_token: bytes
    written: _types_pb2.WriteToken
    def __init__(self, rows_accepted: _Optional[int] = ..., group_version: _Optional[int] = ..., write_token: _Optional[bytes] = ..., written: _Optional[_Union[_types_pb2.WriteToken, _Mapping]] = ...) -> None: ...

class FeatureRowRecord(_message.Message):
    __slots__ = ("key_values", "event_time_micros", "feature_values", "ingest_time_micros")
    KEY_VALUES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_VALUES_FIELD_NUMBER: _ClassVar[int]
    INGEST_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    key_values: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    event_time_micros: int
    feature_values: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    ingest_time_micros: int
    def __init__(self, key_values: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ..., event_time_micros: _Optional[int] = ..., feature_values: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ..., ingest_time_micros: _Optional[int] = ...) -> None: ...

class IdempotencyRecord(_message.Message):
    __slots__ = ("request_fingerprint", "created_micros", "response")
    REQUEST_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_MICROS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    request_fingerprint: bytes
    created_micros: int
    response: IngestResponse
    def __init__(self, request_fingerprint: _Optional[bytes] = ..., created_micros: _Optional[int] = ..., response: _Optional[_Union[IngestResponse, _Mapping]] = ...) -> None: ...
