#!/bin/bash
# The cove command as a user runs it: real guests, output on the right
# streams, the guest's exit status as cove's, Ctrl-C, and nothing left behind.
# Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_ROOTFS:-}"
base=$(mktemp -d /tmp/cove-cli.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log
trap 'rm -rf "$base"' EXIT
out=$base/out err=$base/err

"$cove" run -- uname -a >"$out" 2>"$err"; rc=$?
grep -q '^Linux cove 6\.1\.' "$out"; check "uname -a runs in the guest kernel" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"

"$cove" run --mem 512 --cpus 2 -- sh -c 'echo out; echo err >&2; exit 3' >"$out" 2>"$err"; rc=$?
[ "$rc" = 3 ]; check "guest exit status becomes cove's (3)" $? "rc=$rc"
[ "$(cat "$out")" = out ] && [ "$(cat "$err")" = err ]
check "stdout and stderr arrive separately" $? "out=$(cat "$out")" "err=$(cat "$err")"

"$cove" run --cpus 2 -- sh -c 'grep -c ^processor /proc/cpuinfo; free -m | awk "/Mem/{print \$2}"' >"$out" 2>"$err"
cpus=$(sed -n 1p "$out"); mem=$(sed -n 2p "$out")
[ "$cpus" = 2 ] && [ "${mem:-0}" -gt 400 ] && [ "${mem:-0}" -le 512 ]
check "--cpus 2 gives 2 vCPUs, default memory is 512 MiB" $? "cpus=$cpus mem=$mem err=$(cat "$err")"

"$cove" run -- no-such-command >"$out" 2>"$err"; rc=$?
[ "$rc" = 127 ] && grep -q 'no-such-command: command not found' "$err"
check "a missing command exits 127 with a clear message" $? "rc=$rc err=$(cat "$err")"

"$cove" run -- /etc/passwd >"$out" 2>"$err"; rc=$?
[ "$rc" = 126 ]; check "a file that is not executable exits 126" $? "rc=$rc err=$(cat "$err")"

"$cove" run -e GREETING=hi -w /tmp -- sh -c 'echo $GREETING $(pwd)' >"$out" 2>"$err"
[ "$(cat "$out")" = "hi /tmp" ]; check "--env and --cwd reach the command" $? "out=$(cat "$out") err=$(cat "$err")"

"$cove" run --kernel /nonexistent/vmlinux -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q 'kernel /nonexistent/vmlinux' "$err" && [ "$(wc -l <"$err")" = 1 ]
check "a bad kernel path is one clear line and exit 125" $? "rc=$rc err=$(cat "$err")"

"$cove" run >"$out" 2>"$err"; rc=$?
[ "$rc" = 2 ] && grep -q 'no command given' "$err"; check "no command is a usage error (2)" $? "rc=$rc"

# Ctrl-C while the command runs: the sandbox is torn down and cove exits 130.
"$cove" run -- sleep 60 >"$out" 2>"$err" &
pid=$!
for _ in $(seq 1 300); do
    pgrep -f "$COVE_RUN_DIR" >/dev/null && [ -n "$(ls "$COVE_RUN_DIR" 2>/dev/null)" ] && break
    sleep 0.1
done
sleep 2 # let the guest boot and start sleep
kill -INT "$pid"
start=$(date +%s)
wait "$pid"; rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" = 130 ] && [ "$took" -le 5 ]; check "Ctrl-C tears the sandbox down (exit 130)" $? "rc=$rc took=${took}s err=$(cat "$err")"

# SIGKILL gives cove no chance to clean up: its VMM dies with it (parent-death
# signal) and the next cove run removes the directory left behind.
"$cove" run -- sleep 60 >"$out" 2>"$err" &
pid=$!
for _ in $(seq 1 300); do
    [ -n "$(ls "$COVE_RUN_DIR" 2>/dev/null)" ] && break
    sleep 0.1
done
sleep 2
kill -KILL "$pid"; wait "$pid" 2>/dev/null
sleep 0.5
stale=$(ls "$COVE_RUN_DIR" | wc -l)
killed=$(ls "$COVE_RUN_DIR")
vmms=$(pgrep -fc "$COVE_RUN_DIR")
"$cove" run -- true >"$out" 2>"$err"; rc=$?
cg=$(find /sys/fs/cgroup -maxdepth 3 -path "*/cove/$killed" -type d 2>/dev/null | wc -l)
[ "$stale" = 1 ] && [ "$vmms" = 0 ] && [ "$rc" = 0 ] && [ -z "$(ls "$COVE_RUN_DIR")" ] && [ "$cg" = 0 ]
check "a SIGKILLed run takes its VMM along; the next run removes its directory and cgroup" $? "stale=$stale vmms=$vmms rc=$rc cgroups=$cg left=$(ls "$COVE_RUN_DIR")"
rm -f "$COVE_LOG_DIR"/*.log # the killed run could not remove its logs

# --publish: a server started in the guest is reachable on a loopback port
# while the command runs; --token-file holds the agent's token meanwhile.
"$cove" run --publish 127.0.0.1:0:8000 --publish 0:49983 --token-file "$base/token" -- \
    sh -c 'mkdir -p /tmp/www && echo published >/tmp/www/index.html && exec httpd -f -p 8000 -h /tmp/www' >"$out" 2>"$err" &
pid=$!
for _ in $(seq 1 300); do [ -s "$base/token" ] && break; sleep 0.1; done
web=$(sed -n 's/.*published=127\.0\.0\.1:\([0-9]*\) guest_port=8000.*/\1/p' "$err")
agent=$(sed -n 's/.*published=127\.0\.0\.1:\([0-9]*\) guest_port=49983.*/\1/p' "$err")
page=""
for _ in $(seq 1 50); do page=$(curl -s "http://127.0.0.1:$web/" 2>/dev/null) && [ -n "$page" ] && break; sleep 0.1; done
token=$(cat "$base/token" 2>/dev/null)
auth=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Access-Token: $token" "http://127.0.0.1:$agent/files?path=/etc/hostname")
noauth=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$agent/files?path=/etc/hostname")
mode=$(stat -c %a "$base/token" 2>/dev/null)
kill -INT $pid; wait $pid
[ "$page" = published ] && [ "$auth" = 200 ] && [ "$noauth" = 401 ] && [ "${#token}" = 64 ] && [ "$mode" = 600 ] && [ ! -e "$base/token" ]
check "--publish relays host ports to guest ports; --token-file gives the agent's token (0600, removed after)" $? \
    "page=$page auth=$auth noauth=$noauth token=${#token} mode=$mode err=$(cat "$err")"
"$cove" run --publish 99999:80 -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 2 ] && grep -q 'expected \[ADDR:\]HOSTPORT:GUESTPORT' "$err"; check "a bad --publish is a usage error" $? "rc=$rc err=$(cat "$err")"

