#!/bin/bash
# Templates from container images (cove template build --from-image) with
# real guests: test images made here offline from Debian's busybox and musl
# (umoci), served by Debian's docker-registry on loopback (one open, one
# with htpasswd logins), and read as oci: directories and docker-archive:
# files. Sandboxes of them have the image's env, workdir and user, its
# deleted files gone (whiteouts), and run a musl program in an Alpine-like
# image. Failures say what went wrong and leave nothing behind. Prints TAP.
set -u
build=${COVE_BUILD:-$(cd "$(dirname "$0")/../../build" && pwd)}
cove=$build/bin/cove
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../registry.sh"
need_root
need_guest
for t in skopeo umoci docker-registry musl-gcc htpasswd mkfs.ext4; do
    command -v $t >/dev/null || skip_all "$t is not installed (scripts/deps.sh)"
done
[ -e /lib/ld-musl-x86_64.so.1 ] || skip_all "no musl dynamic loader (musl package)"
base=$(mktemp -d /tmp/cove-image.XXXXXX)
export COVE_RUN_DIR=$base/run COVE_LOG_DIR=$base/log COVE_STATE_DIR=$base/state COVE_TEMPLATES=$base/templates
mkdir -p "$COVE_TEMPLATES"
registry_pids=()
coved_pid=""
cleanup() {
    [ -n "$coved_pid" ] && kill "$coved_pid" 2>/dev/null && wait "$coved_pid" 2>/dev/null
    for p in "${registry_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$cove" net gc --pool >/dev/null 2>&1
    rm -rf "$base"
}
trap cleanup EXIT

# The test images, made offline: a staged tree as one layer, its config
# set by umoci (as tests make the tiny template, without Cove's programs).
make_images() {
    local oci=$base/oci s=$base/stage
    stage_busybox "$s/bb"
    umoci init --layout "$oci" && umoci new --image "$oci:bb" && umoci insert --image "$oci:bb" "$s/bb" / &&
    umoci config --image "$oci:bb" --config.env FOO=bar --config.env "GREETING=hello world" \
        --config.workingdir /work --config.user tester || return 1
    # (b) two more layers, each deleting what the first had.
    umoci config --image "$oci:bb" --tag wh &&
    umoci insert --image "$oci:wh" --whiteout /data/file && umoci insert --image "$oci:wh" --whiteout /data/dir || return 1
    # (c) Alpine-like: musl's loader and a program linked against it, no glibc.
    mkdir -p "$s/alp/bin" "$s/alp/etc" "$s/alp/lib" "$s/alp/usr/bin"
    cp /bin/busybox "$s/alp/bin/busybox"; ln -s busybox "$s/alp/bin/sh"; ln -s busybox "$s/alp/bin/cat"
    echo 3.20.0 >"$s/alp/etc/alpine-release"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$s/alp/etc/passwd"
    cp -L /lib/ld-musl-x86_64.so.1 "$s/alp/lib/ld-musl-x86_64.so.1"
    printf '#include <stdio.h>\nint main(void){puts("hello from musl");return 0;}\n' >"$base/hello.c"
    musl-gcc -o "$s/alp/usr/bin/hello" "$base/hello.c" || return 1
    umoci new --image "$oci:alp" && umoci insert --image "$oci:alp" "$s/alp" / || return 1
    skopeo copy -q "oci:$oci:alp" "docker-archive:$base/alp.tar:alp:latest"
}
make_images >"$base/make.log" 2>&1; rc=$?
readelf -l "$base/stage/alp/usr/bin/hello" 2>/dev/null | grep -q 'ld-musl-x86_64.so.1'
check "test images made offline (busybox; whiteouts; a dynamic musl program)" $((rc + $?)) "$(tail -5 "$base/make.log")"

start_registry open; open=$registry
htpasswd -Bbc "$base/htpasswd" tester s3cret 2>/dev/null
start_registry locked "$base/htpasswd"; locked=$registry
push() { skopeo copy -q --dest-tls-verify=false ${3:+--dest-creds "$3"} "oci:$base/oci:$1" "docker://$2"; }
push bb "$open/bb:1" && push wh "$open/wh:1" && push bb "$locked/bb:1" tester:s3cret 2>"$base/push.err"
check "the images are pushed to a loopback registry" $? "$(cat "$base/push.err" "$base/open/log" | tail -5)"

