#!/bin/bash
# The last step of building a template: boot it once and save a snapshot
# (`cove template snapshot`), so that its sandboxes start by restoring it
# instead of booting a kernel. It needs what a sandbox needs (root, network
# namespaces, a TAP): the boot runs in a network instance of its own, removed
# afterwards, so it never touches the host's or the tests' instances.
#
#   snapshot.sh NAME TEMPLATES_DIR BIN_DIR KERNEL  -> TEMPLATES_DIR/NAME/snapshot/
set -euo pipefail
name=$1 templates=$2 bin=$3 kernel=$4
if [ "$(id -u)" != 0 ]; then
    echo "  template $name: no snapshot (making one needs root); its sandboxes will boot"
    exit 0
fi
# One at a time (make -j): they share the network instance.
exec 9>/run/lock/cove-template-snapshot.lock
flock 9
work=$(mktemp -d /tmp/cove-template-snapshot.XXXXXX)
export COVE_KERNEL=$kernel COVE_TEMPLATES=$templates
export COVE_NET_NAME=covs COVE_NET_RANGE=10.218.0.0/16 COVE_NET_DIR=$work/netns
export COVE_STATE_DIR=$work/state COVE_RUN_DIR=$work/run COVE_LOG_DIR=$work/log
cleanup() {
    "$bin/cove" net gc --pool >/dev/null 2>&1 || true
    nft delete table inet covs 2>/dev/null || true
    umount "$work/netns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
echo "  template $name: booting it once to snapshot it"
if ! "$bin/cove" template snapshot "$name" 2>"$work/err"; then
    cat "$work/err" >&2
    [ -d "$COVE_LOG_DIR" ] && tail -n 20 "$COVE_LOG_DIR"/*.log >&2 2>/dev/null
    exit 1
fi
sed -n 's/^cove template: \(.* snapshotted in .*\)$/  template \1/p' "$work/err"
