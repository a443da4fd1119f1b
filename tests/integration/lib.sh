# lib.sh - shared helpers of the integration tests (tests/integration/*.test), sourced by them.
# POSIX sh plus `local` (dash, bash, busybox ash). Every test gets its own temporary directory
# ($T), an ephemeral port (listen on tcp://127.0.0.1:0, read back through endpoint_file),
# deadlines on every wait (polling, never sleep-and-hope), and an EXIT trap that stops whatever
# it started and, when the test failed, prints the configuration and the daemon and worker logs.
#
# Exit codes (automake): 0 pass, 1 fail, 77 skip, 99 hard error (the harness itself broke).

: "${top_builddir:?top_builddir is not set: run through make check}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"

PARAMD=$top_builddir/server/paramd
WORKER=$top_builddir/worker/paramd-worker
DATAGEN=$top_builddir/examples/paramd-datagen
REFSOLVE=$top_builddir/tests/integration/refsolve
PYTHON=/usr/bin/python3
# Local workers started by paramd itself must be the ones of this build tree.
PARAMD_WORKER=$WORKER
export PARAMD_WORKER

T=
PD_PIDS=          # every process we started (each is a process-group leader, see pd_spawn)
PD_DAEMON_PID=
PD_EP=
PD_LAST_PID=
PD_TEST_NAME=$(basename "$0" .test)

pd_log() { echo "[$PD_TEST_NAME] $*" >&2; }
pd_fail() { echo "FAIL [$PD_TEST_NAME]: $*" >&2; exit 1; }
pd_hard_error() { echo "ERROR [$PD_TEST_NAME]: $*" >&2; exit 99; }
pd_skip() { echo "SKIP [$PD_TEST_NAME]: $*" >&2; exit 77; }


# A process is alive if it exists and is not a zombie (our own exited children stay zombies
# until waited for, and kill -0 still succeeds on them).
pd_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        # field 3 of /proc/PID/stat, after the parenthesised command name
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ "$st" != Z ] || return 1
    fi
    return 0
}

