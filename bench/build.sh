#!/bin/bash
# make bench, template builds (issue 16's goals), each beside a reference
# measured in the same run:
#   import   `cove template build --from-image` of a ~140 MB image from a
#            loopback registry (fetch, unpack, disk image), beside `skopeo
#            copy` of the same image alone (the floor): goal <= 2x.
#   steps    Template.build of five small RUN steps through coved and the
#            SDK (skipCache), its time without the finalize phase (the
#            snapshot), beside the same five commands run one by one in a
#            running sandbox of the same base: goal <= 1.5x (+ the snapshot).
#   cached   the same build again, every step from the cache: goal <= 5 s.
# Medians of BENCH_RUNS_BUILD (3) runs; p99 is the max for so few.
set -eu
build=${1:-build}
runs=${BENCH_RUNS_BUILD:-3}
here=$(cd "$(dirname "$0")" && pwd)
base=$(mktemp -d /tmp/cove-bench-build.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
export COVE_NET_NAME=covx COVE_NET_RANGE=10.212.0.0/16 COVE_NET_DIR=/run/cove-bench-build/netns
export COVE_URL=http://127.0.0.1:9 COVE_TEMPLATES=$base/templates
. "$here/../tests/lib.sh"
. "$here/../tests/registry.sh"
. "$here/lib.sh"
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    for p in "${registry_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$build/bin/cove" net gc --pool >/dev/null 2>&1 || true
    nft delete table inet covx 2>/dev/null || true
    umount /run/cove-bench-build/netns 2>/dev/null || true
    rm -rf "$base" /run/cove-bench-build
}
trap cleanup EXIT
for t in skopeo umoci docker-registry; do
    command -v $t >/dev/null || { echo "build bench skipped: $t is not installed ('make deps')"; exit 0; }
done
mkdir -p "$COVE_TEMPLATES"
ln -s "$(cd "$build/guest/templates/base" && pwd)" "$COVE_TEMPLATES/base"

# The image: busybox, Python's library from the base tree, and 60 MB that
# does not compress.
stage_busybox "$base/stage"
tree=$build/guest/templates/base/tree
mkdir -p "$base/stage/usr/lib"
cp -a "$tree/usr/lib/python3.11" "$tree/usr/lib/python3" "$base/stage/usr/lib/" 2>/dev/null || true
head -c 60M /dev/urandom >"$base/stage/data/blob"
oci=$base/oci
{ umoci init --layout "$oci" && umoci new --image "$oci:big" && umoci insert --image "$oci:big" "$base/stage" /; } \
    >"$base/make.log" 2>&1 || { echo "build bench: cannot make the image: $(tail -2 "$base/make.log")"; exit 0; }
start_registry reg
skopeo copy -q --dest-tls-verify=false "oci:$oci:big" "docker://$registry/big:1"
size=$(du -sm "$base/stage" | cut -f1)
echo "template builds: a ${size} MiB image from a loopback registry; $runs runs each"

med() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
: >"$base/floor" && : >"$base/import"
for i in $(seq 1 "$runs"); do
    rm -rf "$base/copy"
    t0=$(ms); skopeo copy -q --src-tls-verify=false "docker://$registry/big:1" "oci:$base/copy:big"; t1=$(ms)
    echo $((t1 - t0)) >>"$base/floor"
    rm -rf "$COVE_STATE_DIR/image-cache" "$COVE_TEMPLATES/big"
    t0=$(ms)
    "$build/bin/cove" template build --from-image "docker://$registry/big:1" --insecure-registry "$registry" \
        --no-snapshot big 2>"$base/import.log" || { echo "import failed: $(tail -2 "$base/import.log")"; exit 0; }
    t1=$(ms)
    echo $((t1 - t0)) >>"$base/import"
done
stats skopeo_copy "$base/floor"
stats import "$base/import"
fm=$(med "$base/floor") im=$(med "$base/import")
echo "import / skopeo copy: $(echo "scale=2; $im / $fm" | bc -l)x (goal <= 2x: $(echo "$im <= 2 * $fm" | bc -l | sed 's/1/met/;s/0/NOT met/'))"
command -v node >/dev/null && [ -f "$build/node/node_modules/e2b/package.json" ] ||
    { echo "  steps: skipped (the E2B SDK is not installed in $build/node)"; exit 0; }
start_coved_sdk "$base/coved.log" --templates "$COVE_TEMPLATES" >/dev/null
COVE_BUILD=$(cd "$build" && pwd) BENCH_RUNS_BUILD=$runs node "$here/build.mjs" || echo "  steps bench failed"
