#!/bin/bash
# cove run --share: host directories in real guests through virtiofs. Reads
# and writes both ways, owners and modes, a read-only share the guest's root
# cannot write (not even after remounting it), a guest that tries to leave
# its share (.., symbolic and hard links), device nodes, two shares at once,
# the errors before boot, and no virtiofsd left after any way a run ends.
# (Saving, snapshotting and forking a VM with shares is refused before
# anything is tried; `cove run` never asks for them: test_vmm_shares.)
# Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_ROOTFS:-}"
[ -x /usr/lib/qemu/virtiofsd ] || command -v virtiofsd >/dev/null || skip_all "no virtiofsd (apt-get install qemu-system-common)"
base=$(mktemp -d /tmp/cove-share.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log
secret=$(mktemp /tmp/cove-share-secret.XXXXXX)
echo "host secret" >"$secret"
trap 'rm -rf "$base" "$secret"' EXIT
out=$base/out err=$base/err
rw=$base/outside/rw ro=$base/outside/ro
mkdir -p "$rw" "$ro"
echo marker >"$base/outside/marker"

# virtiofsd processes of this test's runs (their staging trees are in its
# run directory) and mounts of them the host can see (none, ever).
sidecars() { pgrep -fc "source=$COVE_RUN_DIR" || true; }
host_mounts() { awk -v d="$COVE_RUN_DIR/" 'index($5, d) == 1' /proc/self/mountinfo | wc -l; }

# --- reads and writes, both ways ---
echo "from the host" >"$rw/host.txt"
echo "read-only content" >"$ro/kept.txt"
"$cove" run --share "$rw:/mnt/rw" --share "$ro:/mnt/ro:ro" -- sh -c '
    cat /mnt/rw/host.txt && cat /mnt/ro/kept.txt && echo "from the guest" >/mnt/rw/guest.txt' >"$out" 2>"$err"
rc=$?
[ "$rc" = 0 ] && [ "$(sed -n 1p "$out")" = "from the host" ] && [ "$(sed -n 2p "$out")" = "read-only content" ]
check "the guest reads what the host wrote, in two shares at once" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"
[ "$(cat "$rw/guest.txt" 2>/dev/null)" = "from the guest" ]
check "the host reads what the guest wrote" $? "guest.txt=$(cat "$rw/guest.txt" 2>&1)"
[ "$(sidecars)" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ] && [ "$(host_mounts)" = 0 ]
check "no virtiofsd, run directory or mount is left after the run" $? "virtiofsd=$(sidecars) left=$(ls "$COVE_RUN_DIR")"

# --- owners and modes ---
echo x >"$rw/hostowned"; chown 4321:4322 "$rw/hostowned"; chmod 0751 "$rw/hostowned"
"$cove" run --share "$rw:/mnt/rw" -- sh -c '
    echo y >/mnt/rw/owned && chown 1234:2345 /mnt/rw/owned && chmod 0640 /mnt/rw/owned &&
    stat -c "%u:%g %a" /mnt/rw/hostowned' >"$out" 2>"$err"
rc=$?
host_view=$(stat -c '%u:%g %a' "$rw/owned" 2>&1)
[ "$rc" = 0 ] && [ "$host_view" = "1234:2345 640" ]
check "a file the guest's root chowns and chmods shows that owner and mode on the host" $? "rc=$rc host=$host_view err=$(cat "$err")"
[ "$(cat "$out")" = "4321:4322 751" ]
check "the guest sees the host's owner and mode" $? "guest=$(cat "$out")"

# --- a read-only share ---
before=$(cd "$ro" && find . -printf '%p %s %m %u\n' | sort | md5sum)
"$cove" run --share "$ro:/mnt/ro:ro" -- sh -c '
    echo new >/mnt/ro/new 2>&1; echo "create=$?"
    echo more >>/mnt/ro/kept.txt; echo "append=$?"
    rm /mnt/ro/kept.txt; echo "rm=$?"
    grep -q " /mnt/ro virtiofs ro," /proc/mounts; echo "mounted_ro=$?"
    mount -o remount,rw /mnt/ro; echo "remount=$?"
    echo new >/mnt/ro/after-remount; echo "create_after_remount=$?"' >"$out" 2>"$err"
rc=$?
grep -q 'Read-only file system' "$out" "$err" && grep -q '^create=1$' "$out" && grep -q '^append=1$' "$out" &&
    grep -q '^rm=1$' "$out" && grep -q '^mounted_ro=0$' "$out"
check "a read-only share refuses writes in the guest (EROFS)" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"
after=$(cd "$ro" && find . -printf '%p %s %m %u\n' | sort | md5sum)
grep -q '^create_after_remount=1$' "$out" && [ "$before" = "$after" ]
check "remounted read-write by the guest's root it still cannot write; the host directory is unchanged" $? \
    "out=$(cat "$out")" "files=$(ls -la "$ro")"

# --- leaving the share ---
ln -sf /etc "$rw/etc-link"
ln -sf "$secret" "$rw/secret-link"
ln -sf ../marker "$rw/up-link"
"$cove" run --share "$rw:/mnt/rw" -- sh -c '
    echo "dotdot=$(ls -a /mnt/rw/.. | tr "\n" " ")"
    echo "mnt=$(ls -a /mnt | tr "\n" " ")"
    cat /mnt/rw/../marker 2>/dev/null; echo "marker=$?"
    cat /mnt/rw/up-link 2>/dev/null; echo "uplink=$?"
    cat /mnt/rw/secret-link 2>/dev/null; echo "secret=$?"
    echo "etc=$(ls /mnt/rw/etc-link/ | tr "\n" " ")"
    echo "guest_etc=$(ls /etc/ | tr "\n" " ")"
    cd /mnt/rw && cd .. && echo "pwd=$(pwd)"
    ln -s /etc/shadow /mnt/rw/guest-link; echo "symlink=$?"
    echo guest >/tmp/guest-file && ln /tmp/guest-file /mnt/rw/hard-link 2>/dev/null; echo "hardlink=$?"' >"$out" 2>"$err"
rc=$?
dotdot=$(sed -n 's/^dotdot=//p' "$out"); mnt=$(sed -n 's/^mnt=//p' "$out")
[ "$rc" = 0 ] && [ -n "$dotdot" ] && [ "$dotdot" = "$mnt" ] && grep -q '^pwd=/mnt$' "$out" &&
    grep -q '^marker=1$' "$out" && grep -q '^uplink=1$' "$out"
check ".. from the share's root is the guest's /mnt, not the host's parent directory" $? "out=$(cat "$out") err=$(cat "$err")"
guest_view=$(sed -n 's/^etc=//p' "$out")
grep -q '^secret=1$' "$out" && ! grep -q 'host secret' "$out" && [ -n "$guest_view" ] &&
    [ "$guest_view" = "$(sed -n 's/^guest_etc=//p' "$out")" ] && [ "$guest_view" != "$(ls /etc/ | tr '\n' ' ')" ]
check "an absolute symbolic link the host put in the share resolves in the guest's tree" $? "out=$(cat "$out")"
[ -L "$rw/guest-link" ] && [ "$(readlink "$rw/guest-link")" = /etc/shadow ] && grep -q '^hardlink=1$' "$out" &&
    [ ! -e "$rw/hard-link" ]
check "a link the guest makes is only a link on the host (a hard link out of the share fails)" $? \
    "out=$(cat "$out")" "files=$(ls -la "$rw")"

# --- device nodes ---
"$cove" run --share "$rw:/mnt/rw" -- sh -c '
    mknod /mnt/rw/mem c 1 1; echo "char=$?"
    mknod /mnt/rw/disk b 8 0; echo "block=$?"' >"$out" 2>"$err"
grep -q '^char=1$' "$out" && grep -q '^block=1$' "$out" && [ ! -e "$rw/mem" ] && [ ! -e "$rw/disk" ]
check "the guest's root cannot make device nodes in a share (virtiofsd has no CAP_MKNOD)" $? \
    "out=$(cat "$out") err=$(cat "$err")" "files=$(ls -la "$rw")"

# --- errors before boot ---
"$cove" run --share /nonexistent/cove-dir:/mnt/x -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q 'host directory /nonexistent/cove-dir: No such file or directory' "$err" &&
    [ "$(wc -l <"$err")" = 1 ] && [ -z "$(ls "$COVE_RUN_DIR" 2>/dev/null)" ]
check "a missing host directory is one clear line before boot (exit 125)" $? "rc=$rc err=$(cat "$err")"
"$cove" run --share "$secret:/mnt/x" -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q 'not a directory' "$err"
check "a host file that is not a directory is refused before boot" $? "rc=$rc err=$(cat "$err")"
bad=0
for arg in "$rw" "$rw:" ":/mnt/x" "$rw:mnt/x" "$rw:/mnt/x:rx" "$rw:/mnt/x:ro:more"; do
    "$cove" run --share "$arg" -- true >"$out" 2>"$err"; rc=$?
    if [ "$rc" != 2 ] || ! grep -q "^cove run: --share .*: expected HOSTDIR:GUESTPATH\[:ro\]" "$err"; then
        bad=1; echo "# --share '$arg': rc=$rc err=$(head -1 "$err")"
    fi
done
check "bad --share syntax is a usage error (exit 2) naming the form" $bad
args=()
for i in $(seq 0 8); do args+=(--share "$rw:/mnt/s$i"); done
"$cove" run "${args[@]}" -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 2 ] && grep -q 'at most 8 shares' "$err"
check "more than 8 shares is a usage error" $? "rc=$rc err=$(head -1 "$err")"
"$cove" run --share "$rw:/proc/x" -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q 'must not be in /proc' "$err" && [ "$(sidecars)" = 0 ]
check "a guest path the agent refuses fails the run, and its virtiofsd goes" $? "rc=$rc err=$(cat "$err")"

