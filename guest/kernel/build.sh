#!/bin/sh
# Builds Cove's guest kernel: Debian's linux-source-6.1 tarball, `make tinyconfig`,
# then guest/kernel/cove.config merged on top. Output: an uncompressed vmlinux that
# QEMU (and Firecracker / Cloud Hypervisor) boot through its PVH entry point.
#
#   build.sh SOURCE_TARBALL FRAGMENT WORKDIR OUTPUT
#
# Fails if any option the fragment asks for did not survive `olddefconfig`, so the
# fragment never silently lies about what the kernel contains.
set -eu
mkdir -p "$3" "$(dirname "$4")"
tarball=$1 fragment=$(realpath "$2") work=$(realpath "$3") out=$(realpath "$4")
jobs=$(nproc)

log() { printf '  kernel: %s\n' "$*"; }

[ -f "$tarball" ] || { echo "kernel: $tarball not found (apt-get install linux-source-6.1, or run 'make deps')" >&2; exit 1; }

src="$work/src"
if [ ! -f "$src/Makefile" ]; then
    log "unpacking $(basename "$tarball") (about 30 s)"
    rm -rf "$src" "$work/unpack"
    mkdir -p "$work/unpack"
    tar -xf "$tarball" -C "$work/unpack"
    mv "$work/unpack"/linux-source-* "$src"
    rmdir "$work/unpack"
fi

cd "$src"
log "configuring: tinyconfig + $(basename "$fragment")"
make -s tinyconfig >/dev/null 2>&1
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null 2>&1
# Choice overrides (KERNEL_LZ4, NO_HZ_IDLE) warn here by design: keep quiet
# unless it fails.
make -s olddefconfig >"$work/config.log" 2>&1 || { cat "$work/config.log" >&2; exit 1; }

missing=0
while IFS= read -r line; do
    case "$line" in
        CONFIG_*=n) opt=${line%=n}
            if grep -q "^$opt=y" .config; then echo "kernel: $opt is still set" >&2; missing=1; fi ;;
        CONFIG_*=*)
            if ! grep -qx "$line" .config; then echo "kernel: $line did not take (dependency missing?)" >&2; missing=1; fi ;;
    esac
done < "$fragment"
[ "$missing" = 0 ] || exit 1

log "compiling vmlinux with make -j$jobs (about 3 minutes on 2 cores)"
make -s -j"$jobs" vmlinux >"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; echo "kernel: build failed, see $work/build.log" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp vmlinux "$out.tmp"
mv "$out.tmp" "$out"
log "done: $out ($(du -h "$out" | cut -f1))"
