#!/bin/bash
# Pause to disk with real guests under a real coved: a paused sandbox is
# saved whole (RAM, device state, its disk) and its VMM ended, survives a
# kill -9 of coved, and resumes with its files, a background process and its
# environment; and the faults: the VMM killed during a pause and during a
# resume, and a full disk during a pause, each leave the sandbox in a
# defined state; a VMM left paused by an operation coved died in runs again
# when coved starts. And fork: children that carry on from a sandbox's state,
# each on its own. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_snapshot tiny
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-pause.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
saved=$COVE_STATE_DIR/saved
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    umount "$saved" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
mkdir -p "$saved"
restart() {
    start_coved "$base/coved.log" --net-pool 1 --api-key pause-key "$@" ||
        { not_ok "coved starts" "$(tail -5 "$base/coved.log")"; exit 1; }
    export COVE_URL=$coved_url COVE_API_KEY=pause-key
}
restart
qemu_of() { pgrep -f "qemu-system.*cove-$1" | head -1; }
used_slots() { "$cove" net ls | sed 1d | grep -c used; }
state_of() { "$cove" ls --json | python3 -c 'import json,sys; d={s["sandboxID"]:s["state"] for s in json.load(sys.stdin)}; print(d.get(sys.argv[1],"gone"))' "$1"; }

# --- pause, kill -9 coved, restart, resume ---
id=$("$cove" create --template tiny --timeout 300 -e GREETING=hello 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]] || { not_ok "create" "$id $(cat "$base/err")"; exit 1; }
"$cove" exec "$id" -- sh -c 'echo kept >/root/file; (i=0; while :; do i=$((i+1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done) >/dev/null 2>&1 & echo $! >/tmp/bg'
sleep 1
used_kib=$("$cove" exec "$id" -- awk '/^MemTotal/ {t=$2} /^MemFree/ {f=$2} END {print t-f}' /proc/meminfo)
slots_before=$(used_slots)
"$cove" pause "$id" 2>"$base/err"; rc=$?
[ $rc = 0 ] && [ "$(state_of "$id")" = paused ] && [ -z "$(qemu_of "$id")" ] && [ -s "$saved/$id/state" ] &&
    [ -s "$saved/$id/disk.qcow2" ] && [ "$(used_slots)" -lt "$slots_before" ]
check "pause saves the sandbox to disk, ends its VMM and frees its slot" $? \
    "rc=$rc $(cat "$base/err") state=$(state_of "$id") qemu=$(qemu_of "$id") slots=$slots_before->$(used_slots) $(ls "$saved/$id" 2>&1)"
# Its RAM is a private mapping of the template snapshot's memory file: the
# saved copy links that file and holds only the pages that differ from it,
# much less than what the guest has in use (all of which a whole save
# holds).
state_kib=$(( $(stat -c %s "$saved/$id/state") / 1024 ))
[ "$(stat -c %i "$saved/$id/memory")" = "$(stat -c %i "$COVE_TEMPLATES/tiny/snapshot/memory")" ] &&
    [ "${used_kib:-0}" -gt 0 ] && [ "$state_kib" -lt $((used_kib / 2)) ]
check "the saved RAM is what differs from the template snapshot's memory, which is linked" $? \
    "state=${state_kib}K guest in use=${used_kib}K $(ls -li "$saved/$id" "$COVE_TEMPLATES/tiny/snapshot/memory")"
grep -q "sandbox=$id op=pause template=tiny to=disk" "$base/coved.log" &&
    curl -s -H "X-API-KEY: pause-key" "$COVE_URL/metrics" | grep -q '^cove_sandboxes_saved 1$'
