#!/usr/bin/env bash
# Build prerequisites on a fresh Debian machine:
#   protobuf-compiler  etcd-client's build script runs protoc, and the proto
#                      drift check regenerates code with it

source "$(dirname "$0")/common.sh"
apt_install protobuf-compiler
command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
