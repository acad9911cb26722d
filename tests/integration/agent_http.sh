#!/bin/bash
# The agent's HTTP layer against malformed and unexpected requests, with
# curl, on the host (loopback): each gets the Connect or HTTP error it should,
# and the agent keeps serving. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
n=0
check() { # check NAME STATUS DETAILS...
    local name=$1 status=$2; shift 2
    n=$((n + 1))
    if [ "$status" = 0 ]; then echo "ok $n - $name"; else echo "not ok $n - $name"; for l in "$@"; do echo "# $l"; done; fi
}
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed ('make deps' installs it)"; exit 0; }
tmp=$(mktemp -d /tmp/cove-agent-http.XXXXXX)
# The image's resolv.conf, as a guest's /etc/resolv.conf stands in for it.
echo "nameserver 192.0.2.1 # the image's" >"$tmp/resolv.conf"
# A guest's tree for /init's caBundle: Debian's bundle (its last line
# unended), Alpine's cert.pem linking to it, and links that try to lead out
# of the tree: RHEL's bundle (absolute) and the CA file itself (relative).
root=$tmp/root
mkdir -p "$root/etc/ssl/certs" "$root/etc/pki/tls/certs" "$root/usr/local/share/ca-certificates"
printf -- '-----BEGIN CERTIFICATE-----\nb3RoZXI=\n-----END CERTIFICATE-----' >"$root/etc/ssl/certs/ca-certificates.crt"
ln -s certs/ca-certificates.crt "$root/etc/ssl/cert.pem"
echo outside >"$tmp/outside.pem"
ln -s "$tmp/outside.pem" "$root/etc/pki/tls/certs/ca-bundle.crt"
ln -s ../../../../../../../../outside.pem "$root/usr/local/share/ca-certificates/cove-egress.crt"
"$build/bin/cove-agent" --listen 127.0.0.1:0 --resolv-conf "$tmp/resolv.conf" --ca-root "$root" >"$tmp/agent.out" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 50); do grep -q listening "$tmp/agent.out" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/agent.out")
base=http://127.0.0.1:$port
req() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

code=$(req "$base/health"); [ "$code" = 204 ]; check "GET /health answers 204" $? "got $code"

code=$(req -X POST -H 'Content-Type: application/json' --data '{}' "$base/process.Process/Start")
[ "$code" = 400 ] && grep -q '"code":"invalid_argument"' "$tmp/body"
check "Start with a unary content type is invalid_argument (400)" $? "got $code $(cat "$tmp/body")"

printf '\x07\x00\x00\x00\x02{}' >"$tmp/bad-flags"
code=$(req -X POST -H 'Content-Type: application/connect+json' --data-binary @"$tmp/bad-flags" "$base/process.Process/Start")
[ "$code" = 200 ] && grep -aq '"code":"invalid_argument"' "$tmp/body"
check "a malformed envelope ends the stream with invalid_argument" $? "got $code $(cat -v "$tmp/body")"

printf '\x00\x00\x00\x00\x05nope!' >"$tmp/bad-json"
code=$(req -X POST -H 'Content-Type: application/connect+json' --data-binary @"$tmp/bad-json" "$base/process.Process/Start")
[ "$code" = 200 ] && grep -aq 'invalid_argument' "$tmp/body" && grep -aq 'not JSON' "$tmp/body"
check "bad JSON in the envelope ends the stream with invalid_argument" $? "got $code $(cat -v "$tmp/body")"

code=$(req -X POST -H 'Content-Type: application/json' --data '{}' "$base/process.Process/Nope")
[ "$code" = 404 ] && grep -q '"code":"unimplemented"' "$tmp/body"
check "an unknown method is unimplemented (404)" $? "got $code $(cat "$tmp/body")"

code=$(req "$base/process.Process/Start"); [ "$code" = 405 ]
check "GET on a POST route is 405" $? "got $code"

