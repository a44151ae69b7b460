#!/usr/bin/env bash
# Apache Cassandra 5.0 (single node) for tests, on 127.0.0.1 only, from Maven
# Central artifacts (cassandra-all and its dependencies).
#   cassandra.sh install|start|stop|restart|reset|status
# Ports: FS_CASSANDRA_PORT (CQL, default 9042); storage on FS_CASSANDRA_STORAGE_PORT (7000).
source "$(dirname "$0")/common.sh"

VERSION=5.0.6
PORT="${FS_CASSANDRA_PORT:-9042}"
STORAGE_PORT="${FS_CASSANDRA_STORAGE_PORT:-7000}"
INFRA="$(cd "$(dirname "$0")/infra/cassandra" && pwd)"
LIBS="$FS_CACHE/cassandra-$VERSION/libs"
DIR="$FS_RUN/cassandra-$PORT"
PIDFILE="$DIR/cassandra.pid"
LOGFILE="$DIR/cassandra.log"
HEAP="${FS_CASSANDRA_HEAP:-1G}"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
answers() { java -Dlogback.configurationFile="$INFRA/logback.xml" -cp "$LIBS/*" "$INFRA/ReadyCheck.java" "$PORT" >>"$LOGFILE" 2>&1; }

install() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  log "fetching Cassandra $VERSION from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -B -q -f "$INFRA/pom.xml" -Dcassandra.version="$VERSION" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2 || die "could not fetch Cassandra $VERSION with Maven"
  touch "$LIBS/.complete"
}

# JVM flags from Cassandra's conf/jvm17-server.options that it needs to run.
jvm_flags() {
  local exports=(java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi
    java.rmi/sun.rmi.registry java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref
    jdk.unsupported/sun.misc)
  local opens=(java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref
    java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module
    java.base/jdk.internal.util.jar java.base/sun.nio.ch java.base/java.io java.base/java.nio
    java.base/java.lang.reflect java.base/java.lang java.base/java.util
    jdk.management/com.sun.management.internal)
  for e in "${exports[@]}"; do printf -- '--add-exports=%s=ALL-UNNAMED\n' "$e"; done
  for o in "${opens[@]}"; do printf -- '--add-opens=%s=ALL-UNNAMED\n' "$o"; done
}

start() {
  install
  mkdir -p "$DIR"
  if pid_alive "$PIDFILE" && listening; then log "cassandra already running on 127.0.0.1:$PORT"; return 0; fi
  local yaml="$DIR/cassandra.yaml"
  sed -e "s|@PORT@|$PORT|g" -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" -e "s|@DATA@|$DIR|g" \
    "$INFRA/cassandra.yaml.template" >"$yaml"
  log "starting cassandra $VERSION on 127.0.0.1:$PORT (log: $LOGFILE)"
  mapfile -t flags < <(jvm_flags)
  nohup java -Xms"$HEAP" -Xmx"$HEAP" -Xss512k -XX:+UseG1GC -XX:+HeapDumpOnOutOfMemoryError \
    "${flags[@]}" \
    -javaagent:"$LIBS/jamm-0.4.0.jar" \
    -Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true \
    -Dcassandra.config="file://$yaml" -Dcassandra.storagedir="$DIR" \
    -Dcassandra.logdir="$DIR" -Dlogback.configurationFile="$INFRA/logback.xml" \
    -Dcassandra-foreground=yes -Dcassandra.jmx.local.port=0 \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -cp "$LIBS/*" org.apache.cassandra.service.CassandraDaemon >>"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for cassandra 180 listening; then
    tail -30 "$LOGFILE" >&2 || true
    pid_alive "$PIDFILE" || die "cassandra exited during start-up; log: $LOGFILE"
    die "cassandra did not listen on 127.0.0.1:$PORT within 180s; log: $LOGFILE"
  fi
  if ! wait_for "cassandra SELECT" 60 answers; then
    tail -30 "$LOGFILE" >&2 || true
    die "cassandra listens but did not answer SELECT on system.local within 60s; log: $LOGFILE"
  fi
  log "cassandra ready on 127.0.0.1:$PORT"
}

stop() { stop_process cassandra "$PIDFILE"; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  reset) stop; rm -rf "$DIR" ;;
  status) pid_alive "$PIDFILE" && listening ;;
  *) echo "usage: $0 install|start|stop|restart|reset|status" >&2; exit 2 ;;
esac
