#!/usr/bin/env bash
# THE one command for a session that has a GPU machine. Here first:  scripts/gpu/prepare.sh
# then one device call:  run(command="bash scripts/gpu/run_all.sh", carry=["target/gpu"], timeout_s=600)
# target/gpu/kit.tar.xz holds a Java 25 runtime, the compiled classes with the fatbin, the test classes, the jars
# and a prebuilt kernel-check binary; the working tree (native/, scripts/, model fixtures) travels by itself.
#
# Stages, each with its own time limit so the whole run ends inside the 10-minute call (a stage cut short or skipped
# says so in RESULTS-GPU.md: run it again alone, e.g. `bash scripts/gpu/run_all.sh bench`). By default env runs
# first, then the four checks (java, native, sanitize, torch) at once, then e2e, profile and bench alone, as they
# time things:
#   env       GPU, driver and toolkit versions; where libcudart.so.13 and libcublas.so.13 are (-> LD_LIBRARY_PATH)
#   java      every test of io.sac4j.forward.cuda, and io.sac4j.cli.CudaCliTest, with the JUnit console launcher:
#             the @Tag("gpu") ones compare each op, whole forward passes (full sizes) and the CLI's generate,
#             compress and ask (tokens) with the CPU backend
#   native    native/test/check_kernels.cu (every kernel vs a double-precision C++ reference), prebuilt (nvcc here
#             only when the prebuilt one cannot run on this GPU)
#   sanitize  compute-sanitizer memcheck (+ leak check) and racecheck on the kernel checks, memcheck on the Java
#             kernel tests (small sizes)
#   torch     scripts/gpu/torch_ref.py check: attention vs SDPA / FlexAttention, gather vs torch.index_select
#   e2e       the product against the PyTorch reference pipeline on this GPU, both on one random Llama-3.2-1B-shaped
#             BF16 model written here by `sac synth`: SAC compress tokens/s and ask latency (first answer token,
#             context full or compressed at 5x/15x/51x) at n = 2048 and 8192, and prefill/decode tokens/s
#             (scripts/bench/SacBench.java --device cuda vs scripts/bench/torch_bench.py --device cuda, which first
#             checks its GPU code against scripts/reference/ref_sac.py on a tiny model)
#   profile   where sac4j's device time goes in e2e's SAC work (sac.cuda.profile=true: every op synchronised and
#             timed), and cuBLAS through PyTorch at the same matrix shapes
#   bench     scripts/gpu/torch_ref.py bench: attention TFLOP/s at 4k/16k/64k vs FlexAttention and SDPA,
#             gather GB/s vs a device-to-device copy
# Everything goes to $OUT (at most 8 files come back): RESULTS-GPU.md (stages and tables: it goes below the
# summary of benchmarks/RESULTS-GPU.md, which is rewritten from it), run_all.log, java.log, native.log, sanitizer.log, torch_ref.log, torch_ref.json,
# e2e.jsonl.
# Usage: bash scripts/gpu/run_all.sh [stage...]      (default: all stages as above; named ones run one at a time)
set -uo pipefail
SELF=$(readlink -f "$0")
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/target/gpu-out}
WORK=/tmp/sac4j-run   # intermediate files: only 8 files under $OUT come back
mkdir -p "$OUT" "$WORK"
[[ ${1:-} != --inner ]] && rm -f "$WORK"/*
INNER=
if [[ ${1:-} == --inner ]]; then INNER=$2; shift 2; fi   # one stage in a child process, so `timeout` can stop it
[[ -z $INNER ]] && exec > >(tee -a "$OUT/run_all.log") 2>&1
T0=$(date +%s)
BUDGET=${SAC_GPU_BUDGET:-570}   # seconds for the whole run
STAGES=("$@")
declare -A STATUS SECONDS_TAKEN

left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
# Each stage's time limit (seconds); a stage never gets more than the run has left.
declare -A LIMIT=([env]=30 [java]=200 [native]=120 [sanitize]=150 [torch]=150 [e2e]=150 [profile]=90 [bench]=200)
# run_stages NAME...: stage_NAME for each name at once, each in a child with min(its LIMIT, time left) seconds;
# records each outcome. Only correctness stages share the machine this way: timings would suffer.
run_stages() {
  local name limit l t
  local -a started=() pids=()
  for name; do
    limit=${LIMIT[$name]}; l=$(left)
    (( l < limit )) && limit=$l
    if (( limit < 15 )); then STATUS[$name]="skipped (no time left)"; continue; fi
    echo; echo "===== $name (limit ${limit}s${2:+; alongside: $*}) ====="
    t=$(date +%s)
    # alone, its output streams to run_all.log as it comes; alongside others, it is appended once done
    if (( $# == 1 )); then
      ( timeout --kill-after=10 "$limit" bash "$SELF" --inner "$name"; echo "$? $(( $(date +%s) - t )) $limit" > "$WORK/$name.rc" )
    else
      ( timeout --kill-after=10 "$limit" bash "$SELF" --inner "$name" > "$WORK/$name.out" 2>&1
        echo "$? $(( $(date +%s) - t )) $limit" > "$WORK/$name.rc" ) &
      pids+=($!)
    fi
    started+=("$name")
  done
  (( ${#pids[@]} )) && wait "${pids[@]}"   # not a bare wait: that would wait for the tee of run_all.log too
  local rc secs
  for name in "${started[@]}"; do
    if (( $# > 1 )); then echo; echo "----- output of $name"; cat "$WORK/$name.out"; fi
    read -r rc secs limit < "$WORK/$name.rc"
    SECONDS_TAKEN[$name]=$secs
    case $rc in
      0) STATUS[$name]="ok" ;;
      124|137) STATUS[$name]="TIMED OUT after ${limit}s" ;;
      *) STATUS[$name]="FAILED (exit $rc)" ;;
    esac
    echo "===== $name: ${STATUS[$name]} in ${secs}s"
  done
  write_results
}

write_results() {
  {
    echo "# CUDA backend on a GPU: results"
    echo
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) by \`bash scripts/gpu/run_all.sh\` (prepared with \`scripts/gpu/prepare.sh\`)."
    echo
    echo '```'
    cat "$WORK/env.txt" 2>/dev/null
    echo '```'
    echo
    echo "| stage | result | seconds |"
    echo "|---|---|---|"
    for s in env java native sanitize torch e2e profile bench; do
      [[ -n ${STATUS[$s]:-} ]] && echo "| $s | ${STATUS[$s]} | ${SECONDS_TAKEN[$s]:-} |"
    done
    echo
    if [[ -f $OUT/java.log ]]; then
      echo "## Java tests (JUnit console: package io.sac4j.forward.cuda and io.sac4j.cli.CudaCliTest)"
      echo '```'
      grep -E "tests (successful|failed|aborted|skipped|found)|containers failed|MethodSource|=> " "$OUT/java.log" | head -60
      # --details flat names each test as it starts: the last one started is the one a timeout cut short
      [[ ${STATUS[java]:-} == TIMED* ]] && grep '^Started:' "$OUT/java.log" | tail -1 | sed 's/^/running when stopped: /'
      echo '```'
    fi
    if [[ -f $OUT/native.log ]]; then
      echo "## Kernel checks (native/test/check_kernels.cu, full sizes)"
      echo '```'
      grep -E "^FAIL|kernel cases passed" "$OUT/native.log" | head -40
      echo '```'
    fi
    if [[ -f $OUT/sanitizer.log ]]; then
      echo "## compute-sanitizer"
      echo '```'
      grep -E "^#### |ERROR SUMMARY|LEAK SUMMARY|Invalid|Race|leaked" "$OUT/sanitizer.log" | head -40
      echo '```'
    fi
    if [[ -f $WORK/torch_ref.md ]]; then
      echo "## Against PyTorch; benchmarks"
      cat "$WORK/torch_ref.md"
    fi
    if [[ -f $WORK/e2e.md ]]; then
      echo
      cat "$WORK/e2e.md"
    fi
    [[ -f $WORK/profile.md ]] && { echo; cat "$WORK/profile.md"; }
  } > "$OUT/RESULTS-GPU.md"
}

stage_env() {
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm --format=csv 2>&1
    nvcc --version 2>&1 | tail -2
    echo "python3: $(python3 --version 2>&1); torch $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1)"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  } | tee "$WORK/env.txt"
}

# The kit: jre/, target/classes (+ fatbin), target/test-classes, target/gpu-lib, target/gpu-bin, target/gpu-bench
unpack() {
  [[ -x jre/bin/java && -d target/gpu-lib && -d target/gpu-bench ]] && return 0
  [[ -f target/gpu/kit.tar.xz ]] || { echo "target/gpu/kit.tar.xz is missing: run scripts/gpu/prepare.sh and carry target/gpu" >&2; return 1; }
  if command -v xz >/dev/null; then tar -xJf target/gpu/kit.tar.xz
  else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(".", filter="tar")' target/gpu/kit.tar.xz; fi
}

# The CUDA 13 runtime and cuBLAS for JavaCPP: the toolkit's, else the ones PyTorch's wheels bring.
find_lib() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64; do
    [[ -e $d/$1 ]] && { echo "$d"; return; }
  done
  d=$(python3 - "$1" <<'PY'
import glob, os, site, sys
for root in site.getsitepackages():
    hits = glob.glob(os.path.join(root, "nvidia", "**", sys.argv[1]), recursive=True)
    if hits:
        print(os.path.dirname(hits[0]))
        break
PY
)
  [[ -n $d ]] && { echo "$d"; return; }
  find /opt /usr -name "$1" 2>/dev/null | head -1 | xargs -r dirname
}

if [[ -z $INNER ]]; then
  unpack || exit 1
  for lib in libcudart.so.13 libcublas.so.13; do
    d=$(find_lib $lib)
    if [[ -n $d ]]; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; else echo "note: $lib not found"; fi
  done
fi
JAVA=$ROOT/jre/bin/java
CONSOLE=$(ls target/gpu-lib/junit-platform-console-standalone-*.jar)
CP="target/test-classes:target/classes:target/gpu-bench:$(ls target/gpu-lib/*.jar | grep -v console-standalone | paste -sd:)"
JVM=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx48g -Dsac.gpu.required=true)
RUNNER=(-jar "$CONSOLE" execute --class-path "$CP" --disable-banner --disable-ansi-colors)
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
CHECK=target/gpu-bin/check_kernels_gpu

stage_java() {
  "$JAVA" "${JVM[@]}" "${RUNNER[@]}" --details flat --select-package io.sac4j.forward.cuda \
    --select-class io.sac4j.cli.CudaCliTest 2>&1 | tee "$OUT/java.log"
  return "${PIPESTATUS[0]}"
}

# The prebuilt checks (sm_80 and sm_90 code) save the minute nvcc takes here; this GPU builds its own only when
# they cannot run on it (another architecture).
stage_native() {
  {
    if ! "$CHECK" --quick add >/dev/null 2>&1; then   # a dozen small cases: does it run here at all?
      echo "the prebuilt $CHECK does not run on this GPU (sm_$ARCH): building the checks here"
      rm -rf /tmp/sac4j-cb
      cmake -S cmake -B /tmp/sac4j-cb -DSAC_FATBIN=/tmp/sac4j-cb/unused.fatbin -DSAC_CHECK_ARCH="${ARCH:-90}" >/dev/null \
        && cmake --build /tmp/sac4j-cb --target check_kernels_gpu && CHECK=/tmp/sac4j-cb/check_kernels_gpu
    fi
    "$CHECK"
  } 2>&1 | tee "$OUT/native.log"
  return "${PIPESTATUS[0]}"
}

stage_torch() { python3 scripts/gpu/torch_ref.py check --json "$WORK/torch_check.json" --md "$WORK/torch_ref.md" 2>&1 | tee "$OUT/torch_ref.log"; return "${PIPESTATUS[0]}"; }

stage_sanitize() {
  local rc=0 bin=$CHECK
  [[ -x /tmp/sac4j-cb/check_kernels_gpu ]] && bin=/tmp/sac4j-cb/check_kernels_gpu
  {
    echo "#### memcheck + leak check: kernel checks (quick sizes)"
    compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 "$bin" --quick || rc=1
    echo "#### racecheck: kernel checks (quick sizes)"
    compute-sanitizer --tool racecheck --error-exitcode 3 "$bin" --quick || rc=1
    echo "#### memcheck + leak check: Java CudaKernelsTest (small sizes)"
    compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 \
      "$JAVA" "${JVM[@]}" -Dsac.gpu.small=true "${RUNNER[@]}" --details summary \
      --select-class io.sac4j.forward.cuda.CudaKernelsTest || rc=1
  } > >(tee "$OUT/sanitizer.log") 2>&1   # not a pipe: rc must survive the group
  return $rc
}

# One engine's JSON line (stdin) into $OUT/e2e.jsonl, with peers_table.py's label and file; a failure is a line too.
e2e_record() { # e2e_record LABEL FILE WORK: stdin = the engine's output
  python3 -c 'import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.startswith("{")]
d = json.loads(lines[-1]) if lines else {"failed": True}
d.update(label=sys.argv[1], file=sys.argv[2]); d.setdefault("work", sys.argv[3])
print(json.dumps(d))' "$@" >> "$OUT/e2e.jsonl"
}

# The random models of the e2e and profile stages (`sac synth`), written once per machine: synth_once DIR SHAPE DTYPE
E2E=/tmp/sac4j-e2e
synth_once() { [[ -d $1 ]] || "$JAVA" "${JVM[@]}" -cp "$CP" io.sac4j.cli.Main synth --shape "$2" --dtype "$3" -o "$1" --quiet; }

# SAC_E2E_DRY=1 shrinks it to a dry run of the plumbing on a machine without a GPU: the tiny shape, one rep, torch
# on the CPU, sac4j on the fake libcuda of scripts/gpu/emu_check.sh (put its folder on LD_LIBRARY_PATH).
stage_e2e() {
  local shape=llama-3.2-1b sizes="2048 8192" tdev=cuda reps=3 fwd=(--prompt 512 --decode 64 --greedy 8)
  [[ ${SAC_E2E_DRY:-} == 1 ]] && { shape=tiny sizes=600 tdev=cpu reps=1 fwd=(--prompt 32 --decode 4 --greedy 2); }
  local att=sdpa n
  local m=$E2E/$shape-bf16 tiny=$E2E/tiny-f32
  [[ $tdev == cpu ]] && att=manual
  mkdir -p "$E2E"; rm -f "$OUT/e2e.jsonl" "$WORK"/e2e*.md
  for spec in "$tiny tiny f32" "$m $shape bf16"; do
    set -- $spec
    synth_once "$@" || return 1
  done
  local bench=("$JAVA" "${JVM[@]}" -cp "$CP" SacBench "$m" --device cuda --reps $reps)
  local bench16=("$JAVA" "${JVM[@]}" -Dsac.cuda.kv=bf16 -cp "$CP" SacBench "$m" --device cuda --reps $reps)
  # The peer's own GPU code (f32) against the float64 reference first; SDPA when this torch has it, else explicit.
  local check=(python3 scripts/bench/torch_bench.py "$tiny" --device "$tdev" --check --sac-context 600 --reps 1 --ask-ratios 1,15)
  if ! "${check[@]}" --attention $att; then
    [[ $att == manual ]] && return 1
    echo "SDPA failed in this torch: the peer uses the explicit softmax(QK^T)V"
    att=manual
    "${check[@]}" --attention manual || return 1
  fi
  local torch=(python3 scripts/bench/torch_bench.py "$m" --device "$tdev" --dtype bf16 --attention "$att" --reps $reps)
  local gpu; gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  local title="## End to end: sac4j's CUDA backend vs the PyTorch reference pipeline, $shape-shaped random BF16 model"
  local machine="Machine: ${gpu:-no GPU (a dry run)}; $(date -u +%Y-%m-%d). PyTorch is scripts/bench/torch_bench.py --device $tdev ($att attention)."
  # each engine run adds its line, then the tables are made again: a stage cut short still reports what it measured
  one() { # one LABEL WORK COMMAND...
    local label=$1 work=$2; shift 2
    "$@" | tee /dev/stderr | e2e_record "$label" "$m" "$work"
    python3 scripts/gpu/e2e_table.py "$OUT/e2e.jsonl" "$WORK/e2e.md" "$title" "$machine"
  }
  local first=${sizes%% *} rest=${sizes#* }
  [[ $rest == "$sizes" ]] && rest=
  one sac4j sac "${bench[@]}" --sac-context "$first"
  one pytorch sac "${torch[@]}" --sac-context "$first"
  one sac4j forward "${bench[@]}" "${fwd[@]}"
  one pytorch forward "${torch[@]}" "${fwd[@]}"
  for n in $rest; do
    one sac4j sac "${bench[@]}" --sac-context "$n"
    one pytorch sac "${torch[@]}" --sac-context "$n"
  done
  # the bf16 cache (sac.cuda.kv=bf16: tensor-core attention), as PyTorch keeps its K/V
  for n in $sizes; do one "sac4j bf16 KV" sac "${bench16[@]}" --sac-context "$n"; done
  ! grep -q '"failed": true' "$OUT/e2e.jsonl"
}

# Where sac4j's device time goes in the e2e stage's SAC work (its model; n = 2048): every op synchronised and timed
# (sac.cuda.profile=true), with each op's first call apart; then cuBLAS through PyTorch at the same matrix shapes.
stage_profile() {
  local m=$E2E/llama-3.2-1b-bf16 n=2048 kv
  synth_once "$m" llama-3.2-1b bf16 || return 1
  rm -f "$WORK/profile.md"
  for kv in f32 bf16; do
    {
      echo "### Where sac4j's device time goes: SAC compress + ask at n = $n, KV $kv (sac.cuda.profile=true)"
      echo
      echo "One warm-up and 3 timed compresses (ratio 15) and asks (r=15), every op synchronised: shares, not speeds."
      echo
      echo '```'
      "$JAVA" "${JVM[@]}" -Dsac.cuda.kv=$kv -Dsac.cuda.profile=true -cp "$CP" SacBench "$m" --device cuda --reps 3 \
        --sac-context $n --ask-ratios 15 2>&1 >/dev/null | sed -n '/^sac.cuda.profile:/,$p' | head -40
      echo '```'
      echo
    } | tee -a "$WORK/profile.md"
  done
  # the host side, sampled by Java Flight Recorder in a normal (unsynchronised) run: where the Java threads are
  echo "### sac4j's host side in the same work, KV f32 (Java Flight Recorder samples, 30 reps)" | tee -a "$WORK/profile.md"
  "$JAVA" "${JVM[@]}" -XX:FlightRecorderOptions:stackdepth=256 \
    -XX:StartFlightRecording=filename=$WORK/host.jfr,settings=profile -cp "$CP" SacBench "$m" \
    --device cuda --reps 30 --sac-context $n --ask-ratios 15 > "$WORK/host.json" 2>/dev/null
  {
    echo
    echo '```'
    python3 - "$WORK/host.json" <<'PY'
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
print(f"this run: compress {d['compress_tokens_per_second']:.0f} tok/s, ask r=15 {d['ask_ms']['15']:.2f} ms")
PY
    "$ROOT/jre/bin/jfr" print --json --events jdk.ExecutionSample,jdk.NativeMethodSample "$WORK/host.jfr" > "$WORK/host.jfr.json"
    python3 - "$WORK/host.jfr.json" <<'PY'
import collections, json, sys
events = json.load(open(sys.argv[1]))["recording"]["events"]
top, ours = collections.Counter(), collections.Counter()
def name(f):
    return (f["method"]["type"]["name"] + "." + f["method"]["name"]).replace("/", ".")
for e in events:
    frames = (e["values"].get("stackTrace") or {}).get("frames") or []
    if not frames or e["values"].get("sampledThread", {}).get("javaName") not in ("main", None):
        continue
    # only the SAC work: loading the model and the tokenizer happens once
    if not any(name(f).startswith(("io.sac4j.compress.", "io.sac4j.forward.Llama.")) for f in frames):
        continue
    kind = "native " if e["type"] == "jdk.NativeMethodSample" else ""
    top[kind + name(frames[0])] += 1
    own = next((name(f) for f in frames if name(f).startswith("io.sac4j.")), None)
    if own:
        ours[kind + own] += 1
total = sum(top.values())
print(f"{total} samples of the main thread inside the SAC work (native: in a JNI call, e.g. waiting for the device)")
for title, c in (("innermost frame", top), ("innermost io.sac4j frame", ours)):
    print(f"-- by {title}:")
    for k, v in c.most_common(15):
        print(f"{v:6d} {100 * v / max(total, 1):5.1f}%  {k}")
PY
    echo '```'
    echo
  } 2>&1 | tee -a "$WORK/profile.md"
  {
    echo "cuBLAS through PyTorch at the compress's shapes (m = 2040 rows: 4 chunks of 510), bf16 in; mean of 20 after 3:"
    echo
    echo '```'
    python3 - <<'PY'
import torch
m = 2040
for n, k in ((2048, 2048), (512, 2048), (8192, 2048), (2048, 8192)):
    x = torch.randn(m, k, device="cuda").bfloat16()
    w = torch.randn(n, k, device="cuda").bfloat16()
    runs = {"bf16 out (x @ w.T)": lambda: x @ w.T}
    try:
        torch.mm(x, w.T, out_dtype=torch.float32)
        runs["f32 out (torch.mm out_dtype)"] = lambda: torch.mm(x, w.T, out_dtype=torch.float32)
    except Exception as e:
        print(f"  (no f32-out mm in this torch: {type(e).__name__})")
    for name, f in runs.items():
        for _ in range(3):
            f()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(20):
            f()
        b.record()
        torch.cuda.synchronize()
        us = a.elapsed_time(b) / 20 * 1e3
        print(f"m={m} n={n} k={k} {name}: {us:8.1f} us, {2 * m * n * k / us / 1e6:6.1f} TFLOP/s")
PY
    echo '```'
  } 2>&1 | tee -a "$WORK/profile.md"
}

stage_bench() {
  python3 scripts/gpu/torch_ref.py bench --json "$OUT/torch_ref.json" --md "$WORK/torch_bench.md" 2>&1 | tee -a "$OUT/torch_ref.log"
  local rc=${PIPESTATUS[0]}
  cat "$WORK/torch_bench.md" >> "$WORK/torch_ref.md" 2>/dev/null
  rm -f "$WORK/torch_bench.md"
  return "$rc"
}

if [[ -n $INNER ]]; then "stage_$INNER"; exit $?; fi
for s in "${STAGES[@]}"; do
  [[ -n ${LIMIT[$s]:-} ]] || { echo "unknown stage $s (${!LIMIT[*]})"; exit 2; }
done
if (( ${#STAGES[@]} == 0 )); then
  # the checks share the GPU (each runs alone there within minutes; together they finish in the time of the
  # slowest), then the timed stages run one at a time on an otherwise idle machine
  run_stages env
  run_stages java native sanitize torch
  run_stages e2e
  run_stages profile
  run_stages bench
else
  for s in "${STAGES[@]}"; do run_stages "$s"; done
fi
write_results
echo; cat "$OUT/RESULTS-GPU.md"
