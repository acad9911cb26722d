#!/bin/sh
# Installs the Debian packages Cove needs, and only those that are missing, so
# a second run is instant. Mirrors come from the machine's own apt sources.
set -eu

# Build: compiler, pkg-config, the libraries Cove links (see README for why each).
PKGS="build-essential pkg-config libjansson-dev libmnl-dev libcurl4-openssl-dev libcmocka-dev zlib1g-dev nettle-dev"
PKGS="$PKGS libsqlite3-dev libnftables-dev libmicrohttpd-dev libgnutls28-dev"
# Template builds: the E2B SDK uploads each COPY step's files as a tar or
# tar.gz; libarchive reads every tar flavour (PAX long names included) and
# gzip, so coved checks an upload without a tar parser of its own.
PKGS="$PKGS libarchive-dev"
# The VMM test doubles (tests/tools/vmmdouble) read Firecracker's and Cloud
# Hypervisor's published API documents, which are YAML.
PKGS="$PKGS libyaml-dev"
# Volumes are sparse ext4 images: libext2fs gives each a fresh UUID (mke2fs,
# from e2fsprogs below, makes the blank they are copied from).
PKGS="$PKGS libext2fs-dev"
# The volume server (src/nfs): NFS-Ganesha serves volumes to guests over
# NFSv3 (this host's kernel may have no nfsd), and needs a portmapper.
PKGS="$PKGS nfs-ganesha nfs-ganesha-vfs rpcbind"
# The code interpreter's server (a guest program) speaks ZeroMQ to Jupyter
# kernels.
PKGS="$PKGS libzmq3-dev"
# libevent: the egress proxy's event loop and its asynchronous DNS (evdns).
PKGS="$PKGS libevent-dev"
# Host names: glibc's myhostname module resolves every name under .localhost
# to loopback, so the E2B SDK's https://api.localhost:PORT and
# https://8000-ID.localhost:PORT reach a local coved (E2B_DOMAIN=localhost:PORT).
PKGS="$PKGS libnss-myhostname"
# Guest kernel: Debian's kernel source and what building it needs.
PKGS="$PKGS linux-source-6.1 flex bison bc libelf-dev libssl-dev cpio xz-utils"
# Guest image and VMM.
PKGS="$PKGS busybox-static e2fsprogs qemu-system-x86 qemu-utils"
# Templates from container images (cove template build --from-image):
# skopeo fetches images (registries, OCI layouts, archives), umoci unpacks
# their layers (whiteouts, owners); what container runtimes ship for this.
PKGS="$PKGS skopeo umoci"
# Their tests (tests/integration/image.sh): a loopback registry, its
# htpasswd logins (bcrypt), and musl for an Alpine-like test image.
PKGS="$PKGS docker-registry apache2-utils musl-tools"
# Many hosts (issue 18): etcd 3.4 holds the cluster's
# catalog and membership (leases, fenced transactions, watches; coved speaks
# its JSON gateway over libcurl). etcd-server is the member the tests start on
# loopback (its packaged service is not needed); etcd-client's etcdctl is for
# looking at a cluster by hand and in the cluster tests.
PKGS="$PKGS etcd-server etcd-client"
# Debian templates (guest/templates): debootstrap, its keyring check, and zstd
# for the machine's cache of finished trees.
PKGS="$PKGS debootstrap debian-archive-keyring gpgv zstd"
# Building libmicrohttpd from its Debian source package.
PKGS="$PKGS dpkg-dev"
# Tests: iproute2 and nft only to look from the outside (count leftover
# namespaces, links and rules; build the tests' own "internet" namespace;
# read the state database).
PKGS="$PKGS iproute2 nftables procps curl sqlite3 jq"
# The tests' internet lab (tests/inet.sh): a DNS server for its .test
# names in its namespace. dnsmasq-base is the program alone, without the
# dnsmasq package's system service, which would answer on the host's port 53;
# openssl (the command) makes the lab's CA and certificate.
PKGS="$PKGS dnsmasq-base openssl"
# The E2B SDK tests: Node.js and npm (Debian's, unless the machine has its own).
command -v node >/dev/null && command -v npm >/dev/null || PKGS="$PKGS nodejs npm"
# Fuzz targets: clang with its libFuzzer runtime.
PKGS="$PKGS clang libclang-rt-14-dev"
# `make bench` only (scripts/deps.sh --bench): libvirt, the reference the
# benchmark measures Cove against (bench/libvirt.sh runs its daemon).
[ "${1:-}" = --bench ] && PKGS="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"

# Source packages: the guest agent builds Debian's libmicrohttpd without TLS
# (scripts/build-microhttpd.sh), which needs deb-src entries. They are made
# from the machine's own deb entries, so they use the same mirrors.
add_deb_src() {
    if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 1
    fi
    [ "$(id -u)" = 0 ] || { echo "deps: no deb-src entries; run 'make deps' as root" >&2; exit 1; }
    out=/etc/apt/sources.list.d/cove-deb-src
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$out.sources"
    elif [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$out.list"
    else
        echo "deps: cannot find the machine's apt sources to derive deb-src entries from" >&2
        exit 1
    fi
    echo "deps: added deb-src entries ($out.*) from the machine's apt sources"
    return 0
}

need_update=0
if [ "${1:-}" != --bench ] && add_deb_src; then need_update=1; fi

# libnss-myhostname's own install puts 'myhostname' in the hosts line of
# /etc/nsswitch.conf; a line without it (edited since, or the package was
# there before) gets it after 'files', as that install does.
nss_myhostname() {
    [ "${1:-}" = --bench ] && return 0
    [ -f /etc/nsswitch.conf ] || return 0
    grep -qE '^hosts:.*[[:space:]]myhostname([[:space:]]|$)' /etc/nsswitch.conf && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "deps: /etc/nsswitch.conf's hosts line lacks 'myhostname' (*.localhost will not resolve); run 'make deps' as root" >&2
        return 0
    fi
    sed -i -E '/^hosts:/ { /[[:space:]]files([[:space:]]|$)/ s/([[:space:]])files([[:space:]]|$)/\1files myhostname\2/; t; s/$/ myhostname/ }' /etc/nsswitch.conf
    echo "deps: added 'myhostname' to the hosts line of /etc/nsswitch.conf (*.localhost resolves to loopback)"
}

missing=""
for p in $PKGS; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    [ "$need_update" = 0 ] || apt-get update -qq
    echo "deps: all $(echo $PKGS | wc -w) Debian packages present"
    nss_myhostname "${1:-}"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing; run 'make deps' as root (or apt-get install them)" >&2
    exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
nss_myhostname "${1:-}"
