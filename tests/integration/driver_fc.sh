#!/bin/bash
# The Firecracker driver (src/vmm/fc) end to end: `cove run --vmm
# firecracker` runs a command in a guest, and coved on it creates, execs,
# pauses and resumes, saves to disk and resumes, and kills sandboxes. On a
# machine without Firecracker and a usable KVM it drives the test double
# (build/bin/tools/firecracker-double, QEMU underneath), which records any
# request outside Firecracker's published API in a spec-violations file:
# each step requires none. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"
need_root
need_guest "${COVE_TEMPLATES:-}/tiny"
# A real Firecracker where one is installed with a KVM to run on (it has
# nothing else); the double otherwise.
if command -v firecracker >/dev/null && [ -c /dev/kvm ]; then
    fc=$(command -v firecracker); double=""
elif [ -x "$build/bin/tools/firecracker-double" ]; then
    fc=$build/bin/tools/firecracker-double; double=1
    echo "# no firecracker installed here: driving the test double"
else
    skip_all "neither firecracker with a usable KVM nor build/bin/tools/firecracker-double"
fi
base=$(mktemp -d /tmp/cove-driver-fc.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state COVE_QEMU=$fc  # COVE_QEMU: the VMM binary, whichever driver (common/env.c)
cleanup() {
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT

# The double's record of requests outside the API, wherever its root was.
violations() {
    [ -n "$double" ] || return 0
    cat /spec-violations "$base"/run/*/root/spec-violations 2>/dev/null
}

out=$("$cove" run --local --vmm firecracker --template tiny -- sh -c 'echo from-fc; uname -r' 2>"$base/err")
v=$(violations)
[ "$(echo "$out" | head -1)" = from-fc ] && [ -z "$v" ]
check "cove run --vmm firecracker runs a command in the guest, within the published API" $? \
    "out=$out" "$(cat "$base/err")" "violations: $v"
echo 1..$n
