#!/bin/bash
# coved's control plane with real guests, through curl: the API key, create,
# info, list (filters, pagination), timeouts and the reaper, refresh and
# connect, kill, bad input, admission control, shutdown and a SIGKILLed
# daemon. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
coved=$build/bin/coved
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-coved.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
out=$base/out

# start [FLAGS...]: coved on a free port; sets pid, url.
start() {
    local r=0
    start_coved "$base/coved.log" --net-pool 0 "$@" || r=1
    pid=$coved_pid url=$coved_url
    return $r
}
stop() { kill -TERM "$pid"; wait "$pid"; local rc=$?; pid=""; return $rc; }
api() { # api METHOD PATH [BODY] -> body in $out, status echoed
    local m=$1 p=$2; shift 2
    curl -s -o "$out" -w '%{http_code}' -X "$m" -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
        ${1:+--data-binary "$1"} "$url$p"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$out" "$1" 2>/dev/null; }
qemus() { pgrep -f "qemu-system.*$COVE_RUN_DIR" | wc -l; }
nslots() { "$cove" net ls | sed 1d | grep -c used; }

# --- the API key ---
start; check "coved starts and says where it listens" $? "$(cat "$base/coved.log")"
key=$(cat "$COVE_STATE_DIR/api-key" 2>/dev/null)
[ "$(stat -c %a "$COVE_STATE_DIR/api-key")" = 600 ] && [ ${#key} -gt 20 ] && grep -q 'made an API key' "$base/coved.log"
check "without a key, one is made at first start (0600) and its place said" $? "$(cat "$base/coved.log")"
s=$(key=wrong api GET /v2/sandboxes)
[ "$s" = 401 ] && [ "$(field "['code']")" = 401 ]; check "a wrong X-API-KEY is 401 with a JSON code" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' "$url/v2/sandboxes")
[ "$s" = 401 ]; check "a missing X-API-KEY is 401" $? "$s"
stop
start --api-key flag-key; key=flag-key
s=$(api GET /v2/sandboxes); [ "$s" = 200 ]; check "--api-key sets the key" $? "$s $(cat "$out")"
stop
COVE_API_KEY=env-key start; key=env-key
s=$(api GET /v2/sandboxes); [ "$s" = 200 ]; check "COVE_API_KEY sets the key" $? "$s"
stop
start --max-sandboxes 3; key=$(cat "$COVE_STATE_DIR/api-key")

# --- create, info, list ---
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":300,"metadata":{"owner":"alice","job":"a b"}}')
id=$(field "['sandboxID']"); token=$(field "['envdAccessToken']"); ver=$(field "['envdVersion']")
[ "$s" = 201 ] && [[ "$id" =~ ^[a-z0-9]{20}$ ]] && [[ "$token" =~ ^[0-9a-f]{64}$ ]] && [[ "$ver" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]
check "create: 201 with sandboxID, envdAccessToken and a semver envdVersion" $? "$s $(cat "$out")"
grep -q "sandbox=$id op=create template=tiny" "$base/coved.log"; check "one log line per lifecycle event" $?

"$cove" port-forward "$id" 0:49983 2>"$base/pf" & pf=$!
for _ in $(seq 1 50); do fport=$(sed -n 's/.*forwarding=127.0.0.1:\([0-9]*\) .*/\1/p' "$base/pf"); [ -n "$fport" ] && break; sleep 0.1; done
h=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$fport/health")
g=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$fport/metrics")
m=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Access-Token: $token" "http://127.0.0.1:$fport/metrics")
kill $pf; wait $pf 2>/dev/null
[ "$h" = 204 ] && [ "$g" = 401 ] && [ "$m" = 200 ]
check "the agent is up and holds the sandbox's token when create returns" $? "health=$h no-token=$g token=$m"

s=$(api GET "/sandboxes/$id")
[ "$s" = 200 ] && [ "$(field "['state']")" = running ] && [ "$(field "['metadata']['owner']")" = alice ] &&
    [ "$(field "['cpuCount']")" = 1 ] && [ "$(field "['templateID']")" = tiny ] && [[ "$(field "['endAt']")" =~ Z$ ]]
check "info: state, metadata, template, resources, ISO 8601 times" $? "$s $(cat "$out")"

s=$(api POST /v2/sandboxes '{"templateID":"tiny","metadata":{"owner":"bob"}}'); id2=$(field "['sandboxID']")
[ "$s" = 201 ]; check "a second sandbox (v2 route)" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"tiny"}'); id3=$(field "['sandboxID']")
s=$(api POST /sandboxes '{"templateID":"tiny"}')
[ "$s" = 429 ] && grep -q 'maximum of 3 sandboxes' "$out"
check "past --max-sandboxes: 429 with a clear message" $? "$s $(cat "$out")"
retry=$(curl -s -D - -o /dev/null -X POST -H "X-API-KEY: $key" -d '{"templateID":"tiny"}' "$url/sandboxes" | tr -d '\r' | sed -n 's/^Retry-After: //Ip')
[ "$retry" = 1 ]; check "... and Retry-After" $? "retry=$retry"
api DELETE "/sandboxes/$id3" >/dev/null

s=$(api GET /v2/sandboxes)
[ "$s" = 200 ] && [ "$(field "[0]['sandboxID']")" = "$id2" ] && [ "$(field "[1]['sandboxID']")" = "$id" ]
check "list: newest first" $? "$(cat "$out")"
s=$(api GET "/v2/sandboxes?metadata=owner%3Dalice%26job%3Da%2Bb")
[ "$s" = 200 ] && [ "$(field "[0]['sandboxID']")" = "$id" ] && [ "$(field ".__len__()")" = 1 ]
check "list: metadata filter (URL-encoded k=v&k=v)" $? "$(cat "$out")"
next=$(curl -s -D - -o "$out" -H "X-API-KEY: $key" "$url/v2/sandboxes?limit=1" | tr -d '\r' | sed -n 's/^X-Next-Token: //Ip')
first=$(field "[0]['sandboxID']")
s=$(api GET "/v2/sandboxes?limit=1&nextToken=$next")
[ -n "$next" ] && [ "$first" = "$id2" ] && [ "$(field "[0]['sandboxID']")" = "$id" ]
check "list: pagination with limit and X-Next-Token" $? "next=$next first=$first $(cat "$out")"
s=$(api GET "/v2/sandboxes?state=paused"); [ "$s" = 200 ] && [ "$(cat "$out")" = "[]" ]
check "list: state filter" $? "$s $(cat "$out")"

# --- metrics ---
s=$(api GET "/sandboxes/$id/metrics")
[ "$s" = 200 ] && [ "$(field ".__len__() >= 1")" = True ] && [ "$(field "[-1]['memTotal'] > 100000000")" = True ] &&
    [ "$(field "[-1]['diskTotal'] > 0")" = True ] && [ "$(field "[-1]['cpuCount']")" -ge 1 ]
check "sandbox metrics: samples with CPU, memory and disk" $? "$s $(cat "$out")"
s=$(api GET "/sandboxes/$id/metrics?start=abc"); [ "$s" = 400 ]; check "metrics: a bad start is 400" $? "$s"
s=$(api GET /metrics)
grep -q '^cove_sandboxes{state="running"} 2$' "$out" && grep -q "^cove_sandbox_memory_used_bytes{sandbox=\"$id\"} [1-9]" "$out"
check "host metrics in Prometheus text" $? "$s $(head -20 "$out")"

# --- deadlines ---
api GET "/sandboxes/$id" >/dev/null; end1=$(field "['endAt']")
s=$(api POST "/sandboxes/$id/connect" '{"timeout":5}')
api GET "/sandboxes/$id" >/dev/null; end2=$(field "['endAt']")
[ "$s" = 200 ] && [ "$end1" = "$end2" ]; check "connect never shortens the deadline" $? "$s $end1 -> $end2"
s=$(api POST "/sandboxes/$id/refreshes" '{"duration":600}')
api GET "/sandboxes/$id" >/dev/null; end3=$(field "['endAt']")
[ "$s" = 204 ] && [[ "$end3" > "$end2" ]]; check "refresh extends the deadline" $? "$s $end2 -> $end3"
s=$(api POST "/sandboxes/$id2/timeout" '{"timeout":1}')
t0=$(date +%s%N)
[ "$s" = 204 ]; check "set timeout: 204" $? "$s $(cat "$out")"
for _ in $(seq 1 40); do [ "$(api GET "/sandboxes/$id2")" = 404 ] && break; sleep 0.1; done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(field "['code']")" = 404 ] && [ $ms -lt 2500 ] && grep -q "sandbox=$id2 op=kill template=tiny reason=timeout" "$base/coved.log"
check "the reaper ends the sandbox at its deadline (gone after $ms ms)" $? "$(cat "$out")"

# --- pause and resume ---
health() { curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $1" "$url/health"; }
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":2}'); pid3=$(field "['sandboxID']")
[ "$(health "$pid3")" = 204 ]; check "envd routing: /health of a running sandbox through coved" $?
s=$(api POST "/sandboxes/$pid3/pause"); [ "$s" = 204 ]; check "pause: 204" $? "$s $(cat "$out")"
s=$(api POST "/sandboxes/$pid3/pause"); [ "$s" = 409 ] && [ "$(field "['code']")" = 409 ]
check "pause of a paused sandbox: 409" $? "$s $(cat "$out")"
s=$(api GET "/v2/sandboxes?state=paused"); [ "$(field "[0]['sandboxID']")" = "$pid3" ] && [ "$(field "[0]['state']")" = paused ]
check "list: state=paused finds it" $? "$(cat "$out")"
[ "$(health "$pid3")" = 502 ]; check "a paused sandbox's /health is 502 (isRunning false)" $?
sleep 2.5
s=$(api GET "/sandboxes/$pid3"); [ "$s" = 200 ]; check "paused time does not count toward the deadline" $? "$s"
s=$(api POST "/sandboxes/$pid3/connect" '{"timeout":1}'); [ "$s" = 201 ] && [ "$(field "['sandboxID']")" = "$pid3" ]
check "connect resumes a paused sandbox (201)" $? "$s $(cat "$out")"
[ "$(health "$pid3")" = 204 ]; check "... and its agent answers again" $?
s=$(api POST "/sandboxes/$pid3/connect" '{"timeout":1}'); [ "$s" = 200 ]; check "connect to a running sandbox: 200" $? "$s"
for _ in $(seq 1 40); do [ "$(api GET "/sandboxes/$pid3")" = 404 ] && break; sleep 0.1; done
[ "$(field "['code']")" = 404 ]; check "... and its remaining time runs out as before" $? "$(cat "$out")"
s=$(api POST /sandboxes/no-such-sandbox/pause); [ "$s" = 404 ]; check "pause of an unknown sandbox: 404" $? "$s"
[ "$(health no-such-sandbox)" = 502 ]; check "/health of an unknown sandbox: 502" $?
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":1,"autoPause":true}'); ap=$(field "['sandboxID']")
sleep 1.6
s=$(api GET "/sandboxes/$ap"); [ "$s" = 200 ] && [ "$(field "['state']")" = paused ]
check "autoPause: at its deadline the sandbox is paused, not killed" $? "$s $(cat "$out")"
# The API says paused once the save to disk begins, and a kill meanwhile is
# 409: under ThreadSanitizer coved's filter of the saved memory (a compare of
# every page) makes the save outlast the 0.6 s above.
for _ in $(seq 1 100); do [ "$(api DELETE "/sandboxes/$ap")" != 409 ] && break; sleep 0.1; done

# --- bad input; the daemon keeps serving ---
s=$(api POST /sandboxes '{bad json'); [ "$s" = 400 ] && [ "$(field "['code']")" = 400 ]
check "malformed JSON: 400" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"no-such-template"}'); [ "$s" = 400 ] && grep -q "template 'no-such-template' not found" "$out"
check "unknown template: 400 naming it" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":-1}'); [ "$s" = 400 ]
check "negative timeout: 400" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":100000000}'); [ "$s" = 400 ]
check "huge timeout: 400" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"tiny","metadata":{"a":1}}'); [ "$s" = 400 ] && grep -q 'metadata.a must be a string' "$out"
check "metadata values must be strings" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"tiny","network":{"denyOut":["example.com"]}}'); [ "$s" = 400 ]
check "a bad network rule: 400" $? "$s $(cat "$out")"
head -c 100000 /dev/zero | tr '\0' 'a' >"$base/big"
s=$(curl -s -o "$out" -w '%{http_code}' -X POST -H "X-API-KEY: $key" --data-binary @"$base/big" "$url/sandboxes")
[ "$s" = 413 ]; check "an oversize body: 413" $? "$s $(cat "$out")"
s=$(api DELETE /sandboxes/no-such-sandbox); [ "$s" = 404 ] && [ "$(field "['code']")" = 404 ]
check "kill of an unknown sandbox: 404 with code 404 in the body" $? "$s $(cat "$out")"
s=$(api POST /sandboxes/no-such-sandbox/timeout '{"timeout":5}'); [ "$s" = 404 ]
check "timeout of an unknown sandbox: 404" $? "$s"
s=$(api PUT /sandboxes); [ "$s" = 405 ]; check "a wrong method: 405" $? "$s"
s=$(api GET /nothing-here); [ "$s" = 404 ]; check "an unknown route: 404" $? "$s"
s=$(api GET "/sandboxes/$id"); [ "$s" = 200 ]; check "the daemon still serves" $? "$s"

# --- kill, shutdown ---
s=$(api DELETE "/sandboxes/$id"); [ "$s" = 204 ]; check "kill: 204" $? "$s"
s=$(api DELETE "/sandboxes/$id"); [ "$s" = 404 ]; check "kill again: 404" $? "$s"
[ "$(qemus)" = 0 ] && [ "$(nslots)" = 0 ]; check "a killed sandbox leaves no VMM and no slot" $? "qemu=$(qemus) slots=$(nslots)"

s=$(api POST /sandboxes '{"templateID":"tiny"}'); [ "$s" = 201 ]
stop; rc=$?
[ $rc = 0 ] && [ "$(qemus)" = 0 ] && [ "$(nslots)" = 0 ] && [ -z "$(sqlite3 "$COVE_STATE_DIR/cove.db" 'select id from sandboxes' 2>/dev/null)" ]
check "SIGTERM: coved ends every sandbox and exits 0" $? "rc=$rc qemu=$(qemus) slots=$(nslots)"

# --- restarts: a SIGKILLed coved, and --live-restore ---
# The sandboxes that run (or are paused) are re-adopted with their deadlines;
# one being created when coved died is ended with everything it had.
files() { # files METHOD ID TOKEN [DATA]: /files?path=/tmp/mark through coved
    if [ "$1" = POST ]; then
        curl -s -o /dev/null -w '%{http_code}' -X POST -H "E2b-Sandbox-Id: $2" -H "X-Access-Token: $3" \
            -H 'Content-Type: application/octet-stream' --data-binary "$4" "$url/files?path=/tmp/mark"
    else
        curl -s -H "E2b-Sandbox-Id: $2" -H "X-Access-Token: $3" "$url/files?path=/tmp/mark"
    fi
}
cgroups() { find /sys/fs/cgroup -maxdepth 3 -path '*/cove/*' -type d 2>/dev/null | grep -c "/cove/$1$"; }
start; key=$(cat "$COVE_STATE_DIR/api-key")
api POST /sandboxes '{"templateID":"tiny","timeout":120}' >/dev/null; ra=$(field "['sandboxID']"); rta=$(field "['envdAccessToken']")
api POST /sandboxes '{"templateID":"tiny","timeout":120}' >/dev/null; rb=$(field "['sandboxID']")
w=$(files POST "$ra" "$rta" "before the restart")
s=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $ra" -H "X-Access-Token: wrong" "$url/files?path=/tmp/mark")
[ "$s" = 401 ]; check "a wrong access token through coved's routing: 401 from the agent" $? "$s"
# Paused to disk (tiny has a snapshot): its VMM ends.
api POST "/sandboxes/$rb/pause" >/dev/null
api GET "/sandboxes/$ra" >/dev/null; enda=$(field "['endAt']")
# A third, killed with coved while it starts.
curl -s -o /dev/null -X POST -H "X-API-KEY: $key" -d '{"templateID":"tiny"}' "$url/sandboxes" & creating=$!
for _ in $(seq 1 400); do [ "$(qemus)" = 2 ] && break; sleep 0.005; done
rc=$(sqlite3 "$COVE_STATE_DIR/cove.db" "select id from sandboxes where state = 'creating'" 2>/dev/null)
kill -9 $pid; wait $pid 2>/dev/null; pid=""; wait $creating 2>/dev/null
q=$(qemus)
[ "$w" = 200 ] && [ -n "$rc" ] && [ "$q" = 2 ]
check "coved SIGKILLed with a sandbox up, one paused and one being created; the VMMs live on" $? "write=$w creating=$rc qemu=$q"
start
s=$(api GET "/sandboxes/$ra"); st=$(field "['state']"); end=$(field "['endAt']")
[ "$s" = 200 ] && [ "$st" = running ] && [ "$end" = "$enda" ] && grep -q "sandbox=$ra op=adopt" "$base/coved.log"
check "after the restart the running sandbox is re-adopted with its deadline" $? "$s $st $enda -> $end" "$(grep -E 'adopt|forget' "$base/coved.log")"
got=$(files GET "$ra" "$rta")
[ "$got" = "before the restart" ]; check "... and its guest answers, with its files" $? "got '$got'"
said=$(COVE_URL=$url COVE_API_KEY=$key "$cove" exec "$ra" -- sh -c 'cat /tmp/mark; echo; echo alive')
[ "$said" = "before the restart
alive" ]; check "... and runs commands" $? "said=$said"
s=$(api GET "/sandboxes/$rb"); [ "$s" = 200 ] && [ "$(field "['state']")" = paused ]
check "the paused one is re-adopted paused" $? "$s $(cat "$out")"
s=$(api POST "/sandboxes/$rb/connect" '{"timeout":60}'); [ "$s" = 201 ] && [ "$(health "$rb")" = 204 ]
check "... and resumes" $? "$s"
s=$(api GET "/sandboxes/$rc"); q=$(qemus); u=$(nslots)
[ "$s" = 404 ] && [ "$q" = 2 ] && [ "$u" = 2 ] && [ "$(cgroups "$rc")" = 0 ] && [ ! -e "$COVE_RUN_DIR/$rc" ] &&
    [ -z "$(ls "$COVE_LOG_DIR" | grep "$rc")" ] &&
    grep -q "sandbox=$rc op=forget state=creating" "$base/coved.log"
check "the half-made one is gone: no VMM, slot, cgroup, run directory, log or record" $? "$s qemu=$q slots=$u cg=$(cgroups "$rc")" "$(grep -E "$rc" "$base/coved.log")"
s=$(api DELETE "/sandboxes/$ra"); q=$(qemus)
[ "$s" = 204 ] && [ "$q" = 1 ] && [ "$(cgroups "$ra")" = 0 ] && [ ! -e "$COVE_RUN_DIR/$ra" ]
check "an adopted sandbox is killed like any other" $? "$s qemu=$q cg=$(cgroups "$ra")"
kill -9 $pid; wait $pid 2>/dev/null; pid=""
# --live-restore: SIGTERM leaves sandboxes to the next coved.
start --live-restore
s=$(api GET "/sandboxes/$rb"); [ "$s" = 200 ]; check "a second restart re-adopts again" $? "$s"
stop; rc2=$?; q=$(qemus)
[ $rc2 = 0 ] && [ "$q" = 1 ] && grep -q "sandbox=$rb op=detach" "$base/coved.log"
check "--live-restore: SIGTERM leaves the sandbox running" $? "rc=$rc2 qemu=$q"
start
s=$(api GET "/sandboxes/$rb"); [ "$s" = 200 ] && [ "$(health "$rb")" = 204 ]
check "... and the next coved serves it" $? "$s"
stop; q=$(qemus)
[ "$q" = 0 ] && [ "$(nslots)" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ] && [ "$(cgroups "$rb")" = 0 ]
check "without it, SIGTERM ends them all: nothing left behind" $? "qemu=$q slots=$(nslots) run=$(ls "$COVE_RUN_DIR")"

echo "1..$n"
