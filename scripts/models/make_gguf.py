#!/usr/bin/python3
"""Converts a Hugging Face Llama / Qwen2 directory (config.json, model.safetensors or sharded
model.safetensors.index.json, optional tokenizer.json) to GGUF v3 the way llama.cpp's convert_hf_to_gguf.py does,
with the GGUF writing done here (numpy only; no gguf package):

  * llama: q_proj/k_proj weight rows (and biases) permuted per head from HF's rotate-halves order to the
    interleaved order, so that RoPE over adjacent pairs gives the same result (LlamaModel.permute);
    Llama 3.x rope_scaling becomes the F32 tensor rope_freqs.weight of per-frequency divisors.
  * qwen2: no permutation (llama.cpp runs it with NEOX = rotate-halves RoPE).
  * 1-D tensors (norms, biases) stay F32; matrices become --outtype F32, F16, BF16 (round to nearest even) or
    Q8_0 (ggml's blocks of 32: d = max|x| / 127 stored as f16, q = round-half-away(x / d) as int8). Matrices
    whose rows are not a multiple of 32 fall back to F16 for Q8_0, as llama.cpp does.
  * tokenizer.json is embedded as tokenizer.ggml.model "gpt2" with tokens, token_type, merges, pre
    ("llama-bpe" or "qwen2") and the bos/eos ids (tokenizer_config.json first, then config.json).

usage: make_gguf.py HF_DIR OUT.gguf [--outtype f32|f16|bf16|q8_0] [--alignment N]
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

GGUF_MAGIC = 0x46554747
GGUF_VERSION = 3
# gguf value types
U8, I8, U16, I16, U32, I32, F32V, BOOL, STRING, ARRAY, U64, I64, F64V = range(13)
# ggml tensor types and llama file types
GGML = {"f32": 0, "f16": 1, "q8_0": 8, "bf16": 30}
FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5
QK8_0 = 32


def permute(w, n_head, n_head_kv=None):
    """llama.cpp LlamaModel.permute: within each head, rows [0..h/2) and [h/2..h) become interleaved."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def np_roundf(n):
    """C roundf (half away from zero), as gguf-py's quants.np_roundf."""
    a = np.abs(n)
    floored = np.floor(a)
    b = floored + np.floor(2 * (a - floored))
    return np.sign(n) * b


def quantize_q8_0(x):
    rows = x.reshape(-1, QK8_0).astype(np.float32)
    d = np.abs(rows).max(axis=1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    qs = np_roundf(rows * inv).astype(np.int8)
    blocks = np.concatenate([d.astype("<f2").view(np.uint8), qs.view(np.uint8)], axis=1)
    return blocks.tobytes()


def encode(x, kind):
    if kind == "f32":
        return x.astype("<f4").tobytes()
    if kind == "f16":
        return x.astype("<f2").tobytes()
    if kind == "bf16":
        return st_io.f32_to_bf16_bits(x).astype("<u2").tobytes()
    if kind == "q8_0":
        return quantize_q8_0(x)
    raise ValueError(kind)


class Writer:
    def __init__(self, alignment):
        self.kv = []
        self.tensors = []  # (name, shape torch order, ggml type, bytes)
        self.alignment = alignment
        if alignment != 32:
            self.add("general.alignment", U32, alignment)

    def add(self, key, vtype, value, elem_type=None):
        self.kv.append((key, vtype, value, elem_type))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _val(self, vtype, v, elem_type=None):
        fmt = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f", U64: "<Q", I64: "<q",
               F64V: "<d", BOOL: "<?"}
        if vtype in fmt:
            return struct.pack(fmt[vtype], v)
        if vtype == STRING:
            return self._str(v)
        if vtype == ARRAY:
            return struct.pack("<IQ", elem_type, len(v)) + b"".join(self._val(elem_type, e) for e in v)
        raise ValueError(vtype)

    def write(self, path):
        pad = lambda n: (self.alignment - n % self.alignment) % self.alignment  # noqa: E731
        out = bytearray()
        out += struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(self.tensors), len(self.kv))
        for key, vtype, value, et in self.kv:
            out += self._str(key) + struct.pack("<I", vtype) + self._val(vtype, value, et)
        offset = 0
        for name, shape, gtype, data in self.tensors:
            out += self._str(name) + struct.pack("<I", len(shape))
            for ne in reversed(shape):  # ggml order: row length first
                out += struct.pack("<Q", ne)
            out += struct.pack("<IQ", gtype, offset)
            offset += len(data) + pad(len(data))
        out += b"\0" * pad(len(out))
        for _, _, _, data in self.tensors:
            out += data + b"\0" * pad(len(data))
        with open(path, "wb") as f:
            f.write(out)


