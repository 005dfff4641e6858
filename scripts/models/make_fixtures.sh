#!/bin/sh
# Regenerates the loader test fixtures in src/test/resources/fixtures/gguf (run from the repository root).
# Needs /usr/bin/python3 with numpy only. Deterministic: rerunning gives identical files.
set -e
out=src/test/resources/fixtures/gguf
mkdir -p "$out"
py=/usr/bin/python3
$py scripts/models/make_tiny_hf.py "$out"
for t in f32 f16 bf16 q8_0; do
  $py scripts/models/make_gguf.py "$out/tiny-llama" "$out/tiny-llama.$t.gguf" --outtype $t
done
# a non-default alignment exercises general.alignment
$py scripts/models/make_gguf.py "$out/tiny-qwen2" "$out/tiny-qwen2.q8_0.gguf" --outtype q8_0 --alignment 64
$py scripts/models/llama2c_spotcheck.py src/main/resources/io/sac4j/models/aidreams260K.bin "$out/aidreams260K.spotcheck.json"
