#!/usr/bin/env bash
# Shared settings of the infrastructure scripts. Everything the scripts
# download or keep lives outside the clone, under FS_CACHE, so fresh clones
# (CI) reuse it.
set -euo pipefail

FS_CACHE="${FS_CACHE:-$HOME/.cache/featurestore}"
FS_RUN="${FS_RUN:-$FS_CACHE/run}"
mkdir -p "$FS_CACHE" "$FS_RUN"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# apt_install PKG... installs Debian packages that are missing (as root, or
# with sudo when available).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND... polls COMMAND until it succeeds.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.2
  done
}

# pid_alive PIDFILE
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_process NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL (idempotent).
stop_process() {
  local name=$1 pidfile=$2
  if pid_alive "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$pidfile"
}
