#!/usr/bin/env bash
# Apache Kafka (KRaft, single node) for tests, on 127.0.0.1 only, from Maven
# Central artifacts (no Kafka distribution download needed).
#   kafka.sh install|start|stop|restart|reset|status
#   kafka.sh describe TOPIC [GROUP]   (ends, last stable offsets, open
#     transactions, the group's members and commits: for a stuck consumer)
# Ports: FS_KAFKA_PORT (default 9092) and the controller on the next one.
source "$(dirname "$0")/common.sh"

VERSION=4.1.1
PORT="${FS_KAFKA_PORT:-9092}"
CONTROLLER_PORT=$((PORT + 1))
INFRA="$(cd "$(dirname "$0")/infra/kafka" && pwd)"
HOME_DIR="$FS_CACHE/kafka-$VERSION"
LIBS="$HOME_DIR/libs"
DIR="$FS_RUN/kafka-$PORT"
PIDFILE="$DIR/kafka.pid"
LOGFILE="$DIR/kafka.log"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
round_trip() {
  java -Dlog4j2.configurationFile="$INFRA/log4j2.properties" -cp "$LIBS/*" \
    "$INFRA/ReadyCheck.java" "$PORT" >>"$LOGFILE" 2>&1
}

install() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  log "fetching Kafka $VERSION from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -B -q -f "$INFRA/pom.xml" -Dkafka.version="$VERSION" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2 || die "could not fetch Kafka $VERSION with Maven"
  touch "$LIBS/.complete"
}

start() {
  install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE" && listening; then log "kafka already running on 127.0.0.1:$PORT"; return 0; fi
  local props="$DIR/server.properties"
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA@|$DIR/data|g" \
    "$INFRA/server.properties.template" >"$props"
  if [ ! -f "$DIR/data/meta.properties" ]; then
    log "formatting kafka storage in $DIR/data"
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$INFRA/log4j2.properties" kafka.tools.StorageTool \
      format -t "$(cat /proc/sys/kernel/random/uuid | tr -d - | head -c 22)" -c "$props" >>"$LOGFILE" 2>&1 \
      || { tail -20 "$LOGFILE" >&2; die "kafka storage format failed; log: $LOGFILE"; }
  fi
  log "starting kafka on 127.0.0.1:$PORT (log: $LOGFILE)"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$INFRA/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$props" >>"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for kafka 90 listening; then
    tail -30 "$LOGFILE" >&2 || true
    die "kafka did not listen on 127.0.0.1:$PORT within 90s; log: $LOGFILE"
  fi
  pid_alive "$PIDFILE" || die "kafka exited during start-up; log: $LOGFILE"
  if ! wait_for "kafka round trip" 60 round_trip; then
    tail -30 "$LOGFILE" >&2 || true
    die "kafka listens but a produce/consume round trip failed for 60s; log: $LOGFILE"
  fi
  log "kafka ready on 127.0.0.1:$PORT"
}

stop() { stop_process kafka "$PIDFILE"; }

describe() {
  java -Dlog4j2.configurationFile="$INFRA/log4j2.properties" -cp "$LIBS/*" \
    "$INFRA/Describe.java" "$PORT" "$@"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  reset) stop; rm -rf "$DIR" ;;
  status) pid_alive "$PIDFILE" && listening ;;
  describe) shift; describe "$@" ;;
  *) echo "usage: $0 install|start|stop|restart|reset|status|describe TOPIC [GROUP]" >&2; exit 2 ;;
esac
