#!/usr/bin/env bash
# START/KILL races never leave an instance stuck: 200 start-then-kill
# cycles, 50 KILLs pipelined behind their START on one connection (so KILL always lands
# during the START), 50 START/KILL pairs sent concurrently on two connections; then 8
# instances prepared, started and killed in parallel. Every request is answered, the
# instance ends ready, and no monitor, process, mount, loop device or daemon fd is left.
# Prints the START latency (median over the 200 cycles) and the parallel timings.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware
start_daemon

MNT=$FIRMWARED_MOUNT_PATH
fwctl ping >/dev/null
sleep 0.2
FDS0=$(fw_inst_daemon_fds)

run fwctl prepare firmwares "$FW_EX_EXT2"
expect_eq "prepare the ext2 firmware" 0 "$RC"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
I=$(field name "$OUT")
WS=$(fw_inst_prop "$I" base_workspace)
MOUNTS0=$(fw_inst_mounts_below "$FW_TMP")

# The scenarios, over raw protocol connections. Prints one "key value..." line per result.
STRESS=$(cat <<'EOF'
import json, random, socket, statistics, sys, time

path, name, scenario, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seq = 0

class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20.0)
        self.s.connect(path)
        self.buf = b""
    def send(self, command, *args):
        global seq
        seq += 1
        msg = {"seq": seq, "command": command, "args": list(args)}
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        return seq
    def reply(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)
    def call(self, command, *args):
        self.send(command, *args)
        return self.reply()

def state(c):
    return c.call("GET_PROPERTY", "instances", name, "state").get("value")

def outcome(r):
    return r["answer"] if r["answer"] != "ERROR" else r["error"] + ":" + r["message"]

a = Conn()
problems = []
tally = {}
def count_it(key):
    tally[key] = tally.get(key, 0) + 1

if scenario == "cycles":
    latencies = []
    t0 = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        r = a.call("START", name)
        latencies.append((time.perf_counter() - t) * 1000)
        if r["answer"] != "STARTED":
            problems.append("cycle %d: START answered %s" % (i, outcome(r)))
        k = a.call("KILL", name)
        if k["answer"] != "KILLED" or k.get("exit_status") != 137:
            problems.append("cycle %d: KILL answered %s" % (i, json.dumps(k)))
        s = state(a)
        if s != "ready":
            problems.append("cycle %d: state %s after KILL" % (i, s))
    total = time.perf_counter() - t0
    latencies.sort()
    print("start_ms median %.2f p90 %.2f max %.2f" % (
        statistics.median(latencies), latencies[int(len(latencies) * 0.9)], latencies[-1]))
    print("cycles_s %.2f" % total)
elif scenario == "pipelined":
    # START then KILL in one write: the daemon reads both before the monitor can report.
    for i in range(count):
        s1 = seq + 1
        start = json.dumps({"seq": s1, "command": "START", "args": [name]})
        kill = json.dumps({"seq": s1 + 1, "command": "KILL", "args": [name]})
        a.s.sendall((start + "\n" + kill + "\n").encode())
        seq += 2
        replies = {}
        for _ in range(2):
            r = a.reply()
            replies[r["seq"]] = r
        st, k = replies.get(s1), replies.get(s1 + 1)
        if st is None or k is None:
            problems.append("pipelined %d: missing reply: %s" % (i, json.dumps(replies)))
            continue
        count_it("START " + (st["answer"] if st["answer"] != "ERROR" else st["error"]))
        if st["answer"] == "ERROR":
            count_it("START message: " + st["message"].split(": ", 1)[-1][:60])
        if k["answer"] != "KILLED":
            problems.append("pipelined %d: KILL answered %s" % (i, outcome(k)))
        s = state(a)
        if s != "ready":
            problems.append("pipelined %d: state %s" % (i, s))
