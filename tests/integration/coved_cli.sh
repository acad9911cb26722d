#!/bin/bash
# The cove CLI against a real coved with real guests: create, ls, exec (exit
# codes, streams), cp both ways, shell (a terminal fed from a pipe), pause,
# resume, logs, templates, kill, volumes, `cove run` through coved, and the
# errors a user meets (unknown sandbox, no coved, wrong key, `cove host` on a
# single host). Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
coved=$build/bin/coved
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-cli.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    unmount_under "$base"
    rm -rf "$base"
}
trap cleanup EXIT

start_coved "$base/coved.log" --net-pool 1 || { echo "not ok 1 - coved did not start"; sed 's/^/# /' "$base/coved.log"; exit 1; }
pid=$coved_pid
export COVE_URL=$coved_url
# The key comes from COVE_STATE_DIR/api-key, where coved made it.
qemus() { vmm_pids "$COVE_RUN_DIR" | wc -l; }

id=$("$cove" create --template tiny --timeout 120 --meta owner=cli --meta job=t1 -e GREETING=hello 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]]; check "create prints the new sandbox's id" $? "$id $(cat "$base/err")"
"$cove" ls >"$base/ls"
head -1 "$base/ls" | grep -q '^SANDBOX ID' && grep -q "^$id  tiny  *running .*owner=cli" "$base/ls"
check "ls: a table with the sandbox, its state and metadata" $? "$(cat "$base/ls")"
"$cove" ls --json --meta owner=cli >"$base/ls.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==1 and d[0]["sandboxID"]==sys.argv[2]' "$base/ls.json" "$id"
check "ls --json --meta filters" $? "$(cat "$base/ls.json")"
[ "$("$cove" ls --meta owner=nobody | wc -l)" = 1 ]; check "ls: a filter that matches nothing gives only the header" $?

out=$("$cove" exec "$id" -- sh -c 'echo "$GREETING out"; echo err >&2; exit 7' 2>"$base/err"); rc=$?
[ "$out" = "hello out" ] && [ "$(cat "$base/err")" = err ] && [ $rc = 7 ]
check "exec: stdout and stderr apart, the exit code propagates, create's env is there" $? "rc=$rc out=$out err=$(cat "$base/err")"
"$cove" exec -e X=1 -w /tmp "$id" sh -c 'echo $X $(pwd)' >"$base/out"; [ "$(cat "$base/out")" = "1 /tmp" ]
check "exec -e -w (without --)" $? "$(cat "$base/out")"
"$cove" exec "$id" -- no-such-command 2>/dev/null; rc=$?
[ $rc = 127 ]; check "exec of a missing command exits 127" $? "rc=$rc"
"$cove" exec "$id" -- sh -c 'kill -9 $$'; rc=$?
[ $rc = 137 ]; check "exec of a command killed by SIGKILL exits 137" $? "rc=$rc"
"$cove" exec "$id" -- sh -c 'echo started; exec sleep 300' >"$base/out" & ex=$!
for _ in $(seq 1 100); do grep -q started "$base/out" && break; sleep 0.05; done
kill -INT $ex; wait $ex; rc=$?
left=$("$cove" exec "$id" -- sh -c 'ps | grep -v grep | grep -c "sleep 300"')
[ $rc = 130 ] && [ "$left" = 0 ]; check "Ctrl-C on exec stops the command in the sandbox too (130)" $? "rc=$rc left=$left"
"$cove" exec "$id" -- sh -c 'seq 1 20000' | tail -1 >"$base/out"
[ "$(cat "$base/out")" = 20000 ]; check "exec streams long output whole" $? "$(cat "$base/out")"

head -c 300000 /dev/urandom >"$base/blob"
"$cove" cp "$base/blob" "$id:/tmp/in/" && "$cove" cp "$id:/tmp/in/blob" "$base/back" && cmp -s "$base/blob" "$base/back"
check "cp to a directory in the sandbox and back: the same bytes" $?
echo piped | "$cove" cp - "$id:/tmp/p.txt" && [ "$("$cove" cp "$id:/tmp/p.txt" -)" = piped ]
check "cp from stdin and to stdout" $?
mkdir -p "$base/dir"; "$cove" cp "$id:/tmp/p.txt" "$base/dir" && [ "$(cat "$base/dir/p.txt")" = piped ]
check "cp into a local directory keeps the name" $?
"$cove" cp "$id:/no/such/file" "$base/missing" 2>"$base/err"; rc=$?
[ $rc != 0 ] && grep -q "/no/such/file" "$base/err" && [ ! -e "$base/missing" ] && [ -z "$(ls "$base" | grep cove-cp)" ]
check "cp of a missing file: an error naming it, no local file left" $? "rc=$rc $(cat "$base/err")"

printf 'echo "tty=$(tty) cols=$(stty size)"\nexit 3\n' | "$cove" shell "$id" >"$base/shell" 2>&1; rc=$?
[ $rc = 3 ] && grep -q 'tty=/dev/pts/[0-9]* cols=24 80' "$base/shell"
check "shell: a terminal (80x24 without one here), input from a pipe, its exit status" $? "rc=$rc $(cat "$base/shell")"

# What the guest writes to its console (not its boot lines: a sandbox
# restored from a snapshot has those only if they were still on their way
# out when the snapshot was taken).
"$cove" exec "$id" -- sh -c 'echo cove-logs-marker >/dev/console' >/dev/null 2>&1
"$cove" logs "$id" >"$base/logs"; grep -q 'cove-logs-marker' "$base/logs"
check "logs: the guest's console" $? "$(head -3 "$base/logs")"
"$cove" templates >"$base/tpl"; grep -q '^tiny ' "$base/tpl" && grep -q '^base ' "$base/tpl"
check "templates lists them" $? "$(cat "$base/tpl")"

