#!/bin/bash
# The official E2B SDK against a real coved, with real guests: the control
# plane (tests/e2b/coved: control, parity, secrets, ...), then every SDK scenario of tests/e2b against a
# `base` sandbox created through coved, each call relayed by coved's envd
# routing. node's own test runner prints TAP; only its top-level lines are
# counted. COVE_E2B_COVED_ONLY=NAME runs tests/e2b/coved/NAME.test.mjs alone,
# and none of the scenarios: a quicker run while working on one.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")/../e2b/coved" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$(dirname "$0")/../lib.sh"
[ -f "$node_dir/node_modules/e2b/package.json" ] ||
    skip_all "the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
command -v node >/dev/null || skip_all "node is not installed ('make deps' installs it)"
need_root
need_guest "${COVE_TEMPLATES:-}"
base=$(mktemp -d /tmp/cove-e2b-coved.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
coved_pid=""
# The coved serving is the one in coved.pid: traffic.test.mjs restarts it
# (COVE_RESTART_COVED: SIGKILL, then the same state and key on a new port,
# its URL in coved.url).
trap 'stop_pidfile "$base/coved.pid"; wait $coved_pid 2>/dev/null; "$build/bin/cove" net gc --pool >/dev/null 2>&1; unmount_under "$base"; rm -rf "$base"' EXIT
start_coved_sdk "$base/coved.log"
echo "$coved_pid" >"$base/coved.pid"
export COVE_NODE_DIR=$node_dir COVE_BUILD=$build
export COVE_RESTART_COVED=". '$(cd "$(dirname "$0")/.." && pwd)/lib.sh' && build='$build' && restart_coved_sdk '$base/coved-restarted.log' '$base/coved.pid' '$base/coved.url'"
rc=0
only=${COVE_E2B_COVED_ONLY:-}
# The coved serving now: a test that restarted it left its URL in coved.url.
serving() {
    [ -s "$base/coved.url" ] || return 0
    E2B_API_URL=$(cat "$base/coved.url")
    export E2B_API_URL E2B_SANDBOX_URL=$E2B_API_URL
}
# One file at a time, so that each is pointed at the coved serving.
for f in "$here"/${only:-*}.test.mjs; do
    serving
    node --test --test-reporter=tap --test-concurrency=1 "$f" || rc=$?
done
serving
# secrets.test.mjs's values (cove-test-secret-HEX) must be in no log.
leaked=$(grep -l 'cove-test-secret-' "$base"/coved*.log 2>/dev/null)
if [ -z "$leaked" ]; then echo "ok 999 - no secret value in coved's logs"
else echo "not ok 999 - a secret value is in $leaked"; rc=1; fi
if [ -n "$only" ]; then
    echo "ok 1000 # SKIP the scenarios through coved: COVE_E2B_COVED_ONLY=$only"
elif [ -r "$COVE_TEMPLATES/base/rootfs.ext4" ]; then
    COVE_E2B_COVED=1 node --test --test-reporter=tap --test-concurrency=1 "$here"/../*.test.mjs || rc=$?
else
    echo "ok 1000 # SKIP the scenarios through coved need the base template ($COVE_TEMPLATES/base)"
fi
[ $rc = 0 ] || sed 's/^/# coved: /' "$base/coved.log" | tail -20
[ $rc = 0 ] || [ ! -e "$base/coved-restarted.log" ] || sed 's/^/# coved, restarted: /' "$base/coved-restarted.log" | tail -20
exit $rc
