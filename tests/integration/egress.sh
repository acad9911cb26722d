#!/bin/bash
# Egress by domain (coved's egress proxy), through the official E2B SDK
# against a real coved whose --dns is the test internet's DNS server
# (tests/inet.sh's lab): names and wildcards over HTTP and HTTPS, precedence,
# addresses and names mixed, a guest pairing an allowed name with an address
# of its own, updateNetwork with a connection open, bad entries
# (tests/e2b/egress/egress.test.mjs), and the same through the user's own
# SOCKS5 proxy (egressProxy, with a login; tests/inet/socks.mjs); then
# here: the policy still enforced after a pause and resume, after coved is
# killed (-9) and started again and after its nft table is deleted while it
# runs; a guest dialling the proxy's port itself, no connection tracking
# entry left of a released slot, and `cove run` refusing names it cannot
# enforce. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
here=$(cd "$(dirname "$0")/.." && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$here/lib.sh"
. "$here/inet.sh"

inet_test_setup egress base node dnsmasq openssl ip nft
restart() {
    crash_restart_coved_sdk "$base/coved.log" --net-pool 0 --dns "$INET_DNS"
}
sdk() { sdk_js "$1"; }

inet_up "$base"
inet_lab || { echo "not ok 1 - the test internet's lab starts"; exit 1; }
addrs="{"
for name in $INET_NAMES; do addrs="$addrs\"$name\":\"$(inet_addr_of "$name")\","; done
export INET_ADDRS="${addrs%,}}"
inet_socks "$base/socks.log" || { echo "not ok 1 - the test internet's SOCKS5 proxy starts"; exit 1; }
restart

rc=0
node --test --test-reporter=tap --test-concurrency=1 "$here"/e2b/egress/*.test.mjs || rc=$?
[ $rc = 0 ] || sed 's/^/# coved: /' "$base/coved.log" | grep -v "op=http" | tail -30

# --- the policy across a pause and resume, and a coved killed and restarted ---
allowed=$(inet_addr_of allowed.test)
probe="for u in http://allowed.test/ https://denied.test/; do
  curl -s -o /dev/null --max-time 8 --cacert /tmp/ca.pem \$u && echo \"\$u ok\" || echo \"\$u refused\"; done"
id=$(sdk "const s = await Sandbox.create('base', { timeoutMs: 300_000,
  network: { allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'] } });
await s.files.write('/tmp/ca.pem', (await import('node:fs')).readFileSync('$INET_CA', 'utf8'));
console.log(s.sandboxId)" 2>&1)
expect_policy() {
    out=$(sdk "const s = await Sandbox.connect('$id'); const r = await s.commands.run(\`$probe\`);
process.stdout.write(r.stdout)" 2>&1)
    [ "$out" = "http://allowed.test/ ok
https://denied.test/ refused" ]
}
expect_policy; check "a sandbox with names allowed: allowed.test reached, denied.test refused" $? "$id $out"
# The proxy resolves a name once for its TTL (60 s in the lab), not once per
# connection: five connections whose guest did no lookup (curl --resolve)
# add at most one query to the lab's DNS log.
before=$(grep -c "query\[A\] allowed.test " "$INET_DNS_LOG")
out=$(sdk "const s = await Sandbox.connect('$id'); const r = await s.commands.run(
\`for i in 1 2 3 4 5; do curl -s -o /dev/null -w '%{http_code} ' --resolve allowed.test:80:$allowed http://allowed.test/; done\`);
process.stdout.write(r.stdout)" 2>&1)
after=$(grep -c "query\[A\] allowed.test " "$INET_DNS_LOG")
[ "$out" = "200 200 200 200 200 " ] && [ $((after - before)) -le 1 ]
check "the egress proxy resolves a name once per TTL, not per connection" $? "$out; queries: $((after - before))"
out=$(sdk "await Sandbox.pause('$id'); await Sandbox.connect('$id'); console.log('resumed')" 2>&1)
expect_policy; check "... after a pause and resume, the same" $? "$out"
restart
expect_policy; check "... after coved is killed (-9) and started again, the same" $? "$out"
# Its table deleted while coved runs (a firewall reload, `nft flush
# ruleset`): coved's guard makes it again with the slot's rules and the
# proxy's redirect (src/net/guard.c), and new sandboxes get slots.
nft delete table inet "$COVE_NET_NAME"
for _ in $(seq 1 50); do grep -q 'op=net-guard .*made again' "$base/coved.log" && break; sleep 0.1; done
expect_policy; r=$?
made=$(sdk "const s = await Sandbox.create('base'); console.log((await s.commands.run('echo made')).stdout.trim());
await s.kill()" 2>&1)
[ "$r" = 0 ] && [ "$made" = made ]
check "... after coved's nft table is deleted while it runs, the same, and creates go on" $? "$out; create: $made" \
    "$(grep 'op=net-guard' "$base/coved.log")"

# The proxy's port is reached only through the redirect: dialled by the
# guest at the host's end of its own slot and at the host's uplink address,
# each connection fails (curl: 7, could not connect).
port=$(sed -n 's/.*op=egress-start port=\([0-9]*\).*/\1/p' "$base/coved.log" | tail -1)
idx=$("$cove" net ls | awk -v id="$id" '$3 == id {print $1}')
host_end=$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]).network_address + 2 * int(sys.argv[2]))' \
    "$COVE_NET_RANGE" "${idx:-0}")
out=$(sdk "const s = await Sandbox.connect('$id');
const r = await s.commands.run('for a in $host_end $INET_NET.1; do curl -s -o /dev/null --max-time 4 http://\$a:$port/ -H \"Host: allowed.test\"; echo \"\$a code=\$?\"; done');
process.stdout.write(r.stdout)" 2>&1)
[ -n "$port" ] && [ -n "$idx" ] && [ "$(echo "$out" | grep -c ' code=7$')" = 2 ]
check "a guest dialling the egress proxy's port itself is refused" $? "port=$port slot=$idx $out"
sdk "await Sandbox.kill('$id')" >/dev/null 2>&1

# Every sandbox is gone, and with it every connection tracking entry of its
# slot's address: the next sandbox in that slot, restored from the same
# snapshot, picks the same source ports, and a stale entry's NAT binding
# (to a restarted coved's old proxy port) refused its connections.
if [ -r /proc/net/nf_conntrack ]; then
    left=$(python3 -c 'import ipaddress, re, sys
net = ipaddress.ip_network(sys.argv[1])
for line in open("/proc/net/nf_conntrack"):
    if any(ipaddress.ip_address(a) in net for a in re.findall(r"(?:src|dst)=([0-9.]+) ", line)):
        print(line.strip())' "$COVE_NET_RANGE")
    [ -z "$left" ]
    check "no connection tracking entry of a released slot's address is left" $? "$(echo "$left" | head -5)"
else
    ok "no connection tracking entry of a released slot's address is left # SKIP no /proc/net/nf_conntrack (CONFIG_NF_CONNTRACK_PROCFS) to read them from"
fi

# `cove run` has no proxy: names are refused, saying why.
COVE_URL=http://127.0.0.1:9 "$cove" run --template base --allow-out allowed.test -- true >"$base/out" 2>&1; st=$?
[ "$st" = 2 ] && grep -q "need coved's egress proxy" "$base/out"
check "cove run refuses domain names it cannot enforce, saying why" $? "status=$st $(cat "$base/out")"
grep -q "op=egress slot=[0-9]* dst=.* name=\"denied.test\" verdict=deny" "$base/coved.log"
check "coved logs refused connections with the slot, address and name" $?
echo "1..$n"
[ $rc = 0 ] || exit $rc
