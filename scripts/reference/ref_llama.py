#!/usr/bin/python3
"""Independent PyTorch reference of the Hugging Face Llama / Qwen2 forward pass, for the exactness tests.

Written from the transformers semantics (LlamaForCausalLM / Qwen2ForCausalLM, eager attention), not from sac4j:
  RMSNorm in f32: x * rsqrt(mean(x^2) + eps) * w
  RoPE: rotate_half (pairs x[i], x[i + d/2]); inv_freq = 1 / theta^(arange(0, d, 2) / d) in f32; angle = f32(pos *
        inv_freq); rope_scaling "llama3" as _compute_llama3_parameters
  attention: q/k/v projections (+ biases for qwen2), GQA by repeat_kv, softmax(q k^T / sqrt(head_dim) + mask) v
  MLP: down(silu(gate(x)) * up(x)); final norm; lm_head, or the embedding table when tied.
Weights stored as BF16/F16 are widened to f32 exactly; all arithmetic is f32 (an f64 run of the same inputs is
reported as the noise floor).

For every model directory written by make_models.py it writes src/test/resources/fixtures/reference/<name>.json:
  {"model", "generator", "f32_vs_f64_max_abs_diff",
   "runs": [{"name", "cache": "new" | <earlier run whose cache this run continues>, "mask": "causal" | "blocks",
             "block": n, "tokens", "positions", "rows": [row indices stored], "logits": [[vocab floats] per stored row]}]}
Runs: "prefill" (40 tokens at positions 0..39), "continue" (3 tokens at 40..42 over the prefill cache), "positions"
(the 40 tokens at positions 1000 + i*i: large and unevenly spaced, so absolute positions matter) and "blocks" (12
tokens, bidirectional attention inside blocks of 5/5/2, built as an explicit boolean mask).

ref_gguf.py reuses this model for the GGUF variants.

Usage: /usr/bin/python3 scripts/reference/ref_llama.py   (from anywhere; needs torch and numpy)
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIX = os.path.join(ROOT, "src", "test", "resources", "fixtures")
MODELS = os.path.join(FIX, "models")
OUT = os.path.join(FIX, "reference")

STORED_ROWS_40 = [0, 1, 2, 13, 26, 38, 39]  # which rows of a 40-row run go into the fixture (size limit)


# ---------------------------------------------------------------------------------------------------------------
# model


class Model:
    def __init__(self, cfg: dict, w: dict, dtype=torch.float32):
        self.cfg = cfg
        self.dtype = dtype
        self.w = {k: v.to(dtype) for k, v in w.items()}
        self.dim = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.head_dim = cfg.get("head_dim") or self.dim // self.heads
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg["rms_norm_eps"]
        self.tied = cfg.get("tie_word_embeddings", False)
        self.inv_freq = self._inv_freq()

    def _inv_freq(self):
        d, theta = self.head_dim, float(self.cfg.get("rope_theta", 10000.0))
        inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).to(self.dtype) / d))
        s = self.cfg.get("rope_scaling")
        if s is None:
            return inv
        assert s.get("rope_type", s.get("type")) == "llama3", s
        factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old = s["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        # long wavelengths: divided by factor; short: kept; in between: interpolated
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled)

    def rms_norm(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * w

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def new_cache(self):
        empty = torch.zeros(self.kv_heads, 0, self.head_dim, dtype=self.dtype)
        return [[empty, empty] for _ in range(self.layers)]

    def forward(self, tokens, positions, cache, allowed):
        """tokens/positions: n ints; cache: per layer [K, V] ([kv_heads, len, head_dim], post-RoPE), extended in
        place; allowed: bool [n, len + n], True where new row r may attend to cache row j. Returns [n, vocab]."""
        w, n, hd = self.w, len(tokens), self.head_dim
        x = w["model.embed_tokens.weight"][torch.tensor(tokens)]
        pos = torch.tensor(positions, dtype=self.dtype)
        freqs = pos[:, None] * self.inv_freq[None, :]  # [n, hd/2], one rounding as in HF's outer product
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None], emb.sin()[None]  # [1, n, hd]
        bias = torch.zeros(allowed.shape, dtype=self.dtype).masked_fill(~allowed, float("-inf"))
        for l in range(self.layers):
            p = f"model.layers.{l}."
            h = self.rms_norm(x, w[p + "input_layernorm.weight"])

            def proj(name, heads):
                y = h @ w[p + f"self_attn.{name}_proj.weight"].T
                if p + f"self_attn.{name}_proj.bias" in w:
                    y = y + w[p + f"self_attn.{name}_proj.bias"]
                return y.view(n, heads, hd).transpose(0, 1)  # [heads, n, hd]

            q, k, v = proj("q", self.heads), proj("k", self.kv_heads), proj("v", self.kv_heads)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            cache[l][0] = torch.cat((cache[l][0], k), dim=1)
            cache[l][1] = torch.cat((cache[l][1], v), dim=1)
            rep = self.heads // self.kv_heads  # repeat_kv: query head i uses kv head i // rep
            K = cache[l][0].repeat_interleave(rep, dim=0)
            V = cache[l][1].repeat_interleave(rep, dim=0)
            scores = q @ K.transpose(1, 2) / math.sqrt(hd) + bias
            att = torch.softmax(scores, dim=-1) @ V  # [heads, n, hd]
            att = att.transpose(0, 1).reshape(n, self.heads * hd)
            x = x + att @ w[p + "self_attn.o_proj.weight"].T
            h = self.rms_norm(x, w[p + "post_attention_layernorm.weight"])
            gate = h @ w[p + "mlp.gate_proj.weight"].T
            up = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        x = self.rms_norm(x, w["model.norm.weight"])
        head = w["model.embed_tokens.weight"] if self.tied else w["lm_head.weight"]
        return x @ head.T


def causal(start, n):
    """New row r (cache row start + r) sees cache rows 0 .. start + r."""
    j = torch.arange(start + n)[None, :]
    r = torch.arange(n)[:, None]
    return j <= start + r


def blocks(n, size):
    """Row r sees exactly the rows of its own block (fresh cache)."""
    b = torch.arange(n) // size
    return b[:, None] == b[None, :]


# ---------------------------------------------------------------------------------------------------------------
# runs

def inputs():
    g = torch.Generator().manual_seed(1234)
    tokens = torch.randint(3, 512, (43,), generator=g).tolist()
    return tokens[:40], tokens[40:]


def run_all(model):
    """The four runs of a model: list of (name, cache, mask, block, tokens, positions, logits [n, vocab])."""
    prompt, more = inputs()
    runs = []
    cache = model.new_cache()
    pos = list(range(40))
    runs.append(("prefill", "new", "causal", 0, prompt, pos, model.forward(prompt, pos, cache, causal(0, 40))))
    pos = list(range(40, 43))
    runs.append(("continue", "prefill", "causal", 0, more, pos, model.forward(more, pos, cache, causal(40, 3))))
    pos = [1000 + i * i for i in range(40)]
    runs.append(("positions", "new", "causal", 0, prompt, pos,
                 model.forward(prompt, pos, model.new_cache(), causal(0, 40))))
    pos = list(range(12))
    runs.append(("blocks", "new", "blocks", 5, prompt[:12], pos,
                 model.forward(prompt[:12], pos, model.new_cache(), blocks(12, 5))))
    return runs


def to_json(name, generator_note, runs, noise):
    out = {"model": name, "generator": "scripts/reference/ref_llama.py" + generator_note,
           "f32_vs_f64_max_abs_diff": float("%.3g" % noise), "runs": []}
    for rname, cache, mask, block, tokens, positions, logits in runs:
        rows = STORED_ROWS_40 if len(tokens) == 40 else list(range(len(tokens)))
        r = {"name": rname, "cache": cache, "mask": mask}
        if mask == "blocks":
            r["block"] = block
        r.update({"tokens": tokens, "positions": positions, "rows": rows,
                  "logits": [[round(float(v), 6) for v in logits[i]] for i in rows]})
        out["runs"].append(r)
    return out


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        # one row of logits per line keeps the file diffable
        f.write("{\n")
        items = list(obj.items())
        for i, (k, v) in enumerate(items):
            sep = "," if i < len(items) - 1 else ""
            if k != "runs":
                f.write(f"  {json.dumps(k)}: {json.dumps(v)}{sep}\n")
                continue
            f.write('  "runs": [\n')
            for j, run in enumerate(v):
                f.write("    {\n")
                ritems = list(run.items())
                for m, (rk, rv) in enumerate(ritems):
                    rsep = "," if m < len(ritems) - 1 else ""
                    if rk == "logits":
                        f.write('      "logits": [\n')
                        f.write(",\n".join("        " + json.dumps(row, separators=(",", ":")) for row in rv))
                        f.write(f"\n      ]{rsep}\n")
                    else:
                        f.write(f"      {json.dumps(rk)}: {json.dumps(rv, separators=(',', ':'))}{rsep}\n")
                f.write("    }" + ("," if j < len(v) - 1 else "") + "\n")
            f.write(f"  ]{sep}\n")
        f.write("}\n")
    json.load(open(path))  # must parse back


def reference(name, cfg, weights, note=""):
    runs = run_all(Model(cfg, weights))
    runs64 = run_all(Model(cfg, weights, torch.float64))
    noise = max((a[6].double() - b[6]).abs().max().item() for a, b in zip(runs, runs64))
    obj = to_json(name, note, runs, noise)
    path = os.path.join(OUT, name + ".json")
    write_json(path, obj)
    spread = runs[0][6].std().item()
    print(f"{name}: logits std {spread:.3f}, f32 vs f64 max diff {noise:.2e}, {os.path.getsize(path)} bytes")
    return runs


def load_hf(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    return cfg, safetensors_io.read(os.path.join(d, "model.safetensors"))


def main():
    for name in sorted(os.listdir(MODELS)):
        d = os.path.join(MODELS, name)
        if os.path.isfile(os.path.join(d, "config.json")):
            cfg, w = load_hf(d)
            reference(name, cfg, w)


if __name__ == "__main__":
    main()
