#!/bin/bash
# Template snapshots with real guests: `cove template snapshot` boots a copy
# of the tiny template once and saves it; `cove run` and coved then start its
# sandboxes by restoring it. Restored sandboxes run commands, have their own
# disk, their own random numbers and the host's clock; a snapshot that no
# longer matches its template, or was made by another QEMU version, is not
# used. coved keeps a warm pool of
# restored, paused sandboxes that creates claim. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"
need_root
need_guest "${COVE_TEMPLATES:-}/tiny"
base=$(mktemp -d /tmp/cove-snapshot.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
mkdir -p "$base/templates"
cp -r "$COVE_TEMPLATES/tiny" "$base/templates/"
export COVE_TEMPLATES=$base/templates
snap=$base/templates/tiny/snapshot
qemus() { vmm_pids "$COVE_RUN_DIR" | wc -l; }

"$cove" template snapshot tiny 2>"$base/err"; rc=$?
[ $rc = 0 ] && for f in memory state layer.qcow2 overlay.qcow2 snapshot.conf; do [ -s "$snap/$f" ] || exit 1; done
check "cove template snapshot saves memory, device state, disk layer and config" $? "rc=$rc $(cat "$base/err")"
[ ! -e "$snap.tmp" ] && [ "$(qemus)" = 0 ]; check "... and leaves no VMM or half-made directory" $? "qemu=$(qemus)"

run() { COVE_LOG=info "$cove" run --template tiny "$@" 2>"$base/run.err"; }
out=$(run -- sh -c 'echo restored; exit 3'); rc=$?
[ "$out" = restored ] && [ $rc = 3 ] && grep -q "op=start from=snapshot" "$base/run.err"
check "cove run restores the snapshot instead of booting" $? "rc=$rc out=$out $(grep -v 'op=net' "$base/run.err" | head -5)"
out=$(COVE_KERNEL=$(dirname "$COVE_KERNEL")/./$(basename "$COVE_KERNEL") run -- echo same); rc=$?
[ "$out" = same ] && grep -q "op=start from=snapshot" "$base/run.err"
check "the kernel named another way is the same kernel: still restored" $? "rc=$rc $(grep -v 'op=net' "$base/run.err" | head -3)"
out=$(run --boot -- echo booted); rc=$?
[ "$out" = booted ] && [ $rc = 0 ] && grep -q "op=start from=kernel" "$base/run.err" && ! grep -q "no usable snapshot" "$base/run.err"
check "cove run --boot boots the kernel even so" $? "rc=$rc out=$out $(grep -v 'op=net' "$base/run.err" | head -5)"
a=$(run -- sh -c 'cat /proc/sys/kernel/random/uuid; head -c 16 /dev/urandom | od -An -tx1; echo mine >/tmp/mine')
b=$(run -- sh -c 'cat /proc/sys/kernel/random/uuid; head -c 16 /dev/urandom | od -An -tx1; cat /tmp/mine 2>&1')
[ -n "$a" ] && [ "$(echo "$a" | head -1)" != "$(echo "$b" | head -1)" ] && [ "$(echo "$a" | sed -n 2p)" != "$(echo "$b" | sed -n 2p)" ]
check "two sandboxes restored from one snapshot get different random numbers" $? "a=$a" "b=$b"
echo "$b" | grep -q "No such file"; check "... and do not see each other's files" $? "$b"
g=$(run -- date +%s); h=$(date +%s)
[ -n "$g" ] && [ $((h - g)) -le 2 ] && [ $((g - h)) -le 2 ]; check "a restored guest has the host's clock" $? "guest=$g host=$h"
out=$(run -- sh -c 'seq 1 3000 | tail -1')
[ "$out" = 3000 ]; check "a restored guest streams output" $? "$out"

touch "$base/templates/tiny/rootfs.ext4"
out=$(run -- echo booted); rc=$?
[ "$out" = booted ] && grep -q "op=start from=kernel" "$base/run.err" && grep -q "no usable snapshot" "$base/run.err"
check "a snapshot older than its image is not used: the sandbox boots, and says why" $? "$(grep -v 'op=net' "$base/run.err" | head -5)"
"$cove" template snapshot tiny 2>/dev/null && out=$(run -- echo again) && grep -q "op=start from=snapshot" "$base/run.err"
check "snapshotting again replaces it" $? "$out"

# Another QEMU (a wrapper that says another version, run unconfined so that
# its script is reachable): the snapshot is refused, naming both versions,
# and the sandbox boots.
mine=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)
printf '#!/bin/sh\n[ "$1" = --version ] && { echo "QEMU emulator version 99.0.1"; exit 0; }\nexec %s "$@"\n' \
    "$(command -v qemu-system-x86_64)" >"$base/qemu"
