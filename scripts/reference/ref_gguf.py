#!/usr/bin/python3
"""Reference logits for the GGUF variants of the random-weight models (fixtures/gguf/<model>.<type>.gguf, written by
scripts/models/make_gguf.py; see make_all.sh).

The logits come from ref_llama.py's HF-semantics model run on the weights the GGUF file is meant to hold, and those
weights are computed here independently of the converter, from the F32 Hugging Face model:
  F16 / BF16: round to nearest even (torch .half() / .bfloat16());
  Q8_0: ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, q = roundf(x * (1/d)) (half away from
        zero), d stored as f16; dequantized as f16(d) * q.
Which tensors take the file's type is read from the file (1-D tensors stay F32). The script then reads every tensor
back from the GGUF file with its own small reader, undoes llama.cpp's q/k row permutation for "llama", and requires
the stored values to equal these weights exactly, and the metadata to match config.json, so the fixture also checks
the converter. F32 files must hold the HF weights bit for bit and reuse <model>.json; the others get
fixtures/reference/<model>.<type>.json.

Usage: /usr/bin/python3 scripts/reference/ref_gguf.py   (after make_gguf.py has written the files)
"""
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_llama  # noqa: E402

GGUF_DIR = os.path.join(ref_llama.FIX, "gguf")
MODELS = ["llama-gqa-untied", "qwen2-gqa-tied"]
TYPES = ["f32", "f16", "bf16", "q8_0"]

GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16 = 0, 1, 8, 30
TYPE_NAMES = {GGML_F32: "f32", GGML_F16: "f16", GGML_Q8_0: "q8_0", GGML_BF16: "bf16"}


# ---------------------------------------------------------------------------------------------------------------
# a minimal GGUF v3 reader


