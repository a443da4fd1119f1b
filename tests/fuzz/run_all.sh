#!/bin/sh
# run_all.sh SECONDS TARGET... - `make fuzz`: each libFuzzer target for SECONDS, on a scratch
# corpus seeded from its committed one (tests/fuzz/corpus/<target>, read, never written), with
# crashes written to fuzz-findings/<target>/. Prints executions and findings per target; exit
# status 1 when any target found something.
set -u
seconds=$1
shift
srcdir=${srcdir:-.}
found=0
printf '%-12s %12s %10s %s\n' target execs exec/s findings
for t in "$@"; do
    name=$(basename "$t")
    work=fuzz-work/$name
    findings=fuzz-findings/$name
    mkdir -p "$work" "$findings"
    log=fuzz-work/$name.log
    "$t" -max_total_time="$seconds" -artifact_prefix="$findings/" -print_final_stats=1 \
        "$work" "$srcdir/tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    n=$(ls "$findings" | wc -l)
    printf '%-12s %12s %10s %s\n' "$name" "${execs:-?}" "${rate:-?}" \
        "$n$([ "$n" -gt 0 ] && echo " in $findings (log: $log)")"
    if [ "$rc" -ne 0 ] || [ "$n" -gt 0 ]; then
        found=1
    fi
done
exit $found
