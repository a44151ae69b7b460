"""The SDK against a secured standalone: TLS with bearer tokens (Flight reads
included), and mutual TLS; without the credentials, refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import Standalone

import featurestore
from featurestore.errors import FeatureStoreError, UnauthenticatedError

SECRET = b"a-test-secret-of-32-bytes-or-so!"
ISSUER = "https://issuer.test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret: bytes = SECRET, expires_in: int = 600) -> str:
    """An HS256 JWT of the test issuer."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    claims = {
        "iss": ISSUER,
        "sub": "ana",
        "aud": "featurestore",
        "exp": int(time.time()) + expires_in,
    }
    body = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64(signature)}"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def certificates(dir: Path) -> None:
    """ca.pem signs server.pem (localhost, 127.0.0.1); clients.pem signs
    client.pem."""
    for ca in ("ca", "clients"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                "-subj", f"/CN=test {ca}", cwd=dir)  # fmt: skip
    for leaf, ca, name in (("server", "ca", "localhost"), ("client", "clients", "data-scientist")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr", "-subj", f"/CN={name}",
                cwd=dir)  # fmt: skip
        (dir / f"{leaf}.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            if leaf == "server"
            else "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
        )
        openssl("x509", "-req", "-in", f"{leaf}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{leaf}.pem", "-days", "2",
                "-extfile", f"{leaf}.ext", cwd=dir)  # fmt: skip


@pytest.fixture(scope="module")
def pki():
    dir = Path(tempfile.mkdtemp(prefix="featurestore-sdk-pki-"))
    certificates(dir)
    jwks = {"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": b64(SECRET)}]}
    (dir / "jwks.json").write_text(json.dumps(jwks))
    yield dir
    shutil.rmtree(dir, ignore_errors=True)


def start(pki: Path, name: str, config: str, credentials: dict) -> Standalone:
    (pki / f"{name}.toml").write_text(config)
    return Standalone(pki / name / "data", pki / f"{name}.toml", credentials)


def test_tls_and_bearer_tokens(pki, project):
    config = f"""
[tls]
cert_file = "{pki}/server.pem"
key_file = "{pki}/server.key"
[auth]
required = true
[[auth.issuers]]
issuer = "{ISSUER}"
audiences = ["featurestore"]
jwks_file = "{pki}/jwks.json"
"""
    (pki / "tokens").mkdir()
    store = start(pki, "tokens", config, {"tls_ca": str(pki / "ca.pem"), "token": token()})
    try:
        fs = store.client(project=project)
        fs.apply(
            {
                "project": project,
                "entities": [{"name": "user", "join_keys": [{"name": "id", "type": "int64"}]}],
                "feature_groups": [
                    {
                        "name": "stats",
                        "entity": "user",
                        "event_time_column": "at",
                        "features": [{"name": "score", "type": "float64"}],
                    }
                ],
                "feature_views": [{"name": "v", "features": [{"group": "stats"}]}],
            }
        )
        at = pa.array([1_700_000_000_000_000] * 2, pa.timestamp("us", tz="UTC"))
        written = fs.ingest("stats", pa.table({"id": [1, 2], "at": at, "score": [0.5, 1.5]}))
        vectors = fs.get_feature_vectors("v", [1, 2], after=written, max_wait=2.5)
        assert [d["stats__score"] for d in vectors.to_dicts()] == [0.5, 1.5]
        # Flight over TLS, with the token in the call's headers.
        entities = pa.table({"id": [1], "event_timestamp": at[:1]})
        rows = fs.get_historical_features("v", entities, after=written, max_wait=25).to_arrow()
        assert rows.column("stats__score").to_pylist() == [0.5]

        with pytest.raises(UnauthenticatedError, match="no identity"):
            store.client(project=project, token=None).list("projects")
        with pytest.raises(UnauthenticatedError):
            store.client(token=token(b"another-secret-of-32-bytes-long!")).list("projects")
        with pytest.raises(FeatureStoreError) as e:  # plain text to a TLS port
            featurestore.Client(**store.addresses, timeout=5).list("projects")
        assert e.value.code.name == "UNAVAILABLE"
    finally:
        store.stop()


def test_mutual_tls(pki):
    config = f"""
[tls]
cert_file = "{pki}/server.pem"
key_file = "{pki}/server.key"
client_ca_file = "{pki}/clients.pem"
[auth]
required = true
"""
    (pki / "mutual").mkdir()
    credentials = {
        "tls_ca": str(pki / "ca.pem"),
        "tls_cert": str(pki / "client.pem"),
        "tls_key": str(pki / "client.key"),
    }
    store = start(pki, "mutual", config, credentials)
    try:
        assert isinstance(store.client().list("projects"), list)
        with pytest.raises(FeatureStoreError) as e:  # no client certificate
            featurestore.Client(**store.addresses, tls_ca=str(pki / "ca.pem"), timeout=5).list(
                "projects"
            )
        assert e.value.code.name in ("UNAVAILABLE", "UNAUTHENTICATED")
        with pytest.raises(ValueError, match="go together"):
            featurestore.Client(tls_ca=str(pki / "ca.pem"), tls_cert=str(pki / "client.pem"))
    finally:
        store.stop()
