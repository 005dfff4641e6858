#!/usr/bin/env bash
# Builds sac4j and its JMH suite, runs every benchmark with 2 threads, then Footprint (KV bytes, peak heap /
# off-heap / RSS) in a fresh JVM per model, and writes benchmarks/RESULTS.md.
# About 30 minutes on 2 cores (2 Zen 4): GemmBench + ForwardBench ~12, CompressBench ~4, AskBench ~13 (~10 of it the
# 1B model, ~6 of that building its 12 contexts in setup: up to a minute each), Footprint ~1.5.
# Extra arguments go to JMH, e.g. `benchmarks/run.sh GemmBench -p type=BF16` (RESULTS.md then only has what ran;
# Footprint is skipped then unless FOOTPRINT=1; FOOTPRINT=0 skips it in a full run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

# a JDK 25: $JAVA_HOME if it is one, else the usual install places
java_bin=""
for j in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do
  if [ -n "$j" ] && [ -x "$j/bin/java" ] && "$j/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then java_bin="$j/bin/java"; break; fi
done
[ -n "$java_bin" ] || { echo "run.sh: no JDK 25 found (set JAVA_HOME)" >&2; exit 1; }

echo "building sac4j and the benchmarks..."
(cd "$root" && mvn -B -q install -DskipTests)
(cd "$here" && mvn -B -q package)

load_before="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
# short but honest: forks, warmups and iteration counts are set on the benchmark classes
"$java_bin" -jar "$here/target/benchmarks.jar" -p threads=2 -rf json -rff "$here/target/jmh.json" "$@" \
  | tee "$here/target/jmh.log"

# memory: a fresh JVM per model, so each one's peaks are its own
footprints=""
if [ "${FOOTPRINT:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
  for model in bundled llama-3.2-1b; do
    f="$here/target/footprint-$model.json"
    rm -f "$f"
    "$java_bin" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:NativeMemoryTracking=summary \
      -cp "$here/target/benchmarks.jar" io.sac4j.bench.Footprint "$model" "$f" 2 | tee -a "$here/target/jmh.log"
    footprints="${footprints:+$footprints,}$f"
  done
fi
load_after="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"

cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
cores="$(nproc 2>/dev/null || echo '?')"
flags="$(grep -m1 -o -w -E 'avx2|avx512f|avx512_bf16|avx512_vnni|amx_tile' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ')"
"$java_bin" -cp "$here/target/benchmarks.jar" io.sac4j.bench.Report "$here/target/jmh.json" "$here/RESULTS.md" \
  "cpu=${cpu:-unknown}" "cores=$cores" "flags=${flags:-unknown}" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "load_before=$load_before" "load_after=$load_after" "footprint=$footprints"
echo "wrote $here/RESULTS.md"