chmod +x "$base/qemu"
out=$(COVE_QEMU=$base/qemu COVE_VMM_IDS=off run -- echo other); rc=$?
[ "$out" = other ] && grep -q "op=start from=kernel" "$base/run.err" &&
    grep -q "was made with vmm=qemu $mine, this host has vmm=qemu 99.0.1" "$base/run.err"
check "a snapshot made by another QEMU version is not used: the sandbox boots, naming both" $? \
    "rc=$rc out=$out mine=$mine $(grep -v 'op=net' "$base/run.err" | head -5)"

# cove template build: a recipe made into a template, step by step, ending
# with its snapshot.
recipes=$(cd "$(dirname "$0")/../../guest/templates" && pwd)
"$cove" template build --name built "$recipes/tiny" 2>"$base/err"; rc=$?
[ $rc = 0 ] && grep -q '\[1/2\] built: running the recipe' "$base/err" && grep -q '\[2/2\] built: the snapshot' "$base/err" &&
    grep -q '^cove template: built built in ' "$base/err" && [ -s "$base/templates/built/snapshot/snapshot.conf" ] &&
    out=$(COVE_LOG=info "$cove" run --template built -- echo built 2>"$base/run.err") && [ "$out" = built ] &&
    grep -q "op=start from=snapshot" "$base/run.err"
check "cove template build makes a template from a recipe, shows each step, and snapshots it" $? "rc=$rc $(cat "$base/err")"
mkdir -p "$base/recipes/empty" "$base/recipes/broken"
printf '#!/bin/sh\necho half >"$2/rootfs.ext4"; exit 7\n' >"$base/recipes/broken/build.sh"
chmod +x "$base/recipes/broken/build.sh"
"$cove" template build "$base/recipes/nothere" 2>"$base/e1"; r1=$?
"$cove" template build "$base/recipes/empty" 2>"$base/e2"; r2=$?
"$cove" template build "$base/recipes/broken" 2>"$base/e3"; r3=$?
[ $r1 = 125 ] && grep -q "nothere: No such file" "$base/e1" && [ $r2 = 125 ] && grep -q "neither a build.sh" "$base/e2" &&
    [ $r3 = 125 ] && grep -q "build.sh failed (exit 7)" "$base/e3" && [ ! -e "$base/templates/broken/snapshot" ]
check "a missing, empty or failing recipe: one clear error each, and no snapshot" $? "$r1 $(cat "$base/e1")" \
    "$r2 $(cat "$base/e2")" "$r3 $(cat "$base/e3")"
rm -rf "$base/templates/broken"


