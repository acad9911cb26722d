#!/bin/bash
# The cluster gateway's relay end to end (src/gateway/; multihost.md §4.4):
# one etcd member, a single-host coved with real guests as the host, its
# host record written by hand (coved's host role is not wired yet), and a
# gateway-only API server (tests/tools/gateway.c) in front. Through the
# gateway: a create placed on the host and answered by it, its info and
# envd traffic relayed to it (by header and by Host), the list from the
# catalog, a kill, and E2B's 502 once it is gone. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}"
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "etcd is not installed (Debian's etcd-server, etcd-client; make deps)"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-gateway.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
etcd_pid="" gw_pid="" coved_pid=""
cleanup() {
    for p in $gw_pid $coved_pid $etcd_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$build/bin/cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
out=$base/out key=gateway-test-key domain=cove.test

# --- etcd, the host, the gateway ---
read -r cport pport < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
etcd --name gw --data-dir "$base/etcd" --listen-client-urls "http://127.0.0.1:$cport" \
    --advertise-client-urls "http://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "gw=http://127.0.0.1:$pport" \
    >"$base/etcd.log" 2>&1 &
etcd_pid=$!
ectl() { ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$cport" "$@"; }
for _ in $(seq 1 100); do ectl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ectl endpoint health >/dev/null 2>&1; check "etcd answers" $? "$(tail -5 "$base/etcd.log")"

start_coved "$base/coved.log" --net-pool 0 --api-key "$key" --domain "$domain"
check "the host's coved starts" $? "$(cat "$base/coved.log")"
host_addr=${coved_url#http://}
now=$(($(date +%s%3N)))
ectl put /cove/v1/hosts/h1 "{\"addr\":\"$host_addr\",\"state\":\"ready\",\"version\":\"t\",\"accel\":\"tcg\",\"cpus\":2,\
\"snap_key\":\"k\",\"mem_max_mib\":8192,\"mem_committed_mib\":0,\"vcpus_alloc\":0,\"cpu_busy_pct\":0,\"sandboxes\":0,\
\"max_sandboxes\":8,\"boots_inflight\":0,\"max_boots\":1,\"templates\":{\"tiny\":{\"snap\":true,\"warm\":0}},\"ts\":$now}" >/dev/null

"$build/bin/tools/gateway" "http://127.0.0.1:$cport" "$key" "$domain" >"$base/gateway.log" 2>&1 &
gw_pid=$!
gw=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/^gateway: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$base/gateway.log")
    [ -n "$port" ] && { gw=http://127.0.0.1:$port; break; }
    sleep 0.05
done
[ -n "$gw" ]; check "the gateway starts over the catalog" $? "$(cat "$base/gateway.log")"

api() { # api METHOD PATH [BODY] -> body in $out, status echoed
    local m=$1 p=$2; shift 2
    curl -s -o "$out" -w '%{http_code}' -X "$m" -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
        ${1:+--data-binary "$1"} "$gw$p"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$out" "$1" 2>/dev/null; }

# --- a create placed on the host ---
t0=$(date +%s%3N)
s=$(api POST /sandboxes '{"templateID":"tiny","metadata":{"who":"gw"}}')
sid=$(field "['sandboxID']") token=$(field "['envdAccessToken']")
[ "$s" = 201 ] && [ -n "$sid" ] && [ -n "$token" ]
check "a create through the gateway is placed on the host and answered by it ($(($(date +%s%3N) - t0)) ms)" $? "$s $(cat "$out")" "$(tail -5 "$base/gateway.log")"
s=$(api POST /sandboxes '{"templateID":"nope"}')
[ "$s" = 429 ] && grep -q "nope" "$out"; check "a template no host has is 429 naming it" $? "$s $(cat "$out")"

# The host role is not wired yet: the test writes the record it would.
ectl put "/cove/v1/sb/$sid" "{\"host\":\"h1\",\"epoch\":1,\"state\":\"running\",\"template\":\"tiny\",\"vcpus\":1,\
\"mem_mib\":256,\"seq\":1,\"started\":$now,\"end\":0,\"auto_pause\":false,\"metadata\":{\"who\":\"gw\"}}" >/dev/null

s=$(api GET "/sandboxes/$sid")
[ "$s" = 200 ] && [ "$(field "['sandboxID']")" = "$sid" ] && [ "$(field "['diskBytes']")" -gt 0 ] 2>/dev/null
check "its info is the host's (diskBytes from its disk)" $? "$s $(cat "$out")"
s=$(api GET "/v2/sandboxes?metadata=who%3Dgw")
[ "$s" = 200 ] && [ "$(field "[0]['sandboxID']")" = "$sid" ]; check "the list is the catalog's" $? "$s $(cat "$out")"

# --- envd traffic, open, relayed ---
s=$(curl -s -o "$out" -w '%{http_code}' -H "E2b-Sandbox-Id: $sid" -H "E2b-Sandbox-Port: 49983" "$gw/health")
[ "$s" = 204 ]; check "envd by E2b-Sandbox-Id through the gateway reaches the guest's agent" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -H "Host: 49983-$sid.$domain" "$gw/health")
[ "$s" = 204 ]; check "envd by Host PORT-ID.DOMAIN through the gateway too" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -X POST -H "E2b-Sandbox-Id: $sid" -H "X-Access-Token: $token" \
    -H 'Content-Type: application/json' --data-binary '{"path":"/tmp"}' "$gw/filesystem.Filesystem/ListDir")
[ "$s" = 200 ]; check "a Connect call with its token through the gateway" $? "$s $(cat "$out")"

# --- kill, then gone ---
s=$(api DELETE "/sandboxes/$sid"); [ "$s" = 204 ]; check "a kill through the gateway" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -H "X-API-KEY: $key" "$coved_url/sandboxes/$sid")
[ "$s" = 404 ]; check "... reached the host" $? "$s"
s=$(curl -s -o "$out" -w '%{http_code}' -H "E2b-Sandbox-Id: $sid" "$gw/health")
[ "$s" = 502 ]; check "envd to it is the host's 502 now" $? "$s $(cat "$out")"
kill "$coved_pid"; wait "$coved_pid" 2>/dev/null; coved_pid=""
s=$(curl -s -o "$out" -w '%{http_code}' -H "E2b-Sandbox-Id: $sid" "$gw/health")
[ "$s" = 502 ] && [ "$(field "['message']")" = "The sandbox was not found" ]
check "with the host down, envd is E2B's 502" $? "$s $(cat "$out")"
s=$(api POST "/sandboxes/$sid/timeout" '{"timeout":30}')
[ "$s" = 503 ] && grep -q "sandbox's host h1 is unavailable" "$out"; check "... and its routes 503 naming the host" $? "$s $(cat "$out")"
echo "1..$n"
