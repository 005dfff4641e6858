#!/usr/bin/python3
"""Writes two tiny random-weight Hugging Face model directories for the loader tests, plus expected.json with
spot values of their tensors computed here with numpy (the independent reference the Java tests compare against).

  tiny-llama: LlamaForCausalLM, F32, GQA (4 heads / 2 kv heads), untied lm_head, llama3 rope_scaling,
              eos from config.json and generation_config.json
  tiny-qwen2: Qwen2ForCausalLM, BF16 matrices with F32 norms and biases (mixed dtypes), q/k/v biases,
              1 kv head, tied embeddings, vocab_size padded past the tokenizer's tokens

Each has a small but complete byte-level BPE tokenizer.json (all 256 byte symbols, merges learned here from a few
sentences, special tokens) in the Llama 3 / Qwen2 style.

usage: make_tiny_hf.py OUT_DIR      (the tests use src/test/resources/fixtures/gguf)
"""
import collections
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

CORPUS = ("the quick brown fox jumps over the lazy dog. the dog sleeps in the sun, and the fox runs "
          "into the forest. a model reads the text and writes the answer; the answer is short.")

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    """GPT-2's byte -> printable character table used by byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def learn_merges(n_merges):
    """Plain BPE on the corpus split at spaces (a space starts a word, as 'Ġ')."""
    b2u = bytes_to_unicode()
    words = collections.Counter()
    for i, w in enumerate(CORPUS.split(" ")):
        text = (" " if i else "") + w
        words[tuple(b2u[b] for b in text.encode())] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return merges


def tokenizer_json(style, specials):
    b2u = bytes_to_unicode()
    vocab = {}
    for b in sorted(b2u, key=lambda b: list(b2u).index(b)):  # GPT-2 order: printable bytes first
        vocab[b2u[b]] = len(vocab)
    merges = learn_merges(24)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = []
    for s in specials:
        added.append({"id": len(vocab), "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        vocab[s] = len(vocab)
    split = LLAMA3_SPLIT if style == "llama" else QWEN2_SPLIT
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None if style == "llama" else {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": style == "llama",
                  "vocab": {k: v for k, v in vocab.items() if k not in specials},
                  "merges": [a + " " + b for a, b in merges]},
    }
    return tok, vocab


def make(out, name, arch, c, rng, matrix_dtype, specials, gen_eos=None, tok_config=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tok, vocab = tokenizer_json(arch, specials)
    assert c["vocab_size"] >= len(vocab)
    for key in ("bos_token_id", "eos_token_id"):
        if isinstance(c.get(key), str):
            c[key] = vocab[c[key]]
    if gen_eos:
        gen_eos = [vocab[s] for s in gen_eos]
    dim, hid, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    hd = c.get("head_dim") or dim // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    V = c["vocab_size"]

    tensors = []

    def mat(n, *shape, scale=0.2):
        x = (rng.standard_normal(shape) * scale).astype(np.float32)
        if matrix_dtype == "BF16":
            tensors.append((n, "BF16", st_io.f32_to_bf16_bits(x).reshape(shape)))
        else:
            tensors.append((n, "F32", x))

    def vec(n, size, base):
        tensors.append((n, "F32", (base + rng.standard_normal(size) * 0.1).astype(np.float32)))

    mat("model.embed_tokens.weight", V, dim, scale=0.5)
    for i in range(L):
        p = f"model.layers.{i}."
        vec(p + "input_layernorm.weight", dim, 1.0)
        mat(p + "self_attn.q_proj.weight", q, dim)
        mat(p + "self_attn.k_proj.weight", kv, dim)
        mat(p + "self_attn.v_proj.weight", kv, dim)
        if arch == "qwen2":
            vec(p + "self_attn.q_proj.bias", q, 0.0)
            vec(p + "self_attn.k_proj.bias", kv, 0.0)
            vec(p + "self_attn.v_proj.bias", kv, 0.0)
        mat(p + "self_attn.o_proj.weight", dim, q)
        vec(p + "post_attention_layernorm.weight", dim, 1.0)
        mat(p + "mlp.gate_proj.weight", hid, dim)
        mat(p + "mlp.up_proj.weight", hid, dim)
        mat(p + "mlp.down_proj.weight", dim, hid)
    vec("model.norm.weight", dim, 1.0)
    if not c.get("tie_word_embeddings"):
        mat("lm_head.weight", V, dim, scale=0.5)

    st_io.write(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    if tok_config:
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tok_config, f, indent=2)
    if gen_eos:
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": c.get("bos_token_id"), "eos_token_id": gen_eos}, f, indent=2)

    # spot values read back from the written file, as the stored dtype widened to float32
    back = st_io.read(os.path.join(d, "model.safetensors"))
    exp = {}
    for n, (dt, v) in back.items():
        flat = v.reshape(-1)
        exp[n] = {"dtype": dt, "shape": list(v.shape), "first": [float(x) for x in flat[:6]],
                  "last": float(flat[-1]), "sum": float(flat.astype(np.float64).sum()),
                  "row1": [float(x) for x in v[1][:4]] if v.ndim == 2 else None}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20240611)
    make(out, "tiny-llama", "llama", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 283,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64},
        "tie_word_embeddings": False, "attention_bias": False,
        "bos_token_id": "<|begin_of_text|>", "eos_token_id": "<|end_of_text|>", "torch_dtype": "float32"},
        rng, "F32", ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"],
        gen_eos=["<|end_of_text|>", "<|eot_id|>"],
        tok_config={"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "add_bos_token": True})
    make(out, "tiny-qwen2", "qwen2", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 288,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
        "tie_word_embeddings": True, "use_sliding_window": False,
        "bos_token_id": "<|endoftext|>", "eos_token_id": "<|im_end|>", "torch_dtype": "bfloat16"},
        rng, "BF16", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        tok_config={"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                    "add_bos_token": False})


if __name__ == "__main__":
    main()