# The base template: Debian with python3, sudo and the default user `user`.
if [ -r "$COVE_TEMPLATES/base/rootfs.ext4" ]; then
    "$cove" run --template base -- python3 -c 'print(1+1)' >"$out" 2>"$err"; rc=$?
    [ "$rc" = 0 ] && [ "$(cat "$out")" = 2 ]; check "base: python3 -c 'print(1+1)' prints 2" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"
    "$cove" run --template base -- bash -c 'id -u; id -gn; pwd; echo "$HOME $USER $SHELL"; sudo -n id -u; touch f; stat -c %U:%G f' >"$out" 2>"$err"; rc=$?
    expected=$(printf '1000\nuser\n/home/user\n/home/user user /bin/bash\n0\nuser:user')
    [ "$rc" = 0 ] && [ "$(cat "$out")" = "$expected" ]
    check "base: commands run as user (1000) in /home/user, with passwordless sudo; files are theirs" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"
    "$cove" run --template base -- sh -c 'command -v bash python3 sudo ps update-ca-certificates >/dev/null && ls /etc/ssl/certs/ca-certificates.crt' >"$out" 2>"$err"; rc=$?
    [ "$rc" = 0 ]; check "base: bash, python3, sudo, procps and ca-certificates are installed" $? "rc=$rc out=$(cat "$out") err=$(cat "$err")"
