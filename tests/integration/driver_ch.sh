#!/bin/bash
# The Cloud Hypervisor driver end to end: `cove run --vmm cloud-hypervisor`
# runs a command in a guest, and coved on it (--vmm cloud-hypervisor) goes
# through create (restored from the template snapshot), exec, pause (to
# disk) and resume, a template
# snapshot and sandboxes restored from it, and kill, driven by the CLI.
# Against a real cloud-hypervisor where one and a usable KVM exist, else
# against the test double (build/bin/tools/cloud-hypervisor-double: CH's
# REST API, every request checked against CH's published OpenAPI document,
# QEMU underneath): after each step no request may have strayed outside
# the published API (the double's "SPEC VIOLATION" lines in the VMMs'
# logs). Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}/tiny/rootfs.ext4"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
real=$(command -v cloud-hypervisor 2>/dev/null)
if [ -n "$real" ] && [ -w /dev/kvm ] && "$build/bin/cove" host 2>/dev/null | grep -q 'accel.*kvm'; then
    binary=$real
else
    binary=$build/bin/tools/cloud-hypervisor-double
    [ -x "$binary" ] || skip_all "no cloud-hypervisor with a usable KVM here, and no double at $binary"
    echo "# no cloud-hypervisor with a usable KVM here: against the double"
fi
# COVE_QEMU is the VMM binary whatever the driver (src/common/env.c).
export COVE_QEMU=$binary
base=$(mktemp -d /tmp/cove-ch.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
mkdir -p "$base/log"

# violations: the double's complaints in every VMM log so far (kept past the
# VMMs: the logs stay for a failed `cove run`, and coved's are read live).
seen=$base/violations
: >"$seen"
violations() {
    cat "$COVE_LOG_DIR"/*.vmm.log* 2>/dev/null | grep 'SPEC VIOLATION' >>"$seen"
    sort -u "$seen" -o "$seen"
    [ ! -s "$seen" ]
}
check_clean() { violations; check "$1: no request outside CH's published API" $? "$(head -5 "$seen")"; }

# --- cove run ---
out=$("$cove" run --local --vmm cloud-hypervisor --template tiny -- sh -c 'echo hello-from-ch; uname -s' 2>"$base/err")
rc=$?
[ $rc = 0 ] && grep -q '^hello-from-ch$' <<<"$out" && grep -q '^Linux$' <<<"$out"
check "cove run --vmm cloud-hypervisor runs a command in the guest" $? "rc=$rc out=$out" "$(tail -5 "$base/err")"
check_clean "cove run"

# --- a template snapshot made by CH ---
mkdir -p "$base/templates/tiny"
cp --sparse=always "$COVE_TEMPLATES/tiny/rootfs.ext4" "$base/templates/tiny/"
cp "$COVE_TEMPLATES/tiny/template.conf" "$base/templates/tiny/"
echo vmm=cloud-hypervisor >>"$base/templates/tiny/template.conf"
COVE_TEMPLATES=$base/templates "$cove" template snapshot tiny >"$base/snap.out" 2>&1; rc=$?
conf=$base/templates/tiny/snapshot/snapshot.conf
[ $rc = 0 ] && grep -q '^vmm=cloud-hypervisor ' "$conf"
check "cove template snapshot on CH records its VMM" $? "rc=$rc $(tail -3 "$base/snap.out")" "$(cat "$conf" 2>&1)"
check_clean "template snapshot"

# --- coved ---
start_coved "$base/coved.log" --vmm cloud-hypervisor --templates "$base/templates" --net-pool 1 --api-key ch-key ||
    { not_ok "coved --vmm cloud-hypervisor starts" "$(tail -5 "$base/coved.log")"; exit 1; }
export COVE_URL=$coved_url COVE_API_KEY=ch-key
state_of() { "$cove" ls --json | python3 -c 'import json,sys; d={s["sandboxID"]:s["state"] for s in json.load(sys.stdin)}; print(d.get(sys.argv[1],"gone"))' "$1"; }

id=$("$cove" create --template tiny --timeout 300 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]]
check "create on coved with CH" $? "$id $(cat "$base/err")" "$(tail -5 "$base/coved.log")"
out=$("$cove" exec "$id" -- sh -c 'echo kept >/root/file; echo exec-ok' 2>&1)
[ "$out" = exec-ok ]
check "exec in it" $? "$out"
check_clean "create and exec"

saved=$COVE_STATE_DIR/saved/$id
"$cove" pause "$id" >"$base/p2.out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(state_of "$id")" = paused ] && [ -d "$saved" ]
check "pause to disk" $? "rc=$rc $(cat "$base/p2.out") $(ls -R "$saved" 2>&1 | head -12)"
"$cove" resume "$id" >"$base/r2.out" 2>&1; rc=$?
out=$("$cove" exec "$id" -- cat /root/file 2>&1)
[ $rc = 0 ] && [ "$out" = kept ]
check "resume from disk: its files are there" $? "rc=$rc $(cat "$base/r2.out") out=$out" "$(tail -5 "$base/coved.log")"
check_clean "pause to disk and resume"

"$cove" kill "$id" >"$base/k.out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(state_of "$id")" = gone ]
check "kill" $? "rc=$rc $(cat "$base/k.out") state=$(state_of "$id")"
check_clean "kill"
echo "1..$n"
