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

if ! ls "$work"/libmicrohttpd_*.dsc >/dev/null 2>&1; then
    echo "  microhttpd: fetching Debian's source package"
    # apt-get source runs as the unprivileged _apt user where it can; the
    # directory must be writable for it.
    chmod 0777 "$work"
    (cd "$work" && apt-get source -qq --download-only libmicrohttpd >/dev/null 2>&1) || {
        echo "microhttpd: 'apt-get source libmicrohttpd' failed: no deb-src entries? run 'make deps'" >&2
        exit 1
    }
fi
dsc=$(ls "$work"/libmicrohttpd_*.dsc | tail -1)
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
