#!/usr/bin/env bash
# Every server the tests need, on 127.0.0.1: infra.sh up|down|reset|status
# (reset stops them and deletes their data; downloads are kept).
# etcd (Debian package), Kafka in KRaft mode and Cassandra 5.0 (Maven Central
# artifacts); downloads and data live under $FS_CACHE, outside the clone.
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
servers=(etcd kafka cassandra)
case "${1:-}" in
  up)
    started=$SECONDS
    for s in "${servers[@]}"; do "$here/$s.sh" start; done
    log "all servers ready in $((SECONDS - started))s"
    ;;
  down) for s in "${servers[@]}"; do "$here/$s.sh" stop; done ;;
  reset) for s in "${servers[@]}"; do "$here/$s.sh" reset; done ;;
  status)
    rc=0
    for s in "${servers[@]}"; do
      if "$here/$s.sh" status; then log "$s: up"; else log "$s: down"; rc=1; fi
    done
    exit $rc
    ;;
  *) echo "usage: $0 up|down|reset|status" >&2; exit 2 ;;
esac
