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
echo "Timings above: vmm_to_agent_ms is from starting the VMM to the guest agent answering;"
echo "boot_ms adds the host-side set-up (setup_ms: network namespace, accelerator probe);"
echo "command_ms is the command itself. 'make bench' measures them over 10 runs."
