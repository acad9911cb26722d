#!/bin/bash
# Runs each libFuzzer target for a bounded time from its seed corpus (the
# corpus is copied, so runs never write into the tree). Prints TAP.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]
# The pure request parsers (coved's, the egress proxy's peek and domain
# entries, and the agent's compose body: functions of a string, 10^5 inputs a
# second) get a fifth of SECONDS (2 s by default), so the step stays about a
# minute.
set -u
build=$(cd "$1" && pwd) seconds=${2:-${FUZZ_SECONDS:-10}}
here=$(cd "$(dirname "$0")" && pwd)
n=0
targets=$(ls "$build"/bin/fuzz/fuzz_* 2>/dev/null)
[ -n "$targets" ] || { echo "1..0 # SKIP no fuzz targets built (needs clang and libclang-rt-14-dev; 'make deps')"; exit 0; }
quick=" fuzz_ca_bundle fuzz_catalog_token fuzz_build_create fuzz_build_request fuzz_build_trigger fuzz_compose_body fuzz_create_body fuzz_ct_dump fuzz_dns fuzz_domain fuzz_image_config fuzz_interpreter_request fuzz_list_query fuzz_nft_event fuzz_peek fuzz_placeholder fuzz_sandbox_host fuzz_secret_request fuzz_socks5 fuzz_snapshot_request fuzz_uffd_mappings fuzz_volume_mounts fuzz_volume_request "
for t in $targets; do
    name=$(basename "$t")
    secs=$seconds
    case "$quick" in *" $name "*) secs=$(( (seconds + 4) / 5 ));; esac
    work=$(mktemp -d /tmp/cove-fuzz.XXXXXX)
    mkdir "$work/corpus"
    cp -r "$here/corpus/$name/." "$work/corpus/" 2>/dev/null
    n=$((n + 1))
    # Paths relative to the working directory: a target may chroot into it
    # (fuzz_upload does, since its inputs name files to write).
    if (cd "$work" && "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix=./ corpus >log 2>&1); then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
        echo "ok $n - $name: ${runs:-?} inputs in ${secs}s without a crash"
    else
        echo "not ok $n - $name found a crash; reproducer kept in $work"
        grep -E 'ERROR|SUMMARY|#0 |#1 |#2 ' "$work/log" | head -12 | sed 's/^/# /'
        continue
    fi
    rm -rf "$work"
done
echo "1..$n"
