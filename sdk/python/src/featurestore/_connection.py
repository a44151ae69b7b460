"""Addresses, channels and credentials: where each service is and how to
reach it (plain text, TLS, mutual TLS, bearer token)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

# The services' default ports (a standalone feature store listens on all
# five; `fsctl` uses the same defaults).
DEFAULT_PORTS = {
    "registry": 50051,
    "ingestion": 50052,
    "serving": 50053,
    "offline": 50054,
    "materialization": 50055,
}

# As large as the services accept by default (ingest requests and
# historical entity rows travel in one message).
MAX_MESSAGE_BYTES = 256 << 20


@dataclass(frozen=True)
class Endpoint:
    """A service's ``host:port`` and whether it speaks TLS."""

    target: str
    tls: bool

    @property
    def host(self) -> str:
        return self.target.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.target.rsplit(":", 1)[1])


def endpoint(service: str, address: str | None, host: str | None, tls: bool) -> Endpoint:
    """Where ``service`` is: the explicit address (``host:port``,
    ``http://host:port`` or ``https://host:port``), else
    ``FS_<SERVICE>_ADDR``, else ``host`` (default 127.0.0.1) on the
    service's default port."""
    if address is None:
        address = os.environ.get(f"FS_{service.upper()}_ADDR")
    if address is None:
        return Endpoint(f"{host or '127.0.0.1'}:{DEFAULT_PORTS[service]}", tls)
    if address.startswith("https://"):
        return Endpoint(address[len("https://") :].rstrip("/"), True)
    if address.startswith("http://"):
        return Endpoint(address[len("http://") :].rstrip("/"), False)
    if ":" not in address.rsplit("]", 1)[-1]:
        address = f"{address}:{DEFAULT_PORTS[service]}"
    return Endpoint(address, tls)


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


@dataclass(frozen=True)
class Credentials:
    """TLS material (PEM bytes) and the bearer token."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    domain: str | None = None
    token: str | None = None

    @classmethod
    def load(
        cls,
        tls_ca: str | None,
        tls_cert: str | None,
        tls_key: str | None,
        tls_domain: str | None,
        token: str | None,
    ) -> Credentials:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together (mutual TLS needs both)")
        return cls(
            ca=_read(tls_ca),
            cert=_read(tls_cert),
            key=_read(tls_key),
            domain=tls_domain,
            token=token if token is not None else os.environ.get("FS_TOKEN"),
        )

    def metadata(self) -> Sequence[tuple[str, str]]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def channel(where: Endpoint, credentials: Credentials) -> grpc.Channel:
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    if not where.tls:
        return grpc.insecure_channel(where.target, options=options)
    if credentials.domain:
        options.append(("grpc.ssl_target_name_override", credentials.domain))
    tls = grpc.ssl_channel_credentials(
        root_certificates=credentials.ca,
        private_key=credentials.key,
        certificate_chain=credentials.cert,
    )
    return grpc.secure_channel(where.target, tls, options=options)
