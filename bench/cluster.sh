#!/bin/bash
# make bench, a cluster (issue 18's goals): one etcd member on loopback, a
# host coved and a gateway coved. bench/cluster.mjs measures the gateway
# beside the host (create, envd call, a list of 1,000 records); then here:
#   death noticed   a second host (no sandboxes) killed with SIGKILL: how
#                   long until the gateway no longer lists it among its
#                   live hosts (no placement goes there from then on),
#                   beside its lease's TTL: goal <= TTL + 1 s
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
base=$(mktemp -d /tmp/cove-bench-cluster.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
export COVE_NET_NAME=covc COVE_NET_RANGE=10.215.0.0/16 COVE_NET_DIR=/run/cove-bench-cluster/netns
export COVE_URL=http://127.0.0.1:9 COVE_PLACEMENT_SEED=1
ttl=${BENCH_CLUSTER_TTL:-3}
key=e2b_00000000000000000000000000000000000000be
node=$(cd "$build" && pwd)/node/bin/node
[ -x "$node" ] || node=node
. "$here/../tests/lib.sh"
. "$here/lib.sh"
pids=()
cleanup() {
    set +e # every step, whatever the one before returned
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$build/bin/cove" net gc --pool >/dev/null 2>&1 || true
    for n in covc covd; do nft delete table inet $n 2>/dev/null || true; done
    awk -v d="$base/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount 2>/dev/null
    umount /run/cove-bench-cluster/netns 2>/dev/null || true
    rm -rf "$base" /run/cove-bench-cluster
}
trap cleanup EXIT
command -v etcd >/dev/null || { echo "cluster bench: no etcd (make deps installs etcd-server)"; exit 0; }

read -r cport pport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
etcd_url=http://127.0.0.1:$cport
etcd --name b1 --data-dir "$base/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "b1=http://127.0.0.1:$pport" --pre-vote=true >"$base/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf -X POST -d '{}' "$etcd_url/v3/maintenance/status" >/dev/null && break; sleep 0.1; done
cluster=(--api-key "$key" --net-pool 0 --cluster-etcd "$etcd_url" --host-lease-ttl "$ttl" --dead-after 60)
start_coved "$base/host.log" "${cluster[@]}" --host-id h1 --role host --warm-pool 1 ||
    { echo "cluster bench: the host did not start: $(tail -2 "$base/host.log")"; exit 1; }
pids+=("$coved_pid"); host_url=$coved_url
COVE_STATE_DIR=$base/gw start_coved "$base/gw.log" "${cluster[@]}" --host-id g1 --role gateway ||
    { echo "cluster bench: the gateway did not start: $(tail -2 "$base/gw.log")"; exit 1; }
pids+=("$coved_pid"); gw_url=$coved_url

GATEWAY_URL=$gw_url HOST_URL=$host_url ETCD_URL=$etcd_url E2B_API_KEY=$key "$node" "$here/cluster.mjs" ||
    echo "cluster bench: cluster.mjs failed"

# --- a host's death, as the gateway sees it ---
live() { curl -s -H "X-API-KEY: $key" "$gw_url/cluster/hosts" | grep -c "\"$1\"" || true; }
: >"$base/death"
for i in 1 2 3 4 5; do
    COVE_STATE_DIR=$base/h2 COVE_RUN_DIR=$base/h2run COVE_NET_NAME=covd COVE_NET_RANGE=10.216.0.0/16 \
        COVE_NET_DIR=$base/h2netns start_coved "$base/h2.log" "${cluster[@]}" --host-id h2 --role host ||
        { echo "cluster bench: host h2 did not start: $(tail -2 "$base/h2.log")"; break; }
    h2=$coved_pid
    for _ in $(seq 1 100); do [ "$(live h2)" != 0 ] && break; sleep 0.05; done
    t0=$(ms)
    kill -9 "$h2"; wait "$h2" 2>/dev/null || true
    while [ "$(live h2)" != 0 ] && [ $(($(ms) - t0)) -lt $((ttl * 1000 + 10000)) ]; do sleep 0.02; done
    echo $(($(ms) - t0)) >>"$base/death"
    # its lease is gone; the next start registers anew
done
stats "host death noticed" "$base/death"
echo "  goal: within TTL + 1 s = $((ttl * 1000 + 1000)) ms (the lease's TTL is ${ttl} s)"