# A template on a VMM this Cove has no driver for: refused before
# anything is made, saying so (cove run, cove template snapshot, coved's
# create), and coved will not start on it.
mkdir -p "$base/templates/tinyxx"
cp "$base/templates/tiny/rootfs.ext4" "$base/templates/tiny/template.conf" "$base/templates/tinyxx/"
echo vmm=bhyve >>"$base/templates/tinyxx/template.conf"
"$cove" run --local --template tinyxx -- true 2>"$base/e1"; r1=$?
"$cove" template snapshot tinyxx 2>"$base/e2"; r2=$?
"$build/bin/coved" --vmm bhyve --state-dir "$base/state2" 2>"$base/e3"; r3=$?
why="is unknown (this Cove has: qemu, firecracker, cloud-hypervisor)"
[ $r1 != 0 ] && grep -q "VMM 'bhyve' $why" "$base/e1" && [ $r2 != 0 ] && grep -q "$why" "$base/e2" &&
    [ $r3 != 0 ] && grep -q "$why" "$base/e3" && [ ! -e "$base/templates/tinyxx/snapshot" ]
check "a template on a VMM Cove does not know: cove run, snapshot and coved say so" $? \
    "$r1 $(cat "$base/e1")" "$r2 $(cat "$base/e2")" "$r3 $(cat "$base/e3")"

# coved restores it too.
start_coved "$base/coved.log" --api-key snap --templates "$base/templates" --net-pool 1 ||
    { echo "not ok - coved did not start"; cat "$base/coved.log"; exit 1; }
export COVE_URL=$coved_url COVE_API_KEY=snap
s=$(curl -s -o "$base/out" -w '%{http_code}' -H "X-API-KEY: snap" -d '{"templateID":"tinyxx"}' "$COVE_URL/sandboxes")
[ "$s" = 400 ] && grep -q "template 'tinyxx': VMM 'bhyve' $why" "$base/out"
check "... and coved's create of it is 400 naming the template and the VMM" $? "$s $(cat "$base/out")"
id=$("$cove" create --template tiny 2>"$base/err")
out=$("$cove" exec "$id" -- sh -c 'echo via-coved')
[ "$out" = via-coved ] && grep -q "sandbox=$id op=start from=snapshot" "$base/coved.log"
check "coved creates sandboxes by restoring the snapshot" $? "id=$id out=$out $(cat "$base/err")" "$(grep "$id" "$base/coved.log" | head -3)"
"$cove" templates | grep -qE "^tiny .* yes( |$)" && "$cove" templates | grep -qE "^built .* yes( |$)"
check "cove templates says the templates have a snapshot (the built one too)" $? "$("$cove" templates)"
"$cove" kill "$id"
kill -TERM "$coved_pid"; wait "$coved_pid"; coved_pid=""
rm -rf "$base/templates/built" "$base/templates/tinyxx" # the warm pool below is tiny's alone

# A warm pool: coved keeps a restored, paused sandbox ready; a create claims
# it (resume and /init only) and the pool fills again.
: >"$base/coved.log"
start_coved "$base/coved.log" --api-key snap --templates "$base/templates" --net-pool 1 --warm-pool 1 ||
    { echo "not ok - coved did not start"; cat "$base/coved.log"; exit 1; }