check "coved logs the pause to disk, and /metrics counts it" $?
db=$(curl -s -H "X-API-KEY: pause-key" "$COVE_URL/sandboxes/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["diskBytes"])')
# Its own bytes: the files it links with the template are not its own.
du=$(find "$saved/$id" \( -type d -o -links 1 \) -printf '%b\n' | awk '{s += $1 * 512} END {print s}')
[ "$db" -ge $((du * 9 / 10)) ] && [ "$db" -le $((du * 11 / 10)) ] && "$cove" ls | grep -q "^$id .* paused .*M "
check "the API and cove ls report what the paused sandbox takes on disk" $? "diskBytes=$db du=$du $("$cove" ls)"
curl -s -H "X-API-KEY: pause-key" "$COVE_URL/templates" |
    python3 -c 'import json,sys; t=[t for t in json.load(sys.stdin) if t["templateID"]=="tiny"][0]; assert t["snapshotBytes"] > 0 and t["diskBytes"] > t["snapshotBytes"]'
check "GET /templates reports each template's disk use, its snapshot's apart" $?

kill -9 "$coved_pid"; wait "$coved_pid" 2>/dev/null
restart
[ "$(state_of "$id")" = paused ]; check "a sandbox paused to disk is still paused after kill -9 of coved" $? "$(state_of "$id")"
"$cove" resume "$id" 2>"$base/err"; rc=$?
out=$("$cove" exec "$id" -- sh -c 'cat /root/file; a=$(cat /tmp/count); sleep 0.5; b=$(cat /tmp/count); [ "$b" -gt "$a" ] && echo counting; echo $GREETING; cat /proc/$(cat /tmp/bg)/environ | tr "\0" "\n" | grep -c GREETING=hello' 2>&1)
[ $rc = 0 ] && [ "$out" = "$(printf 'kept\ncounting\nhello\n1')" ] && [ -n "$(qemu_of "$id")" ] && [ ! -e "$saved/$id" ]
check "resume brings back its files, a running background process and its environment" $? "rc=$rc $(cat "$base/err") out=$out"
n_guest=$("$cove" exec "$id" -- cat /tmp/count)
[ "${n_guest:-0}" -ge 10 ]; check "... which carried on from where it was (count $n_guest)" $?
date_guest=$("$cove" exec "$id" -- date +%s); now=$(date +%s)
[ $(( now - date_guest )) -le 2 ] && [ $(( date_guest - now )) -le 2 ]
check "the resumed guest has the host's clock" $? "guest=$date_guest host=$now"

# A second round in the same coved, then kill: nothing stays.
"$cove" pause "$id" && "$cove" resume "$id" && [ "$("$cove" exec "$id" -- cat /root/file)" = kept ]
check "pause and resume again" $?
"$cove" pause "$id" && "$cove" kill "$id"
[ ! -e "$saved/$id" ] && [ "$(state_of "$id")" = gone ] && [ -z "$(ls "$saved")" ]
check "killing a paused sandbox removes what was saved" $? "$(ls -la "$saved")"

# --- fork ---
# A sandbox with a counter running forks two children: each carries on from
# the parent's state on its own (its own counter, files, token, random
# numbers), and the parent runs on.
id=$("$cove" create --template tiny --timeout 300 -e GREETING=forked)
"$cove" exec "$id" -- sh -c 'echo parent >/root/who; (i=0; while :; do i=$((i+1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done) >/dev/null 2>&1 & echo $! >/tmp/bg'
sleep 1
before=$("$cove" exec "$id" -- cat /tmp/count)
kids=$("$cove" fork -n 2 "$id" 2>"$base/err"); rc=$?
k1=$(echo "$kids" | sed -n 1p); k2=$(echo "$kids" | sed -n 2p)
[ $rc = 0 ] && [[ "$k1" =~ ^[a-z0-9]{20}$ ]] && [[ "$k2" =~ ^[a-z0-9]{20}$ ]] && [ "$k1" != "$k2" ] &&
    [ "$(state_of "$k1")" = running ] && [ "$(state_of "$k2")" = running ] && [ "$(state_of "$id")" = running ]
check "cove fork -n 2 makes two running children and the parent runs on" $? "rc=$rc $(cat "$base/err") kids=$kids"
c1=$("$cove" exec "$k1" -- sh -c 'cat /root/who; echo $GREETING; cat /tmp/count')
c2=$("$cove" exec "$k2" -- sh -c 'cat /root/who; echo $GREETING; cat /tmp/count')
v1=$(echo "$c1" | sed -n 3p); v2=$(echo "$c2" | sed -n 3p)
[ "$(echo "$c1" | head -2)" = "$(printf 'parent\nforked')" ] && [ "$(echo "$c2" | head -2)" = "$(printf 'parent\nforked')" ] &&
    [ "${v1:-0}" -ge "$before" ] && [ "${v2:-0}" -ge "$before" ]
check "each child has the parent's files, environment and counter (from $before)" $? "c1=$c1 c2=$c2 before=$before"
# Their RAM is one file, the parent's RAM as it was, that both map
# privately: every page they have not written since is shared.
mem_of() { local q; q=$(qemu_of "$1"); [ -n "$q" ] && awk '$6 ~ /\/memory$/ {print $4 ":" $5; exit}' "/proc/$q/maps"; }
m1=$(mem_of "$k1"); m2=$(mem_of "$k2"); mp=$(mem_of "$id")
[ -n "$m1" ] && [ "$m1" = "$m2" ] && [ "$m1" != "$mp" ]
check "the children map one file of the parent's RAM (shared pages), not the template's" $? "k1=$m1 k2=$m2 parent=$mp"
"$cove" exec "$k1" -- sh -c 'kill $(cat /tmp/bg); echo mine >/root/k1'
a=$("$cove" exec "$k1" -- cat /tmp/count); sleep 0.6
b=$("$cove" exec "$k1" -- cat /tmp/count); x=$("$cove" exec "$k2" -- cat /tmp/count); sleep 0.6
y=$("$cove" exec "$k2" -- cat /tmp/count); p=$("$cove" exec "$id" -- cat /tmp/count)
[ "$a" = "$b" ] && [ "$y" -gt "$x" ] && [ "$p" -gt "$before" ] &&
    ! "$cove" exec "$k2" -- cat /root/k1 >/dev/null 2>&1 && ! "$cove" exec "$id" -- cat /root/k1 >/dev/null 2>&1
check "... and goes on independently: stopping one child's counter or writing its disk touches no other" $? \
    "k1: $a->$b k2: $x->$y parent: $before->$p"
r1=$("$cove" exec "$k1" -- sh -c 'head -c 16 /dev/urandom | od -An -tx1')
r2=$("$cove" exec "$k2" -- sh -c 'head -c 16 /dev/urandom | od -An -tx1')
tok() { curl -s -H "X-API-KEY: pause-key" "$COVE_URL/sandboxes/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["envdAccessToken"])'; }
tp=$(tok "$id"); t1=$(tok "$k1"); t2=$(tok "$k2")
[ -n "$r1" ] && [ "$r1" != "$r2" ] && [ ${#t1} = 64 ] && [ "$t1" != "$t2" ] && [ "$t1" != "$tp" ] && [ "$t2" != "$tp" ]
check "each child has its own token and random numbers" $? "$r1 / $r2 tokens: $tp $t1 $t2"
k3=""
"$cove" pause "$id" && k3=$("$cove" fork "$id") && [ "$("$cove" exec "$k3" -- cat /root/who)" = parent ] &&
    [ "$(state_of "$id")" = paused ] && [ -s "$saved/$id/state" ]
check "a sandbox paused to disk forks too, and stays paused" $? "k3=$k3 state=$(state_of "$id")"
"$cove" fork -n 101 "$id" 2>/dev/null; rc=$?
[ $rc = 2 ]; check "fork -n beyond 100 is a usage error" $? "rc=$rc"
"$cove" fork nosuchsandbox000000 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "not found" "$base/err"; check "fork of an unknown sandbox: not found" $? "rc=$rc $(cat "$base/err")"
"$cove" kill "$id" "$k1" "$k2" "$k3"
[ -z "$(ls "$saved")" ]; check "killing them leaves nothing saved (the fork's copy went with it)" $? "$(ls "$saved")"

# --- faults ---
# The VMM dies during a pause (stopped so that the pause is under way, then
# killed): the sandbox is ended with everything freed, not half paused.
id=$("$cove" create --template tiny --timeout 300)
q=$(qemu_of "$id")
kill -STOP "$q"
"$cove" pause "$id" 2>"$base/err" & p=$!
sleep 0.5
kill -9 "$q"; wait $p; rc=$?
sleep 0.2
[ $rc != 0 ] && grep -q "VMM died during the pause" "$base/err" && [ "$(state_of "$id")" = gone ] &&
    [ ! -e "$saved/$id" ] && [ ! -e "$saved/$id.tmp" ] && [ ! -e "$COVE_RUN_DIR/$id" ]
check "the VMM killed during a pause: an error saying so, and the sandbox ended with nothing left" $? \
    "rc=$rc $(cat "$base/err") state=$(state_of "$id") $(ls "$saved" "$COVE_RUN_DIR")"

# The VMM dies during a resume: the resume fails, the sandbox stays paused
# with what was saved, and the next resume works.
id=$("$cove" create --template tiny --timeout 300)
"$cove" exec "$id" -- sh -c 'echo survives >/root/file'
"$cove" pause "$id"
"$cove" resume "$id" 2>"$base/err" & p=$!
for _ in $(seq 1 400); do q=$(qemu_of "$id"); [ -n "$q" ] && break; sleep 0.005; done
[ -n "$q" ] && kill -9 "$q"; wait $p; rc=$?
[ $rc != 0 ] && [ "$(state_of "$id")" = paused ] && [ -s "$saved/$id/state" ]
check "the VMM killed during a resume: an error, and the sandbox stays paused" $? \
    "rc=$rc qemu=$q $(cat "$base/err") state=$(state_of "$id")"
"$cove" resume "$id" 2>"$base/err" && [ "$("$cove" exec "$id" -- cat /root/file)" = survives ]
check "... and resumes whole on the next try" $? "$(cat "$base/err")"

# A full disk during a pause: the sandbox keeps running, nothing half made.
# The saved sandboxes go on a small file system of their own from here, so
# that the test can fill it (away from the template, all of the RAM is
# saved: a link to its memory file cannot cross file systems).
[ -z "$(ls "$saved")" ] && mount -t tmpfs -o size=256m cove-pause-test "$saved"
check "nothing is saved while it runs (a small file system mounted for the saved copies)" $? "$(ls "$saved")"
free_kib=$(df -k --output=avail "$saved" | tail -1)
fallocate -l $(( (free_kib - 2048) * 1024 )) "$saved/filler"
"$cove" pause "$id" 2>"$base/err"; rc=$?
[ $rc != 0 ] && grep -qi "no space" "$base/err" && [ "$(state_of "$id")" = running ] &&
    [ "$("$cove" exec "$id" -- cat /root/file)" = survives ] && [ "$(ls "$saved")" = filler ]
check "a full disk during a pause: a clear error, the sandbox runs on, no partial save" $? \
    "rc=$rc $(cat "$base/err") state=$(state_of "$id") $(ls "$saved")"
rm -f "$saved/filler"
"$cove" pause "$id" && "$cove" resume "$id" && [ "$("$cove" exec "$id" -- cat /root/file)" = survives ]
check "... and pauses once there is room" $?
"$cove" kill "$id"

# A VMM left paused by a pause, fork or snapshot coved died in (it stopped
# the guest, then was killed before it resumed it or recorded the pause):
# nothing was acknowledged and the record says running, so the next start
# resumes it rather than keep a sandbox nobody paused.
qmp_stop() {
    python3 - "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile('rw')
f.readline()
for cmd in ('qmp_capabilities', 'stop', 'query-status'):
    f.write(json.dumps({'execute': cmd}) + '\n'); f.flush()
    while True:
        r = json.loads(f.readline())
        if 'return' in r or 'error' in r:
            break
print(r.get('return', {}).get('status', r))
PY
}
id=$("$cove" create --template tiny --timeout 300 2>"$base/err")
"$cove" exec "$id" -- sh -c 'echo alive >/root/file'
kill -9 "$coved_pid"; wait "$coved_pid" 2>/dev/null
r=$(qmp_stop "$COVE_RUN_DIR/$id/qmp.sock" 2>&1)
restart
out=$("$cove" exec "$id" -- cat /root/file 2>&1)
[ "$r" = paused ] && [ "$(state_of "$id")" = running ] && [ "$out" = alive ] &&
    grep -q "sandbox=$id op=adopt msg=\"resumed: left paused" "$base/coved.log"
check "a sandbox left paused by an operation coved died in runs again after coved starts" $? \
    "qmp: $r state=$(state_of "$id") exec: $out $(grep "sandbox=$id op=adopt" "$base/coved.log")"
"$cove" kill "$id"

# Nothing is left: no VMM, slot, saved state or run directory.
for _ in $(seq 1 50); do [ "$(used_slots)" = 0 ] && break; sleep 0.1; done
q=$(vmm_pids "$COVE_RUN_DIR" | wc -l)
[ "$q" = 0 ] && [ "$(used_slots)" = 0 ] && [ -z "$(ls "$saved")" ] && [ -z "$(ls "$COVE_RUN_DIR" 2>/dev/null)" ]
check "nothing is left behind" $? "qemu=$q slots=$(used_slots) saved=$(ls "$saved") run=$(ls "$COVE_RUN_DIR" 2>/dev/null)"
echo "1..$n"
