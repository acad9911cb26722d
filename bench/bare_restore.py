#!/usr/bin/env python3
"""make bench: the floor for a restore, driven by hand without Cove.

Starts QEMU over a template snapshot (made by `cove template snapshot`) with
the devices Cove gives a restored sandbox (src/vmm/qemu/args.c: microvm, RAM as a
private mapping of the snapshot's memory file, virtio-blk over a copy of the
empty overlay, virtio-net on a TAP, virtio-rng, a serial console), in a
network namespace of its own (unshare -n), then over QMP:
migrate-incoming of the saved device state, cont, and query-status until it
runs. Prints the time from exec to running for each run.

    bare_restore.py SNAPSHOT_DIR ROOTFS KERNEL VCPUS MEM_MIB RUNS
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def qmp(sock, f, cmd, args=None):
    msg = {"execute": cmd}
    if args is not None:
        msg["arguments"] = args
    sock.sendall(json.dumps(msg).encode() + b"\n")
    while True:
        reply = json.loads(f.readline())
        if "return" in reply:
            return reply["return"]
        if "error" in reply:
            raise RuntimeError(f"{cmd}: {reply['error']}")


def once(snap, rootfs, kernel, vcpus, mem, work):
    os.makedirs(work)
    for name, target in (("rootfs", rootfs), ("layer.qcow2", f"{snap}/layer.qcow2"), ("kernel", kernel),
                         ("memory", f"{snap}/memory"), ("state", f"{snap}/state")):
        os.symlink(os.path.realpath(target), f"{work}/{name}")
    shutil.copy(f"{snap}/overlay.qcow2", f"{work}/disk.qcow2")
    qmp_path = f"{work}/qmp.sock"
    args = [
        "unshare", "-n", "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-machine", "microvm,accel=tcg,acpi=on,memory-backend=mem", "-cpu", "max", "-smp", str(vcpus),
        "-m", f"{mem}M", "-object", f"memory-backend-file,id=mem,mem-path={work}/memory,size={mem}M,share=off",
        "-incoming", "defer", "-kernel", f"{work}/kernel", "-append", "console=ttyS0",
        "-drive", f"id=rootfs,file={work}/disk.qcow2,format=qcow2,if=none,cache=writeback",
        "-device", "virtio-blk-device,drive=rootfs",
        "-netdev", "tap,id=net0,ifname=bare0,script=no,downscript=no",
        "-device", "virtio-net-device,netdev=net0,mac=06:00:ac:10:00:02",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-device,rng=rng0",
        "-chardev", f"file,id=console,path={work}/console.log", "-serial", "chardev:console",
        "-qmp", f"unix:{qmp_path},server=on,wait=off",
    ]
    t0 = time.monotonic()
    vm = subprocess.Popen(args, cwd=work, stdout=subprocess.DEVNULL, stderr=open(f"{work}/qemu.log", "w"))
    try:
        sock = socket.socket(socket.AF_UNIX)
        while True:
            try:
                sock.connect(qmp_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if vm.poll() is not None:
                    raise RuntimeError(open(f"{work}/qemu.log").read())
                time.sleep(0.001)
        f = sock.makefile("r")
        f.readline()  # the greeting
        qmp(sock, f, "qmp_capabilities")
        qmp(sock, f, "migrate-set-capabilities",
            {"capabilities": [{"capability": "x-ignore-shared", "state": True}]})
        qmp(sock, f, "migrate-incoming", {"uri": f"exec:cat {work}/state"})
        while qmp(sock, f, "query-migrate").get("status") != "completed":
            time.sleep(0.001)
        qmp(sock, f, "cont")
        while qmp(sock, f, "query-status").get("status") != "running":
            time.sleep(0.001)
        return (time.monotonic() - t0) * 1000
    finally:
        vm.kill()
        vm.wait()


def main():
    snap, rootfs, kernel, vcpus, mem, runs = sys.argv[1:7]
    base = tempfile.mkdtemp(prefix="cove-bare-restore.")
    try:
        for i in range(int(runs)):
            print(f"{once(snap, rootfs, kernel, int(vcpus), int(mem), f'{base}/{i}'):.1f}")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
