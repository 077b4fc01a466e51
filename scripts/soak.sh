#!/bin/sh
# soak.sh -- run tend under load for a while and see that it stays flat.
#
#   sh scripts/soak.sh TEND OUTDIR
#
# Starts TEND with a policy of its own (OUTDIR/policy.lua) whose procs churn
# (exit at once, restarted ~20 times a second each), talk (lines as fast as
# a shell loop writes them, to tend's stdout and to a rotated output file),
# and get added, changed and removed by a reload every SOAK_RELOAD seconds;
# a Lua hook runs on every transition and a task calls tend.exec.  Every
# second it asks `tend status --json` and samples tend's RSS, open fds, CPU
# time and the procs' restart count into OUTDIR/soak.csv (tend's own log
# goes to OUTDIR/tend.err, its stdout to a pipe that is only counted); at the end it
# plots them (OUTDIR/soak.png, if gnuplot is there) and gives a verdict:
# the last minute against the first (a third of the run each, for runs
# under three minutes): the largest RSS, and the lowest and highest fd
# count.  Exits 1 if one grew past its bound, if tend died or stopped
# answering, or if nothing churned; 0 otherwise.
#
# SOAK_SECONDS  length of the run (default 600)
# SOAK_RELOAD   seconds between reloads (default 5)
# SOAK_CHURN    how many procs churn (default 4)
# SOAK_RSS_SLACK_KB  RSS growth allowed: this many KiB or 10 %, the larger
#                    (default 1024)
# SOAK_FD_SLACK      growth allowed of the fewest fds tend held (default 2);
#                    the most may grow by 3 a churning proc more
set -eu

tend=$1
out=$2
seconds=${SOAK_SECONDS:-600}
reload_every=${SOAK_RELOAD:-5}
churn=${SOAK_CHURN:-4}
rss_slack=${SOAK_RSS_SLACK_KB:-1024}
fd_slack=${SOAK_FD_SLACK:-2}

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
sock=$out/tend.sock
csv=$out/soak.csv
tick=$(getconf CLK_TCK)
echo 0 > "$out/gen"

# The policy: read again at every reload, with the generation the driver
# wrote into ./gen.  "gen" changes with every generation (so it is
# restarted), "odd" exists in odd generations only (added, then removed).
cat > "$out/policy.lua" <<EOF
local f = assert(io.open("gen"))
local gen = tonumber(f:read("l"))
f:close()

local fast = { initial = 0.05, factor = 1, max = 0.05, jitter = 0 }
for i = 1, $churn do
  tend.proc {
    name = "churn" .. i,
    cmd = { "sh", "-c", "echo up \$TEND_INCARNATION; exit \$((TEND_INCARNATION % 2))" },
    restart = "always", backoff = fast, give_up = false,
  }
end

tend.proc {
  name = "chatty",
  cmd = { "sh", "-c", "while :; do i=0; while [ \$i -lt 200 ]; do echo \"line \$i of a chatty proc\"; i=\$((i+1)); done; sleep 0.02; done" },
}
tend.proc {
  name = "chatty-file",
  cmd = { "sh", "-c", "while :; do i=0; while [ \$i -lt 200 ]; do echo \"line \$i into a rotated file\"; i=\$((i+1)); done; sleep 0.02; done" },
  output = { path = "chatty.log", max_size = 262144, keep = 2 },
}
tend.proc { name = "gen", cmd = { "sleep", "3600" }, env = { GEN = tostring(gen) } }
if gen % 2 == 1 then
  tend.proc { name = "odd", cmd = { "sleep", "3600" } }
end

-- Lua on every transition, and a task that runs commands
local seen = {}
tend.on("*", function(proc, status)
  seen[proc.name] = status.state
end)
tend.task(function()
  while true do
    tend.exec({ "true" }, { timeout = 2 })
    tend.sleep(0.5)
  end
end)
EOF

