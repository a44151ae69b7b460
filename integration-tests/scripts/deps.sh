#!/usr/bin/env bash
# Prerequisites on a fresh Debian machine (`deps.sh build`: only what the
# build needs, for `make run`):
#   protobuf-compiler  etcd-client's build script runs protoc, and the proto
#                      drift check regenerates code with it
#   cmake, zlib, curl, ssl  librdkafka is built from source (rdkafka cmake-build)
#   java 17, maven     Kafka and Cassandra run from Maven Central artifacts

source "$(dirname "$0")/common.sh"
apt_install protobuf-compiler cmake zlib1g-dev libcurl4-openssl-dev libssl-dev pkg-config
[ "${1:-}" = build ] || apt_install openjdk-17-jre-headless maven
command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
