#!/bin/bash
# Makes a debootstrap template's disk image: the tree from debootstrap.sh plus
# the current Cove guest programs, as an ext4 image made with `mkfs.ext4 -d`
# (sparse, sized by the recipe's disk_mib). Takes seconds, so a change to the
# guest programs does not rebuild the tree.
#
#   image.sh RECIPE_DIR BIN_DIR OUT_DIR  -> OUT_DIR/rootfs.ext4, OUT_DIR/template.conf
set -euo pipefail
recipe=$1 bin=$2 out=$3
name=$(basename "$recipe")
tree=$out/tree
[ -f "$out/tree.stamp" ] && [ -d "$tree" ] || { echo "template $name: no tree in $out (run debootstrap.sh first)" >&2; exit 1; }
disk_mib=$(sed -n 's/^disk_mib=//p' "$recipe/template.conf" | tail -1)
disk_mib=${disk_mib:-2048}
used_mib=$(( $(du -sk "$tree" | cut -f1) / 1024 ))
if [ "$disk_mib" -lt $(( used_mib * 5 / 4 + 64 )) ]; then
    echo "template $name: disk_mib=$disk_mib is too small for the ${used_mib} MiB tree" >&2
    exit 1
fi
install -m 755 "$bin/cove-init" "$tree/sbin/cove-init"
install -m 755 "$bin/cove-agent" "$tree/usr/bin/cove-agent"
echo "  template $name: mkfs.ext4 -d (${used_mib} MiB used of $disk_mib) -> $out/rootfs.ext4"
rm -f "$out/rootfs.ext4.tmp"
# A sparse file made first: on it mkfs punches the inode tables out instead of
# leaving them for the guest kernel to zero (ext4's lazy init), which every
# sandbox would otherwise write into its own overlay, more the bigger the disk.
truncate -s "${disk_mib}M" "$out/rootfs.ext4.tmp"
mkfs.ext4 -q -F -L "cove-$name" -d "$tree" "$out/rootfs.ext4.tmp" >/dev/null
mv "$out/rootfs.ext4.tmp" "$out/rootfs.ext4"
cp "$recipe/template.conf" "$out/template.conf"
