#!/usr/bin/env bash
# Every server the tests need, on 127.0.0.1: infra.sh up|down|reset|status
# (reset stops them and deletes their data; downloads are kept).
# etcd (Debian package), Kafka in KRaft mode and Cassandra 5.0 (Maven Central
# artifacts); downloads and data live under $FS_CACHE, outside the clone.
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
servers=(etcd kafka cassandra)
# One infra.sh at a time: two concurrent starts would run two servers on the
# same data directory (and corrupt it). The servers must not inherit the
# lock, hence `9>&-` on every server script.
exec 9>"$FS_RUN/infra.lock"
flock 9
server() { "$here/$1.sh" "$2" 9>&-; }
case "${1:-}" in
  up)
    started=$SECONDS
    for s in "${servers[@]}"; do server "$s" start; done
    log "all servers ready in $((SECONDS - started))s"
    ;;
  down) for s in "${servers[@]}"; do server "$s" stop; done ;;
  reset) for s in "${servers[@]}"; do server "$s" reset; done ;;
  status)
    rc=0
    for s in "${servers[@]}"; do
      if server "$s" status; then log "$s: up"; else log "$s: down"; rc=1; fi
    done
    exit $rc
    ;;
  *) echo "usage: $0 up|down|reset|status" >&2; exit 2 ;;
esac