pd_cleanup() {
    local rc="$?" p i f
    trap - EXIT INT TERM
    # Stop first (a stopped process ignores TERM until continued), politely, then firmly.
    for p in $PD_PIDS; do
        kill -CONT "-$p" 2>/dev/null
        kill -TERM "-$p" 2>/dev/null
    done
    for p in $PD_PIDS; do
        i=0
        while pd_alive "$p" && [ $i -lt 40 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        kill -KILL "-$p" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ] && [ -d "$T" ]; then
        for f in "$T"/*.conf "$T"/paramd.log "$T"/paramd.out "$T"/worker-*.log "$T"/*.err; do
            [ -f "$f" ] || continue
            echo "===== $(basename "$f") (last 80 lines) =====" >&2
            tail -n 80 "$f" >&2
        done
        if [ -f "$T/metrics.jsonl" ]; then
            echo "===== metrics.jsonl (last 3 lines) =====" >&2
            tail -n 3 "$T/metrics.jsonl" >&2
        fi
    fi
    cd / || :
    if [ -n "$T" ] && [ -d "$T" ] && [ -z "${PD_KEEP_TMP:-}" ]; then
        rm -rf "$T"
    elif [ -n "$T" ]; then
        echo "[$PD_TEST_NAME] kept $T" >&2
    fi
    exit "$rc"
}

# Start the test: checks the programs, makes $T, installs the trap.
pd_setup() {
    local prog
    for prog in "$PARAMD" "$WORKER" "$DATAGEN" "$REFSOLVE"; do
        [ -x "$prog" ] || pd_hard_error "$prog is not built (run make check)"
    done
    command -v timeout >/dev/null 2>&1 || pd_skip "timeout(1) is not available"
    command -v setsid >/dev/null 2>&1 || pd_skip "setsid(1) is not available"
    [ -x "$PYTHON" ] || pd_skip "$PYTHON is not available (needed to read the metrics log)"
    T=$(mktemp -d "${TMPDIR:-/tmp}/paramd-it.XXXXXXXX") || pd_hard_error "mktemp failed"
    PD_CONF=$T/paramd.conf
    # the daemon writes its outputs (metrics log, endpoint file, state_dir, save_params)
    # relative to its working directory: the test's directory, next to its configuration
    cd "$T" || pd_hard_error "cannot enter $T"
    trap pd_cleanup EXIT
    trap 'exit 99' INT TERM
}

# Run a command in its own session and process group (setsid execs in place, since a child
# of a non-interactive shell is never a group leader), so $! is the program itself and
# "kill -- -PID" reaches the children it spawns too (paramd --local-workers).
#   pd_spawn LOGFILE PROGRAM ARGS...   -> PD_LAST_PID
pd_spawn() {
    local log="$1"
    shift
    setsid "$@" </dev/null >"$log" 2>&1 &
    PD_LAST_PID=$!
    PD_PIDS="$PD_PIDS $PD_LAST_PID"
}

# Generate a logistic data set: pd_datagen PREFIX SAMPLES FEATURES SEED [more datagen args]
pd_datagen() {
    local prefix="$1" m="$2" p="$3" seed="$4"
    shift 4
    "$DATAGEN" logistic --samples "$m" --features "$p" --seed "$seed" --out "$T/$prefix" \
        "$@" >"$T/datagen.err" 2>&1 || pd_hard_error "paramd-datagen failed: $(cat "$T/datagen.err")"
}

# Write $PD_CONF ($T/paramd.conf): the [server] section every test needs (ephemeral port, endpoint file,
# metrics log, info log, no progress line), then the sections from standard input.
# (Sets nothing: it may run at the end of a pipeline, in a subshell.)
pd_write_config() {
    {
        echo "[server]"
        echo "listen = tcp://127.0.0.1:0"
        echo "endpoint_file = endpoint"
        echo "metrics_log = metrics.jsonl"
        echo "log_level = info"
        echo "progress = no"
        cat
    } >"$PD_CONF"
}

# Start the daemon in the background with $PD_CONF and extra arguments, and wait (deadline
# 20 s) until it has written its endpoint: sets PD_DAEMON_PID and PD_EP.
pd_start_daemon() {
    rm -f "$T/endpoint"
    pd_spawn "$T/paramd.log" "$PARAMD" -c "$PD_CONF" "$@"
    PD_DAEMON_PID=$PD_LAST_PID
    local i=0
    while [ ! -s "$T/endpoint" ]; do
        # A short job can write its endpoint and end between the test above and this one.
        pd_alive "$PD_DAEMON_PID" || [ -s "$T/endpoint" ] ||
            pd_fail "paramd exited before listening"
        [ $i -lt 400 ] || pd_fail "paramd did not write its endpoint within 20 s"
        sleep 0.05
        i=$((i + 1))
    done
    PD_EP=$(cat "$T/endpoint")
    case $PD_EP in
    tcp://127.0.0.1:[1-9]*) ;;
    *) pd_fail "unexpected endpoint '$PD_EP'" ;;
    esac
}

# Start a worker against $PD_EP: pd_start_worker NAME [worker args]  -> PD_LAST_PID
pd_start_worker() {
    local name="$1"
    shift
    pd_spawn "$T/worker-$name.log" "$WORKER" --server "$PD_EP" --name "$name" \
        --join-timeout 20 --log-level info "$@"
}

# A deadline of N seconds, stretched by $PD_TIMEOUT_SCALE (a whole number; make check sets it
# for the ThreadSanitizer build, which runs everything several times slower).
pd_secs() {
    echo $(($1 * ${PD_TIMEOUT_SCALE:-1}))
}

# Wait for a process we started to exit within SECONDS; its exit status goes to PD_RC.
#   pd_wait_exit PID SECONDS WHAT
pd_wait_exit() {
    local pid="$1" secs what="$3"
    secs=$(pd_secs "$2")
    # timeout(1) bounds the wait; the poll loop inside is what notices the exit (a
    # non-child cannot be waited for by the inner shell).
    if ! timeout "$secs" sh -c '
        while kill -0 "$1" 2>/dev/null; do
            st=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d" " -f1)
            [ "$st" = Z ] && exit 0
            sleep 0.05
        done' sh "$pid"; then
        pd_fail "$what did not exit within $secs s"
    fi
    wait "$pid"
    PD_RC=$?
}

# After the daemon has exited: every worker given must exit with status 0. A worker normally
# leaves on the server's BYE; but the BYE can be lost when the daemon closes its socket before
# the worker has read it (the worker's DEALER uses ZMQ_IMMEDIATE, so a disconnect drops
# unread input), and the worker then only notices after worker_timeout. So after 1.5 s we send
# SIGTERM, which is also a clean exit (status 0).
#   pd_finish_workers PID...
pd_finish_workers() {
    local pid i=0 alive
    while [ $i -lt 30 ]; do
        alive=
        for pid in "$@"; do
            pd_alive "$pid" && alive=1
        done
        [ -n "$alive" ] || break
        sleep 0.05
        i=$((i + 1))
    done
    for pid in "$@"; do
        if pd_alive "$pid"; then
            pd_log "worker pid $pid is still running 1.5 s after the daemon; sending SIGTERM"
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    for pid in "$@"; do
        pd_wait_exit "$pid" 10 "worker pid $pid"
        [ "$PD_RC" -eq 0 ] || pd_fail "worker pid $pid exited with status $PD_RC"
    done
}

# Poll until a shell condition holds, with a deadline: pd_wait_until SECONDS WHAT CMD...
pd_wait_until() {
    local secs what="$2" deadline
    secs=$(pd_secs "$1")
    shift 2
    deadline=$(($(date +%s) + secs))
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || pd_fail "timed out after $secs s waiting for $what"
        if [ -n "$PD_DAEMON_PID" ] && ! pd_alive "$PD_DAEMON_PID"; then
            "$@" && return 0
            pd_fail "paramd exited while waiting for $what"
        fi
        sleep 0.05
    done
}

# --- metrics log -------------------------------------------------------------------------
# pd_metric KEY [done|last] : the value of KEY in the "done" line (default) or the last line
# of $T/metrics.jsonl, printed with %.17g (integers as such); fails (status 1) if absent.
pd_metric() {
    "$PYTHON" -c '
import json, sys
path, key, which = sys.argv[1], sys.argv[2], sys.argv[3]
row = None
try:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except ValueError:
                continue  # a line being written
            if which == "last" or o.get("event") == "done":
                row = o
except OSError:
    sys.exit(1)
if row is None or row.get(key) is None:
    sys.exit(1)
v = row[key]
print("%.17g" % v if isinstance(v, float) else v)
' "$T/metrics.jsonl" "$1" "${2:-done}"
}

# True when the metrics log has a line whose "version" is at least N.
pd_version_at_least() {
    local v
    v=$(pd_metric version last) || return 1
    pd_float_cmp "$v" ">=" "$1"
}

# pd_float_cmp A OP B  (OP: < <= > >= ==) with awk's doubles
pd_float_cmp() {
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        if (op == "<") r = a < b; else if (op == "<=") r = a <= b; else if (op == "==") r = a == b;
        else if (op == ">") r = a > b; else if (op == ">=") r = a >= b; else r = 0;
        exit !r }'
}

# pd_compare_params FILE_A FILE_B TOL: max_i |a_i - b_i| / max(1, |b_i|) <= TOL, same length.
pd_compare_params() {
    "$PYTHON" -c '
import sys
a = [float(x) for x in open(sys.argv[1]).read().split()]
b = [float(x) for x in open(sys.argv[2]).read().split()]
tol = float(sys.argv[3])
if len(a) != len(b) or not a:
    print("length %d vs %d" % (len(a), len(b)))
    sys.exit(1)
err = max(abs(x - y) / max(1.0, abs(y)) for x, y in zip(a, b))
print("max relative difference %.3g over %d parameters (tolerance %g)" % (err, len(a), tol))
sys.exit(0 if err <= tol else 1)
' "$1" "$2" "$3"
}

# Updates per second of a one-worker async-sgd job on this machine right now, so tests that
# must still be running N seconds after an event can size max_updates instead of hoping.
# Runs $PD_CONF (which must be an async-sgd job) with one local worker for COUNT updates.
#   pd_calibrate_rate COUNT  -> PD_RATE
pd_calibrate_rate() {
    local count="$1"
    mkdir -p "$T/calib"
    sed -e 's|^endpoint_file = .*|endpoint_file = calib/endpoint|' \
        -e 's|^metrics_log = .*|metrics_log = calib/metrics.jsonl|' \
        -e 's|^log_level = .*|log_level = notice|' "$PD_CONF" >"$T/calib.conf"
    pd_spawn "$T/calib.err" "$PARAMD" -c "$T/calib.conf" --local-workers 1 \
        -o "stop.max_updates=$count"
    pd_wait_exit "$PD_LAST_PID" 60 "the calibration job"
    [ "$PD_RC" -eq 0 ] || pd_fail "the calibration job failed with status $PD_RC"
    PD_RATE=$("$PYTHON" -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
done = [r for r in rows if r.get("event") == "done"][-1]
# From the first evaluation (made when the worker became ready) to the end: the start-up of
# the worker process does not count.
first = rows[0] if len(rows) > 1 else {"version": 0, "elapsed_s": 0}
dt = max(done["elapsed_s"] - first["elapsed_s"], 0.05)
print("%.0f" % ((done["updates_total"] - first["version"]) / dt))
' "$T/calib/metrics.jsonl") || pd_fail "cannot read the calibration metrics"
    pd_log "one worker runs about $PD_RATE updates/s here"
}
