#!/bin/bash
# Many hosts on etcd (issue 18), with real guests on one machine: three
# simulated hosts (tests/cluster_lib.sh: each a network namespace plus a PID
# namespace holding one etcd member and one coved, host and gateway, on a
# bridge of the test's own) and the scenarios of the issue, in its order:
# bring-up and a duplicate host id; creates spread across hosts; the official
# SDK through one gateway driving a sandbox on another host; capacity and
# template locality; a host powered off; partitions shorter and longer than
# dead-after; a host cut off from etcd only; the etcd leader killed during
# creates; quorum lost; a gateway killed mid-stream; the elected gateway
# killed. After each: no sandbox runs on two hosts, none is listed that does
# not exist, nothing leaks. Prints TAP.
#
# Before the scenarios, the harness proves itself: the etcd cluster is
# healthy, and a plain coved in a host's namespaces serves a sandbox to the
# SDK over the bridge, which a power cut of that host takes with it.
# COVE_CLUSTER_ONLY="NAME ..." runs those scenarios alone (their function
# names less s_: spread sdk capacity locality power_off ...), after the
# harness and bring-up; COVE_CLUSTER_KEEP_LOGS=DIR keeps the hosts' coved,
# etcd and VMM logs there. CL_TTL and CL_DEAD_AFTER (5 and 15 s) set the
# cluster's --host-lease-ttl and --dead-after.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$here/../lib.sh"
. "$here/../cluster_lib.sh"

need_root
need_snapshot tiny
for tool in etcd etcdctl nft ip nsenter unshare jq node curl; do
    command -v $tool >/dev/null || skip_all "needs $tool (make deps)"
done
[ -f "$node_dir/node_modules/e2b/package.json" ] ||
    skip_all "the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
export COVE_NODE_DIR=$node_dir CL_ETCD_URLS
CL_KEY=e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
t_start=$(date +%s)
cl_setup || { echo "not ok 1 - the fabric and hosts could not be made"; exit 1; }
CL_ETCD_URLS=$(cl_etcd_urls)
out=$CL_BASE/out
cluster_up=0 sid="" cstatus=""

# sdk N: the SDK's environment pointed at gateway N.
sdk_env() { echo E2B_API_URL="$(cl_url "$1")" E2B_SANDBOX_URL="$(cl_url "$1")" E2B_API_KEY="$CL_KEY"; }
# run_in N ID CMD: CMD in sandbox ID through gateway N (prints its stdout).
run_in() { env $(sdk_env "$1") node "$here/cluster/run.mjs" "$2" "$3" 2>&1; }
# envd_status N ID: the status of envd's /health of ID through gateway N.
envd_status() {
    curl -s -m 10 -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $2" -H 'E2b-Sandbox-Port: 49983' \
        "$(cl_url "$1")/health"
}
ms() { date +%s%3N; }
# all_hosts_up: every host's coved up and its key in etcd (within 15 s).
all_hosts_up() { cl_wait_hosts "h1 h2 h3" 15 >/dev/null; }
# fill N: 6 tiny creates through gateway N (two a host); ids in $ids,
# "ID=HOST" in $placed. A 429 is tried again a second later (room booked
# by the creates before it may not be given back yet: the capacity
# scenario checks that), other failures are not.
fill() {
    local i s
    ids="" placed=""
    for i in 1 2 3 4 5 6; do
        create_retry "$1"; s=$cstatus
        [ "$s" = 201 ] || { echo "# fill: create $i through h$1: $s $(head -c 300 "$out"); hosts: $(cl_hosts_summary)"; continue; }
        ids="$ids $sid" placed="$placed $sid=$(cl_owner "$sid")"
    done
}
# create_retry N [TEMPLATE]: cl_create, tried again a second later after a
# 429 (see fill).
create_retry() {
    cl_create "$@"
    [ "$cstatus" = 429 ] || return 0
    sleep 1
    cl_create "$@"
}
# host_create N: a create sent to host N's coved as a gateway forwards it
# (X-Cove-Host: the host role answers, not its gateway); the status printed.
host_create() { cl_api "$1" POST /sandboxes '{"templateID":"tiny"}' -H "X-Cove-Host: h$1"; }
# on_host H: the ids of $placed that are on host H (h3).
on_host() { echo "$placed" | tr ' ' '\n' | sed -n "s/=$1\$//p" | xargs; }
# The hosts of a list of ids, from the catalog.
owners() { local id; for id in "$@"; do cl_owner "$id"; done | sort | uniq -c | awk '{printf "%s%s:%s", s, $2, $1; s=" "}'; }

