#!/usr/bin/env bash
# run.sh -- what `make fuzz` runs once the targets are built:
#   run.sh BUILD_FUZZ_DIR TARGET...
# 1. replays every input in tests/fuzz/regress/TARGET/ (a crash found before);
# 2. fuzzes each target for FUZZ_SECONDS (FUZZ_JOBS targets at a time), from
#    its working corpus BUILD_FUZZ_DIR/corpus/TARGET and its seeds in
#    tests/fuzz/corpus/TARGET; after a crash the target is started again for
#    the time left, so that one bug does not hide the others;
# 3. copies each crash whose kind is new into tests/fuzz/regress/TARGET/
#    (the input, and NAME.txt with its kind and trace), and prints one row a
#    target: executions, coverage (libFuzzer's cov and ft), crashes.
# Fails if a regression input still crashes or a crash was found.
# Logs: BUILD_FUZZ_DIR/logs/.
#
#   run.sh BUILD_FUZZ_DIR --add TARGET FILE
# files FILE (a crash found by a longer run by hand, say) as a regression
# input of TARGET, as make fuzz does with what it finds.
set -u

dir=$1
shift
add=
if [ "${1:-}" = --add ]; then
    add=$3
    set -- "$2"
fi
targets=("$@")
secs=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}
t_start=$(date +%s)
logs=$dir/logs
[ -z "$add" ] && rm -rf "$logs" "$dir/artifacts"
mkdir -p "$logs"

# scratch space of the targets, removed at the end (a crashed target
# cannot remove its own)
base=/tmp
[ -w /dev/shm ] && base=/dev/shm
export FUZZ_TMPDIR=$base/tend-fuzz-run-$$
mkdir -p "$FUZZ_TMPDIR"
trap 'rm -rf "$FUZZ_TMPDIR"' EXIT

# libFuzzer's own flags for every run: the target's chatter (tend's log,
# the procs' output) to /dev/null, the oracles' messages and the sanitizer
# reports kept (they go to libFuzzer's copy of stderr)
common=(-close_fd_mask=3 -timeout=30 -rss_limit_mb=3072)
# CI's run repeats itself: a fixed seed (FUZZ_SEED) and at most FUZZ_RUNS
# inputs a target, so a green tree stays green; by hand, leave them unset
[ -n "${FUZZ_SEED:-}" ] && common+=(-seed="$FUZZ_SEED")
[ -n "${FUZZ_RUNS:-}" ] && common+=(-runs="$FUZZ_RUNS")