TEND_SOCKET=$sock
export TEND_SOCKET
# tend's stdout (the procs' lines) into a pipe that a reader only counts,
# so that a long run fills no disk
mkfifo "$out/stdout.fifo"
wc -c < "$out/stdout.fifo" > "$out/stdout.bytes" &
# tend's stderr through a reader that says when the first line came: tend
# takes its socket before it starts a proc, and a churning proc's exit
# with code 1 is the first warning it logs, so tend answers from then on
mkfifo "$out/stderr.fifo" "$out/up.fifo"
{
    IFS= read -r line && printf '%s\n' "$line"
    echo up > "$out/up.fifo"
    cat
} < "$out/stderr.fifo" > "$out/tend.err" &
"$tend" run "$out/policy.lua" --stay --quiet > "$out/stdout.fifo" 2> "$out/stderr.fifo" &
pid=$!

stop_tend() {
    if kill -0 "$pid" 2>/dev/null; then
        "$tend" shutdown > /dev/null 2>&1 || kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
trap stop_tend EXIT INT TERM

read -r _ < "$out/up.fifo"
if ! "$tend" status > /dev/null 2>&1; then
    echo "soak: tend did not come up (see $out/tend.err)" >&2
    exit 1
fi

# rss_kb fds cpu_ticks of tend, from /proc
sample_tend() {
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    # utime + stime: fields 14 and 15, counted after the ")" of the name
    ticks=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')
}

echo "t,rss_kb,fds,cpu_s,cpu_pct,restarts,status_ms,reloads" > "$csv"
echo "soak: tend pid $pid, $seconds s, $churn churning procs, a reload every $reload_every s; samples in $csv"
start=$(date +%s)
sample_tend
prev_ticks=$ticks
prev_ms=$(($(date +%s%N) / 1000000))
reloads=0
last_reload=0
status_fail=0
t=0
while [ "$t" -lt "$seconds" ]; do
    next=$(($(date +%s%N) / 1000000 + 1000))
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "soak: tend died after $t s (see $out/tend.err)" >&2
        exit 1
    fi
    if [ $((t - last_reload)) -ge "$reload_every" ]; then
        last_reload=$t
        echo $((reloads + 1)) > "$out/gen"
        if "$tend" reload > /dev/null 2>> "$out/client.err"; then
            reloads=$((reloads + 1))
        else
            echo "soak: reload failed at $t s" >&2
        fi
    fi
    q0=$(date +%s%N)
    if "$tend" status --json > "$out/status.json" 2>> "$out/client.err"; then
        q1=$(date +%s%N)
        status_ms=$(((q1 - q0) / 1000000))
        restarts=$(grep -o '"restarts": *[0-9]*' "$out/status.json" |
                   awk -F: '{ n += $2 } END { print n + 0 }')
    else
        status_ms=-1
        restarts=-1
        status_fail=$((status_fail + 1))
    fi
    "$tend" status > /dev/null 2>> "$out/client.err" || status_fail=$((status_fail + 1))
    sample_tend
    now_ms=$(($(date +%s%N) / 1000000))
    cpu=$(awk -v t="$ticks" -v t0="$prev_ticks" -v hz="$tick" -v ms=$((now_ms - prev_ms)) \
              'BEGIN { printf "%.2f,%.1f", t / hz, (ms > 0 ? 100 * (t - t0) / hz / (ms / 1000) : 0) }')
    prev_ticks=$ticks
    prev_ms=$now_ms
    echo "$t,$rss,$fds,$cpu,$restarts,$status_ms,$reloads" >> "$csv"
    # the sampling interval: one sample a second, whatever the queries took
    now=$(($(date +%s%N) / 1000000))
    [ "$now" -lt "$next" ] && sleep "$(awk -v ms=$((next - now)) 'BEGIN { printf "%.3f", ms / 1000 }')"
    t=$(($(date +%s) - start))
done

stop_tend
trap - EXIT INT TERM
wait  # the readers of tend's stdout and stderr

# the plot
if command -v gnuplot > /dev/null 2>&1; then
    fdtop=$(awk -F, 'NR > 1 && $3 > m { m = $3 } END { print int(m * 1.25) + 1 }' "$csv")
    gnuplot <<EOF
set terminal png size 1000,900 font ",10"
set output "$out/soak.png"
set datafile separator ","
set key bottom right opaque
set multiplot layout 3,1 title "tend soak: $seconds s, $churn churning procs, a reload every $reload_every s"
set xlabel "seconds"
set ylabel "RSS (KiB)"
set y2label "open fds"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:$fdtop]
plot "$csv" using 1:2 with lines lw 2 title "RSS (KiB)", \
     "" using 1:3 axes x1y2 with steps title "fds"
