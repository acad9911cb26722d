#!/bin/bash
# One coved as a cluster host (issue 18), with real guests and one etcd
# member on loopback: it registers under a lease (its record: figures and
# templates), a second coved claiming its host id is refused, its
# sandboxes' records follow create, pause, resume and kill (and hold no
# token), creates are refused (503) while it is cut off from etcd and
# come back after, a coved that joins a cluster with sandboxes catalogs
# them, and after a restart it reconciles: a sandbox whose record is gone
# is killed, the others are rewritten with the new epoch. Then a gateway-only
# coved in front of it: the cluster's hosts, a create, info, envd and a list
# through it, drain and undrain, its /metrics. tests/cluster.sh
# has the many-host scenarios. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
[ -x "$etcd_bin" ] && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl (make deps: etcd-server, etcd-client)"
base=$(mktemp -d /tmp/cove-clhost.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
pid="" etcd_pid="" pid2="" net2=${COVE_NET_NAME}d
cleanup() {
    [ -n "$etcd_pid" ] && kill -CONT "$etcd_pid" 2>/dev/null
    [ -n "$pid2" ] && kill "$pid2" 2>/dev/null && wait "$pid2" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
    vmm_pids "$COVE_RUN_DIR" | xargs -r kill -9 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    # the duplicate's network instance
    ip -o link | sed -n "s/^[0-9]*: \($net2-[0-9]*\)[@:].*/\1/p" | xargs -r -n1 ip link del 2>/dev/null
    nft delete table inet "$net2" 2>/dev/null
    awk -v d="$base/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount 2>/dev/null
    rm -rf "$base"
}
trap cleanup EXIT
out=$base/out
key=e2b_0123456789abcdef0123456789abcdef01234567
ttl=3

read -r cport pport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
endpoint=http://127.0.0.1:$cport
"$etcd_bin" --name e1 --data-dir "$base/etcd" --listen-client-urls "$endpoint" --advertise-client-urls "$endpoint" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "e1=http://127.0.0.1:$pport" --pre-vote=true >"$base/etcd.log" 2>&1 &
etcd_pid=$!
ec() { ETCDCTL_API=3 etcdctl --endpoints "$endpoint" --dial-timeout 2s --command-timeout 3s "$@"; }
for _ in $(seq 1 100); do ec endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ec endpoint health >/dev/null 2>&1; check "an etcd member answers on loopback" $? "$(tail -5 "$base/etcd.log")"

start() { # start [FLAGS...]: a cluster host h1 (its own flags after)
    start_coved "$base/coved.log" --net-pool 0 --api-key "$key" --cluster-etcd "$endpoint" --host-id h1 \
        --role host --host-lease-ttl "$ttl" "$@"
    local r=$?
    pid=$coved_pid url=$coved_url
    return $r
}
api() { # api METHOD PATH [BODY] -> body in $out, status echoed
    local m=$1 p=$2; shift 2
    curl -s -m 60 -o "$out" -w '%{http_code}' -X "$m" -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
        ${1:+--data-binary "$1"} "$url$p"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$out" "$1" 2>/dev/null; }
record() { ec get --print-value-only "/cove/v1/$1"; }
rfield() { record "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$2" 2>/dev/null; }
create() { api POST /sandboxes "{\"templateID\":\"${COVE_TEMPLATE:-tiny}\",\"timeout\":300}"; }
qemu_of() { vmm_pids "$COVE_RUN_DIR/$1" | wc -l; }

# --- registration ---
start; check "a cluster host starts" $? "$(cat "$base/coved.log")"
[ "$(rfield hosts/h1 "['addr']")" = "${url#http://}" ] && [ "$(rfield hosts/h1 "['state']")" = ready ] &&
    [ "$(rfield hosts/h1 "['templates']['${COVE_TEMPLATE:-tiny}']['snap']")" = True ] &&
    [ "$(rfield hosts/h1 "['max_sandboxes']")" -gt 0 ]
check "it registers hosts/h1: its address, ready, its templates with their snapshots, its room" $? "$(record hosts/h1)"
lease=$(ec get /cove/v1/hosts/h1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0].get("lease",0))')
[ "$lease" != 0 ]; check "... under a lease" $? "lease=$lease"
COVE_NET_NAME=$net2 COVE_NET_RANGE=10.212.0.0/16 COVE_RUN_DIR=$base/run2 COVE_NET_DIR=$base/netns2 \
    start_coved "$base/coved2.log" --net-pool 0 --api-key "$key" --cluster-etcd "$endpoint" --host-id h1 --role host \
    --state-dir "$base/state2"
pid2=$coved_pid
for _ in $(seq 1 50); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid2" 2>/dev/null && grep -q "another coved claims host id h1" "$base/coved2.log"
check "a second coved claiming host id h1 does not start, naming the id" $? "$(cat "$base/coved2.log")"
wait "$pid2" 2>/dev/null; pid2=""

# --- records follow the sandbox ---
s=$(create); id=$(field "['sandboxID']")
[ "$s" = 201 ] && [ "$(rfield "sb/$id" "['state']")" = running ] && [ "$(rfield "sb/$id" "['host']")" = h1 ]
check "a create writes its record: running, on h1" $? "$s $(cat "$out") $(record "sb/$id")"
token=$(field "['envdAccessToken']")
[ -n "$token" ] && ! record "sb/$id" | grep -q -- "$token" && ! record "sb/$id" | grep -qi token
check "... which holds no token" $? "$(record "sb/$id")"
epoch=$(rfield "sb/$id" "['epoch']")
s=$(api POST "/sandboxes/$id/pause")
[ "$s" = 204 ] && [ "$(rfield "sb/$id" "['state']")" = paused ]; check "pause: the record says paused" $? "$s $(record "sb/$id")"
s=$(api POST "/sandboxes/$id/connect" '{"timeout":300}')
[ "$s" = 201 ] && [ "$(rfield "sb/$id" "['state']")" = running ]; check "resume: running again" $? "$s $(record "sb/$id")"
s=$(api DELETE "/sandboxes/$id")
[ "$s" = 204 ] && [ -z "$(record "sb/$id")" ]; check "kill: the record goes" $? "$s $(record "sb/$id")"

# --- cut off from etcd: fenced, then back ---
s=$(create); keep=$(field "['sandboxID']")
[ "$s" = 201 ]; check "a sandbox to outlive the cut" $? "$s $(cat "$out")"
kill -STOP "$etcd_pid"
sleep $((ttl + 1))
s=$(create)
[ "$s" = 503 ] && grep -q "cut off from the cluster" "$out"; check "cut off from etcd past the lease: creates are 503 naming why" $? "$s $(cat "$out")"
s=$(api GET "/sandboxes/$keep")
[ "$s" = 200 ] && [ "$(field "['state']")" = running ]; check "... and its sandbox runs on" $? "$s $(cat "$out")"
kill -CONT "$etcd_pid"
ok=1
for _ in $(seq 1 40); do s=$(create); [ "$s" = 201 ] && { ok=0; break; }; sleep 0.5; done
second=$(field "['sandboxID']")
check "etcd back: it registers again and creates work" $ok "$s $(cat "$out")"
[ "$(rfield "sb/$keep" "['state']")" = running ] && [ "$(rfield "sb/$keep" "['epoch']")" -gt "$epoch" ]
check "... the sandbox that ran through is recorded with the new epoch" $? "$(record "sb/$keep") epoch was $epoch"

# --- a restart reconciles ---
# While it is down, a janitor declares it dead and removes a record (as
# gateways do after --dead-after; here by hand).
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
sleep $((ttl + 1))
ec txn <<EOF >/dev/null
create("/cove/v1/hosts/h1") = "0"

put /cove/v1/dead/h1 {"since":1}
del /cove/v1/sb/$second


EOF
start; check "coved starts again on the same state" $? "$(tail -5 "$base/coved.log")"
ok=1
for _ in $(seq 1 40); do [ "$(qemu_of "$second")" = 0 ] && { ok=0; break; }; sleep 0.25; done
s=$(api GET "/sandboxes/$second")
[ $ok = 0 ] && [ "$s" = 404 ] && grep -q "sandbox=$second op=reconcile-kill" "$base/coved.log"
check "reconcile kills the sandbox whose record went while it was down" $? "$s qemus=$(qemu_of "$second")"
s=$(api GET "/sandboxes/$keep")
[ "$s" = 200 ] && [ "$(rfield "sb/$keep" "['state']")" = running ]; check "... and keeps the one still recorded" $? "$s $(record "sb/$keep")"
[ -z "$(record dead/h1)" ]; check "... and clears its dead mark" $? "$(record dead/h1)"
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
start; check "a coved restarted at once after a crash gets its host id back (its old lease revoked)" $? \
    "$(tail -5 "$base/coved.log")"
api DELETE "/sandboxes/$keep" >/dev/null

# --- a host joins with sandboxes ---
kill -TERM "$pid"; wait "$pid"; pid=""
start_coved "$base/coved.log" --net-pool 0 --api-key "$key"; pid=$coved_pid url=$coved_url
s=$(create); alone=$(field "['sandboxID']")
[ "$s" = 201 ]; check "a single-host coved makes a sandbox" $? "$s $(cat "$out")"
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
start; check "it restarts as a cluster host" $? "$(tail -5 "$base/coved.log")"
s=$(api GET "/sandboxes/$alone")
[ "$s" = 200 ] && [ "$(rfield "sb/$alone" "['state']")" = running ]
check "the sandbox it had joins the catalog, not killed" $? "$s $(record "sb/$alone") $(grep "$alone" "$base/coved.log" | tail -3)"
curl -s -H "X-API-KEY: $key" "$url/metrics" >"$out"
grep -qx 'cove_cluster_host_fenced 0' "$out" && grep -q '^cove_cluster_host_epoch [1-9]' "$out" &&
    grep -qx 'cove_cluster_catalog_writes_pending 0' "$out" && grep -q '^cove_sandboxes{state="running"} 1' "$out"
check "/metrics: the host's figures and its cluster role's (not fenced, its epoch, no writes waiting)" $? \
    "$(grep cluster "$out")"

# --- a gateway in front (another coved, gateway only) ---
COVE_NET_NAME=$net2 COVE_NET_RANGE=10.212.0.0/16 COVE_RUN_DIR=$base/run2 COVE_NET_DIR=$base/netns2 \
    start_coved "$base/gw.log" --net-pool 0 --api-key "$key" --cluster-etcd "$endpoint" --host-id g1 \
    --role gateway --host-lease-ttl "$ttl" --dead-after 60 --state-dir "$base/gwstate"
pid2=$coved_pid gw=$coved_url
check "a gateway-only coved starts" $? "$(tail -5 "$base/gw.log")"
host_url=$url url=$gw
s=$(api GET /cluster/hosts)
[ "$s" = 200 ] && [ "$(field "[0]['hostID']")" = h1 ] && [ "$(field "[0]['live']")" = True ] && [ "$(field "[1:]")" = "[]" ]
check "GET /cluster/hosts through the gateway: h1, live" $? "$s $(cat "$out")"
s=$(create); viagw=$(field "['sandboxID']")
[ "$s" = 201 ] && [ "$(rfield "sb/$viagw" "['host']")" = h1 ]; check "a create through the gateway lands on h1" $? "$s $(cat "$out")"
s=$(api GET "/sandboxes/$viagw")
[ "$s" = 200 ] && [ "$(field "['state']")" = running ]; check "... its info through the gateway" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -H "E2b-Sandbox-Id: $viagw" -H 'E2b-Sandbox-Port: 49983' "$gw/health")
[ "${s:0:1}" = 2 ]; check "... envd through the gateway" $? "$s $(cat "$out")"
s=$(api GET "/v2/sandboxes?limit=10")
python3 -c 'import json,sys; ids=[x["sandboxID"] for x in json.load(open(sys.argv[1]))]; sys.exit(0 if sys.argv[2] in ids and sys.argv[3] in ids else 1)' \
    "$out" "$viagw" "$alone"
