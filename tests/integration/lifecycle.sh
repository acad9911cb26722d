#!/bin/bash
# The lifecycle as E2B has it, with real guests under a real coved, through
# curl and the CLI: create's lifecycle fields (and the combinations E2B
# refuses), the filesystem-only pause (its disk alone saved; the next resume
# boots it: a new boot id, its files, token and environment kept; across a
# kill -9 of coved too), connect with memory false, a sandbox on a throwaway
# disk, and auto-resume through the envd routing: who may wake it, its
# deadline, one resume for 20 requests at once, a resume that fails, and a
# kill racing with it. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_snapshot tiny
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-lifecycle.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
saved=$COVE_STATE_DIR/saved
key=lifecycle-key
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
# A template without a snapshot: its sandboxes boot on a throwaway disk.
mkdir -p "$base/templates"
ln -s "$COVE_TEMPLATES/tiny" "$base/templates/tiny"
mkdir "$base/templates/plain"
ln -s "$COVE_TEMPLATES/tiny/rootfs.ext4" "$COVE_TEMPLATES/tiny/template.conf" "$base/templates/plain/"
restart() {
    start_coved "$base/coved.log" --net-pool 1 --api-key $key --templates "$base/templates" ||
        { not_ok "coved starts" "$(tail -5 "$base/coved.log")"; exit 1; }
    export COVE_URL=$coved_url COVE_API_KEY=$key
}
restart
out=$base/out
api() { # api METHOD PATH [BODY] -> body in $out, status echoed
    local m=$1 p=$2; shift 2
    curl -s -o "$out" -w '%{http_code}' -X "$m" -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
        ${1:+--data-binary "$1"} "$COVE_URL$p"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$out" "$1" 2>/dev/null; }
qemu_of() { pgrep -f "qemu-system.*cove-$1" | head -1; }
used_slots() { "$cove" net ls | sed 1d | grep -c used; }
state_of() { "$cove" ls --json | python3 -c 'import json,sys; d={s["sandboxID"]:s["state"] for s in json.load(sys.stdin)}; print(d.get(sys.argv[1],"gone"))' "$1"; }
token_of() { api GET "/sandboxes/$1" >/dev/null; field "['envdAccessToken']"; }
end_of() { api GET "/sandboxes/$1" >/dev/null; python3 -c 'import json,sys,datetime; e=json.load(open(sys.argv[1]))["endAt"]; print(int(datetime.datetime.strptime(e,"%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()))' "$out"; }
# envd (port 49983) through coved's routing: status of GET PATH, with TOKEN if given.
envd() { curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $1" ${3:+-H "X-Access-Token: $3"} "$COVE_URL$2"; }
boot_id() { "$cove" exec "$1" -- cat /proc/sys/kernel/random/boot_id; }
resumes_of() { grep -c "sandbox=$1 op=resume .*by=traffic" "$base/coved.log"; }

# --- create: E2B's lifecycle fields and the combinations it refuses ---
s=$(api POST /v2/sandboxes '{"templateID":"tiny","autoPauseMemory":false}')
[ "$s" = 400 ] && grep -q 'autoPauseMemory=false only applies when autoPause is true' "$out"
check "autoPauseMemory false without autoPause: 400 saying so" $? "$s $(cat "$out")"
s=$(api POST /v2/sandboxes '{"templateID":"tiny","autoPause":true,"autoPauseMemory":false,"autoResume":{"enabled":true}}')
[ "$s" = 400 ] && grep -q 'autoResume cannot be combined with autoPauseMemory=false' "$out"
check "autoResume with a filesystem-only auto-pause: 400 saying so" $? "$s $(cat "$out")"
s=$(api POST /v2/sandboxes '{"templateID":"tiny","autoPause":true,"autoResume":true}')
[ "$s" = 400 ] && grep -q 'autoResume must be an object' "$out"
check "autoResume that is not {enabled}: 400" $? "$s $(cat "$out")"
s=$(api POST /sandboxes/nosuchsandbox0000000/pause '{"memory":"no"}')
[ "$s" = 400 ] && grep -q 'memory must be true or false' "$out"
check "a pause body with a bad memory: 400 (before the sandbox is looked up)" $? "$s $(cat "$out")"
s=$(api POST /v2/sandboxes/nosuchsandbox0000000/connect '{"memory":0}')
[ "$s" = 400 ] && grep -q 'memory must be true or false' "$out"
check "a connect body with a bad memory: 400" $? "$s $(cat "$out")"
s=$(api GET /v2/sandboxes); [ "$s" = 200 ]; check "the daemon still serves" $? "$s"

# --- a filesystem-only pause; the resume boots from the saved disk ---
id=$("$cove" create --template tiny --timeout 300 -e GREETING=hello 2>"$base/err")
[[ "$id" =~ ^[a-z0-9]{20}$ ]] || { not_ok "create" "$id $(cat "$base/err")"; exit 1; }
token=$(token_of "$id")
boot1=$(boot_id "$id")
"$cove" exec "$id" -- sh -c 'echo kept >/root/file; sleep 1000 >/dev/null 2>&1 &'
"$cove" pause --no-memory "$id" 2>"$base/err"; rc=$?
[ $rc = 0 ] && [ "$(state_of "$id")" = paused ] && [ -z "$(qemu_of "$id")" ] && [ -s "$saved/$id/disk.qcow2" ] &&
    [ ! -e "$saved/$id/state" ] && [ ! -e "$saved/$id/memory" ]
check "pause --no-memory saves the disk alone (no RAM, no device state) and ends the VMM" $? \
    "rc=$rc $(cat "$base/err") state=$(state_of "$id") qemu=$(qemu_of "$id") $(ls "$saved/$id" 2>&1)"
grep -q "sandbox=$id op=pause template=tiny to=disk-only" "$base/coved.log"; check "... and says so in its log" $?
s=$(api POST "/sandboxes/$id/pause" '{"memory":false}'); [ "$s" = 409 ]
check "pausing it again: 409" $? "$s $(cat "$out")"
[ "$(envd "$id" /health "$token")" = 502 ]; check "envd of a sandbox paused without its memory: 502" $?
kill -9 "$coved_pid"; wait "$coved_pid" 2>/dev/null
restart
[ "$(state_of "$id")" = paused ] && grep -q "sandbox=$id op=adopt template=tiny state=paused on=disk-only" "$base/coved.log"
check "it is still paused, disk only, after kill -9 of coved" $? "$(state_of "$id")"
s=$(api POST "/v2/sandboxes/$id/connect" '{"timeout":300}')
[ "$s" = 201 ] && [ "$(field "['envdAccessToken']")" = "$token" ] && [ "$(field "['sandboxID']")" = "$id" ]
check "connect resumes it (201) with the same id and token" $? "$s $(cat "$out")"
boot2=$(boot_id "$id")
got=$("$cove" exec "$id" -- sh -c 'cat /root/file; echo $GREETING; pwd; ps | grep -v grep | grep -c "sleep 1000"')
[ -n "$boot2" ] && [ "$boot2" != "$boot1" ] && [ "$got" = "$(printf 'kept\nhello\n/root\n0')" ]
check "it rebooted (a new boot id): its files, environment and defaults kept, its processes gone" $? \
    "boot $boot1 -> $boot2; got=$got"
[ "$(envd "$id" /metrics "$token")" = 200 ] && [ "$(envd "$id" /metrics)" = 401 ]
check "its agent holds the same access token" $?
grep -q "sandbox=$id op=resume template=tiny from=saved-disk by=connect" "$base/coved.log" && [ ! -e "$saved/$id" ]
check "the log says it booted from its saved disk, and the saved copy is gone" $? "$(ls "$saved")"

# --- connect with memory false: the saved RAM is not used ---
# Booting from the disk is a crash's recovery: what the guest had not
# written out when paused with its memory is not there, so the test syncs.
"$cove" exec "$id" -- sh -c 'echo again >/root/file2; sync'
"$cove" pause "$id" && [ -s "$saved/$id/state" ]
check "a pause with memory saves its RAM" $?
"$cove" resume --reboot "$id" 2>"$base/err"; rc=$?
boot3=$(boot_id "$id")
[ $rc = 0 ] && [ -n "$boot3" ] && [ "$boot3" != "$boot2" ] && [ "$("$cove" exec "$id" -- cat /root/file2)" = again ]
check "resume --reboot (connect memory false) boots it from its disk: new boot id, files kept" $? \
    "rc=$rc $(cat "$base/err") boot $boot2 -> $boot3"
s=$(api POST "/v2/sandboxes/$id/connect" '{"memory":false}'); [ "$s" = 200 ] && [ "$(boot_id "$id")" = "$boot3" ]
check "connect with memory false to a running sandbox just finds it (200)" $? "$s"
"$cove" kill "$id"

# --- a sandbox on a throwaway disk ---
tid=$("$cove" create --template plain --timeout 300 2>"$base/err")
s=$(api POST "/sandboxes/$tid/pause" '{"memory":false}')
[ "$s" = 409 ] && grep -q 'cannot be paused without its memory' "$out" && [ "$(state_of "$tid")" = running ] &&
    [ "$(envd "$tid" /health)" = 204 ]
check "a filesystem-only pause of a sandbox on a throwaway disk: 409 saying why; it runs on" $? "$s $(cat "$out")"
s=$(api POST "/sandboxes/$tid/pause"); [ "$s" = 204 ]
s=$(api POST "/v2/sandboxes/$tid/connect" '{"memory":false}')
[ "$s" = 409 ] && grep -q 'can only resume with its memory' "$out" && [ "$(state_of "$tid")" = paused ]
check "... paused in memory, connect with memory false: 409, it stays paused" $? "$s $(cat "$out")"
"$cove" kill "$tid"
tid=$("$cove" create --template plain --timeout 1 --auto-pause-no-memory 2>"$base/err")
for _ in $(seq 1 60); do [ "$(state_of "$tid")" = paused ] && break; sleep 0.1; done
[ "$(state_of "$tid")" = paused ] && grep -q "sandbox=$tid op=auto-pause msg=\"paused in memory" "$base/coved.log"
check "... its filesystem-only auto-pause keeps it in memory instead, and logs why" $? "$(state_of "$tid")"
"$cove" kill "$tid"

# --- filesystem-only auto-pause ---
id=$("$cove" create --template tiny --timeout 1 --auto-pause-no-memory --auto-resume 2>&1)
[ "$id" != "${id#cove create:}" ] && echo "$id" | grep -q 'autoResume cannot be combined'
check "cove create refuses --auto-pause-no-memory with --auto-resume" $? "$id"
id=$("$cove" create --template tiny --timeout 2 --auto-pause-no-memory)
token=$(token_of "$id"); boot1=$(boot_id "$id")
"$cove" exec "$id" -- sh -c 'echo fs-only >/root/marker'
for _ in $(seq 1 60); do [ -s "$saved/$id/disk.qcow2" ] && break; sleep 0.1; done
[ "$(state_of "$id")" = paused ] && [ ! -e "$saved/$id/state" ] && [ "$(envd "$id" /health "$token")" = 502 ] &&
    [ "$(state_of "$id")" = paused ]
check "at its deadline it pauses with its disk alone, and a request does not wake it" $? "$(ls "$saved/$id" 2>&1)"
"$cove" resume "$id" && [ "$("$cove" exec "$id" -- cat /root/marker)" = fs-only ] && [ "$(boot_id "$id")" != "$boot1" ]
check "resume boots it, the file written before the pause there" $?
"$cove" kill "$id"

# --- auto-resume through the envd routing ---
id=$("$cove" create --template tiny --timeout 1 --auto-pause --auto-resume)
token=$(token_of "$id")
"$cove" exec "$id" -- sh -c 'mkdir -p /tmp/w && echo served >/tmp/w/index.html && httpd -p 8000 -h /tmp/w'
for _ in $(seq 1 60); do [ -s "$saved/$id/state" ] && break; sleep 0.1; done
[ "$(state_of "$id")" = paused ]; check "autoPause: paused at its deadline" $? "$(state_of "$id")"
[ "$(envd "$id" /health)" = 502 ] && [ "$(envd "$id" /health wrong-token)" = 502 ] && [ "$(state_of "$id")" = paused ]
check "envd requests without its access token, or with a wrong one: 502, it stays paused" $?
t0=$(date +%s)
s=$(envd "$id" /health "$token")
end=$(end_of "$id")
[ "$s" = 204 ] && [ "$(state_of "$id")" = running ] && [ "$(resumes_of "$id")" = 1 ]
check "an envd request with its token wakes it, and is answered (204)" $? "$s $(state_of "$id")"
[ $((end - t0)) -ge 58 ] && [ $((end - t0)) -le 63 ]
check "its deadline is then a minute ahead (its timeout, 1 s, raised to E2B's floor)" $? "end-now=$((end - t0))"
api POST "/sandboxes/$id/pause" >/dev/null
page=$(curl -s -H "E2b-Sandbox-Id: $id" -H "E2b-Sandbox-Port: 8000" "$COVE_URL/index.html")
[ "$page" = served ] && [ "$(state_of "$id")" = running ] && [ "$(resumes_of "$id")" = 2 ]
check "a request to another port needs no token: it wakes it, the guest's server answers" $? "page=$page"
api POST "/sandboxes/$id/pause" >/dev/null
page=$(curl -s -H "Host: 8000-$id.localhost" "$COVE_URL/index.html")
[ "$page" = served ] && [ "$(resumes_of "$id")" = 3 ]
check "... by host name (PORT-ID.DOMAIN) too" $? "page=$page"

# 20 requests at once to the paused sandbox: one resume, every one answered.
api POST "/sandboxes/$id/pause" >/dev/null
pids=""
for i in $(seq 1 20); do envd "$id" /health "$token" >"$base/h.$i" & pids="$pids $!"; done
wait $pids
codes=$(for i in $(seq 1 20); do cat "$base/h.$i"; echo; done | sort | uniq -c | tr -s ' ')
[ "$codes" = " 20 204" ] && [ "$(resumes_of "$id")" = 4 ]
check "20 requests at once to a paused sandbox: one resume, all 20 answered" $? "codes=$codes resumes=$(resumes_of "$id")"

# A resume that fails: 502, and it stays paused with what was saved.
api POST "/sandboxes/$id/pause" >/dev/null
mv "$saved/$id/state" "$base/state.aside"
s=$(envd "$id" /health "$token")
[ "$s" = 502 ] && [ "$(state_of "$id")" = paused ] && [ -z "$(qemu_of "$id")" ]
check "a resume that fails: 502, and it stays paused" $? "$s $(state_of "$id")"
mv "$base/state.aside" "$saved/$id/state"
[ "$(envd "$id" /health "$token")" = 204 ]; check "... and the next request wakes it" $?
"$cove" kill "$id"
s=$(envd "$id" /health "$token"); [ "$s" = 502 ]; check "a request to a killed sandbox: 502" $? "$s"

# Without autoResume, a paused sandbox is not woken.
id=$("$cove" create --template tiny --timeout 300)
token=$(token_of "$id"); "$cove" pause "$id"
[ "$(envd "$id" /health "$token")" = 502 ] && [ "$(state_of "$id")" = paused ]
check "without autoResume a request to a paused sandbox is 502 and it stays paused" $?
"$cove" kill "$id"

# A kill racing with an auto-resume (sent at once, a little later, later
# still): the kill wins, and nothing is left.
ok=0 got=""
for d in 0 0.05 0.3; do
    id=$("$cove" create --template tiny --timeout 300 --auto-resume)
    token=$(token_of "$id")
    api POST "/sandboxes/$id/pause" >/dev/null
    envd "$id" /health "$token" >"$base/race" & w=$!
    sleep $d
    k=$(api DELETE "/sandboxes/$id")
    wait $w
    got="$got $d:$k:$(cat "$base/race")"
    case "$k:$(cat "$base/race")" in 204:204|204:502) [ "$(state_of "$id")" = gone ] && [ -z "$(qemu_of "$id")" ] &&
        [ ! -e "$saved/$id" ] && ok=$((ok + 1));; esac
done
for _ in $(seq 1 50); do [ "$(used_slots)" = 0 ] && break; sleep 0.1; done
[ $ok = 3 ] && [ "$(used_slots)" = 0 ] && kill -0 "$coved_pid"
check "a kill racing with an auto-resume wins: no VMM, slot or saved copy left, coved serves on" $? \
    "ok=$ok (delay:kill:request)$got slots=$(used_slots) $(ls "$saved")"

q=$(vmm_pids "$COVE_RUN_DIR" | wc -l)
[ "$q" = 0 ] && [ -z "$(ls "$saved")" ]; check "nothing is left behind" $? "qemu=$q saved=$(ls "$saved")"
echo "1..$n"
