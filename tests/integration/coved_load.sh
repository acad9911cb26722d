#!/bin/bash
# Load: the official E2B SDK makes 50 `base` sandboxes at once through a real
# coved, runs 200 command streams at once across them, and kills them all
# (tests/e2b/coved/load.mjs); then nothing may be left: no VMM, slot, cgroup
# or run directory, and coved still serves. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
node_dir=${COVE_NODE_DIR:-$build/node}
. "$(dirname "$0")/../lib.sh"
[ -f "$node_dir/node_modules/e2b/package.json" ] ||
    skip_all "the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
need_root
need_guest "${COVE_TEMPLATES:-}/base/rootfs.ext4"
sandboxes=${COVE_LOAD_SANDBOXES:-50}
base=$(mktemp -d /tmp/cove-load.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
# The guests touch little of their memory: the admission limit is raised so
# that 50 of 512 MiB fit on this machine, as an operator would overcommit;
# so is the disk limit (50 disks of 8 GiB, were they all filled, would not).
coved_pid=""
poller=""
trap 'kill $poller $coved_pid 2>/dev/null; wait $coved_pid 2>/dev/null; "$build/bin/cove" net gc --pool >/dev/null 2>&1; rm -rf "$base"' EXIT
start_coved "$base/coved.log" --api-key load-key --net-pool 4 --max-sandboxes $((sandboxes + 8)) \
    --max-memory-mib $((sandboxes * 1024)) --max-disk-mib $((sandboxes * 16384)) || { echo "not ok 1 - coved did not start"; sed 's/^/# /' "$base/coved.log"; exit 1; }
unset E2B_DEBUG
export E2B_API_URL=$coved_url E2B_SANDBOX_URL=$coved_url E2B_API_KEY=load-key
export COVE_NODE_DIR=$node_dir COVE_LOAD_SANDBOXES=$sandboxes
# The host's metrics are read all along, as a scraper would, so that make
# tsan sees their reads meet the creates and kills.
while :; do curl -s -o /dev/null -H "X-API-KEY: load-key" "$coved_url/metrics"; sleep 0.2; done &
poller=$!
node "$(dirname "$0")/../e2b/coved/load.mjs" >"$base/tap" 2>&1
kill $poller; wait $poller 2>/dev/null
grep -E '^(ok|not ok|#)' "$base/tap"
n=$(grep -cE '^(ok|not ok) ' "$base/tap")
if grep -q '^not ok' "$base/tap" || [ "$n" = 0 ]; then
    [ "$n" = 0 ] && { n=1; echo "not ok 1 - the load script failed"; sed 's/^/# /' "$base/tap" | tail -20; }
    grep -E 'msg=|error' "$base/coved.log" | tail -20 | sed 's/^/# coved: /'
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-KEY: load-key" "$coved_url/v2/sandboxes")
[ "$code" = 200 ] && ok "coved still serves" || not_ok "coved still serves" "HTTP $code"
for _ in $(seq 1 50); do
    [ "$("$build/bin/cove" net ls | sed 1d | grep -c used)" = 0 ] && break
    sleep 0.1
done
q=$(vmm_pids "$COVE_RUN_DIR" | wc -l); u=$("$build/bin/cove" net ls | sed 1d | grep -c used)
# This coved's sandboxes' cgroups only: VMMs of others on the host (a
# template snapshot being made) are not this test's to count.
cg=0
for id in $(grep -o 'sandbox=[a-z0-9]* ' "$base/coved.log" | sort -u | cut -d= -f2); do
    cg=$((cg + $(find /sys/fs/cgroup -maxdepth 3 -path "*/cove/$id" -type d 2>/dev/null | wc -l)))
done
rd=$(ls "$COVE_RUN_DIR" 2>/dev/null | wc -l)
if [ "$q" = 0 ] && [ "$u" = 0 ] && [ "$cg" = 0 ] && [ "$rd" = 0 ]; then ok "nothing is left behind"
else not_ok "nothing is left behind" "qemu=$q slots=$u cgroups=$cg rundirs=$rd"; fi
echo "1..$n"
