#!/bin/sh
# Regenerates the forward-pass exactness fixtures (run from the repository root). Needs /usr/bin/python3 with torch
# and numpy. Deterministic: rerunning gives identical files.
#   fixtures/models/<name>/          random-weight HF models            (make_models.py)
#   fixtures/gguf/<model>.<type>.gguf their GGUF conversions            (scripts/models/make_gguf.py)
#   fixtures/reference/*.json        reference logits and greedy ids    (ref_llama.py, ref_gguf.py, ref_llama2c.py)
set -e
py=/usr/bin/python3
fix=src/test/resources/fixtures
$py scripts/reference/make_models.py
mkdir -p $fix/gguf
for m in llama-gqa-untied qwen2-gqa-tied; do
  for t in f32 f16 bf16 q8_0; do
    $py scripts/models/make_gguf.py $fix/models/$m $fix/gguf/$m.$t.gguf --outtype $t
  done
done
$py scripts/reference/ref_llama.py
$py scripts/reference/ref_gguf.py
$py scripts/reference/ref_llama2c.py
