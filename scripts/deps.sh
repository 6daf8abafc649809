#!/bin/sh
# Install the Debian packages the build and tests need, if any is missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -eu

# The build: a C toolchain and the four libraries.  The tests also drive
# gortctl's top under tmux, check its metrics with promtool (Debian ships
# it in the prometheus package), lint the man pages with groff, and check
# the installed unit with systemd-analyze, sysusers and tmpfiles (systemd;
# man-db for the unit's Documentation= check).
need="build-essential pkg-config libcmocka-dev libevent-dev libjansson-dev libsqlite3-dev clang"
need="$need tmux prometheus groff-base systemd man-db"
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
apt-get install -y -qq --no-install-recommends $missing
