#!/usr/bin/env bash
# A small Java 25 runtime for the GPU machine (which has no Java): the modules the tests, JavaCPP and the JUnit
# console launcher need (jdeps --print-module-deps over them gives java.base, java.management, java.sql,
# jdk.incubator.vector, jdk.unsupported; java.logging and java.xml come with java.sql), and jdk.jfr, with which
# run_all.sh's profile stage samples the host side. Output: jre/ (git-ignored).
# Sizes measured here (Temurin 25.0.3): 49 MB with jlink's zip-6, 72 MB with zip-0; but zip-0 packs into 16 MB of
# xz while zip-6 stays at 25 MB, and the device call carries at most 64 MiB with the working tree, so modules are
# left uncompressed and scripts/gpu/prepare.sh ships jre/ inside one xz archive. Fails past 90 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
JDK=${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}
rm -rf jre
"$JDK/bin/jlink" --add-modules java.base,java.logging,java.management,java.sql,java.xml,jdk.incubator.vector,jdk.unsupported,jdk.jfr \
  --strip-debug --no-man-pages --no-header-files \
  --compress=zip-0 --output jre
size=$(du -sm jre | cut -f1)
echo "jre/: ${size} MB ($(jre/bin/java -version 2>&1 | head -1))"
if (( size > 90 )); then echo "jre/ is ${size} MB: too large to carry" >&2; exit 1; fi
