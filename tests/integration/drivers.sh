#!/bin/bash
# The Firecracker and Cloud Hypervisor drivers end to end, the same steps
# for each (the layers above the VMM cannot tell them apart): `cove run
# --vmm DRIVER` runs a command in a guest; `cove template snapshot` on it
# records its VMM; coved on it (--vmm DRIVER) creates sandboxes restored
# from that snapshot, execs, pauses to disk (with and without its memory)
# and resumes, forks, and kills. Against the real binary where one and a
# usable KVM exist; else against its test double (tests/tools: the VMM's
# REST API, every request checked against its published OpenAPI document,
# QEMU underneath): after each step no request may have strayed outside the
# published API (the doubles' "SPEC VIOLATION" lines in the VMMs' logs).
# `DRIVERS="firecracker"` runs one. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"

need_root
need_guest "${COVE_TEMPLATES:-}/tiny/rootfs.ext4"
: "${COVE_NET_NAME:?tests/run.sh sets the network instance of the tests}"
base=$(mktemp -d /tmp/cove-drivers.XXXXXX)
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT
templates=$COVE_TEMPLATES
kvm=""
"$cove" host 2>/dev/null | grep -q 'accel.*kvm' && [ -w /dev/kvm ] && kvm=1

# violations: the double's complaints in every VMM log so far (kept past the
# VMMs: the logs stay for a failed `cove run`, and coved's are read live).
violations() {
    cat "$COVE_LOG_DIR"/*.vmm.log* 2>/dev/null | grep 'SPEC VIOLATION' >>"$seen"
    sort -u "$seen" -o "$seen"
    [ ! -s "$seen" ]
}
check_clean() { violations; check "$driver: $1: no request outside its published API" $? "$(head -5 "$seen")"; }
state_of() { "$cove" ls --json | python3 -c 'import json,sys; d={s["sandboxID"]:s["state"] for s in json.load(sys.stdin)}; print(d.get(sys.argv[1],"gone"))' "$1"; }

# Firecracker's saves over a template's memory are Diffs (src/vmm/fc/memory.c).
fc_diff_saved() {
    local saved=$1 diffb memb
    diffb=$(($(stat -c %b "$saved/state/memory.diff" 2>/dev/null || echo 0) * 512))
    memb=$(($(stat -c %b "$saved/memory" 2>/dev/null || echo 0) * 512))
    [ "$diffb" -gt 0 ] && [ "$diffb" -lt "$memb" ] && [ ! -e "$saved/state/memory" ]
    check "$driver: the save keeps only the pages the sandbox changed: a Diff over the template's memory ($diffb of $memb bytes)" $? \
        "$(ls -ls "$saved" "$saved/state" 2>&1)"
}

# After its first resume from a Diff: served by cove-pager; saved and
# resumed again (the second Diff over the record of the first); coved
# SIGKILLed and the next one adopting it with its page server; and the File
# backend, the Diff merged into one file.
fc_diff_resumes() {
    local id=$1 saved=$2 out rc
    grep -q "memory served by .*cove-pager" "$dir/coved.log" && pgrep -x cove-pager >/dev/null
    check "$driver: resumed through its page server (a Uffd backend)" $? "$(grep -i pager "$dir/coved.log" | tail -3)"
    "$cove" exec "$id" -- sh -c 'echo second >/root/file2' >/dev/null 2>&1
    "$cove" pause "$id" >"$dir/p4.out" 2>&1 && [ -f "$saved/state/memory.diff" ] &&
        "$cove" resume "$id" >"$dir/r4.out" 2>&1
    rc=$?
    out=$("$cove" exec "$id" -- cat /root/file /root/file2 2>&1)
    [ $rc = 0 ] && [ "$out" = "$(printf 'kept\nsecond')" ]
    check "$driver: saved and resumed again: what it changed before and after the first save is there" $? \
        "rc=$rc out=$out" "$(cat "$dir/p4.out" "$dir/r4.out")"
    kill -9 "$coved_pid"
    wait "$coved_pid" 2>/dev/null
    COVE_FIRECRACKER_MEMORY=file start_coved "$dir/coved2.log" --vmm "$driver" --templates "$dir/templates" \
        --net-pool 1 --api-key drv-key
    export COVE_URL=$coved_url
    out=$("$cove" exec "$id" -- cat /root/file2 2>&1)
    [ "$out" = second ] && pgrep -x cove-pager >/dev/null
    check "$driver: coved SIGKILLed: the next one adopts the sandbox, whose page server lives on" $? "out=$out" \
        "$(tail -3 "$dir/coved2.log")"
    "$cove" pause "$id" >"$dir/p5.out" 2>&1 && "$cove" resume "$id" >"$dir/r5.out" 2>&1
    rc=$?
    out=$("$cove" exec "$id" -- cat /root/file /root/file2 2>&1)
    [ $rc = 0 ] && [ "$out" = "$(printf 'kept\nsecond')" ] && grep -q "memory merged for a File backend" "$dir/coved2.log"
    check "$driver: COVE_FIRECRACKER_MEMORY=file: resumed from the Diff merged onto a copy of the template's memory" $? \
        "rc=$rc out=$out" "$(cat "$dir/p5.out" "$dir/r5.out"; grep -iE "merged|op=restore|resume|pager" "$dir/coved2.log" | tail -8)"
}

# Firecracker under its jailer (COVE_FIRECRACKER_JAILER): the real one beside
# a real firecracker, else its double (tests/tools/jailer-double.c, which
# checks the command line against docs/jailer.md and takes its steps).
fc_jailer() {
    local jailer id pid out rc root st name=${binary##*/} shared
    if [ "$binary" = "$build/bin/tools/firecracker-double" ]; then
        jailer=$build/bin/tools/jailer-double
    else
        jailer=${binary%/*}/jailer
        [ -x "$jailer" ] || { ok "$driver: under its jailer # SKIP no jailer beside $binary"; return; }
    fi
    COVE_FIRECRACKER_JAILER=$jailer start_coved "$dir/coved-j.log" --vmm "$driver" --templates "$dir/templates" \
        --net-pool 1 --api-key drv-key ||
        { not_ok "$driver: coved starts with COVE_FIRECRACKER_JAILER" "$(tail -5 "$dir/coved-j.log")"; return; }
    export COVE_URL=$coved_url
    id=$("$cove" create --template tiny --timeout 300 2>"$dir/err")
    out=$("$cove" exec "$id" -- sh -c 'echo kept >/root/file; echo exec-ok' 2>&1)
    pid=$(cut -d' ' -f1 "$COVE_RUN_DIR/$id/vmm" 2>/dev/null)
    root=/proc/$pid/root
    [ "$out" = exec-ok ] && [ -f "$root/$name" ] && [ "$(cat "$root/$name.pid" 2>&1)" = "$pid" ] &&
        [ -c "$root/dev/net/tun" ] && [ "$(stat -c %a "$root/dev/net/tun")" = 600 ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE -- "^/$name --id $id --start-time-us [0-9]+ --start-time-cpu-us [0-9]+ --parent-cpu-time-us [0-9]+ --api-sock fc/api.sock \$"
    check "$driver: under its jailer: its own copy of $name in its root, its pid file and nodes, the jailer's arguments" $? \
        "id=$id pid=$pid out=$out" "$(ls -la "$root" "$root/dev" 2>&1 | head -20; tr '\0' ' ' <"/proc/$pid/cmdline")" \
        "$(tail -5 "$dir/coved-j.log")"
    # Its ids: its own uid, the group all VMMs share (the jailer sets no
    # supplementary one), no capability, no environment, no_new_privs.
    st=/proc/$pid/status
    shared=${COVE_VMM_IDS:-1879048192:65536}
    shared=${shared%%:*}
    [ "$(awk '/^Uid:/{print $2}' "$st")" -gt "$shared" ] && [ "$(awk '/^Gid:/{print $2 $3 $4 $5}' "$st")" = "$shared$shared$shared$shared" ] &&
        [ -z "$(awk '/^Groups:/{print $2}' "$st")" ] && grep -qx $'CapEff:\t0000000000000000' "$st" &&
        grep -qx $'CapPrm:\t0000000000000000' "$st" && grep -qx $'NoNewPrivs:\t1' "$st" && [ ! -s "/proc/$pid/environ" ]
    check "$driver: under its jailer: its own uid, the shared group alone, no capabilities or environment" $? \
        "$(grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs)' "$st" 2>&1)"
    "$cove" pause "$id" >"$dir/pj.out" 2>&1 && "$cove" resume "$id" >"$dir/rj.out" 2>&1
    rc=$?
    out=$("$cove" exec "$id" -- cat /root/file 2>&1)
    [ $rc = 0 ] && [ "$out" = kept ] && grep -q "memory served by .*cove-pager" "$dir/coved-j.log"
    check "$driver: under its jailer: paused to disk and resumed through its page server (its /dev/userfaultfd)" $? \
        "rc=$rc out=$out" "$(cat "$dir/pj.out" "$dir/rj.out"; tail -5 "$dir/coved-j.log")"
    # coved SIGKILLed: the next one adopts the jailed VMM (its API socket).
    kill -9 "$coved_pid"
    wait "$coved_pid" 2>/dev/null
    COVE_FIRECRACKER_JAILER=$jailer start_coved "$dir/coved-j2.log" --vmm "$driver" --templates "$dir/templates" \
        --net-pool 1 --api-key drv-key
    export COVE_URL=$coved_url
    out=$("$cove" exec "$id" -- cat /root/file 2>&1)
    [ "$out" = kept ] && [ "$(state_of "$id")" = running ]
    check "$driver: under its jailer: coved SIGKILLed, the next one adopts the jailed VMM" $? "out=$out" \
        "$(tail -5 "$dir/coved-j2.log")"
    "$cove" kill "$id" >/dev/null 2>&1
    [ "$(state_of "$id")" = gone ] && [ ! -e "$COVE_RUN_DIR/$id" ]
    check "$driver: under its jailer: killed, its run directory gone" $? "$(ls -la "$COVE_RUN_DIR" 2>&1)"
    check_clean "under its jailer"
    kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    coved_pid=""
}

run_driver() {
    driver=$1
    local real binary dir=$base/$1
    real=$(command -v "$driver" 2>/dev/null)
    if [ -n "$real" ] && [ -n "$kvm" ]; then
        binary=$real
    else
        binary=$build/bin/tools/$driver-double
        if [ ! -x "$binary" ]; then
            ok "$driver # SKIP no $driver with a usable KVM here, and no double at $binary"
            return
        fi
        echo "# $driver: none with a usable KVM here (${real:-not installed}): against its double"
    fi
    mkdir -p "$dir/log"
    # Each driver's binary is its own setting (src/common/env.c).
    local setting=COVE_$(echo "$driver" | tr a-z- A-Z_)
    export "$setting=$binary" COVE_RUN_DIR=$dir/run COVE_LOG_DIR=$dir/log COVE_STATE_DIR=$dir/state
    export COVE_TEMPLATES=$templates
    seen=$dir/violations
    : >"$seen"

    # --- cove run ---
    local out rc
    out=$("$cove" run --local --vmm "$driver" --template tiny -- sh -c 'echo hello-from-vmm; uname -s' 2>"$dir/err")
    rc=$?
    [ $rc = 0 ] && grep -q '^hello-from-vmm$' <<<"$out" && grep -q '^Linux$' <<<"$out"
    check "$driver: cove run runs a command in the guest" $? "rc=$rc out=$out" "$(tail -5 "$dir/err")"
    check_clean "cove run"

    # --- a shared directory (virtiofs), where the VMM has virtio-fs ---
    local share=$dir/share
    mkdir -p "$share" && echo from-host >"$share/in"
    out=$("$cove" run --local --vmm "$driver" --template tiny --share "$share:/mnt/s" -- \
        sh -c 'cat /mnt/s/in; echo from-guest >/mnt/s/out' 2>"$dir/err")
    rc=$?
    case $driver in
    firecracker) # Firecracker has no virtio-fs: refused before anything starts.
        [ $rc != 0 ] && grep -q "driver firecracker has no shared directories" "$dir/err" && [ ! -e "$share/out" ]
        check "$driver: --share is refused, naming what it lacks" $? "rc=$rc out=$out" "$(tail -3 "$dir/err")" ;;
    *)
        [ $rc = 0 ] && [ "$out" = from-host ] && [ "$(cat "$share/out" 2>&1)" = from-guest ] &&
            ! pgrep -f "virtiofsd.*$dir" >/dev/null
        check "$driver: a shared directory both ways, its virtiofsd gone after" $? "rc=$rc out=$out" \
            "$(tail -5 "$dir/err")" "$(cat "$COVE_LOG_DIR"/*virtiofsd* 2>/dev/null | tail -5)" ;;
    esac
    check_clean "cove run --share"

    # --- a template snapshot made by it ---
    mkdir -p "$dir/templates/tiny"
    cp --sparse=always "$templates/tiny/rootfs.ext4" "$dir/templates/tiny/"
    cp "$templates/tiny/template.conf" "$dir/templates/tiny/"
    echo "vmm=$driver" >>"$dir/templates/tiny/template.conf"
    COVE_TEMPLATES=$dir/templates "$cove" template snapshot tiny >"$dir/snap.out" 2>&1; rc=$?
    local conf=$dir/templates/tiny/snapshot/snapshot.conf
    [ $rc = 0 ] && grep -q "^vmm=$driver " "$conf"
    check "$driver: cove template snapshot records its VMM" $? "rc=$rc $(tail -3 "$dir/snap.out")" "$(cat "$conf" 2>&1)"
    check_clean "template snapshot"

    # --- coved ---
    start_coved "$dir/coved.log" --vmm "$driver" --templates "$dir/templates" --net-pool 1 --api-key drv-key ||
        { not_ok "$driver: coved --vmm $driver starts" "$(tail -5 "$dir/coved.log")"; return; }
    export COVE_URL=$coved_url COVE_API_KEY=drv-key

    local id
    id=$("$cove" create --template tiny --timeout 300 2>"$dir/err")
    [[ "$id" =~ ^[a-z0-9]{20}$ ]]
    check "$driver: create on coved (from the template snapshot)" $? "$id $(cat "$dir/err")" \
        "$(grep "$id" "$dir/coved.log" | tail -5)"
    out=$("$cove" exec "$id" -- sh -c 'echo kept >/root/file; echo exec-ok' 2>&1)
    [ "$out" = exec-ok ]
    check "$driver: exec in it" $? "$out"
    check_clean "create and exec"

    local saved=$COVE_STATE_DIR/saved/$id
    "$cove" pause "$id" >"$dir/p2.out" 2>&1; rc=$?
    [ $rc = 0 ] && [ "$(state_of "$id")" = paused ] && [ -d "$saved" ]
    check "$driver: pause to disk" $? "rc=$rc $(cat "$dir/p2.out") $(ls -R "$saved" 2>&1 | head -12)"
    [ "$driver" = firecracker ] && fc_diff_saved "$saved"
    "$cove" resume "$id" >"$dir/r2.out" 2>&1; rc=$?
    out=$("$cove" exec "$id" -- cat /root/file 2>&1)
    [ $rc = 0 ] && [ "$out" = kept ]
    check "$driver: resume from disk: its files are there" $? "rc=$rc $(cat "$dir/r2.out") out=$out" \
        "$(tail -5 "$dir/coved.log")"
    [ "$driver" = firecracker ] && fc_diff_resumes "$id" "$saved"
    "$cove" pause --no-memory "$id" >"$dir/p3.out" 2>&1; rc=$?
    "$cove" resume "$id" >"$dir/r3.out" 2>&1
    out=$("$cove" exec "$id" -- cat /root/file 2>&1)
    [ $rc = 0 ] && [ "$out" = kept ]
    check "$driver: pause keeping the disk only, and boot afresh from it" $? \
        "rc=$rc $(cat "$dir/p3.out" "$dir/r3.out") out=$out" "$(tail -5 "$dir/coved.log")"
    check_clean "pause to disk and resume"

    local child
    child=$("$cove" fork "$id" 2>"$dir/ferr")
    out=$("$cove" exec "$child" -- cat /root/file 2>&1)
    [[ "$child" =~ ^[a-z0-9]{20}$ ]] && [ "$out" = kept ]
    check "$driver: fork: the child has its parent's files" $? "child=$child $(cat "$dir/ferr") out=$out" \
        "$(tail -5 "$dir/coved.log")"
    check_clean "fork"

    "$cove" kill "$id" >"$dir/k.out" 2>&1; rc=$?
    [ -n "$child" ] && "$cove" kill "$child" >/dev/null 2>&1
    [ $rc = 0 ] && [ "$(state_of "$id")" = gone ]
    check "$driver: kill" $? "rc=$rc $(cat "$dir/k.out") state=$(state_of "$id")"
    check_clean "kill"
    kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    coved_pid=""
    [ "$driver" = firecracker ] && fc_jailer
    "$cove" net gc --pool >/dev/null 2>&1
}

for d in ${DRIVERS:-firecracker cloud-hypervisor}; do
    run_driver "$d"
done
echo "1..$n"
