#!/bin/bash
# make bench: the libvirt reference (what a user would otherwise pick), on
# the same guest (Cove's kernel, the tiny image, 1 vCPU, 512 MiB) and with
# the same accelerator as Cove's sandboxes:
#   create   `virsh create` of a domain whose guest powers off as soon as
#            its kernel has booted, until libvirt reports it shut off (the
#            same measure as bare_qemu in run.sh);
#   save     `virsh save` of a running guest (its RAM and device state to a
#            file; the domain ends), as Cove's pause to disk;
#   restore  `virsh restore` of that file, until the domain runs again.
# libvirt has no microvm machine type: its domain is a `pc` machine with
# virtio-pci devices (the guest kernel has both).
#
# libvirtd runs in a private mount namespace with this run's own
# /etc/libvirt (QEMU as root, no cgroups, no security driver, no
# namespaces: a daemon to measure, not one to keep), /run/libvirt and
# /var/lib/libvirt bound from a temporary directory, so the host's libvirt
# configuration, if any, is neither used nor touched.
#
#   libvirt.sh BUILD_DIR ACCEL RUNS
set -eu
build=$1 accel=$2 runs=$3
if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null; then
    echo "libvirt reference skipped: libvirtd and virsh are not installed ('make bench' installs them: scripts/deps.sh --bench)"
    exit 0
fi
kernel=$(cd "$build/guest" && pwd)/vmlinux
rootfs=$(cd "$build/guest/templates/tiny" && pwd)/rootfs.ext4
tmp=$(mktemp -d /tmp/cove-bench-libvirt.XXXXXX)
daemon=""
uri="qemu:///system?socket=$tmp/run/libvirt-sock"
# The mount points the daemon's namespace needs; those made here go again.
made=""
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do [ -d "$d" ] || made="$made $d"; done
cleanup() {
    # Domains outlive their daemon: they go first.
    for d in lv-boot lv-save; do command virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true; done
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    for d in $made; do rmdir "$d" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/etc" "$tmp/run" "$tmp/lib" "$tmp/cache" "$tmp/log"
cat >"$tmp/etc/libvirtd.conf" <<EOF
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
log_outputs = "3:file:$tmp/log/libvirtd.log"
EOF
cat >"$tmp/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
# libvirtd wants its compiled-in QEMU user to exist even when qemu.conf
# names another: its namespace sees one (root's ids; QEMU runs as root).
cp /etc/passwd "$tmp/passwd"; cp /etc/group "$tmp/group"
grep -q '^libvirt-qemu:' "$tmp/passwd" || echo 'libvirt-qemu:x:0:0:bench:/nonexistent:/usr/sbin/nologin' >>"$tmp/passwd"
for g in libvirt-qemu kvm libvirt; do grep -q "^$g:" "$tmp/group" || echo "$g:x:0:" >>"$tmp/group"; done
# The daemon: unshare -m, the binds, then exec (it is the process we kill).
unshare -m --propagation private sh -c "
    set -e
    mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
    mount --bind '$tmp/etc' /etc/libvirt
    mount --bind '$tmp/run' /run/libvirt
    mount --bind '$tmp/lib' /var/lib/libvirt
    mount --bind '$tmp/cache' /var/cache/libvirt
    mount --bind '$tmp/log' /var/log/libvirt
    mount --bind '$tmp/passwd' /etc/passwd
    mount --bind '$tmp/group' /etc/group
    exec libvirtd" >"$tmp/daemon.out" 2>&1 &
daemon=$!
virsh() { command virsh -q -c "$uri" "$@"; }
for _ in $(seq 1 100); do [ -S "$tmp/run/libvirt-sock" ] && virsh version >/dev/null 2>&1 && break; sleep 0.1; done
if ! virsh version >/dev/null 2>&1; then
    echo "libvirt reference skipped: libvirtd did not start: $(tail -2 "$tmp/daemon.out" "$tmp/log/libvirtd.log" 2>/dev/null)"
    exit 0
fi

domain() { # NAME INIT_ARGS -> domain XML
    local type=qemu
    [ "$accel" = kvm ] && type=kvm
    cat <<EOF
<domain type='$type'>
  <name>$1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <cmdline>console=ttyS0 quiet panic=-1 root=/dev/vda rootfstype=ext4 ro init=/bin/busybox -- $2</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$rootfs'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <serial type='file'><source path='$tmp/$1.console'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
. "$(dirname "$0")/lib.sh" # ms, stats

: >"$tmp/create"; : >"$tmp/save"; : >"$tmp/restore"
domain lv-boot "poweroff -f" >"$tmp/boot.xml"
for _ in $(seq 1 "$runs"); do
    t0=$(ms)
    virsh create "$tmp/boot.xml" >/dev/null
    while [ "$(virsh domstate lv-boot 2>/dev/null)" = running ]; do sleep 0.005; done
    echo $(( $(ms) - t0 )) >>"$tmp/create"
    # A transient domain is gone a moment after it shut off.
    for _ in $(seq 1 200); do virsh domstate lv-boot >/dev/null 2>&1 || break; sleep 0.01; done
done
domain lv-save "sleep 100000" >"$tmp/save.xml"
virsh create "$tmp/save.xml" >/dev/null
sleep 3 # booted
for _ in $(seq 1 "$runs"); do
    t0=$(ms)
    virsh save lv-save "$tmp/lv.save" >/dev/null
    t1=$(ms)
    virsh restore "$tmp/lv.save" >/dev/null
    t2=$(ms)
    echo $((t1 - t0)) >>"$tmp/save"
    echo $((t2 - t1)) >>"$tmp/restore"
    rm -f "$tmp/lv.save"
done
virsh destroy lv-save >/dev/null 2>&1 || true
echo "libvirt $(command virsh --version) reference (pc machine, same kernel and image, accel $accel):"
stats libvirt_create "$tmp/create"
stats libvirt_save "$tmp/save"
stats libvirt_restore "$tmp/restore"
echo "(libvirt_create: virsh create -> guest booted and powered off, compare bare_qemu; save/restore of an idle"
echo " guest: virsh save (RAM + device state to a file) and virsh restore (until it runs), compare pause/resume)"
