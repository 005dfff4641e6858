#!/usr/bin/env bash
# Peer comparison: sac4j, llama.cpp (node-llama-cpp's prebuilt CPU binaries) and PyTorch CPU run the same forward
# pass on the SAME model files (written by `sac synth`) with the same thread count, one engine at a time, and the
# results become a markdown table (speeds, and sac4j's speed divided by each peer's). See benchmarks/PEERS.md.
#
# usage: scripts/bench/peers.sh [--shape small|tiny|llama-3.2-1b] [--threads 2] [--prompt 512] [--decode 64]
#            [--reps 3] [--rounds 1] [--warmup 1] [--gguf f32,f16,bf16,q8_0] [--torch f32,bf16] [--dir DIR] [--out FILE.md]
#            [--seed 1] [--no-sac] [--no-llama] [--no-torch]
#            [--sac-context 2048] [--question 16] [--sac-types f32,bf16] [--no-sac-work] [--no-forward]
# The SAC work (on by default; --no-sac-work skips it): training-free SAC compress tokens/s at ratio 15 on N context
# tokens, and the latency of a Q-token question to its first answer token over the context held in full and
# compressed at 5/15/51, on the F32 and BF16 safetensors directories (sac4j, PyTorch) and, full context only, on the
# GGUF files of the same types (sac4j, llama.cpp). --no-forward skips the prefill/decode comparison.
# --rounds N runs the engines of each file N times in turn (sac4j, peer, sac4j, peer, ...) and pools their runs
# (median over all of them): on a shared host the speed drifts over minutes, and alternating makes every engine
# see the same drift (use e.g. --rounds 3 --reps 1).
# Run it on an otherwise idle machine: two benchmarks at once on the same cores corrupt both.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

shape=small threads=2 prompt=512 decode=64 reps=3 rounds=1 warmup=1 seed=1
gguf_types=f32,f16,bf16,q8_0 torch_types=f32,bf16
dir="" out="" run_sac=1 run_llama=1 run_torch=1
sac_context=2048 question=16 sac_types=f32,bf16 sac_work=1 forward=1
compress_ratio=15 ask_ratios=1,5,15,51 # 1: the context held in full
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) shape="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --prompt) prompt="$2"; shift ;;
    --decode) decode="$2"; shift ;;
    --reps) reps="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --gguf) gguf_types="$2"; shift ;;
    --torch) torch_types="$2"; shift ;;
    --dir) dir="$2"; shift ;;
    --out) out="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    --no-sac) run_sac=0 ;;
    --no-llama) run_llama=0 ;;
    --no-torch) run_torch=0 ;;
    --sac-context) sac_context="$2"; shift ;;
    --question) question="$2"; shift ;;
    --sac-types) sac_types="$2"; shift ;;
    --no-sac-work) sac_work=0 ;;
    --no-forward) forward=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peers.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
dir="${dir:-$root/target/peers/$shape}"
out="${out:-$dir/PEERS-RESULTS.md}"
mkdir -p "$dir"
results="$dir/results.jsonl"
: > "$results"
log() { echo "peers.sh: $*" >&2; }

# ---- tools: the sac launcher (builds target/sac4j-cli.jar when stale), a JDK 25 for SacBench, node, python3
"$root/sac" --version >/dev/null
java_bin=""
for j in "${SAC_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25*; do
  if [ -n "$j" ] && [ -x "$j/bin/java" ] && "$j/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then java_bin="$j/bin/java"; break; fi
done
[ -n "$java_bin" ] || { log "no JDK 25 found (set JAVA_HOME)"; exit 1; }
if [ "$run_llama" = 1 ]; then
  command -v node >/dev/null || { log "node is not installed (needed for llama.cpp; or pass --no-llama)"; exit 1; }
  if [ ! -d "$here/node/node_modules/node-llama-cpp" ]; then
    log "installing node-llama-cpp (pinned in scripts/bench/node/package-lock.json, prebuilt CPU binaries only)"
    (cd "$here/node" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --no-audit --no-fund >&2)
  fi
fi
if [ "$run_torch" = 1 ]; then
  /usr/bin/python3 -c 'import torch' 2>/dev/null || { log "/usr/bin/python3 has no torch (apt-get install python3-torch; or pass --no-torch)"; exit 1; }
  # Debian's torch calls the system BLAS: without the OpenBLAS pthread build it falls back to the reference BLAS
  if command -v dpkg >/dev/null && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q libopenblas0-pthread >&2; else log "warning: libopenblas0-pthread is not installed (torch will use a slow BLAS)"; fi
  fi
fi

load_before="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
cores="$(nproc 2>/dev/null || echo '?')"
if awk -v l="$load_before" -v c="$cores" 'BEGIN { exit !(l + 0 > 0.5 * c) }' 2>/dev/null; then
  log "warning: load average $load_before on $cores cores: something else is running, the numbers will be off"
fi

