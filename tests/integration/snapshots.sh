#!/bin/bash
# Snapshots with real guests under a real coved, through the CLI and curl:
# cove snapshot / snapshots / snapshot rm and creates from a snapshot; bad
# names, unknown ids, a snapshot of a paused sandbox and two at once (409),
# DELETE of a template (501); disk use in the listing and /metrics;
# snapshots that outlast restarts of coved; a deleted snapshot that a
# sandbox still uses (its files stay until that sandbox ends); and a kill -9
# of coved during a snapshot (nothing half made after the restart). The
# SDK's scenarios are tests/e2b/coved/snapshots.test.mjs. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_snapshot tiny
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-snapshots.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
snaps=$COVE_STATE_DIR/snapshots
coved_pid="" stopped=""
cleanup() {
    [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
restart() {
    start_coved "$base/coved.log" --net-pool 1 --api-key snap-key ||
        { not_ok "coved starts" "$(tail -5 "$base/coved.log")"; exit 1; }
    export COVE_URL=$coved_url COVE_API_KEY=snap-key
}
out=$base/out
api() { # api METHOD PATH [BODY] -> body in $out, status echoed
    local m=$1 p=$2; shift 2
    curl -s -o "$out" -w '%{http_code}' -X "$m" -H "X-API-KEY: snap-key" -H 'Content-Type: application/json' \
        ${1:+--data-binary "$1"} "$COVE_URL$p"
}
qemu_of() { pgrep -f "qemu-system.*cove-$1" | head -1; }
state_of() { "$cove" ls --json | python3 -c 'import json,sys; d={s["sandboxID"]:s["state"] for s in json.load(sys.stdin)}; print(d.get(sys.argv[1],"gone"))' "$1"; }
listed() { "$cove" snapshots --json | python3 -c 'import json,sys; print(" ".join(s["snapshotID"] for s in json.load(sys.stdin)))'; }
metric() { curl -s -H "X-API-KEY: snap-key" "$COVE_URL/metrics" | sed -n "s/^$1 //p"; }
restart

id=$("$cove" create --template tiny --timeout 900 -e GREETING=hello 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]] || { not_ok "create" "$id $(cat "$base/err")"; exit 1; }
"$cove" exec "$id" -- sh -c 'echo one >/root/file'

# --- the CLI ---
sid=$("$cove" snapshot "$id" 2>"$base/err"); rc=$?
dir=$snaps/${sid%:default}
[ $rc = 0 ] && [[ "$sid" =~ ^[a-z0-9]{20}:default$ ]] && [ -s "$dir/memory" ] && [ -s "$dir/state" ] &&
    [ "$(state_of "$id")" = running ] && [ "$("$cove" exec "$id" -- cat /root/file)" = one ]
check "cove snapshot ID prints its id; its files are in STATE_DIR/snapshots; the sandbox runs on" $? \
    "rc=$rc sid=$sid $(cat "$base/err") $(ls -la "$dir" 2>&1) state=$(state_of "$id")"
grep -q "sandbox=$id op=snapshot snapshot=${sid%:default} id=$sid pause_ms=" "$base/coved.log"
check "coved logs the snapshot and how long the sandbox was paused" $? "$(grep op=snapshot "$base/coved.log")"
named=$("$cove" snapshot --name Web:V1 "$id" 2>"$base/err")
[ "$named" = web:v1 ]; check "cove snapshot --name NAME:TAG (E2B's names, lower-cased)" $? "$named $(cat "$base/err")"
"$cove" snapshots >"$base/ls"
[ "$(sed 1d "$base/ls" | wc -l)" = 2 ] && head -1 "$base/ls" | grep -q "^SNAPSHOT ID" &&
    sed -n 2p "$base/ls" | grep -q "^web:v1 .* web:v1 .* $id .* tiny .*M *$" && sed -n 3p "$base/ls" | grep -q "^$sid .* - .* $id "
check "cove snapshots lists them newest first, with name, sandbox, template and disk use" $? "$(cat "$base/ls")"
"$cove" snapshots --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [s["names"] for s in d] == [["web:v1"], []], d
assert all(s["diskBytes"] > 1 << 20 and s["sandboxID"] == sys.argv[1] and s["templateID"] == "tiny" for s in d), d' "$id"
check "cove snapshots --json: names, diskBytes, sandboxID, templateID" $? "$("$cove" snapshots --json)"
[ "$("$cove" snapshots --name web | sed 1d | wc -l)" = 1 ] && [ "$("$cove" snapshots --sandbox "$id" | sed 1d | wc -l)" = 2 ] &&
    [ "$("$cove" snapshots --name other | sed 1d | wc -l)" = 0 ] && [ "$("$cove" snapshots --sandbox nosuch | sed 1d | wc -l)" = 0 ]
check "cove snapshots --name and --sandbox filter" $? "$("$cove" snapshots --name web)"
[ "$(metric cove_snapshots)" = 2 ] && [ "$(metric cove_snapshots_disk_bytes)" -gt $((2 << 20)) ]
check "/metrics counts the snapshots and what they take on disk" $? "$(metric cove_snapshots) $(metric cove_snapshots_disk_bytes)"
kid=$("$cove" create --template web:v1 2>"$base/err")
[[ "$kid" =~ ^[a-z0-9]{20}$ ]] && [ "$("$cove" exec "$kid" -- sh -c 'cat /root/file; echo $GREETING')" = "$(printf 'one\nhello')" ] &&
    "$cove" ls | grep -q "^$kid  web:v1 "
check "cove create --template NAME:TAG starts from the snapshot (files, environment); its template is the snapshot's id" $? \
    "kid=$kid $(cat "$base/err") $("$cove" ls)"
# Its RAM is a private mapping of the snapshot's RAM file (seen in the
# VMM's own mount namespace: the same inode).
q=$(qemu_of "$kid")
wdir=$snaps/$(ls "$snaps" | grep -v "^${sid%:default}$")
[ -n "$q" ] && [ "$(awk '$6 ~ /\/memory$/ {print $5; exit}' "/proc/$q/maps")" = "$(stat -c %i "$wdir/memory")" ] &&
    awk '$6 ~ /\/memory$/ {print $2; exit}' "/proc/$q/maps" | grep -q p
check "... its RAM a private mapping of the snapshot's RAM file" $? "$(grep memory "/proc/$q/maps" 2>&1 | head -2) $(ls -i "$wdir")"
"$cove" kill "$kid"

# --- bad input ---
long=$(printf 'a%.0s' $(seq 1 60))
for body in '{"name":"a b"}|invalid name' '{"name":5}|name must be a string' '{"name":""}|it is empty' \
    '{"name":"tiny"}|a template has that name' "{\"name\":\"$long\"}|at most 63 characters" \
    '{"name":"x:123e4567-e89b-12d3-a456-426614174000"}|a tag cannot be a UUID' '[1]|not a JSON object'; do
    s=$(api POST "/sandboxes/$id/snapshots" "${body%%|*}")
    [ "$s" = 400 ] && grep -q "${body##*|}" "$out"; check "snapshot with ${body%%|*}: 400 saying why" $? "$s $(cat "$out")"
done
s=$(api POST /sandboxes/nosuchsandbox0000000/snapshots '{}')
[ "$s" = 404 ] && grep -q '"code": *404' "$out"; check "a snapshot of an unknown sandbox: 404" $? "$s $(cat "$out")"
for q in 'limit=0|limit must be 1 to 100' 'limit=101|limit must be 1 to 100' 'nextToken=x|is not one this server gave' \
    'name=a%20b|invalid name'; do
    s=$(api GET "/snapshots?${q%%|*}")
    [ "$s" = 400 ] && grep -q "${q##*|}" "$out"; check "GET /snapshots?${q%%|*}: 400" $? "$s $(cat "$out")"
done
s=$(api DELETE /templates/nosuch)
[ "$s" = 404 ] && grep -q "snapshot 'nosuch' not found" "$out"; check "DELETE of an unknown snapshot: 404" $? "$s $(cat "$out")"
s=$(api DELETE /templates/tiny)
[ "$s" = 501 ] && grep -q '"code": *501' "$out" && grep -q "not supported by Cove" "$out"
check "DELETE of a template: 501, not supported by Cove" $? "$s $(cat "$out")"
s=$(api DELETE '/templates/a%20b')
[ "$s" = 400 ]; check "DELETE of a bad name: 400" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"nosuch:v9"}')
[ "$s" = 400 ] && grep -q "snapshot 'nosuch:v9' not found" "$out"; check "a create from an unknown snapshot: 400, not found" $? "$s $(cat "$out")"

