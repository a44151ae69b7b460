"""Errors raised by the SDK: every failed call is a :class:`FeatureStoreError`
carrying the gRPC status code and the server's message.

A status with field violations carries them the standard way (a
``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer holding a
``google.rpc.BadRequest`` and, for rejected rows, ``featurestore.v1.BadRows``);
they are decoded here without ``grpcio-status`` or the googleapis protos.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

from featurestore.v1 import types_pb2

__all__ = [
    "FeatureStoreError",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "FailedPreconditionError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "UnavailableError",
    "DeadlineExceededError",
    "ResourceExhaustedError",
    "IngestError",
    "SpecError",
    "FieldViolation",
    "RowViolation",
]


@dataclass(frozen=True)
class FieldViolation:
    """One wrong field of a request, e.g. ``rows[3].amount`` and why."""

    field: str
    description: str


@dataclass(frozen=True)
class RowViolation:
    """One rejected row of an ingest: its index in what was sent, the column
    (empty when the row as a whole was wrong) and the reason."""

    row: int
    field: str
    reason: str


class FeatureStoreError(Exception):
    """A call the feature store refused or could not answer.

    ``code`` is the :class:`grpc.StatusCode`, ``message`` the server's text,
    ``violations`` the fields it named (INVALID_ARGUMENT)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.violations = violations


class InvalidArgumentError(FeatureStoreError, ValueError):
    """INVALID_ARGUMENT: the request named something wrong (see ``violations``)."""


class NotFoundError(FeatureStoreError, LookupError):
    """NOT_FOUND: the project, group, view or dataset does not exist."""


class AlreadyExistsError(FeatureStoreError):
    """ALREADY_EXISTS."""


class FailedPreconditionError(FeatureStoreError):
    """FAILED_PRECONDITION (for example a revision that changed meanwhile)."""


class PermissionDeniedError(FeatureStoreError, PermissionError):
    """PERMISSION_DENIED: the caller's role does not allow the call."""


class UnauthenticatedError(FeatureStoreError, PermissionError):
    """UNAUTHENTICATED: no valid token or certificate."""


class UnavailableError(FeatureStoreError, ConnectionError):
    """UNAVAILABLE: the service cannot be reached or is shutting down."""


class DeadlineExceededError(FeatureStoreError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's timeout ran out (or a consistency wait did)."""


class ResourceExhaustedError(FeatureStoreError):
    """RESOURCE_EXHAUSTED: a rate limit or a memory limit."""


class IngestError(InvalidArgumentError):
    """An ingest rejected whole because some rows were bad; nothing was written.

    ``rows`` lists each bad row (index in the frame, column, reason);
    ``truncated`` is true when the server stopped listing them."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: tuple[FieldViolation, ...],
        rows: tuple[RowViolation, ...],
        truncated: bool,
    ) -> None:
        super().__init__(code, message, violations)
        self.rows = rows
        self.truncated = truncated


class SpecError(ValueError):
    """A spec (YAML file or dict) that cannot be read or does not fit the
    registry's objects; raised before anything is sent."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
}

_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_BAD_REQUEST_URL = "type.googleapis.com/google.rpc.BadRequest"
_BAD_ROWS_URL = "type.googleapis.com/featurestore.v1.BadRows"


def _rpc_messages():
    """``google.rpc.Status`` and ``google.rpc.BadRequest`` from their wire
    definitions, in a pool of their own (no clash with googleapis-common-protos
    when a program also imports it)."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FileDescriptorProto(
        name="featurestore_sdk/google_rpc.proto",
        package="google.rpc",
        syntax="proto3",
        dependency=["google/protobuf/any.proto"],
    )
    status = f.message_type.add(name="Status")
    status.field.add(name="code", number=1, type=5, label=1)  # int32
    status.field.add(name="message", number=2, type=9, label=1)  # string
    status.field.add(name="details", number=3, type=11, label=3, type_name=".google.protobuf.Any")
    bad_request = f.message_type.add(name="BadRequest")
    violation = bad_request.nested_type.add(name="FieldViolation")
    violation.field.add(name="field", number=1, type=9, label=1)
    violation.field.add(name="description", number=2, type=9, label=1)
    bad_request.field.add(
        name="field_violations",
        number=1,
        type=11,
        label=3,
        type_name=".google.rpc.BadRequest.FieldViolation",
    )
    pool.Add(f)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.BadRequest")),
    )


_Status, _BadRequest = _rpc_messages()


def _details(error: grpc.RpcError) -> object | None:
    trailers = getattr(error, "trailing_metadata", lambda: None)() or ()
    for key, value in trailers:
        if key == _STATUS_DETAILS_KEY:
            status = _Status()
            status.ParseFromString(value)
            return status
    return None


def from_rpc_error(error: grpc.RpcError) -> FeatureStoreError:
    """The SDK's exception for a failed gRPC call (its subclass by code)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    violations: list[FieldViolation] = []
    bad_rows = None
    status = _details(error)
    if status is not None:
        for detail in status.details:
            if detail.type_url == _BAD_REQUEST_URL:
                request = _BadRequest()
                request.ParseFromString(detail.value)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in request.field_violations
                )
            elif detail.type_url == _BAD_ROWS_URL:
                bad_rows = types_pb2.BadRows()
                bad_rows.ParseFromString(detail.value)
    if bad_rows is not None:
        rows = tuple(RowViolation(int(v.row), v.field, v.reason) for v in bad_rows.violations)
        return IngestError(code, message or "", tuple(violations), rows, bad_rows.truncated)
    cls = _BY_CODE.get(code, FeatureStoreError)
    return cls(code, message or "", tuple(violations))
