#!/bin/bash
# Guests cannot exhaust the host (issue 19), through a real coved with real
# guests: a guest filling its disk meets ENOSPC inside and its overlay stays
# within its disk's size, while another sandbox's commands keep their
# latency; a guest writing its serial console without end leaves logs no
# bigger than the cap (a file and its rotated one) and `cove logs` still
# reads them, while the other's commands keep their latency; admission
# counts disk (429 past --max-disk-mib, live sandboxes' growth included).
# Latencies are printed; only a generous relative bound is asserted.
# Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_snapshot tiny
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-guestcaps.XXXXXX)
cap_kib=64
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state COVE_LOG_MAX_KIB=$cap_kib
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT

start_coved "$base/coved.log" --net-pool 2 || { echo "not ok 1 - coved did not start"; sed 's/^/# /' "$base/coved.log"; exit 1; }
pid=$coved_pid
export COVE_URL=$coved_url
key=$(cat "$COVE_STATE_DIR/api-key")
metric() { curl -s -H "X-API-KEY: $key" "$COVE_URL/metrics" | sed -n "s/^$1 //p"; }

a=$("$cove" create --template tiny --timeout 600 2>"$base/err")
b=$("$cove" create --template tiny --timeout 600 2>>"$base/err")
[ -n "$a" ] && [ -n "$b" ]; check "two sandboxes" $? "$(cat "$base/err")"
[ -n "$a" ] && [ -n "$b" ] || exit 1

# The median of 7 runs of a trivial command in b, in ms.
latency() {
    local i s e t=()
    for i in 1 2 3 4 5 6 7; do
        s=$(date +%s%N)
        "$cove" exec "$b" -- true >/dev/null 2>&1
        e=$(date +%s%N)
        t+=($(((e - s) / 1000000)))
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n 4p
}
# Generous: 4 times the baseline, and at least 500 ms more than it.
close_to() { [ "$1" -le $(($2 * 4)) ] || [ "$1" -le $(($2 + 500)) ]; }
latency >/dev/null # warm
baseline=$(latency)
echo "# exec latency baseline: ${baseline} ms"

# --- Disk -------------------------------------------------------------------
growth0=$(metric cove_disk_growth_bytes)
size=$("$cove" exec "$a" -- sh -c 'df -k / | tail -1' | awk '{print $2}')
# A guest that fills its disk over and over.
"$cove" exec "$a" -- sh -c 'while :; do dd if=/dev/zero of=/root/fill bs=64k 2>/dev/null; rm -f /root/fill; sync; done' \
    >/dev/null 2>&1 &
filler=$!
sleep 2
during=$(latency)
kill -INT $filler 2>/dev/null; wait $filler 2>/dev/null
"$cove" exec "$a" -- sh -c 'pkill dd; pkill -f "while :"; rm -f /root/fill' >/dev/null 2>&1
echo "# exec latency while another guest fills its disk: ${during} ms (baseline ${baseline} ms)"
close_to "$during" "$baseline"; check "another sandbox's commands keep their latency while a guest fills its disk" $? \
    "during=$during baseline=$baseline"
