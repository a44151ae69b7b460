#!/usr/bin/env bash
# The Python SDK's tests: installs sdk/python into the test venv the way a
# user would (pip, from the source tree, not editable) and runs pytest
# against the debug binaries: `standalone`, and the five services over the
# test etcd, Kafka and Cassandra (`infra.sh up`). Extra arguments go to
# pytest.
source "$(dirname "$0")/common.sh"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$FS_CACHE/target}"
# `cargo test` builds only the binaries some Rust test runs.
cargo build --workspace --bins
"$root/dev/python.sh"
venv="$FS_CACHE/venv"
log "installing sdk/python into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$root/sdk/python" \
  || die "pip could not install sdk/python"
cd "$root/sdk/python"
# pytest exits 5 when it collects no test: that fails here too.
CARGO_TARGET_DIR="$target" exec "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" tests
