#!/usr/bin/python3
"""Writes small, seeded, random-weight Hugging Face model directories for the forward-pass exactness tests.

Each directory under src/test/resources/fixtures/models/<name>/ holds config.json and model.safetensors laid out
exactly as transformers' save_pretrained writes them (tied models have no lm_head.weight), plus a copy of the
llama3 tokenizer fixture when that exists and is small. Weights are drawn large enough that attention is far from
uniform and logits spread over several units, so a wrong operation moves them visibly.

Usage: /usr/bin/python3 scripts/reference/make_models.py   (from the repository root; needs torch)
"""
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "models")
TOKENIZER = os.path.join(ROOT, "src", "test", "resources", "fixtures", "tokenizer", "llama3", "tokenizer.json")
TOKENIZER_MAX_BYTES = 300_000  # the whole models tree must stay small

VOCAB, HIDDEN, FFN, LAYERS, HEAD_DIM = 512, 64, 128, 2, 16

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64}

# name: (arch, heads, kv heads, tied, extra config, matrix dtype, seed)
MODELS = {
    "llama-mha-tied": ("llama", 4, 4, True, {"rope_theta": 10000.0, "rms_norm_eps": 1e-5}, torch.float32, 1),
    "llama-gqa-untied": ("llama", 8, 2, False, {"rope_theta": 500000.0, "rms_norm_eps": 1e-5,
                                                 "rope_scaling": LLAMA3_SCALING}, torch.float32, 2),
    "qwen2-gqa-tied": ("qwen2", 4, 2, True, {"rope_theta": 1000000.0, "rms_norm_eps": 1e-6}, torch.float32, 3),
    # a large eps (next to a residual stream of mean square ~0.25) so that a loader ignoring rms_norm_eps shows
    "qwen2-mha-untied": ("qwen2", 4, 4, False, {"rope_theta": 1000000.0, "rms_norm_eps": 1e-3}, torch.float32, 4),
    # the same weights as llama-gqa-untied (same seed), matrices rounded to 16 bits, norms kept in F32
    "llama-gqa-bf16": ("llama", 8, 2, False, {"rope_theta": 500000.0, "rms_norm_eps": 1e-5,
                                               "rope_scaling": LLAMA3_SCALING}, torch.bfloat16, 2),
    "llama-gqa-f16": ("llama", 8, 2, False, {"rope_theta": 500000.0, "rms_norm_eps": 1e-5,
                                              "rope_scaling": LLAMA3_SCALING}, torch.float16, 2),
}

DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def special_ids():
    """bos/eos of the bundled llama3 tokenizer fixture, so config and tokenizer agree; 1/2 without it."""
    if not os.path.isfile(TOKENIZER):
        return 1, 2
    with open(TOKENIZER, encoding="utf-8") as f:
        added = {a["content"]: a["id"] for a in json.load(f).get("added_tokens", [])}
    return added["<|begin_of_text|>"], added["<|end_of_text|>"]


def config(arch, heads, kv, tied, extra, dtype):
    bos, eos = special_ids()
    c = {
        "architectures": ["LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM"],
        "model_type": arch,
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "tie_word_embeddings": tied,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": DTYPE_NAMES[dtype],
    }
    if arch == "llama":
        c.update({"head_dim": HEAD_DIM, "attention_bias": False, "mlp_bias": False})
    else:
        assert HIDDEN // heads == HEAD_DIM  # qwen2 derives head_dim from hidden_size / heads
        c.update({"use_sliding_window": False, "sliding_window": 4096, "max_window_layers": LAYERS})
    c.update(extra)
    return c


def weights(arch, heads, kv, tied, seed):
    """All tensors in float32, in the order save_pretrained writes them (alphabetical does not matter)."""
    g = torch.Generator().manual_seed(seed)

    def mat(rows, cols, std):
        return torch.randn(rows, cols, generator=g) * std

    def norm(n):  # gains around 1 so a missing or misapplied gain shows
        return 1.0 + 0.1 * torch.randn(n, generator=g)

    t = {"model.embed_tokens.weight": mat(VOCAB, HIDDEN, 0.5)}
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = norm(HIDDEN)
        t[p + "self_attn.q_proj.weight"] = mat(heads * HEAD_DIM, HIDDEN, 0.1)
        t[p + "self_attn.k_proj.weight"] = mat(kv * HEAD_DIM, HIDDEN, 0.1)
        t[p + "self_attn.v_proj.weight"] = mat(kv * HEAD_DIM, HIDDEN, 0.1)
        if arch == "qwen2":
            t[p + "self_attn.q_proj.bias"] = 0.2 * torch.randn(heads * HEAD_DIM, generator=g)
            t[p + "self_attn.k_proj.bias"] = 0.2 * torch.randn(kv * HEAD_DIM, generator=g)
            t[p + "self_attn.v_proj.bias"] = 0.2 * torch.randn(kv * HEAD_DIM, generator=g)
        t[p + "self_attn.o_proj.weight"] = mat(HIDDEN, heads * HEAD_DIM, 0.1)
        t[p + "post_attention_layernorm.weight"] = norm(HIDDEN)
        t[p + "mlp.gate_proj.weight"] = mat(FFN, HIDDEN, 0.1)
        t[p + "mlp.up_proj.weight"] = mat(FFN, HIDDEN, 0.1)
        t[p + "mlp.down_proj.weight"] = mat(HIDDEN, FFN, 0.1)
    t["model.norm.weight"] = norm(HIDDEN)
    if not tied:
        t["lm_head.weight"] = mat(VOCAB, HIDDEN, 0.2)
    return t


def main():
    os.makedirs(OUT, exist_ok=True)
    tok_ok = os.path.isfile(TOKENIZER) and os.path.getsize(TOKENIZER) <= TOKENIZER_MAX_BYTES
    if os.path.isfile(TOKENIZER) and not tok_ok:
        print(f"note: {TOKENIZER} is larger than {TOKENIZER_MAX_BYTES} bytes; not copied")
    for name, (arch, heads, kv, tied, extra, dtype, seed) in MODELS.items():
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        t = weights(arch, heads, kv, tied, seed)
        # matrices (2-D) in the model's dtype; norms and biases stay F32 as in mixed-precision checkpoints
        t = {k: (v.to(dtype) if v.dim() == 2 else v) for k, v in t.items()}
        safetensors_io.write(os.path.join(d, "model.safetensors"), t)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config(arch, heads, kv, tied, extra, dtype), f, indent=2)
            f.write("\n")
        if tok_ok:
            shutil.copyfile(TOKENIZER, os.path.join(d, "tokenizer.json"))
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        print(f"{name}: {len(t)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
