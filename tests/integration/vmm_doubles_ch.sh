#!/bin/bash
# The Cloud Hypervisor test double (tests/tools/cloud-hypervisor-double.c),
# run by hand as root outside Cove, as vmm_doubles.sh runs Firecracker's:
# in a scratch directory (VMM_DOUBLE_ROOT) and a network namespace with a
# TAP, driven with curl over its API socket through a whole life on a real
# guest (create, boot, pause, resume, snapshot, a new double restoring it,
# resume, power button and exit), and the refusals: a request against CH's
# published document is a 400 and a line in spec-violations; a refusal of
# the state machine is a 404/405 and none. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_ROOTFS:-}"
ch=$build/bin/tools/cloud-hypervisor-double
khz=$("$build/bin/tools/host-tsc-khz") || skip_all "the host's TSC frequency is unknown"
base=$(mktemp -d /tmp/cove-chdouble.XXXXXX)
ns=covc-$$
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    rm -rf "$base"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip tuntap add dev chtap0 mode tap
ip netns exec "$ns" ip link set chtap0 up

# start_double DIR: a CH double in DIR (API socket DIR/api.sock, console
# DIR/console); sets double_pid.
start_double() {
    local dir=$1
    mkdir -p "$dir"
    ip netns exec "$ns" env VMM_DOUBLE_ROOT="$dir" VMM_DOUBLE_ACCEL=tcg \
        "$ch" --api-socket "path=$dir/api.sock" -v >"$dir/console" 2>"$dir/stderr" &
    double_pid=$!
    pids+=("$double_pid")
    for _ in $(seq 1 100); do [ -S "$dir/api.sock" ] && return 0; sleep 0.05; done
    return 1
}
# api DIR METHOD ENDPOINT [BODY]: the response body, then the status on a line of its own.
api() {
    curl -s --max-time 120 -w '\n%{http_code}\n' --unix-socket "$1/api.sock" -X "$2" "http://localhost/api/v1/$3" \
        ${4:+-H 'Content-Type: application/json' -d "$4"}
}
status_of() { tail -1 <<<"$1"; }
violations() { [ -f "$1/spec-violations" ] && wc -l <"$1/spec-violations" || echo 0; }
wait_console() {
    for _ in $(seq 1 $(($3 * 10))); do grep -q "$2" "$1/console" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
wait_exit() {
    for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# --- the command line ---
out=$("$ch" --version)
check "--version prints CH's format" "$([[ "$out" =~ ^cloud-hypervisor\ v[0-9]+\.[0-9]+ ]]; echo $?)" "$out"
"$ch" --no-such-option >/dev/null 2>"$base/usage"
check "an unknown option is refused with status 1" "$([ $? = 1 ] && grep -q 'no-such-option' "$base/usage"; echo $?)"

# --- a whole life ---
one=$base/one
qemu-img create -q -f qcow2 -F raw -b "$COVE_ROOTFS" "$base/disk.qcow2"
start_double "$one"
check "the double binds its API socket (path=)" $?
out=$(api "$one" GET vmm.ping)
check "vmm.ping answers VmmPingResponse" "$(grep -q '"version"' <<<"$out" && [ "$(status_of "$out")" = 200 ]; echo $?)" "$out"
out=$(api "$one" PUT vm.boot)
check "vm.boot without a VM: 404, no spec violation" \
    "$([ "$(status_of "$out")" = 404 ] && [ "$(violations "$one")" = 0 ]; echo $?)" "$out"
args="console=ttyS0 panic=-1 root=/dev/vda rootfstype=ext4 rw init=/sbin/cove-init"
args="$args ip=10.78.0.2::10.78.0.1:255.255.255.0:ch-one:eth0:off tsc=reliable tsc_early_khz=$khz"
config="{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1},\"memory\":{\"size\":268435456},
 \"payload\":{\"kernel\":\"$COVE_KERNEL\",\"cmdline\":\"$args\"},
 \"disks\":[{\"path\":\"$base/disk.qcow2\",\"readonly\":false,\"backing_files\":true}],
 \"net\":[{\"tap\":\"chtap0\",\"mac\":\"06:00:0a:4e:00:02\"}],\"serial\":{\"mode\":\"Tty\"},\"console\":{\"mode\":\"Off\"}}"
out=$(api "$one" PUT vm.create "$config")
check "vm.create" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
out=$(api "$one" PUT vm.create "$config")
check "a second vm.create is refused, no spec violation" \
    "$([ "$(status_of "$out")" != 204 ] && [ "$(violations "$one")" = 0 ]; echo $?)" "$out"
out=$(api "$one" PUT vm.pause)
check "vm.pause before boot: 405, no spec violation" \
    "$([ "$(status_of "$out")" = 405 ] && [ "$(violations "$one")" = 0 ]; echo $?)" "$out"
out=$(api "$one" PUT vm.boot)
check "vm.boot" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
wait_console "$one" "Linux version" 60
check "the guest kernel boots (Linux version on the console)" $? "$(tail -3 "$one/console")"
# The line after "Linux version" may not be on the console yet.
wait_console "$one" "Kernel command line: " 30
seen=$(tr -d '\r' <"$one/console" | sed -n 's/.*Kernel command line: //p')
check "the guest sees exactly the cmdline sent" "$([ "$seen" = "$args" ]; echo $?)" "$seen"
wait_console "$one" "cove-agent: listening" 120
check "the guest agent starts (the qcow2 disk over its backing file is the root)" $? "$(tail -3 "$one/console")"
out=$(api "$one" GET vm.info)
check "vm.info says Running with the config" \
    "$(grep -q '"state":"Running"' <<<"$out" && grep -q '"boot_vcpus":1' <<<"$out"; echo $?)" "$out"

# --- refusals ---
out=$(api "$one" PUT vm.resize '{"desired_vcpus":"two"}')
check "a body against the document: 400 and a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] &&
        grep -q '^SPEC VIOLATION: PUT /api/v1/vm.resize: body.desired_vcpus: expected integer' "$one/spec-violations"; echo $?)" \
    "$out"
out=$(api "$one" PUT vm.snapshot '{"destination_url":"file:///x","compress":true}')
check "an unknown field: 400 and a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q "unknown property 'compress'" "$one/spec-violations"; echo $?)" "$out"
out=$(api "$one" PUT vm.no-such '{}')
check "an unknown path: 400 and a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && [ "$(violations "$one")" = 3 ]; echo $?)" "$out"
grep -q 'SPEC VIOLATION: PUT /api/v1/vm.no-such' "$one/stderr"
check "spec violations go to stderr too" $?
out=$(api "$one" PUT vm.snapshot "{\"destination_url\":\"file://$base\"}")
check "vm.snapshot while running: 405, no spec violation" \
    "$([ "$(status_of "$out")" = 405 ] && [ "$(violations "$one")" = 3 ]; echo $?)" "$out"
out=$(api "$one" PUT vm.resume)
check "vm.resume while running: 405" "$([ "$(status_of "$out")" = 405 ]; echo $?)" "$out"

# --- pause, resume, snapshot ---
out=$(api "$one" PUT vm.pause)
check "vm.pause" "$([ "$(status_of "$out")" = 204 ] && api "$one" GET vm.info | grep -q '"state":"Paused"'; echo $?)" "$out"
out=$(api "$one" PUT vm.resume)
check "vm.resume" "$([ "$(status_of "$out")" = 204 ] && api "$one" GET vm.info | grep -q '"state":"Running"'; echo $?)" "$out"
api "$one" PUT vm.pause >/dev/null
snap=$base/snap
mkdir -p "$snap"
out=$(api "$one" PUT vm.snapshot "{\"destination_url\":\"file://$snap\"}")
check "vm.snapshot while paused writes config.json, state.json, memory-ranges" \
    "$([ "$(status_of "$out")" = 204 ] && [ -s "$snap/config.json" ] && [ -s "$snap/state.json" ] &&
        [ -s "$snap/memory-ranges" ]; echo $?)" "$out $(ls -l "$snap")"
