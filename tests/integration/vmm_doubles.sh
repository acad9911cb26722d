#!/bin/bash
# The VMM test doubles (tests/tools/firecracker-double.c), run by hand as
# root outside Cove: each in a scratch directory (its root for scratch files
# and spec-violations, VMM_DOUBLE_ROOT) and in a network namespace of this
# test's own with a TAP in it, driven with curl over its API socket through
# a whole life on a real guest (configure, start, boot, pause, resume,
# snapshot, kill, load in a new double, resume, a Diff snapshot of it
# loaded in a third through cove-pager (a Uffd backend), power off and
# exit), and
# the refusals: a request against the published API document is a 400 and
# a line in spec-violations; a refusal of the state machine is a 400 and
# none. Then the jailer double (tests/tools/jailer-double.c): the command
# lines docs/jailer.md rules out refused, and a run that execs the
# Firecracker double in the jail it builds. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_ROOTFS:-}"
fc=$build/bin/tools/firecracker-double
khz=$("$build/bin/tools/host-tsc-khz") || skip_all "the host's TSC frequency is unknown"
base=$(mktemp -d /tmp/cove-doubles.XXXXXX)
ns=covd-$$
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    rm -rf "$base"
}
trap cleanup EXIT
ip netns add "$ns"
for tap in dbltap0 dbltap1; do
    ip netns exec "$ns" ip tuntap add dev $tap mode tap
    ip netns exec "$ns" ip link set $tap up
done

# start_double DIR ID: a Firecracker double in DIR (its API socket DIR/api.sock,
# its guest's console in DIR/console); sets double_pid.
start_double() {
    local dir=$1 id=$2
    mkdir -p "$dir"
    ip netns exec "$ns" env VMM_DOUBLE_ROOT="$dir" VMM_DOUBLE_ACCEL=tcg \
        "$fc" --api-sock "$dir/api.sock" --id "$id" --level Info >"$dir/console" 2>"$dir/stderr" &
    double_pid=$!
    pids+=("$double_pid")
    for _ in $(seq 1 100); do [ -S "$dir/api.sock" ] && return 0; sleep 0.05; done
    return 1
}
# api DIR METHOD PATH [BODY]: prints the response body, then the status on a line of its own.
api() {
    curl -s --max-time 120 -w '\n%{http_code}\n' --unix-socket "$1/api.sock" -X "$2" "http://localhost$3" \
        ${4:+-H 'Content-Type: application/json' -d "$4"}
}
status_of() { tail -1 <<<"$1"; }
# start_pager SOCK VMM_PID LOG LAYER...: cove-pager listening on SOCK for
# the double VMM_PID, serving LAYER... (top first), as the driver starts
# it (descriptor 3 the socket, 4... the files); sets pager_pid.
start_pager() {
    local sock=$1 vmm=$2 log=$3; shift 3
    python3 - "$build/bin/cove-pager" "$sock" "$vmm" "$@" <<'PY' 2>"$log" &
import os, socket, sys
pager, sock, vmm, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sock)
s.listen(1)
fds = [os.dup(s.fileno())] + [os.open(l, os.O_RDONLY) for l in layers]
high = [os.dup2(fd, 100 + i) for i, fd in enumerate(fds)]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
os.execv(pager, [pager, "--vmm-pid", vmm, "--layers", str(len(layers))])
PY
    pager_pid=$!
    pids+=("$pager_pid")
    for _ in $(seq 1 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
    return 1
}
violations() { [ -f "$1/spec-violations" ] && wc -l <"$1/spec-violations" || echo 0; }
# wait_console DIR PATTERN SECONDS
wait_console() {
    for _ in $(seq 1 $(($3 * 10))); do grep -q "$2" "$1/console" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
wait_exit() { # wait_exit PID SECONDS
    for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# --- the command line ---
out=$("$fc" --version)
check "firecracker-double --version prints the real format" "$([ "$out" = "Firecracker v1.14.4" ]; echo $?)" "$out"
"$fc" --no-such-option >/dev/null 2>"$base/usage"
check "an unknown option is refused with status 1" "$([ $? = 1 ] && grep -q 'no-such-option' "$base/usage"; echo $?)"

# --- a whole life ---
one=$base/one
cp --sparse=always "$COVE_ROOTFS" "$base/rootfs"
start_double "$one" fc-one
check "the double binds its API socket" $?
out=$(api "$one" GET /)
check "GET / answers InstanceInfo, not started" \
    "$(grep -q '"state":"Not started"' <<<"$out" && grep -q '"id":"fc-one"' <<<"$out"; echo $?)" "$out"
args="console=ttyS0 panic=-1 root=/dev/vda rootfstype=ext4 rw init=/sbin/cove-init"
args="$args ip=10.77.0.2::10.77.0.1:255.255.255.0:fc-one:eth0:off tsc=reliable tsc_early_khz=$khz"
ok_all=0
for req in "PUT /machine-config {\"vcpu_count\":1,\"mem_size_mib\":256}" \
    "PUT /boot-source {\"kernel_image_path\":\"$COVE_KERNEL\",\"boot_args\":\"$args\"}" \
    "PUT /drives/rootfs {\"drive_id\":\"rootfs\",\"path_on_host\":\"$base/rootfs\",\"is_root_device\":true,\"is_read_only\":false}" \
    "PUT /network-interfaces/eth0 {\"iface_id\":\"eth0\",\"host_dev_name\":\"dbltap0\",\"guest_mac\":\"06:00:0a:4d:00:02\"}" \
    "PUT /entropy {}"; do
    read -r m p b <<<"$req"
    out=$(api "$one" "$m" "$p" "$b")
    [ "$(status_of "$out")" = 204 ] || { ok_all=1; echo "# $m $p: $out"; }
done
check "the guest is configured (machine, boot source, drive, network, entropy)" $ok_all
out=$(api "$one" PUT /snapshot/create '{"snapshot_path":"/x","mem_file_path":"/y"}')
check "snapshot/create before start is refused (400), no spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && [ "$(violations "$one")" = 0 ]; echo $?)" "$out"
out=$(api "$one" PUT /actions '{"action_type":"InstanceStart"}')
check "InstanceStart" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
wait_console "$one" "Linux version" 60
check "the guest kernel boots (Linux version on the console)" $? "$(tail -3 "$one/console")"
# The line after "Linux version" may not be on the console yet.
wait_console "$one" "Kernel command line: " 30
seen=$(tr -d '\r' <"$one/console" | sed -n 's/.*Kernel command line: //p')
check "the guest sees exactly the boot_args sent" "$([ "$seen" = "$args" ]; echo $?)" "$seen"
wait_console "$one" "cove-init" 120
check "cove-init runs in the guest" $? "$(tail -3 "$one/console")"
# The agent listening: init is past its start-up (it watches the power
# button from then on), so the snapshot below is of a settled guest.
wait_console "$one" "cove-agent: listening" 120
check "the guest agent starts" $? "$(tail -3 "$one/console")"
out=$(api "$one" GET /)
check "GET / says Running" "$(grep -q '"state":"Running"' <<<"$out"; echo $?)" "$out"

# --- refusals ---
before=$(violations "$one")
out=$(api "$one" PUT /boot-source "{\"kernel_image_path\":\"$COVE_KERNEL\"}")
check "a pre-boot resource after start: 400, Firecracker's message, no spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q 'not supported after starting' <<<"$out" &&
        [ "$(violations "$one")" = "$before" ]; echo $?)" "$out"
out=$(api "$one" PUT /machine-config '{"vcpu_count":"one","mem_size_mib":256}')
check "a body against the document: 400 with fault_message and a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q fault_message <<<"$out" &&
        grep -q '^SPEC VIOLATION: PUT /machine-config: body.vcpu_count: expected integer' "$one/spec-violations"; echo $?)" \
    "$out"
