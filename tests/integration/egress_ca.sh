#!/bin/bash
# The egress authority with real guests under a real coved: coved makes it
# at start (STATE_DIR/egress-ca) and keeps it across restarts; each guest's
# agent installs it at /init (the CA file, Debian's bundle once, also after
# a pause and resume and in a fork child) and points processes at it; and
# curl, Python and Node in the guest trust a certificate it mints (a TLS
# server in the guest presenting one), which a client trusting nothing
# refuses. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_snapshot base
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-egress-ca.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
restart() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    start_coved "$base/coved.log" --net-pool 1 --api-key ca-key ||
        { not_ok "coved starts" "$(tail -5 "$base/coved.log")"; exit 1; }
    export COVE_URL=$coved_url COVE_API_KEY=ca-key
}
restart
authority=$COVE_STATE_DIR/egress-ca ca=$COVE_STATE_DIR/egress-ca/ca.pem
crt=/usr/local/share/ca-certificates/cove-egress.crt bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] && [ "$(stat -c %a "$authority/ca-key.pem")" = 600 ] && [ "$(stat -c %a "$authority")" = 700 ]
check "coved makes the egress authority at start (key 0600, directory 0700)" $? "$(ls -la "$authority" 2>&1)"
cp "$ca" "$base/ca.first"
last=$(grep -v -- ----- "$ca" | tail -1) # the signature's end: this certificate's alone

# installed ID WHAT: the CA file in the guest is coved's, Debian's bundle
# holds it once, and processes get NODE_EXTRA_CA_CERTS.
installed() {
    local id=$1 what=$2 times env
    rm -f "$base/crt"
    "$cove" cp "$id:$crt" "$base/crt" 2>"$base/err"
    times=$("$cove" exec "$id" -- grep -cxF "$last" "$bundle" 2>>"$base/err")
    env=$("$cove" exec "$id" -- sh -c 'echo $NODE_EXTRA_CA_CERTS $SSL_CERT_FILE $REQUESTS_CA_BUNDLE' 2>>"$base/err")
    cmp -s "$base/crt" "$ca" && [ "$times" = 1 ] && [ "$env" = "$crt $bundle $bundle" ]
    check "$what: $crt is coved's CA, $bundle holds it once, processes are pointed at them" $? \
        "bundle holds it ${times:-?} times; env '$env'" "$(cat "$base/err")" "$(diff "$base/crt" "$ca" 2>&1 | head -5)"
}

id=$("$cove" create --template base --timeout 600 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]] || { not_ok "create" "$id $(cat "$base/err")"; exit 1; }
installed "$id" "a new sandbox"

# A TLS server in the guest with a certificate the authority minted, as the
# egress proxy will present for a host with rules.
"$build/bin/tools/mint" "$authority" egress.test "$base/leaf.pem" "$base/leaf.key" &&
    "$cove" cp "$base/leaf.pem" "$id:/home/user/leaf.pem" && "$cove" cp "$base/leaf.key" "$id:/home/user/leaf.key" &&
    "$cove" exec "$id" -- sh -c '(openssl s_server -quiet -accept 127.0.0.1:8443 -cert leaf.pem -key leaf.key -www \
        >/dev/null 2>&1 &); for i in $(seq 1 100); do curl -sk -o /dev/null https://127.0.0.1:8443/ && exit 0; sleep 0.2; done; exit 1' \
    >"$base/out" 2>&1
check "a TLS server in the guest presents a certificate the authority minted for egress.test" $? "$(cat "$base/out")"
out=$("$cove" exec "$id" -- curl -sS -o /dev/null -w '%{http_code}' --resolve egress.test:8443:127.0.0.1 \
    https://egress.test:8443/ 2>&1)
[ "$out" = 200 ]; check "curl in the guest trusts it (the system bundle)" $? "$out"
py='import socket, ssl, sys
ctx = ssl.create_default_context() if sys.argv[1] == "default" else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", 8443)), server_hostname="egress.test") as s:
    print("verified", s.version())'
out=$("$cove" exec "$id" -- python3 -c "$py" default 2>&1)
[[ "$out" == "verified TLS"* ]]; check "Python's default context in the guest trusts it" $? "$out"
out=$("$cove" exec "$id" -- python3 -c "$py" none 2>&1)
[[ "$out" == *CERTIFICATE_VERIFY_FAILED* ]]; check "a Python client trusting no CA refuses it" $? "$out"
js='require("https").get({ host: "127.0.0.1", port: 8443, servername: "egress.test", path: "/" },
    (r) => { console.log(r.statusCode); r.resume(); }).on("error", (e) => { console.log(e.code); process.exit(1); });'
out=$("$cove" exec "$id" -- node -e "$js" 2>&1)
[ "$out" = 200 ]; check "Node in the guest trusts it" $? "$out"

# A resume sends /init again, and a fork child gets one of its own.
"$cove" pause "$id" 2>"$base/err" && "$cove" resume "$id" 2>>"$base/err"
check "pause and resume" $? "$(cat "$base/err")"
installed "$id" "after a pause and resume"
kid=$("$cove" fork "$id" 2>"$base/err")
[[ "$kid" =~ ^[a-z0-9]{20}$ ]]; check "fork" $? "$kid $(cat "$base/err")"
installed "$kid" "a fork child"
"$cove" kill "$id" "$kid" >/dev/null 2>&1

# A restart keeps the authority (guests' trust in it survives); removing
# it makes a new one.
restart
cmp -s "$ca" "$base/ca.first"; check "a restarted coved keeps the egress authority" $? "$(diff "$ca" "$base/ca.first")"
kill "$coved_pid" && wait "$coved_pid" 2>/dev/null
coved_pid=""
rm -rf "$authority"
restart
[ -s "$ca" ] && ! cmp -s "$ca" "$base/ca.first"
check "with egress-ca removed, coved makes a new authority" $? "$(ls -la "$authority" 2>&1)"
last=$(grep -v -- ----- "$ca" | tail -1)
id=$("$cove" create --template base --timeout 600 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]] || { not_ok "create" "$id $(cat "$base/err")"; exit 1; }
installed "$id" "a sandbox of the new authority"
"$cove" kill "$id" >/dev/null 2>&1
echo "1..$n"
