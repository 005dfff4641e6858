#!/usr/bin/env bash
# Run HERE (the machine with Maven and nvcc) before asking for a GPU machine: builds everything the GPU run needs
# into ONE git-ignored file, target/gpu/kit.tar.xz (about 30 MB), which the device call carries:
#   jre/                  a jlinked Java 25 (scripts/gpu/make_jre.sh): the GPU machine has no Java
#   target/classes        main classes and the fatbin (the pom's "cuda" profile runs nvcc)
#   target/test-classes   the @Tag("gpu") tests
#   target/gpu-bin/       native/test/check_kernels.cu built here (fallback if nvcc fails there)
#   target/gpu-bench/     scripts/bench/SacBench.java compiled (the e2e stage; the small runtime has no compiler)
#   target/gpu-lib/       runtime jars (JavaCPP + CUDA presets + commons-cli, from ~/.m2 via
#                         dependency:copy-dependencies) and junit-platform-console-standalone (the test runner;
#                         not a project dependency: fetched with dependency:copy)
# The device machine cannot reach any registry, so nothing there is downloaded. Then make the one call it prints.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONSOLE=org.junit.platform:junit-platform-console-standalone:1.14.1
DEP=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

mvn -B -q -o test-compile
fatbin=target/classes/io/sac4j/cuda/sac4j_kernels.fatbin
[[ -f $fatbin ]] || { echo "no $fatbin: nvcc must be installed here (the pom's cuda profile builds it)" >&2; exit 1; }

rm -rf target/gpu-lib target/gpu target/gpu-bin target/gpu-bench
# offline when ~/.m2 has everything, else from Maven Central
mvn_dep() { mvn -B -q -o "$@" >/dev/null 2>&1 || mvn -B -q "$@"; }
mvn_dep $DEP:copy-dependencies -DincludeScope=runtime -DoutputDirectory=target/gpu-lib
mvn_dep $DEP:copy -Dartifact=$CONSOLE -DoutputDirectory=target/gpu-lib
scripts/gpu/make_jre.sh
# the kernel checks, prebuilt for sm_80/sm_90 (run_all.sh builds them on the device first, this is the fallback)
cmake -S cmake -B target/cuda-build -DSAC_FATBIN="$PWD/$fatbin" -DSAC_CHECK_ARCH= >/dev/null
cmake --build target/cuda-build --target check_kernels_gpu
mkdir -p target/gpu-bin && cp target/cuda-build/check_kernels_gpu target/gpu-bin/
"${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/javac" -d target/gpu-bench -cp target/classes scripts/bench/SacBench.java

mkdir -p target/gpu
tar -cf - jre target/classes target/test-classes target/gpu-lib target/gpu-bin target/gpu-bench | xz -6 -T0 > target/gpu/kit.tar.xz
kit=$(du -m target/gpu/kit.tar.xz | cut -f1)
tree=$(git ls-files -co --exclude-standard -z | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "target/gpu/kit.tar.xz: ${kit} MB; working tree that travels: ${tree} MB (limit 64 MiB together)"
if (( kit + tree > 62 )); then echo "too large to carry" >&2; exit 1; fi
cat <<MSG

Now one device call (about 9 minutes; results come back in its files, under \$OUT):
  run(command="bash scripts/gpu/run_all.sh", carry=["target/gpu"], timeout_s=600)
Then put the returned RESULTS-GPU.md below the summary of benchmarks/RESULTS-GPU.md (in place of the last run's
sections), and rewrite that summary from it.
MSG
