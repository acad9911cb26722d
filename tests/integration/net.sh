#!/bin/bash
# Sandbox networking with real guests: egress on and off, allow and deny
# lists, isolation from the host, the metadata address, private networks and
# other sandboxes, a policy replaced through coved (updateNetwork), two guests
# with the same address at once, port-forward,
# the pool, and recovery: after 200 cycles and after SIGKILLs at any point,
# the counts of namespaces, links and rules are back where they started.
#
# All traffic stays on this machine: the test builds its own "internet", a
# network namespace with web servers in it, routed from the host like an
# uplink. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
netslots=$build/bin/tools/netslots
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../inet.sh"

need_root
need_guest "${COVE_ROOTFS:-}"
for tool in nft ip nsenter busybox; do
    command -v $tool >/dev/null || skip_all "needs $tool (make deps)"
done
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-net.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    inet_down
    rm -rf "$base"
}
trap cleanup EXIT
out=$base/out err=$base/err
# The host's end of slot 0's veth: the first sandbox's own gateway on the host.
slot0=${COVE_NET_RANGE%/*}

# --- the test's internet (tests/inet.sh), with a web server on every address ---
inet_up "$base"
mkdir -p "$base/www" "$base/host-www" "$base/slot-www"
echo internet >"$base/www/index.html"
echo host-secret >"$base/host-www/index.html"
echo neighbour >"$base/slot-www/index.html"
ip netns exec "$INET_NS" busybox httpd -f -p 80 -h "$base/www" & pids+=($!)
# A service of the host's own, listening on every host address.
busybox httpd -f -p 18089 -h "$base/host-www" & pids+=($!)
sleep 0.3

# What the tests' instance holds in the kernel: mounted slot namespaces,
# host links named NAME-N, rules in its table. (Scoped to the instance, so
# other activity on the host does not move the counts; the egress proxy's
# redirect is coved's, which leaves it when it stops, fail-closed, and is
# not a slot's: whether a coved ran before decides it, not this test.)
counts() {
    local netns links rules nsfs
    netns=$(ls "$COVE_NET_DIR" 2>/dev/null | wc -l)
    nsfs=$(grep -c " $COVE_NET_DIR/" /proc/self/mountinfo)
    links=$(ip -o link | grep -cE "^[0-9]+: $COVE_NET_NAME-[0-9]+[@:]")
    rules=$(nft -a list table inet "$COVE_NET_NAME" 2>/dev/null | grep -v 'redirect to :' | grep -c 'handle')
    echo "netns=$netns nsfs=$nsfs links=$links rules=$rules"
}
# Probes each target from inside a guest; one line "TARGET ok|blocked" each.
probe='for t in "$@"; do if timeout 5 wget -q -O - "http://$t/" >/dev/null 2>&1; then echo "$t ok"; else echo "$t blocked"; fi; done'
result() { grep -q "^$1 $2\$" "$out"; }

"$cove" net gc --pool >/dev/null 2>&1
before=$(counts)
[ -z "$("$cove" net ls | sed 1d)" ]; check "no slots before the tests" $? "$("$cove" net ls)"

# --- egress ---
"$cove" run -- sh -c "$probe" sh 203.0.113.10 203.0.113.20 192.168.77.10 169.254.169.254 \
    203.0.113.1:18089 "$slot0:18089" 169.254.0.22 >"$out" 2>"$err"
result 203.0.113.10 ok && result 203.0.113.20 ok
check "internet on: the guest fetches from the internet" $? "$(cat "$out" "$err")"
result 192.168.77.10 blocked; check "private networks are blocked by default" $? "$(cat "$out")"
result 169.254.169.254 blocked; check "the metadata address is blocked" $? "$(cat "$out")"
result 203.0.113.1:18089 blocked && result "$slot0:18089" blocked && result 169.254.0.22 blocked
check "services on the host (any of its addresses) are not reachable" $? "$(cat "$out")"
curl -s http://203.0.113.1:18089/ | grep -q host-secret; check "... while the host service is up" $?

"$cove" run --no-internet -- sh -c "$probe" sh 203.0.113.10 >"$out" 2>"$err"
result 203.0.113.10 blocked; check "--no-internet: the request fails" $? "$(cat "$out" "$err")"

"$cove" run --no-internet --allow-out 203.0.113.10 -- sh -c "$probe" sh 203.0.113.10 203.0.113.20 >"$out" 2>"$err"
result 203.0.113.10 ok && result 203.0.113.20 blocked
check "--no-internet --allow-out ADDR: only ADDR is reachable" $? "$(cat "$out" "$err")"

"$cove" run --deny-out 203.0.113.20/32 -- sh -c "$probe" sh 203.0.113.10 203.0.113.20 >"$out" 2>"$err"
result 203.0.113.10 ok && result 203.0.113.20 blocked
check "--deny-out CIDR blocks just that" $? "$(cat "$out" "$err")"

"$cove" run --deny-out 203.0.113.0/24 --allow-out 203.0.113.20 -- sh -c "$probe" sh 203.0.113.10 203.0.113.20 >"$out" 2>"$err"
result 203.0.113.10 blocked && result 203.0.113.20 ok
check "allow-out wins over deny-out (as in E2B)" $? "$(cat "$out" "$err")"

"$cove" run --allow-out 192.168.77.0/24 --allow-out 169.254.169.254 --allow-out 203.0.113.1 -- \
    sh -c "$probe" sh 192.168.77.10 169.254.169.254 203.0.113.1:18089 >"$out" 2>"$err"
result 192.168.77.10 ok && result 169.254.169.254 blocked && result 203.0.113.1:18089 blocked
check "allow-out opens private networks, never metadata or the host" $? "$(cat "$out" "$err")"

"$cove" run --allow-out 10.0.0.1/8 -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 2 ] && grep -q "allow_out: '10.0.0.1/8' is not an IPv4 address or CIDR" "$err"
check "a bad allow-out entry is a usage error naming it" $? "rc=$rc $(cat "$err")"
"$cove" run --allow-out example.com -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 2 ] && grep -q "need coved's egress proxy" "$err"
check "a domain name without coved is a usage error saying why" $? "rc=$rc $(cat "$err")"

# A firewall reload that flushes everything: the process holding the slot
# (here cove run; coved alike) hears the table go (src/net/guard.c) and
# puts it back with the rules of its sandbox, from its record; a start
# (cove net gc here) then finds nothing to restore.
"$cove" run --no-internet --allow-out 203.0.113.10 -- sh -c "sleep 4; $probe" sh 203.0.113.10 203.0.113.20 >"$out" 2>"$err" &
r=$!
for _ in $(seq 1 200); do [ -n "$("$cove" net ls | awk 'NR > 1 && $7 != "-"')" ] && break; sleep 0.1; done
nft delete table inet "$COVE_NET_NAME"
for _ in $(seq 1 50); do grep -q 'op=net-guard .*made again.* restored=1' "$err" && break; sleep 0.1; done
"$cove" net gc >"$base/gc" 2>&1
wait $r
grep -q 'op=net-guard .*made again.* restored=1' "$err" && grep -q 'restored the rules of 0' "$base/gc" &&
    result 203.0.113.10 ok && result 203.0.113.20 blocked
check "rules flushed under a running sandbox are put back at once from its record by its own process" $? \
    "$(cat "$base/gc" "$out" "$err")"

# --- updateNetwork through coved: a new policy is in force at once ---
coved_pid=""
if start_coved "$base/coved.log" --net-pool 0; then
    pids+=("$coved_pid")
    key=$(cat "$COVE_STATE_DIR/api-key")
    api() { curl -s -o "$out" -w '%{http_code}' -X "$1" -H "X-API-KEY: $key" ${3:+--data-binary "$3"} "$coved_url$2"; }
    gprobe() { COVE_URL=$coved_url COVE_API_KEY=$key "$cove" exec "$nid" -- sh -c "$probe" sh "$@" >"$out" 2>"$err"; }
    api POST /sandboxes '{"templateID":"tiny","timeout":120,"allow_internet_access":false}' >/dev/null
    nid=$(sed -n 's/.*"sandboxID":"\([a-z0-9]*\)".*/\1/p' "$out")
    gprobe 203.0.113.10; first=$(cat "$out")
    s=$(api PUT "/sandboxes/$nid/network" '{}'); gprobe 203.0.113.10 203.0.113.20
    [ -n "$nid" ] && [ "$first" = "203.0.113.10 blocked" ] && [ "$s" = 204 ] && result 203.0.113.10 ok &&
        result 203.0.113.20 ok
    check "updateNetwork: a sandbox made without internet reaches it once its policy is replaced" $? \
        "id=$nid first='$first' put=$s $(cat "$out" "$err")"
    s=$(api PUT "/sandboxes/$nid/network" '{"denyOut":["203.0.113.20/32"]}'); gprobe 203.0.113.10 203.0.113.20
    [ "$s" = 204 ] && result 203.0.113.10 ok && result 203.0.113.20 blocked
    check "... and a deny list put in its place is enforced for the next connection" $? "put=$s $(cat "$out" "$err")"
    api DELETE "/sandboxes/$nid" >/dev/null
    kill "$coved_pid"; wait "$coved_pid" 2>/dev/null
else
    check "coved starts for the updateNetwork checks" 1 "$(cat "$base/coved.log")"
fi

# --- two sandboxes at once, the same guest address ---
"$cove" run -- sh -c 'sleep 1; ip -o -4 addr show eth0; timeout 5 wget -q -O - http://203.0.113.10/' >"$base/a" 2>&1 &
a=$!
"$cove" run -- sh -c 'sleep 1; ip -o -4 addr show eth0; timeout 5 wget -q -O - http://203.0.113.10/' >"$base/b" 2>&1 &
b=$!
wait $a; ra=$?; wait $b; rb=$?
[ $ra = 0 ] && [ $rb = 0 ] && grep -q 169.254.0.21/30 "$base/a" && grep -q 169.254.0.21/30 "$base/b" &&
    grep -q '^internet$' "$base/a" && grep -q '^internet$' "$base/b"
check "two guests with the identical address reach the internet at once" $? "$(cat "$base/a" "$base/b")"

# --- another sandbox is out of reach ---
"$cove" run -- sleep 60 >"$base/b" 2>&1 & pids+=($!)
slot=""
for _ in $(seq 1 200); do
    slot=$("$cove" net ls | awk 'NR > 1 && $2 == "used" && $7 != "-" {print $1; exit}')
    [ -n "$slot" ] && break
    sleep 0.1
done
if [ -z "$slot" ]; then
    not_ok "a second sandbox came up" "$("$cove" net ls)" "$(cat "$base/b")"
else
    baddr=$("$cove" net ls | awk -v s="$slot" '$1 == s {print $5}')
    # A listener inside the other sandbox's namespace, let in by its own rules.
    nsenter --net="$COVE_NET_DIR/slot-$slot" busybox httpd -f -p 8090 -h "$base/slot-www" & pids+=($!)
    nsenter --net="$COVE_NET_DIR/slot-$slot" nft insert rule inet slot input tcp dport 8090 accept
    sleep 0.2
    curl -s -m 5 "http://$baddr:8090/" | grep -q neighbour
    check "the host reaches a listener in sandbox B's namespace ($baddr)" $?
    "$cove" run -- sh -c "$probe" sh "$baddr:8090" >"$out" 2>"$err"
    result "$baddr:8090" blocked; check "sandbox A cannot reach sandbox B" $? "$(cat "$out" "$err")"

    # --- port-forward into B's guest ---
    "$cove" port-forward nosuch 0:80 >"$out" 2>"$err"; rc=$?
    [ "$rc" = 125 ] && grep -q "no sandbox 'nosuch'" "$err"; check "port-forward to an unknown sandbox fails clearly" $? "rc=$rc $(cat "$err")"
fi
for p in "${pids[@]:2}"; do kill "$p" 2>/dev/null; done
wait "${pids[@]:2}" 2>/dev/null
pids=("${pids[@]:0:2}")

"$cove" run -- sh -c 'mkdir -p /tmp/w; echo from-guest >/tmp/w/index.html; httpd -p 8000 -h /tmp/w; sleep 30' >"$base/g" 2>&1 &
g=$!
id=""
for _ in $(seq 1 200); do
    id=$("$cove" net ls | awk 'NR > 1 && $2 == "used" && $7 != "-" {print $3; exit}')
    [ -n "$id" ] && break
    sleep 0.1
done
"$cove" port-forward "$id" 0:8000 2>"$base/pf" & pf=$!
port=""
for _ in $(seq 1 50); do
    port=$(sed -n 's/.*forwarding=127.0.0.1:\([0-9]*\) .*/\1/p' "$base/pf")
    [ -n "$port" ] && break
    sleep 0.1
done
got=""
for _ in $(seq 1 50); do got=$(curl -s -m 5 "http://127.0.0.1:$port/"); [ -n "$got" ] && break; sleep 0.2; done
[ "$got" = from-guest ]; check "cove port-forward reaches a server in the guest" $? "id=$id port=$port got=$got $(cat "$base/pf")"
kill $g; wait $g 2>/dev/null
for _ in $(seq 1 50); do kill -0 $pf 2>/dev/null || break; sleep 0.1; done
! kill -0 $pf 2>/dev/null && grep -q "sandbox $id ended" "$base/pf"
check "port-forward ends when its sandbox does" $? "$(cat "$base/pf")"
kill $pf 2>/dev/null; wait $pf 2>/dev/null

# --- the pool ---
COVE_NET_POOL=2 "$cove" run -- true >"$out" 2>"$err"
ready=$("$cove" net ls | awk '$2 == "ready"' | wc -l)
[ "$ready" = 2 ]; check "COVE_NET_POOL=2 leaves two ready slots" $? "$("$cove" net ls) $(cat "$err")"
COVE_LOG=debug COVE_NET_POOL=2 "$cove" run -- sh -c "$probe" sh 203.0.113.10 >"$out" 2>"$err"
grep -q 'op=net-acquire slot=[0-9]* pool=1' "$err" && result 203.0.113.10 ok
check "a sandbox takes a pooled slot, and its network works" $? "$(cat "$out")" "$(grep net- "$err")"
COVE_LOG=debug COVE_NET_POOL=2 "$cove" run --no-internet -- sh -c "$probe" sh 203.0.113.10 >"$out" 2>"$err"
grep -q 'op=net-acquire slot=[0-9]* pool=1' "$err" && result 203.0.113.10 blocked
check "a pooled slot takes the sandbox's own policy (--no-internet)" $? "$(cat "$out")" "$(grep net- "$err")"
"$cove" net gc --pool >"$out" 2>&1
[ "$(counts)" = "$before" ]; check "gc --pool removes the pool" $? "before: $before" "after:  $(counts)" "$(cat "$out")"

# --- cycles and recovery ---
"$netslots" cycle 200 >"$out" 2>&1; rc=$?
after=$(counts)
[ $rc = 0 ] && [ "$after" = "$before" ]
check "200 slot cycles leave the counts as they were" $? "rc=$rc $(cat "$out")" "before: $before" "after:  $after"

"$netslots" hold held-1 >"$out" 2>&1 &
h=$!
for _ in $(seq 1 100); do grep -q '^slot=' "$out" && break; sleep 0.05; done
during=$(counts)
kill -9 $h; wait $h 2>/dev/null
[ "$during" != "$before" ] && [ "$(counts)" = "$during" ]
check "a SIGKILLed holder leaves its slot behind" $? "before: $before" "during: $during"
"$cove" net gc >"$out" 2>&1
[ "$(counts)" = "$before" ] && grep -q 'removed 1,' "$out"
check "the next start (cove net gc) removes it" $? "$(cat "$out")" "after: $(counts)"

# Records lost with the kernel objects still there: found by name and alias.
# A link that merely looks like Cove's (no alias) is not touched.
ip link add "$COVE_NET_NAME-99" type veth peer name "$COVE_NET_NAME-99p"
"$netslots" hold held-3 >"$out" 2>&1 &
h=$!
for _ in $(seq 1 100); do grep -q '^slot=' "$out" && break; sleep 0.05; done
kill -9 $h; wait $h 2>/dev/null
rm -f "$COVE_STATE_DIR"/cove.db*
"$cove" net gc >"$out" 2>&1
grep -q 'removed 0, removed 1 strays' "$out" && ip link show "$COVE_NET_NAME-99" >/dev/null 2>&1
check "without records, Cove's leftovers are found and removed; a stranger's link stays" $? "$(cat "$out")"
ip link del "$COVE_NET_NAME-99"
[ "$(counts)" = "$before" ]; check "... and the counts are back" $? "before: $before" "after: $(counts)"

# A holder killed while its VMM lives on (a daemon restarting): the slot is
# adopted, not removed, and goes once the VMM is gone too.
"$netslots" hold held-2 vmm >"$out" 2>&1 &
h=$!
for _ in $(seq 1 100); do grep -q '^slot=' "$out" && break; sleep 0.05; done
vmm=$(sed -n 's/.* vmm=\([0-9]*\).*/\1/p' "$out")
kill -9 $h; wait $h 2>/dev/null
"$cove" net gc >"$out" 2>&1
grep -q 'kept 1 slots, removed 0' "$out" && [ "$(counts)" = "$during" ] && "$cove" net ls | grep -q 'held-2'
check "a slot whose VMM still runs is adopted by the next start" $? "$(cat "$out")" "$("$cove" net ls)"
kill -9 "$vmm" 2>/dev/null
sleep 0.2
"$cove" net gc >"$out" 2>&1
[ "$(counts)" = "$before" ] && grep -q 'removed 1,' "$out"
check "... and removed once the VMM is gone" $? "$(cat "$out")" "after: $(counts)"

# SIGKILL at any point of set-up or release: kill a tight loop at random times.
for i in $(seq 1 12); do
    "$netslots" cycle 100000 >/dev/null 2>&1 &
    k=$!
    sleep "0.0$((RANDOM % 9 + 1))$((RANDOM % 10))"
    kill -9 $k; wait $k 2>/dev/null
done
"$cove" net gc >"$out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(counts)" = "$before" ] && [ -z "$("$cove" net ls | sed 1d)" ]
check "after 12 SIGKILLs mid-cycle, recovery restores the counts" $? "$(cat "$out")" "before: $before" "after:  $(counts)" "$("$cove" net ls)"

