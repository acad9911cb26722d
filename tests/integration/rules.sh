#!/bin/bash
# network.rules and secrets (coved's egress proxy setting headers on a
# sandbox's requests to a host, secrets filled in on the way out), through
# the official E2B SDK against a real coved whose --dns is the test
# internet's DNS server and whose --upstream-ca is the lab's CA
# (tests/inet.sh): headers over HTTPS and HTTP, kept-alive requests,
# bodies, pass-through of hosts without rules, rules through the user's
# SOCKS5 proxy (egressProxy), updateNetwork and
# Secret.update/destroy, bad rules (tests/e2b/rules/rules.test.mjs); then
# here: the secret found nowhere in the guest's memory or disk, nor in
# coved's state (a control string the guest did hold is found, so the
# search would have found the secret), and the rules still applied after a
# pause and resume and after coved is killed (-9) and started again.
# Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
here=$(cd "$(dirname "$0")/.." && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$here/lib.sh"
. "$here/inet.sh"

inet_test_setup rules base node dnsmasq openssl ip nft
restart() {
    crash_restart_coved_sdk "$base/coved.log" --net-pool 0 --dns "$INET_DNS" --upstream-ca "$INET_CA"
}
sdk() { sdk_js "import { Secret } from '$node_dir/node_modules/e2b/dist/index.mjs'; $1"; }

inet_up "$base"
inet_lab || { echo "not ok 1 - the test internet's lab starts"; exit 1; }
inet_socks "$base/socks.log" || { echo "not ok 1 - the test internet's SOCKS5 proxy starts"; exit 1; }
restart

rc=0
node --test --test-reporter=tap --test-concurrency=1 "$here"/e2b/rules/*.test.mjs || rc=$?
[ $rc = 0 ] || sed 's/^/# coved: /' "$base/coved.log" | grep -v "op=http" | tail -30

# --- a secret that never enters the sandbox ---
value=sk-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
control=cove-control-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
want=$(printf 'Bearer %s' "$value" | sha256sum | cut -d' ' -f1)
id=$(sdk "await Secret.create('never-in-guest', '$value');
const s = await Sandbox.create('base', { timeoutMs: 300_000, network: {
  allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'],
  rules: { 'allowed.test': [{ transform: { headers: { Authorization: 'Bearer \${e2b.secrets.never-in-guest}' } } }] } } });
console.log(s.sandboxId)" 2>&1)
probe() {
    sdk "const s = await Sandbox.connect('$id');
const r = await s.commands.run('curl -sS --max-time 10 https://allowed.test/hash; curl -sS --max-time 10 http://allowed.test/hash');
const [a, b] = r.stdout.split('}{').map((p, i) => JSON.parse(i ? '{' + p : p + '}'));
console.log(a.digests.authorization === '$want' && b.digests.authorization === '$want' ? 'set' : r.stdout)" 2>&1
}
out=$(probe)
[ "$out" = set ]; check "a secret's placeholder filled in over HTTPS and HTTP" $? "$id $out"
# The guest holds the control string (a file it wrote and read back, in its
# page cache and on its disk); paused, its memory is saved to a file.
out=$(sdk "const s = await Sandbox.connect('$id');
await s.commands.run('echo $control > ~/control; sync; cat ~/control');
await Sandbox.pause('$id'); console.log('paused')" 2>&1)
found_control=$(grep -rlaF "$control" "$COVE_STATE_DIR" "$COVE_RUN_DIR" 2>/dev/null | wc -l)
found_secret=$(grep -rlaF "$value" "$COVE_STATE_DIR" "$COVE_RUN_DIR" "$COVE_LOG_DIR" "$base/coved.log" 2>/dev/null | wc -l)
[ "$out" = paused ] && [ "$found_control" -ge 1 ] && [ "$found_secret" = 0 ]
check "the secret is nowhere in the guest's memory or disk, nor in coved's state or logs (a control string is)" $? \
    "$out; files with the control: $found_control; with the secret: $found_secret"

# --- after a pause and resume, and a coved killed and restarted ---
out=$(sdk "await Sandbox.connect('$id'); console.log('resumed')" 2>&1)
out=$(probe); [ "$out" = set ]; check "... after a pause and resume, the header still set" $? "$out"
restart
out=$(probe); [ "$out" = set ]; check "... after coved is killed (-9) and started again, the same" $? "$out"
sdk "await Sandbox.kill('$id'); await Secret.destroy('never-in-guest')" >/dev/null 2>&1
grep -q 'op=egress-rule slot=[0-9]* name="allowed.test"' "$base/coved.log"
check "coved logs intercepted connections with the slot and name" $?
echo "1..$n"
[ $rc = 0 ] || exit $rc
