#!/bin/sh
# Builds libmicrohttpd as a static library without TLS, for the guest agent.
#
# The guest agent is linked statically so it runs in any root file system.
# Debian's libmicrohttpd.a is built with HTTPS, which drags in gnutls and then
# p11-kit, which Debian ships only as a shared library. The agent serves plain
# HTTP inside the sandbox (the host reaches it through the sandbox's network
# namespace), so it takes Debian's own source package of the same library and
# builds it with --disable-https.
#
#   build-microhttpd.sh WORKDIR PREFIX
set -eu
work=$1 prefix=$2
mkdir -p "$work"
work=$(realpath "$work")
mkdir -p "$prefix"
prefix=$(realpath "$prefix")

# The source package is kept in the machine's cache (COVE_CACHE, by default
# /var/cache/cove for root, else ~/.cache/cove), so a fresh clone builds
# without the network once this machine has fetched it. The version is the
# installed libmicrohttpd-dev's, the headers the host programs compile against.
if [ "$(id -u)" = 0 ]; then cache=${COVE_CACHE:-/var/cache/cove}/src
else cache=${COVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cove}/src; fi
version=$(dpkg-query -W -f='${Version}' libmicrohttpd-dev 2>/dev/null || true)
[ -n "$version" ] || { echo "microhttpd: libmicrohttpd-dev is not installed; run 'make deps'" >&2; exit 1; }
dsc_name=libmicrohttpd_${version#*:}.dsc
# The files a .dsc names (its Files: section).
dsc_files() { sed -n '/^Files:/,/^[^ ]/{s/^ [0-9a-f]* [0-9]* //p}' "$1"; }
if [ ! -f "$work/$dsc_name" ] && [ -f "$cache/$dsc_name" ]; then
    echo "  microhttpd: Debian's source package $version from the machine's cache ($cache)"
    cp "$cache/$dsc_name" "$work/"
    for f in $(dsc_files "$cache/$dsc_name"); do cp "$cache/$f" "$work/"; done
fi
if [ ! -f "$work/$dsc_name" ]; then
    echo "  microhttpd: fetching Debian's source package $version"
    # apt-get source runs as the unprivileged _apt user where it can; the
    # directory must be writable for it.
    chmod 0777 "$work"
    (cd "$work" && apt-get source -qq --download-only "libmicrohttpd=$version" >/dev/null 2>&1) || {
        echo "microhttpd: 'apt-get source libmicrohttpd=$version' failed (no deb-src entries? run 'make deps'; or Debian's archive is unreachable and $cache has no copy)" >&2
        exit 1
    }
    if mkdir -p "$cache" 2>/dev/null; then
        # The .dsc last: a cache that has it has its files.
        for f in $(dsc_files "$work/$dsc_name") "$dsc_name"; do cp "$work/$f" "$cache/$f.new" && mv "$cache/$f.new" "$cache/$f"; done
    fi
fi
dsc=$work/$dsc_name
src="$work/src"
rm -rf "$src"
dpkg-source -x -q "$dsc" "$src" >/dev/null 2>&1
echo "  microhttpd: building $(basename "$dsc" .dsc) without TLS (about 20 s)"
cd "$src"
./configure -q --prefix="$prefix" --disable-https --without-gnutls --enable-static --disable-shared \
    --disable-doc --disable-examples --disable-curl >"$work/configure.log" 2>&1 ||
    { tail -20 "$work/configure.log" >&2; exit 1; }
make -s -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -20 "$work/make.log" >&2; exit 1; }
make -s install >"$work/install.log" 2>&1
rm -rf "$src"
echo "  microhttpd: done: $prefix/lib/libmicrohttpd.a"
