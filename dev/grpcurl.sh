#!/usr/bin/env bash
# Installs grpcurl (from the Go module proxy) into the cache and runs it:
#   grpcurl.sh -plaintext 127.0.0.1:50051 list
source "$(dirname "$0")/common.sh"
export GOPATH="$FS_CACHE/go"
bin="$GOPATH/bin/grpcurl"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || die "go is needed to install grpcurl"
  log "installing grpcurl into $GOPATH/bin"
  go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3 >&2
fi
exec "$bin" "$@"
