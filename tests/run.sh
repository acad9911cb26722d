#!/bin/bash
# Runs every test of the tree and ends with one line: 'N passed, N failed, N skipped'.
#
#   tests/run.sh BUILD_DIR [NAME...]
#
# With NAMEs, only the tests so named run (test_store, coved.sh, fuzz, ...;
# `make test TESTS="coved.sh pause.sh"`).
#
# Test programs speak TAP (cmocka's CMOCKA_MESSAGE_OUTPUT=TAP; the shell tests
# print it themselves). A program that dies without reporting a failure counts
# as one failure, so a crash can never pass silently.
set -u
build=${1:-build}
shift
only=("$@")
root=$(cd "$(dirname "$0")/.." && pwd)
export CMOCKA_MESSAGE_OUTPUT=TAP
export COVE_BUILD=$(cd "$build" && pwd)
# The guest image is shared with the sanitizer build (which has no guest files).
export COVE_KERNEL=${COVE_KERNEL:-$COVE_BUILD/guest/vmlinux}
export COVE_TEMPLATES=${COVE_TEMPLATES:-$COVE_BUILD/guest/templates}
# Tests boot the tiny template unless they ask for another (--template base).
export COVE_TEMPLATE=tiny
export COVE_ROOTFS=$COVE_TEMPLATES/tiny/rootfs.ext4
# The tests' own network instance: another name, range and state than a Cove
# running on this host (which they never touch); removed at the end.
export COVE_NET_NAME=covt COVE_NET_RANGE=10.211.0.0/16
export COVE_STATE_DIR=/tmp/cove-tests/state COVE_NET_DIR=/run/cove-tests/netns
# `cove run` goes through a coved that answers at COVE_URL; the tests' runs
# stay local (port 9 refuses) unless a test starts its own coved.
export COVE_URL=http://127.0.0.1:9
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ThreadSanitizer (make tsan): a race stops the program that hit it, and the
# report goes to a file here, which fails the test that ran the program: a
# coved or an agent in the background writes to a log the test may not show.
# The suppressions (tests/tsan.supp) hold with TSAN_OPTIONS of one's own too.
tsan_reports=$(mktemp -d /tmp/cove-tsan.XXXXXX)
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}:suppressions=$root/tests/tsan.supp:log_path=$tsan_reports/report"

# The tests' instance as none of them has touched it: what a run that was
# killed before its end left (slots, links, rules, a state database, perhaps
# of another Cove's schema) goes, first through netslots, then by name for
# what it could not reach. Run before the tests and after them.
reset_instance() {
    "$build/bin/tools/netslots" gc --pool >/dev/null 2>&1
    ip -o link | sed -n "s/^[0-9]*: \($COVE_NET_NAME-[0-9a-z]*\)[@:].*/\1/p" | xargs -r -n1 ip link del 2>/dev/null
    nft delete table inet "$COVE_NET_NAME" 2>/dev/null
    awk -v d="$COVE_NET_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | xargs -r -n1 umount 2>/dev/null
    umount "$COVE_NET_DIR" 2>/dev/null
    awk '$5 ~ "^/tmp/cove-tests/" { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf /tmp/cove-tests /run/cove-tests
}
[ "$(id -u)" = 0 ] && reset_instance

passed=0 failed=0 skipped=0
failures=()

selected() {
    [ ${#only[@]} = 0 ] && return 0
    local n
    for n in "${only[@]}"; do [ "$n" = "$1" ] && return 0; done
    return 1
}

run_one() {
    local name=$1; shift
    selected "$name" || return 0
    local out rc
    out=$(mktemp)
    local start=$(date +%s.%N)
    "$@" >"$out" 2>&1
    rc=$?
    local secs=$(echo "$(date +%s.%N) - $start" | bc)
    local p f s
    p=$(grep -c '^ok ' "$out")
    # A skipped test is "not ok ... # SKIP" or a whole program's "1..0 #
    # SKIP"; a "Bail out!" (a program that could not go on) is a failure.
    local skipped_tests=$(grep -c '^not ok .*# SKIP' "$out")
    s=$(( skipped_tests + $(grep -c '^1\.\.0 # SKIP' "$out") ))
    f=$(( $(grep -c '^not ok ' "$out") - skipped_tests + $(grep -c '^Bail out!' "$out") ))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1
        echo "not ok - $name exited with status $rc" >>"$out"
    fi
    if compgen -G "$tsan_reports/report*" >/dev/null; then
        f=$((f + 1))
        echo "not ok - ThreadSanitizer reports from $name's programs:" >>"$out"
        cat "$tsan_reports"/report* >>"$out"
        rm -f "$tsan_reports"/report*
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    printf '%-28s %3d passed %3d failed %3d skipped  (%.1f s)\n' "$name" "$p" "$f" "$s" "$secs"
    if [ "$f" != 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
        sed 's/^/    /' "$out"
        [ "$f" != 0 ] && failures+=("$name")
    fi
    grep -E '^(not ok .*|1\.\.0) # SKIP' "$out" | sed 's/^/    /'
    rm -f "$out"
}

for t in "$build"/bin/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in "$root"/tests/integration/*.sh; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done

# The tree's layout rules (file sizes, no call circles) on the built objects.
run_one "layout" "$root/tests/layout.sh" "$build"
run_one "fuzz" "$root/tests/fuzz/run.sh" "$build"

# Remove the tests' network instance (each test already released its slots).
[ "$(id -u)" = 0 ] && reset_instance
rm -rf "$tsan_reports"

[ ${#failures[@]} = 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