check "... the list from the gateway's catalog has both h1 sandboxes" $? "$s $(cat "$out")"
COVE_URL=$gw COVE_API_KEY=$key "$cove" host drain h1 >"$out" 2>&1
r=$?; ok=1
for _ in $(seq 1 40); do [ "$(rfield hosts/h1 "['state']")" = draining ] && { ok=0; break; }; sleep 0.1; done
[ $r = 0 ] && [ $ok = 0 ]; check "cove host drain h1 through the gateway: h1's record says draining" $? "rc=$r $(cat "$out") $(record hosts/h1)"
for _ in $(seq 1 40); do s=$(create); [ "$s" = 429 ] && break; sleep 0.1; done
[ "$s" = 429 ] && grep -qi "drain\|no host" "$out"; check "... and the gateway places nothing there (429)" $? "$s $(cat "$out")"
COVE_URL=$gw COVE_API_KEY=$key "$cove" host undrain h1 >/dev/null 2>&1
for _ in $(seq 1 40); do s=$(create); [ "$s" = 201 ] && break; sleep 0.1; done
[ "$s" = 201 ]; check "undrain: creates land again" $? "$s $(cat "$out")"
api DELETE "/sandboxes/$(field "['sandboxID']")" >/dev/null
curl -s -H "X-API-KEY: $key" "$gw/metrics" >"$out"
grep -q '^cove_cluster_host_up{host="h1",state="ready"} 1' "$out" && grep -q '^cove_cluster_sandboxes{state="running"} 2' "$out" &&
    grep -qx 'cove_cluster_janitor 1' "$out" && ! grep -q '^cove_sandboxes{' "$out"
