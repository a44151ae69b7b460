#!/usr/bin/env bash
# etcd for tests, on 127.0.0.1 only.
#   etcd.sh install   install the Debian package (etcd-server) if missing
#   etcd.sh start     start it (idempotent), wait until it answers
#   etcd.sh stop      stop it (idempotent); data is kept
#   etcd.sh restart   stop then start, same data
#   etcd.sh reset     stop and delete its data
#   etcd.sh status    exit 0 if it answers
# Port: FS_ETCD_PORT (default 2379; the peer port is the next one).
source "$(dirname "$0")/common.sh"

PORT="${FS_ETCD_PORT:-2379}"
PEER_PORT=$((PORT + 1))
DIR="$FS_RUN/etcd-$PORT"
PIDFILE="$DIR/etcd.pid"
LOGFILE="$DIR/etcd.log"
ENDPOINT="http://127.0.0.1:$PORT"

healthy() { ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINT" --command-timeout=2s endpoint health >/dev/null 2>&1; }

install() {
  command -v etcd >/dev/null && command -v etcdctl >/dev/null && return 0
  apt_install etcd-server etcd-client
  # The package may start a system etcd on the default port: we run our own.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop etcd >/dev/null 2>&1 || true; fi
}

start() {
  install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE" && healthy; then log "etcd already running on $ENDPOINT"; return 0; fi
  if healthy; then log "an etcd already answers on $ENDPOINT; using it"; return 0; fi
  log "starting etcd on $ENDPOINT (log: $LOGFILE)"
  nohup etcd --name fs-test --data-dir "$DIR/data" \
    --listen-client-urls "$ENDPOINT" --advertise-client-urls "$ENDPOINT" \
    --listen-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-cluster "fs-test=http://127.0.0.1:$PEER_PORT" \
    --log-level warn >"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for etcd 30 healthy; then
    tail -20 "$LOGFILE" >&2 || true
    die "etcd did not become healthy on $ENDPOINT within 30s; log: $LOGFILE"
  fi
  log "etcd ready on $ENDPOINT"
}

stop() { stop_process etcd "$PIDFILE"; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  reset) stop; rm -rf "$DIR" ;;
  status) healthy ;;
  *) echo "usage: $0 install|start|stop|restart|reset|status" >&2; exit 2 ;;
esac