# ---- the model files, written once per shape/type/seed and reused
synth() { # synth OUT DTYPE
  if [ ! -e "$1" ]; then log "writing $1"; "$root/sac" synth --shape "$shape" --dtype "$2" --seed "$seed" -o "$1" --quiet >&2; fi
}
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
common=(--threads "$threads" --prompt "$prompt" --decode "$decode" --reps "$reps" --warmup "$warmup" --greedy 8)
run() { # run LABEL FILE COMMAND...: one engine, alone; its JSON line goes to results.jsonl with the label and file
  local label="$1" file="$2"; shift 2
  log "$label on $(basename "$file") ..."
  local line
  if line="$("$@" | tail -1)" && [ -n "$line" ]; then
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["label"]=sys.argv[2]; d["file"]=sys.argv[3]; d.setdefault("work", sys.argv[4]); print(json.dumps(d))' \
      "$line" "$label" "$file" "$work" >> "$results"
  else
    log "$label on $file FAILED"
    /usr/bin/python3 -c 'import json,sys; print(json.dumps({"label":sys.argv[1],"file":sys.argv[2],"work":sys.argv[3],"failed":True}))' "$label" "$file" "$work" >> "$results"
  fi
}
sac_bench() { "$java_bin" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -cp "$root/target/sac4j-cli.jar" "$here/SacBench.java" "$@" 2> >(grep -v 'incubator modules' >&2); }

IFS=, read -r -a ggufs <<< "$gguf_types"
IFS=, read -r -a torches <<< "$torch_types"
IFS=, read -r -a sac_typelist <<< "$sac_types"
t_start=$SECONDS
work=forward
if [ "$forward" = 1 ] && { [ "$run_sac" = 1 ] || [ "$run_llama" = 1 ]; }; then
  for t in "${ggufs[@]}"; do
    f="$dir/$shape.$t.gguf"
    synth "$f" "$t"
    for _ in $(seq "$rounds"); do
      if [ "$run_sac" = 1 ]; then run "sac4j" "$f" sac_bench "$f" "${common[@]}"; fi
      if [ "$run_llama" = 1 ]; then
        run "llama.cpp" "$f" env NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node "$here/node/llama_bench.mjs" "$f" "${common[@]}"
      fi
    done
  done
fi
if [ "$forward" = 1 ] && { [ "$run_sac" = 1 ] || [ "$run_torch" = 1 ]; }; then
  for t in "${torches[@]}"; do
    d="$dir/$shape-$t"
    synth "$d" "$t"
    # the f32 run first checks the benchmark model against scripts/reference/ref_llama.py on small shapes
    check=()
    if [ "$t" = f32 ] && [ "$shape" != llama-3.2-1b ]; then check=(--check); fi
    for _ in $(seq "$rounds"); do
      if [ "$run_sac" = 1 ]; then run "sac4j" "$d" sac_bench "$d" "${common[@]}"; fi
      if [ "$run_torch" = 1 ]; then
        run "pytorch" "$d" /usr/bin/python3 "$here/torch_bench.py" "$d" --dtype "$t" ${check[@]+"${check[@]}"} "${common[@]}"
      fi
      check=()
    done
  done
fi
forward_seconds=$((SECONDS - t_start))

# ---- the SAC work: compress and ask on the safetensors directories, the full-context ask on the GGUF files too
t_start=$SECONDS
work=sac
sac=(--threads "$threads" --reps "$reps" --warmup "$warmup" --sac-context "$sac_context" --question "$question")
if [ "$sac_work" = 1 ]; then
  for t in "${sac_typelist[@]}"; do
    d="$dir/$shape-$t"
    if [ "$run_sac" = 1 ] || [ "$run_torch" = 1 ]; then synth "$d" "$t"; fi
    if [ "$run_llama" = 1 ]; then synth "$dir/$shape.$t.gguf" "$t"; fi
    for round in $(seq "$rounds"); do
    if [ "$run_sac" = 1 ]; then
      run "sac4j" "$d" sac_bench "$d" "${sac[@]}" --compress-ratio "$compress_ratio" --ask-ratios "$ask_ratios"
    fi
    # torch_bench.py computes in f32 or bf16; the f32 run first checks its SAC against scripts/reference/ref_sac.py
    if [ "$run_torch" = 1 ] && { [ "$t" = f32 ] || [ "$t" = bf16 ]; }; then
      check=()
      if [ "$t" = f32 ] && [ "$shape" != llama-3.2-1b ] && [ "$round" = 1 ]; then check=(--check); fi
      run "pytorch" "$d" /usr/bin/python3 "$here/torch_bench.py" "$d" --dtype "$t" ${check[@]+"${check[@]}"} "${sac[@]}" \
        --compress-ratio "$compress_ratio" --ask-ratios "$ask_ratios"
    fi
    # llama.cpp cannot hold SAC's anchor rows: the full-context ask only, on the GGUF file of the same type (and
    # sac4j on that same file, so that the ratio compares two engines reading one file)
    if [ "$run_llama" = 1 ]; then
      f="$dir/$shape.$t.gguf"
      if [ "$run_sac" = 1 ]; then run "sac4j" "$f" sac_bench "$f" "${sac[@]}" --compress-ratio 0 --ask-ratios 1; fi
      run "llama.cpp" "$f" env NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node "$here/node/llama_bench.mjs" "$f" "${sac[@]}"
    fi
    done
  done
fi
sac_seconds=$((SECONDS - t_start))
load_after="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"

# ---- the table
cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo '?')"
blas="$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || echo unknown)"
/usr/bin/python3 "$here/peers_table.py" "$results" "$out" \
  "shape=$shape" "seed=$seed" "threads=$threads" "warmup=$warmup" "cpu=${cpu:-unknown}" "cores=$cores" "memory=$mem" \
  "java=$("$java_bin" -version 2>&1 | head -1)" "node=$(node --version 2>/dev/null || echo none)" \
  "blas=$blas" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" "load_before=$load_before" "load_after=$load_after" \
  "forward_seconds=$forward_seconds" "sac_seconds=$sac_seconds"
cat "$out"
log "wrote $out (raw results: $results)"