# finish NAME: the checks after each scenario; then every sandbox killed
# and nothing left; every host brought back if one is down.
finish() {
    local h
    for h in $CL_HOSTS; do cl_heal "$h"; done
    unset CL_EPS
    # What a scenario that stopped early left down comes back.
    for h in $CL_HOSTS; do
        [ -n "${CL_INIT[$h]}" ] || cl_power_on "$h"
        [ -n "${CL_ETCD[$h]}" ] || cl_etcd_start "$h"
        # shellcheck disable=SC2046
        [ "$cluster_up" = 1 ] && [ -z "${CL_COVED[$h]}" ] && cl_coved_start "$h" $(cl_cluster_flags "$h")
    done
    [ "$cluster_up" = 1 ] && all_hosts_up
    cl_check_invariants "$1"
    cl_kill_all
    cl_check_leaks "$1"
    # The next scenario places on what the hosts publish: wait until their
    # records say they are empty (a record follows a change within a second).
    for _ in $(seq 1 50); do
        [ "$(cl_hosts_summary | grep -o '[0-9]*/' | tr -d / | sort -u | xargs)" = 0 ] && break
        sleep 0.2
    done
}

scenario_ok() {
    [ "$cluster_up" = 1 ] && return 0
    not_ok "$1: the cluster is not up" "bring-up failed; see its messages above"
    return 1
}

# --- the harness itself ---
s_harness() {
    local h s id r
    for h in $CL_HOSTS; do cl_etcd_start "$h"; done
    cl_etcd_healthy
    check "harness: three etcd members, one in each host's namespaces, healthy" $? \
        "$(cl_etcdctl endpoint health 2>&1)" "$(cl_logs 1)"
    [ "$(cl_etcdctl member list 2>/dev/null | grep -c started)" = 3 ]
    check "harness: the members form one cluster" $? "$(cl_etcdctl member list 2>&1)"
    # A plain coved in host 1, reached from the root namespace over the bridge.
    mkdir -p "$CL_BASE/h1/plain"
    CL_STATE=plain cl_coved_start 1
    check "harness: a plain coved runs in host 1's namespaces and listens on the bridge" $? "$(cl_logs 1)"
    cl_create 1; s=$cstatus id=$sid
    r=$(run_in 1 "$id" 'echo hello from h1')
    [ "$s" = 201 ] && [ "$r" = "hello from h1" ] && [ "$(cl_vmms 1)" = "$id" ]
    check "harness: the SDK over the bridge runs a command in its sandbox, whose VMM is in host 1's PID namespace" $? \
        "create $s $(head -c 300 "$out")" "command: $r" "VMMs: $(cl_vmms 1 | xargs)" "$(cl_logs 1)"
    local qemu
    qemu=$(vmm_pids "$CL_BASE/h1/run" | head -1)
    cl_power_off 1
    [ -n "$qemu" ] && [ ! -e "/proc/$qemu" ] && ! ip netns list | grep -q '^cvcl-h1 '
    check "harness: a power cut takes the host's coved, member and VMMs with it" $? "VMM $qemu: $(cat /proc/"$qemu"/cmdline 2>/dev/null | tr '\0' ' ')"
    cl_power_on 1 && cl_etcd_start 1 && cl_etcd_healthy
    check "harness: host 1 boots again and its member rejoins" $? "$(cl_etcdctl endpoint health 2>&1)" "$(cl_logs 1)"
}

# --- 1. bring-up, and a duplicate host id refused ---
s_bringup() {
    local h ok=1 got hosts1 hosts rc t0
    t0=$(ms)
    for h in $CL_HOSTS; do
        # shellcheck disable=SC2046
        cl_coved_start "$h" $(cl_cluster_flags "$h") || ok=0
    done
    [ $ok = 1 ]
    check "bring-up: three coveds start in cluster mode (host and gateway)" $? "$(cl_logs 1)" "$(cl_logs 2 3)" "$(cl_logs 3 3)"
    [ $ok = 1 ] || return 0
    got=$(cl_wait_hosts "h1 h2 h3" 5)
    check "bring-up: the three hosts are in etcd within 5 s ($(( $(ms) - t0 )) ms)" $? "host keys: $got" "$(cl_logs 1)"
    [ "$got" = "h1 h2 h3" ] && cluster_up=1
    revs0=$(cl_host_revs)
    for h in $CL_HOSTS; do
        s=$(cl_api "$h" GET /cluster/hosts)
        hosts=$(jq -r '.[] | select(.live) | .hostID' "$out" 2>/dev/null | sort | xargs)
        [ "$h" = 1 ] && hosts1=$hosts
        [ "$s" = 200 ] && [ "$hosts" = "h1 h2 h3" ] && [ "$hosts" = "$hosts1" ]
        check "bring-up: GET /cluster/hosts on gateway h$h lists h1 h2 h3" $? "$s $(head -c 400 "$out")"
    done
    # A second coved claiming h1's id (in host 2, another port and state).
    mkdir -p "$CL_BASE/dup"
    # shellcheck disable=SC2046
    timeout 20 nsenter -t "${CL_INIT[2]}" -n -m -p -- env $(cl_env 2) COVE_STATE_DIR="$CL_BASE/dup" \
        COVE_RUN_DIR="$CL_BASE/dup/run" COVE_LOG_DIR="$CL_BASE/dup/log" COVE_NET_DIR="$CL_BASE/dup/netns" COVE_NET_NAME=cvc9 COVE_NET_RANGE=10.239.0.0/16 \
        "$build/bin/coved" --listen "$(cl_addr 2):49990" --api-key "$CL_KEY" --net-pool 0 --dns none \
        --cluster-etcd "$(cl_etcd_urls)" --host-id h1 --advertise "$(cl_addr 2):49990" >"$CL_BASE/dup.log" 2>&1
    rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'h1' "$CL_BASE/dup.log" && [ "$(cl_host_revs)" = "$revs0" ] || false
    check "bring-up: a second coved with h1's id exits non-zero naming the id, h1's key untouched" $? \
        "exit $rc (124: still running after 20 s)" "$(sed 's/^/dup: /' "$CL_BASE/dup.log" | tail -5)"
    finish bring-up
}

