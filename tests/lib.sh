# Shared by the shell tests and bench/run.sh (sourced): TAP output and starting a coved.

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for line in "$@"; do echo "# $line"; done; }
check() { # check NAME CONDITION-EXIT-STATUS DETAILS...
    local name=$1 status=$2; shift 2
    if [ "$status" = 0 ]; then ok "$name"; else not_ok "$name" "$@"; fi
}

# unmount_under DIR: every mount beneath DIR taken off, deepest first: a
# coved's volumes (loop-mounted images) stay mounted when it stops, and
# rm -rf must neither descend into them nor leave their loop devices bound.
unmount_under() {
    awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    return 0
}

# A script that cannot run here says why in a TAP plan of nothing, and stops.
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# need_root: namespaces, links, TAP devices and nftables need it.
need_root() { [ "$(id -u)" = 0 ] || skip_all "needs root for namespaces, links and nftables"; }
# need_guest [FILE...]: the guest kernel and these (an image, a template).
need_guest() {
    [ -r "${COVE_KERNEL:-}" ] || skip_all "no guest kernel (COVE_KERNEL); run 'make' first"
    local f
    for f in "$@"; do [ -e "$f" ] || skip_all "no ${f:-guest image or templates}; run 'make' first"; done
}
# need_snapshot TEMPLATE: need_guest of it, and its template snapshot
# (sandboxes restored from it pause to disk, fork and snapshot).
need_snapshot() {
    need_guest "${COVE_TEMPLATES:-}/$1"
    [ -s "$COVE_TEMPLATES/$1/snapshot/snapshot.conf" ] || skip_all "the $1 template has no snapshot ('make' makes it as root)"
}

# start_coved LOG [FLAGS...]: coved from $build on a free loopback port, its
# state in $COVE_STATE_DIR; sets coved_pid and coved_url. Fails if it does
# not say where it listens within 5 s.
start_coved() {
    local log=$1; shift
    # Emptied here, not by the redirection below: that one happens in the
    # background, and a log of an earlier coved read before it would give
    # that one's port.
    : >"$log"
    "$build/bin/coved" --listen 127.0.0.1:0 --state-dir "$COVE_STATE_DIR" "$@" >>"$log" 2>&1 &
    coved_pid=$!
    coved_url=""
    local port
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^coved: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
        [ -n "$port" ] && { coved_url=http://127.0.0.1:$port; return 0; }
        kill -0 "$coved_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# vmm_pids DIR: the pids of the VMMs whose run directory is under DIR
# (COVE_VMM_DIR in their environment: a confined VMM's command line names
# only the files in its own root).
vmm_pids() {
    local p
    for p in $(pgrep -f qemu-system); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qF "COVE_VMM_DIR=$1" && echo "$p"
    done
    return 0
}

# restart_coved_sdk LOG PIDFILE URLFILE: for a test that restarts coved
# under the SDK (e2b_coved.sh's COVE_RESTART_COVED): the coved whose pid is
# in PIDFILE SIGKILLed, then start_coved again on the same state with the
# same API key ($E2B_API_KEY); its pid into PIDFILE, its URL into URLFILE
# and printed. The old one is not this shell's child: gone means exited
# (a zombie holds nothing).
restart_coved_sdk() {
    local log=$1 pidfile=$2 urlfile=$3 old
    old=$(cat "$pidfile")
    kill -9 "$old" 2>/dev/null
    wait_gone "$old" 200
    start_coved "$log" --api-key "$E2B_API_KEY" || { sed 's/^/# /' "$log" >&2; return 1; }
    echo "$coved_pid" >"$pidfile"
    echo "$coved_url" >"$urlfile"
    echo "$coved_url"
}

# sdk_js CODE: runs CODE (an ES module body) with the E2B SDK installed in
# $node_dir, its Sandbox and Template in scope, as a user's program would.
sdk_js() {
    node --input-type=module -e "import { createRequire } from 'node:module';
const { Template, Sandbox } = createRequire('$node_dir/')('e2b');
$1"
}

# crash_restart_coved_sdk LOG [FLAGS...]: the coved this script started
# (coved_pid), if any, killed with SIGKILL as a crash would, then
# start_coved_sdk LOG FLAGS: what it left behind is the new one's to take.
crash_restart_coved_sdk() {
    [ -n "$coved_pid" ] && kill -9 "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    start_coved_sdk "$@"
}

# stop_pidfile PIDFILE: SIGTERM to the coved whose pid is in it, and wait
# (up to a minute) until it is gone, whoever's child it is.
stop_pidfile() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    wait_gone "$pid" 1200
    wait "$pid" 2>/dev/null
}

# wait_gone PID TRIES: until PID has exited (gone, or a zombie: it holds
# nothing), checking every 50 ms at most TRIES times.
wait_gone() {
    for _ in $(seq 1 "$2"); do
        [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 0
        sleep 0.05
    done
    return 1
}

# start_coved_sdk LOG [FLAGS...]: start_coved with an API key of E2B's form
# (as coved makes them), and E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY
# (what the E2B SDKs read) pointed at it; says "not ok 1" and exits when
# coved does not start.
start_coved_sdk() {
    local log=$1 key
    shift
    key=e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
    start_coved "$log" --api-key "$key" "$@" || { echo "not ok 1 - coved did not start"; sed 's/^/# /' "$log"; exit 1; }
    unset E2B_DEBUG
    export E2B_API_URL=$coved_url E2B_SANDBOX_URL=$coved_url E2B_API_KEY=$key
}
