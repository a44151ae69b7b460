from featurestore.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetMaterializationStatusRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ...) -> None: ...

class PartitionStatus(_message.Message):
    __slots__ = ("partition", "committed_offset", "high_watermark", "lag", "online_offset", "online_watermark_micros", "offline_watermark_micros", "online_lag")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATERMARK_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    ONLINE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ONLINE_WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_LAG_FIELD_NUMBER: _ClassVar[int]
    partition: int
    committed_offset: int
    high_watermark: int
    lag: int
    online_offset: int
    online_watermark_micros: int
    offline_watermark_micros: int
    online_lag: int
    def __init__(self, partition: _Optional[int] = ..., committed_offset: _Optional[int] = ..., high_watermark: _Optional[int] = ..., lag: _Optional[int] = ..., online_offset: _Optional[int] = ..., online_watermark_micros: _Optional[int] = ..., offline_watermark_micros: _Optional[int] = ..., online_lag: _Optional[int] = ...) -> None: ...

class MaterializationStatus(_message.Message):
    __slots__ = ("group", "online_table", "offline_table", "partitions", "last_event_time_micros", "message", "online_watermark_micros", "offline_watermark_micros", "online_lag_records", "offline_lag_records", "online_lag_seconds", "offline_lag_seconds", "events_folded", "tile_writes", "corrections", "bootstrap")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ONLINE_TABLE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_TABLE_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ONLINE_WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_LAG_RECORDS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_LAG_RECORDS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FOLDED_FIELD_NUMBER: _ClassVar[int]
    TILE_WRITES_FIELD_NUMBER: _ClassVar[int]
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    online_table: _types_pb2.ResourceState
    offline_table: _types_pb2.ResourceState
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionStatus]
    last_event_time_micros: int
    message: str
    online_watermark_micros: int
    offline_watermark_micros: int
    online_lag_records: int
    offline_lag_records: int
    online_lag_seconds: int
    offline_lag_seconds: int
    events_folded: int
    tile_writes: int
    corrections: _containers.RepeatedCompositeFieldContainer[DriftReport]
    bootstrap: AggregationBootstrap
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., online_table: _Optional[_Union[_types_pb2.ResourceState, str]] = ..., offline_table: _Optional[_Union[_types_pb2.ResourceState, str]] = ..., partitions: _Optional[_Iterable[_Union[PartitionStatus, _Mapping]]] = ..., last_event_time_micros: _Optional[int] = ..., message: _Optional[str] = ..., online_watermark_micros: _Optional[int] = ..., offline_watermark_micros: _Optional[int] = ..., online_lag_records: _Optional[int] = ..., offline_lag_records: _Optional[int] = ..., online_lag_seconds: _Optional[int] = ..., offline_lag_seconds: _Optional[int] = ..., events_folded: _Optional[int] = ..., tile_writes: _Optional[int] = ..., corrections: _Optional[_Iterable[_Union[DriftReport, _Mapping]]] = ..., bootstrap: _Optional[_Union[AggregationBootstrap, _Mapping]] = ...) -> None: ...

class PartitionProgress(_message.Message):
    __slots__ = ("online_offset", "offline_offset", "online_watermark_micros", "offline_watermark_micros", "updated_micros", "events_folded", "tile_writes")
    ONLINE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ONLINE_WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_WATERMARK_MICROS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MICROS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FOLDED_FIELD_NUMBER: _ClassVar[int]
    TILE_WRITES_FIELD_NUMBER: _ClassVar[int]
    online_offset: int
    offline_offset: int
    online_watermark_micros: int
    offline_watermark_micros: int
    updated_micros: int
    events_folded: int
    tile_writes: int
    def __init__(self, online_offset: _Optional[int] = ..., offline_offset: _Optional[int] = ..., online_watermark_micros: _Optional[int] = ..., offline_watermark_micros: _Optional[int] = ..., updated_micros: _Optional[int] = ..., events_folded: _Optional[int] = ..., tile_writes: _Optional[int] = ...) -> None: ...

class StartBackfillRequest(_message.Message):
    __slots__ = ("group", "start_time_micros", "end_time_micros")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    start_time_micros: int
    end_time_micros: int
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., start_time_micros: _Optional[int] = ..., end_time_micros: _Optional[int] = ...) -> None: ...

class BackfillJob(_message.Message):
    __slots__ = ("id", "group", "state", "rows_written", "message", "drift")
    ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROWS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    id: str
    group: _types_pb2.FeatureGroupRef
    state: _types_pb2.ResourceState
    rows_written: int
    message: str
    drift: DriftReport
    def __init__(self, id: _Optional[str] = ..., group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.ResourceState, str]] = ..., rows_written: _Optional[int] = ..., message: _Optional[str] = ..., drift: _Optional[_Union[DriftReport, _Mapping]] = ...) -> None: ...

