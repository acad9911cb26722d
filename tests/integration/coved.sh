#!/bin/bash
# coved's control plane with real guests, through curl: the API key, create,
# info, list (filters, order, pagination), fork's per-child results, timeouts
# and the reaper, the host's longest timeout, refresh and connect, kill, bad
# input, the 501s of E2B's routes Cove does not serve, templates, admission
# control, shutdown and a SIGKILLed daemon. Prints TAP.
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
    unmount_under "$base"
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
qemus() { vmm_pids "$COVE_RUN_DIR" | wc -l; }
nslots() { "$cove" net ls | sed 1d | grep -c used; }

# --- the API key ---
start; check "coved starts and says where it listens" $? "$(cat "$base/coved.log")"
key=$(cat "$COVE_STATE_DIR/api-key" 2>/dev/null)
[ "$(stat -c %a "$COVE_STATE_DIR/api-key")" = 600 ] && [[ "$key" =~ ^e2b_[0-9a-f]{40}$ ]] && grep -q 'made an API key' "$base/coved.log"
check "without a key, one is made at first start (0600, e2b_ and 40 hex) and its place said" $? "key=$key" "$(cat "$base/coved.log")"
! grep -q 'op=api-key msg="the API key is not' "$base/coved.log"
check "... and a key of E2B's form draws no warning" $? "$(cat "$base/coved.log")"
s=$(key=wrong api GET /v2/sandboxes)
[ "$s" = 401 ] && [ "$(field "['code']")" = 401 ]; check "a wrong X-API-KEY is 401 with a JSON code" $? "$s $(cat "$out")"
s=$(curl -s -o "$out" -w '%{http_code}' "$url/v2/sandboxes")
[ "$s" = 401 ]; check "a missing X-API-KEY is 401" $? "$s"
stop
start --api-key flag-key; key=flag-key
s=$(api GET /v2/sandboxes); [ "$s" = 200 ]; check "--api-key sets the key" $? "$s $(cat "$out")"
[ "$(grep -c 'op=api-key msg="the API key is not e2b_ and hex digits' "$base/coved.log")" = 1 ]
check "a key of another form is taken, with one warning at start" $? "$(cat "$base/coved.log")"
stop
# A key kept from before (cove_...) is taken as it is, with the warning.
echo "cove_0123456789abcdef" >"$COVE_STATE_DIR/api-key"
start; key=cove_0123456789abcdef
s=$(api GET /v2/sandboxes); [ "$s" = 200 ] && grep -q 'op=api-key msg="the API key is not' "$base/coved.log"
check "an older key in STATE_DIR/api-key is kept, with the warning" $? "$s" "$(cat "$base/coved.log")"
stop
rm "$COVE_STATE_DIR/api-key"
COVE_API_KEY=env-key start; key=env-key
s=$(api GET /v2/sandboxes); [ "$s" = 200 ]; check "COVE_API_KEY sets the key" $? "$s"
stop
# A host's longest below the defaults: a request that gives no timeout gets
# the longest, never a 400 for a default it did not ask for.
start --max-timeout 100; key=$(cat "$COVE_STATE_DIR/api-key")
s=$(api POST /sandboxes '{"templateID":"tiny:default"}'); sid=$(field "['sandboxID']") tid=$(field "['templateID']")
life=$(api GET "/sandboxes/$sid" >/dev/null; python3 -c '
import json, sys, datetime
d = json.load(open(sys.argv[1])); t = lambda k: datetime.datetime.fromisoformat(d[k].replace("Z", "+00:00"))
print(round((t("endAt") - t("startedAt")).total_seconds()))' "$out" 2>&1)
s2=$(api POST "/sandboxes/$sid/connect" '{}'); s3=$(api POST "/sandboxes/$sid/refreshes")
[ "$s" = 201 ] && [ "$life" = 100 ] && [ "$s2" = 200 ] && [ "$s3" = 204 ]
check "--max-timeout below the defaults: create, connect and refresh without a timeout get the host's longest" $? \
    "create $s life $life connect $s2 refresh $s3 $(cat "$out")"
[ "$tid" = tiny ]; check "templateID NAME:default with no such snapshot is the template NAME (as on E2B)" $? "$tid"
api DELETE "/sandboxes/$sid" >/dev/null
stop
start --max-sandboxes 3 --max-timeout 90000; key=$(cat "$COVE_STATE_DIR/api-key")

# --- create, info, list ---
t_before=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":300,"metadata":{"owner":"alice","job":"a b"},
    "network":{"allowOut":["10.1.2.3"],"denyOut":["192.0.2.0/24"]}}')
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
[ "$(field "['network']")" = "{'allowPublicTraffic': True, 'allowOut': ['10.1.2.3'], 'denyOut': ['192.0.2.0/24']}" ] &&
    [ "$(field "['allowInternetAccess']")" = True ] &&
    [ "$(field "['lifecycle']")" = "{'onTimeout': 'kill', 'autoResume': False}" ] &&
    [ "$(field "['diskSizeMB']")" -ge 1 ] && [ "$(field "['domain']")" = None ] && [ "$(field "['volumeMounts']")" = "[]" ]
check "info: network as created, allowInternetAccess, lifecycle, diskSizeMB, domain, volumeMounts" $? "$(cat "$out")"

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
s=$(api GET "/v2/sandboxes?order=asc")
[ "$s" = 200 ] && [ "$(field "[0]['sandboxID']")" = "$id" ] && [ "$(field "[1]['sandboxID']")" = "$id2" ]
check "list: order=asc, oldest first" $? "$(cat "$out")"
next=$(curl -s -D - -o "$out" -H "X-API-KEY: $key" "$url/v2/sandboxes?limit=1&order=asc" | tr -d '\r' | sed -n 's/^X-Next-Token: //Ip')
first=$(field "[0]['sandboxID']")
s=$(api GET "/v2/sandboxes?limit=1&order=asc&nextToken=$next"); second=$(field "[0]['sandboxID']")
s2=$(api GET "/v2/sandboxes?limit=1&nextToken=$next")
[ "$first" = "$id" ] && [ "$second" = "$id2" ] && [ "$s2" = 400 ] && grep -q "was given for order=asc, not desc" "$out"
check "list: asc pages with its own tokens; a token under the other order is 400" $? "$first $second $s2 $(cat "$out")"
s=$(api GET "/v2/sandboxes?template=tiny"); n_tiny=$(field ".__len__()")
s=$(api GET "/v2/sandboxes?template=base"); n_base=$(field ".__len__()")
[ "$n_tiny" = 2 ] && [ "$n_base" = 0 ]; check "list: template filter" $? "tiny=$n_tiny base=$n_base"
s=$(api GET "/v2/sandboxes?startedAfter=$t_before"); n_after=$(field ".__len__()")
s=$(api GET "/v2/sandboxes?startedAfter=2999-01-01T00:00:00Z"); n_future=$(field ".__len__()")
s=$(api GET "/v2/sandboxes?startedAfter=yesterday")
[ "$n_after" = 2 ] && [ "$n_future" = 0 ] && [ "$s" = 400 ] && grep -q "not an RFC 3339 time" "$out"
check "list: startedAfter (at or after; a bad time is 400)" $? "after=$n_after future=$n_future $s $(cat "$out")"
total() { curl -s -D - -o /dev/null -H "X-API-KEY: $key" "$url$1" | tr -d '\r' | sed -n 's/^X-Total-Running: //Ip'; }
t_all=$(total "/v2/sandboxes?limit=1"); t_meta=$(total "/v2/sandboxes?metadata=owner%3Dbob"); t_paused=$(total "/v2/sandboxes?state=paused")
[ "$t_all" = 2 ] && [ "$t_meta" = 1 ] && [ -z "$t_paused" ]
check "list: X-Total-Running counts the running ones matching, before paging; absent without running" $? \
    "all=$t_all meta=$t_meta paused=$t_paused"

# --- fork: one result a child, each made or failed on its own ---
# Two children asked with room for one (--max-sandboxes 3): one is made, the
# other is an error entry with 429's code.
s=$(api POST "/sandboxes/$id/fork" '{"count":2}'); kid=$(field "[0]['sandbox']['sandboxID']")
[ "$s" = 201 ] && [[ "$kid" =~ ^[a-z0-9]{20}$ ]] && [ "$(field "[1]['error']['code']")" = 429 ] &&
    [ "$(field "[1].get('sandbox')")" = None ] && grep -q 'maximum of 3 sandboxes' "$out"
check "fork: 201 with a bare array; a child over the host's limits is its own 429 entry" $? "$s $(cat "$out")"
s=$(api GET "/sandboxes/$kid")
life=$(python3 -c 'import json,sys,datetime as d; j=json.load(open(sys.argv[1])); p=lambda t: d.datetime.fromisoformat(t.replace("Z","+00:00")); print(round((p(j["endAt"])-p(j["startedAt"])).total_seconds()))' "$out")
[ "$s" = 200 ] && [ "$life" = 15 ] && [ "$(field "['network']['allowOut']")" = "['10.1.2.3']" ] &&
    [ "$(field "['templateID']")" = tiny ]
check "... the child lives E2B's default 15 s and has its parent's template and network" $? "$s life=$life $(cat "$out")"
api DELETE "/sandboxes/$kid" >/dev/null
kids=$(COVE_URL=$url COVE_API_KEY=$key "$cove" fork -n 2 --timeout 60 "$id" 2>"$base/err"); rc=$?
[ $rc = 1 ] && [[ "$kids" =~ ^[a-z0-9]{20}$ ]] && grep -q "^cove fork: child 2: .*maximum of 3 sandboxes.* (429)$" "$base/err"
check "cove fork prints the children made and tells each one that failed (exit 1)" $? "rc=$rc kids=$kids $(cat "$base/err")"
api DELETE "/sandboxes/$kids" >/dev/null
s=$(api POST /sandboxes/no-such-sandbox/fork '{}'); [ "$s" = 404 ]
check "fork of an unknown sandbox: 404 (no child was tried)" $? "$s $(cat "$out")"
for b in '{"count":0}' '{"count":101}' '{"timeout":0}' '{"count":' '[1]'; do
    s=$(api POST "/sandboxes/$id/fork" "$b"); [ "$s" = 400 ] || break
done
[ "$s" = 400 ]; check "fork: bad bodies (count 0 or 101, timeout 0, malformed) are 400" $? "$b -> $s $(cat "$out")"

# --- metrics ---
s=$(api GET "/sandboxes/$id/metrics")
[ "$s" = 200 ] && [ "$(field ".__len__() >= 1")" = True ] && [ "$(field "[-1]['memTotal'] > 100000000")" = True ] &&
    [ "$(field "[-1]['diskTotal'] > 0")" = True ] && [ "$(field "[-1]['cpuCount']")" -ge 1 ] &&
    [ "$(field "[-1]['memCache'] > 0")" = True ]
check "sandbox metrics: samples with CPU, memory (and page cache) and disk" $? "$s $(cat "$out")"
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
# The host's longest (--max-timeout 90000 here): past E2B's 24 h is fine, past
# the host's is 400 naming it, for every route that takes a timeout.
s=$(api POST "/sandboxes/$id/timeout" '{"timeout":86401}'); s1=$s
s=$(api POST "/sandboxes/$id/timeout" '{"timeout":90001}'); m2=$(field "['message']")
s3=$(api POST "/sandboxes/$id/connect" '{"timeout":90001}'); s4=$(api POST /sandboxes '{"templateID":"tiny","timeout":90001}')
m4=$(field "['message']")
api POST "/sandboxes/$id/timeout" '{"timeout":900}' >/dev/null
[ "$s1" = 204 ] && [ "$s" = 400 ] && [[ "$m2" == *"outside 0 to 90000 s"* ]] && [ "$s3" = 400 ] && [ "$s4" = 400 ] &&
    [[ "$m4" == *"outside 1 to 90000 s"* ]]
check "--max-timeout: the host's longest life replaces 24 h in every check and message" $? "$s1 $s ($m2) $s3 $s4 ($m4)"
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
# Its slot gets its own egress policy back (the default: internet on), not a
# closed one.
pol=$(sqlite3 "$COVE_STATE_DIR/cove.db" "select policy from slots where sandbox = '$pid3' and state = 'used'" 2>&1)
[ -z "$pol" ] && [ "$(sqlite3 "$COVE_STATE_DIR/cove.db" "select count(*) from slots where sandbox = '$pid3' and state = 'used'")" = 1 ]
check "... with its own egress policy in force again" $? "slot policy: '$pol'"
s=$(api POST "/sandboxes/$pid3/connect" '{"timeout":1}'); [ "$s" = 200 ]; check "connect to a running sandbox: 200" $? "$s"
for _ in $(seq 1 40); do [ "$(api GET "/sandboxes/$pid3")" = 404 ] && break; sleep 0.1; done
[ "$(field "['code']")" = 404 ]; check "... and its remaining time runs out as before" $? "$(cat "$out")"

# --- updateNetwork (PUT /sandboxes/{id}/network): the whole policy replaced,
# in the slot at once, in the record for a resume ---
slot_policy() { sqlite3 "$COVE_STATE_DIR/cove.db" "select policy from slots where sandbox = '$1' and state = 'used'" 2>&1; }
s=$(api POST /sandboxes '{"templateID":"tiny","timeout":120}'); nid=$(field "['sandboxID']")
s=$(api PUT "/sandboxes/$nid/network" '{"allowOut":["10.1.2.3"],"denyOut":["0.0.0.0/0"]}')
pol=$(slot_policy "$nid"); api GET "/sandboxes/$nid" >/dev/null
[ "$s" = 204 ] && [[ $pol == *10.1.2.3*0.0.0.0/0* ]] && [ "$(field "['network']['allowOut']")" = "['10.1.2.3']" ] &&
    [ "$(field "['network']['denyOut']")" = "['0.0.0.0/0']" ]
check "updateNetwork: 204, the slot's rules and the info are the new policy" $? "$s slot '$pol' $(cat "$out")"
s=$(api PUT "/sandboxes/$nid/network" '{"allow_internet_access":false}'); pol=$(slot_policy "$nid")
api GET "/sandboxes/$nid" >/dev/null
[ "$s" = 204 ] && [[ $pol == *false* ]] && [[ $pol != *10.1.2.3* ]] && [ "$(field "['allowInternetAccess']")" = False ] &&
    [ "$(field "['network']['allowOut']")" = "[]" ]
check "... it replaces the whole policy (the omitted lists are cleared)" $? "$s slot '$pol' $(cat "$out")"
bad=""
for b in '{"allowOut":"10.0.0.1"}' '{"denyOut":["exa mple.com"]}' '{"allowOut":["a.*.test"]}' '{"allow_internet_access":"no"}' '{'; do
    s=$(api PUT "/sandboxes/$nid/network" "$b"); [ "$s" = 400 ] || bad="$bad $b -> $s $(cat "$out");"
done
s=$(api PUT "/sandboxes/$nid/network" '{"rules":{"*":[{"transform":{"headers":{"a":"b"}}}]}}')
[ "$s" = 400 ] && grep -q "rules\['\*'\]: a bare '\*' is not allowed" "$out" || bad="$bad rules * -> $s $(cat "$out");"
s=$(api PUT "/sandboxes/$nid/network" '{"rules":{"api.example.com":[{"transform":{"headers":{"a":"${e2b.secrets.none}"}}}]}}')
[ "$s" = 400 ] && grep -q "no secret named 'none'" "$out" || bad="$bad rules secret -> $s $(cat "$out");"
s=$(api PUT /sandboxes/nosuchsandbox/network '{}'); [ "$s" = 404 ] || bad="$bad unknown -> $s;"
[ -z "$bad" ] && [[ $(slot_policy "$nid") == *false* ]]
check "... bad bodies and rules 400 (naming them), an unknown sandbox 404, and the policy in force unchanged" $? "$bad"
api POST "/sandboxes/$nid/pause" >/dev/null
s=$(api PUT "/sandboxes/$nid/network" '{"denyOut":["192.0.2.0/24"]}')
s2=$(api POST "/sandboxes/$nid/connect" '{}'); pol=$(slot_policy "$nid")
[ "$s" = 204 ] && [ "$s2" = 201 ] && [[ $pol == *192.0.2.0/24* ]] && [[ $pol != *false* ]]
check "... of a paused sandbox: recorded, and its slot gets it on resume" $? "$s $s2 slot '$pol'"
api DELETE "/sandboxes/$nid" >/dev/null
s=$(api POST /sandboxes/no-such-sandbox/pause); [ "$s" = 404 ]; check "pause of an unknown sandbox: 404" $? "$s"
[ "$(health no-such-sandbox)" = 502 ]; check "/health of an unknown sandbox: 502" $?
body=$(curl -s -H "E2b-Sandbox-Id: no-such-sandbox" "$url/health")
[ "$body" = '{"message":"The sandbox was not found","sandboxId":"no-such-sandbox","code":502}' ]
check "... with the body of E2B's edge proxy" $? "$body"
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
s=$(api POST /sandboxes '{"templateID":"tiny","network":{"denyOut":["10.0.0.1/8"]}}'); [ "$s" = 400 ]
check "a bad network rule: 400" $? "$s $(cat "$out")"
head -c 100000 /dev/zero | tr '\0' 'a' >"$base/big"
s=$(curl -s -o "$out" -w '%{http_code}' -X POST -H "X-API-KEY: $key" --data-binary @"$base/big" "$url/sandboxes")
[ "$s" = 413 ]; check "an oversize body: 413" $? "$s $(cat "$out")"
s=$(api DELETE /sandboxes/no-such-sandbox); [ "$s" = 404 ] && [ "$(field "['code']")" = 404 ]
check "kill of an unknown sandbox: 404 with code 404 in the body" $? "$s $(cat "$out")"
s=$(api POST /sandboxes/no-such-sandbox/timeout '{"timeout":5}'); [ "$s" = 404 ]
check "timeout of an unknown sandbox: 404" $? "$s"
s=$(api PUT /sandboxes); [ "$s" = 405 ]; check "a wrong method: 405" $? "$s"
s=$(api GET /nothing-here); [ "$s" = 404 ] && [ "$(field "['message']")" = "no route GET /nothing-here" ]
check "a path outside E2B's API: 404 no route" $? "$s $(cat "$out")"
# E2B's routes that Cove does not serve: 501 naming the route, never a 404
# that the SDK would read as "not found".
bad501=""
while read -r m p pat; do
    s=$(api "$m" "$p" '{}')
    [ "$s" = 501 ] && [ "$(field "['code']")" = 501 ] &&
        [ "$(field "['message']")" = "not supported by Cove: $m $pat" ] || bad501="$bad501 $m $p -> $s $(cat "$out");"
done <<'ROUTES'
POST /sandboxes/abc/resume /sandboxes/{sandboxID}/resume
PATCH /sandboxes/abc/lifecycle /sandboxes/{sandboxID}/lifecycle
GET /templates/abc /templates/{templateID}
PATCH /v2/templates/abc /v2/templates/{templateID}
PUT /sandboxes/abc/metadata /sandboxes/{sandboxID}/metadata
GET /sandboxes/metrics /sandboxes/metrics
GET /v2/templates /v2/templates
GET /templates/t/builds/b/logs /templates/{templateID}/builds/{buildID}/logs
GET /teams /teams
GET /api-keys /api-keys
DELETE /admin/teams/t/api-keys/k /admin/teams/{teamID}/api-keys/{apiKeyID}
GET /nodes /nodes
ROUTES
[ -z "$bad501" ]; check "E2B's routes Cove does not serve: 501 {code, message naming the route}" $? "$bad501"
# Secrets are served (tests/e2b/coved/secrets.test.mjs has the rest).
s=$(api GET /secrets/no-such-secret); [ "$s" = 404 ] && [ "$(field "['code']")" = 404 ]
check "GET /secrets/{unknown}: 404 with code 404" $? "$s $(cat "$out")"
# Volumes are served (tests/e2b/coved/volumes.test.mjs has the rest).
s=$(api GET /volumes/vol_000000000000000000000000); [ "$s" = 404 ] && [ "$(field "['code']")" = 404 ]
check "GET /volumes/{unknown}: 404 with code 404" $? "$s $(cat "$out")"
# volumeMounts naming no volume, or a bad path: refused, and no sandbox
# made (mounts.test.mjs mounts volumes for real). (The ids listed, not the
# whole list: the metrics sampler updates a running sandbox's diskBytes
# every 5 s.)
listed_ids() { api GET /sandboxes >/dev/null; jq -r '[.[].sandboxID] | sort | join(" ")' "$out"; }
before=$(listed_ids)
s=$(api POST /sandboxes '{"templateID":"tiny","volumeMounts":[{"name":"no-such-volume","path":"/mnt/data"}]}')
[ "$s" = 400 ] && [ "$(field "['message']")" = "volumeMounts[0]: no volume is named 'no-such-volume'" ] &&
    [ "$(listed_ids)" = "$before" ]
check "create with volumeMounts naming no volume: 400 naming it, nothing made" $? "$s $(cat "$out")"
s=$(api POST /sandboxes '{"templateID":"tiny","volumeMounts":[{"name":"v","path":"data"}]}')
[ "$s" = 400 ] && [ "$(field "['message']")" = "volumeMounts[0].path: expected an absolute path other than /" ] &&
    [ "$(listed_ids)" = "$before" ]
check "create with a relative volumeMounts path: 400 naming the entry, nothing made" $? "$s $(cat "$out")"
[ "$s" != 201 ] || api DELETE "/sandboxes/$(field "['sandboxID']")" >/dev/null # not to leave it to later checks
# network.httpsPorts that are not distinct port numbers: 400 naming the
# entry, nothing made (tests/e2b/coved/https_ports.test.mjs has the rest).
bad400=""
for ports in '[0]' '[70000]' '["x"]' '[8443,8443]' '[49983]'; do
    s=$(api POST /sandboxes "{\"templateID\":\"tiny\",\"network\":{\"httpsPorts\":$ports}}")
    [ "$s" = 400 ] && field "['message']" | grep -q '^network\.httpsPorts\[[01]\]' || bad400+="$ports: $s $(cat "$out") "
    [ "$s" != 201 ] || api DELETE "/sandboxes/$(field "['sandboxID']")" >/dev/null
done
[ -z "$bad400" ] && [ "$(listed_ids)" = "$before" ]
check "create with bad httpsPorts: 400 naming the entry, nothing made" $? "$bad400"
# A private sandbox (tests/e2b/coved/traffic.test.mjs has the rest): its
# token asked for on a port of its (nothing listens: with the token the
# guest refuses, 502), envd's needing none.
s=$(api POST /sandboxes '{"templateID":"tiny","network":{"allowPublicTraffic":false}}')
prv=$(field "['sandboxID']") ptok=$(field "['trafficAccessToken']")
p1=$(curl -s -o "$out" -w '%{http_code}' -H "E2b-Sandbox-Id: $prv" -H 'E2b-Sandbox-Port: 8000' "$url/")
m=$(field "['message']")
p2=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $prv" -H 'E2b-Sandbox-Port: 8000' \
    -H "e2b-traffic-access-token: $ptok" "$url/")
h=$(health "$prv")
[ "$s" = 201 ] && [ ${#ptok} = 64 ] && [ "$p1" = 403 ] && [ "$p2" = 502 ] && [ "$h" = 204 ] &&
    [ "$m" = "Sandbox is secured with traffic access token. Token header 'e2b-traffic-access-token' is missing" ]
check "create with allowPublicTraffic false: a trafficAccessToken, asked for on port 8000 (403 without), not on envd's" $? \
    "$s token=${#ptok} without=$p1 with=$p2 envd=$h $m"
api DELETE "/sandboxes/$prv" >/dev/null
s=$(api GET /templates/aliases/tiny); [ "$s" = 200 ] && [ "$(cat "$out")" = '{"templateID":"tiny","public":false}' ]
s2=$(api GET /templates/aliases/no-such-template)
[ "$s2" = 404 ]; check "template alias: 200 {templateID, public} for one of this host, else 404" $? "$s $s2 $(cat "$out")"
s=$(api GET /templates)
tiny=$(python3 -c 'import json,sys; print(json.dumps([t for t in json.load(open(sys.argv[1])) if t["templateID"]=="tiny"][0], sort_keys=True))' "$out")
python3 -c 'import json,sys; t=json.loads(sys.argv[1])
need="templateID buildID cpuCount memoryMB diskSizeMB public aliases names createdAt updatedAt createdBy lastSpawnedAt spawnCount buildCount envdVersion buildStatus".split()
assert all(k in t for k in need), [k for k in need if k not in t]
assert t["spawnCount"] >= 4 and t["lastSpawnedAt"] and t["createdBy"] is None and t["names"] == ["tiny"]' "$tiny"
check "GET /templates: every field the SDK names, spawns counted" $? "$tiny"
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
