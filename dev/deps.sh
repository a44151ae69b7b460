#!/usr/bin/env bash
# Prerequisites on a fresh Debian machine:
#   (standalone)       `deps.sh standalone`, for `make run`: only a C
#                      compiler (the embedded backends are pure Rust; a few
#                      compression crates build C sources with cc)
#   protobuf-compiler  etcd-client's build script runs protoc, and the proto
#                      drift check regenerates code with it
#   cmake, zlib, curl, ssl  librdkafka is built from source (rdkafka cmake-build)
#   java 17, maven     Kafka and Cassandra run from Maven Central artifacts
# `deps.sh build` installs what the whole workspace build needs.

source "$(dirname "$0")/common.sh"
if [ "${1:-}" = standalone ]; then
  command -v cc >/dev/null || apt_install gcc libc6-dev
  command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
  exit 0
fi
apt_install protobuf-compiler cmake zlib1g-dev libcurl4-openssl-dev libssl-dev pkg-config
[ "${1:-}" = build ] || apt_install openjdk-17-jre-headless maven
command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
