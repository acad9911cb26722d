#!/bin/bash
# make bench: boot-time benchmark of `cove run -- true`, beside a reference
# measured in the same run on the same kernel and image: bare QEMU started by
# hand, booting the guest straight to power-off (the floor for any host).
#
# Prints median and max (and p99, which for 10 runs is the max) of:
#   vmm_to_agent  QEMU started -> guest agent answered (from cove run --timing)
#   total         the whole `cove run -- true` command, wall clock
#   bare_qemu     QEMU started -> guest powered off, no Cove involved
# Goals on this machine (TCG): vmm_to_agent median <= 800 ms, total <= 1200 ms.
# Then bench/net.sh: network slot set-up and teardown (and the same with ip and
# nft commands); then bench/libvirt.sh: libvirt's create, save and restore of
# the same guest; then bench/agent.mjs: the guest agent's round trip and
# throughput; then bench/coved.mjs: coved through the SDK, and bench/tls.mjs:
# an envd call over coved's HTTPS beside HTTP; then bench/warm.mjs: creates
# from a warm pool beside restores; bench/interpreter.mjs: the code
# interpreter's runCode beside a bare Jupyter execute in the same guest;
# bench/build.sh: template builds (an image import, steps, a cached rebuild);
# bench/egress.sh: the egress proxy beside direct connections; bench/cluster.sh:
# a cluster gateway beside the host it forwards to; bench/confine.sh: a create
# with the VMM confined beside one with VMMs as root; bench/volumes.mjs: a
# mounted volume beside the guest's own disk; pager-bench: Firecracker's
# page server beside its File backend.
set -eu
build=${1:-build}
runs=${BENCH_RUNS:-10}
cove=$build/bin/cove
kernel=$build/guest/vmlinux
rootfs=$build/guest/templates/tiny/rootfs.ext4
tmp=$(mktemp -d /tmp/cove-bench.XXXXXX)
# The benchmark's own network instance (never a Cove running on this host's).
export COVE_RUN_DIR=$tmp/run COVE_LOG_DIR=$tmp/log COVE_STATE_DIR=$tmp/state
export COVE_NET_NAME=covb COVE_NET_RANGE=10.214.0.0/16 COVE_NET_DIR=/run/cove-bench/netns
# `cove run` stays local (the reference), even with a coved on this host.
export COVE_URL=http://127.0.0.1:9
cleanup() {
    "$build/bin/cove" net gc --pool >/dev/null 2>&1 || true
    nft delete table inet covb 2>/dev/null || true
    # Volumes stay mounted after coved stops (bench/volumes.mjs makes one).
    awk -v d="$tmp/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    umount /run/cove-bench/netns 2>/dev/null || true
    rm -rf "$tmp" /run/cove-bench
}
trap cleanup EXIT

# start_coved (shared with the tests)
. "$(dirname "$0")/../tests/lib.sh"

# ms and stats (shared with libvirt.sh)
. "$(dirname "$0")/lib.sh"

echo "bench: $runs runs each, interleaved (cove run, then bare QEMU), on $(nproc) cores"
: >"$tmp/agent"; : >"$tmp/total"; : >"$tmp/bare"
# The bare reference gets the same kernel command line tweak Cove passes.
khz=$("$cove" run --template tiny --boot -- cat /proc/cmdline | sed -n 's/.*tsc_early_khz=\([0-9]*\).*/\1/p')
for i in $(seq 1 "$runs"); do
    t0=$(ms)
    "$cove" run --template tiny --boot --timing -- true 2>"$tmp/timing"
    t1=$(ms)
    echo $((t1 - t0)) >>"$tmp/total"
    sed -n 's/.*vmm_to_agent_ms=\([0-9.]*\).*/\1/p' "$tmp/timing" >>"$tmp/agent"
    accel=$(sed -n 's/.*accel=\([a-z]*\).*/\1/p' "$tmp/timing")

    # The reference: the same guest without Cove, straight to power-off.
    t0=$(ms)
    qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
        -machine "microvm,accel=${accel:-tcg},acpi=on" -cpu max -smp 1 -m 512M \
        -kernel "$kernel" -append "console=ttyS0 quiet panic=-1 root=/dev/vda rootfstype=ext4 ro init=/bin/busybox ${khz:+tsc=reliable tsc_early_khz=$khz} -- poweroff -f" \
        -drive "id=rootfs,file=$rootfs,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=rootfs \
        -chardev "file,id=console,path=$tmp/bare-console.log" -serial chardev:console
    t1=$(ms)
    echo $((t1 - t0)) >>"$tmp/bare"
done
echo "accel: ${accel:-unknown}"
stats vmm_to_agent "$tmp/agent"
stats total "$tmp/total"
stats bare_qemu "$tmp/bare"
echo "goals: vmm_to_agent median <= 800 ms; total median <= 1200 ms (bare_qemu includes the guest's power-off)"

