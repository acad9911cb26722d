#!/bin/bash
# HTTPS and host names: coved --make-local-ca and its files; bad certificate
# and key files refused at start, naming the file; coved --tls-local with
# plain HTTP beside it; curl to api.DOMAIN (the control plane) and
# PORT-ID.DOMAIN (a sandbox) over HTTPS, a wrong name, an old TLS version, an
# h2 offer; a certificate given with --tls-cert for a two-label domain; then
# the official SDK with E2B_DOMAIN=localhost:PORT and NODE_EXTRA_CA_CERTS
# (tests/e2b/tls). Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
coved=$build/bin/coved
cove=$build/bin/cove
node_dir=${COVE_NODE_DIR:-$build/node}
here=$(cd "$(dirname "$0")/../e2b/tls" && pwd)
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
command -v curl >/dev/null || skip_all "needs curl ('make deps' installs it)"
base=$(mktemp -d /tmp/cove-tls.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
out=$base/out
key=e2b_$(printf '%040d' 14)
tlsdir=$COVE_STATE_DIR/tls

# start LOG [FLAGS...]: coved with HTTPS on a free port too; sets pid, url, tport.
start() {
    local log=$1; shift
    tport=""
    start_coved "$log" --api-key "$key" --net-pool 0 --tls-listen 127.0.0.1:0 "$@" || return 1
    pid=$coved_pid url=$coved_url
    for _ in $(seq 1 100); do
        tport=$(sed -n 's/^coved: serving HTTPS on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
        [ -n "$tport" ] && return 0
        sleep 0.05
    done
    return 1
}
stop() { kill -TERM "$pid"; wait "$pid"; local rc=$?; pid=""; return $rc; }
# https NAME PATH [CURL ARGS...]: to coved's HTTPS port by that name (curl
# --resolve, so that no resolver is needed), trusting the local CA; the
# status echoed, the body in $out, curl's exit status returned.
https() {
    local name=$1 path=$2; shift 2
    curl -sS -o "$out" -w '%{http_code}' --cacert "$tlsdir/ca.pem" --resolve "$name:$tport:127.0.0.1" "$@" \
        "https://$name:$tport$path" 2>"$base/curl.err"
}

# --- the local CA ---
"$coved" --make-local-ca --state-dir "$COVE_STATE_DIR" >"$base/made" 2>&1
check "coved --make-local-ca exits 0" $? "$(cat "$base/made")"
modes=$(cd "$tlsdir" && stat -c '%n %a' ca.pem ca-key.pem cert.pem key.pem | tr '\n' ' ')
[ "$modes" = "ca.pem 644 ca-key.pem 600 cert.pem 644 key.pem 600 " ] && [ "$(stat -c %a "$tlsdir")" = 700 ]
check "it writes STATE_DIR/tls (0700): the CA, a certificate, and their keys 0600" $? "$modes"
grep -q "NODE_EXTRA_CA_CERTS=$tlsdir/ca.pem" "$base/made" && grep -q 'update-ca-certificates' "$base/made" &&
    grep -q 'libnss-myhostname' "$base/made" && grep -q 'E2B_DOMAIN=localhost:PORT' "$base/made"
check "it says how to trust the CA, how names resolve and what E2B_DOMAIN to use" $? "$(cat "$base/made")"
ca=$(cat "$tlsdir/ca.pem")
"$coved" --make-local-ca --state-dir "$COVE_STATE_DIR" >"$base/made" 2>&1 && [ "$(cat "$tlsdir/ca.pem")" = "$ca" ] &&
    grep -q '^Kept the local CA' "$base/made"
check "made again, the CA is kept (clients that trust it still do)" $? "$(head -2 "$base/made")"
# The CA may sign for its domain alone: a stolen key cannot make a
# certificate another site's clients on this host would take.
nc=$(openssl x509 -in "$tlsdir/ca.pem" -noout -text 2>&1 | sed -n '/Name Constraints: critical/,/Subject Key/p')
grep -q 'DNS:localhost' <<<"$nc" && grep -q 'IP:127.0.0.0/255.0.0.0' <<<"$nc" && ! grep -q 'Excluded' <<<"$nc"
check "the CA carries critical name constraints: localhost and the loopback addresses only" $? "$nc"
"$coved" --make-local-ca --domain other.example --state-dir "$COVE_STATE_DIR" >"$base/other" 2>&1; rc=$?
[ $rc != 0 ] && grep -q 'was made for another domain than other.example' "$base/other" &&
    [ "$(cat "$tlsdir/ca.pem")" = "$ca" ]
check "a certificate for another domain from it is refused, saying how to make a CA for that domain" $? \
    "exit $rc: $(cat "$base/other")"

# --- bad settings and files stop coved at once, naming what is wrong ---
refused() { # refused NAME MESSAGE FLAGS...: coved exits non-zero, saying MESSAGE
    local name=$1 msg=$2; shift 2
    timeout 20 "$coved" --listen 127.0.0.1:0 --api-key "$key" --net-pool 0 "$@" >"$base/refused" 2>&1
    local rc=$?
    [ $rc != 0 ] && [ $rc != 124 ] && grep -qF -- "$msg" "$base/refused"
    check "$name" $? "exit $rc: $(cat "$base/refused")"
}
refused "a missing certificate file is named" "tls: read certificate $base/none.pem: No such file or directory" \
    --tls-cert "$base/none.pem" --tls-key "$tlsdir/key.pem"
refused "a key that is not the certificate's is named" \
    "tls: key $tlsdir/ca-key.pem is not the key of certificate $tlsdir/cert.pem" \
    --tls-cert "$tlsdir/cert.pem" --tls-key "$tlsdir/ca-key.pem"
refused "a file that is no certificate is named" "tls: certificate $tlsdir/key.pem: " \
    --tls-cert "$tlsdir/key.pem" --tls-key "$tlsdir/key.pem"
refused "--tls-cert without --tls-key is refused" "--tls-cert and --tls-key go together" --tls-cert "$tlsdir/cert.pem"
refused "a domain with a port is refused" "domain 'localhost:8443': a host name without a port" --domain localhost:8443
refused "--tls-local without the local CA names the missing file" \
    "tls: read certificate $base/empty/tls/ca.pem: No such file or directory" --tls-local --state-dir "$base/empty"

# --- coved --tls-local: HTTPS beside plain HTTP ---
start "$base/coved.log" --tls-local
check "coved --tls-local serves HTTPS on a second port" $? "$(cat "$base/coved.log")"
grep -q "for api.localhost and PORT-ID.localhost (E2B_DOMAIN=localhost:$tport)" "$base/coved.log"
check "it says which E2B_DOMAIN reaches it" $? "$(grep HTTPS "$base/coved.log")"
s=$(https api.localhost /v2/sandboxes -H "X-API-KEY: $key")
[ "$s" = 200 ] && [ "$(cat "$out")" = "[]" ]; check "https://api.localhost is the API" $? "$s $(cat "$out" "$base/curl.err")"
s=$(https api.localhost /v2/sandboxes)
[ "$s" = 401 ] && grep -q '"code":401' "$out"; check "... with its API key check" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -H "X-API-KEY: $key" "$url/v2/sandboxes")
[ "$s" = 200 ]; check "plain HTTP still serves the API beside it" $? "$s"
s=$(https 8000-nosuchsandbox0000000.localhost /)
[ "$s" = 502 ] && grep -q "nosuchsandbox0000000" "$out"
check "https://8000-ID.localhost goes to the sandbox's port (none here: 502)" $? "$s $(cat "$out" "$base/curl.err")"
s=$(curl -s -o "$out" -w '%{http_code}' -H 'Host: 8000-nosuchsandbox0000000.LOCALHOST:443' "$url/")
[ "$s" = 502 ]; check "... by Host over plain HTTP too, in any case, with a port" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -H 'Host: 8000-nosuchsandbox0000000.example.com' "$url/")
[ "$s" = 401 ]; check "PORT-ID under another domain is the API's (401 without a key), not a sandbox's" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' -H 'Host: 8000-nosuchsandbox0000000.a.localhost' "$url/")
[ "$s" = 401 ]; check "... and so is PORT-ID two labels under the domain" $? "$s $(cat "$out")"
https other.example / >/dev/null
rc=$?; [ $rc = 60 ] && grep -q 'other.example' "$base/curl.err"
check "a client asking for another name fails its certificate check" $? "curl exit $rc: $(cat "$base/curl.err")"
https api.localhost / --tls-max 1.1 >/dev/null
rc=$?; [ $rc = 35 ]; check "TLS 1.1 is refused" $? "curl exit $rc: $(cat "$base/curl.err")"
v=$(curl -sS -o /dev/null -w '%{http_version} %{http_code}' --http2 --cacert "$tlsdir/ca.pem" \
    --resolve "api.localhost:$tport:127.0.0.1" -H "X-API-KEY: $key" "https://api.localhost:$tport/v2/sandboxes")