def load_tensors(d):
    single = os.path.join(d, "model.safetensors")
    if os.path.exists(single):
        return st_io.read(single)
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for fn in files:
        out.update(st_io.read(os.path.join(d, fn)))
    return out


def gguf_name(n):
    if n == "model.embed_tokens.weight":
        return "token_embd.weight"
    if n == "model.norm.weight":
        return "output_norm.weight"
    if n == "lm_head.weight":
        return "output.weight"
    parts = n.split(".")
    if parts[:2] == ["model", "layers"]:
        i, rest = parts[2], ".".join(parts[3:])
        m = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
        base, suffix = rest.rsplit(".", 1)
        if base in m:
            return f"blk.{i}.{m[base]}.{suffix}"
    raise SystemExit(f"make_gguf: cannot map tensor {n}")


def llama3_rope_factors(c):
    """convert_hf_to_gguf LlamaModel.generate_extra_tensors (original_max_position_embeddings taken from
    rope_scaling, where HF keeps it)."""
    rs = c["rope_scaling"]
    base = c.get("rope_theta", 10000.0)
    dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor = rs.get("factor", 8.0)
    low, high = rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old = rs.get("original_max_position_embeddings", 8192)
    low_wl, high_wl = old / low, old / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old / wl - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def add_tokenizer(w, d, c, arch):
    path = os.path.join(d, "tokenizer.json")
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        tok = json.load(f)
    vocab = dict(tok["model"]["vocab"])
    added = {a["content"]: a for a in tok.get("added_tokens", [])}
    for a in added.values():
        vocab[a["content"]] = a["id"]
    rev = {i: t for t, i in vocab.items()}
    n = c["vocab_size"]
    tokens, types = [], []
    for i in range(n):  # convert_hf_to_gguf get_vocab_base
        if i not in rev:
            tokens.append(f"[PAD{i}]")
            types.append(TOKEN_UNUSED)
            continue
        t = rev[i]
        tokens.append(t)
        if t in added:
            looks_special = t.startswith("<|") and t.endswith("|>")
            types.append(TOKEN_CONTROL if added[t].get("special") or looks_special else TOKEN_USER_DEFINED)
        else:
            types.append(TOKEN_NORMAL)
    merges = tok["model"].get("merges") or []
    merges = [m if isinstance(m, str) else " ".join("".join(chr(ord(ch) + 256) if ch == " " else ch for ch in p)
                                                    for p in m) for m in merges]
    w.add("tokenizer.ggml.model", STRING, "gpt2")
    w.add("tokenizer.ggml.pre", STRING, "llama-bpe" if arch == "llama" else "qwen2")
    w.add("tokenizer.ggml.tokens", ARRAY, tokens, STRING)
    w.add("tokenizer.ggml.token_type", ARRAY, types, I32)
    if merges:
        w.add("tokenizer.ggml.merges", ARRAY, merges, STRING)
    # gguf SpecialVocab: tokenizer_config.json's token strings first, then config.json's integer ids
    special = {}
    tc_path = os.path.join(d, "tokenizer_config.json")
    tc = json.load(open(tc_path)) if os.path.exists(tc_path) else {}
    for typ in ("bos", "eos", "unk", "sep", "pad"):
        e = tc.get(f"{typ}_token")
        content = e.get("content") if isinstance(e, dict) else e
        if isinstance(content, str) and content in added:
            special[typ] = added[content]["id"]
    for typ in ("bos", "eos", "unk", "sep", "pad"):
        v = c.get(f"{typ}_token_id")
        if typ not in special and isinstance(v, int) and 0 <= v < n:
            special[typ] = v
    keys = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
            "sep": "seperator_token_id", "pad": "padding_token_id"}  # (sic: gguf spells "seperator")
    for typ, key in keys.items():
        if typ in special:
            w.add("tokenizer.ggml." + key, U32, special[typ])
    for typ in ("bos", "eos"):
        if isinstance(tc.get(f"add_{typ}_token"), bool):
            w.add(f"tokenizer.ggml.add_{typ}_token", BOOL, tc[f"add_{typ}_token"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--outtype", default="f16", choices=sorted(GGML))
    ap.add_argument("--alignment", type=int, default=32)
    a = ap.parse_args()
    d = a.hf_dir
    c = json.load(open(os.path.join(d, "config.json")))
    archs = c.get("architectures") or []
    arch = "llama" if "LlamaForCausalLM" in archs or c.get("model_type") == "llama" else \
        "qwen2" if "Qwen2ForCausalLM" in archs or c.get("model_type") == "qwen2" else None
    if arch is None:
        raise SystemExit(f"make_gguf: unsupported architecture {archs or c.get('model_type')}")
    n_head = c["num_attention_heads"]
    n_kv = c.get("num_key_value_heads") or n_head

    w = Writer(a.alignment)
    w.add("general.architecture", STRING, arch)
    w.add("general.type", STRING, "model")
    w.add("general.name", STRING, os.path.basename(os.path.normpath(d)))
    p = arch + "."
    w.add(p + "block_count", U32, c["num_hidden_layers"])
    w.add(p + "context_length", U32, c.get("max_position_embeddings", 2048))
    w.add(p + "embedding_length", U32, c["hidden_size"])
    w.add(p + "feed_forward_length", U32, c["intermediate_size"])
    w.add(p + "attention.head_count", U32, n_head)
    w.add(p + "attention.head_count_kv", U32, n_kv)
    w.add(p + "rope.freq_base", F32V, c.get("rope_theta", 10000.0))
    w.add(p + "attention.layer_norm_rms_epsilon", F32V, c.get("rms_norm_eps", 1e-6))
    if c.get("head_dim") is not None:
        w.add(p + "attention.key_length", U32, c["head_dim"])
        w.add(p + "attention.value_length", U32, c["head_dim"])
    w.add("general.file_type", U32, FILE_TYPE[a.outtype])
    if arch == "llama":
        w.add(p + "vocab_size", U32, c["vocab_size"])
        w.add(p + "rope.dimension_count", U32, c.get("head_dim") or c["hidden_size"] // n_head)
    w.add("general.quantization_version", U32, 2)
    add_tokenizer(w, d, c, arch)

    rs = c.get("rope_scaling")
    if arch == "llama" and rs and str(rs.get("rope_type", rs.get("type", ""))).lower() == "llama3":
        f = llama3_rope_factors(c)
        w.tensors.append(("rope_freqs.weight", list(f.shape), GGML["f32"], encode(f, "f32")))
    for name, (_, x) in load_tensors(d).items():
        if name.endswith(".rotary_emb.inv_freq"):
            continue
        if arch == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            x = permute(x, n_head, n_head)
        if arch == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            x = permute(x, n_head, n_kv)
        g = gguf_name(name)
        kind = a.outtype
        if x.ndim <= 1 or g.endswith("_norm.weight"):
            kind = "f32"
        if kind == "q8_0" and x.shape[-1] % QK8_0 != 0:
            kind = "f16"
        w.tensors.append((g, list(x.shape), GGML[kind], encode(np.ascontiguousarray(x, dtype=np.float32), kind)))
    w.write(a.out)


if __name__ == "__main__":
    main()