else
    echo "ok $((n += 1)) # SKIP base template not built ($COVE_TEMPLATES/base)"
fi
"$cove" run --template no-such-template -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q "template 'no-such-template' not found" "$err" && [ "$(wc -l <"$err")" = 1 ]
check "an unknown template is one clear line and exit 125" $? "rc=$rc err=$(cat "$err")"
"$cove" run --template ../etc -- true >"$out" 2>"$err"; rc=$?
[ "$rc" = 125 ] && grep -q "template name '../etc'" "$err"
check "a template name cannot be a path" $? "rc=$rc err=$(cat "$err")"

# Nothing of any run above may remain.
sleep 0.2
left_procs=$(pgrep -fc "$COVE_RUN_DIR")
left_files=$(find "$COVE_RUN_DIR" "$COVE_LOG_DIR" -mindepth 1 2>/dev/null | grep -v '\.log$' | wc -l)
left_logs=$(find "$COVE_LOG_DIR" -name '*.log' 2>/dev/null | wc -l)
left_mounts=$(grep -c "$base" /proc/self/mountinfo)
[ "$left_procs" = 0 ] && [ "$left_files" = 0 ] && [ "$left_mounts" = 0 ]
check "no process, file or mount is left behind" $? "procs=$left_procs files=$left_files mounts=$left_mounts"
# The bad kernel path failed validation before any log was written.
[ "$left_logs" = 0 ]; check "logs are removed after successful runs" $? "logs=$(find "$COVE_LOG_DIR" -name '*.log')"
# Resources: the VMM runs in a cgroup of its own, limited to the sandbox's
# CPUs, memory (plus the VMM's overhead and room for the disk's throwaway
# overlay, which is in tmpfs) and processes; it goes afterwards.
"$cove" run --cpus 2 --mem 256 -- sleep 4 >"$out" 2>"$err" &
r=$!
q=""
for _ in $(seq 1 100); do q=$(vmm_pids "$COVE_RUN_DIR" | head -1); [ -n "$q" ] && break; sleep 0.1; done
sleep 0.5
group=$(sed -n 's|^[0-9]*:memory:\(/cove/.*\)$|\1|p; s|^0::\(/cove/.*\)$|\1|p' "/proc/$q/cgroup" 2>/dev/null | head -1)
if [ -d /sys/fs/cgroup/memory$group ] && [ -n "$group" ]; then
    mem=$(cat /sys/fs/cgroup/memory$group/memory.limit_in_bytes)
    cpu=$(cat /sys/fs/cgroup/cpu$group/cpu.cfs_quota_us)
    pids=$(cat /sys/fs/cgroup/pids$group/pids.max)
    gdir=/sys/fs/cgroup/memory$group
else
    v2=$( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo /sys/fs/cgroup || echo /sys/fs/cgroup/unified )
    mem=$(cat "$v2$group/memory.max" 2>/dev/null)
    cpu=$(cut -d' ' -f1 "$v2$group/cpu.max" 2>/dev/null)
    pids=$(cat "$v2$group/pids.max" 2>/dev/null)
    gdir=$v2$group
fi
disk=$(stat -c %s "$COVE_ROOTFS")
[ -n "$group" ] && [ "$mem" = $(((256 + 384) * 1024 * 1024 + disk)) ] && [ "$cpu" = 200000 ] && [ "$pids" = 512 ]
check "the VMM runs in a cgroup of its own with the sandbox's limits" $? "qemu=$q group=$group mem=$mem cpu=$cpu pids=$pids" "$(cat "/proc/$q/cgroup" 2>/dev/null)"
wait $r
[ -n "$group" ] && [ ! -d "$gdir" ]; check "... and the cgroup goes with the sandbox" $? "$gdir"

echo "1..$n"