# A cove run killed outright: its VMM dies with it; the slot is recovered.
"$cove" run -- sleep 60 >"$out" 2>&1 &
r=$!
for _ in $(seq 1 200); do [ -n "$("$cove" net ls | awk 'NR > 1 && $7 != "-"')" ] && break; sleep 0.1; done
kill -9 $r; wait $r 2>/dev/null
sleep 0.5
"$cove" net gc >"$out" 2>&1
[ "$(counts)" = "$before" ]
check "a SIGKILLed cove run leaves nothing after recovery" $? "$(cat "$out")" "before: $before" "after:  $(counts)"

# --- errors ---
unshare -m sh -c "mount -t tmpfs none /dev/net && exec \"$cove\" net ls" >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q 'needs /dev/net/tun' "$err" && [ "$(wc -l <"$err")" = 1 ]
check "without /dev/net/tun: one line saying so" $? "rc=$rc $(cat "$err")"

setpriv --reuid=65534 --regid=65534 --clear-groups "$cove" net ls >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q 'needs root' "$err" && [ "$(wc -l <"$err")" = 1 ]
check "without root: one line saying what is missing" $? "rc=$rc $(cat "$err")"

"$netslots" hold range-1 >"$out" 2>&1 &
h=$!
for _ in $(seq 1 100); do grep -q '^slot=' "$out" && break; sleep 0.05; done
other=10.213.0.0/16; [ "$COVE_NET_RANGE" = $other ] && other=10.214.0.0/16
COVE_NET_RANGE=$other "$cove" net ls >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q "range changed from $COVE_NET_RANGE to $other while 1 slots exist" "$err"
check "changing the range under live slots is refused" $? "rc=$rc $(cat "$err")"
kill $h; wait $h
[ "$(counts)" = "$before" ]; check "a holder stopped with SIGTERM releases its slot" $? "after: $(counts)"

echo "1..$n"
