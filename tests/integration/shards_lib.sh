# shards_lib.sh - helpers of the several-server tests (shards*.test), sourced after lib.sh:
# run a job to its end, keep its saved parameters and final objective under a name, and
# compare two runs byte for byte.

# shards_run NAME WORKERS [paramd arguments]: paramd with WORKERS local workers
shards_run() {
    local name="$1" workers="$2"
    shift 2
    rm -f "$T/params.txt" "$T/metrics.jsonl"
    pd_start_daemon --local-workers "$workers" "$@"
    shards_keep "$name"
}

# shards_py_run NAME [paramd arguments]: paramd and one Python worker (python3 -m paramd);
# with SHARDS_PY_CODE set, that program instead (python3 -c, the endpoint its argument)
shards_py_run() {
    local name="$1"
    shift
    rm -f "$T/params.txt" "$T/metrics.jsonl"
    pd_start_daemon "$@"
    if [ -n "${SHARDS_PY_CODE:-}" ]; then
        pd_spawn "$T/py-$name.log" "$PYTHON" -c "$SHARDS_PY_CODE" "$PD_EP"
    else
        pd_spawn "$T/py-$name.log" "$PYTHON" -m paramd --server "$PD_EP" --name "py-$name"
    fi
    shards_keep "$name"
}

# shards_keep NAME: wait for the job's end; keep params.txt and the final objective as NAME's
shards_keep() {
    pd_wait_exit "$PD_DAEMON_PID" 120 "paramd ($1)"
    [ "$PD_RC" -eq 0 ] || pd_fail "$1: paramd exited with status $PD_RC"
    mv "$T/params.txt" "$T/params-$1.txt"
    pd_metric objective done >"$T/objective-$1" || pd_fail "$1: no done line"
}

# shards_same NAME_A NAME_B: both runs saved the same bytes and report the same objective
shards_same() {
    cmp -s "$T/params-$1.txt" "$T/params-$2.txt" ||
        pd_fail "$2 saved other parameters than $1"
    cmp -s "$T/objective-$1" "$T/objective-$2" ||
        pd_fail "$2 reports objective $(cat "$T/objective-$2"), $1 $(cat "$T/objective-$1")"
    pd_log "$2 = $1 (objective $(cat "$T/objective-$1"))"
}

# shards_have_python: the Python worker's modules are there
shards_have_python() {
    "$PYTHON" -c 'import numpy, zmq, google.protobuf' 2>/dev/null
}

# shard_parts N: the gradient parts shard N received from workers in the last run (its exit
# line)
shard_parts() {
    sed -n "s/^paramd shard $1: .*, \([0-9]*\) gradient parts received from workers.*/\1/p" \
        "$T/paramd.log"
}

# shard_reads N: the reads shard N served to workers and clients in the last run (its exit
# line; shard 0's own gathers are not counted)
shard_reads() {
    sed -n "s/^paramd shard $1: .*, \([0-9]*\) reads served to workers and clients\$/\1/p" \
        "$T/paramd.log"
}