check "the gateway's /metrics: each host, the cluster's sandboxes by state, the janitor; no host figures of its own" $? \
    "$(cat "$out")"
s=$(api POST "/sandboxes/$viagw/snapshots" '{"name":"gwsnap"}')
[ "$s" = 201 ]; check "a snapshot through the gateway" $? "$s $(cat "$out")"
ok=1
for _ in $(seq 1 80); do [ "$(rfield hosts/h1 "['templates']['gwsnap']['snap']")" = True ] && { ok=0; break; }; sleep 0.1; done
check "... h1's record lists it among what it makes sandboxes of" $ok "$(record hosts/h1)"
s=$(api POST /sandboxes '{"templateID":"gwsnap:default","timeout":60}'); fromsnap=$(field "['sandboxID']")
[ "$s" = 201 ] && [ "$(rfield "sb/$fromsnap" "['template']")" = gwsnap:default ]
check "a create from it through the gateway (its id, default tag) lands on h1" $? "$s $(cat "$out") $(record "sb/$fromsnap")"
api DELETE "/sandboxes/$fromsnap" >/dev/null
s=$(api DELETE "/sandboxes/$viagw")
[ "$s" = 204 ] && [ -z "$(record "sb/$viagw")" ]; check "a kill through the gateway" $? "$s $(cat "$out")"
kill -TERM "$pid2"; wait "$pid2"; pid2=""
url=$host_url

kill -TERM "$pid"; wait "$pid"; pid=""
[ -z "$(record "sb/$alone")" ] && [ -z "$(record hosts/h1)" ]
check "a stopped host's sandboxes end with their records, and its host record goes at once" $? \
    "$(ec get --prefix /cove/v1/ --keys-only)"
[ "$(vmm_pids "$COVE_RUN_DIR" | wc -l)" = 0 ]; check "no VMM is left" $?
echo "1..$n"
