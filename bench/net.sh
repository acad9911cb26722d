#!/bin/bash
# Network slot benchmark: set-up from scratch and from the pool, and teardown,
# median and p99 over many cycles, with hundreds of slots live at once (does
# set-up time grow with them?). Beside it, the reference measured in the same
# run: the same slot made and removed the way scripts do it, with `ip` and
# `nft` commands.
#
#   bench/net.sh BUILD [CYCLES] [LIVE]
# Goals: pool < 2 ms, scratch < 15 ms, teardown < 10 ms, no growth with LIVE.
set -eu
build=${1:-build}
cycles=${2:-${BENCH_NET_CYCLES:-500}}
live=${3:-${BENCH_NET_LIVE:-500}}
ref_runs=${BENCH_NET_REF:-50}
# An instance of the benchmark's own, removed at the end.
export COVE_NET_NAME=covn COVE_NET_RANGE=10.212.0.0/16
export COVE_STATE_DIR=$(mktemp -d /tmp/cove-bench-net.XXXXXX) COVE_NET_DIR=/run/cove-bench-net/netns
ref=covbref$$
cleanup() {
    "$build/bin/tools/netslots" gc --pool >/dev/null 2>&1 || true
    nft delete table inet covn 2>/dev/null || true
    nft delete table inet "$ref" 2>/dev/null || true
    ip netns del "$ref" 2>/dev/null || true
    umount "$COVE_NET_DIR" 2>/dev/null || true
    rm -rf "$COVE_STATE_DIR" /run/cove-bench-net
}
trap cleanup EXIT

echo "network slots: $cycles cycles each, $live slots live meanwhile"
"$build/bin/tools/netslots" bench "$cycles" "$live" | awk '{printf "  %-18s %s %s %s %s\n", $1, $2, $3, $4, $5}'

# The reference: one slot by shell-outs, as a Firecracker script makes it.
us() { echo $(( $(date +%s%N) / 1000 )); }
nft add table inet "$ref"
nft add map inet "$ref" slots '{ type ifname : verdict; }'
: >"$COVE_STATE_DIR/ref-up"; : >"$COVE_STATE_DIR/ref-down"
for i in $(seq 1 "$ref_runs"); do
    t0=$(us)
    ip netns add "$ref"
    ip -n "$ref" link set lo up
    ip -n "$ref" tuntap add tap0 mode tap
    ip -n "$ref" addr add 169.254.0.22/30 dev tap0
    ip -n "$ref" link set tap0 up
    ip link add "$ref" type veth peer name eth0 netns "$ref"
    ip addr add 10.213.0.0/31 dev "$ref"
    ip link set "$ref" up
    ip -n "$ref" addr add 10.213.0.1/31 dev eth0
    ip -n "$ref" link set eth0 up
    ip -n "$ref" route add default via 10.213.0.0
    ip netns exec "$ref" nft -f - <<NFT
add table inet slot
add chain inet slot postrouting { type nat hook postrouting priority srcnat; policy accept; }
add rule inet slot postrouting oifname "eth0" ip saddr 169.254.0.21 snat ip to 10.213.0.1
NFT
    nft -f - <<NFT
add chain inet $ref slot-0
add rule inet $ref slot-0 ip daddr 10.0.0.0/8 reject
add rule inet $ref slot-0 accept
add element inet $ref slots { "$ref" : jump slot-0 }
NFT
    t1=$(us)
    nft -f - <<NFT
delete element inet $ref slots { "$ref" }
flush chain inet $ref slot-0
delete chain inet $ref slot-0
NFT
    ip link del "$ref"
    ip netns del "$ref"
    t2=$(us)
    echo $((t1 - t0)) >>"$COVE_STATE_DIR/ref-up"
    echo $((t2 - t1)) >>"$COVE_STATE_DIR/ref-down"
done
stats() {
    sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
        printf "  %-18s n=%d median_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", name, NR, v[int((NR+1)/2)]/1000, v[int(NR*0.99+0.999)]/1000, v[NR]/1000 }'
}
echo "reference: the same slot with ip and nft commands"
stats ref_setup "$COVE_STATE_DIR/ref-up"
stats ref_teardown "$COVE_STATE_DIR/ref-down"
echo "goals: setup_pool median < 2 ms, setup_scratch < 15 ms, teardown < 10 ms; setup_last_10pct close to setup_first_10pct"