out=$(api "$one" PUT /no-such-path '{}')
check "an unknown path: 400 and a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q '^SPEC VIOLATION: PUT /no-such-path: ' "$one/spec-violations"; echo $?)" "$out"
out=$(api "$one" PATCH /vm '{"state":"Paused","when":"now"}')
check "an unknown field: 400 and a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q "unknown property 'when'" "$one/spec-violations"; echo $?)" "$out"
grep -q 'SPEC VIOLATION: PATCH /vm' "$one/stderr"
check "spec violations go to stderr too" $?
out=$(api "$one" PUT /snapshot/create "{\"snapshot_path\":\"$base/state\",\"mem_file_path\":\"$base/mem\"}")
check "snapshot/create while running is refused (400), no spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && [ "$(violations "$one")" = 3 ]; echo $?)" "$out"

# --- pause, resume, snapshot ---
out=$(api "$one" PATCH /vm '{"state":"Paused"}')
check "PATCH /vm Paused" "$([ "$(status_of "$out")" = 204 ] && api "$one" GET / | grep -q '"state":"Paused"'; echo $?)" "$out"
out=$(api "$one" PATCH /vm '{"state":"Resumed"}')
check "PATCH /vm Resumed" "$([ "$(status_of "$out")" = 204 ] && api "$one" GET / | grep -q '"state":"Running"'; echo $?)" "$out"
api "$one" PATCH /vm '{"state":"Paused"}' >/dev/null
out=$(api "$one" PUT /snapshot/create '{"snapshot_type":"Diff","snapshot_path":"/x","mem_file_path":"/y"}')
check "a Diff snapshot without dirty tracking is refused" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q track_dirty_pages <<<"$out"; echo $?)" "$out"
out=$(api "$one" PUT /snapshot/create \
    "{\"snapshot_type\":\"Full\",\"snapshot_path\":\"$base/state\",\"mem_file_path\":\"$base/mem\"}")