head -c 2097152 /dev/zero >"$tmp/big"
code=$(req -X POST -H 'Content-Type: application/connect+json' -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big" "$base/process.Process/Start")
[ "$code" = 429 ] && grep -q 'resource_exhausted' "$tmp/body"
check "a 2 MiB chunked body is refused (resource_exhausted)" $? "got $code $(cat "$tmp/body")"

code=$(req "$base/health"); [ "$code" = 204 ] && kill -0 $agent
check "the agent still serves after all of that" $? "got $code"

code=$(req "$base/metrics")
mem=$(sed -n 's/.*"mem_total":\([0-9]*\).*/\1/p' "$tmp/body")
[ "$code" = 200 ] && grep -q '"cpu_count":' "$tmp/body" && grep -q '"disk_total":' "$tmp/body" && [ "${mem:-0}" -gt 0 ]
check "GET /metrics reports cpu, memory and disk" $? "got $code $(cat "$tmp/body")"

# The polled watcher trio.
mkdir -p "$tmp/w"
code=$(req -X POST -H 'Content-Type: application/json' --data "{\"path\":\"$tmp/w\"}" "$base/filesystem.Filesystem/CreateWatcher")
id=$(sed -n 's/.*"watcherId":"\([0-9a-f]*\)".*/\1/p' "$tmp/body")
touch "$tmp/w/new-file"
code2=$(req -X POST -H 'Content-Type: application/json' --data "{\"watcherId\":\"$id\"}" "$base/filesystem.Filesystem/GetWatcherEvents")
grep -q '"name":"new-file","type":"EVENT_TYPE_CREATE"' "$tmp/body"; events=$?
code3=$(req -X POST -H 'Content-Type: application/json' --data "{\"watcherId\":\"$id\"}" "$base/filesystem.Filesystem/RemoveWatcher")
code4=$(req -X POST -H 'Content-Type: application/json' --data "{\"watcherId\":\"$id\"}" "$base/filesystem.Filesystem/GetWatcherEvents")
[ "$code" = 200 ] && [ -n "$id" ] && [ "$code2" = 200 ] && [ "$events" = 0 ] && [ "$code3" = 200 ] && [ "$code4" = 404 ]
check "CreateWatcher, GetWatcherEvents sees a new file, RemoveWatcher, then not_found" $? "codes $code $code2 $code3 $code4 id=$id body=$(cat "$tmp/body")"

# /init: from here on an access token is required.
start='{"process":{"cmd":"sh","args":["-c","echo $FROM_INIT; pwd"]},"stdin":false}'
printf "\\x00\\x00\\x00\\x00\\x$(printf %02x ${#start})%s" "$start" >"$tmp/start"
code=$(req -X POST -H 'Content-Type: application/json' \
    --data '{"accessToken":"s3cret","envVars":{"FROM_INIT":"yes"},"defaultWorkdir":"/tmp","timestamp":"2026-01-02T03:04:05.5Z"}' "$base/init")
[ "$code" = 204 ]; check "POST /init takes token, env vars, workdir and a timestamp" $? "got $code $(cat "$tmp/body")"
[ "$(date +%Y)" != 2026 ] || [ "$(date +%m)" != 01 ] || [ "$(date +%d)" != 02 ]
check "without --set-clock the agent leaves the host's clock alone" $? "date is $(date)"

# volumeMounts: an agent on a host (no --mount-volumes) never mounts.
vol='"server":"10.0.0.1","export":"/vol_0123456789abcdef01234567"'
code=$(req -X POST -H 'X-Access-Token: s3cret' -H 'Content-Type: application/json' \
    --data "{\"volumeMounts\":[{\"path\":\"$tmp/vol\",$vol}]}" "$base/init")
[ "$code" = 501 ] && grep -q -- '--mount-volumes' "$tmp/body" && [ ! -e "$tmp/vol" ]
check "without --mount-volumes an /init with volumes is 501 and makes nothing" $? "got $code $(cat "$tmp/body")"
code=$(req -X POST -H 'X-Access-Token: s3cret' -H 'Content-Type: application/json' \
    --data "{\"volumeMounts\":[{\"path\":\"/proc/x\",$vol}]}" "$base/init")
[ "$code" = 400 ] && grep -q 'volumeMounts\[0\].path: ' "$tmp/body"
check "a bad volumeMounts entry is 400 naming it" $? "got $code $(cat "$tmp/body")"

code=$(req -X POST -H 'Content-Type: application/connect+json' --data-binary @"$tmp/start" "$base/process.Process/Start")
[ "$code" = 401 ] && grep -q '"code":"unauthenticated"' "$tmp/body"
check "a call without the token is unauthenticated (401)" $? "got $code $(cat "$tmp/body")"
code=$(req -X POST -H 'X-Access-Token: wrong' -H 'Content-Type: application/connect+json' --data-binary @"$tmp/start" "$base/process.Process/Start")
[ "$code" = 401 ]; check "a wrong token is unauthenticated (401)" $? "got $code"
code=$(req "$base/files?path=/etc/hostname"); [ "$code" = 401 ] && grep -q 'signature' "$tmp/body"
check "GET /files needs the token or a signature" $? "got $code $(cat "$tmp/body")"
code=$(req "$base/health"); [ "$code" = 204 ]; check "/health needs no token" $? "got $code"

code=$(req -X POST -H 'X-Access-Token: s3cret' -H 'Content-Type: application/connect+json' --data-binary @"$tmp/start" "$base/process.Process/Start")
# "yes\n/tmp\n" in base64: in one stdout event, or in two ("yes\n", "/tmp\n").
[ "$code" = 200 ] && { grep -aq 'eWVzCi90bXAK' "$tmp/body" || { grep -aq 'eWVzCg==' "$tmp/body" && grep -aq 'L3RtcAo=' "$tmp/body"; }; }
check "with the token: /init's env vars and workdir reach the process" $? "got $code $(cat -v "$tmp/body")"

code=$(req -X POST -H 'Content-Type: application/json' --data '{"accessToken":"mine"}' "$base/init")
[ "$code" = 401 ]; check "once set, the token cannot be changed without it" $? "got $code"
code=$(req -X POST -H 'X-Access-Token: s3cret' -H 'Content-Type: application/json' --data '{"accessToken":"next"}' "$base/init")
code2=$(req -H 'X-Access-Token: next' "$base/files?path=/nonexistent")
[ "$code" = 204 ] && [ "$code2" = 404 ]; check "with it, /init rotates the token" $? "got $code then $code2"

# /init's nameservers (coved --dns) become the guest's resolv.conf.
grep -q "^nameserver 192.0.2.1 # the image's$" "$tmp/resolv.conf"
check "an /init without nameservers leaves resolv.conf as the image has it" $? "$(cat "$tmp/resolv.conf")"
code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' \
    --data '{"nameservers":["203.0.113.53","198.51.100.7"]}' "$base/init")
[ "$code" = 204 ] && [ "$(grep -v '^#' "$tmp/resolv.conf")" = "$(printf 'nameserver 203.0.113.53\nnameserver 198.51.100.7\noptions timeout:2 attempts:2')" ] &&
    [ "$(stat -c %a "$tmp/resolv.conf")" = 644 ] && [ -z "$(ls -A "$tmp" | grep cove-)" ]
check "/init's nameservers replace resolv.conf whole (mode 0644, no temporary file left)" $? "got $code $(cat "$tmp/resolv.conf") $(ls -la "$tmp")"
cp "$tmp/resolv.conf" "$tmp/resolv.before"
for bad in '"8.8.8.8"' '["8.8.8.8","x"]' '["::1"]' '["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4"]' '[8]'; do
    code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' \
        --data "{\"accessToken\":\"bad\",\"nameservers\":$bad}" "$base/init")
    [ "$code" = 400 ] && grep -q nameservers "$tmp/body" && cmp -s "$tmp/resolv.conf" "$tmp/resolv.before" &&
        [ "$(req -H 'X-Access-Token: next' "$base/files?path=/nonexistent")" = 404 ]
    check "/init with nameservers $bad: 400 naming them, nothing applied" $? "got $code $(cat "$tmp/body")"
done
code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data '{"nameservers":[]}' "$base/init")
[ "$code" = 204 ] && cmp -s "$tmp/resolv.conf" "$tmp/resolv.before"
check "/init with nameservers [] leaves resolv.conf alone" $? "got $code $(cat "$tmp/resolv.conf")"

# /init's caBundle (coved's egress authority) goes into the tree's trust store.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
    -subj /CN=egress-test -days 1 2>/dev/null
bundle=$root/etc/ssl/certs/ca-certificates.crt crt=$root/usr/local/share/ca-certificates/cove-egress.crt
last=$(grep -v -- ----- "$tmp/ca.pem" | tail -1) # the signature's end: this certificate's alone
ca_init() { # ca_init BODY: the code
    req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data "$1" "$base/init"
}
ca_json=$(python3 -c 'import json,sys; print(json.dumps({"caBundle": open(sys.argv[1]).read()}))' "$tmp/ca.pem")
code=$(ca_init "$ca_json")
[ "$code" = 204 ] && [ -f "$crt" ] && [ ! -L "$crt" ] && cmp -s "$crt" "$tmp/ca.pem" && [ "$(stat -c %a "$crt")" = 644 ] &&
    [ "$(grep -cxF "$last" "$bundle")" = 1 ] && [ "$(grep -c 'BEGIN CERTIFICATE' "$bundle")" = 2 ] &&
    grep -qx -- '-----END CERTIFICATE-----' <(head -3 "$bundle") && [ -L "$root/etc/ssl/cert.pem" ] &&
    [ "$(cat "$tmp/outside.pem")" = outside ] && [ -L "$root/etc/pki/tls/certs/ca-bundle.crt" ] &&
    [ -z "$(ls -A "$root/usr/local/share/ca-certificates" | grep -v '^cove-egress.crt$')" ]
check "/init's caBundle: the CA file (a link there replaced) and Debian's bundle (once, through Alpine's link) hold it; nothing outside the tree written" $? \
    "got $code" "$(ls -laR "$root")" "$(cat "$bundle")" "$(cat "$tmp/outside.pem")"
inode=$(stat -c %i "$crt")
code=$(ca_init "$ca_json")
[ "$code" = 204 ] && [ "$(grep -cxF "$last" "$bundle")" = 1 ] && [ "$(stat -c %i "$crt")" = "$inode" ]
check "the same caBundle again (a resume's /init) changes nothing" $? "got $code" "$(cat "$bundle")"
ca_env() { # ca_env: what a process sees of the trust variables
    local body='{"process":{"cmd":"sh","args":["-c","echo $NODE_EXTRA_CA_CERTS $SSL_CERT_FILE $REQUESTS_CA_BUNDLE"]},"stdin":false}'
    printf "\\x00\\x00\\x00\\x00\\x$(printf %02x ${#body})%s" "$body" >"$tmp/start-env"
    req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/connect+json' \
        --data-binary @"$tmp/start-env" "$base/process.Process/Start" >/dev/null
    grep -ao '"stdout":"[^"]*"' "$tmp/body" | sed 's/.*:"\(.*\)"/\1/' | base64 -d
}
want="/usr/local/share/ca-certificates/cove-egress.crt /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt"
got=$(ca_env); [ "$got" = "$want" ]
check "processes get NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and REQUESTS_CA_BUNDLE" $? "got '$got'"
code=$(ca_init '{"envVars":{"REQUESTS_CA_BUNDLE":"/mine.pem"}}')
got=$(ca_env); code2=$(req -H 'X-Access-Token: next' "$base/envs")
[ "$code" = 204 ] && [ "$got" = "${want% *} /mine.pem" ] && ! grep -q NODE_EXTRA_CA_CERTS "$tmp/body"
check "envVars win over the trust variables, which GET /envs does not list" $? "got $code '$got' $code2 $(cat "$tmp/body")"
cp "$bundle" "$tmp/bundle.before"
for bad in '"not a certificate"' '7' '"-----BEGIN CERTIFICATE-----\nAAAA\n"' \
    "$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read() + "junk"))' "$tmp/ca.pem")"; do
    code=$(ca_init "{\"accessToken\":\"bad\",\"caBundle\":$bad}")
    [ "$code" = 400 ] && grep -q caBundle "$tmp/body" && cmp -s "$bundle" "$tmp/bundle.before" &&
        [ "$(req -H 'X-Access-Token: next' "$base/files?path=/nonexistent")" = 404 ]
    check "/init with caBundle ${bad:0:40}: 400 naming it, nothing applied" $? "got $code $(cat "$tmp/body")"
done

# Signed /files URLs, as the SDK's downloadUrl/uploadUrl make them:
# v1_ + unpadded base64(sha256("path:operation:username:token[:expiration]")).
sign() { printf '%s' "$1" | openssl dgst -sha256 -binary | base64 | tr -d '='; }
echo signed >"$tmp/s.txt"
get_signed() { curl -s -o "$tmp/body" -w '%{http_code}' -G "$base/files" --data-urlencode "path=$1" --data-urlencode "signature=v1_$2" ${3:+--data-urlencode "signature_expiration=$3"}; }
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next")")
[ "$code" = 200 ] && [ "$(cat "$tmp/body")" = signed ]; check "a signed download URL reads the file without the token" $? "got $code $(cat "$tmp/body")"
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:write::next")")
[ "$code" = 401 ] && grep -q 'invalid signature' "$tmp/body"; check "a write signature does not read" $? "got $code $(cat "$tmp/body")"
code=$(get_signed /etc/hostname "$(sign "$tmp/s.txt:read::next")")
[ "$code" = 401 ]; check "a signature is for one path only" $? "got $code"
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::s3cret")")
[ "$code" = 401 ]; check "a signature made with an old token is refused" $? "got $code"
exp=$(( $(date +%s) + 60 ))
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next:$exp")" "$exp")
[ "$code" = 200 ]; check "a signature with a future expiration reads" $? "got $code $(cat "$tmp/body")"
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next:$exp")" "$((exp + 1))")
[ "$code" = 401 ]; check "the expiration cannot be moved without a new signature" $? "got $code"
exp=$(( $(date +%s) - 1 ))
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next:$exp")" "$exp")
[ "$code" = 401 ] && grep -q 'expired' "$tmp/body"; check "an expired signature is refused" $? "got $code $(cat "$tmp/body")"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H 'X-Access-Token: wrong' -G "$base/files" --data-urlencode "path=$tmp/s.txt" --data-urlencode "signature=v1_$(sign "$tmp/s.txt:read::next")")
[ "$code" = 401 ]; check "a wrong X-Access-Token is refused even beside a good signature (as envd)" $? "got $code"

# envd's REST errors, exactly: {"code":<status>,"message":"..."}.
exp=$(( $(date +%s) - 1 ))
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next:$exp")" "$exp")
[ "$code" = 401 ] && [ "$(cat "$tmp/body")" = '{"code":401,"message":"signature is already expired"}' ]
check "an expired signature: 401 and envd's body exactly" $? "got $code $(cat "$tmp/body")"
code=$(get_signed "$tmp/s.txt" "v1_not-the-signature")
[ "$code" = 401 ] && [ "$(cat "$tmp/body")" = '{"code":401,"message":"invalid signature"}' ]
check "a wrong signature: 401 invalid signature" $? "got $code $(cat "$tmp/body")"
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next:soon")" soon)
[ "$code" = 401 ] && grep -q '"code":401' "$tmp/body" && grep -q 'signature_expiration must be an integer' "$tmp/body"
check "a signature_expiration that is not a number is refused" $? "got $code $(cat "$tmp/body")"
exp=$(( $(date +%s) + 60 ))
code=$(get_signed "$tmp/s.txt" "$(sign "$tmp/s.txt:read::next:$exp")" "0$exp")
[ "$code" = 200 ]; check "the expiration is signed as the number it is (envd parses it)" $? "got $code $(cat "$tmp/body")"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -G "$base/files" --data-urlencode "path=$tmp/s.txt" --data-urlencode "username=nosuch" \
    --data-urlencode "signature=v1_$(sign "$tmp/s.txt:read:nosuch:next")")
[ "$code" = 401 ] && grep -q '"code":401' "$tmp/body" && grep -q "nosuch" "$tmp/body"
check "a signed URL for an unknown user: 401 in envd's shape" $? "got $code $(cat "$tmp/body")"
code=$(req -H 'X-Access-Token: next' "$base/files?path=$tmp/nonexistent")
[ "$code" = 404 ] && [ "$(cat "$tmp/body")" = "{\"code\":404,\"message\":\"path '$tmp/nonexistent' does not exist\"}" ]
check "GET /files of a missing file: 404 in envd's shape" $? "got $code $(cat "$tmp/body")"
code=$(req -H 'X-Access-Token: next' "$base/files?path=$tmp")
[ "$code" = 400 ] && grep -q '"code":400,"message":"path .* is a directory"' "$tmp/body"
check "GET /files of a directory: 400" $? "got $code $(cat "$tmp/body")"
code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: text/plain' --data x "$base/files?path=$tmp/typed.txt")
[ "$code" = 400 ] && grep -q 'unsupported content type' "$tmp/body" && [ ! -e "$tmp/typed.txt" ]
check "an upload that is neither multipart nor octet-stream is refused, nothing written" $? "got $code $(cat "$tmp/body")"
code=$(req "$base/envs")
[ "$code" = 401 ] && grep -q '"code":401' "$tmp/body"
check "GET /envs needs the token" $? "got $code $(cat "$tmp/body")"
code=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -H 'X-Access-Token: next' "$base/envs")
# (REQUESTS_CA_BUNDLE: the caBundle checks' envVars.)
[ "$code" = 200 ] && [ "$(cat "$tmp/body")" = '{"FROM_INIT":"yes","REQUESTS_CA_BUNDLE":"/mine.pem"}' ] &&
    grep -qi '^Cache-Control: no-store' "$tmp/headers"
check "GET /envs: /init's envVars, not cached" $? "got $code $(cat "$tmp/body") $(cat "$tmp/headers")"

# POST /files/compose: malformed bodies and bad sources, each refused with
# envd's status and nothing changed.
compose() { curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data-binary "$1" "$base/files/compose"; }
printf keep >"$tmp/dest.txt"; printf one >"$tmp/c1"; printf two >"$tmp/c2"
for bad in '' 'nope' '[1]' '{"source_paths":"a","destination":"d"}' '{"source_paths":[1],"destination":"d"}' \
    '{"source_paths":["a\u0000b"],"destination":"d"}' '{"source_paths":["a"],"destination":"d","destination":"e"}'; do
    code=$(compose "$bad")
    [ "$code" = 400 ] && grep -q '"code":400,"message":"' "$tmp/body"
    check "compose of a malformed body ($bad) is 400" $? "got $code $(cat "$tmp/body")"
done
code=$(compose '{"destination":"d"}')
[ "$code" = 400 ] && [ "$(cat "$tmp/body")" = '{"code":400,"message":"source_paths must not be empty"}' ]
check "compose without sources: 400 source_paths must not be empty" $? "got $code $(cat "$tmp/body")"
code=$(compose "{\"source_paths\":[\"$tmp/c1\"]}")
[ "$code" = 400 ] && [ "$(cat "$tmp/body")" = '{"code":400,"message":"destination is required"}' ]
check "compose without a destination: 400 destination is required" $? "got $code $(cat "$tmp/body")"
code=$(compose "{\"source_paths\":[\"$tmp/c1\",\"$tmp/none\"],\"destination\":\"$tmp/dest.txt\"}")
[ "$code" = 404 ] && [ "$(cat "$tmp/body")" = "{\"code\":404,\"message\":\"source file not found: $tmp/none\"}" ]
check "compose of a missing source: 404" $? "got $code $(cat "$tmp/body")"
code=$(compose "{\"source_paths\":[\"$tmp\"],\"destination\":\"$tmp/dest.txt\"}")
[ "$code" = 400 ] && grep -q 'not a regular file' "$tmp/body"
check "compose of a directory: 400" $? "got $code $(cat "$tmp/body")"
code=$(compose "{\"source_paths\":[\"$tmp/c1\",\"$tmp//dest.txt\"],\"destination\":\"$tmp/dest.txt\"}")
[ "$code" = 400 ] && grep -q 'cannot be the same as destination' "$tmp/body"
check "compose with the destination among its sources (by another name): 400" $? "got $code $(cat "$tmp/body")"
code=$(compose "{\"source_paths\":[\"$tmp/c1\"],\"destination\":\"$tmp/dest.txt\",\"username\":\"nosuch\"}")
[ "$code" = 401 ] && grep -q nosuch "$tmp/body"
check "compose as an unknown user: 401" $? "got $code $(cat "$tmp/body")"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "{\"source_paths\":[\"$tmp/c1\"],\"destination\":\"$tmp/dest.txt\"}" "$base/files/compose")
[ "$code" = 401 ] && grep -q '"code":401' "$tmp/body"
check "compose without the token: 401" $? "got $code $(cat "$tmp/body")"
head -c 5242880 /dev/zero | tr '\0' ' ' >"$tmp/big.json"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data-binary @"$tmp/big.json" "$base/files/compose")
[ "$code" = 413 ] && grep -q '"code":413' "$tmp/body"
check "a compose body over 4 MiB: 413" $? "got $code $(cat "$tmp/body")"
[ "$(cat "$tmp/dest.txt")" = keep ] && [ "$(cat "$tmp/c1")" = one ] && [ "$(cat "$tmp/c2")" = two ]
check "refused composes changed nothing" $? "dest=$(cat "$tmp/dest.txt")"
code=$(compose "{\"source_paths\":[\"$tmp/c1\",\"$tmp/c2\",\"$tmp/c1\"],\"destination\":\"$tmp/made/dest.txt\"}")
[ "$code" = 200 ] && [ "$(cat "$tmp/made/dest.txt")" = onetwoone ] && [ ! -e "$tmp/c1" ] && [ ! -e "$tmp/c2" ] &&
    [ "$(cat "$tmp/body")" = "{\"path\":\"$tmp/made/dest.txt\",\"name\":\"dest.txt\",\"type\":\"file\"}" ] &&
    [ -z "$(ls "$tmp/made" | grep -v '^dest.txt$')" ]
check "compose joins in order (a source twice too), removes the sources, leaves no temporary file" $? "got $code $(cat "$tmp/body") $(ls "$tmp/made")"

# Uploads: a signed URL, X-Metadata-* headers stored as user.e2b.* xattrs.
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H 'Content-Type: application/octet-stream' -H 'X-Metadata-Author: Ada' \
    -H 'x-metadata-purpose: test run' --data-binary 'payload' "$base/files" --url-query "path=$tmp/up.txt" \
    --url-query "signature=v1_$(sign "$tmp/up.txt:write::next")")
[ "$code" = 200 ] && [ "$(cat "$tmp/up.txt")" = payload ] && grep -q '"metadata":{"author":"Ada","purpose":"test run"}' "$tmp/body"
check "a signed upload writes the file and reports its metadata" $? "got $code $(cat "$tmp/body")"
code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data "{\"path\":\"$tmp/up.txt\"}" "$base/filesystem.Filesystem/Stat")
[ "$code" = 200 ] && grep -q '"metadata":{"author":"Ada","purpose":"test run"}' "$tmp/body"
check "Stat reports the metadata (user.e2b.* xattrs)" $? "got $code $(cat "$tmp/body")"
code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/octet-stream' -H 'X-Metadata-Other: 1' --data-binary x "$base/files?path=$tmp/up.txt")
code2=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data "{\"path\":\"$tmp/up.txt\"}" "$base/filesystem.Filesystem/Stat")
[ "$code" = 200 ] && grep -q '"metadata":{"other":"1"}' "$tmp/body"
check "an overwrite replaces the whole metadata set" $? "got $code $code2 $(cat "$tmp/body")"
code=$(req -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/octet-stream' -H $'X-Metadata-Bad: caf\xc3\xa9' --data-binary x "$base/files?path=$tmp/bad.txt")
[ "$code" = 400 ] && [ ! -e "$tmp/bad.txt" ] && grep -q 'printable ASCII' "$tmp/body"
check "metadata outside printable ASCII is refused and nothing is written" $? "got $code $(cat "$tmp/body")"
echo part >"$tmp/part"
code=$(req -H 'X-Access-Token: next' -F "file=@$tmp/part;filename=ignored" "$base/files?path=$tmp/one.txt")
[ "$code" = 200 ] && [ "$(grep -o '"path"' "$tmp/body" | wc -l)" = 1 ] && [ "$(cat "$tmp/one.txt")" = part ]
check "a multipart upload with ?path= writes and reports one file" $? "got $code $(cat "$tmp/body")"
code=$(req -H 'X-Access-Token: next' -F "file=@$tmp/part;filename=$tmp/twice.txt" -F "file=@$tmp/part;filename=$tmp/twice.txt" "$base/files")
[ "$code" = 400 ] && grep -q 'twice' "$tmp/body"
check "one upload cannot write a path twice (as envd)" $? "got $code $(cat "$tmp/body")"
# File names need not be UTF-8; JSON must be. envd (Go) answers with U+FFFD.
mkdir "$tmp/names"
code=$(req -H 'X-Access-Token: next' -F "file=@$tmp/part;filename=$(printf "$tmp/names/bad-\xff.txt")" "$base/files")
code2=$(curl -s -o "$tmp/body2" -w '%{http_code}' -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data "{\"path\":\"$tmp/names\"}" "$base/filesystem.Filesystem/ListDir")
[ "$code" = 200 ] && [ "$code2" = 200 ] && grep -q "bad-$(printf '\xef\xbf\xbd').txt" "$tmp/body" && grep -q 'bad-' "$tmp/body2" && [ -e "$(printf "$tmp/names/bad-\xff.txt")" ]
check "a file name that is not UTF-8 is written and listed, shown with U+FFFD" $? "got $code $code2 $(cat -v "$tmp/body") $(cat -v "$tmp/body2")"
code=$(curl -s -o /dev/null -D "$tmp/headers" -w '%{http_code}' -X POST -H 'X-Access-Token: next' -H 'Content-Type: application/json' --data '{}' "$base/init")
[ "$code" = 204 ] && grep -qi '^X-Envd-Version: 0\.6\.' "$tmp/headers"
check "/init says which envd version the agent implements (X-Envd-Version)" $? "got $code $(cat "$tmp/headers")"
# A gzip-encoded upload: whole (two members one after the other, as Go's
# reader takes them) it is stored decoded; cut short it is refused.
printf 'first ' | gzip -c >"$tmp/two.gz"; printf 'second' | gzip -c >>"$tmp/two.gz"
code=$(req -H 'X-Access-Token: next' -H 'Content-Type: application/octet-stream' -H 'Content-Encoding: gzip' \
    --data-binary @"$tmp/two.gz" "$base/files?path=$tmp/gz-whole")
[ "$code" = 200 ] && [ "$(cat "$tmp/gz-whole")" = "first second" ]
check "a gzip upload of two members is stored decoded" $? "$code $(cat "$tmp/body")"
head -c 10000 /dev/urandom | gzip -c | head -c 2000 >"$tmp/cut.gz"
code=$(req -H 'X-Access-Token: next' -H 'Content-Type: application/octet-stream' -H 'Content-Encoding: gzip' \
    --data-binary @"$tmp/cut.gz" "$base/files?path=$tmp/gz-cut")
[ "$code" = 400 ] && grep -q 'ended early' "$tmp/body"
check "a gzip upload cut short: 400, not a short file and 200" $? "$code $(cat "$tmp/body")"

# Each connection has a thread: user lookups at once must not read each
# other's /etc/passwd entries (fgetpwent's static buffer did, and a command
# failed with "user 'user' does not exist" under load).
: >"$tmp/many.cfg"
for i in $(seq 1 200); do
    if [ $((i % 2)) = 0 ]; then who=root; else who=nobody; fi
    [ "$i" = 1 ] || echo next >>"$tmp/many.cfg"
    printf 'silent\nurl = "%s"\nrequest = "POST"\nheader = "X-Access-Token: next"\nheader = "Content-Type: application/json"\nheader = "Authorization: Basic %s"\ndata = "{\\"path\\":\\"/etc/passwd\\"}"\nwrite-out = "%%{http_code} %s\\n"\noutput = "%s"\n' \
        "$base/filesystem.Filesystem/Stat" "$(printf '%s:' "$who" | base64)" "$who" "$tmp/many.$i" >>"$tmp/many.cfg"
done
curl -s -Z --parallel-max 40 -K "$tmp/many.cfg" >"$tmp/many.codes" 2>/dev/null
bad=$(grep -vc '^200 ' "$tmp/many.codes"); right=$(grep -l '"owner":"root","group":"root"' "$tmp"/many.[0-9]* | wc -l)
[ "$(wc -l <"$tmp/many.codes")" = 200 ] && [ "$bad" = 0 ] && [ "$right" = 200 ]
check "200 concurrent requests as root and nobody all find their users" $? "not 200: $bad, right owner: $right" "$(grep -hv '"owner"' "$tmp/many".[0-9]* | head -3)"
echo "1..$n"