# --- nothing left, however the run ends ---
"$cove" run --share "$rw:/mnt/rw" -- sh -c 'exit 3' >"$out" 2>"$err"; rc=$?
[ "$rc" = 3 ] && [ "$(sidecars)" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ]
check "a failing guest command: its status, and no virtiofsd left" $? "rc=$rc virtiofsd=$(sidecars) err=$(cat "$err")"

# wait_running: until a run's virtiofsd and guest command are up.
wait_running() {
    for _ in $(seq 1 300); do
        [ "$(sidecars)" -ge 1 ] && [ -e "$rw/started" ] && return 0
        sleep 0.1
    done
    return 1
}
rm -f "$rw/started"
"$cove" run --share "$rw:/mnt/rw" -- sh -c 'touch /mnt/rw/started; sleep 60' >"$out" 2>"$err" &
pid=$!
wait_running
# The confined VMM is handed the connected socket: no socket path in its jail.
confined=1
for p in $(vmm_pids "$COVE_RUN_DIR"); do
    uid=$(awk '/^Uid/ { print $2 }' "/proc/$p/status")
    tr '\0' '\n' <"/proc/$p/cmdline" | grep -qx 'socket,id=vfs0,fd=[0-9]*' && [ "$uid" != 0 ] && confined=0
done
check "the confined VMM (its own uid) gets the share's socket as a descriptor" $confined
kill -INT "$pid"
wait "$pid"; rc=$?
sleep 0.2
[ "$rc" = 130 ] && [ "$(sidecars)" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ]
check "Ctrl-C (SIGINT) mid-run: exit 130, no virtiofsd left" $? "rc=$rc virtiofsd=$(sidecars) err=$(cat "$err")"

