"""A plain Llama-family forward pass in float64 torch, for the SAC reference (ref_sac.py).

Written from the published semantics, not from the Java code:
- llama2.c `.bin` checkpoints follow Karpathy's run.c: a 7 x int32 header, f32 tensors in a fixed order, RoPE on
  ADJACENT pairs (x[2i], x[2i+1]) with freq = 1 / 10000^(2i/head_size) in f32, RMSNorm eps 1e-5, SwiGLU.
- Hugging Face directories (config.json + model.safetensors) follow transformers' LlamaForCausalLM /
  Qwen2ForCausalLM: RoPE on HALVES (x[i], x[i + d/2]), inv_freq and the llama3 rope scaling computed in f32 as
  `_compute_default_rope_parameters` / `_compute_llama3_parameters` do, q/k/v biases for qwen2.
Everything but the RoPE angles is float64: the angles are f32 products exactly as both originals compute them,
because at positions in the thousands their f32 rounding is part of the model's arithmetic.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

D = torch.float64


class Model:
    """cfg: dict of hyper-parameters; weights as float64 tensors, every matrix [out, in]."""

    def __init__(self, name, cfg, emb, layers, final_norm, out):
        self.name, self.cfg, self.emb, self.layers, self.final_norm, self.out = name, cfg, emb, layers, final_norm, out


def load_llama2c(path, name):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // n_heads
    a = np.frombuffer(data[28:], "<f4")
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        t = torch.from_numpy(a[pos:pos + n].astype(np.float64).reshape(shape))
        pos += n
        return t

    emb = take(vocab, dim)
    rms_att = take(n_layers, dim)
    wq = take(n_layers, n_heads * hs, dim)
    wk = take(n_layers, n_kv * hs, dim)
    wv = take(n_layers, n_kv * hs, dim)
    wo = take(n_layers, dim, n_heads * hs)
    rms_ffn = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    final = take(dim)
    pos += seq_len * hs  # freq_cis_real + freq_cis_imag (seq_len * hs/2 each), unused
    out = emb if shared else take(vocab, dim)
    layers = [dict(attn_norm=rms_att[l], wq=wq[l], wk=wk[l], wv=wv[l], wo=wo[l], bq=None, bk=None, bv=None,
                   ffn_norm=rms_ffn[l], w1=w1[l], w2=w2[l], w3=w3[l]) for l in range(n_layers)]
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, head_dim=hs, vocab=vocab,
               eps=1e-5, theta=10000.0, rope="adjacent", rope_scaling=None, bos=1)
    return Model(name, cfg, emb, layers, final, out)


def load_hf(directory, name):
    with open(os.path.join(directory, "config.json")) as f:
        c = json.load(f)
    t = {k: v.to(D) for k, v in safetensors_io.read(os.path.join(directory, "model.safetensors")).items()}
    dim, heads = c["hidden_size"], c["num_attention_heads"]
    n_layers = c["num_hidden_layers"]
    hd = c.get("head_dim") or dim // heads
    qwen = c["model_type"] == "qwen2"
    layers = []
    for l in range(n_layers):
        p = f"model.layers.{l}."
        layers.append(dict(
            attn_norm=t[p + "input_layernorm.weight"], wq=t[p + "self_attn.q_proj.weight"],
            wk=t[p + "self_attn.k_proj.weight"], wv=t[p + "self_attn.v_proj.weight"],
            wo=t[p + "self_attn.o_proj.weight"],
            bq=t[p + "self_attn.q_proj.bias"] if qwen else None, bk=t[p + "self_attn.k_proj.bias"] if qwen else None,
            bv=t[p + "self_attn.v_proj.bias"] if qwen else None,
            ffn_norm=t[p + "post_attention_layernorm.weight"], w1=t[p + "mlp.gate_proj.weight"],
            w2=t[p + "mlp.down_proj.weight"], w3=t[p + "mlp.up_proj.weight"]))
    emb = t["model.embed_tokens.weight"]
    out = emb if c.get("tie_word_embeddings", False) else t["lm_head.weight"]
    cfg = dict(dim=dim, hidden=c["intermediate_size"], n_layers=n_layers, n_heads=heads,
               n_kv=c.get("num_key_value_heads", heads), head_dim=hd, vocab=c["vocab_size"], eps=c["rms_norm_eps"],
               theta=float(c.get("rope_theta", 10000.0)), rope="halves", rope_scaling=c.get("rope_scaling"),
               bos=c.get("bos_token_id"))
    return Model(name, cfg, emb, layers, t["model.norm.weight"], out)


def inv_freq(cfg):
    """f32 inverse frequencies: HF's 1 / base^(arange(0, d, 2) / d) (== run.c's powf form), llama3-scaled if asked."""
    d = cfg["head_dim"]
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    s = cfg["rope_scaling"]
    if s is not None and s.get("rope_type", s.get("type")) == "llama3":
        factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old = s["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, inv_l)
    elif s is not None:
        raise ValueError("unsupported rope_scaling " + str(s))
    return inv


def cos_sin(cfg, positions):
    """[T, hd/2] cos and sin (float64) of the f32 angles position * inv_freq."""
    ang = torch.tensor(positions, dtype=torch.float32)[:, None] * inv_freq(cfg)[None, :]
    ang = ang.to(D)
    return torch.cos(ang), torch.sin(ang)


def rope(x, cos, sin, style):
    """x: [T, H, hd]; rotates each (pair) of each head by the row's angles."""
    half = x.shape[-1] // 2
    c, s = cos[:, None, :], sin[:, None, :]
    if style == "adjacent":
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)