out=$("$cove" exec "$a" -- sh -c 'dd if=/dev/zero of=/root/fill bs=64k 2>&1; echo rc=$?; sync')
echo "$out" | grep -q 'No space left on device' && echo "$out" | grep -q 'rc=1'
check "a guest filling its disk meets ENOSPC" $? "$out"
disk=$COVE_RUN_DIR/$a/disk.qcow2
virtual=$(qemu-img info -U --output=json "$disk" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
taken=$(($(stat -c %b "$disk") * 512))
echo "# full guest: overlay takes $((taken >> 20)) MiB of a ${virtual:-?}-byte disk (guest's ext4: ${size:-?} KiB)"
[ -n "$virtual" ] && [ "$taken" -le $((virtual + virtual / 16 + (1 << 20))) ]
check "a full guest's overlay stays within its disk's size (plus qcow2 metadata)" $? "taken=$taken virtual=$virtual"
[ "$("$cove" exec "$b" -- sh -c 'echo ok > /root/x && cat /root/x')" = ok ]
check "the other sandbox still writes its own disk" $?
# Metrics count live sandboxes' growth: a full disk has little left to grow.
for _ in $(seq 1 40); do
    growth1=$(metric cove_disk_growth_bytes)
    [ -n "$growth0" ] && [ -n "$growth1" ] && [ "$growth1" -lt "$growth0" ] && break
    sleep 0.5
done
[ -n "$growth0" ] && [ "$growth0" -ge $((2 * 32 << 20)) ] && [ "$growth1" -lt "$growth0" ]
check "metrics: the live sandboxes' possible disk growth, less once one filled its disk" $? \
    "before=$growth0 after=$growth1"

# --- Console ----------------------------------------------------------------
"$cove" exec "$a" -- sh -c 'rm -f /root/fill; while :; do echo "console flood console flood console flood"; done >/dev/ttyS0' \
    >/dev/null 2>&1 &
flooder=$!
sleep 3
during=$(latency)
sleep 2
con=$COVE_LOG_DIR/$a.console.log
sizes() { stat -c %s "$con" "$con.1" 2>/dev/null | tr '\n' ' '; }
mid=$(sizes)
echo "# exec latency while another guest floods its console: ${during} ms (baseline ${baseline} ms); log sizes: $mid"
close_to "$during" "$baseline"; check "another sandbox's commands keep their latency while a guest floods its console" $? \
    "during=$during baseline=$baseline"
[ -f "$con.1" ] && [ "$(stat -c %s "$con")" -le $((cap_kib * 1024)) ] && [ "$(stat -c %s "$con.1")" -le $((cap_kib * 1024)) ]
check "the console log is rotated and no file is over the cap ($cap_kib KiB)" $? "$mid"
"$cove" logs --limit 5 "$a" >"$base/logs" 2>&1
grep -q 'console flood' "$base/logs"; check "cove logs reads the rotated log" $? "$(head -5 "$base/logs")"
kill -INT $flooder 2>/dev/null; wait $flooder 2>/dev/null
total=$(($(stat -c %s "$con") + $(stat -c %s "$con.1")))
[ $total -le $((2 * cap_kib * 1024)) ]; check "console log and its rotated file together within twice the cap" $? "$total"
vmmlog=$COVE_LOG_DIR/$a.vmm.log
[ -f "$vmmlog" ] && [ "$(stat -c %s "$vmmlog")" -le $((cap_kib * 1024)) ]
check "the VMM's own log is written by coved, within the cap" $? "$(ls -l "$COVE_LOG_DIR")"
"$cove" kill "$a" >/dev/null 2>&1

# A coved killed and started again adopts b's VMM and reads its console again.
kill -9 "$pid"; wait "$pid" 2>/dev/null
start_coved "$base/coved.log" --net-pool 1 || { not_ok "coved started again"; sed 's/^/# /' "$base/coved.log"; exit 1; }
pid=$coved_pid
export COVE_URL=$coved_url
"$cove" exec "$b" -- sh -c 'echo guestcaps-after-restart >/dev/ttyS0' >/dev/null 2>&1
for _ in $(seq 1 40); do grep -q guestcaps-after-restart "$COVE_LOG_DIR/$b.console.log" 2>/dev/null && break; sleep 0.25; done
grep -q guestcaps-after-restart "$COVE_LOG_DIR/$b.console.log"
check "after coved restarts, the adopted VMM's console is logged again" $? "$(tail -3 "$COVE_LOG_DIR/$b.console.log" 2>&1)"
"$cove" kill "$b" >/dev/null 2>&1

# --- Admission --------------------------------------------------------------
kill "$pid"; wait "$pid" 2>/dev/null; pid=""
mkdir -p "$COVE_RUN_DIR"
read -r blocks free bsize < <(stat -f -c '%b %f %S' "$COVE_RUN_DIR")
used_mib=$(((blocks - free) * bsize >> 20))
# Room for one tiny sandbox (64 MiB disk), not two; 40 MiB of slack for
# whatever else writes to this file system meanwhile.
limit=$((used_mib + 64 + 40))
start_coved "$base/coved2.log" --net-pool 1 --max-disk-mib "$limit" ||
    { not_ok "coved with --max-disk-mib started"; sed 's/^/# /' "$base/coved2.log"; exit 1; }
pid=$coved_pid
export COVE_URL=$coved_url
c=$("$cove" create --template tiny --timeout 120 2>"$base/err")
check "a create within --max-disk-mib" $? "limit=$limit MiB $(cat "$base/err")"
"$cove" create --template tiny --timeout 120 >/dev/null 2>"$base/err"
grep -q 'not enough disk on this host' "$base/err"
check "a create that would go over (the live sandbox's growth counted) is refused" $? "$(cat "$base/err")"
code=$(curl -s -o "$base/body" -w '%{http_code}' -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
    -d '{"templateID":"tiny","timeout":60}' "$COVE_URL/sandboxes")
[ "$code" = 429 ] && grep -q 'not enough disk' "$base/body"; check "... with 429 and the reason" $? "$code $(cat "$base/body")"
[ "$(metric cove_disk_limit_bytes)" = $((limit << 20)) ]; check "metrics: the disk limit" $? "$(metric cove_disk_limit_bytes)"
[ -n "$c" ] && "$cove" kill "$c" >/dev/null 2>&1
echo "1..$n"