rm -f "$rw/started"
"$cove" run --share "$rw:/mnt/rw" --share "$ro:/mnt/ro:ro" -- sh -c 'touch /mnt/rw/started; sleep 60' >"$out" 2>"$err" &
pid=$!
wait_running
kill -KILL "$pid"; wait "$pid" 2>/dev/null
left=9
for _ in $(seq 1 50); do
    left=$(sidecars); [ "$left" = 0 ] && break
    sleep 0.1
done
[ "$left" = 0 ] && [ "$(host_mounts)" = 0 ]
check "SIGKILL of cove run mid-run: its virtiofsd go with its VMM, no mount left" $? "virtiofsd=$left"
"$cove" run -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ]
check "the next run removes what the killed one left" $? "rc=$rc left=$(ls "$COVE_RUN_DIR")"
rm -f "$COVE_LOG_DIR"/*.log

# --- a template with a snapshot still boots its kernel with shares ---
if [ -s "$COVE_TEMPLATES/base/snapshot/snapshot.conf" ]; then
    "$cove" run --template base --share "$rw:/mnt/rw" -- cat /mnt/rw/host.txt >"$out" 2>"$err"; rc=$?
    [ "$rc" = 0 ] && [ "$(cat "$out")" = "from the host" ]
    check "with a template snapshot there, a run with shares boots and sees them" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"
fi

echo "1..$n"