# The same guest restored from a template snapshot (a copy of tiny, snapshot
# made here), interleaved with cold boots of it.
echo
mkdir -p "$tmp/templates" && cp -r "$build/guest/templates/tiny" "$tmp/templates/"
if COVE_TEMPLATES=$tmp/templates "$cove" template snapshot tiny 2>"$tmp/snap.err"; then
    : >"$tmp/r_agent"; : >"$tmp/r_total"; : >"$tmp/c_total"
    for i in $(seq 1 "$runs"); do
        t0=$(ms)
        COVE_TEMPLATES=$tmp/templates "$cove" run --template tiny --timing -- true 2>"$tmp/timing"
        t1=$(ms)
        echo $((t1 - t0)) >>"$tmp/r_total"
        sed -n 's/.*vmm_to_agent_ms=\([0-9.]*\).*/\1/p' "$tmp/timing" >>"$tmp/r_agent"
        t0=$(ms)
        "$cove" run --template tiny --boot -- true
        echo $(($(ms) - t0)) >>"$tmp/c_total"
    done
    stats restored_agent "$tmp/r_agent"
    stats restored_total "$tmp/r_total"
    stats cold_total "$tmp/c_total"
    # The floor: the same snapshot restored by hand in a bare QEMU (exec to
    # running; no namespaces, cgroup, slot or agent).
    if "$(dirname "$0")/bare_restore.py" "$tmp/templates/tiny/snapshot" "$tmp/templates/tiny/rootfs.ext4" \
        "$kernel" 1 512 "$runs" >"$tmp/bare_restore" 2>"$tmp/bare_restore.err"; then
        stats bare_restore "$tmp/bare_restore"
    else
        echo "bare_restore failed: $(tail -3 "$tmp/bare_restore.err")"
    fi
    echo "(restored_agent: VMM start -> restored -> agent answered /init; bare_restore: QEMU exec -> restored and"
    echo " running, by hand; goal of the snapshots issue: create to first command p50 <= 50 ms)"
else
    echo "snapshot bench skipped: $(tail -1 "$tmp/snap.err")"
fi

# libvirt, the tool a user would otherwise pick: create, save and restore
# of the same guest in the same run.
echo
"$(dirname "$0")/libvirt.sh" "$build" "${accel:-tcg}" "$runs" || echo "libvirt reference failed"

echo
"$(dirname "$0")/net.sh" "$build"

echo
if [ ! -f "$build/node/node_modules/e2b/package.json" ]; then
    echo "agent bench skipped: the E2B SDK is not installed in $build/node (make installs it)"
    exit 0
fi
COVE_BUILD=$(cd "$build" && pwd) node "$(dirname "$0")/agent.mjs"

# The same inside a guest of the base template, its agent published on
# loopback (the host path of tests/integration/e2b_guest.sh).
echo
if [ ! -r "$build/guest/templates/base/rootfs.ext4" ]; then
    echo "in-guest agent bench skipped: the base template is not built"
    exit 0
fi
"$cove" run --template base --mem 1024 --publish 0:49983 --token-file "$tmp/token" -- sleep 3600 2>"$tmp/guest.err" &
guest=$!
for _ in $(seq 1 600); do [ -s "$tmp/token" ] && break; kill -0 $guest 2>/dev/null || break; sleep 0.1; done
port=$(sed -n 's/.*published=127\.0\.0\.1:\([0-9]*\) guest_port=49983.*/\1/p' "$tmp/guest.err")
if [ -s "$tmp/token" ] && [ -n "$port" ]; then
    COVE_BUILD=$(cd "$build" && pwd) COVE_E2B_URL=http://127.0.0.1:$port COVE_E2B_TOKEN=$(cat "$tmp/token") \
        BENCH_RUNS_AGENT=${BENCH_RUNS_AGENT_GUEST:-20} node "$(dirname "$0")/agent.mjs" || echo "in-guest agent bench failed"
else
    echo "in-guest agent bench: the sandbox did not come up: $(tail -1 "$tmp/guest.err")"
fi
kill -TERM $guest; wait $guest 2>/dev/null || true