build() { "$cove" template build --no-snapshot "$@" 2>"$base/err"; }
conf() { cat "$COVE_TEMPLATES/$1/template.conf" 2>/dev/null; }
run() { "$cove" run --template "$@" 2>>"$base/run.err"; }
leftovers() { ls -A "$COVE_TEMPLATES" | grep '^\.'; ls "$COVE_STATE_DIR/image-cache" 2>/dev/null | grep '^work-'; }

"$cove" template build --from-image "docker://$open/bb:1" --insecure-registry "$open" bb 2>"$base/err"; rc=$?
digest=$(skopeo inspect --tls-verify=false "docker://$open/bb:1" | sed -n 's/.*"Digest": "\(.*\)",/\1/p')
[ $rc = 0 ] && conf bb | grep -qx "source=docker://$open/bb@$digest" && conf bb | grep -qx 'env=GREETING=hello world' &&
    conf bb | grep -qx 'user=tester' && conf bb | grep -qx 'workdir=/work' && [ -s "$COVE_TEMPLATES/bb/snapshot/snapshot.conf" ]
check "build --from-image from a registry: template.conf has its source at the digest, env, user, workdir; snapshotted" $? \
    "rc=$rc $(tail -5 "$base/err") $(conf bb)"
grep -q 'fetching' "$base/err" && ! grep -q 'in the cache' "$base/err"
check "... fetching it and saying so" $? "$(cat "$base/err")"
[ -z "$(leftovers)" ]; check "... leaving no work or temporary directories" $? "$(leftovers)"

out=$(run bb -- sh -c 'echo "$FOO|$GREETING|$(pwd)|$(id -un)"'); rc=$?
[ "$out" = "bar|hello world|/work|tester" ]
check "its sandbox has the image's env, workdir and user" $? "rc=$rc out=$out $(tail -5 "$base/run.err")"
out=$(run bb -e FOO=mine -- sh -c 'echo "$FOO|$GREETING"'); rc=$?
[ "$out" = "mine|hello world" ]; check "... and a command's own env goes on top" $? "rc=$rc out=$out"
out=$(run bb -- sh -c 'test -x /sbin/cove-init && test -x /usr/lib/cove/busybox && stat -c %a /tmp && echo ok'); rc=$?
[ "$out" = "$(printf '1777\nok')" ]; check "... and Cove's programs, busybox and a /tmp of 1777" $? "rc=$rc out=$out"

build --from-image "docker://$open/wh:1" --insecure-registry "$open" wh; rc=$?
out=$(run wh -- sh -c 'ls /data; test -e /data/file || echo file-gone; test -e /data/dir || echo dir-gone'); rrc=$?
[ $rc = 0 ] && [ "$out" = "$(printf 'keep\nfile-gone\ndir-gone')" ]
check "a later layer's whiteouts delete a file and a directory of an earlier one" $? "rc=$rc/$rrc out=$out $(tail -3 "$base/err")"

build --from-image "docker-archive:$base/alp.tar" alp; rc=$?
out=$(run alp -- sh -c 'cat /etc/alpine-release; /usr/bin/hello'); rrc=$?
[ $rc = 0 ] && [ "$out" = "$(printf '3.20.0\nhello from musl')" ] && ! conf alp | grep -q '^user=' && conf alp | grep -qx workdir=/
check "an Alpine-like image (docker-archive:) runs its musl program; no User: root, no WorkingDir: /" $? \
    "rc=$rc/$rrc out=$out $(tail -3 "$base/err") $(tail -3 "$base/run.err")"

build --from-image "oci:$base/oci:wh" whoci; rc=$?
[ $rc = 0 ] && conf whoci | grep -q "^source=oci:$base/oci:wh@sha256:" && grep -q 'in the cache' "$base/err"
check "from an oci: directory; the same image again comes from the cache" $? "rc=$rc $(cat "$base/err")"

echo s3cret | build --from-image "$locked/bb:1" --insecure-registry "$locked" --username tester --password-stdin bbauth; rc=$?
[ $rc = 0 ] && ! grep -rqs s3cret "$COVE_TEMPLATES/bbauth" "$COVE_STATE_DIR"
check "a registry with logins: --username and the password on stdin; the password kept nowhere" $? "rc=$rc $(cat "$base/err")"

