#!/bin/bash
# The whole E2B SDK suite (e2b_coved.sh: the control plane and every SDK
# scenario, with real guests) once per VMM driver: Firecracker and Cloud
# Hypervisor (the real binary where one and a usable KVM exist, else its
# test double over QEMU, as drivers.sh chooses), on copies of the tiny and
# base templates snapshotted by that driver (a snapshot restores only on
# the VMM that made it; the build's are QEMU's). The SDK must not be able
# to tell the drivers apart; Firecracker's twice, the second time under its
# jailer. Long (about 2 min for Cloud Hypervisor's double, 4 for each of
# Firecracker's runs, whose disks are raw copies), so not in
# `make check`: `make check-drivers` runs it (COVE_DRIVERS_SDK=1). Prints
# TAP: one line per driver, the suite's failures under it.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

[ "${COVE_DRIVERS_SDK:-}" = 1 ] || skip_all "the SDK suite per driver takes minutes: 'make check-drivers' runs it"
need_root
need_guest "${COVE_TEMPLATES:-}/tiny/rootfs.ext4" "${COVE_TEMPLATES:-}/base/rootfs.ext4"
base=$(mktemp -d /var/tmp/cove-drivers-sdk.XXXXXX)
trap '"$cove" net gc --pool >/dev/null 2>&1; rm -rf "$base"' EXIT
kvm=""
"$cove" host 2>/dev/null | grep -q 'accel.*kvm' && [ -w /dev/kvm ] && kvm=1

# suite NAME TAP ENV...: e2b_coved.sh with ENV, its TAP in TAP, one line.
suite() {
    local name=$1 tap=$2 rc passed failed; shift 2
    env "$@" COVE_VMM="$driver" COVE_TEMPLATES="$dir/templates" \
        bash "$(dirname "$0")/e2b_coved.sh" >"$tap" 2>&1
    rc=$?
    passed=$(grep -cE '^ok ' "$tap")
    failed=$(grep -E '^not ok ' "$tap")
    [ $rc = 0 ] && [ -z "$failed" ] && [ "$passed" -gt 100 ]
    check "$name: the E2B SDK suite through coved ($passed top-level tests passed)" $? "rc=$rc" \
        "$(printf '%s\n' "$failed" | head -20)" "$(grep -E '^# coved' "$tap" | tail -10)"
}

for driver in ${DRIVERS:-firecracker cloud-hypervisor}; do
    real=$(command -v "$driver" 2>/dev/null)
    binary=$build/bin/tools/$driver-double
    [ -n "$real" ] && [ -n "$kvm" ] && binary=$real
    if [ ! -x "$binary" ]; then
        ok "$driver # SKIP no $driver with a usable KVM here, and no double at $binary"
        continue
    fi
    echo "# $driver: $binary"
    setting=COVE_$(echo "$driver" | tr a-z- A-Z_)
    dir=$base/$driver
    mkdir -p "$dir/log"
    snap_ok=0
    for t in tiny base; do
        mkdir -p "$dir/templates/$t"
        cp --sparse=always "$COVE_TEMPLATES/$t/rootfs.ext4" "$COVE_TEMPLATES/$t/template.conf" "$dir/templates/$t/"
        echo "vmm=$driver" >>"$dir/templates/$t/template.conf"
        env "$setting=$binary" COVE_TEMPLATES="$dir/templates" COVE_RUN_DIR="$dir/run" COVE_LOG_DIR="$dir/log" \
            "$cove" template snapshot "$t" >>"$dir/snapshot.out" 2>&1 || snap_ok=1
    done
    if [ $snap_ok != 0 ]; then
        not_ok "$driver: the templates are snapshotted by it" "$(tail -5 "$dir/snapshot.out")"
        continue
    fi
    suite "$driver" "$dir/suite.tap" "$setting=$binary"
    # Firecracker once more under its jailer (the real one beside a real
    # binary, else the jailer's double).
    if [ "$driver" = firecracker ]; then
        jailer=$build/bin/tools/jailer-double
        [ "$binary" = "$real" ] && jailer=${real%/*}/jailer
        if [ -x "$jailer" ]; then
            suite "$driver under its jailer" "$dir/suite-jailer.tap" "$setting=$binary" COVE_FIRECRACKER_JAILER="$jailer"
        else
            ok "$driver under its jailer # SKIP no jailer beside $real"
        fi
    fi
done
echo "1..$n"