check "snapshot/create while paused writes the state and memory files" \
    "$([ "$(status_of "$out")" = 204 ] && [ -s "$base/state" ] && [ -s "$base/mem" ]; echo $?)" "$out"
size=$(stat -c %s "$base/mem") used=$(($(stat -c %b "$base/mem") * 512))
check "the memory file is the guest's RAM, sparse ($used of $size bytes)" \
    "$([ "$size" = $((256 << 20)) ] && [ "$used" -lt "$size" ]; echo $?)"
kill -9 "$double_pid"
wait "$double_pid" 2>/dev/null
wait_exit "$double_pid" 10
check "the first double is killed" $?

# --- load in a new double ---
two=$base/two
start_double "$two" fc-two
out=$(api "$two" PUT /logger '{"level":"Info"}')
out=$(api "$two" PUT /snapshot/load \
    "{\"snapshot_path\":\"$base/state\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$base/mem\"},\"track_dirty_pages\":true,\"resume_vm\":false}")
check "snapshot/load on a fresh double (after the logger)" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
out=$(api "$two" GET /)
check "the loaded guest is Paused" "$(grep -q '"state":"Paused"' <<<"$out"; echo $?)" "$out"
out=$(api "$two" PATCH /vm '{"state":"Resumed"}')
check "the loaded guest resumes" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"

# --- dirty pages: a Diff over what was loaded, loaded through the page server ---
sleep 2 # the guest runs a moment: its timers change some pages
api "$two" PATCH /vm '{"state":"Paused"}' >/dev/null
out=$(api "$two" PUT /snapshot/create \
    "{\"snapshot_type\":\"Diff\",\"snapshot_path\":\"$base/state2\",\"mem_file_path\":\"$base/diff2\"}")
diff_used=$(($(stat -c %b "$base/diff2" 2>/dev/null || echo 0) * 512))
check "a Diff snapshot after a load tracking dirty pages: the pages that changed ($diff_used of $used bytes)" \
    "$([ "$(status_of "$out")" = 204 ] && [ "$diff_used" -gt 0 ] && [ "$diff_used" -lt $((used / 2)) ] &&
        [ "$(stat -c %s "$base/diff2")" = "$size" ]; echo $?)" "$out"
api "$two" PATCH /vm '{"state":"Resumed"}' >/dev/null
three=$base/three
start_double "$three" fc-three
api "$three" PUT /machine-config '{"vcpu_count":1,"mem_size_mib":128}' >/dev/null
out=$(api "$three" PUT /snapshot/load \
    "{\"snapshot_path\":\"$base/state\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$base/mem\"}}")
check "snapshot/load after configuring is refused (400), no spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && grep -q 'not allowed after configuring' <<<"$out" &&
        [ "$(violations "$three")" = 0 ]; echo $?)" "$out"
out=$(api "$three" PUT /snapshot/load '{"mem_backend":{"backend_type":"File","backend_path":"/m"}}')
check "snapshot/load without snapshot_path: a spec violation" \
    "$([ "$(status_of "$out")" = 400 ] && [ "$(violations "$three")" = 1 ]; echo $?)" "$out"
kill "$double_pid" 2>/dev/null

# --- power off ---
out=$(api "$two" PUT /actions '{"action_type":"SendCtrlAltDel"}')
check "SendCtrlAltDel (a power button for the guest)" "$([ "$(status_of "$out")" = 204 ]; echo $?)" "$out"
two_pid=${pids[1]}
wait_exit "$two_pid" 90
check "the guest powers off and the double exits" $? "$(tail -5 "$two/console")"
if kill -0 "$two_pid" 2>/dev/null; then
    kill -9 "$two_pid"
    not_ok "it exits with status 0" "still running"
else
    wait "$two_pid" 2>/dev/null
    check "it exits with status 0" $?
fi

