#!/bin/sh
# Installs the Debian packages Cove needs, and only those that are missing, so
# a second run is instant. Mirrors come from the machine's own apt sources.
set -eu

# Build: compiler, pkg-config, the libraries Cove links (see README for why each).
PKGS="build-essential pkg-config libjansson-dev libmnl-dev libcmocka-dev"
# Guest kernel: Debian's kernel source and what building it needs.
PKGS="$PKGS linux-source-6.1 flex bison bc libelf-dev libssl-dev cpio xz-utils"
# Guest image and VMM.
PKGS="$PKGS busybox-static e2fsprogs qemu-system-x86 qemu-utils"
# Tests: iproute2 only to count leftover namespaces and links from the outside.
PKGS="$PKGS iproute2 procps"

missing=""
for p in $PKGS; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    echo "deps: all $(echo $PKGS | wc -w) Debian packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing; run 'make deps' as root (or apt-get install them)" >&2
    exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