unset y2label
unset y2tics
set ylabel "CPU %"
plot "$csv" using 1:5 with lines notitle
set ylabel "restarts (total)"
set y2label "status ms"
set y2tics
set y2range [0:*]
plot "$csv" using 1:6 with lines lw 2 title "restarts", \
     "" using 1:7 axes x1y2 with impulses title "status (ms)"
unset multiplot
EOF
    echo "soak: plot in $out/soak.png"
else
    echo "soak: gnuplot is not installed, no plot (apt-get install gnuplot-nox); the samples are in $csv" >&2
fi

# the verdict: first window against last window
awk -F, -v secs="$seconds" -v rss_slack="$rss_slack" -v fd_slack="$fd_slack" -v churn="$churn" \
    -v status_fail="$status_fail" -v out_bytes="$(cat "$out/stdout.bytes")" '
NR == 1 { next }
{ t[NR] = $1; rss[NR] = $2; fds[NR] = $3; cpu[NR] = $4; rs[NR] = $6; ms[NR] = $7; rl = $8; n = NR }
END {
    w = secs >= 180 ? 60 : int(secs / 3)
    if (w < 1) w = 1
    last = t[n]
    for (i = 2; i <= n; i++) {
        if (t[i] < w) {
            if (rss[i] > r0) r0 = rss[i]
            if (fds[i] > f0) f0 = fds[i]
            if (lo0 == "" || fds[i] < lo0) lo0 = fds[i]
        }
        if (t[i] > last - w) {
            if (rss[i] > r1) r1 = rss[i]
            if (fds[i] > f1) f1 = fds[i]
            if (lo1 == "" || fds[i] < lo1) lo1 = fds[i]
        }
        if (ms[i] > msmax) msmax = ms[i]
    }
    rbound = r0 * 0.10 > rss_slack ? r0 * 0.10 : rss_slack
    printf "soak: %d s, %d samples, %d restarts, %d reloads, CPU %.1f%% on average, status at worst %d ms\n",
        last, n - 1, rs[n], rl, 100 * cpu[n] / (last > 0 ? last : 1), msmax
    printf "soak: %.1f MB of output through the stdout of tend, %.0f KB/s\n",
        out_bytes / 1e6, out_bytes / 1e3 / (last > 0 ? last : 1)
    printf "soak: RSS max %d KiB in the first %d s, %d KiB in the last %d s (bound +%d KiB)\n",
        r0, w, r1, w, rbound
    # a sample may catch a churning proc between its spawn and its reap
    # (its two pipes, its exec pipe): the floor is what must not move, the
    # peak may differ by what the churning procs hold at most
    fpeak = 3 * churn + fd_slack
    printf "soak: fds %d to %d in the first %d s, %d to %d in the last %d s (bounds: floor +%d, peak +%d)\n",
        lo0, f0, w, lo1, f1, w, fd_slack, fpeak
    bad = 0
    if (r1 > r0 + rbound) { print "soak: FAIL: RSS grew"; bad = 1 }
    if (lo1 > lo0 + fd_slack || f1 > f0 + fpeak) { print "soak: FAIL: fds grew"; bad = 1 }
    if (status_fail > 0) { print "soak: FAIL: " status_fail " status queries failed"; bad = 1 }
    if (rs[n] < 10) { print "soak: FAIL: the procs did not churn"; bad = 1 }
    if (!bad) print "soak: flat: RSS and fds held"
    exit bad
}' "$csv"
