#!/usr/bin/env bash
# Every server the tests need, on 127.0.0.1: infra.sh up|down|status.
# Today that is etcd; Kafka and Cassandra join with the write path.
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
case "${1:-}" in
  up) "$here/etcd.sh" start ;;
  down) "$here/etcd.sh" stop ;;
  status) "$here/etcd.sh" status && log "etcd: up" || { log "etcd: down"; exit 1; } ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
