#!/bin/sh
# Install the Debian packages the build and tests need, if any is missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -eu

need="build-essential pkg-config libcmocka-dev libevent-dev libjansson-dev libsqlite3-dev clang"
missing=""
for pkg in $need; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "deps: all build dependencies are installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing
