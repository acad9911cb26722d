#!/bin/bash
# E2B's template builder (npm e2b's Template.build) against a real coved and
# real build VMs (tests/e2b/build), then what the SDK cannot show: a coved
# stopped in the middle of a build runs it again when it starts, and leaves
# nothing half made. Templates are built in a templates directory of the
# test's own (base and tiny linked from the build's), so nothing lands in
# the build's.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
here=$(cd "$(dirname "$0")/../e2b/build" && pwd)
node_dir=${COVE_NODE_DIR:-$build/node}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../registry.sh"
[ -f "$node_dir/node_modules/e2b/package.json" ] || skip_all "npm e2b is not installed in $node_dir ('make' installs it)"
command -v node >/dev/null || skip_all "node is not installed ('make deps' installs it)"
need_root
need_snapshot base
base=$(mktemp -d /tmp/cove-build.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state
mkdir -p "$base/templates"
ln -s "$COVE_TEMPLATES/base" "$COVE_TEMPLATES/tiny" "$base/templates/"
coved_pid=""
cleanup() {
    kill $coved_pid 2>/dev/null; wait $coved_pid 2>/dev/null
    for p in "${registry_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$build/bin/cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
# Images for fromImage, made offline from busybox and served by two
# loopback registries, one of them asking for a login.
for t in skopeo umoci docker-registry htpasswd; do
    command -v $t >/dev/null || skip_all "$t is not installed ('make deps' installs it)"
done
stage_busybox "$base/stage"
oci=$base/oci
{ umoci init --layout "$oci" && umoci new --image "$oci:bb" && umoci insert --image "$oci:bb" "$base/stage" / &&
    umoci config --image "$oci:bb" --config.env IMAGE_VAR=from-image --config.workingdir /work; } >"$base/make.log" 2>&1 ||
    { echo "Bail out! cannot make the test image: $(tail -3 "$base/make.log")"; exit 1; }
start_registry open; open=$registry
htpasswd -Bbc "$base/htpasswd" tester s3cret 2>/dev/null
start_registry locked "$base/htpasswd"; locked=$registry
skopeo copy -q --dest-tls-verify=false "oci:$oci:bb" "docker://$open/bb:1" &&
    skopeo copy -q --dest-tls-verify=false --dest-creds tester:s3cret "oci:$oci:bb" "docker://$locked/bb:1" ||
    { echo "Bail out! cannot push the test image"; exit 1; }
export COVE_TEST_REGISTRY=$open COVE_TEST_LOCKED_REGISTRY=$locked
start_coved_sdk "$base/coved.log" --templates "$base/templates" --insecure-registries "$open,$locked"
export COVE_NODE_DIR=$node_dir COVE_BUILD=$build
rc=0
node --test --test-reporter=tap --test-concurrency=1 "$here"/*.test.mjs || rc=$?
[ $rc = 0 ] || sed 's/^/# coved: /' "$base/coved.log" | tail -20

# A build cut short by coved stopping is queued again at its start and
# ends ready; nothing of the first try is left.
sdk() { sdk_js "$1"; }
status() {
    curl -s -H "X-API-KEY: $E2B_API_KEY" "$E2B_API_URL/templates/restarted/builds/$1/status" |
        sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
}
bid=$(sdk "const i = await Template.buildInBackground(Template().fromTemplate('tiny').runCmd('echo first').runCmd('sleep 8; echo slept'), 'restarted');
console.log(i.buildId)" 2>&1)
for _ in $(seq 1 300); do [ "$(status "$bid")" = building ] && break; sleep 0.2; done
# Into the second step's sleep (the first is then in the cache).
for _ in $(seq 1 100); do
    curl -s -H "X-API-KEY: $E2B_API_KEY" "$E2B_API_URL/templates/restarted/builds/$bid/status" | grep -q '\[2/2\]' && break
    sleep 0.2
done
kill "$coved_pid"; wait "$coved_pid" 2>/dev/null
ls "$base/templates/.builds/$bid" >/dev/null 2>&1
check "a coved stopped mid-build leaves no half-made template" $((! $?))
start_coved_sdk "$base/coved2.log" --templates "$base/templates" --insecure-registries "$open,$locked"
grep -q "build=$bid op=recover\|queued again" "$base/coved2.log" ; :
for _ in $(seq 1 600); do s=$(status "$bid"); [ "$s" = ready ] || [ "$s" = error ] && break; sleep 0.2; done
check "the build is run again when coved starts, and ends ready" "$([ "$s" = ready ]; echo $?)" "status: $s"
log=$(curl -s -H "X-API-KEY: $E2B_API_KEY" "$E2B_API_URL/templates/restarted/builds/$bid/status")
echo "$log" | grep -q 'CACHED \[1/2\]'
check "its finished step came from the cache" $? "$log"
out=$(sdk "const s = await Sandbox.create('restarted');
const r = await s.commands.run('echo ok'); console.log(r.stdout.trim()); await s.kill()" 2>&1)
check "a sandbox of it runs" "$([ "$out" = ok ]; echo $?)" "$out"
curl -s -o /dev/null -X DELETE -H "X-API-KEY: $E2B_API_KEY" "$E2B_API_URL/templates/restarted"

# The CLI's form: an image, steps (a directory copied with owner and mode,
# an env), a service started before the snapshot; then again, from the
# cache; then removed.
export COVE_TEMPLATES=$base/templates
mkdir -p "$base/ctx/site" && echo cli-site >"$base/ctx/site/index.html"
bb=/usr/lib/cove/busybox
cli_build() {
    "$build/bin/cove" template build --from-image "docker://$open/bb:1" --insecure-registry "$open" \
        --run 'echo "$IMAGE_VAR" > /tmp/seen' --copy "$base/ctx/site:/srv/site:user:0750" --env MODE=cli \
        --start-cmd "$bb httpd -f -p 8080 -h /srv/site" --ready-cmd "$bb wget -q -O /dev/null http://127.0.0.1:8080/" \
        clibuilt 2>"$base/cli.err"
}
cli_build
check "cove template build --from-image with steps and a service" $? "$(tail -5 "$base/cli.err")"
out=$("$build/bin/cove" run --template clibuilt -- sh -c "cat /tmp/seen; echo \$MODE; whoami; $bb stat -c '%a %U' /srv/site; $bb wget -q -O - http://127.0.0.1:8080/index.html" 2>&1)
check "its sandboxes have the steps' files, env and user, and the service" \
    "$([ "$out" = "$(printf 'from-image\ncli\nuser\n750 user\ncli-site')" ]; echo $?)" "$out"
cli_build
grep -q 'CACHED \[3/3\]' "$base/cli.err"
check "built again, its steps come from the cache" $? "$(cat "$base/cli.err")"
"$build/bin/cove" template rm clibuilt 2>"$base/cli.err"
left=$(ls -A "$base/templates" | grep -v '^\.builds$\|^base$\|^tiny$')
check "cove template rm removes it and its build" "$([ -z "$left" ]; echo $?)" "$left $(cat "$base/cli.err")"
left=$(ls -A "$base/templates/.builds" 2>/dev/null)
check "every built template removed leaves no build directory" "$([ -z "$left" ]; echo $?)" "$left"
echo "1..$n"
[ $rc = 0 ] || exit $rc
