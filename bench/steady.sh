#!/bin/bash
# make bench, issue 19's steady run (bench/steady.mjs): coved's RSS and CPU
# over BENCH_STEADY_MINUTES (60) of 50 sandboxes running commands without
# pause; flat means within 10% from the first tenth to the last.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
base=$(mktemp -d /tmp/cove-bench-steady.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
export COVE_NET_NAME=covs COVE_NET_RANGE=10.212.0.0/16 COVE_NET_DIR=/run/cove-bench-steady/netns
key=e2b_00000000000000000000000000000000000000aa
node=$(cd "$build" && pwd)/node/bin/node
[ -x "$node" ] || node=node
. "$here/../tests/lib.sh"
pid=""
cleanup() {
    set +e # every step, whatever the one before returned
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$build/bin/cove" net gc --pool >/dev/null 2>&1
    nft delete table inet covs 2>/dev/null
    umount /run/cove-bench-steady/netns 2>/dev/null
    rm -rf "$base" /run/cove-bench-steady
}
trap cleanup EXIT
start_coved "$base/coved.log" --api-key "$key" --net-pool 4 --max-sandboxes 64 --max-memory-mib 131072 ||
    { echo "steady bench: coved did not start: $(tail -2 "$base/coved.log")"; exit 1; }
pid=$coved_pid
# BENCH_STEADY_NICE=N: coved and the VMMs it starts at that niceness, for a
# run beside other work (the figures per 1,000 commands still compare).
# Niceness is a thread's: all of coved's (its process group; threads and
# VMMs made later inherit it).
[ -n "${BENCH_STEADY_NICE:-}" ] && renice -n "$BENCH_STEADY_NICE" -g "$(ps -o pgid= -p "$pid")" >/dev/null
# coved's RSS (KiB) and CPU (utime + stime, ticks) every few seconds.
(
    while kill -0 "$pid" 2>/dev/null; do
        echo "$(cut -d' ' -f1 /proc/uptime) $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")" \
            "$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')" >>"$base/samples"
        sleep "${BENCH_STEADY_SAMPLE_S:-30}"
    done
) &
sampler=$!
E2B_API_URL=$coved_url E2B_SANDBOX_URL=$coved_url E2B_API_KEY=$key STEADY_SAMPLES=$base/samples \
    COVE_BUILD=$(cd "$build" && pwd) "$node" "$here/steady.mjs"
kill "$sampler" 2>/dev/null || true
