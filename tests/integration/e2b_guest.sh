#!/bin/bash
# The E2B SDK scenarios of tests/e2b, this time against the agent inside a
# real guest booted from the `base` template, reached through the host path:
# `cove run --publish 0:49983` relays a loopback port into the sandbox's
# network namespace, and the SDK uses the sandbox's own access token (signed
# file URLs included) and the envd version the agent reports. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")/../e2b" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
cove=$build/bin/cove
templates=${COVE_TEMPLATES:-$build/guest/templates}
skip() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root for namespaces and TAP devices"
[ -r "$templates/base/rootfs.ext4" ] || skip "the base template is not built ($templates/base; 'make' builds it)"
[ -f "$node_dir/node_modules/e2b/package.json" ] || skip "the E2B SDK is not installed in $node_dir ('make' installs it)"
command -v node >/dev/null || skip "node is not installed ('make deps' installs it)"

tmp=$(mktemp -d /tmp/cove-e2b-guest.XXXXXX)
export COVE_RUN_DIR=$tmp/run COVE_LOG_DIR=$tmp/log
"$cove" run --template base --publish 0:49983 --token-file "$tmp/token" -- sleep 3600 >"$tmp/out" 2>"$tmp/err" &
run=$!
trap 'kill -TERM $run 2>/dev/null; wait $run 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 600); do
    [ -s "$tmp/token" ] && break
    kill -0 $run 2>/dev/null || break
    sleep 0.1
done
port=$(sed -n 's/.*published=127\.0\.0\.1:\([0-9]*\) guest_port=49983.*/\1/p' "$tmp/err")
if [ ! -s "$tmp/token" ] || [ -z "$port" ]; then
    echo "not ok 1 - a base sandbox with its agent published on loopback"
    sed 's/^/# /' "$tmp/err"
    echo "1..1"
    exit 0
fi
export COVE_BUILD=$build COVE_NODE_DIR=$node_dir COVE_E2B_URL=http://127.0.0.1:$port COVE_E2B_TOKEN=$(cat "$tmp/token")
unset E2B_DEBUG E2B_API_URL E2B_SANDBOX_URL E2B_API_KEY
node --test --test-reporter=tap --test-concurrency=1 "$here"/*.test.mjs
