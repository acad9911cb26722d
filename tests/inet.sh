# shellcheck shell=bash
# The tests' own internet (sourced by bash tests, after lib.sh): a network
# namespace with a veth uplink, routed from the host, so that guests have
# somewhere to go that is neither this machine nor the real internet. Needs
# root, ip (iproute2); the lab also dnsmasq, openssl and node.
#
#   inet_up DIR   makes it, after removing what runs of a test that were
#                 killed left behind; skip_all when 203.0.113.0/24 is
#                 already in use here. DIR is the test's temporary
#                 directory (the lab's files go in DIR/inet).
#   inet_lab      after inet_up: a test CA, web servers and a DNS server
#                 (below). Returns non-zero, saying why, when one fails.
#   inet_down     removes everything; safe to call twice or before
#                 inet_up (the test's EXIT trap).
#   inet_test_cleanup
#                 the EXIT trap of a test with a coved (coved_pid) and the
#                 lab: its coved stopped, the instance's slots collected
#                 ($cove net gc --pool), inet_down, and $base removed.
#
# Names: INET_NS=covt-inet-PID (the namespace), INET_UPLINK=cvtiPID (the
# host's end of the veth; eth0 inside), PID the test's.
# Addresses (TEST-NET-3 and friends, never routed on the real internet):
#   203.0.113.1/24    the host's end of the uplink, the internet's default route
#   203.0.113.10, .20 the internet's own (eth0 inside)
#   192.168.77.10     a private network behind it and 169.254.169.254, a
#                     stand-in for cloud metadata (on its lo, routed from
#                     the host through .10)
# The lab (inet_lab):
#   203.0.113.53      dnsmasq: authoritative for .test only (no upstream, no
#                     hosts file, no resolv.conf of the host's; any other
#                     name is refused), answering
#                       allowed.test 203.0.113.101   a.wild.test 203.0.113.102
#                       b.wild.test  203.0.113.103   denied.test 203.0.113.104
#                     its queries logged to INET_DNS_LOG
#   .101 to .104      tests/inet/echo.mjs on each: HTTP on 80, HTTPS on 443
#                     with one certificate for all four names from the test
#                     CA; every request answered with JSON of what it saw
#                     (host, sni, method, path, headers, local address);
#                     GET /big?mib=N sends N MiB. Its log: INET_ECHO_LOG
#   INET_CA           the test CA's certificate (PEM), made at inet_lab, to
#                     trust in a guest (curl --cacert)
#   INET_DNS          203.0.113.53; INET_NAMES "allowed.test a.wild.test ..."

INET_NET=203.0.113
INET_DNS=$INET_NET.53
INET_NAMES="allowed.test a.wild.test b.wild.test denied.test"
INET_NS=covt-inet-$$ INET_UPLINK=cvti$$
INET_PIDS=()
INET_DIR=""