export COVE_URL=$coved_url
warmed() { grep -c "op=warm template=tiny" "$base/coved.log"; }
for _ in $(seq 1 300); do [ "$(warmed)" -ge 1 ] && break; sleep 0.05; done
[ "$(warmed)" = 1 ] && [ "$(qemus)" = 1 ]; check "--warm-pool 1 keeps one restored sandbox ready" $? "warmed=$(warmed) qemu=$(qemus)"
w=$(sed -n 's/.*sandbox=\([a-z0-9]*\) op=warm template=tiny.*/\1/p' "$base/coved.log" | head -1)
id=$("$cove" create --template tiny -e FROM=pool 2>"$base/err")
out=$("$cove" exec "$id" -- sh -c 'echo $FROM')
[ "$id" = "$w" ] && [ "$out" = pool ] && grep -q "sandbox=$id op=start from=warm" "$base/coved.log"
check "a create claims it: resumed, with the create's environment" $? "warm=$w id=$id out=$out $(cat "$base/err")" "$(grep "$id" "$base/coved.log" | head -3)"
for _ in $(seq 1 300); do [ "$(warmed)" -ge 2 ] && break; sleep 0.05; done
[ "$(warmed)" = 2 ] && [ "$(qemus)" = 2 ] && curl -s -H "X-API-KEY: snap" "$COVE_URL/metrics" | grep -q '^cove_warm_pool 1$'
check "... and the pool fills again (cove_warm_pool in /metrics)" $? "warmed=$(warmed) qemu=$(qemus)"
id2=$("$cove" create --template tiny)
t1=$(curl -s -H "X-API-KEY: snap" "$COVE_URL/sandboxes/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["envdAccessToken"])')
t2=$(curl -s -H "X-API-KEY: snap" "$COVE_URL/sandboxes/$id2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["envdAccessToken"])')
r1=$("$cove" exec "$id" -- sh -c 'head -c 16 /dev/urandom | od -An -tx1'); r2=$("$cove" exec "$id2" -- sh -c 'head -c 16 /dev/urandom | od -An -tx1')
[ ${#t1} = 64 ] && [ "$t1" != "$t2" ] && [ -n "$r1" ] && [ "$r1" != "$r2" ]
check "claimed sandboxes have their own tokens and random numbers" $? "$t1 $t2 / $r1 / $r2"
"$cove" kill "$id" "$id2"
kill -TERM "$coved_pid"; wait "$coved_pid"; coved_pid=""
[ "$(qemus)" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ] && [ -z "$(sqlite3 "$COVE_STATE_DIR/cove.db" 'select id from sandboxes' 2>/dev/null)" ]
check "nothing is left behind (the warm ones end with coved)" $? "qemu=$(qemus) run=$(ls "$COVE_RUN_DIR")"

# A template's start and ready commands (last: the checks above count
# what coved and the warm pool leave): the snapshot is taken once the
# ready command succeeds, with what the start command started running in
# every sandbox restored from it.
cp -r "$base/templates/tiny" "$base/templates/svc" && rm -rf "$base/templates/svc/snapshot"
printf '\nstart_cmd=sleep 1; echo up >/tmp/svc-flag; echo started; exec sleep 100000\nready_cmd=test -f /tmp/svc-flag\nready_timeout=60\n' \
    >>"$base/templates/svc/template.conf"
"$cove" template snapshot svc 2>"$base/err"; rc=$?
out=$(COVE_LOG=info "$cove" run --template svc -- sh -c 'cat /tmp/svc-flag; ps | grep -c "[s]leep 100000"; cat /tmp/cove-start.log' 2>"$base/run.err")
[ $rc = 0 ] && [ "$out" = "$(printf 'up\n1\nstarted')" ] && grep -q "op=start from=snapshot" "$base/run.err"
check "a template's start command runs before its snapshot, and its ready command says when" $? "rc=$rc out=$out $(cat "$base/err")"
cp -r "$base/templates/tiny" "$base/templates/never" && rm -rf "$base/templates/never/snapshot"
printf '\nstart_cmd=echo the service failed >&2; exit 1\nready_cmd=echo not yet; sleep 1000\nready_timeout=2\n' \
    >>"$base/templates/never/template.conf"
t0=$(date +%s)
"$cove" template snapshot never 2>"$base/err"; rc=$?
took=$(( $(date +%s) - t0 ))
[ $rc != 0 ] && grep -q "ready command 'echo not yet; sleep 1000' did not succeed within 2 s" "$base/err" &&
    grep -q "output: not yet" "$base/err" && grep -q "the service failed" "$base/err" && [ "$took" -lt 30 ] &&
    [ ! -e "$base/templates/never/snapshot" ] && [ ! -e "$base/templates/never/snapshot.tmp" ] && [ "$(qemus)" = 0 ]
check "a ready command that hangs or never succeeds fails the snapshot at its time limit, saying why, leaving nothing" $? \
    "rc=$rc took=${took}s qemu=$(qemus) $(cat "$base/err")"
echo "1..$n"
