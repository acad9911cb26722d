#!/bin/bash
# What clients and guests can make coved hold, checked from outside against
# a real coved with small limits: wrong API keys from one address locked
# out with 429 (Retry-After) while the right key works from another, and
# again from the first after the lockout; headers and a JSON body too
# large answered 431 and 413; an idle connection closed after the
# timeout; the connection caps (per address, in all) answered 503; the
# state directory made private; and a guest opening 3000 connections
# through the egress proxy capped (coved's log says so, its descriptors
# stay bounded) while another sandbox's commands keep their latency, against
# a baseline measured in the same run. The lab is tests/inet.sh's.
# Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
here=$(cd "$(dirname "$0")/.." && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$here/lib.sh"
. "$here/inet.sh"

inet_test_setup limits base node dnsmasq openssl ip nft curl python3
sdk() { sdk_js "$1"; }
# Small numbers, so that each limit is reached in a few requests.
AUTH_FAILURES=5 LOCKOUT=3 IDLE=4 MAX_CONNS=40 PER_CLIENT=20 EGRESS_CAP=100

inet_up "$base"
inet_lab || { echo "not ok 1 - the test internet's lab starts"; exit 1; }
# A state directory made open: coved makes it private.
mkdir -p "$COVE_STATE_DIR" && chmod 0755 "$COVE_STATE_DIR"
start_coved_sdk "$base/coved.log" --net-pool 0 --dns "$INET_DNS" --auth-failures $AUTH_FAILURES \
    --auth-lockout $LOCKOUT --idle-timeout $IDLE --max-connections $MAX_CONNS \
    --max-connections-per-client $PER_CLIENT --egress-max-connections $EGRESS_CAP
url=$coved_url

# status FROM KEY [CURL ARGS...]: the status of GET /sandboxes from
# 127.0.0.FROM (any loopback address reaches coved's 127.0.0.1).
status() {
    local from=$1 key=$2
    shift 2
    curl -s -o /dev/null -w '%{http_code}' --interface "127.0.0.$from" -H "X-API-KEY: $key" "$@" "$url/sandboxes"
}

# --- failed authentications locked out by address ---
codes=""
for _ in $(seq 1 $AUTH_FAILURES); do codes="$codes$(status 2 wrong) "; done
locked=$(curl -s -D - -o "$base/locked.json" --interface 127.0.0.2 -H "X-API-KEY: wrong" "$url/sandboxes")
right_locked=$(status 2 "$E2B_API_KEY")
right_other=$(status 1 "$E2B_API_KEY")
[ "$codes" = "$(printf '401 %.0s' $(seq 1 $AUTH_FAILURES))" ] && echo "$locked" | grep -q '^HTTP/1.1 429' &&
    echo "$locked" | grep -qi '^Retry-After: [1-9]' && [ "$right_locked" = 429 ] && [ "$right_other" = 200 ]
check "$AUTH_FAILURES wrong keys from one address: then 429 with Retry-After, the right key too; from another it works" $? \
    "codes: $codes then: $(echo "$locked" | head -1) right key there: $right_locked, elsewhere: $right_other" \
    "$(cat "$base/locked.json")"
sleep $((LOCKOUT + 1))
after=$(status 2 "$E2B_API_KEY")
[ "$after" = 200 ]; check "... and after the lockout ($LOCKOUT s) the right key works from it again" $? "$after"
grep -q 'op=http msg="authorization failed' "$base/coved.log"
check "coved logs the lockout, with the address" $? "$(grep op=http "$base/coved.log" | tail -3)"

# --- sizes ---
big=$(head -c 40000 /dev/zero | tr '\0' a)
code=$(status 1 "$E2B_API_KEY" -H "X-Big: $big")
[ "$code" = 431 ]; check "a request whose headers pass 32 KiB: 431" $? "$code"
head -c 100000 /dev/zero | tr '\0' ' ' >"$base/big.json"
out=$(curl -s -w ' %{http_code}' -H "X-API-KEY: $E2B_API_KEY" -H 'Content-Type: application/json' \
    --data-binary @"$base/big.json" "$url/sandboxes")
[ "${out##* }" = 413 ] && echo "$out" | grep -q 'larger than 65536 bytes'
check "a JSON body over 64 KiB: 413, saying the limit" $? "$out"

# --- idle connections, and the connection caps ---
# One python3 run holds the connections it needs at once (the idle timeout
# is short) and prints what each check saw.
out=$(python3 - "${url##*:}" "$E2B_API_KEY" $IDLE $PER_CLIENT $MAX_CONNS <<'EOF'
import socket, sys, time
port, key, idle, per_client, total = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def dial(src):
    s = socket.socket()
    s.bind(("127.0.0.%d" % src, 0))
    s.connect(("127.0.0.1", port))
    return s
def ask(src):
    s = dial(src)
    s.settimeout(10)
    s.sendall(("GET /sandboxes HTTP/1.1\r\nHost: x\r\nX-API-KEY: %s\r\nConnection: close\r\n\r\n" % key).encode())
    reply = b""
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        reply += b
    s.close()
    return reply.split(b"\r\n", 1)[0].decode(errors="replace")
s = dial(5)
s.settimeout(idle + 10)
t = time.monotonic()
got = s.recv(1)
print("idle closed after %.1f s (%r)" % (time.monotonic() - t, got))
# Held well within the idle timeout, each batch given a second to be
# accepted (a thread each) before the next request.
t = time.monotonic()
held = [dial(6) for _ in range(per_client)]
time.sleep(1)
print("per-client: %s | other: %s" % (ask(6), ask(7)))
held += [dial(8) for _ in range(total - per_client)]
time.sleep(1)
print("total: %s (%.1f s after the first was held)" % (ask(9), time.monotonic() - t))
for h in held:
    h.close()
time.sleep(1)
print("after: %s" % ask(9))
EOF
)
idle_s=$(echo "$out" | sed -n "s/^idle closed after \([0-9.]*\) s (b'')$/\1/p")
[ -n "$idle_s" ] && python3 -c "import sys; sys.exit(not ($IDLE - 0.5 <= $idle_s <= $IDLE + 4))"
check "an idle connection is closed after the idle timeout ($IDLE s)" $? "$out"
echo "$out" | grep -q '^per-client: HTTP/1.1 503 .* | other: HTTP/1.1 200 '
check "past $PER_CLIENT connections from one address: 503, another address served" $? "$out"
echo "$out" | grep -q '^total: HTTP/1.1 503 ' && echo "$out" | grep -q '^after: HTTP/1.1 200 '
check "past $MAX_CONNS connections in all: 503; served again once they close" $? "$out"
body=$(curl -s --interface 127.0.0.6 -H "X-API-KEY: $E2B_API_KEY" "$url/sandboxes")
[ "$body" = "[]" ]; check "coved serves normally after the caps were reached" $? "$body"

# --- the state directory ---
mode=$(stat -c %a "$COVE_STATE_DIR")
secret_files=$(find "$COVE_STATE_DIR" -maxdepth 2 -type f \( -name '*key*' -o -name '*.db' \) -printf '%m %p\n')
[ "$mode" = 700 ] && [ -n "$secret_files" ] && ! echo "$secret_files" | grep -qv '^600 ' &&
    grep -q 'op=state-dir msg="was mode 0755: made 0700"' "$base/coved.log"
check "the state directory made 0700 (it was 0755), its keys and database 0600" $? "mode $mode" "$secret_files"

# --- a guest flooding the egress proxy, another sandbox's commands ---
# Both may reach allowed.test by name alone, so their web traffic goes
# through the egress proxy. B's command is a request through it.
ids=$(sdk "const ids = [];
for (let i = 0; i < 2; i++) {
  const s = await Sandbox.create('base', { timeoutMs: 600_000, network: { allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'] } });
  ids.push(s.sandboxId);
}
console.log(ids.join(' '))" 2>&1)
read -r flooder other <<<"$ids"
[ -n "$other" ]; check "two sandboxes whose web traffic goes through the egress proxy" $? "$ids"
# latency N: N commands in the other sandbox, each a request through the
# proxy; prints each command's milliseconds and its status code.
latency() {
    sdk "const s = await Sandbox.connect('$other');
for (let i = 0; i < $1; i++) {
  const t = performance.now();
  const r = await s.commands.run(\"curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://allowed.test/\");
  console.log(Math.round(performance.now() - t), r.stdout);
}" 2>&1
}
median() { awk '{print $1}' | sort -n | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : -1)}'; }
baseline=$(latency 8)
base_ms=$(echo "$baseline" | median)
echo "# the other sandbox's commands alone (ms, status):" $baseline
fds_before=$(ls "/proc/$coved_pid/fd" | wc -l)
# 3000 connections to allowed.test, each sent a request and held; a bash
# loop over /dev/tcp (the reset ones fail on their own).
flood="trap '' PIPE; ulimit -n 8192; n=0
for i in \$(seq 1 3000); do
  exec {fd}<>/dev/tcp/$(inet_addr_of allowed.test)/80 2>/dev/null || continue
  printf 'GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n' >&\$fd 2>/dev/null && n=\$((n + 1))
done
echo \"sent \$n\"; sleep 600"
# Held by a client that waits for the command (killed when measured).
FLOOD=$flood sdk "const s = await Sandbox.connect('$flooder');
await s.commands.run(process.env.FLOOD, { user: 'root', timeoutMs: 0 });" >/dev/null 2>&1 &
flood_pid=$!
refused=""
for _ in $(seq 1 120); do
    refused=$(grep 'op=egress .*verdict=refuse why="the sandbox holds' "$base/coved.log" | head -1)
    [ -n "$refused" ] && break
    sleep 0.5
done
during=$(latency 8)
during_ms=$(echo "$during" | median)
fds_during=$(ls "/proc/$coved_pid/fd" | wc -l)
echo "# ... while the flooder opens 3000 connections (ms, status):" $during
echo "# median ${base_ms} ms alone, ${during_ms} ms during the flood; coved's descriptors $fds_before, then $fds_during"
kill $flood_pid 2>/dev/null; wait $flood_pid 2>/dev/null
[ -n "$refused" ]
check "a guest opening 3000 connections through the egress proxy hits its cap ($EGRESS_CAP): reset, and logged" $? \
    "$(grep 'op=egress' "$base/coved.log" | tail -5)"
# Each connection the proxy holds is at most two sockets and two pipes.
[ "$fds_during" -le $((fds_before + 6 * EGRESS_CAP + 100)) ]
check "coved's descriptors stay within the cap's worth ($fds_before before, $fds_during during)" $?
[ "$(echo "$during" | awk '$2 != 200' | wc -l)" = 0 ] && [ "$base_ms" -gt 0 ] &&
    [ "$during_ms" -le $((base_ms * 3 + 2000)) ]
check "the other sandbox's requests through the proxy all answer 200, median within 3x + 2 s of its baseline" $? \
    "alone: $baseline" "during: $during"
code=$(status 1 "$E2B_API_KEY")
[ "$code" = 200 ]; check "coved's API answers during and after the flood" $? "$code"
sdk "await Sandbox.kill('$flooder'); await Sandbox.kill('$other')" >/dev/null 2>&1

echo "1..$n"