"$cove" pause "$id" && "$cove" ls --state paused | grep -q "^$id "
check "pause; ls --state paused shows it" $?
"$cove" exec "$id" -- true 2>"$base/err"; rc=$?
[ $rc = 125 ] && grep -q "is paused" "$base/err"; check "exec in a paused sandbox says so" $? "rc=$rc $(cat "$base/err")"
"$cove" resume "$id" && [ "$("$cove" exec "$id" -- cat /tmp/p.txt)" = piped ]
check "resume: the same guest carries on" $?
"$cove" kill "$id" && [ "$(qemus)" = 0 ]; check "kill ends it" $? "qemu=$(qemus)"
"$cove" kill "$id" 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "not found" "$base/err"; check "kill of an unknown sandbox: an error, status 1" $? "rc=$rc $(cat "$base/err")"
"$cove" exec nosuchsandbox -- true 2>"$base/err"; rc=$?
[ $rc = 125 ] && grep -q "not found" "$base/err"; check "exec in an unknown sandbox: not found, 125" $? "rc=$rc $(cat "$base/err")"
"$cove" ls --api-key wrong 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -qi "key" "$base/err"; check "a wrong API key is refused with a clear line" $? "rc=$rc $(cat "$base/err")"
"$cove" ls --url http://127.0.0.1:9 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "does not answer at http://127.0.0.1:9" "$base/err"
check "no coved there: says so" $? "rc=$rc $(cat "$base/err")"
"$cove" host ls 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "cove host ls: .*not part of a cluster" "$base/err"
check "host ls on a single host: not part of a cluster, status 1" $? "rc=$rc $(cat "$base/err")"
"$cove" host forget h2 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "not part of a cluster" "$base/err"
check "host forget on a single host: not part of a cluster (not 'unknown host')" $? "rc=$rc $(cat "$base/err")"

# Volumes: create, ls, info, rm; a bad name is refused before anything is sent.
out=$("$cove" volume create cli-vol 2>"$base/err"); rc=$?
vid=$(echo "$out" | awk 'NR == 2 {print $1}'); tok=$(echo "$out" | awk 'NR == 2 {print $3}')
[ $rc = 0 ] && [ -d "$COVE_STATE_DIR/volumes/$vid" ] && "$cove" volume ls | grep -q "^$vid  *cli-vol$" &&
    [ "$("$cove" volume info "$vid" --json | jq -r .token)" = "$tok" ]
check "volume create, ls and info: the id, name and token, its directory made" $? "rc=$rc $out $(cat "$base/err")"
"$cove" volume create 'no spaces' 2>"$base/err"; rc=$?
[ $rc = 2 ] && grep -q "only letters, digits and '-'" "$base/err"
check "volume create with a bad name: refused, status 2" $? "rc=$rc $(cat "$base/err")"
# Mounted into a sandbox (create -v NAME:/PATH): the guest's file is on the
# host's side of the volume; a mounted volume cannot be removed.
sid=$("$cove" create --template tiny --timeout 120 -v cli-vol:/mnt/v 2>"$base/err") &&
    "$cove" exec "$sid" -- sh -c 'echo from-guest > /mnt/v/g.txt' &&
    [ "$(cat "$COVE_STATE_DIR/volumes/$vid/g.txt")" = from-guest ]
check "create -v NAME:/PATH mounts the volume; the guest's file is in it" $? "sid=$sid $(cat "$base/err")"
"$cove" volume rm "$vid" 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "is mounted by 1 sandbox ($sid)" "$base/err" && [ -e "$COVE_STATE_DIR/volumes/$vid/g.txt" ]
check "volume rm of a mounted volume: refused, naming the sandbox, status 1" $? "rc=$rc $(cat "$base/err")"
"$cove" create --template tiny -v cli-vol 2>"$base/err"; rc=$?
[ $rc = 2 ] && grep -q "expected NAME:/PATH" "$base/err"
check "create -v without a path: refused, status 2" $? "rc=$rc $(cat "$base/err")"
"$cove" kill "$sid" >/dev/null 2>&1
"$cove" volume rm "$vid" vol_000000000000000000000000 2>"$base/err"; rc=$?
[ $rc = 1 ] && grep -q "no volume 'vol_000000000000000000000000'" "$base/err" && [ ! -e "$COVE_STATE_DIR/volumes/$vid" ] &&
    ! "$cove" volume ls | grep -q cli-vol
check "volume rm: its files gone; an unknown one is an error, status 1" $? "rc=$rc $(cat "$base/err")"

# cove run goes through coved when it answers, and stays local with --local.
out=$("$cove" run --template tiny -- sh -c 'echo run-via; exit 4'); rc=$?
[ $rc = 4 ] && [ "$out" = run-via ] && grep -q "op=create template=tiny timeout_s=60" "$base/coved.log" && [ "$(qemus)" = 0 ]
check "cove run goes through coved when it runs, and ends its sandbox" $? "rc=$rc out=$out"
before=$(grep -c "op=create template" "$base/coved.log")
out=$("$cove" run --local --template tiny -- sh -c 'echo local'); rc=$?
[ $rc = 0 ] && [ "$out" = local ] && [ "$(grep -c "op=create template" "$base/coved.log")" = "$before" ]
check "cove run --local boots it here" $? "rc=$rc out=$out"

kill -TERM $pid; wait $pid; rc=$?; pid=""
[ $rc = 0 ] && [ "$(qemus)" = 0 ]; check "coved stops clean" $? "rc=$rc qemu=$(qemus)"
echo "1..$n"
