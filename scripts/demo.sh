#!/bin/sh
# make demo: boots a sandbox and runs a few commands in it, showing what
# each step costs. Everything it needs was built by `make` just before.
set -eu
build=${1:-build}
cove=$build/bin/cove
echo
echo "== cove run -- uname -a"
COVE_LOG=info "$cove" run --timing -- uname -a
echo
echo "== cove run --mem 512 --cpus 2 -- sh -c 'echo out; echo err >&2; exit 3'"
set +e
"$cove" run --mem 512 --cpus 2 --timing -- sh -c 'echo out; echo err >&2; exit 3'
echo "exit=$?"
set -e
echo
echo "Boot time above: agent_ready_ms is from the VMM's start to the guest agent answering;"
echo "boot_ms adds the host-side set-up (network namespace, accelerator probe)."
