# Shared by the shell benchmarks (sourced): a clock and the summary line.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# median FILE: the middle of its numbers (the lower middle of an even count).
median() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

stats() { # name file-of-numbers (ms)
    sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
        if (NR == 0) { printf "%-14s no runs\n", name; exit }
        med = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
        p99 = v[int(NR*0.99 + 0.999)]
        printf "%-14s n=%-3d median=%7.1f ms  p99=%7.1f ms  max=%7.1f ms  min=%7.1f ms\n", name, NR, med, p99, v[NR], v[1]
    }'
}
