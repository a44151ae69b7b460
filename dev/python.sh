#!/usr/bin/env bash
# A Python with pyarrow (Arrow Flight client for the offline-query tests),
# the Python SDK's dependencies and test tools (grpcio, grpcio-tools, pandas,
# polars, pytest; dev/sdk-test.sh),
# DuckDB (the offline benchmark's reference) and kubernetes-validate (the
# manifest check, dev/k8s-check.sh), in a venv under the cache:
#   python.sh script.py args...   (runs it with the venv's python)
#   python.sh                     (just makes sure the venv exists)
source "$(dirname "$0")/common.sh"
venv="$FS_CACHE/venv"
requirements="$(cd "$(dirname "$0")" && pwd)/python/requirements.txt"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  log "creating $venv with $(tr '\n' ' ' < "$requirements")"
  python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; } \
    || die "cannot create a Python venv in $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2 \
    || die "pip could not install $requirements"
  cp "$requirements" "$stamp"
fi
[ $# -eq 0 ] && exit 0
exec "$venv/bin/python" "$@"
