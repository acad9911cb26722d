#!/bin/bash
# The VMM's confinement (docs/security.md), checked from outside against a
# real coved: each sandbox's QEMU runs as a uid and gid of its own from
# COVE_VMM_IDS, with no capability, no_new_privs, QEMU's seccomp filter and
# its work directory as its root, holding only its own files; it cannot
# open another sandbox's files or the state database, in its root or
# through host paths; a restarted coved adopts it with the same uid, and its
# uid's claim goes with the sandbox. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-confine.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
claims=/run/cove-vmm-ids
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT

start_coved "$base/coved.log" || { echo "not ok 1 - coved did not start"; sed 's/^/# /' "$base/coved.log"; exit 1; }
pid=$coved_pid
export COVE_URL=$coved_url

a=$("$cove" create --template tiny --timeout 300 2>"$base/err"); check "create sandbox a" $? "$(cat "$base/err")"
b=$("$cove" create --template tiny --timeout 300 2>"$base/err"); check "create sandbox b" $? "$(cat "$base/err")"
vmm_pid() { cut -d' ' -f1 "$COVE_RUN_DIR/$1/vmm"; }
status() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
pa=$(vmm_pid "$a") pb=$(vmm_pid "$b")
ua=$(status "$pa" Uid) ub=$(status "$pb" Uid)
first=1879048192 count=65536
read -r uid_a _ <<<"$ua"
read -r uid_b _ <<<"$ub"
[ "$ua" = "$uid_a $uid_a $uid_a $uid_a" ] && [ "$uid_a" -gt "$first" ] && [ "$uid_a" -lt $((first + count)) ] &&
    [ "$(status "$pa" Gid)" = "$uid_a $uid_a $uid_a $uid_a" ] && [ "$(status "$pa" Groups)" = "$first" ]
check "the VMM runs as a uid and gid of its own from COVE_VMM_IDS (real, effective, saved, fs), the VMMs' group its only other" $? \
    "Uid: $ua Gid: $(status "$pa" Gid) Groups: $(status "$pa" Groups)"
[ "$uid_a" != "$uid_b" ]; check "two sandboxes' VMMs have different uids" $? "a: $uid_a b: $uid_b"
caps_ok=0
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(status "$pa" $c)" = 0000000000000000 ] || caps_ok=1
done
check "every capability set is empty (inheritable, permitted, effective, bounding, ambient)" $caps_ok \
    "$(grep ^Cap "/proc/$pa/status" | tr '\n' ' ')"
[ "$(status "$pa" NoNewPrivs)" = 1 ]; check "no_new_privs is set" $? "$(status "$pa" NoNewPrivs)"
[ "$(status "$pa" Seccomp)" = 2 ]; check "a seccomp filter is on (QEMU's -sandbox)" $? "$(status "$pa" Seccomp)"
ls -A "/proc/$pa/root" | sort | tr '\n' ' ' >"$base/root"
[ "$(cat "$base/root")" = "bin dev disk.qcow2 kernel layer.qcow2 lib lib64 memory rootfs usr var " ] &&
    [ "$(ls -A "/proc/$pa/root/dev" | tr '\n' ' ')" = "null urandom " ] &&
    [ "$(stat -c %a "/proc/$pa/root/dev/urandom")" = 444 ]
check "its root holds its kernel, disks, memory file, read-only /usr, /dev/null and a read-only /dev/urandom, nothing else" $? \
    "$(cat "$base/root") dev: $(ls -A "/proc/$pa/root/dev" | tr '\n' ' ')"
grep -qE '^Max open files +4096 ' "/proc/$pa/limits" && grep -qE '^Max core file size +0 +0 ' "/proc/$pa/limits" &&
    grep -qE '^Max processes +512 ' "/proc/$pa/limits" && ! grep -qE '^Max file size +unlimited' "/proc/$pa/limits"
check "resource limits: open files, no core dumps, processes, file size" $? "$(grep -E 'open|core|processes|file size' "/proc/$pa/limits")"
grep -q " /usr .* ro," "/proc/$pa/mountinfo"; check "/usr is read-only in its root" $? "$(grep ' /usr ' "/proc/$pa/mountinfo")"
[ "$(readlink "$claims/$uid_a")" = "$COVE_RUN_DIR/$a" ]; check "its uid is claimed for its run directory" $? "$(ls -l "$claims" | head)"

