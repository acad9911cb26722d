#!/bin/bash
# The `base` template has what E2B's base has: a sandbox created from it
# through coved by the official SDK runs git (with `git daemon`), python with
# pip and venv, node and npm, gcc, curl, wget, openssl, jq, unzip and sudo as
# the default user (tests/e2b/base). node's own test runner prints TAP; only
# its top-level lines are counted.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")/../e2b/base" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$(dirname "$0")/../lib.sh"
[ -f "$node_dir/node_modules/e2b/package.json" ] ||
    skip_all "the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
command -v node >/dev/null || skip_all "node is not installed ('make deps' installs it)"
need_root
need_guest "${COVE_TEMPLATES:-}/base/rootfs.ext4"
tmp=$(mktemp -d /tmp/cove-base.XXXXXX)
export COVE_RUN_DIR=$tmp/run COVE_LOG_DIR=$tmp/log COVE_STATE_DIR=$tmp/state
coved_pid=""
trap 'kill $coved_pid 2>/dev/null; wait $coved_pid 2>/dev/null; "$build/bin/cove" net gc --pool >/dev/null 2>&1; rm -rf "$tmp"' EXIT
key=e2b_$(printf "%040x" 14) # E2B's form
start_coved "$tmp/coved.log" --api-key "$key" || { echo "not ok 1 - coved did not start"; sed 's/^/# /' "$tmp/coved.log"; exit 1; }
unset E2B_DEBUG
export E2B_API_URL=$coved_url E2B_SANDBOX_URL=$coved_url E2B_API_KEY=$key
export COVE_NODE_DIR=$node_dir COVE_BUILD=$build COVE_E2B_COVED=1
rc=0
node --test --test-reporter=tap --test-concurrency=1 "$here"/*.test.mjs || rc=$?
[ $rc = 0 ] || sed 's/^/# coved: /' "$tmp/coved.log" | tail -20
exit $rc