size=$(stat -c %s "$snap/memory-ranges") used=$(($(stat -c %b "$snap/memory-ranges") * 512))
check "memory-ranges is the guest's RAM, sparse ($used of $size bytes)" \
    "$([ "$size" = $((256 << 20)) ] && [ "$used" -lt "$size" ]; echo $?)"
kill -9 "$double_pid"
wait "$double_pid" 2>/dev/null
wait_exit "$double_pid" 10
check "the first double is killed" $?

# --- restore in a new double ---
two=$base/two
start_double "$two"
out=$(api "$two" PUT vm.restore "{\"source_url\":\"file://$snap\",\"prefault\":false,\"memory_restore_mode\":\"OnDemand\"}")
check "vm.restore on a fresh double" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
out=$(api "$two" GET vm.info)
check "the restored VM is Paused" "$(grep -q '"state":"Paused"' <<<"$out"; echo $?)" "$out"
out=$(api "$two" PUT vm.restore "{\"source_url\":\"file://$snap\"}")
check "a second vm.restore is refused (404), no spec violation" \
    "$([ "$(status_of "$out")" = 404 ] && [ "$(violations "$two")" = 0 ]; echo $?)" "$out"
out=$(api "$two" PUT vm.restore "{\"source_url\":\"file://$snap\",\"memory_restore_mode\":\"Lazy\"}")
check "a memory_restore_mode outside the enum: a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && [ "$(violations "$two")" = 1 ]; echo $?)" "$out"
out=$(api "$two" PUT vm.resume)
check "the restored VM resumes" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"

# --- power button ---
out=$(api "$two" PUT vm.power-button)
check "vm.power-button" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
two_pid=${pids[1]}
wait_exit "$two_pid" 90
check "the guest powers off and the double exits, as CH does" $? "$(tail -5 "$two/console")"
if kill -0 "$two_pid" 2>/dev/null; then
    kill -9 "$two_pid"
    not_ok "it exits with status 0" "still running"
else
    wait "$two_pid" 2>/dev/null
    check "it exits with status 0" $?
fi
echo "1..$n"
