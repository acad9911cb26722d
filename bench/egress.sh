#!/bin/bash
# make bench, the egress proxy (issue 17's goals), each beside a reference
# measured in the same run. Clients run in the slots' network namespaces
# (as the host sees a sandbox's connections; no guest CPU in the figures),
# against the test internet's lab (tests/inet.sh), names given as addresses:
#   ttfb http/https  a request on a new connection, to its first response
#                    byte, through the proxy (a sandbox whose policy names
#                    allowed.test) beside direct (one allowing its address):
#                    goal: added p50 <= 1 ms
#   download         100 MiB over HTTPS through the proxy (passed through,
#                    SNI only) beside direct, medians of 9: goal >= 90%
#   inject           the same download from a sandbox whose rules set a
#                    header on allowed.test (a secret's placeholder filled
#                    in): TLS terminated and made anew by the proxy, each
#                    request head rewritten: goal >= 50% of direct; and its
#                    time to first byte beside direct's
#   hold             1,000 connections from 20 sandboxes open at once,
#                    held, then used: goal: no error
set -eu
build=${1:-build}
runs=${BENCH_RUNS_EGRESS:-200}
here=$(cd "$(dirname "$0")" && pwd)
base=$(mktemp -d /tmp/cove-bench-egress.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
export COVE_NET_NAME=covy COVE_NET_RANGE=10.211.0.0/16 COVE_NET_DIR=/run/cove-bench-egress/netns
export COVE_URL=http://127.0.0.1:9
node=$(cd "$build" && pwd)/node/bin/node
[ -x "$node" ] || node=node
. "$here/../tests/lib.sh"
. "$here/../tests/inet.sh"
. "$here/lib.sh"
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$build/bin/cove" net gc --pool >/dev/null 2>&1 || true
    nft delete table inet covy 2>/dev/null || true
    umount /run/cove-bench-egress/netns 2>/dev/null || true
    inet_down
    rm -rf "$base" /run/cove-bench-egress
}
trap cleanup EXIT
inet_up "$base"
inet_lab || { echo "egress bench: the lab did not start"; exit 1; }
start_coved "$base/coved.log" --api-key bench --net-pool 0 --dns "$INET_DNS" --upstream-ca "$INET_CA" ||
    { echo "egress bench: coved did not start: $(tail -1 "$base/coved.log")"; exit 1; }
allowed=$(inet_addr_of allowed.test)
create() { # create TEMPLATE ALLOW_OUT_JSON: prints the sandbox's id
    curl -s -X POST -H 'X-API-KEY: bench' -H 'Content-Type: application/json' "$coved_url/sandboxes" \
        -d "{\"templateID\":\"$1\",\"timeout\":900,\"network\":{\"allowOut\":$2,\"denyOut\":[\"0.0.0.0/0\"]}}" |
        sed -n 's/.*"sandboxID":"\([^"]*\)".*/\1/p'
}
api() { # api METHOD PATH BODY
    curl -s -X "$1" -H 'X-API-KEY: bench' -H 'Content-Type: application/json' "$coved_url$2" -d "$3"
}
netns_of() { # the mounted network namespace of a sandbox's slot
    local i
    i=$("$build/bin/cove" net ls | awk -v id="$1" '$3 == id {print $1}')
    echo "$COVE_NET_DIR/slot-$i"
}
client() { # client NETNS ARGS...
    local ns=$1; shift
    INET_CA=$trust RESOLVE=allowed.test=$allowed nsenter --net="$ns" "$node" "$here/egress.mjs" "$@"
}
# The lab's CA and Cove's egress authority (what guests trust).
trust=$base/trust.pem
cat "$INET_CA" "$COVE_STATE_DIR/egress-ca/ca.pem" >"$trust"
proxied=$(create tiny '["allowed.test"]')
direct=$(create tiny "[\"$allowed\"]")
[ -n "$proxied" ] && [ -n "$direct" ] || { echo "egress bench: creates failed: $(tail -3 "$base/coved.log")"; exit 1; }
api POST /secrets '{"name":"bench-key","value":"sk-bench"}' >/dev/null
injected=$(api POST /sandboxes '{"templateID":"tiny","timeout":900,"network":{"allowOut":["allowed.test"],
  "denyOut":["0.0.0.0/0"],"rules":{"allowed.test":[{"transform":{"headers":{"Authorization":"Bearer ${e2b.secrets.bench-key}"}}}]}}}' |
    sed -n 's/.*"sandboxID":"\([^"]*\)".*/\1/p')