# --- 2. creates spread across hosts ---
s_spread() {
    scenario_ok spread || return 0
    local i s h ok=1 bad="" id o r
    ids=""
    for i in 1 2 3 4; do
        create_retry 1; s=$cstatus
        [ "$s" = 201 ] || { ok=0; bad="$bad create $i: $s $(head -c 200 "$out");"; continue; }
        ids="$ids $sid"
    done
    [ $ok = 1 ]; check "spread: four creates through gateway h1 succeed" $? "$bad" "$(cl_logs 1)"
    # shellcheck disable=SC2086
    r=$(owners $ids)
    [ "$(echo "$r" | wc -w)" -ge 2 ]
    check "spread: they land on at least two hosts (COVE_PLACEMENT_SEED=1): $r" $? "owners: $r"
    bad=""
    for id in $ids; do
        o=$(cl_owner "$id")
        [ -n "$o" ] && [ "$(cl_runs_on "$id")" = "$o" ] || bad="$bad $id: record $o, runs on '$(cl_runs_on "$id")';"
    done
    [ -z "$bad" ]; check "spread: each runs on the host its catalog record names" $? "$bad"
    bad=""
    sleep 1
    for h in $CL_HOSTS; do
        r=$(cl_list "$h" | xargs)
        for id in $ids; do echo " $r " | grep -q " $id " || bad="$bad gateway h$h does not list $id;"; done
    done
    [ -z "$bad" ]; check "spread: every gateway lists all four within a second" $? "$bad"
    finish spread
}

# --- 3. the official SDK through one gateway, sandboxes on another host ---
s_sdk() {
    scenario_ok sdk || return 0
    # node's own TAP: its top-level lines are this script's tests (run.sh
    # counts them), renumbered after ours.
    env $(sdk_env 1) CL_GATEWAY=h1 node --test --test-reporter=tap --test-concurrency=1 "$here/cluster/sdk.mjs" \
        >"$CL_BASE/sdk.tap" 2>&1
    local line
    while IFS= read -r line; do
        case $line in
        "ok "* | "not ok "*)
            n=$((n + 1))
            echo "$line" | sed "s/^\(\(not \)\{0,1\}ok\) [0-9]* - /\1 $n - sdk: /"
            ;;
        1..*) ;;
        *) echo "$line" ;;
        esac
    done <"$CL_BASE/sdk.tap"
    finish sdk
}

