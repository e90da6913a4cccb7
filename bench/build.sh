# build.sh - sourced by the benchmark scripts: builds the project with the benchmark tools
# (-DSM_BENCH=ON) into $SM_BENCH_BUILD (default build-bench/) and sets $build. Every program
# a benchmark runs, the generators and the libpcap floor included, comes from this one CMake
# build, with the project's flags.
#
#   . "$here/build.sh" LOGFILE
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SM_BENCH_BUILD:-$bench_root/build-bench}
cmake -S "$bench_root" -B "$build" -DSM_WERROR=ON -DSM_BENCH=ON >"$1"
cmake --build "$build" -j2 >>"$1" 2>&1 || { tail -20 "$1" >&2; exit 1; }
# The sources measured, for the record (compare runs against the same tree).
bench_sources_md5() {
    (cd "$bench_root" && git ls-files -z -- '*.c' '*.h' '*.proto' | grep -zv '^tests/' |
        xargs -0 md5sum)
}
# cpu_speeds: milliseconds of one fixed shell loop pinned to each CPU in turn ("cpu0 61
# cpu1 60"). On this project's shared virtual machines, at times one vCPU, or both, runs
# 1.5-1.8 times slower than usual for minutes (the host's load, not seen as steal time): a
# sitting's figures say whether it was one of those.
cpu_speeds() {
    local c t0 t1
    for c in $(seq 0 $(($(nproc) - 1))); do
        t0=$EPOCHREALTIME
        taskset -c "$c" bash -c 'for ((i = 0; i < 100000; i++)); do :; done'
        t1=$EPOCHREALTIME
        printf 'cpu%s %s ' "$c" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}')"
    done
    echo
}
