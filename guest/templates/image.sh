#!/bin/bash
# Makes a debootstrap template's disk image: the tree from debootstrap.sh plus
# the current Cove guest programs (cove-init and cove-agent, and those the
# recipe's `programs` file names, into /usr/lib/cove), plus the recipe's
# files/ directory copied over the tree (owned by root; a recipe's own
# configuration, changed without remaking the tree), as an ext4 image made
# with `mkfs.ext4 -d`
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
if [ -f "$recipe/programs" ]; then
    for p in $(sed -e 's/#.*//' "$recipe/programs"); do
        [ -x "$bin/$p" ] || { echo "template $name: the recipe's programs names $p, which is not in $bin" >&2; exit 1; }
        install -D -m 755 "$bin/$p" "$tree/usr/lib/cove/$p"
    done
fi
if [ -d "$recipe/files" ]; then
    # What an earlier image copied and the recipe no longer has stays:
    # the tree is remade from scratch only with the recipe's packages.
    cp -r --no-preserve=ownership "$recipe/files/." "$tree/"
    chown -R 0:0 "$tree/etc/cove-interpreter" 2>/dev/null || true
fi
echo "  template $name: mkfs.ext4 -d (${used_mib} MiB used of $disk_mib) -> $out/rootfs.ext4"
rm -f "$out/rootfs.ext4.tmp"
# A sparse file made first: on it mkfs punches the inode tables out instead of
# leaving them for the guest kernel to zero (ext4's lazy init), which every
# sandbox would otherwise write into its own overlay, more the bigger the disk.
truncate -s "${disk_mib}M" "$out/rootfs.ext4.tmp"
mkfs.ext4 -q -F -L "$(printf "cove-%s" "$name" | cut -c1-16)" -d "$tree" "$out/rootfs.ext4.tmp" >/dev/null
mv "$out/rootfs.ext4.tmp" "$out/rootfs.ext4"
cp "$recipe/template.conf" "$out/template.conf"
