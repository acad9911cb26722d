#!/bin/bash
# Names in guests, through the official E2B SDK against a real coved: with
# `coved --dns` naming the test internet's DNS server (tests/inet.sh's lab),
# a sandbox's resolv.conf names it, and the guest resolves the lab's names
# (getent in base, busybox nslookup in tiny) and fetches from the lab's web
# servers over HTTP and, trusting the lab's CA, HTTPS. A sandbox resumed
# from its saved memory keeps the resolv.conf it had, whatever the coved
# that resumes it says; one made from its snapshot (a fork) gets the
# coved's; `--dns none` leaves the template's file as it is;
# without --dns coved takes the host's non-loopback nameservers (which of
# them is unit-tested on sample texts, test_dns). Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
here=$(cd "$(dirname "$0")/.." && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$here/lib.sh"
. "$here/inet.sh"

inet_test_setup dns tiny node dnsmasq openssl busybox ip debugfs python3
out=$base/out
sdk() { node "$here/inet/sdk.mjs" "$@"; }
# run ID SCRIPT [USER]: the script's output in $out, its status returned.
run() { sdk run "$@" >"$out" 2>&1; }
# json FIELD: a field of the echo server's answer in $out ("local.address").
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$out" "$1" 2>/dev/null; }
# The template's own resolv.conf, read from its image.
template_resolv() { debugfs -R "cat /etc/resolv.conf" "$COVE_TEMPLATES/$1/rootfs.ext4" 2>/dev/null; }
restart() {
    crash_restart_coved_sdk "$base/coved.log" --net-pool 0 "$@"
}

inet_up "$base"
inet_lab || { echo "not ok 1 - the test internet's lab starts"; exit 1; }
allowed=$(inet_addr_of allowed.test)
have_base=0
[ -s "$COVE_TEMPLATES/base/snapshot/snapshot.conf" ] && have_base=1

restart --dns "$INET_DNS"

# --- tiny: busybox's resolver ---
id=$(sdk create tiny 2>&1)
[[ "$id" =~ ^[a-z0-9]{20}$ ]] || { echo "not ok 1 - create a tiny sandbox: $id"; exit 1; }
run "$id" 'cat /etc/resolv.conf'
[ "$(grep -c '^nameserver ' "$out")" = 1 ] && grep -qx "nameserver $INET_DNS" "$out" &&
    grep -qx 'options timeout:2 attempts:2' "$out"
check "coved --dns: the guest's resolv.conf names that server, with the resolver's options" $? "$(cat "$out")"
run "$id" 'nslookup allowed.test'
grep -q "$allowed" "$out"; check "tiny: busybox nslookup resolves allowed.test through the lab's DNS" $? "$(cat "$out")"
grep -q "query\[A\] allowed.test from " "$INET_DNS_LOG"
check "... and the query reached the lab's dnsmasq" $? "$(tail -3 "$INET_DNS_LOG")"
run "$id" 'wget -q -O - http://allowed.test/'
[ "$(json host)" = allowed.test ] && [ "$(json local.address)" = "$allowed" ] && [ "$(json tls)" = False ]
check "tiny: http://allowed.test/ reaches the lab's echo server by name" $? "$(cat "$out")"
run "$id" 'nslookup example.com'
! grep -q '^Address.*[0-9]\.[0-9]' <(grep -v "$INET_DNS" "$out")
check "a name outside .test resolves to nothing (the lab has no upstream)" $? "$(cat "$out")"
sdk kill "$id" >/dev/null 2>&1

# --- base: glibc's resolver, curl, the lab's CA ---
if [ $have_base = 1 ]; then
    id=$(sdk create base 2>&1)
    [[ "$id" =~ ^[a-z0-9]{20}$ ]]; check "create a base sandbox" $? "$id"
    run "$id" 'getent hosts allowed.test' user
    [ "$(awk '{print $1, $2}' "$out")" = "$allowed allowed.test" ]
    check "base: getent resolves allowed.test, as the default user (the file is readable)" $? "$(cat "$out")"
    run "$id" 'curl -sS --max-time 10 http://allowed.test/path?q=1'
    [ "$(json host)" = allowed.test ] && [ "$(json path)" = '/path?q=1' ] && [ "$(json method)" = GET ] &&
        [ "$(json local.address)" = "$allowed" ]
    check "base: curl http://allowed.test/ gets the echo JSON with host allowed.test" $? "$(cat "$out")"
    run "$id" 'curl -sS --max-time 10 -o /dev/null https://allowed.test/'
    [ $? != 0 ] && grep -qi 'certificate' "$out"
    check "base: https://allowed.test/ is refused without the lab's CA" $? "$(cat "$out")"
    sdk upload "$id" "$INET_CA" /tmp/inet-ca.pem >"$out" 2>&1 &&
        run "$id" 'curl -sS --max-time 10 --cacert /tmp/inet-ca.pem https://a.wild.test/'
    [ "$(json host)" = a.wild.test ] && [ "$(json sni)" = a.wild.test ] && [ "$(json tls)" = True ] &&
        [ "$(json local.address)" = "$(inet_addr_of a.wild.test)" ]
    check "base: with the lab's CA uploaded, curl https://a.wild.test/ gets the echo JSON (SNI a.wild.test)" $? \
        "$(cat "$out")"

    # --- a resumed sandbox keeps its resolv.conf ---
    sdk pause "$id" >"$out" 2>&1; rc=$?
    restart --dns 198.51.100.7
    sdk resume "$id" >>"$out" 2>&1 && run "$id" 'grep ^nameserver /etc/resolv.conf; getent hosts denied.test'
    [ $rc = 0 ] && [ "$(grep -c ^nameserver "$out")" = 1 ] && grep -qx "nameserver $INET_DNS" "$out" &&
        grep -q "^$(inet_addr_of denied.test) *denied.test" "$out"
    check "paused, then resumed by a coved with another --dns: the sandbox keeps the resolv.conf it had" $? \
        "rc=$rc $(cat "$out")"
    # A sandbox from its snapshot carries on from its state (a fork), and
    # its /init gives it this coved's nameservers.
    snap=$(sdk snapshot "$id" 2>&1) && child=$(sdk create "$snap" 2>&1) &&
        run "$child" 'grep ^nameserver /etc/resolv.conf'
    [ "$(cat "$out")" = "nameserver 198.51.100.7" ]
    check "a sandbox made from its snapshot (a fork) gets the nameservers of the coved that makes it" $? \
        "snap=$snap child=$child $(cat "$out")"
    sdk kill "$child" >/dev/null 2>&1
    sdk kill "$id" >/dev/null 2>&1
    id=$(sdk create base 2>&1) && run "$id" 'grep ^nameserver /etc/resolv.conf'
    [ "$(cat "$out")" = "nameserver 198.51.100.7" ]
    check "... while a new sandbox gets that coved's" $? "$id $(cat "$out")"
    sdk kill "$id" >/dev/null 2>&1
else
    for t in getent curl-http curl-https-refused curl-https resume fork resume-new; do
        echo "ok $((n += 1)) # SKIP $t: the base template has no snapshot ('make' makes it as root)"
    done
fi

# --- --dns none: the template's file stays ---
restart --dns none
tpl=tiny
[ $have_base = 1 ] && tpl=base
id=$(sdk create $tpl 2>&1) && run "$id" 'cat /etc/resolv.conf'
[ "$(cat "$out")" = "$(template_resolv $tpl)" ] && ! grep -q "cove-agent" "$out"
check "coved --dns none: resolv.conf is as the $tpl template has it" $? "$id got: $(cat "$out") template: $(template_resolv $tpl)"
sdk kill "$id" >/dev/null 2>&1

# --- the default: the host's nameservers less loopback ones ---
restart
taken=$(sed -n 's/.* op=dns source=[^ ]* nameservers=\([^ ]*\) .*/\1/p' "$base/coved.log" | tail -1)
[ -z "$taken" ] && grep -q 'op=dns nameservers=none' "$base/coved.log" && taken=none
id=$(sdk create tiny 2>&1) && run "$id" 'cat /etc/resolv.conf'
if [ "$taken" = none ]; then
    [ "$(cat "$out")" = "$(template_resolv tiny)" ]
else
    [ "$(sed -n 's/^nameserver //p' "$out" | paste -sd,)" = "$taken" ] && ! grep -qE '^nameserver (127|0)\.' "$out"
fi
check "without --dns: the guest names the host's nameservers coved logged, none of them loopback ($taken)" $? \
    "$(grep op=dns "$base/coved.log") guest: $(cat "$out")"
sdk kill "$id" >/dev/null 2>&1
echo "1..$n"
