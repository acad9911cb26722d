#!/bin/bash
# The official E2B SDK's commands against cove-agent on the host (loopback).
# node's own test runner prints TAP; only its top-level lines are counted.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")/../e2b" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
if [ ! -f "$node_dir/node_modules/e2b/package.json" ]; then
    echo "1..0 # SKIP the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
    exit 0
fi
command -v node >/dev/null || { echo "1..0 # SKIP node is not installed ('make deps' installs it)"; exit 0; }
export COVE_BUILD=$build COVE_NODE_DIR=$node_dir
unset E2B_DEBUG E2B_API_URL E2B_SANDBOX_URL E2B_API_KEY
exec node --test --test-reporter=tap "$here"/*.test.mjs