# The namespaces of runs whose test (by its pid) is gone.
inet_sweep() {
    local ns pid
    for ns in $(ip netns list | awk '$1 ~ /^covt-inet-[0-9]+$/ {print $1}'); do
        pid=${ns#covt-inet-}
        kill -0 "$pid" 2>/dev/null && continue
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
        ip link del "cvti$pid" 2>/dev/null
        ip netns del "$ns" 2>/dev/null
        echo "# removed $ns, left by a run of a test that was killed"
    done
}

inet_up() {
    INET_DIR=$1/inet
    inet_sweep
    if ip -o addr | grep -q "inet $INET_NET\."; then
        skip_all "$INET_NET.0/24 (TEST-NET-3, the test's internet) is already in use on this host"
    fi
    mkdir -p "$INET_DIR"
    ip netns add "$INET_NS"
    ip link add "$INET_UPLINK" type veth peer name eth0 netns "$INET_NS"
    ip addr add $INET_NET.1/24 dev "$INET_UPLINK"
    ip link set "$INET_UPLINK" up
    ip -n "$INET_NS" link set lo up
    ip -n "$INET_NS" addr add $INET_NET.10/24 dev eth0
    ip -n "$INET_NS" addr add $INET_NET.20/24 dev eth0
    ip -n "$INET_NS" link set eth0 up
    ip -n "$INET_NS" route add default via $INET_NET.1
    # A private network behind the uplink, and a stand-in for cloud metadata.
    ip -n "$INET_NS" addr add 192.168.77.10/32 dev lo
    ip -n "$INET_NS" addr add 169.254.169.254/32 dev lo
    ip route add 192.168.77.10/32 via $INET_NET.10
    ip route add 169.254.169.254/32 via $INET_NET.10
}

# The lab's address of a name (allowed.test -> 203.0.113.101).
inet_addr_of() {
    local i=101 name
    for name in $INET_NAMES; do
        [ "$name" = "$1" ] && { echo "$INET_NET.$i"; return 0; }
        i=$((i + 1))
    done
    return 1
}

# A CA made for this run, and one certificate for every lab name.
inet_make_ca() {
    local d=$INET_DIR san="" name
    for name in $INET_NAMES; do san="$san${san:+,}DNS:$name"; done
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=Cove test internet CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=allowed.test" \
        -keyout "$d/server.key" -out "$d/server.csr" &&
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
        "$san" >"$d/server.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/server.ext" -out "$d/server.pem"
}

inet_lab() {
    local tool name addrs="" records=() node_bin
    for tool in dnsmasq openssl node busybox; do
        command -v $tool >/dev/null || { echo "# inet_lab: needs $tool (make deps)"; return 1; }
    done
    node_bin=$(command -v node)
    inet_make_ca >"$INET_DIR/openssl.log" 2>&1 || { sed 's/^/# /' "$INET_DIR/openssl.log"; return 1; }
    export INET_CA=$INET_DIR/ca.pem INET_ECHO_LOG=$INET_DIR/echo.log INET_DNS_LOG=$INET_DIR/dns.log
    : >"$INET_ECHO_LOG"
    ip -n "$INET_NS" addr add $INET_DNS/24 dev eth0
    for name in $INET_NAMES; do
        ip -n "$INET_NS" addr add "$(inet_addr_of $name)/24" dev eth0
        addrs="$addrs $(inet_addr_of $name)"
        records+=(--host-record="$name,$(inet_addr_of $name)")
    done
    # Only .test, from these records: no upstream (no-resolv, no server=),
    # not the host's /etc/hosts or /etc/dnsmasq.conf; --local answers any
    # other .test name NXDOMAIN rather than asking anyone. Answers carry a
    # TTL of 60 s, as real zones' do (dnsmasq's own records default to 0).
    ip netns exec "$INET_NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --local-ttl=60 \
        --no-poll --listen-address=$INET_DNS --bind-interfaces --port=53 --user=root --group=root \
        --pid-file= --local=/test/ "${records[@]}" --log-queries --log-facility="$INET_DNS_LOG" \
        >"$INET_DIR/dnsmasq.out" 2>&1 & INET_PIDS+=($!)
    # shellcheck disable=SC2086
    ip netns exec "$INET_NS" "$node_bin" "$(dirname "${BASH_SOURCE[0]}")/inet/echo.mjs" \
        --cert "$INET_DIR/server.pem" --key "$INET_DIR/server.key" $addrs >"$INET_ECHO_LOG" 2>&1 & INET_PIDS+=($!)
    for _ in $(seq 1 100); do
        grep -q '^echo: listening' "$INET_ECHO_LOG" &&
            busybox nslookup allowed.test $INET_DNS 2>/dev/null | grep -q "$(inet_addr_of allowed.test)" && return 0
        sleep 0.1
    done
    echo "# inet_lab: the servers did not come up"
    sed 's/^/# dnsmasq: /' "$INET_DIR/dnsmasq.out" "$INET_DNS_LOG" 2>/dev/null | tail -5
    sed 's/^/# echo: /' "$INET_ECHO_LOG" | tail -5
    return 1
}

# inet_test_setup NAME SNAPSHOT TOOL...: what every test on the lab checks
# and makes first: root, the template's snapshot, the E2B SDK in $node_dir,
# the tools; then $base (/tmp/cove-NAME.XXXXXX) holding coved's run, log and
# state directories, exported, and inet_test_cleanup on exit.
inet_test_setup() {
    local name=$1 snapshot=$2 tool
    shift 2
    need_root
    need_snapshot "$snapshot"
    [ -f "$node_dir/node_modules/e2b/package.json" ] ||
        skip_all "the E2B SDK is not installed in $node_dir ('make' installs it with npm)"
    for tool in "$@"; do
        command -v "$tool" >/dev/null || skip_all "needs $tool (make deps)"
    done
    : "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
    base=$(mktemp -d "/tmp/cove-$name.XXXXXX")
    export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state COVE_NODE_DIR=$node_dir
    coved_pid=""
    trap inet_test_cleanup EXIT
}

# inet_socks LOG: the user's own SOCKS5 proxy (network.egressProxy) in the
# test internet, at $INET_NET.54:1080, login tester / s3cret; exports
# SOCKS_ADDR and SOCKS_LOG (its log: a line per CONNECT and refused login).
inet_socks() {
    export SOCKS_ADDR=$INET_NET.54:1080 SOCKS_LOG=$1
    ip -n "$INET_NS" addr add "$INET_NET.54/24" dev eth0
    ip netns exec "$INET_NS" "$(command -v node)" "$(dirname "${BASH_SOURCE[0]}")/inet/socks.mjs" "$INET_NET.54" 1080 \
        "$INET_DNS" tester s3cret >"$SOCKS_LOG" 2>&1 & INET_PIDS+=($!)
    for _ in $(seq 1 100); do grep -q '^socks: listening' "$SOCKS_LOG" && return 0; sleep 0.05; done
    sed 's/^/# socks: /' "$SOCKS_LOG" | tail -5
    return 1
}

inet_down() {
    # Every step whatever the one before gave: a caller under `set -e`
    # (the benchmarks) would otherwise stop at the first killed server's
    # status and leave the namespace behind.
    local p
    for p in "${INET_PIDS[@]}"; do kill "$p" 2>/dev/null || :; done
    for p in "${INET_PIDS[@]}"; do wait "$p" 2>/dev/null || :; done
    INET_PIDS=()
    ip netns pids "$INET_NS" 2>/dev/null | xargs -r kill 2>/dev/null || :
    ip link del "$INET_UPLINK" 2>/dev/null || :
    ip netns del "$INET_NS" 2>/dev/null || :
    return 0
}

inet_test_cleanup() {
    [ -n "${coved_pid:-}" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    inet_down
    rm -rf "$base"
}
