# shellcheck shell=bash
# The cluster test's harness (sourced by tests/integration/cluster.sh, after
# lib.sh): three simulated hosts on one machine, each a network namespace
# plus a PID namespace holding one etcd member and one coved, on a bridge of
# the test's own. Needs root, ip, nsenter, unshare, nft, etcd, etcdctl, jq.
#
# Layout (fixed names: integration tests run one at a time, under the lock):
#   netns cvcl-fab     the fabric: bridge br0, one port per host and one to
#                      the root namespace (cvclr there, 10.231.0.100/24),
#                      where curl, etcdctl and the SDK run
#   netns cvcl-hN      host N (1..3): eth0 at 10.231.0.N/24 on the bridge,
#                      and a PID namespace (unshare --pid --fork
#                      --mount-proc inside `ip netns exec`) whose init is
#                      CL_INIT[N]; its etcd member eN (client 2379, peer
#                      2380), its coved on 10.231.0.N:49982, their VMMs.
#                      Its network instance is cvcN over 10.23(1+N).0.0/16;
#                      state, run, log and net dirs under $CL_BASE/hN.
# Killing a host's init is a power cut: its member, coved and VMMs die with
# it (the kernel kills a PID namespace with its init); cl_power_off also
# removes the host's network namespace (its links and nftables rules) and
# run directory, as a reboot would, and keeps its state and etcd data.
#
#   cl_setup           sweep a killed run's leftovers, build the fabric, the
#                      three hosts (powered on, nothing started) and
#                      $CL_BASE; teardown on exit (cl_teardown)
#   cl_etcd_start N    start member eN (a new cluster, or its data: rejoin)
#   cl_coved_start N [FLAGS]   coved on host N in cluster mode; waits until
#                      it listens (1) or exits (returns 1)
#   cl_power_off N, cl_power_on N    power cut and boot (nothing started)
#   cl_partition N all|etcd|hosts, cl_heal N    nftables in host N's netns

CL_NET=10.231.0
CL_PORT=49982
CL_FAB=cvcl-fab
CL_HOSTS="1 2 3"
CL_SHM=/dev/shm/cove-cluster-etcd
# Short for the test, yet long enough that an etcd leader change (a second
# or two without writes, election timeout 1 s) does not fence a host: with
# a TTL of 3 a host fences at 2 s without a keepalive, which a leader's
# death can exceed (seen: "no keepalive for 2717 ms").
CL_TTL=${CL_TTL:-5}
CL_DEAD_AFTER=${CL_DEAD_AFTER:-15}
declare -a CL_INIT CL_ETCD CL_COVED CL_COVED_NS
CL_BASE=""

cl_ns() { echo "cvcl-h$1"; }
cl_addr() { echo "$CL_NET.$1"; }
cl_url() { echo "http://$CL_NET.$1:$CL_PORT"; }
cl_etcd_urls() { local h s=""; for h in $CL_HOSTS; do s="$s${s:+,}http://$CL_NET.$h:2379"; done; echo "$s"; }
# cl_etcd_urls_of N...: the client URLs of these members.
cl_etcd_urls_of() { local h s=""; for h in "$@"; do s="$s${s:+,}http://$CL_NET.$h:2379"; done; echo "$s"; }
# etcdctl on every member, or on $CL_EPS (a partition's majority: a
# minority member's linearizable reads hang).
cl_etcdctl() { etcdctl --endpoints "${CL_EPS:-$(cl_etcd_urls)}" --dial-timeout=2s --command-timeout=4s "$@"; }

# Everything of this harness a run that was killed left behind: its
# namespaces (and whatever runs in them: its own etcd, coved and VMMs), the
# root's end of the fabric, its directories.
cl_sweep() {
    local ns
    for ns in $(ip netns list | awk '$1 ~ /^cvcl-/ {print $1}'); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    ip link del cvclr 2>/dev/null
    rm -rf "$CL_SHM" /tmp/cove-cluster.??????
    return 0
}