elif scenario == "concurrent":
    b = Conn()
    for i in range(count):
        ss = a.send("START", name)
        time.sleep(random.uniform(0, 0.004))
        ks = b.send("KILL", name)
        st, k = a.reply(), b.reply()
        if st.get("seq") != ss or k.get("seq") != ks:
            problems.append("concurrent %d: replies out of order" % i)
        count_it("START %s / KILL %s" % (st["answer"] if st["answer"] != "ERROR" else st["error"],
                                         k["answer"] if k["answer"] != "ERROR" else k["error"]))
        if st["answer"] == "ERROR":
            count_it("START message: " + st["message"].split(": ", 1)[-1][:60])
        if k["answer"] == "ERROR" and k["error"] != "ECHILD":
            problems.append("concurrent %d: KILL answered %s" % (i, outcome(k)))
        if k["answer"] == "ERROR" and st["answer"] == "STARTED":
            # KILL came first: the START went through; stop it for the next round.
            k2 = b.call("KILL", name)
            if k2["answer"] != "KILLED":
                problems.append("concurrent %d: second KILL answered %s" % (i, outcome(k2)))
        s = state(a)
        if s != "ready":
            problems.append("concurrent %d: state %s" % (i, s))
for key in sorted(tally):
    print("tally %d %s" % (tally[key], key))
for p in problems[:20]:
    print("problem " + p)
print("problems %d" % len(problems))
EOF
)

stress() { "$PYTHON" -c "$STRESS" "$FIRMWARED_SOCKET_PATH" "$I" "$@" 2>&1; }

# After each scenario: nothing stuck, nothing left.
after() {
  expect_eq "$1: no problem" "problems 0" "$(grep '^problems' <<<"$2")"
  grep '^problem ' <<<"$2" >&2 || true
  expect_eq "$1: state ready" ready "$(fw_inst_prop "$I" state)"
  fw_inst_expect_no_leftovers "$1"
  fw_inst_expect_settled "$1: mount count unchanged" "$MOUNTS0" fw_inst_mounts_below "$FW_TMP"
  expect_eq "$1: the instance's mounts, not stacked" 2 "$(fw_inst_workspace_mounts "$WS")"
  fw_inst_expect_fds "$1" "$FDS0"
}

echo "== 200 start/kill cycles"
OUT=$(stress cycles 200)
echo "$OUT" | grep -v '^problem' | sed 's/^/  /'
after "200 cycles" "$OUT"
MEDIAN=$(sed -n 's/^start_ms median \([0-9.]*\) .*/\1/p' <<<"$OUT")
echo "  median START latency over 200 cycles: $MEDIAN ms"

echo "== 50 KILLs pipelined behind their START"
OUT=$(stress pipelined 50)
echo "$OUT" | grep -v '^problem' | sed 's/^/  /'
after "pipelined" "$OUT"
# A START cut short by KILL says so (ECANCELED), not that the monitor died on its own.
expect_eq "pipelined: every interrupted START answers ECANCELED" "" \
  "$(grep '^tally .* START message: ' <<<"$OUT" | grep -v 'START interrupted by KILL$' || true)"

echo "== 50 START/KILL pairs on two connections"
OUT=$(stress concurrent 50)
echo "$OUT" | grep -v '^problem' | sed 's/^/  /'
after "concurrent" "$OUT"
expect_eq "concurrent: every interrupted START answers ECANCELED" "" \
  "$(grep '^tally .* START message: ' <<<"$OUT" | grep -v 'START interrupted by KILL$' || true)"

# The instance still works normally after all that.
run fwctl start "$I"
expect_eq "a normal START afterwards" "$I started" "$OUT"
check "and it boots" fw_inst_wait_for 10 grep -q "firmware booted" "$WS/console.log"
run fwctl kill "$I"
expect_eq "a normal KILL afterwards" "$I killed" "$OUT"
expect_eq "exit status 137" 137 "$(fw_inst_prop "$I" exit_status)"