def rmsnorm(x, g, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * g


def forward(m, x, positions, past=None, allowed=None, qv=None):
    """Runs input embeddings x [T, dim] at `positions`.

    past: per layer (K [P, kvDim], V [P, kvDim]) rows already attended (post-RoPE keys), or None.
    allowed: bool [T, P + T], which of (past rows, new rows) each new row attends to.
    qv: per layer (wq, wv) replacing the model's q/v projections (the SAC encoder's merged LoRA), or None.
    Returns (final hidden states [T, dim] before the final norm, per layer (K [T, kvDim], V [T, kvDim]) of the new rows).
    """
    c = m.cfg
    T = x.shape[0]
    H, KV, hd = c["n_heads"], c["n_kv"], c["head_dim"]
    cos, sin = cos_sin(c, positions)
    x = x.clone()
    new_kv = []
    for l, L in enumerate(m.layers):
        wq, wv = (L["wq"], L["wv"]) if qv is None else qv[l]
        h = rmsnorm(x, L["attn_norm"], c["eps"])
        q, k, v = h @ wq.T, h @ L["wk"].T, h @ wv.T
        if L["bq"] is not None:
            q, k, v = q + L["bq"], k + L["bk"], v + L["bv"]
        q = rope(q.view(T, H, hd), cos, sin, c["rope"])
        k = rope(k.view(T, KV, hd), cos, sin, c["rope"]).reshape(T, KV * hd)
        new_kv.append((k, v))
        K = k if past is None else torch.cat([past[l][0], k], 0)
        V = v if past is None else torch.cat([past[l][1], v], 0)
        S = K.shape[0]
        Kh = K.view(S, KV, hd).repeat_interleave(H // KV, dim=1)  # grouped-query sharing
        Vh = V.view(S, KV, hd).repeat_interleave(H // KV, dim=1)
        scores = torch.einsum("thd,shd->hts", q, Kh) / math.sqrt(hd)
        scores = scores.masked_fill(~allowed[None, :, :], float("-inf"))
        att = torch.einsum("hts,shd->thd", torch.softmax(scores, -1), Vh).reshape(T, H * hd)
        x = x + att @ L["wo"].T
        h = rmsnorm(x, L["ffn_norm"], c["eps"])
        g = h @ L["w1"].T
        x = x + (g * torch.sigmoid(g) * (h @ L["w3"].T)) @ L["w2"].T
    return x, new_kv


def logits(m, hidden):
    return rmsnorm(hidden, m.final_norm, m.cfg["eps"]) @ m.out.T
