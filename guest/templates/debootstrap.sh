#!/bin/bash
# Builds a template's root file system tree with debootstrap, from Debian's
# registry only: the mirrors are the machine's own apt sources (or, when they
# name none, debootstrap's default).
#
#   debootstrap.sh RECIPE_DIR OUT_DIR
#
# RECIPE_DIR holds `packages` (one per line), `setup.sh` (run in the tree as
# root after the packages are in) and `template.conf` (suite=...). The tree
# lands in OUT_DIR/tree, with OUT_DIR/tree.stamp written last.
#
# debootstrap lays Debian's minbase; apt then applies the updates and installs
# the recipe's packages at their current versions, with what they depend on
# but not what they only recommend. Downloaded packages are kept in
# OUT_DIR/../../cache (debs/ debootstrap's, apt/ apt's), so a rebuild
# downloads only what changed. Documentation, man pages and translations stay
# out of the tree (copyright files are kept); the dpkg setting that does it
# stays in the image, so packages a sandbox installs later leave them out too.
# Needs root (debootstrap and chroot do).
set -euo pipefail
recipe=$(cd "$1" && pwd) out=$2
name=$(basename "$recipe")
say() { echo "  template $name: $*"; }
die() { echo "template $name: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "building a template needs root (debootstrap and chroot); run 'make' as root"
command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap, or 'make deps')"
conf() { sed -n "s/^$1=//p" "$recipe/template.conf" | tail -1; }
suite=$(conf suite)
[ -n "$suite" ] || die "$recipe/template.conf sets no suite="
# The tree's fingerprint: what it is made from (the package list, setup.sh,
# the suite) and how (this script). The rest of template.conf (sizes, user)
# is read when the image is made and when sandboxes start.
stamp=$( { cat "$recipe/packages" "$recipe/setup.sh" "$0"; echo "suite=$suite"; } | sha256sum | cut -c1-16)
if [ -d "$out/tree" ] && [ "$(cat "$out/tree.stamp" 2>/dev/null)" = "$stamp" ]; then
    say "tree up to date (the recipe has not changed)"
    touch "$out/tree.stamp"
    exit 0
fi

# Finished trees are also kept in the machine's cache (COVE_CACHE, by default
# /var/cache/cove), by recipe fingerprint, so another checkout of the same
# recipe (a fresh clone, CI) takes the tree without debootstrap or the
# network. A cached tree older than COVE_TREE_MAX_AGE_DAYS (7) is made anew
# so that security updates come in; if that fails (Debian's archive out of
# reach), the old one is used and the build says so.
tree_cache_dir=${COVE_CACHE:-/var/cache/cove}/templates
tree_cache=$tree_cache_dir/$name-$stamp.tar.zst
max_age=${COVE_TREE_MAX_AGE_DAYS:-7}
from_cache() {
    rm -rf "$out/tree.new" "$out/tree" "$out/tree.stamp"
    mkdir -p "$out/tree.new"
    zstd -dcq "$tree_cache" | tar -x --numeric-owner --xattrs --xattrs-include='*' -C "$out/tree.new" ||
        { rm -rf "$out/tree.new"; die "cannot unpack $tree_cache"; }
    mv "$out/tree.new" "$out/tree"
    echo "$stamp" > "$out/tree.stamp"
    say "tree from the machine's cache: $tree_cache (made $(date -r "$tree_cache" '+%F %R'))"
}
if [ -z "${COVE_TREE_REBUILD:-}" ] && [ -f "$tree_cache" ]; then
    if [ -n "$(find "$tree_cache" -mtime -"$max_age")" ]; then
        from_cache
        exit 0
    fi
    say "the cached tree is older than $max_age days; making it anew"
    if COVE_TREE_REBUILD=1 "$0" "$@"; then exit 0; fi
    echo "template $name: WARNING: could not make the tree anew; using the cached one, without the newest updates" >&2
    from_cache
    exit 0
fi
mapfile -t packages < <(sed -e 's/#.*//' "$recipe/packages" | tr -s ' \t' '\n' | sed '/^$/d')
[ ${#packages[@]} -gt 0 ] || die "$recipe/packages lists no package"

# The machine's Debian mirrors: from deb822 .sources stanzas or one-line
# .list entries whose suite is the host's release (the main archive) and its
# -security counterpart.
apt_uri_for() { # SUITE -> first URI that serves it
    local want=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v want="$want" '
            function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uri != "") { print uri; found = 1; exit } types = suites = uri = ""; enabled = "" }
            /^[[:space:]]*$/ { flush(); next }
            /^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
            /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); split($0, u, " "); uri = u[1] }
            /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
            /^Enabled:/ { sub(/^Enabled:[[:space:]]*/, ""); enabled = $0 }
            END { if (!found) flush() }' "$f" | head -1
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v want="$want" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == want) print $i }' "$f"
    done
}
host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
mirror=$(apt_uri_for "$suite" | head -1)
[ -n "$mirror" ] || [ -z "$host_suite" ] || mirror=$(apt_uri_for "$host_suite" | head -1)
security=$(apt_uri_for "$suite-security" | head -1)
if [ -n "$mirror" ]; then say "Debian $suite from $mirror (the machine's apt sources)"
else say "Debian $suite from debootstrap's default mirror (none found in the machine's apt sources)"; fi

cache=$(mkdir -p "$out/../../cache/debs" && cd "$out/../../cache/debs" && pwd)
apt_cache=$(mkdir -p "$out/../../cache/apt" && cd "$out/../../cache/apt" && pwd)
tree=$out/tree
new=$out/tree.new
rm -f "$out/tree.stamp"
rm -rf "$new"
mkdir -p "$new"

