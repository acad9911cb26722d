# Shared by the tests that need container images (sourced): a loopback
# registry of the test's own (Debian's docker-registry) and a busybox tree
# to make images of. The caller has $base (its directory, removed at its
# end) and kills "${registry_pids[@]}" in its cleanup.

registry_pids=()
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_registry NAME [HTPASSWD]: a docker-registry on a free loopback port,
# its storage in the test's directory; sets registry to its HOST:PORT. Not
# in a $(...) subshell: cleanup must see its pid, or it outlives the test
# (holding the integration lock it inherited).
start_registry() {
    local name=$1 auth=${2:-} port
    port=$(free_port)
    mkdir -p "$base/$name"
    {
        echo "version: 0.1"
        echo "log: {level: error}"
        echo "storage: {filesystem: {rootdirectory: $base/$name/data}}"
        echo "http: {addr: 127.0.0.1:$port}"
        [ -n "$auth" ] && echo "auth: {htpasswd: {realm: cove-test, path: $auth}}"
    } >"$base/$name/config.yml"
    docker-registry serve "$base/$name/config.yml" >"$base/$name/log" 2>&1 &
    registry_pids+=($!)
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break
        sleep 0.1
    done
    registry=127.0.0.1:$port
}

# stage_busybox DIR: a busybox tree with a `tester` user (1000), files to
# delete in a later layer (/data/file, /data/dir) and one kept.
stage_busybox() {
    local s=$1
    mkdir -p "$s/bin" "$s/etc" "$s/work" "$s/home/tester" "$s/data/dir"
    cp /bin/busybox "$s/bin/busybox"
    for a in sh ls cat echo id env pwd test; do ln -s busybox "$s/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/home/tester:/bin/sh\n' >"$s/etc/passwd"
    printf 'root:x:0:\ntester:x:1000:\n' >"$s/etc/group"
    echo gone >"$s/data/file"; echo x >"$s/data/dir/y"; echo kept >"$s/data/keep"
    chown -R 1000:1000 "$s/home/tester" "$s/work"
}
