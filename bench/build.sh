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