def read_gguf(path):
    """Returns (metadata dict, {name: (ggml type, torch-order shape, float32 numpy array)})."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError(f"{path}: unknown GGUF value type {t}")

    magic, version, n_tensors, n_kv = take("I"), take("I"), take("Q"), take("Q")
    assert magic == 0x46554747 and version == 3, (path, magic, version)
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        infos.append((name, list(reversed(dims)), take("I"), take("Q")))  # ggml lists the row length first
    align = meta.get("general.alignment", 32)
    base = pos + (-pos % align)
    tensors = {}
    for name, shape, t, off in infos:
        n = int(np.prod(shape))
        p = base + off
        if t == GGML_F32:
            a = np.frombuffer(data, "<f4", n, p).astype(np.float32)
        elif t == GGML_F16:
            a = np.frombuffer(data, "<f2", n, p).astype(np.float32)
        elif t == GGML_BF16:
            a = (np.frombuffer(data, "<u2", n, p).astype(np.uint32) << 16).view(np.float32)
        elif t == GGML_Q8_0:
            blocks = np.frombuffer(data, np.uint8, n // 32 * 34, p).reshape(-1, 34)
            d = blocks[:, :2].copy().view("<f2").astype(np.float32)
            q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
            a = (d * q).reshape(-1)
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported type {t}")
        tensors[name] = (t, shape, a.reshape(shape))
    return meta, tensors


# ---------------------------------------------------------------------------------------------------------------
# the expected weights


def q8_0(w: torch.Tensor) -> torch.Tensor:
    """ggml quantize_row_q8_0_ref then dequantize_row_q8_0, on rows of a multiple of 32."""
    x = w.reshape(-1, 32).to(torch.float32)
    d = x.abs().max(dim=1, keepdim=True).values / 127.0
    inv = torch.where(d == 0, torch.zeros_like(d), 1.0 / d)
    v = (x * inv).double()  # the f32 product as C computes it; roundf in double is exact
    q = torch.sign(v) * torch.floor(v.abs() + 0.5)
    return (d.half().float() * q.float()).reshape(w.shape)


def rounded(w: torch.Tensor, t: int) -> torch.Tensor:
    if t == GGML_F32:
        return w
    if t == GGML_F16:
        return w.half().float()
    if t == GGML_BF16:
        return w.bfloat16().float()
    return q8_0(w)


def hf_name(g):
    if g == "token_embd.weight":
        return "model.embed_tokens.weight"
    if g == "output_norm.weight":
        return "model.norm.weight"
    if g == "output.weight":
        return "lm_head.weight"
    _, layer, kind, suffix = g.split(".")
    m = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
         "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    return f"model.layers.{layer}.{m[kind]}.{suffix}"


def unpermute(a, heads):
    """llama.cpp stores row h*hd + 2i + j of a q/k projection where HF has row h*hd + j*hd/2 + i."""
    hd = a.shape[0] // heads
    idx = [h * hd + 2 * i + j for h in range(heads) for j in range(2) for i in range(hd // 2)]
    return a[idx]


def check_metadata(path, meta, cfg, model):
    arch = meta["general.architecture"]
    p = arch + "."
    want = {p + "block_count": cfg["num_hidden_layers"], p + "embedding_length": cfg["hidden_size"],
            p + "feed_forward_length": cfg["intermediate_size"], p + "attention.head_count": model.heads,
            p + "attention.head_count_kv": model.kv_heads}
    for k, v in want.items():
        assert meta[k] == v, (path, k, meta[k], v)
    assert math.isclose(meta[p + "rope.freq_base"], cfg["rope_theta"], rel_tol=1e-7), path
    assert math.isclose(meta[p + "attention.layer_norm_rms_epsilon"], cfg["rms_norm_eps"], rel_tol=1e-6), path
    return arch


def main():
    for name in MODELS:
        cfg, hf = ref_llama.load_hf(os.path.join(ref_llama.MODELS, name))
        model = ref_llama.Model(cfg, hf)
        for typ in TYPES:
            path = os.path.join(GGUF_DIR, f"{name}.{typ}.gguf")
            meta, tensors = read_gguf(path)
            arch = check_metadata(path, meta, cfg, model)
            expected, worst = {}, 0.0
            for g, (t, shape, a) in tensors.items():
                if g == "rope_freqs.weight":
                    # llama3 scaling as per-frequency divisors of the plain inverse frequencies
                    base = 1.0 / (cfg["rope_theta"] ** (np.arange(0, model.head_dim, 2) / model.head_dim))
                    rel = np.abs(base / a - model.inv_freq.double().numpy()) / model.inv_freq.double().numpy()
                    assert rel.max() < 1e-6, (path, rel.max())
                    continue
                n = hf_name(g)
                stored = torch.from_numpy(a.copy())
                if arch == "llama" and ".attn_q." in g:
                    stored = unpermute(stored, model.heads)
                elif arch == "llama" and ".attn_k." in g:
                    stored = unpermute(stored, model.kv_heads)
                assert list(stored.shape) == list(hf[n].shape), (path, g, stored.shape, hf[n].shape)
                want = rounded(hf[n], t)
                assert t == (GGML_F32 if hf[n].dim() == 1 else {"f32": 0, "f16": 1, "bf16": 30, "q8_0": 8}[typ]), (g, t)
                worst = max(worst, (stored - want).abs().max().item())
                expected[n] = want
            assert set(expected) == set(hf), (path, set(hf) ^ set(expected))
            if worst != 0.0:
                raise SystemExit(f"{path}: stored weights differ from the independent {typ} rounding by up to {worst}")
            if typ == "f32":
                print(f"{name}.{typ}.gguf: weights equal the HF model bit for bit; reference {name}.json")
                continue
            ref_llama.reference(f"{name}.{typ}", cfg, expected, note=f" + ref_gguf.py ({typ} weights)")
            diff = max((a[6] - b[6]).abs().max().item() for a, b in zip(ref_llama.run_all(model),
                                                                          ref_llama.run_all(ref_llama.Model(cfg, expected))))
            print(f"  {typ} rounding moves the logits by up to {diff:.3g} from the F32 model's")


if __name__ == "__main__":
    main()