# coved through the SDK: create-to-first-command, 20 at once, the proxy's cost,
# coved's own memory and CPU with 100 idle sandboxes.
echo
# Room for the 100 idle sandboxes of the last part (tiny guests touch little
# of their 512 MiB), and for 20 base sandboxes at once, whose 8 GiB disks
# admission would otherwise count as full (--max-disk-mib: they write little).
port=""
# It serves HTTPS too, with a local CA (bench/tls.mjs).
"$build/bin/coved" --make-local-ca --state-dir "$COVE_STATE_DIR" >/dev/null
start_coved "$tmp/coved.log" --api-key bench --net-pool 4 --max-sandboxes 128 --max-memory-mib 131072 \
    --max-disk-mib 1048576 --tls-local --tls-listen 127.0.0.1:0 && port=${coved_url##*:}
coved=$coved_pid
tls_port=$(sed -n 's/^coved: serving HTTPS on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/coved.log")
if [ -n "$port" ]; then
    E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port E2B_API_KEY=bench COVED_PID=$coved \
        COVED_LOG=$tmp/coved.log COVE_BUILD=$(cd "$build" && pwd) node "$(dirname "$0")/coved.mjs" || echo "coved bench failed"
    echo
    E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port E2B_API_KEY=bench \
        COVED_TLS_PORT=$tls_port NODE_EXTRA_CA_CERTS=$COVE_STATE_DIR/tls/ca.pem COVE_BUILD=$(cd "$build" && pwd) \
        node "$(dirname "$0")/tls.mjs" || echo "coved HTTPS bench failed"
    echo
    E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port E2B_API_KEY=bench \
        COVE_BUILD=$(cd "$build" && pwd) node "$(dirname "$0")/volumes.mjs" || echo "volumes bench failed"
    echo
    if [ -s "$build/guest/templates/code-interpreter-v1/snapshot/snapshot.conf" ]; then
        E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port E2B_API_KEY=bench \
            COVE_BUILD=$(cd "$build" && pwd) node "$(dirname "$0")/interpreter.mjs" || echo "code interpreter bench failed"
    else
        echo "code interpreter bench skipped: code-interpreter-v1 has no snapshot (make makes it as root)"
    fi
else
    echo "coved bench: coved did not start: $(tail -1 "$tmp/coved.log")"
fi

# A second coved with a warm pool of 20 base sandboxes (its templates: base
# only), in a network instance of its own, beside the first for restores.
echo
mkdir -p "$tmp/warm-templates" && ln -s "$(cd "$build/guest/templates/base" && pwd)" "$tmp/warm-templates/base"
wport=""
COVE_NET_NAME=covw COVE_NET_RANGE=10.213.0.0/16 COVE_NET_DIR=/run/cove-bench-warm/netns COVE_RUN_DIR=$tmp/wrun \
    COVE_LOG_DIR=$tmp/wlog COVE_STATE_DIR=$tmp/wstate start_coved "$tmp/warm.log" --api-key bench --net-pool 4 \
    --templates "$tmp/warm-templates" --warm-pool "${BENCH_CONCURRENT:-20}" --max-memory-mib 131072 \
    --max-disk-mib 1048576 &&
    wport=${coved_url##*:}
warm=$coved_pid
if [ -n "$port" ] && [ -n "$wport" ]; then
    E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port E2B_API_KEY=bench \
        COVED_WARM_URL=http://127.0.0.1:$wport COVE_BUILD=$(cd "$build" && pwd) node "$(dirname "$0")/warm.mjs" ||
        echo "warm pool bench failed"
else
    echo "warm pool bench: coved did not start: $(tail -1 "$tmp/warm.log")"
fi
kill -TERM $coved $warm; wait $coved $warm 2>/dev/null || true
COVE_NET_NAME=covw COVE_NET_RANGE=10.213.0.0/16 COVE_NET_DIR=/run/cove-bench-warm/netns COVE_STATE_DIR=$tmp/wstate \
    "$build/bin/cove" net gc --pool >/dev/null 2>&1 || true
nft delete table inet covw 2>/dev/null || true
umount /run/cove-bench-warm/netns 2>/dev/null || true
rm -rf /run/cove-bench-warm

# Template builds: an image's import beside skopeo copy, steps beside the
# same commands in a sandbox, a cached rebuild (bench/build.sh).
echo
"$(dirname "$0")/build.sh" "$build" || echo "build bench failed"

# The egress proxy: added latency, throughput and held connections, beside
# direct connections (bench/egress.sh).
echo
"$(dirname "$0")/egress.sh" "$build" || echo "egress bench failed"

# A cluster: a gateway's create, envd call and list beside the host's, and
# how soon a host's death is noticed (bench/cluster.sh).
echo
"$(dirname "$0")/cluster.sh" "$build" || echo "cluster bench failed"

# The VMM's confinement: a create confined beside the same create with VMMs
# as root (bench/confine.sh).
echo
"$(dirname "$0")/confine.sh" "$build" || echo "confine bench failed"

# Firecracker's restores of a Diff: the page server (cove-pager, a Uffd
# backend) beside the File backend's merge and mapping, on the same files
# (tests/tools/pager-bench.c).
echo
"$build/bin/tools/pager-bench" "$build/bin/cove-pager" 256 "$runs" || echo "pager bench failed"

# coved over a long run of 50 sandboxes running commands: its RSS and CPU
# from the first tenth to the last (bench/steady.sh; BENCH_STEADY_MINUTES,
# 60 by default).
echo
"$(dirname "$0")/steady.sh" "$build" || echo "steady bench failed"