cl_teardown() {
    local h
    # COVE_CLUSTER_KEEP_LOGS=DIR: the hosts' coved, etcd and VMM logs kept there.
    if [ -n "${COVE_CLUSTER_KEEP_LOGS:-}" ] && [ -n "$CL_BASE" ]; then
        mkdir -p "$COVE_CLUSTER_KEEP_LOGS"
        (cd "$CL_BASE" && find . -name '*.log' -exec cp --parents {} "$COVE_CLUSTER_KEEP_LOGS/" \;)
    fi
    for h in $CL_HOSTS; do
        [ -n "${CL_INIT[$h]:-}" ] && kill -9 "${CL_INIT[$h]}" 2>/dev/null
    done
    cl_sweep
    [ -n "$CL_BASE" ] && rm -rf "$CL_BASE"
    return 0
}

cl_setup() {
    local h t
    cl_sweep
    if ip -o addr | grep -q "inet $CL_NET\."; then
        skip_all "$CL_NET.0/24 (the cluster test's fabric) is already in use on this host"
    fi
    CL_BASE=$(mktemp -d /tmp/cove-cluster.XXXXXX)
    mkdir -p "$CL_SHM"
    trap cl_teardown EXIT
    ip netns add $CL_FAB
    ip -n $CL_FAB link add br0 type bridge
    ip -n $CL_FAB link set br0 up
    ip link add cvclr type veth peer name root netns $CL_FAB
    ip -n $CL_FAB link set root master br0 up
    ip addr add $CL_NET.100/24 dev cvclr
    ip link set cvclr up
    for h in $CL_HOSTS; do
        mkdir -p "$CL_BASE/h$h/state" "$CL_BASE/h$h/log" "$CL_BASE/h$h/templates"
        # Host 3 has the tiny template only; the others every template.
        for t in "$COVE_TEMPLATES"/*/; do
            t=$(basename "$t")
            [ "$h" = 3 ] && [ "$t" != tiny ] && continue
            ln -s "$COVE_TEMPLATES/$t" "$CL_BASE/h$h/templates/$t"
        done
        cl_power_on "$h" || return 1
    done
}

# cl_power_on N: host N's network namespace, its port on the bridge, and a
# PID namespace whose init (CL_INIT[N]) only reaps; nothing else runs yet.
cl_power_on() {
    local h=$1 ns
    ns=$(cl_ns "$h")
    ip netns add "$ns"
    ip -n $CL_FAB link add "h$h" type veth peer name eth0 netns "$ns"
    ip -n $CL_FAB link set "h$h" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$(cl_addr "$h")/24" dev eth0
    ip -n "$ns" link set eth0 up
    rm -rf "$CL_BASE/h$h/run" "$CL_BASE/h$h/netns"
    mkdir -p "$CL_BASE/h$h/run" "$CL_BASE/h$h/netns"
    ip netns exec "$ns" unshare --pid --fork --mount-proc \
        bash -c 'trap "" TERM INT HUP; while :; do sleep 1000 & wait $!; done' 2>>"$CL_BASE/h$h/init.log" &
    local u=$! i
    disown $u
    CL_INIT[$h]=""
    for i in $(seq 1 100); do
        CL_INIT[$h]=$(pgrep -P "$u" | head -1)
        [ -n "${CL_INIT[$h]}" ] && break
        sleep 0.02
    done
    CL_ETCD[$h]="" CL_COVED[$h]="" CL_COVED_NS[$h]=""
    [ -n "${CL_INIT[$h]}" ] || { echo "# host $h: no init in its PID namespace"; return 1; }
}

# cl_power_off N: a power cut: the PID namespace's init SIGKILLed (the
# kernel kills everything in it), then what a reboot loses: the network
# namespace (links, nftables) and the run directory.
cl_power_off() {
    local h=$1 ns
    ns=$(cl_ns "$h")
    kill -9 "${CL_INIT[$h]}" 2>/dev/null
    # Its processes are gone once the namespace's last one is.
    for _ in $(seq 1 200); do
        [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
        sleep 0.05
    done
    ip netns del "$ns" 2>/dev/null
    ip -n $CL_FAB link del "h$h" 2>/dev/null
    CL_INIT[$h]="" CL_ETCD[$h]="" CL_COVED[$h]="" CL_COVED_NS[$h]=""
    return 0
}

# cl_in N CMD...: CMD in host N (its network, mount and PID namespaces).
cl_in() {
    local h=$1
    shift
    nsenter -t "${CL_INIT[$h]}" -n -m -p -- "$@"
}

# The pid (in the root namespace) of the child nsenter forked for a
# process started in a host's namespaces in the background (nsenter
# itself the background job, not a function around it: then the child is
# the process itself).
cl_child_of() {
    local p
    for _ in $(seq 1 100); do
        p=$(pgrep -P "$1" | head -1)
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.02
    done
    return 1
}

cl_etcd_start() {
    local h=$1 a m cluster="" state=new
    a=$(cl_addr "$h")
    for m in $CL_HOSTS; do cluster="$cluster${cluster:+,}e$m=http://$CL_NET.$m:2380"; done
    [ -d "$CL_SHM/e$h/member" ] && state=existing
    nsenter -t "${CL_INIT[$h]}" -n -m -p -- etcd --name "e$h" --data-dir "$CL_SHM/e$h" \
        --listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
        --listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
        --initial-cluster "$cluster" --initial-cluster-state $state --initial-cluster-token cove-cluster-test \
        --heartbeat-interval 100 --election-timeout 1000 --pre-vote=true \
        --auto-compaction-mode periodic --auto-compaction-retention 1h \
        >>"$CL_BASE/h$h/etcd.log" 2>&1 &
    local ns_pid=$!
    disown $ns_pid # the test reaps it (wait_gone); bash would report its SIGKILL
    CL_ETCD[$h]=$(cl_child_of $ns_pid) || return 1
}

# cl_etcd_kill N: member eN SIGKILLed (its host and coved go on).
cl_etcd_kill() {
    local h=$1
    [ -n "${CL_ETCD[$h]}" ] || return 0
    kill -9 "${CL_ETCD[$h]}" 2>/dev/null
    wait_gone "${CL_ETCD[$h]}" 200
    CL_ETCD[$h]=""
}

# cl_etcd_healthy [ENDPOINTS]: every member (or these) answers health.
cl_etcd_healthy() {
    local eps=${1:-$(cl_etcd_urls)}
    for _ in $(seq 1 100); do
        etcdctl --endpoints "$eps" --dial-timeout=1s --command-timeout=2s endpoint health >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# cl_etcd_leader: the host number whose member leads.
cl_etcd_leader() {
    cl_etcdctl endpoint status -w json 2>/dev/null | jq -r '
        .[] | select(.Status.header.member_id == .Status.leader) | .Endpoint' |
        sed -n "s|^http://$CL_NET\.\([0-9]*\):2379$|\1|p" | head -1
}

# cl_env N: the environment of host N's coved (its state in
# $CL_BASE/hN/$CL_STATE, "state" unless set).
cl_env() {
    local h=$1 d=$CL_BASE/h$1
    echo COVE_STATE_DIR="$d/${CL_STATE:-state}" COVE_RUN_DIR="$d/run" COVE_LOG_DIR="$d/log" COVE_NET_DIR="$d/netns" \
        COVE_NET_NAME="cvc$h" COVE_NET_RANGE="10.23$((h + 1)).0.0/16" COVE_TEMPLATES="$d/templates" \
        COVE_PLACEMENT_SEED=1 COVE_URL="$(cl_url "$h")"
}

# cl_coved_start N [FLAGS...]: host N's coved (a host and gateway of the
# cluster on its three members, unless FLAGS say otherwise) on
# 10.231.0.N:49982, with the cluster's key ($CL_KEY); CL_COVED[N] is its pid.
# Returns 1 when it exits before it listens (its log: $CL_BASE/hN/coved.log).
cl_coved_start() {
    local h=$1 log=$CL_BASE/h$1/coved.log a
    shift
    a=$(cl_addr "$h")
    echo "--- coved started $(date -u +%T.%N)" >>"$log"
    local from
    from=$(wc -l <"$log")
    # shellcheck disable=SC2046
    nsenter -t "${CL_INIT[$h]}" -n -m -p -- env $(cl_env "$h") "$build/bin/coved" --listen "$a:$CL_PORT" --api-key "$CL_KEY" \
        --net-pool 0 --dns none --max-sandboxes 2 --max-boots 1 "$@" >>"$log" 2>&1 &
    CL_COVED_NS[$h]=$!
    disown "${CL_COVED_NS[$h]}"
    CL_COVED[$h]=$(cl_child_of "${CL_COVED_NS[$h]}") || return 1
    for _ in $(seq 1 200); do
        tail -n +"$from" "$log" | grep -q "^coved: listening on $a:$CL_PORT$" && return 0
        kill -0 "${CL_COVED_NS[$h]}" 2>/dev/null || { CL_COVED[$h]=""; return 1; }
        sleep 0.05
    done
    return 1
}

# cl_coved_restart N: host N's coved (killed) started again in cluster
# mode on the same state, at once: it revokes its own stale host key (the
# lease it keeps in STATE_DIR/cluster-lease, docs/cluster.md) rather than
# taking it for a duplicate.
cl_coved_restart() {
    # shellcheck disable=SC2046
    cl_coved_start "$1" $(cl_cluster_flags "$1")
}

# cl_cluster_flags N: the cluster settings of host N's coved.
cl_cluster_flags() {
    echo --cluster-etcd "$(cl_etcd_urls)" --host-id "h$1" --advertise "$(cl_addr "$1"):$CL_PORT" \
        --role host,gateway --host-lease-ttl "$CL_TTL" --dead-after "$CL_DEAD_AFTER"
}

# cl_coved_kill N [SIG]: host N's coved alone (its VMMs go on).
cl_coved_kill() {
    local h=$1 sig=${2:-9}
    [ -n "${CL_COVED[$h]}" ] || return 0
    kill -"$sig" "${CL_COVED[$h]}" 2>/dev/null
    wait_gone "${CL_COVED[$h]}" 1200
    wait_gone "${CL_COVED_NS[$h]}" 200
    CL_COVED[$h]="" CL_COVED_NS[$h]=""
}

# cl_partition N MODE: host N cut off by nftables in its own namespace.
#   all    from the other hosts and from the client (10.231.0.100)
#   hosts  from the other hosts; the client still reaches it
#   etcd   from the other hosts' etcd (ports 2379, 2380, both ways); the
#          gateways still reach its coved and it theirs
cl_partition() {
    local h=$1 mode=$2 m others="" rin rout
    for m in $CL_HOSTS; do [ "$m" != "$h" ] && others="$others${others:+, }$CL_NET.$m"; done
    [ "$mode" = all ] && others="$others, $CL_NET.100"
    if [ "$mode" = etcd ]; then
        # Its connections to their members, theirs (and their coveds') to its.
        rin="ip saddr { $others } tcp sport { 2379, 2380 } drop; ip saddr { $others } tcp dport { 2379, 2380 } drop;"
        rout="ip daddr { $others } tcp dport { 2379, 2380 } drop; ip daddr { $others } tcp sport { 2379, 2380 } drop;"
    else
        rin="ip saddr { $others } drop;" rout="ip daddr { $others } drop;"
    fi
    cl_heal "$h"
    ip netns exec "$(cl_ns "$h")" nft -f - <<EOF2
table inet cvclpart {
    chain in { type filter hook input priority -10; $rin }
    chain out { type filter hook output priority -10; $rout }
}
EOF2
}

cl_heal() { ip netns exec "$(cl_ns "$1")" nft delete table inet cvclpart 2>/dev/null; return 0; }

# --- reading the cluster ---

# cl_api N METHOD PATH [BODY] [CURL-ARGS...]: the E2B API of host N's coved;
# the body goes to $out, the status is printed (000: no answer in 20 s).
cl_api() {
    local h=$1 m=$2 p=$3 body=${4:-}
    shift 3
    [ $# -gt 0 ] && shift
    : >"$out"
    curl -s -m 20 -o "$out" -w '%{http_code}' -X "$m" -H "X-API-KEY: $CL_KEY" -H 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "$@" "$(cl_url "$h")$p"
}

# cl_create N [TEMPLATE] [TIMEOUT]: a create through gateway N; sets sid
# (its id, or "") and cstatus (the HTTP status). Not in a subshell.
cl_create() {
    cstatus=$(cl_api "$1" POST /sandboxes "{\"templateID\":\"${2:-tiny}\",\"timeout\":${3:-600}}")
    sid=$(jq -r '.sandboxID // empty' "$out" 2>/dev/null)
}

# The catalog, read from etcd.
cl_host_keys() { cl_etcdctl get --prefix /cove/v1/hosts/ --keys-only 2>/dev/null | sed -n 's|^/cove/v1/hosts/||p' | sort; }
cl_owner() { cl_etcdctl get "/cove/v1/sb/$1" --print-value-only 2>/dev/null | jq -r '.host // empty' 2>/dev/null; }
cl_record_state() { cl_etcdctl get "/cove/v1/sb/$1" --print-value-only 2>/dev/null | jq -r '.state // empty' 2>/dev/null; }
cl_dead_keys() { cl_etcdctl get --prefix /cove/v1/dead/ --keys-only 2>/dev/null | sed -n 's|^/cove/v1/dead/||p' | sort; }
# "h1=REV h2=REV ..." : each host key's create_revision (its epoch).
cl_host_revs() {
    cl_etcdctl get --prefix /cove/v1/hosts/ -w json 2>/dev/null |
        jq -r '[.kvs[]? | "\(.key | @base64d | sub("/cove/v1/hosts/"; ""))=\(.create_revision)"] | sort | join(" ")'
}

# cl_hosts_summary: "h1:SANDBOXES/MAX,MEM_COMMITTED/MEM_MAX,BOOTS ..." from
# the host records in etcd (what placement goes by).
cl_hosts_summary() {
    cl_etcdctl get --prefix /cove/v1/hosts/ 2>/dev/null | paste - - |
        sed 's|^/cove/v1/hosts/\([^\t]*\)\t|\1 |' | while read -r id json; do
        echo "$json" | jq -r --arg id "$id" '"\($id):\(.sandboxes)/\(.max_sandboxes),\(.mem_committed_mib)/\(.mem_max_mib)MiB,\(.state),boots \(.boots_inflight)"'
    done | xargs
}

# cl_wait_hosts WANT SECS: until the live host keys are WANT ("h1 h2 h3");
# prints what they were at the end.
cl_wait_hosts() {
    local want=$1 secs=$2 got i
    for i in $(seq 1 $((secs * 10))); do
        got=$(cl_host_keys | xargs)
        [ "$got" = "$want" ] && { echo "$got"; return 0; }
        sleep 0.1
    done
    echo "$got"
    return 1
}

# cl_vmms N: the ids of the sandboxes whose VMM runs in host N (read off
# the VMM processes of its PID namespace: their run directories, COVE_VMM_DIR
# in their environment).
cl_vmms() {
    local h=$1 ns p
    [ -n "${CL_INIT[$h]:-}" ] || return 0
    ns=$(readlink "/proc/${CL_INIT[$h]}/ns/pid") || return 0
    for p in $(pgrep -f "^qemu-system|/qemu-system"); do
        [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -o "^COVE_VMM_DIR=$CL_BASE/h$h/run/[a-z0-9]*" |
            head -1 | sed 's|.*/||'
    done | sort -u
}
cl_vmm_count() { cl_vmms "$1" | grep -c .; }
# Which host runs sandbox ID's VMM ("" none; "h1 h3" if two do).
cl_runs_on() {
    local h r=""
    for h in $CL_HOSTS; do cl_vmms "$h" | grep -qx "$1" && r="$r${r:+ }h$h"; done
    echo "$r"
}