# ---- 8 instances in parallel ----------------------------------------------------------------
echo "== 8 instances in parallel"
N=8
BG=()
mkdir -p "$FW_TMP/par"
t=$(now_ms)
for k in $(seq 1 $N); do
  "$FWCTL" prepare instances "$FW" >"$FW_TMP/par/prep.$k" 2>&1 &
  BG+=($!)
done
wait "${BG[@]}"  # not the daemon
BG=()
PREP_MS=$(($(now_ms) - t))
declare -a NAMES
for k in $(seq 1 $N); do
  NAMES+=("$(field name "$(cat "$FW_TMP/par/prep.$k")")")
done
expect_eq "8 prepared" $N "$(printf '%s\n' "${NAMES[@]}" | grep -c .)"
expect_eq "... all distinct" $N "$(printf '%s\n' "${NAMES[@]}" | sort -u | grep -c .)"
expect_eq "... ids 1..8 (0 is taken)" "1 2 3 4 5 6 7 8" \
  "$(for n in "${NAMES[@]}"; do fw_inst_prop "$n" id; done | sort -n | tr '\n' ' ' | sed 's/ $//')"

t=$(now_ms)
for k in $(seq 1 $N); do
  "$FWCTL" start "${NAMES[$((k - 1))]}" >"$FW_TMP/par/start.$k" 2>&1 &
  BG+=($!)
done
wait "${BG[@]}"  # not the daemon
BG=()
START_MS=$(($(now_ms) - t))
declare -a PIDS
for k in $(seq 1 $N); do
  n=${NAMES[$((k - 1))]}
  expect_eq "parallel start of $n" "$n started" "$(cat "$FW_TMP/par/start.$k")"
  expect_eq "$n started" started "$(fw_inst_prop "$n" state)"
  PIDS+=("$(fw_inst_prop "$n" init_pid)")
done
expect_eq "8 distinct init pids" $N \
  "$(printf '%s\n' "${PIDS[@]}" | grep -E '^[1-9][0-9]*$' | sort -u | wc -l)"
for k in $(seq 1 $N); do
  n=${NAMES[$((k - 1))]} p=${PIDS[$((k - 1))]}
  check "$n: PID 1 alive" kill -0 "$p"
  check "$n: booted" \
    fw_inst_wait_for 10 grep -q "firmware booted" "$(fw_inst_prop "$n" console_log)"
  expect_eq "$n: its own hostname" "$n" "$(fw_inst_exec "$p" hostname)"
done
expect_eq "8 monitors running" $N "$(fw_run_monitor_pids "firmwared-monitor .*--workspace $MNT/" | wc -l)"

t=$(now_ms)
for k in $(seq 1 $N); do
  "$FWCTL" kill "${NAMES[$((k - 1))]}" >"$FW_TMP/par/kill.$k" 2>&1 &
  BG+=($!)
done
wait "${BG[@]}"  # not the daemon
BG=()
KILL_MS=$(($(now_ms) - t))
for k in $(seq 1 $N); do
  n=${NAMES[$((k - 1))]}
  expect_eq "parallel kill of $n" "$n killed" "$(cat "$FW_TMP/par/kill.$k")"
  expect_eq "$n ready" ready "$(fw_inst_prop "$n" state)"
  expect_eq "$n exit 137" 137 "$(fw_inst_prop "$n" exit_status)"
done
fw_inst_expect_no_leftovers "8 in parallel"
echo "  8 instances, all in parallel: prepare ${PREP_MS} ms, start ${START_MS} ms," \
  "kill ${KILL_MS} ms"

for n in "${NAMES[@]}" "$I"; do
  run fwctl drop instances "$n"
  expect_eq "drop $n" "$n dropped" "$OUT"
done
fwctl drop firmwares "$FW" >/dev/null
fw_inst_expect_settled "no mount left below the mount path" 0 fw_inst_mounts_below "$MNT"
expect_eq "no workspace left" "" "$(ls -A "$MNT/instances")"
fw_inst_expect_fds "end" "$FDS0"
stop_daemon
assert_no_leaks
fw_inst_expect_no_leftovers "after the daemon stopped"