[ -n "$injected" ] || { echo "egress bench: the sandbox with rules was not made: $(tail -3 "$base/coved.log")"; exit 1; }
pns=$(netns_of "$proxied") dns=$(netns_of "$direct") ins=$(netns_of "$injected")

echo "egress bench: $runs requests each way, interleaved in batches; clients in the slots' namespaces"
for scheme in http https; do
    : >"$base/p" ; : >"$base/d"
    for _ in 1 2 3 4; do
        client "$dns" latency "$scheme://allowed.test/" $((runs / 4)) >>"$base/d"
        client "$pns" latency "$scheme://allowed.test/" $((runs / 4)) >>"$base/p"
    done
    stats "ttfb-$scheme-direct" "$base/d"
    stats "ttfb-$scheme-proxy" "$base/p"
    pm=$(median "$base/p") dm=$(median "$base/d")
    awk -v p="$pm" -v d="$dm" -v s="$scheme" 'BEGIN {printf "ttfb-%s added p50 %.2f ms (goal <= 1 ms)\n", s, p - d}'
done

: >"$base/p"; : >"$base/d"
# A download takes a fifth of a second here: many runs, interleaved.
downloads=${BENCH_RUNS_DOWNLOAD:-9}
for _ in $(seq 1 "$downloads"); do
    client "$dns" download "https://allowed.test/big?mib=100" >>"$base/d"
    client "$pns" download "https://allowed.test/big?mib=100" >>"$base/p"
done
pm=$(median "$base/p") dm=$(median "$base/d")
awk -v p="$pm" -v d="$dm" -v n="$downloads" 'BEGIN {printf "download 100 MiB https: direct %.1f MiB/s, proxy %.1f MiB/s: %.0f%% (goal >= 90%%; medians of %d)\n", d, p, 100 * p / d, n}'

: >"$base/i"; : >"$base/d"
for _ in $(seq 1 "$downloads"); do
    client "$dns" download "https://allowed.test/big?mib=100" >>"$base/d"
    client "$ins" download "https://allowed.test/big?mib=100" >>"$base/i"
done
im=$(median "$base/i") dm=$(median "$base/d")
awk -v p="$im" -v d="$dm" -v n="$downloads" 'BEGIN {printf "inject download 100 MiB https: direct %.1f MiB/s, header set %.1f MiB/s: %.0f%% (goal >= 50%%; medians of %d)\n", d, p, 100 * p / d, n}'
: >"$base/i"; : >"$base/d"
for _ in 1 2 3 4; do
    client "$dns" latency "https://allowed.test/" $((runs / 4)) >>"$base/d"
    client "$ins" latency "https://allowed.test/" $((runs / 4)) >>"$base/i"
done
stats "ttfb-https-inject" "$base/i"
im=$(median "$base/i") dm=$(median "$base/d")
awk -v p="$im" -v d="$dm" 'BEGIN {printf "ttfb-https-inject added p50 %.2f ms (two TLS handshakes instead of one; no goal)\n", p - d}'
grep -q 'op=egress-rule slot=[0-9]* name="allowed.test" tls=1' "$base/coved.log" ||
    echo "egress bench: the sandbox with rules was not intercepted (no op=egress-rule in coved's log)"

ids=("$proxied")
for _ in $(seq 2 20); do ids+=("$(create tiny '["allowed.test"]')"); done
pids=()
for id in "${ids[@]}"; do
    [ -n "$id" ] || continue
    client "$(netns_of "$id")" hold "https://allowed.test/" 50 5 >"$base/hold-$id" 2>&1 & pids+=($!)
done
wait "${pids[@]}" || true
cat "$base"/hold-* | awk '{ok += $2; failed += $4; n++} END {printf "hold: %d sandboxes x 50 https connections held 5 s, then used: %d ok, %d failed (goal: 1000 ok)\n", n, ok, failed}'
grep -c "verdict=deny" "$base/coved.log" | sed 's/^/egress denials logged (expected 0): /'
