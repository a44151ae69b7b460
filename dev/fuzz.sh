#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) coverage-guided with
# cargo-fuzz for SECONDS each (default 60), seeded with the committed
# corpus (read only; what the run finds goes to a scratch corpus).
# A crash stops the run and leaves its input in fuzz/artifacts/<target>/:
# add it to fuzz/corpus/<target>/ with a test, then fix it.
#
# Needs the nightly toolchain and cargo-fuzz; installs them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
scratch="${TMPDIR:-/tmp}/featurestore-fuzz-corpus"
# cargo-fuzz builds in fuzz/target unless told otherwise; keep it apart
# from the stable builds.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/featurestore/fuzz-target}"
for file in fuzz/fuzz_targets/*.rs; do
  target="$(basename "$file" .rs)"
  mkdir -p "$scratch/$target"
  echo "[fuzz] $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10
done
echo "[fuzz] no crash in any target"
