#!/bin/bash
# make bench, the VMM's confinement (issue 19's goal): a create through
# coved's API (POST /sandboxes, tiny, restored from its snapshot) with the
# VMM confined (its own uid, no capabilities, pivoted root: the default)
# beside the same create from a second coved with COVE_VMM_IDS=off (VMMs as
# root), interleaved, each sandbox killed after. Goal: confined p50 within
# 5 ms of unconfined.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
runs=${BENCH_CONFINE_RUNS:-30}
base=$(mktemp -d /tmp/cove-bench-confine.XXXXXX)
key=e2b_00000000000000000000000000000000000000cf
. "$here/../tests/lib.sh"
. "$here/lib.sh"
pids=()
cleanup() {
    set +e # every step, whatever the one before returned
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    for n in covf:10.217.0.0/16 covg:10.218.0.0/16; do
        COVE_NET_NAME=${n%%:*} COVE_NET_RANGE=${n#*:} COVE_NET_DIR=/run/cove-bench-${n%%:*}/netns \
            COVE_STATE_DIR=$base/${n%%:*} "$build/bin/cove" net gc --pool >/dev/null 2>&1
        n=${n%%:*}
        nft delete table inet $n 2>/dev/null
        umount "/run/cove-bench-$n/netns" 2>/dev/null
        rm -rf "/run/cove-bench-$n"
    done
    rm -rf "$base"
}
trap cleanup EXIT

# start NAME RANGE IDS: a coved of its own network instance; sets url.
start() {
    COVE_NET_NAME=$1 COVE_NET_RANGE=$2 COVE_NET_DIR=/run/cove-bench-$1/netns COVE_RUN_DIR=$base/$1/run \
        COVE_LOG_DIR=$base/$1/log COVE_STATE_DIR=$base/$1 COVE_VMM_IDS=$3 \
        start_coved "$base/$1.log" --api-key "$key" --net-pool 2 ||
        { echo "confine bench: coved ($1) did not start: $(tail -2 "$base/$1.log")"; exit 1; }
    pids+=("$coved_pid")
    url=$coved_url
}
start covf 10.217.0.0/16 "" && confined=$url
start covg 10.218.0.0/16 off && open=$url

# create URL OUT: one create's time (ms), the sandbox killed after.
create() {
    local out id
    out=$(curl -s -o "$base/body" -w '%{time_total}' -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
        -d '{"templateID":"tiny","timeout":60}' "$1/sandboxes")
    id=$(sed -n 's/.*"sandboxID" *: *"\([a-z0-9]*\)".*/\1/p' "$base/body")
    [ -n "$id" ] || { echo "confine bench: a create failed: $(head -c 300 "$base/body")"; exit 1; }
    awk -v s="$out" 'BEGIN { printf "%.1f\n", s * 1000 }' >>"$2"
    curl -s -o /dev/null -X DELETE -H "X-API-KEY: $key" "$1/sandboxes/$id"
}
create "$confined" /dev/null && create "$open" /dev/null # the first of each fills the page cache
: >"$base/on"; : >"$base/off"
for _ in $(seq 1 "$runs"); do
    create "$confined" "$base/on"
    create "$open" "$base/off"
done
echo "confinement: POST /sandboxes (tiny, restored), $runs each, interleaved"
stats confined "$base/on"
stats unconfined "$base/off"
awk -v a="$(median "$base/on")" -v b="$(median "$base/off")" \
    'BEGIN { printf "the confinement costs, p50: %+.1f ms (goal <= 5 ms)\n", a - b }'