# --- 409: paused, or a snapshot of it under way ---
"$cove" pause "$id"
s=$(api POST "/sandboxes/$id/snapshots" '{}')
[ "$s" = 409 ] && grep -q "is paused" "$out"; check "a snapshot of a paused sandbox: 409" $? "$s $(cat "$out")"
"$cove" resume "$id"
pids=""
for i in 1 2; do
    curl -s -o "$base/c$i" -w '%{http_code}' -X POST -H "X-API-KEY: snap-key" -d '{}' "$COVE_URL/sandboxes/$id/snapshots" >"$base/s$i" &
    pids="$pids $!"
done
wait $pids
codes=$(cat "$base/s1" "$base/s2" | fold -w3 | sort | tr '\n' ' ')
[ "$codes" = "201 409 " ] && grep -q "being paused, resumed, forked or snapshotted" "$base/c1" "$base/c2"
check "two snapshots of one sandbox at once: one is made, the other 409" $? "$codes $(cat "$base/c1" "$base/c2")"
for i in 1 2; do
    sid2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("snapshotID",""))' "$base/c$i" 2>/dev/null)
    [ -n "$sid2" ] && "$cove" snapshot rm "$sid2"
done

# --- a deleted snapshot a sandbox still uses ---
used=$("$cove" snapshot "$id"); udir=$snaps/${used%:default}
child=$("$cove" create --template "$used")
"$cove" snapshot rm "$used" 2>"$base/err"; rc=$?
[ $rc = 0 ] && [[ " $(listed) " != *" $used "* ]] && [ -d "$udir" ] && [ "$("$cove" exec "$child" -- cat /root/file)" = one ] &&
    ! "$cove" create --template "$used" 2>/dev/null
