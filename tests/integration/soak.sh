#!/bin/bash
# The soak (tests/soak/soak.mjs): cycles of random operations on a real
# coved through the E2B SDK and the cove CLI, with faults injected (coved
# SIGKILLed, a VMM killed, a guest's agent killed, the state directory's
# file system full, the instance's nft table deleted, the clock stepped),
# the invariants checked after each. In make check a short one: SOAK_CYCLES
# (default 6) with a fixed SOAK_SEED (default 19), every fault kind at least
# once; `make soak` runs 200 cycles. coved's state directory is an ext4
# file system of SOAK_STATE_MIB (default 3072) on a loop device the soak
# makes, so that it can fill it.
# Prints TAP: one test, the whole soak; its operations, coved's log and the
# counts are left in BUILD/soak-last/.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
node_dir=${COVE_NODE_DIR:-$build/node}
. "$(dirname "$0")/../lib.sh"
[ -f "$node_dir/node_modules/e2b/package.json" ] ||
    skip_all "the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
command -v node >/dev/null || skip_all "node is not installed ('make deps' installs it)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 (the soak reads coved's database with it) is not installed"
need_root
template=${SOAK_TEMPLATE:-tiny}
need_snapshot "$template"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-soak.XXXXXX)
export SOAK_BASE=$base SOAK_STATE_DIR=$base/state COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log
export COVE_NODE_DIR=$node_dir SOAK_TEMPLATE=$template
export SOAK_CYCLES=${SOAK_CYCLES:-6} SOAK_SEED=${SOAK_SEED:-19}
mkdir -p "$SOAK_STATE_DIR"
# The clock put back should the driver be killed while it was stepped
# (clock-step holds the offset in ms), the driver's coved ended, the state
# unmounted.
cleanup() {
    if [ -s "$base/clock-step" ]; then
        python3 -c 'import sys, time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) - float(sys.argv[1]) / 1000)' \
            "$(cat "$base/clock-step")"
    fi
    [ -n "${driver:-}" ] && kill "$driver" 2>/dev/null && wait "$driver" 2>/dev/null
    [ -s "$base/coved.pid" ] && kill -KILL "$(cat "$base/coved.pid")" 2>/dev/null && wait_gone "$(cat "$base/coved.pid")" 200
    "$build/bin/cove" net gc --pool >/dev/null 2>&1
    umount "$SOAK_STATE_DIR" 2>/dev/null
    # What the last soak did, for a look afterwards.
    rm -rf "$build/soak-last" && mkdir -p "$build/soak-last" &&
        cp "$base"/out "$base"/ops.log "$base"/coved.log "$base"/summary.json "$build/soak-last/" 2>/dev/null
    [ -n "${SOAK_KEEP:-}" ] && echo "# kept: $base" || rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# ext4 on a loop device, as a host's disk would be (not a tmpfs: a VMM
# reading a hole of a snapshot's RAM file there needs a page of it, and
# dies of SIGBUS while it is full); a sparse image, fallocate fills it.
truncate -s "${SOAK_STATE_MIB:-3072}M" "$base/state.img" && mkfs.ext4 -q -F -m 0 "$base/state.img" &&
    mount -o loop "$base/state.img" "$SOAK_STATE_DIR" && chmod 700 "$SOAK_STATE_DIR" ||
    { echo "not ok 1 - the soak's state file system could not be made and mounted"; exit 1; }
node "$(dirname "$0")/../soak/soak.mjs" >"$base/out" 2>&1 &
driver=$!
wait "$driver"
rc=$?
driver=""
sed 's/^/# /' "$base/out"
summary=$(grep '^soak: seed=.*status=' "$base/out" | tail -1)
check "soak: ${summary#soak: }" "$rc" "its operations, coved's log and the counts: $build/soak-last/"
[ "$rc" = 0 ] || { echo "# coved's log, last lines:"; tail -40 "$base/coved.log" | sed 's/^/#   /'; }
exit "$rc"
