#!/bin/bash
# The tree's layout rules, checked on the built objects (prints TAP):
#   - no source file in src/ over 800 lines;
#   - no two source files that call each other, directly or round a loop
#     (from the objects' symbol tables: who defines what, who uses it);
#   - the modules (src/ directories) call each other one way only;
#   - only src/vmm/ and the programs' settings name a particular VMM.
#
#   tests/layout.sh BUILD_DIR
set -u
build=${1:-${COVE_BUILD:-build}}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
n=0 failed=0
check() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
    [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
}

long=$(find src -name '*.[ch]' -exec wc -l {} + | awk '$2 != "total" && $1 > 800 { print $2 " has " $1 " lines" }')
check "$([ -z "$long" ]; echo $?)" "no file in src/ over 800 lines" "$long"

# Each host object's defined and used symbols, as "D file sym" / "U file sym".
symbols() {
    find "$build/obj/host/src" -name '*.o' | while read -r o; do
        src=${o#"$build"/obj/host/}
        src=${src%.o}.c
        [ -f "$src" ] || continue # a stale object of a removed file
        nm "$o" | awk -v f="$src" '$2 ~ /^[TDBRW]$/ { print "D", f, $3 } $1 == "U" { print "U", f, $2 }'
    done
}
# Prints the cycles of a graph given as "from to" lines (Tarjan's strongly
# connected components; one line per component of more than one node).
cycles() {
    awk '
    { if (!($1 in seen)) { seen[$1]; nodes[++nn] = $1 } if (!($2 in seen)) { seen[$2]; nodes[++nn] = $2 }
      adj[$1] = adj[$1] " " $2 }
    function visit(v,    ws, k, w, comp) {
        idx[v] = low[v] = ++counter; stack[++sp] = v; on[v] = 1
        split(adj[v], ws, " ")
        for (k in ws) { w = ws[k]; if (w == "") continue
            if (!(w in idx)) { visit(w); if (low[w] < low[v]) low[v] = low[w] }
            else if (on[w] && idx[w] < low[v]) low[v] = idx[w] }
        if (low[v] == idx[v]) { comp = ""; size = 0
            do { w = stack[sp--]; on[w] = 0; comp = comp " " w; size++ } while (w != v)
            if (size > 1) print "circle:" comp }
    }
    END { for (i = 1; i <= nn; i++) if (!(nodes[i] in idx)) visit(nodes[i]) }'
}
syms=$(symbols)
edges=$(printf '%s\n' "$syms" | awk '$1 == "D" { def[$3] = $2 } $1 == "U" { use[++n] = $2 " " $3 }
    END { for (i = 1; i <= n; i++) { split(use[i], p, " "); if ((p[2] in def) && def[p[2]] != p[1]) print p[1], def[p[2]] } }' | sort -u)
[ -n "$edges" ]
check $? "the objects' symbols were read" "$([ -z "$edges" ] && echo "no objects under $build/obj/host: build first")"
file_cycles=$(printf '%s\n' "$edges" | cycles)
check "$([ -z "$file_cycles" ]; echo $?)" "no two files in src/ call each other" "$file_cycles"
module_cycles=$(printf '%s\n' "$edges" | awk '{ split($1, a, "/"); split($2, b, "/"); if (a[2] != b[2]) print a[2], b[2] }' |
    sort -u | cycles)
check "$([ -z "$module_cycles" ]; echo $?)" "the modules of src/ call each other one way" "$module_cycles"

# Code (not comments or help text) outside src/vmm that names QEMU: the
# user's COVE_QEMU setting (ENV_QEMU) is the one allowed.
named=$(grep -rnIi 'qemu\|qmp\|qcow2' src --include='*.[ch]' | grep -v '^src/vmm/' |
    grep -v 'COVE_QEMU\|ENV_QEMU' | grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)' | grep -vE '"[^"]*(qemu|qcow2)[^"]*"' )
check "$([ -z "$named" ]; echo $?)" "only src/vmm/ names a particular VMM" "$named"

echo "1..$n"
exit $failed