# The kind of a crash from its log: the oracle's class, or the sanitizer's
# error and the first frame in tend's sources.
signature() {
    local log=$1 s
    s=$(grep -a -m1 -o 'fuzz-oracle: [a-z0-9-]*' "$log" | sed 's/fuzz-oracle: /oracle-/')
    if [ -z "$s" ]; then
        local kind frame
        kind=$(grep -a -m1 -o -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error|ERROR: libFuzzer: [a-z -]+' "$log" |
            sed -E 's/ERROR: //; s/AddressSanitizer: /asan-/; s/LeakSanitizer: detected/leak/;
                    s/libFuzzer: deadly/signal/; s/libFuzzer: /libfuzzer-/; s/runtime error/ubsan/; s/ /-/g')
        frame=$(grep -a -E '^ *#[0-9]+ 0x[0-9a-f]+ in [A-Za-z_][A-Za-z0-9_]* .*/(src|tests/fuzz)/' "$log" |
            grep -a -v -E ' in (fuzz_fail|__sanitizer|LLVMFuzzer|x[a-z]*alloc|xstrn?dup|xasprintf) ' |
            head -n 1 |
            sed -E 's/.* in ([A-Za-z_][A-Za-z0-9_]*) .*/\1/')
        [ -n "$kind" ] || kind=crash
        s="$kind${frame:+-$frame}"
    fi
    printf '%s\n' "$s"
}

# File the crash `input` of target t (its log: `log`) in tests/fuzz/regress/t/
# unless a crash of its kind is there already; says which.
file_crash() {
    local t=$1 input=$2 log=$3 sig known name
    sig=$(signature "$log")
    known=$(grep -l -x "kind: $sig" tests/fuzz/regress/"$t"/*.txt 2>/dev/null | head -n 1)
    if [ -n "$known" ]; then
        echo "$sig: known, as ${known%.txt}"
        return
    fi
    mkdir -p "tests/fuzz/regress/$t"
    name=$sig-$(sha1sum "$input" | cut -c1-12)
    cp "$input" "tests/fuzz/regress/$t/$name"
    {
        echo "kind: $sig"
        echo "found: $(date -u +%Y-%m-%d)"
        echo "replay: make fuzz-build && build/fuzz/fuzz-$t tests/fuzz/regress/$t/$name"
        echo
        # an oracle's message says it all (its stack is the harness's);
        # a sanitizer's report is kept whole
        grep -a -v -E '^(INFO|#[0-9]+[[:space:]]|[[:space:]]+NEW_FUNC|MS: |0x|\\|Base64|stat::|artifact_prefix|Running:|Executed|\*\*\*)' "$log" |
            sed -n '/fuzz-oracle:\|ERROR: \|runtime error/,$p' |
            awk '/^fuzz-oracle:/ { o = 1 } o && /ERROR: libFuzzer: deadly signal/ { exit } { print }' |
            head -n 60
    } >"tests/fuzz/regress/$t/$name.txt"
    echo "$sig: new, tests/fuzz/regress/$t/$name"
}

if [ -n "$add" ]; then
    t=${targets[0]}
    log=$logs/add-$t.log
    if "$dir/fuzz-$t" "${common[@]}" "$add" >"$log" 2>&1; then
        echo "$add does not crash fuzz-$t"
        exit 1
    fi
    file_crash "$t" "$add" "$log"
    exit 0
fi

# ---- 1. regressions ----
declare -A reg_total reg_fail
fail=0
any_reg=0
for t in "${targets[@]}"; do
    reg_total[$t]=0
    reg_fail[$t]=0
    for f in tests/fuzz/regress/"$t"/*; do
        [ -f "$f" ] || continue
        case $f in *.txt | */README*) continue ;; esac
        any_reg=1
        reg_total[$t]=$((reg_total[$t] + 1))
        log=$logs/regress-$t-$(basename "$f").log
        if ! "$dir/fuzz-$t" "${common[@]}" "$f" >"$log" 2>&1; then
            reg_fail[$t]=$((reg_fail[$t] + 1))
            fail=1
            echo "== fuzz: regression $f still crashes ($(signature "$log")); log: $log"
            grep -a -m1 -A3 -E 'fuzz-oracle:|ERROR: |runtime error' "$log" | sed 's/^/     /'
        fi
    done
done
[ $any_reg = 1 ] && for t in "${targets[@]}"; do
    [ "${reg_total[$t]}" -gt 0 ] &&
        echo "== fuzz: $t: ${reg_total[$t]} regression inputs replayed, ${reg_fail[$t]} still crash"
done

# ---- 2. fuzzing ----
fuzz_target() {
    local t=$1 corpus=$dir/corpus/$1 arts=$dir/artifacts/$1 left=$secs run=0
    local dict=() seeds=()
    mkdir -p "$corpus" "$arts"
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
    : >"$logs/fuzz-$t.runs"
    while [ "$left" -ge 2 ] && [ $run -lt 10 ]; do
        run=$((run + 1))
        local t0 log=$logs/fuzz-$t.$run.log rc
        t0=$(date +%s)
        "$dir/fuzz-$t" "${common[@]}" -max_total_time="$left" -print_final_stats=1 \
            -artifact_prefix="$arts/" "${dict[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
        rc=$?
        echo "$log $rc" >>"$logs/fuzz-$t.runs"
        [ $rc = 0 ] && break
        # the crash's input out of the working corpus (libFuzzer names both
        # by the input's SHA-1), or it would come back at the next start; a
        # seed that crashes comes back anyway: no retry then
        local art sha
        art=$(grep -a -o -E "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //')
        sha=${art##*-}
        if [ -n "$art" ] && [ -f "$corpus/$sha" ]; then
            rm -f "$corpus/$sha"
        elif ! grep -a -q 'INITED' "$log"; then
            break
        fi
        left=$((left - ($(date +%s) - t0)))
    done
}

echo "== fuzz: ${targets[*]}: ${secs} s each, $jobs at a time (logs: $logs)"
running=0
for t in "${targets[@]}"; do
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_target "$t" &
    running=$((running + 1))
done
wait

# ---- 3. the table, and the crashes ----
printf '%-8s %10s %7s %7s %7s  %s\n' target execs cov ft corpus crashes
crashes_total=0
for t in "${targets[@]}"; do
    execs=0 cov=- ft=- corp=- ncrash=0 kinds=()
    declare -A seen=()
    while read -r log rc; do
        n=$(grep -a -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
        execs=$((execs + ${n:-0}))
        last=$(grep -a -E '^#[0-9]+[[:space:]].*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
        if [ -n "$last" ]; then
            cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$last")
            ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$last")
            corp=$(sed -E 's/.*corp: ([0-9]+).*/\1/' <<<"$last")
        fi
        [ "$rc" = 0 ] && continue
        art=$(grep -a -o -E "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //')
        ncrash=$((ncrash + 1))
        crashes_total=$((crashes_total + 1))
        fail=1
        sig=$(signature "$log")
        if [ -n "${seen[$sig]:-}" ]; then
            seen[$sig]=$((seen[$sig] + 1))
            continue
        fi
        seen[$sig]=1
        if [ -n "$art" ] && [ -f "$art" ]; then
            kinds+=("$(file_crash "$t" "$art" "$log") (log: $log)")
        else
            kinds+=("$sig: no input saved (log: $log)")
        fi
    done <"$logs/fuzz-$t.runs"
    printf '%-8s %10s %7s %7s %7s  %s\n' "$t" "$execs" "$cov" "$ft" "$corp" "$ncrash"
    for k in "${kinds[@]}"; do
        echo "           crash (x${seen[${k%%:*}]}): $k"
    done
    unset seen
done

for t in "${targets[@]}"; do
    [ "$t" = decl ] && echo "(decl's cov and ft count its generator's and oracle's branches too: they steer it)"
done
t_end=$(date +%s)
if [ $fail = 0 ]; then
    echo "== fuzz: no crash, no leak, no broken promise ($((t_end - t_start)) s)"
else
    echo "== fuzz: FAILED: $crashes_total crashes while fuzzing; regression inputs that still crash above ($((t_end - t_start)) s)"
fi
exit $fail
