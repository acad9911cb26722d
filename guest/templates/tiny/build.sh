#!/bin/sh
# Builds the `tiny` template: busybox (from Debian's busybox-static) plus the
# Cove guest programs, as an ext4 image made with `mkfs.ext4 -d` (no loop
# mount, no root privileges needed for the image itself).
#
#   build.sh BIN_DIR OUT_DIR    -> OUT_DIR/rootfs.ext4, OUT_DIR/template.conf
set -eu
bin=$1 dir=$2
mkdir -p "$dir"
out=$dir/rootfs.ext4
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "rootfs: $busybox missing (apt-get install busybox-static, or 'make deps')" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
    { echo "rootfs: $busybox is not static; install busybox-static" >&2; exit 1; }

stage=$(mktemp -d "${out}.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
echo "  template tiny: staging busybox and guest programs"
for d in bin sbin usr/bin usr/sbin etc root tmp proc sys dev run var/tmp home; do mkdir -p "$stage/$d"; done
chmod 1777 "$stage/tmp" "$stage/var/tmp"
chmod 700 "$stage/root"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list-full); do
    [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
install -m 755 "$bin/cove-init" "$stage/sbin/cove-init"
install -m 755 "$bin/cove-agent" "$stage/usr/bin/cove-agent"
cat > "$stage/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$stage/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP
echo cove > "$stage/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$stage/etc/hosts"
: > "$stage/etc/resolv.conf"

echo "  template tiny: mkfs.ext4 -d -> $out"
rm -f "$out.tmp"
# 64 MiB leaves room for what a command writes; the file is sparse.
mkfs.ext4 -q -F -L cove-root -d "$stage" -E root_owner=0:0 "$out.tmp" 64M >/dev/null
mv "$out.tmp" "$out"
cp "$(dirname "$0")/template.conf" "$dir/template.conf"