[ "$v" = "1.1 200" ]; check "a client offering h2 gets HTTP/1.1" $? "$v"
https api.localhost /v2/sandboxes --tlsv1.2 --tls-max 1.2 -H "X-API-KEY: $key" >/dev/null
check "TLS 1.2 is served" $? "$(cat "$base/curl.err")"
s=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$tlsdir/ca.pem" -H "X-API-KEY: $key" \
    "https://127.0.0.1:$tport/v2/sandboxes" 2>&1)
[ "$s" = 200 ]; check "https://127.0.0.1 is covered by the local certificate too" $? "$s"
kill -0 "$pid"; check "coved still serves after the failed handshakes" $? "$(tail -5 "$base/coved.log")"
grep -q 'op=https msg=' "$base/coved.log" && ! grep -q '^Error:' "$base/coved.log"
check "failed handshakes are logged as key=value lines" $? "$(grep -i -m3 'https\|error' "$base/coved.log")"

# --- the official SDK over HTTPS, by E2B_DOMAIN ---
if [ ! -f "$node_dir/node_modules/e2b/package.json" ] || ! command -v node >/dev/null; then
    echo "not ok $((n += 1)) # SKIP the E2B SDK or node is not installed ('make' and 'make deps')"
elif [ ! -r "$COVE_TEMPLATES/base/rootfs.ext4" ]; then
    echo "not ok $((n += 1)) # SKIP the SDK test needs the base template ($COVE_TEMPLATES/base)"