# An image whose /sbin, /etc and /usr are symlinks out of it (absolute, and
# by ".."): Cove's files land inside the image, where the links point
# within it, and nothing on the host.
escape=$base/escape
mkdir -p "$escape" "$base/stage/evil/bin" "$base/stage/evil/tmp/x" "$base/stage/evil/tmp/e"
ln -s "$escape" "$base/stage/evil/sbin"
ln -s "../../../../../../..$escape" "$base/stage/evil/etc"
ln -s / "$base/stage/evil/usr"
cp /bin/busybox "$base/stage/evil/bin/"
mkdir -p "$base/stage/evil/$escape"
( umoci new --image "$base/oci:evil" && umoci insert --image "$base/oci:evil" "$base/stage/evil" / ) >/dev/null 2>&1
build --from-image "oci:$base/oci:evil" evil; rc=$?
in_image() { debugfs -R "ls $1" "$COVE_TEMPLATES/evil/rootfs.ext4" 2>/dev/null; }
[ $rc = 0 ] && [ -z "$(ls -A "$escape")" ] && in_image "$escape" | grep -q cove-init &&
    in_image "$escape" | grep -q resolv.conf && in_image /bin | grep -q cove-agent && in_image /lib/cove | grep -q busybox
check "an image's symlinks out of its root: Cove's files go inside the image, none to the host" $? \
    "rc=$rc host: $(ls -A "$escape") $(tail -2 "$base/err")"

# Through coved: its sandboxes of the template get the image's env under the
# create request's; cove templates shows where the template came from.
if start_coved "$base/coved.log"; then
    id=$(COVE_URL=$coved_url "$cove" create --template bb --timeout 120 -e FOO=req 2>"$base/err")
    out=$(COVE_URL=$coved_url "$cove" exec "$id" -- sh -c 'echo "$FOO|$GREETING|$(pwd)|$(id -un)"' 2>>"$base/err")
    [ "$out" = "req|hello world|/work|tester" ]
    check "coved: a sandbox of the template has its env (the request's on top), workdir and user" $? \
        "out=$out $(cat "$base/err")"
    COVE_URL=$coved_url "$cove" kill "$id" >/dev/null 2>&1
    COVE_URL=$coved_url "$cove" templates >"$base/out" 2>&1
    grep -E "^bb .*docker://$open/bb@sha256:" "$base/out" >/dev/null
    check "cove templates shows a template's source" $? "$(cat "$base/out")"
    kill "$coved_pid"; wait "$coved_pid" 2>/dev/null; coved_pid=""
else
    not_ok "coved starts" "$(cat "$base/coved.log")"
fi

# Failures: a clear line each, and nothing left.
fails() { # fails NAME PATTERN BUILD-ARGS...
    local name=$1 pattern=$2; shift 2
    build "$@" never; local rc=$?
    [ $rc != 0 ] && grep -q "$pattern" "$base/err" && [ ! -e "$COVE_TEMPLATES/never" ] && [ -z "$(leftovers)" ]
    check "$name" $? "rc=$rc $(cat "$base/err") $(leftovers)"
}
fails "wrong credentials: the registry refused them" "refused the credentials" \
    --from-image "docker://$locked/bb:1" --insecure-registry "$locked" --creds tester:wrong
fails "an image that does not exist" "no such image" --from-image "docker://$open/nope:1" --insecure-registry "$open"
fails "a registry that is not there" "cannot be reached" --from-image "docker://127.0.0.1:9/bb:1" --insecure-registry 127.0.0.1:9
fails "an image bigger than the allowed disk, naming both sizes" "at most 40 MiB is allowed" \
    --from-image "oci:$base/oci:bb" --max-disk-mib 40
fails "an oci: path that is not a layout" "is not an OCI layout" --from-image "oci:$base/stage"

"$cove" template rm whoci 2>"$base/err"; rc=$?
[ $rc = 0 ] && [ ! -e "$COVE_TEMPLATES/whoci" ] && [ -z "$(leftovers)" ]
check "cove template rm removes a template whole" $? "rc=$rc $(cat "$base/err")"
echo "1..$n"