# Runs a command in the tree with /proc, /sys and /dev mounted in a private
# mount namespace, so nothing stays mounted when it ends or fails. apt's
# download directory there is the cache's.
in_tree() {
    unshare --mount --propagation private --fork /bin/sh -ec '
        t=$1 c=$2; shift 2
        mount -t proc proc "$t/proc"; mount -t sysfs sysfs "$t/sys"; mount --rbind /dev "$t/dev"
        mount --bind "$c" "$t/var/cache/apt/archives"
        exec chroot "$t" "$@"' in_tree "$new" "$apt_cache" "$@"
}

say "debootstrap --variant=minbase (progress below; the first build downloads its packages)"
started=$(date +%s)
# shellcheck disable=SC2086
debootstrap --variant=minbase --cache-dir="$cache" "$suite" "$new" $mirror 2>&1 |
    while IFS= read -r line; do
        # Show the phases and anything unusual, not the several lines per package.
        [[ $line =~ ^I:\ (Retrieving|Validating|Checking|Found)\  ]] && continue
        [[ $line =~ ^I:\ (Extracting|Unpacking|Configuring)\ [^\ ]+\.\.\.$ ]] && continue
        echo "    $line"
    done
# debootstrap leaves its packages in the tree's own apt cache (they are in
# its cache-dir too); in_tree hides that directory, the image would not.
find "$new/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -delete

say "apt sources and security updates"
rm -f "$new/etc/apt/sources.list"
{
    echo "Types: deb"
    echo "URIs: ${mirror:-$(sed -n 's/^deb \([^ ]*\) .*/\1/p' "$new/etc/apt/sources.list" 2>/dev/null | head -1)}"
    echo "Suites: $suite $suite-updates"
    echo "Components: main"
    echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    if [ -n "$security" ]; then
        echo
        echo "Types: deb"
        echo "URIs: $security"
        echo "Suites: $suite-security"
        echo "Components: main"
        echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
} > "$new/etc/apt/sources.list.d/debian.sources"
if [ -z "$mirror" ]; then rm "$new/etc/apt/sources.list.d/debian.sources"; fi
cp /etc/resolv.conf "$new/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$new/usr/sbin/policy-rc.d" # start no services while building
chmod 755 "$new/usr/sbin/policy-rc.d"
# No documentation: what debootstrap put in goes now, and dpkg leaves out
# what any later install brings.
cat > "$new/etc/dpkg/dpkg.cfg.d/cove-nodoc" <<'END_NODOC'
# Cove templates carry no documentation, man pages or translations; copyright
# files are kept. Remove this file to have them installed again.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
END_NODOC
[ -n "$new" ] && [ -d "$new/usr/share/doc" ] || die "no tree in '$new'"
find "$new/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$new/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$new"/usr/share/man/* "$new"/usr/share/info/* "$new"/usr/share/locale/*
# dpkg need not sync each file while building: a build that fails starts over.
echo force-unsafe-io > "$new/etc/dpkg/dpkg.cfg.d/cove-build"
export DEBIAN_FRONTEND=noninteractive
apt_get() { in_tree apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }
in_tree apt-get -qq update
if ! apt_get dist-upgrade > "$out/upgrade.log" 2>&1; then
    tail -20 "$out/upgrade.log" >&2
    die "apt-get dist-upgrade failed (log: $out/upgrade.log)"
fi
say "$(grep -c '^Setting up' "$out/upgrade.log" || true) packages updated (log: $out/upgrade.log)"
say "apt-get install: the recipe's ${#packages[@]} packages and what they depend on"
if ! apt_get --no-install-recommends install "${packages[@]}" > "$out/install.log" 2>&1; then
    tail -20 "$out/install.log" >&2
    die "apt-get install failed (log: $out/install.log)"
fi
say "$(grep -c '^Setting up' "$out/install.log" || true) packages installed, $(grep -c '^Get:' "$out/install.log" || true) downloaded (log: $out/install.log)"

say "setup.sh"
install -m 755 "$recipe/setup.sh" "$new/tmp/cove-setup.sh"
in_tree /tmp/cove-setup.sh
rm -f "$new/tmp/cove-setup.sh"

# What every Cove guest expects, and what should not ship in an image. The
# cache drops the packages its mirror no longer has (replaced by updates).
in_tree apt-get -qq autoclean
rm -rf "$new"/var/lib/apt/lists/* "$new"/var/cache/apt/*.bin "$new/usr/sbin/policy-rc.d" \
    "$new/etc/dpkg/dpkg.cfg.d/cove-build" "$new"/var/log/*.log "$new"/var/log/apt/* "$new"/var/cache/debconf/*-old
echo cove > "$new/etc/hostname"
printf '127.0.0.1\tlocalhost cove\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$new/etc/hosts"
: > "$new/etc/resolv.conf"
: > "$new/etc/machine-id"

rm -rf "$tree"
mv "$new" "$tree"
echo "$stamp" > "$out/tree.stamp"
say "tree ready: $(du -sh "$tree" | cut -f1) in $(( $(date +%s) - started )) s"

# Into the machine's cache (written aside, then renamed); the three newest
# trees of this template stay.
if mkdir -p "$tree_cache_dir" 2>/dev/null; then
    if tar -c --numeric-owner --xattrs --xattrs-include='*' -C "$tree" . | zstd -q -T0 -3 -o "$tree_cache.new"; then
        mv -f "$tree_cache.new" "$tree_cache"
        ls -t "$tree_cache_dir/$name"-*.tar.zst | tail -n +4 | xargs -r rm -f
        say "kept in the machine's cache: $tree_cache ($(du -h "$tree_cache" | cut -f1))"
    else
        rm -f "$tree_cache.new"
        echo "template $name: could not keep the tree in $tree_cache_dir (the build goes on)" >&2
    fi
fi