class AggregationBootstrap(_message.Message):
    __slots__ = ("group", "aggregations", "state", "requested_micros", "finished_micros", "attempts", "message", "drift", "parts")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    AGGREGATIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_MICROS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    aggregations: _containers.RepeatedScalarFieldContainer[str]
    state: _types_pb2.ResourceState
    requested_micros: int
    finished_micros: int
    attempts: int
    message: str
    drift: DriftReport
    parts: _containers.RepeatedCompositeFieldContainer[CorrectionPart]
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., aggregations: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[_types_pb2.ResourceState, str]] = ..., requested_micros: _Optional[int] = ..., finished_micros: _Optional[int] = ..., attempts: _Optional[int] = ..., message: _Optional[str] = ..., drift: _Optional[_Union[DriftReport, _Mapping]] = ..., parts: _Optional[_Iterable[_Union[CorrectionPart, _Mapping]]] = ...) -> None: ...

class CorrectionPart(_message.Message):
    __slots__ = ("index", "runner", "claimed_until_micros", "attempts", "done", "drift", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RUNNER_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_UNTIL_MICROS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    runner: str
    claimed_until_micros: int
    attempts: int
    done: bool
    drift: DriftReport
    message: str
    def __init__(self, index: _Optional[int] = ..., runner: _Optional[str] = ..., claimed_until_micros: _Optional[int] = ..., attempts: _Optional[int] = ..., done: _Optional[bool] = ..., drift: _Optional[_Union[DriftReport, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class CorrectionRun(_message.Message):
    __slots__ = ("group", "start_time_micros", "end_time_micros", "state", "requested_micros", "finished_micros", "attempts", "message", "drift", "parts", "kind", "job")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_MICROS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroupRef
    start_time_micros: int
    end_time_micros: int
    state: _types_pb2.ResourceState
    requested_micros: int
    finished_micros: int
    attempts: int
    message: str
    drift: DriftReport
    parts: _containers.RepeatedCompositeFieldContainer[CorrectionPart]
    kind: str
    job: str
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroupRef, _Mapping]] = ..., start_time_micros: _Optional[int] = ..., end_time_micros: _Optional[int] = ..., state: _Optional[_Union[_types_pb2.ResourceState, str]] = ..., requested_micros: _Optional[int] = ..., finished_micros: _Optional[int] = ..., attempts: _Optional[int] = ..., message: _Optional[str] = ..., drift: _Optional[_Union[DriftReport, _Mapping]] = ..., parts: _Optional[_Iterable[_Union[CorrectionPart, _Mapping]]] = ..., kind: _Optional[str] = ..., job: _Optional[str] = ...) -> None: ...

class DriftReport(_message.Message):
    __slots__ = ("job_id", "start_time_micros", "end_time_micros", "events_read", "tiles_compared", "tiles_changed", "tiles_deferred", "max_abs_diff", "max_rel_diff", "lifetime_compared", "finished_micros", "started_micros")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_READ_FIELD_NUMBER: _ClassVar[int]
    TILES_COMPARED_FIELD_NUMBER: _ClassVar[int]
    TILES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    TILES_DEFERRED_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    MAX_REL_DIFF_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_COMPARED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_MICROS_FIELD_NUMBER: _ClassVar[int]
    STARTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    start_time_micros: int
    end_time_micros: int
    events_read: int
    tiles_compared: int
    tiles_changed: int
    tiles_deferred: int
    max_abs_diff: float
    max_rel_diff: float
    lifetime_compared: bool
    finished_micros: int
    started_micros: int
    def __init__(self, job_id: _Optional[str] = ..., start_time_micros: _Optional[int] = ..., end_time_micros: _Optional[int] = ..., events_read: _Optional[int] = ..., tiles_compared: _Optional[int] = ..., tiles_changed: _Optional[int] = ..., tiles_deferred: _Optional[int] = ..., max_abs_diff: _Optional[float] = ..., max_rel_diff: _Optional[float] = ..., lifetime_compared: _Optional[bool] = ..., finished_micros: _Optional[int] = ..., started_micros: _Optional[int] = ...) -> None: ...

class GetBackfillJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPipelineStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HeldTopic(_message.Message):
    __slots__ = ("topic", "records", "since_micros", "reason")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    topic: str
    records: int
    since_micros: int
    reason: str
    def __init__(self, topic: _Optional[str] = ..., records: _Optional[int] = ..., since_micros: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class PipelineStatus(_message.Message):
    __slots__ = ("held", "records_dropped_deleted_group", "records_undecodable", "records_foreign_topic", "consumer", "failed_attempts", "last_error", "last_error_micros")
    HELD_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DROPPED_DELETED_GROUP_FIELD_NUMBER: _ClassVar[int]
    RECORDS_UNDECODABLE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FOREIGN_TOPIC_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    FAILED_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_MICROS_FIELD_NUMBER: _ClassVar[int]
    held: _containers.RepeatedCompositeFieldContainer[HeldTopic]
    records_dropped_deleted_group: int
    records_undecodable: int
    records_foreign_topic: int
    consumer: str
    failed_attempts: int
    last_error: str
    last_error_micros: int
    def __init__(self, held: _Optional[_Iterable[_Union[HeldTopic, _Mapping]]] = ..., records_dropped_deleted_group: _Optional[int] = ..., records_undecodable: _Optional[int] = ..., records_foreign_topic: _Optional[int] = ..., consumer: _Optional[str] = ..., failed_attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., last_error_micros: _Optional[int] = ...) -> None: ...