# cl_list N [QUERY [CURL-ARGS...]]: the ids gateway N lists (GET
# /v2/sandboxes?QUERY).
cl_list() {
    local s h=$1 q=${2:-}
    shift
    [ $# -gt 0 ] && shift
    s=$(cl_api "$h" GET "/v2/sandboxes?limit=100${q:+&$q}" "" "$@")
    [ "$s" = 200 ] || return 1
    jq -r '.[].sandboxID' "$out" 2>/dev/null | sort
}

# --- the checks after each scenario ---

# cl_check_invariants NAME: no sandbox runs on two hosts, and every sandbox
# a live gateway lists as running has a VMM on some host, every paused one
# its saved state on some host.
cl_check_invariants() {
    local name=$1 h m all dup listed missing="" id live=0 saved
    all=$(for h in $CL_HOSTS; do cl_vmms "$h"; done)
    dup=$(echo "$all" | grep . | sort | uniq -d | xargs)
    [ -z "$dup" ]
    check "$name: no sandbox runs on two hosts" $? "VMMs of the same sandbox on two hosts: $dup"
    for h in $CL_HOSTS; do
        [ -n "${CL_COVED[$h]:-}" ] || continue
        listed=$(cl_list "$h" state=running) || continue
        live=1
        for id in $listed; do echo "$all" | grep -qx "$id" || missing="$missing gw h$h lists $id running, no host runs it;"; done
        listed=$(cl_list "$h" state=paused) || continue
        for id in $listed; do
            saved=""
            for m in $CL_HOSTS; do [ -e "$CL_BASE/h$m/state/saved/$id" ] && saved=1; done
            [ -n "$saved" ] || missing="$missing gw h$h lists $id paused, no host holds it;"
        done
    done
    [ "$live" = 1 ] && [ -z "$missing" ]
    check "$name: no gateway lists a sandbox that does not exist" $? "${missing:-no gateway answered its list}" \
        "$(for h in $(echo "$missing" | grep -o 'gw h[0-9]' | sort -u | sed 's/gw h//'); do cl_logs "$h" 10; done)"
    # Each host's own list (X-Cove-Host: a gateway's forwarded request) is
    # what its VMMs are.
    missing="" live=0
    for h in $CL_HOSTS; do
        [ -n "${CL_COVED[$h]:-}" ] || continue
        listed=$(cl_list "$h" state=running -H "X-Cove-Host: h$h") || continue
        live=1
        listed=$(echo "$listed" | xargs)
        [ "$listed" = "$(cl_vmms "$h" | xargs)" ] || missing="$missing h$h lists '$listed', runs '$(cl_vmms "$h" | xargs)';"
    done
    [ "$live" = 1 ] && [ -z "$missing" ]
    check "$name: each host's own list (X-Cove-Host) is the sandboxes it runs" $? "${missing:-no host answered its list}"
}

# cl_kill_all: every sandbox gone: those a host runs, killed by that host
# (its coved straight, as a gateway's forwarded request: X-Cove-Host), then
# those the gateways still list, through each gateway until one kills it.
cl_kill_all() {
    local h id ids
    for h in $CL_HOSTS; do
        [ -n "${CL_COVED[$h]:-}" ] || continue
        for id in $(cl_vmms "$h"; cl_list "$h" "" -H "X-Cove-Host: h$h"); do
            cl_api "$h" DELETE "/sandboxes/$id" "" -H "X-Cove-Host: h$h" >/dev/null
        done
    done
    ids=$(for h in $CL_HOSTS; do [ -n "${CL_COVED[$h]:-}" ] && cl_list "$h"; done | sort -u)
    for id in $ids; do
        for h in $CL_HOSTS; do
            [ -n "${CL_COVED[$h]:-}" ] || continue
            [ "$(cl_api "$h" DELETE "/sandboxes/$id")" = 204 ] && break
        done
    done
    return 0
}

# cl_leaks: what the hosts hold of sandboxes ("" none): VMMs, slot links
# in their namespaces, mounted slot namespaces.
cl_leaks() {
    local h links mounts
    for h in $CL_HOSTS; do
        [ -n "${CL_INIT[$h]:-}" ] || continue
        [ "$(cl_vmm_count "$h")" = 0 ] || echo -n " h$h: VMMs $(cl_vmms "$h" | xargs);"
        links=$(ip -n "$(cl_ns "$h")" -o link | grep -cE "^[0-9]+: cvc$h-[0-9]+[@:]")
        mounts=$(cl_in "$h" cat /proc/self/mountinfo | grep -c " $CL_BASE/h$h/netns/")
        [ "$links" = 0 ] && [ "$mounts" = 0 ] || echo -n " h$h: $links slot links, $mounts slot namespaces;"
    done
}

# cl_check_leaks NAME: after cl_kill_all: nothing left (within 10 s).
cl_check_leaks() {
    local left
    for _ in $(seq 1 50); do
        left=$(cl_leaks)
        [ -z "$left" ] && break
        sleep 0.2
    done
    [ -z "$left" ]
    check "$1: nothing leaks once its sandboxes are killed (VMMs, links, namespaces)" $? "$left"
}

# cl_logs N [LINES]: the tail of host N's coved and etcd logs, as TAP comments.
cl_logs() {
    local h=$1 k=${2:-15}
    tail -n "$k" "$CL_BASE/h$h/coved.log" 2>/dev/null | sed "s/^/# h$h coved: /"
    tail -n 5 "$CL_BASE/h$h/etcd.log" 2>/dev/null | sed "s/^/# h$h etcd: /"
}

# cl_janitor: the host number of the gateway holding /cove/v1/janitor
# (its value: {"gateway": "hN"}, under that gateway's lease); "" none.
cl_janitor() {
    cl_etcdctl get /cove/v1/janitor --print-value-only 2>/dev/null | jq -r '.gateway // empty' 2>/dev/null |
        sed -n 's/^h\([0-9]\)$/\1/p'
}
