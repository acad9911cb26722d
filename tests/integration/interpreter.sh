#!/bin/bash
# @e2b/code-interpreter, the official SDK unmodified, against a real coved
# and real guests of the code-interpreter-v1 template (tests/e2b/interpreter).
# node's own test runner prints TAP; only its top-level lines are counted.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")/../e2b/interpreter" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$(dirname "$0")/../lib.sh"
[ -f "$node_dir/node_modules/@e2b/code-interpreter/package.json" ] ||
    skip_all "@e2b/code-interpreter is not installed in $node_dir ('make' installs it with npm)"
command -v node >/dev/null || skip_all "node is not installed ('make deps' installs it)"
need_root
need_snapshot code-interpreter-v1
base=$(mktemp -d /tmp/cove-interpreter.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
coved_pid=""
trap 'kill $coved_pid 2>/dev/null; wait $coved_pid 2>/dev/null; "$build/bin/cove" net gc --pool >/dev/null 2>&1; rm -rf "$base"' EXIT
start_coved_sdk "$base/coved.log"
export COVE_NODE_DIR=$node_dir COVE_BUILD=$build
rc=0
node --test --test-reporter=tap --test-concurrency=1 "$here"/*.test.mjs || rc=$?
[ $rc = 0 ] || sed 's/^/# coved: /' "$base/coved.log" | tail -20
exit $rc
