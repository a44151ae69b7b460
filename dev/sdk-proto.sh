#!/usr/bin/env bash
# The Python SDK's gRPC stubs (sdk/python/src/featurestore/v1), generated
# from proto/ with grpcio-tools from the test venv:
#   sdk-proto.sh           regenerate them
#   sdk-proto.sh --check   fail when the checked-in stubs and proto/ differ
source "$(dirname "$0")/common.sh"
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/dev/python.sh"
python="$FS_CACHE/venv/bin/python"
out="$root/sdk/python/src"
if [ "${1:-}" = "--check" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out/featurestore/v1"
(cd "$root/proto" && "$python" -m grpc_tools.protoc -I . \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" featurestore/v1/*.proto)
if [ "${1:-}" = "--check" ]; then
  stubs="$root/sdk/python/src/featurestore/v1"
  if ! diff -r -q -x __init__.py -x __pycache__ "$out/featurestore/v1" "$stubs"; then
    die "the SDK's stubs differ from proto/: run make sdk-proto and commit the result"
  fi
  log "the SDK's stubs match proto/"
fi