# As the VMM: in its mount namespace with its ids and no capabilities.
as_vmm() { # as_vmm PID CMD...
    local p=$1 u g
    shift
    u=$(status "$p" Uid | cut -d' ' -f1) g=$(status "$p" Gid | cut -d' ' -f1)
    nsenter -t "$p" -m -n -- setpriv --reuid="$u" --regid="$g" --groups="$first" --inh-caps=-all \
        --bounding-set=-all --no-new-privs -- "$@"
}
as_vmm "$pa" sh -c 'test -r /kernel && test -w /disk.qcow2' 2>"$base/err"
check "as the VMM: its own files open (kernel read, disk read-write)" $? "$(cat "$base/err")"
as_vmm "$pa" sh -c "cat $COVE_STATE_DIR/cove.db $COVE_RUN_DIR/$b/disk.qcow2 /proc/$pb/root/disk.qcow2" >/dev/null 2>"$base/err"
[ $? != 0 ] && [ "$(grep -c 'No such file' "$base/err")" = 3 ]
check "as the VMM in its root: the state database and sandbox b's files cannot even be named" $? "$(cat "$base/err")"
setpriv --reuid="$uid_a" --regid="$uid_a" --groups="$first" --inh-caps=-all --bounding-set=-all --no-new-privs -- \
    sh -c "cat $COVE_STATE_DIR/cove.db; cat $COVE_RUN_DIR/$b/disk.qcow2; cat /proc/$pb/root/disk.qcow2" >/dev/null 2>"$base/err"
[ $? != 0 ] && [ "$(grep -c 'Permission denied' "$base/err")" = 3 ]
check "as the VMM's uid on the host: the state database and sandbox b's disk are closed to it" $? "$(cat "$base/err")"
ls -ld "$COVE_STATE_DIR" | grep -q '^drwx------'; check "the state directory is root's alone" $? "$(ls -ld "$COVE_STATE_DIR")"

"$cove" exec "$a" -- sh -c 'echo confined > /tmp/mark' && "$cove" pause "$a" >/dev/null && "$cove" resume "$a" >/dev/null &&
    [ "$("$cove" exec "$a" -- cat /tmp/mark)" = confined ]
check "pause and resume work confined (the restored VMM is confined too)" $? "$(tail -3 "$base/coved.log")"
pa=$(vmm_pid "$a")
read -r uid_a2 _ <<<"$(status "$pa" Uid)"
[ "$uid_a2" -gt "$first" ] && [ "$(status "$pa" CapEff)" = 0000000000000000 ]
check "the resumed VMM runs as an unprivileged uid of its own" $? "uid $uid_a2"
f=$("$cove" fork "$a" 2>"$base/err" | head -1)
[ -n "$f" ] && [ "$("$cove" exec "$f" -- cat /tmp/mark 2>&1)" = confined ] &&
    read -r uid_f _ <<<"$(status "$(vmm_pid "$f")" Uid)" && [ "$uid_f" != "$uid_a2" ] && [ "$uid_f" -gt "$first" ]
check "a fork child is confined with a uid of its own" $? "fork $f uid ${uid_f:-?} $(cat "$base/err")"

kill -9 "$pid"; wait "$pid" 2>/dev/null
start_coved "$base/coved2.log" || { not_ok "coved restarts" "$(tail -5 "$base/coved2.log")"; exit 1; }
pid=$coved_pid
export COVE_URL=$coved_url
[ "$("$cove" exec "$a" -- cat /tmp/mark 2>&1)" = confined ] && [ "$(vmm_pid "$a")" = "$pa" ] &&
    [ "$(readlink "$claims/$uid_a2")" = "$COVE_RUN_DIR/$a" ]
check "after coved is killed, the restarted coved adopts the confined VMM and keeps its uid's claim" $? \
    "$(grep -i adopt "$base/coved2.log" | tail -2)"
"$cove" kill "$a" "$b" ${f:+"$f"} >/dev/null 2>&1
[ ! -e "$claims/$uid_a2" ] && [ ! -e "$claims/$uid_b" ]; check "killing the sandboxes gives their uids back" $? "$(ls -l "$claims")"
echo "1..$n"