check "cove snapshot rm: gone from the list and for creates, its files kept while a sandbox uses them" $? \
    "rc=$rc $(cat "$base/err") listed=$(listed) $(ls "$snaps")"
"$cove" snapshot rm "$used" 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "not found" "$base/err"; check "... and rm again: not found" $? "rc=$rc $(cat "$base/err")"
"$cove" pause "$child" &&
    [ "$(stat -c %i "$COVE_STATE_DIR/saved/$child/memory")" = "$(stat -c %i "$udir/memory")" ] &&
    "$cove" resume "$child" && [ "$("$cove" exec "$child" -- cat /root/file)" = one ]
check "... its sandbox pauses (saved over the snapshot's RAM file, linked) and resumes" $? "$(ls -li "$COVE_STATE_DIR/saved" "$udir" 2>&1)"
kill -9 "$coved_pid"; wait "$coved_pid" 2>/dev/null
restart
[ -d "$udir" ] && [ "$("$cove" exec "$child" -- cat /root/file)" = one ] && [[ " $(listed) " != *" $used "* ]]
check "... which a kill -9 of coved and a restart do not change" $? "$(ls "$snaps") listed=$(listed)"
"$cove" kill "$child"
[ ! -e "$udir" ] && [ "$(metric cove_snapshots)" = 2 ]
check "... and once that sandbox ends, its files go" $? "$(ls -la "$snaps") $(metric cove_snapshots)"

# --- across a restart of coved (which ends the running sandboxes) ---
kill -TERM "$coved_pid"; wait "$coved_pid" 2>/dev/null
restart
kid=$("$cove" create --template "$sid" 2>"$base/err")
[ "$(listed)" = "web:v1 $sid" ] && [ "$("$cove" exec "$kid" -- cat /root/file)" = one ]
check "snapshots outlast a restart of coved, and sandboxes are made from them after it" $? "listed=$(listed) $(cat "$base/err")"
"$cove" kill "$kid"
id=$("$cove" create --template tiny --timeout 900)
"$cove" exec "$id" -- sh -c 'echo one >/root/file'

# --- kill -9 of coved during a snapshot ---
# The sandbox's VMM is stopped so that the save hangs, coved is killed with
# the snapshot half made, then the VMM goes on.
q=$(qemu_of "$id")
kill -STOP "$q"; stopped=$q
api POST "/sandboxes/$id/snapshots" '{"name":"cut"}' >/dev/null &
cut=$!
for _ in $(seq 1 100); do compgen -G "$snaps/*.tmp" >/dev/null && break; sleep 0.05; done
half=$(ls "$snaps")
kill -9 "$coved_pid"; wait "$coved_pid" "$cut" 2>/dev/null
kill -CONT "$q"; stopped=""
restart
making=$(sqlite3 "$COVE_STATE_DIR/cove.db" "SELECT COUNT(*) FROM snapshots WHERE state != 'ready'" 2>&1)
[[ "$half" == *.tmp* ]] && [ "$(ls "$snaps" | wc -l)" = 2 ] && ! compgen -G "$snaps/*.tmp" >/dev/null && [ "$making" = 0 ] &&
    [ "$(listed)" = "web:v1 $sid" ]
check "a kill -9 of coved during a snapshot leaves nothing half made after the restart" $? \
    "before: $half after: $(ls "$snaps") records not ready: $making listed=$(listed)"
[ "$(state_of "$id")" = paused ] && "$cove" resume "$id"
[ "$("$cove" exec "$id" -- cat /root/file)" = one ]
check "... and the sandbox it was of carries on" $? "state=$(state_of "$id")"

# --- deleting all: nothing stays ---
"$cove" snapshot rm web:v1 "$sid" && "$cove" kill "$id"
[ -z "$(ls "$snaps")" ] && [ "$(metric cove_snapshots)" = 0 ] && [ "$(metric cove_snapshots_disk_bytes)" = 0 ] &&
    [ "$(sqlite3 "$COVE_STATE_DIR/cove.db" 'SELECT COUNT(*) FROM snapshots; SELECT COUNT(*) FROM sandbox_snapshots' | tr '\n' ' ')" = "0 0 " ]
check "deleting them leaves no file and no record" $? "$(ls "$snaps") $(metric cove_snapshots)"
echo "1..$n"