# --- the Diff loaded through the page server, once its guest has gone (a
# restore opens the snapshot's drive, which that guest held) ---
four=$base/four
start_double "$four" fc-four
four_pid=$double_pid
start_pager "$base/uffd.sock" "$four_pid" "$base/pager.log" "$base/diff2" "$base/mem"
check "cove-pager listens for the double" $? "$(cat "$base/pager.log")"
out=$(api "$four" PUT /snapshot/load "{\"snapshot_path\":\"$base/state2\",\"mem_backend\":{\"backend_type\":\"Uffd\",\"backend_path\":\"$base/uffd.sock\"},\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"dbltap1\"}],\"track_dirty_pages\":true,\"resume_vm\":true}")
check "snapshot/load with a Uffd backend (and the second TAP): the guest resumes from the Diff over the memory file" \
    "$([ "$(status_of "$out")" = 204 ] && api "$four" GET / | grep -q '"state":"Running"' &&
        [ "$(violations "$four")" = 0 ]; echo $?)" "$out" "$(tail -3 "$four/stderr")" "$(cat "$base/pager.log")"
# The guest that resumed from pages the page server gave: it runs on, and
# powers off; the server ends with its VMM, having served from both files.
out=$(api "$four" PUT /actions '{"action_type":"SendCtrlAltDel"}')
wait_exit "$four_pid" 90
check "the guest served by cove-pager powers off and its double exits" $? "$out" "$(tail -5 "$four/console")"
wait_exit "$pager_pid" 10 && wait "$pager_pid" 2>/dev/null
rc=$?
from_top=$(sed -n 's/.* with \([0-9]*\) pages from the top file, \([0-9]*\) from below.*/\1 \2/p' "$base/pager.log")
check "cove-pager ends with its VMM, status 0, having served pages of both files ($from_top)" \
    "$([ $rc = 0 ] && [ "${from_top%% *}" -gt 0 ] && [ "${from_top##* }" -gt 0 ]; echo $?)" "$(cat "$base/pager.log")"

# --- the jailer double (tests/tools/jailer-double.c): its command line as
# docs/jailer.md has it, and its steps ---
jailer=$build/bin/tools/jailer-double
jbase=$base/jail
mkdir -p "$jbase"
refused() { # WHAT PATTERN ARGS...: refused, saying PATTERN, nothing made
    local what=$1 pattern=$2 out rc; shift 2
    out=$("$jailer" "$@" 2>&1); rc=$?
    [ $rc != 0 ] && grep -q -- "$pattern" <<<"$out" && [ -z "$(ls -A "$jbase")" ]
    check "jailer double: refuses $what" $? "rc=$rc out=$out"
}
refused "an id that is not letters, digits and hyphens" "Invalid instance ID" --id "a/b" --exec-file "$fc" \
    --uid 4242 --gid 4243 --chroot-base-dir "$jbase"
refused "an exec file whose name lacks firecracker" 'must contain "firecracker"' --id j1 --exec-file /bin/true \
    --uid 4242 --gid 4243 --chroot-base-dir "$jbase"
refused "a missing --uid" "'--uid' required" --id j1 --exec-file "$fc" --gid 4243 --chroot-base-dir "$jbase"
refused "an argument it does not know" "wasn't expected" --id j1 --exec-file "$fc" --uid 4242 --gid 4243 --bogus 1
refused "a chroot base that is not a directory" "not a directory" --id j1 --exec-file "$fc" --uid 4242 --gid 4243 \
    --chroot-base-dir "$fc"
# A whole run: Firecracker's double exec'd in the jail, as uid 4242 and gid
# 4243, with the jailer's arguments before what followed "--". The double is
# linked dynamically: /usr is bound into its root first (as Cove's launch
# does), in a mount namespace of its own.
root=$jbase/firecracker-double/j1/root
mkdir -p "$root/usr"
ln -s usr/lib "$root/lib" && ln -s usr/lib64 "$root/lib64"
out=$(unshare -m --propagation private sh -c 'mount --bind -o ro /usr "$1/usr" && shift && exec "$@"' sh "$root" \
    "$jailer" --id j1 --exec-file "$fc" --uid 4242 --gid 4243 --chroot-base-dir "$jbase" \
    --resource-limit no-file=1024 -- --version 2>&1)
rc=$?
[ $rc = 0 ] && grep -q "^Firecracker v" <<<"$out" && cmp -s "$fc" "$root/firecracker-double" &&
    [ -n "$(cat "$root/firecracker-double.pid")" ] &&
    [ "$(stat -c '%F %a %u:%g' "$root/dev/net/tun")" = "character special file 600 4242:4243" ] &&
    [ "$(stat -c '%a %u:%g' "$root" "$root/dev" "$root/run" | sort -u)" = "700 4242:4243" ] &&
    { ! grep -qw userfaultfd /proc/misc || [ -c "$root/dev/userfaultfd" ]; }
check "jailer double: copies the exec file into BASE/NAME/ID/root, makes its nodes and folders, and execs it" $? \
    "rc=$rc out=$out" "$(ls -laR "$root" 2>&1 | head -20)"
echo "1..$n"