elif ! getent hosts "api.localhost" >/dev/null; then
    echo "not ok $((n += 1)) # SKIP api.localhost does not resolve: install libnss-myhostname ('make deps') and put myhostname in /etc/nsswitch.conf's hosts line"
else
    (unset E2B_API_URL E2B_SANDBOX_URL E2B_DEBUG
     E2B_DOMAIN=localhost:$tport E2B_API_KEY=$key NODE_EXTRA_CA_CERTS=$tlsdir/ca.pem COVE_NODE_DIR=$node_dir \
         node --test --test-reporter=tap "$here"/*.test.mjs) >"$base/node.tap" 2>&1
    rc=$?
    sed 's/^/# /' "$base/node.tap" | grep -E '^# (not )?ok|^#  +(error|expected|actual|code)' | head -40
    check "the SDK with E2B_DOMAIN=localhost:PORT: create, commands, files, getHost fetch, kill" $rc \
        "$(grep -A12 '^not ok' "$base/node.tap" | head -40 | sed 's/^/  /')"
fi
stop

# --- a certificate given with --tls-cert, a wildcard for a two-label domain ---
"$coved" --make-local-ca --domain cove.localhost --state-dir "$base/two" >/dev/null 2>&1
tlsdir=$base/two/tls
start "$base/coved2.log" --domain cove.localhost --tls-cert "$tlsdir/cert.pem" --tls-key "$tlsdir/key.pem"
check "coved --tls-cert --tls-key serves HTTPS" $? "$(cat "$base/coved2.log")"
! grep -q 'warning' "$base/coved2.log"; check "... without warnings when the certificate covers the domain" $? \
    "$(grep warning "$base/coved2.log")"
s=$(https 8000-nosuchsandbox0000000.cove.localhost /)
[ "$s" = 502 ]; check "its wildcard covers PORT-ID.cove.localhost" $? "$s $(cat "$base/curl.err")"
s=$(https api.cove.localhost /v2/sandboxes -H "X-API-KEY: $key")
[ "$s" = 200 ]; check "... and api.cove.localhost is the API" $? "$s $(cat "$base/curl.err")"
s=$(curl -s -o "$out" -w '%{http_code}' -H 'Host: 8000-nosuchsandbox0000000.localhost' "$url/")
[ "$s" = 401 ]; check "with --domain cove.localhost, PORT-ID.localhost is no sandbox's" $? "$s"
stop
"$coved" --make-local-ca --domain other.example --state-dir "$base/three" >/dev/null 2>&1
start "$base/coved3.log" --tls-cert "$base/three/tls/cert.pem" --tls-key "$base/three/tls/key.pem"
grep -q "warning: certificate $base/three/tls/cert.pem does not cover api.localhost" "$base/coved3.log"
check "a certificate that does not cover the domain is served with a warning" $? "$(cat "$base/coved3.log")"
stop

echo "1..$n"