# --- 4. capacity and template locality ---
s_capacity() {
    scenario_ok capacity || return 0
    local s r retry on2 id bad i
    fill 2
    r=$(echo "$placed" | tr ' ' '\n' | sed -n 's/.*=//p' | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
    [ "$(echo $ids | wc -w)" = 6 ] && [ "$r" = "h1:2 h2:2 h3:2 " ]
    check "capacity: six creates through gateway h2 fill the three hosts, two each (--max-sandboxes 2)" $? "placed: $r"
    s=$(cl_api 2 POST /sandboxes '{"templateID":"tiny"}' -D "$CL_BASE/headers")
    retry=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$CL_BASE/headers")
    [ "$s" = 429 ] && [ -n "$retry" ]
    check "capacity: the seventh is 429 with Retry-After when every host is full" $? "$s retry-after '$retry' $(head -c 300 "$out")"
    on2=$(on_host h2)
    id=${on2%% *}
    s=$(cl_api 1 DELETE "/sandboxes/$id")
    sleep 1
    cl_create 3; s=$cstatus
    [ "$s" = 201 ] && [ "$(cl_owner "$sid")" = h2 ]
    check "capacity: once one on h2 is killed, the next create goes there" $? "$s owner $(cl_owner "$sid") $(head -c 200 "$out")"
    cl_kill_all
    # A create's booking of room (in flight) ends once the host says what
    # it runs: creating and killing in a row never runs out of room.
    bad=""
    for i in 1 2 3 4 5 6 7 8; do
        cl_create 1; s=$cstatus
        [ "$s" = 201 ] || bad="$bad create $i: $s $(head -c 150 "$out") hosts: $(cl_hosts_summary);"
        [ -n "$sid" ] && cl_api 1 DELETE "/sandboxes/$sid" >/dev/null
    done
    [ -z "$bad" ]; check "capacity: eight creates through one gateway, each killed at once, never find the hosts full" $? "$bad"
    finish capacity
}

s_locality() {
    scenario_ok locality || return 0
    local i s r bad="" st
    [ -d "$COVE_TEMPLATES/base/snapshot" ] || { ok "locality # SKIP no base template with a snapshot"; return 0; }
    ids=""
    for i in 1 2 3 4; do
        cl_create 3 base; s=$cstatus
        [ "$s" = 201 ] && ids="$ids $sid" || bad="$bad create $i: $s $(head -c 200 "$out") hosts: $(cl_hosts_summary);"
        sleep 1 # the capacity scenario checks creates in a row
    done
    # shellcheck disable=SC2086
    r=$(owners $ids)
    [ -z "$bad" ] && [ "$(echo $ids | wc -w)" = 4 ] && ! echo "$r" | grep -q h3 && [ "$(cl_vmm_count 3)" = 0 ]
    check "locality: four creates of base through gateway h3 all land on h1 and h2 (h3 lacks base): $r" $? "$bad" "owners: $r"
    cl_create 3 base; st=$cstatus
    [ "$st" = 429 ] && [ "$(cl_vmm_count 3)" = 0 ]
    check "locality: a fifth is 429 though h3 has room: it never gets base" $? "$st $(head -c 300 "$out")" "h3 VMMs: $(cl_vmms 3 | xargs)"
    finish locality
}

# --- 5. a host powered off ---
s_power_off() {
    scenario_ok power-off || return 0
    local on3 run3 paused3 t0 t s got bad="" others r
    fill 1
    on3=$(on_host h3)
    run3=${on3%% *} paused3=${on3##* }
    [ -n "$run3" ] && [ "$run3" != "$paused3" ] && [ "$(cl_api 1 POST "/sandboxes/$paused3/pause")" = 204 ]
    check "power-off: h3 holds two sandboxes, one of them paused through gateway h1" $? "placed: $placed" "$(head -c 200 "$out")"
    # The others go, so that h1 and h2 have room for the creates below.
    for id in $ids; do [ "$id" != "$run3" ] && [ "$id" != "$paused3" ] && cl_api 1 DELETE "/sandboxes/$id" >/dev/null; done
    # When h3's member led, the others elect a leader first, and etcd
    # re-arms every lease on a leader change: the key then goes up to a
    # TTL later (multihost.md §4.7).
    local lead bound
    lead=$(cl_etcd_leader)
    bound=$((CL_TTL * 1000 + 1500))
    [ "$lead" = 3 ] && bound=$((2 * CL_TTL * 1000 + 2500))
    t0=$(ms)
    cl_power_off 3
    got=$(cl_wait_hosts "h1 h2" $((2 * CL_TTL + 4)))
    t=$(( $(ms) - t0 ))
    [ "$got" = "h1 h2" ] && [ "$t" -le $bound ]
    check "power-off: h3's key is gone within the TTL + 1.5 s, or twice the TTL + 2.5 s when its member led ($t ms, leader e$lead)" $? "keys: $got"
    others=""
    for i in 1 2 3 4; do
        create_retry 1; s=$cstatus
        [ "$s" = 201 ] && others="$others $sid" || bad="$bad $s"
    done
    # shellcheck disable=SC2086
    r=$(owners $others)
    [ -z "$bad" ] && ! echo "$r" | grep -q h3
    check "power-off: four creates after it all go to h1 and h2: $r" $? "statuses:$bad"
    # shellcheck disable=SC2086
    for id in $others; do cl_api 1 DELETE "/sandboxes/$id" >/dev/null; done
    s=$(cl_api 2 GET "/sandboxes/$run3")
    [ -n "$run3" ] && [ "$s" = 200 ] && [ "$(jq -r .sandboxID "$out")" = "$run3" ]
    check "power-off: until dead-after, its info still answers (from the record)" $? "$s $(head -c 200 "$out")"
    s=$(envd_status 1 "$run3")
    [ -n "$run3" ] && [ "$s" = 502 ]; check "power-off: envd calls to its sandbox through a gateway are 502" $? "$s"
    # After dead-after, its running record goes; the paused one stays.
    for _ in $(seq 1 $(( (CL_DEAD_AFTER + 10) * 5 ))); do
        [ "$(cl_api 1 GET "/sandboxes/$run3")" = 404 ] && break
        sleep 0.2
    done
    t=$(( $(ms) - t0 ))
    s=$(cl_api 1 GET "/sandboxes/$run3")
    [ -n "$run3" ] && [ "$s" = 404 ] && ! cl_list 2 | grep -qx "$run3" && [ -z "$(cl_owner "$run3")" ]
    check "power-off: after dead-after its running sandbox is gone: 404, not listed, no record ($t ms)" $? "$s $(head -c 200 "$out")" "$(cl_logs 1 5)"
    [ "$(cl_dead_keys | xargs)" = h3 ]; check "power-off: h3 is declared dead (/cove/v1/dead/h3)" $? "dead: $(cl_dead_keys | xargs)"
    [ -n "$paused3" ] && cl_list 2 state=paused | grep -qx "$paused3"
    check "power-off: its paused sandbox stays listed as paused" $? "$(head -c 300 "$out")"
    s=$(cl_api 2 POST "/sandboxes/$paused3/connect" '{"timeout":300}')
    [ -n "$paused3" ] && [ "$s" = 503 ]; check "power-off: resuming it answers 503 while h3 is down" $? "$s $(head -c 200 "$out")"
    # h3 boots again: its member rejoins, its coved reconciles.
    cl_power_on 3 && cl_etcd_start 3
    # shellcheck disable=SC2046
    cl_coved_start 3 $(cl_cluster_flags 3)
    got=$(cl_wait_hosts "h1 h2 h3" 15)
    [ "$got" = "h1 h2 h3" ] && [ -z "$(cl_dead_keys)" ]
    check "power-off: h3 boots, registers again and clears its dead key" $? "keys: $got dead: $(cl_dead_keys | xargs)" "$(cl_logs 3)"
    [ -n "$run3" ] && [ -z "$(cl_owner "$run3")" ] && [ "$(cl_api 1 GET "/sandboxes/$run3")" = 404 ]
    check "power-off: the sandbox that died with it stays gone" $? "record: $(cl_owner "$run3")"
    s=$(cl_api 1 POST "/sandboxes/$paused3/connect" '{"timeout":300}')
    [[ "$s" =~ ^20[01]$ ]] && [ "$(cl_runs_on "$paused3")" = h3 ]
    check "power-off: the paused one resumes on h3" $? "$s $(head -c 200 "$out") runs on '$(cl_runs_on "$paused3")'" "$(cl_logs 3)"
    finish power-off
}

# partitioned N SECS MODE: the ids on h3 before, a partition of h3 for
# SECS, the checks common to both partitions.
s_partition_short() {
    scenario_ok partition-short || return 0
    local on3 before t0 got s r rev_before rev_after
    fill 1
    on3=$(on_host h3)
    before=$(cl_vmms 3 | xargs)
    rev_before=$(cl_host_revs | tr ' ' '\n' | sed -n 's/^h3=//p')
    [ -n "$on3" ]; check "partition-short: h3 runs sandboxes ($on3)" $? "placed: $placed"
    t0=$(ms)
    cl_partition 3 hosts
    CL_EPS=$(cl_etcd_urls_of 1 2)
    got=$(cl_wait_hosts "h1 h2" $((CL_TTL + 3)))
    check "partition-short: h3's key expires on the majority ($(( $(ms) - t0 )) ms)" $? "keys: $got"
    s=$(host_create 3)
    [ "$s" = 503 ] && grep -q 'cut off' "$out"
    check "partition-short: h3 is fenced: a create it is sent is 503, cut off" $? "$s $(head -c 200 "$out")"
    sleep $(( CL_DEAD_AFTER / 3 ))
    cl_heal 3
    unset CL_EPS
    got=$(cl_wait_hosts "h1 h2 h3" $((CL_TTL + 8)))
    rev_after=$(cl_host_revs | tr ' ' '\n' | sed -n 's/^h3=//p')
    [ "$got" = "h1 h2 h3" ] && [ -n "$rev_after" ] && [ "$rev_after" != "$rev_before" ]
    check "partition-short: healed after $(( ($(ms) - t0) / 1000 )) s, h3 registers again with a new epoch" $? \
        "keys: $got epoch $rev_before -> $rev_after" "$(cl_logs 3)"
    [ -n "$before" ] && [ "$(cl_vmms 3 | xargs)" = "$before" ]
    check "partition-short: nothing was killed" $? "before: $before after: $(cl_vmms 3 | xargs)"
    id=${on3%% *}
    r=$(run_in 1 "$id" 'echo still here')
    [ "$r" = "still here" ] && [ "$(cl_owner "$id")" = h3 ]
    check "partition-short: the SDK through gateway h1 runs a command in h3's sandbox" $? "$r owner $(cl_owner "$id")"
    finish partition-short
}

s_partition_long() {
    scenario_ok partition-long || return 0
    local on3 a b t0 s got r
    fill 1
    on3=$(on_host h3)
    a=${on3%% *} b=${on3##* }
    [ -n "$a" ] && [ "$a" != "$b" ]; check "partition-long: h3 runs two sandboxes ($on3)" $? "placed: $placed"
    t0=$(ms)
    cl_partition 3 hosts
    CL_EPS=$(cl_etcd_urls_of 1 2)
    sleep $((CL_TTL + 1))
    s=$(cl_api 1 DELETE "/sandboxes/$a")
    [ -n "$a" ] && [ "$s" = 204 ] && [ "$(cl_record_state "$a")" = killing ]
    check "partition-long: a kill through gateway h1 while h3 is cut off is 204, its record 'killing'" $? \
        "$s state $(cl_record_state "$a") $(head -c 200 "$out")"
    for _ in $(seq 1 $(( (CL_DEAD_AFTER + 10) * 5 ))); do
        [ "$(cl_api 1 GET "/sandboxes/$b")" = 404 ] && break
        sleep 0.2
    done
    s=$(cl_api 1 GET "/sandboxes/$b")
    [ -n "$b" ] && [ "$s" = 404 ] && [ -z "$(cl_owner "$b")" ]
    check "partition-long: after dead-after the janitor removed its records: 404 ($(( ($(ms) - t0) / 1000 )) s)" $? "$s $(head -c 200 "$out")"
    r=$(cl_vmms 3 | xargs)
    [ -n "$a" ] && echo " $r " | grep -q " $a " && echo " $r " | grep -q " $b "
    check "partition-long: h3, cut off, still runs both (no host kills what it cannot see)" $? "h3 VMMs: $r"
    cl_heal 3
    unset CL_EPS
    got=$(cl_wait_hosts "h1 h2 h3" $((CL_TTL + 8)))
    for _ in $(seq 1 100); do
        r=$(cl_vmms 3 | xargs)
        ! echo " $r " | grep -qE " ($a|$b) " && break
        sleep 0.1
    done
    [ -n "$a" ] && [ "$got" = "h1 h2 h3" ] && ! echo " $r " | grep -qE " ($a|$b) " && [ -z "$(cl_runs_on "$a")$(cl_runs_on "$b")" ]
    check "partition-long: healed, h3 registers and kills the stale VMs (fencing on return)" $? \
        "keys: $got h3 VMMs: $r" "$(cl_logs 3)"
    s=$(cl_api 1 POST "/sandboxes/$b/connect" '{"timeout":300}')
    [ -n "$a" ] && [ "$s" = 404 ] && [ -z "$(cl_owner "$a")" ]
    check "partition-long: connect to it is 404, and the killed one has no record" $? "$s record of $a: $(cl_record_state "$a")"
    finish partition-long
}

# --- 7. a host cut off from etcd only ---
s_etcd_cut() {
    scenario_ok etcd-cut || return 0
    local on3 id before t0 got s r
    fill 1
    on3=$(on_host h3)
    id=${on3%% *}
    before=$(cl_vmms 3 | xargs)
    t0=$(ms)
    cl_partition 3 etcd
    CL_EPS=$(cl_etcd_urls_of 1 2)
    got=$(cl_wait_hosts "h1 h2" $((CL_TTL + 3)))
    check "etcd-cut: h3's key expires ($(( $(ms) - t0 )) ms)" $? "keys: $got"
    s=$(host_create 3)
    [ "$s" = 503 ] && grep -q 'cut off' "$out"
    check "etcd-cut: h3 fences itself: a create it is sent is 503, cut off" $? "$s $(head -c 200 "$out")" "$(cl_logs 3 5)"
    r=$(run_in 1 "$id" 'echo routed')
    [ "$r" = routed ]
    check "etcd-cut: gateway h1 still routes to h3's sandbox" $? "$r"
    sleep $(( CL_DEAD_AFTER / 3 ))
    cl_heal 3
    unset CL_EPS
    got=$(cl_wait_hosts "h1 h2 h3" $((CL_TTL + 8)))
    [ -n "$before" ] && [ "$got" = "h1 h2 h3" ] && [ "$(cl_vmms 3 | xargs)" = "$before" ] && [ "$(cl_owner "$id")" = h3 ]
    check "etcd-cut: healed, h3 registers again and nothing was killed" $? "keys: $got before: $before after: $(cl_vmms 3 | xargs)"
    finish etcd-cut
}

# --- 8. the etcd leader killed during creates ---
s_leader() {
    scenario_ok leader || return 0
    local l revs i s t slow="" bad="" stream gw=1 id
    l=$(cl_etcd_leader)
    [ -n "$l" ]; check "leader: the etcd leader is e$l" $? "$(cl_etcdctl endpoint status 2>&1)"
    [ -n "$l" ] || return 0
    [ "$l" = 1 ] && gw=2
    revs=$(cl_host_revs)
    cl_create $gw; s=$cstatus
    id=$sid
    # A streaming command on the side, across the leader's death.
    run_in $gw "$id" 'for i in 1 2 3 4 5 6 7 8 9 10; do echo s$i; sleep 0.4; done' >"$CL_BASE/stream" &
    stream=$!
    for i in 1 2 3 4 5 6; do
        [ "$i" = 2 ] && cl_etcd_kill "$l"
        t=$(ms)
        cl_create $gw; s=$cstatus
        t=$(( $(ms) - t ))
        [ "$s" = 201 ] || bad="$bad create $i: $s $(head -c 150 "$out");"
        [ "$t" -le 5000 ] || slow="$slow create $i: $t ms;"
        [ -n "$sid" ] && cl_api $gw DELETE "/sandboxes/$sid" >/dev/null
        # Apart enough that a create's booking of room has ended (the
        # capacity scenario checks creates in a row).
        sleep 1
    done
    [ -z "$bad$slow" ]; check "leader: creates through gateway h$gw succeed within 5 s each while e$l dies" $? "$bad$slow" \
        "hosts: $(cl_hosts_summary)"
    wait $stream
    [ "$(tr '\n' ' ' <"$CL_BASE/stream")" = "s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 " ]
    check "leader: a streaming command runs through it unharmed" $? "$(cat "$CL_BASE/stream")"
    [ "$(cl_host_revs)" = "$revs" ] && [ -z "$(cl_dead_keys)" ]
    check "leader: no host lost its lease (every host key's create revision kept), none declared dead" $? "before: $revs after: $(cl_host_revs)"
    cl_etcd_start "$l" && cl_etcd_healthy
    check "leader: e$l rejoins" $? "$(cl_etcdctl endpoint health 2>&1)"
    finish leader
}

# --- 9. quorum lost ---
s_quorum() {
    scenario_ok quorum || return 0
    local id s t r a b short
    cl_create 1; s=$cstatus
    id=$sid
    # One whose deadline comes while etcd has no quorum: deadlines are the hosts'.
    cl_create 1 tiny 6
    short=$sid
    a=2 b=3
    cl_etcd_kill $a
    cl_etcd_kill $b
    t=$(ms)
    cl_create 1; s=$cstatus
    t=$(( $(ms) - t ))
    # One host tries the catalog write: each live member (two) takes the
    # client's 2 s before the next is tried, and the gateway passes the
    # host's 503 on (the others share the catalog). A shorter time-out
    # fails creates and leases during a leader election instead (1 s did,
    # in the leader scenario).
    [ "$s" = 503 ] && [ "$t" -le 5000 ]
    check "quorum: without quorum a create fails fast: 503 in $t ms (two members' time-outs)" $? "$s $(head -c 200 "$out")"
    cl_list 1 | grep -qx "$id"
    check "quorum: the list still answers from the cache" $? "$(head -c 300 "$out")"
    r=$(run_in 1 "$id" 'echo served')
    [ "$r" = served ]; check "quorum: envd calls are still routed" $? "$r"
    for _ in $(seq 1 80); do [ -z "$(cl_runs_on "$short")" ] && break; sleep 0.1; done
    [ -n "$short" ] && [ -z "$(cl_runs_on "$short")" ] && [ -n "$(cl_runs_on "$id")" ]
    check "quorum: the sandboxes run on, and a deadline still ends one" $? \
        "$short (6 s) runs on '$(cl_runs_on "$short")', $id on '$(cl_runs_on "$id")'"
    cl_etcd_start $a && cl_etcd_start $b && cl_etcd_healthy
    check "quorum: the members come back" $? "$(cl_etcdctl endpoint health 2>&1)"
    for _ in $(seq 1 20); do
        cl_create 1; s=$cstatus
        [ "$s" = 201 ] && break
        sleep 0.5
    done
    [ "$s" = 201 ] && [ -z "$(cl_dead_keys)" ] && [ "$(cl_runs_on "$id")" = "$(cl_owner "$id")" ]
    check "quorum: writes resume, no host was declared dead, the sandbox runs on" $? \
        "$s dead: $(cl_dead_keys | xargs) record $(cl_owner "$id") runs on $(cl_runs_on "$id")"
    all_hosts_up
    check "quorum: every host is registered again" $? "$(cl_host_keys | xargs)"
    for _ in $(seq 1 50); do [ -z "$(cl_owner "$short")" ] && break; sleep 0.2; done
    [ -n "$short" ] && [ -z "$(cl_owner "$short")" ] && ! cl_list 2 | grep -qx "$short"
    check "quorum: the one that ended without etcd leaves the catalog once etcd is back" $? \
        "record: $(cl_record_state "$short")"
    finish quorum
}

# --- 10. a gateway killed mid-stream ---
s_gateway_killed() {
    scenario_ok gateway-killed || return 0
    local on2 on1 id r h1ids s
    fill 2
    on2=$(on_host h2) on1=$(on_host h1)
    id=${on2%% *}
    h1ids=$(cl_vmms 1 | xargs)
    r=$(env $(sdk_env 1) node "$here/cluster/stream.mjs" "$id" "${CL_COVED[1]}" 2>&1)
    wait_gone "${CL_COVED_NS[1]}" 200
    CL_COVED[1]="" CL_COVED_NS[1]=""
    echo "$r" | jq -e '(.lines | length) >= 3 and (.error != null) and (.endedAfterKillMs < 10000)' >/dev/null
    check "gateway-killed: a stream through gateway h1 ends with an error when its coved is SIGKILLed" $? "$r"
    r=$(run_in 2 "$id" 'echo alive')
    [ "$r" = alive ]; check "gateway-killed: its sandbox on h2 goes on, through gateway h2" $? "$r"
    [ -n "$h1ids" ] && [ "$(cl_vmms 1 | xargs)" = "$h1ids" ]; check "gateway-killed: h1's VMMs survive its coved" $? "before: $h1ids after: $(cl_vmms 1 | xargs)"
    cl_coved_restart 1
    all_hosts_up
    check "gateway-killed: h1's coved restarts and registers again" $? "$(cl_host_keys | xargs)" "$(cl_logs 1)"
    id=${on1%% *}
    r=$(run_in 2 "$id" 'echo adopted')
    [ "$r" = adopted ] && [ "$(cl_owner "$id")" = h1 ]
    check "gateway-killed: h1's sandboxes are adopted again, records unchanged" $? "$r owner $(cl_owner "$id")" "$(cl_logs 1)"
    finish gateway-killed
}

# --- 11. the elected gateway killed ---
s_janitor_killed() {
    scenario_ok janitor-killed || return 0
    local j v gw id t0 j2 s got
    # A holder killed earlier (gateway-killed) leaves the key until its
    # lease runs out; another campaigns every TTL/2.
    for _ in $(seq 1 $((CL_TTL * 20))); do j=$(cl_janitor); [ -n "$j" ] && break; sleep 0.1; done
    [ -n "$j" ]; check "janitor-killed: one gateway holds /cove/v1/janitor (h$j)" $? "$(cl_etcdctl get /cove/v1/janitor 2>&1 | head -3)"
    [ -n "$j" ] || return 0
    v=$(( j % 3 + 1 ))
    gw=$(( 6 - j - v )) # neither the victim nor the janitor
    fill "$gw"
    id=$(on_host "h$v")
    id=${id%% *}
    t0=$(ms)
    cl_power_off "$v"
    cl_coved_kill "$j"
    for _ in $(seq 1 $(( (CL_TTL + 3) * 10 ))); do
        j2=$(cl_janitor)
        [ -n "$j2" ] && [ "$j2" != "$j" ] && break
        sleep 0.1
    done
    [ -n "$j2" ] && [ "$j2" != "$j" ]
    check "janitor-killed: another gateway (h$j2) takes over within the TTL + 3 s ($(( $(ms) - t0 )) ms)" $? "holder: '$j2'"
    cl_coved_restart "$j"
    for _ in $(seq 1 $(( (CL_DEAD_AFTER + 10) * 5 ))); do
        [ "$(cl_api "$gw" GET "/sandboxes/$id")" = 404 ] && break
        sleep 0.2
    done
    s=$(cl_api "$gw" GET "/sandboxes/$id")
    [ -n "$id" ] && [ "$s" = 404 ] && [ -z "$(cl_owner "$id")" ]
    check "janitor-killed: the powered-off h$v's running sandbox is still removed after dead-after" $? "$id: $s"
    cl_power_on "$v" && cl_etcd_start "$v"
    # shellcheck disable=SC2046
    cl_coved_start "$v" $(cl_cluster_flags "$v")
    all_hosts_up
    check "janitor-killed: h$v boots and registers again" $? "$(cl_host_keys | xargs)" "$(cl_logs "$v")"
    finish janitor-killed
}

only=${COVE_CLUSTER_ONLY:-}
want() { [ -z "$only" ] || echo " $only " | grep -q " $1 "; }
s_harness
s_bringup
for s in spread sdk capacity locality power_off partition_short partition_long etcd_cut leader quorum \
    gateway_killed janitor_killed; do
    want "$s" || continue
    echo "# --- $s ($(( $(date +%s) - t_start )) s)"
    "s_$s"
done
echo "# done in $(( $(date +%s) - t_start )) s"
echo "1..$n"
