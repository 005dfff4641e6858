#!/usr/bin/python3
"""PyTorch CPU as a peer in sac4j's benchmarks: the Llama forward pass (Hugging Face semantics, as
scripts/reference/ref_llama.py computes it) on a model directory written by `sac synth`, measured as sac4j's
ForwardBench measures itself:

  prefill  P prompt tokens (i * 7919 + 13) % vocab at positions 0..P-1 in one call, logits of the last row only;
  decode   D single tokens right after that prompt, each computing its logits and taking the greedy next token.

Not ref_llama.Model itself: that is a correctness reference (logits of every row, a cache grown by concatenation),
which would charge torch for work sac4j does not do. This model does the same arithmetic in the same order with a
preallocated KV cache and last-row logits; --check compares it with ref_llama.Model on the same weights first.

usage: torch_bench.py MODEL_DIR [--dtype f32|bf16] [--device cpu|cuda] [--attention manual|sdpa] [--threads 2]
                      [--prompt 512] [--decode 64] [--reps 3] [--warmup 1] [--check] [--greedy K]
                      [--sac-context N [--compress-ratio 15] [--ask-ratios 1,5,15,51] [--question 16]]
With --greedy K it also reports the greedy next token after each of the prompts made of the first 8, 16, ..., 8K
pattern tokens, the prompt's last token excluded (the other engines report the same; random tied-embedding models
mostly echo their input, so the runner-up is what depends on the layers).
With --sac-context N it measures the SAC work instead (training-free SAC, no adapter), as SacBench.java does, on
context ids [BOS] + pattern tokens 1..N-1 and a question of Q pattern tokens N..N+Q-1:
  compress  chunks of 510 ids, each in one call with full attention inside it (none across), global 1-indexed
            positions, then a gather of every layer's post-RoPE K and V at the anchor rows (off, off+r, ... with
            off = (r-1)//2) at --compress-ratio r (0 skips it): N / the median time = tokens/s;
  ask       time to the first answer token of the question over the context held in full (ratio 1: the N ids
            causally at 0..N-1 in the preallocated cache, the question at N..) or compressed at each other ratio
            (the anchor rows in the cache, the question at N+1..); building the context is not timed.
  --check then compares compression and the first answer logits with scripts/reference/ref_sac.py (float64).
--check runs this model in f32 on --device with --attention, so on a GPU it checks the very code it times.
--device cuda runs it on the GPU (scripts/gpu/run_all.sh's e2e stage: the PyTorch reference pipeline as the peer
of sac4j's CUDA backend); every timing then ends with a synchronisation (the first answer token's argmax read
back, or torch.cuda.synchronize()). --attention sdpa (the default on cuda) computes the same attention with
torch.nn.functional.scaled_dot_product_attention and its grouped-query support instead of the explicit
softmax(QK^T)V, the faster choice on a GPU; torch before 2.5 lacks it.
Prints one JSON object on stdout. Set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS to the same thread count (peers.sh
does) so that neither pool oversubscribes the cores.
"""
import argparse
import json
import math
import mmap
import os
import statistics
import struct
import sys
import time

sys.dont_write_bytecode = True
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
CHUNK = 510  # SAC's chunk: tokens compressed together
ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def load_safetensors(path):
    """{name: tensor} backed by a private (copy-on-write) mapping of the file: no copy until a tensor is converted."""
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    n = struct.unpack_from("<Q", mm, 0)[0]
    header = json.loads(bytes(mm[8:8 + n]))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = ST_DTYPES[info["dtype"]]
        count = math.prod(info["shape"])
        t = torch.frombuffer(mm, dtype=dt, count=count, offset=base + a) if count else torch.empty(0, dtype=dt)
        out[name] = t.view(info["shape"])
    return out


def anchors_in_chunk(length, ratio):
    """Local anchor rows of a chunk: off, off + r, ... < length with off = (r - 1) // 2; row 0 alone when the chunk
    is not longer than off."""
    off = (ratio - 1) // 2
    return [0] if length <= off else list(range(off, length, ratio))


class BenchLlama:
    """HF Llama forward (RMSNorm, rotate-half RoPE, GQA, SwiGLU) over a preallocated KV cache, in `dtype`."""

    def __init__(self, cfg, w, dtype, capacity, device="cpu", sdpa=False):
        self.dtype, self.device, self.sdpa = dtype, torch.device(device), sdpa
        self.w = {k: v.to(device=self.device, dtype=dtype) for k, v in w.items()}  # no copy when already there
        self.dim = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.hd = cfg.get("head_dim") or self.dim // self.heads
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg["rms_norm_eps"]
        self.head = self.w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else self.w["lm_head.weight"]
        theta = float(cfg.get("rope_theta", 10000.0))
        assert cfg.get("rope_scaling") is None, "rope_scaling is not implemented in the benchmark model"
        # RoPE angles in f32 whatever the weights (as transformers does), cos/sin then cast
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        self.inv_freq = self.inv_freq.to(self.device)
        self.k = torch.zeros(self.layers, self.kv_heads, capacity, self.hd, dtype=dtype, device=self.device)
        self.v = torch.zeros_like(self.k)
        self.length = 0

    def reset(self):
        self.length = 0

    def sync(self):
        """Waits for the queued GPU work (timings must include it); nothing to wait for on the CPU."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def rms_norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def forward(self, tokens, positions, causal=True, logits=True):
        """Runs tokens at positions after the cached rows, causally (or, with causal=False, every new row sees every
        row); returns the last row's logits (None with logits=False)."""
        w, n, hd, start = self.w, len(tokens), self.hd, self.length
        x = w["model.embed_tokens.weight"][torch.tensor(tokens, device=self.device)]
        freqs = torch.tensor(positions, dtype=torch.float32, device=self.device)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None].to(self.dtype), emb.sin()[None].to(self.dtype)
        end = start + n
        mask = None
        if n > 1 and causal:  # row r sees cache rows 0 .. start + r
            mask = torch.full((n, end), float("-inf"), dtype=self.dtype, device=self.device).triu(start + 1)
            if self.sdpa:
                mask = mask == 0  # SDPA's boolean form: True = attend
        rep = self.heads // self.kv_heads
        for l in range(self.layers):
            p = f"model.layers.{l}."
            h = self.rms_norm(x, w[p + "input_layernorm.weight"])
            q = torch.nn.functional.linear(h, w[p + "self_attn.q_proj.weight"]).view(n, self.heads, hd).transpose(0, 1)
            k = torch.nn.functional.linear(h, w[p + "self_attn.k_proj.weight"]).view(n, self.kv_heads, hd).transpose(0, 1)
            v = torch.nn.functional.linear(h, w[p + "self_attn.v_proj.weight"]).view(n, self.kv_heads, hd).transpose(0, 1)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            self.k[l, :, start:end] = k
            self.v[l, :, start:end] = v
            if self.sdpa:
                att = torch.nn.functional.scaled_dot_product_attention(
                    q[None], self.k[l, :, :end][None], self.v[l, :, :end][None], attn_mask=mask, enable_gqa=True)[0]
            else:
                # grouped-query attention without copying K/V: query heads of one kv head share its rows
                qg = q.reshape(self.kv_heads, rep * n, hd)
                scores = (qg @ self.k[l, :, :end].transpose(1, 2)).view(self.kv_heads, rep, n, end) / math.sqrt(hd)
                if mask is not None:
                    scores = scores + mask
                att = (torch.softmax(scores, dim=-1).view(self.kv_heads, rep * n, end) @ self.v[l, :, :end])
            att = att.view(self.heads, n, hd).transpose(0, 1).reshape(n, self.heads * hd)
            x = x + torch.nn.functional.linear(att, w[p + "self_attn.o_proj.weight"])
            h = self.rms_norm(x, w[p + "post_attention_layernorm.weight"])
            gate = torch.nn.functional.linear(h, w[p + "mlp.gate_proj.weight"])
            up = torch.nn.functional.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, w[p + "mlp.down_proj.weight"])
        self.length = end
        if not logits:
            return None
        last = self.rms_norm(x[-1:], w["model.norm.weight"])
        return torch.nn.functional.linear(last, self.head)[0]

    # ---- SAC (training-free: base weights, no adapter; SAC.md "Compression" and "Answering")

    def compress(self, ids, ratio):
        """K and V [layers, kv_heads, anchors, hd] of the anchor rows: each chunk of CHUNK ids runs alone (full
        bidirectional attention inside it, none across) at global 1-indexed positions; the cache is scratch."""
        ks, vs = [], []
        for s in range(0, len(ids), CHUNK):
            e = min(s + CHUNK, len(ids))
            self.reset()
            self.forward(ids[s:e], list(range(s + 1, e + 1)), causal=False, logits=False)
            rows = torch.tensor(anchors_in_chunk(e - s, ratio), device=self.device)
            ks.append(self.k[:, :, rows])
            vs.append(self.v[:, :, rows])
        return torch.cat(ks, 2), torch.cat(vs, 2)

    def hold(self, k, v):
        """Makes compressed rows the cache's prefix (the question then attends all of them, causally itself)."""
        rows = k.shape[2]
        self.k[:, :, :rows] = k
        self.v[:, :, :rows] = v
        self.length = rows

    def prefill(self, ids, rows=512):
        """The full-context baseline: ids causally at positions 0.., in calls of `rows` (as sac4j's fullContext)."""
        self.reset()
        for s in range(0, len(ids), rows):
            e = min(s + rows, len(ids))
            self.forward(ids[s:e], list(range(s, e)), logits=False)


def check(cfg, weights, device="cpu", sdpa=False):
    """This model (f32, on `device`) against ref_llama.Model (f32, CPU) on a short prompt and two decode steps;
    returns the max |diff|."""
    sys.path.insert(0, os.path.join(HERE, "..", "reference"))
    import ref_llama  # noqa: E402
    f32 = {k: v.float() for k, v in weights.items()}
    ref = ref_llama.Model(cfg, f32)
    mine = BenchLlama(cfg, f32, torch.float32, 32, device, sdpa)
    tokens = [(i * 7919 + 13) % cfg["vocab_size"] for i in range(18)]
    cache = ref.new_cache()
    want = [ref.forward(tokens[:16], list(range(16)), cache, ref_llama.causal(0, 16))[-1]]
    for i in (16, 17):
        want.append(ref.forward([tokens[i]], [i], cache, ref_llama.causal(i, 1))[-1])
    got = [mine.forward(tokens[:16], list(range(16)))] + [mine.forward([tokens[i]], [i]) for i in (16, 17)]
    return max((a - b.cpu()).abs().max().item() for a, b in zip(want, got))


def sac_ids(cfg, n, question):
    """Context ids ([BOS] + pattern tokens 1..n-1) and question ids (pattern tokens n..n+question-1)."""
    vocab = cfg["vocab_size"]
    ids = [(i * 7919 + 13) % vocab for i in range(n)]
    bos = cfg.get("bos_token_id")
    if isinstance(bos, int) and bos >= 0:
        ids[0] = bos
    return ids, [((n + j) * 7919 + 13) % vocab for j in range(question)]


def check_sac(model_dir, cfg, weights, n=600, question=16, ratio=15, device="cpu", sdpa=False):
    """Compression at `ratio` (anchor K/V) and the first answer logits over it and over the full context, this
    model in f32 on `device` against scripts/reference/ref_sac.py (float64, written from SAC.md, on the CPU) on n
    context ids; returns the max |diff|."""
    sys.path.insert(0, os.path.join(HERE, "..", "reference"))
    import ref_sac  # noqa: E402
    import sac_model as sm  # noqa: E402
    ref = sm.load_hf(model_dir, os.path.basename(model_dir))
    ids, q = sac_ids(cfg, n, question)
    mine = BenchLlama(cfg, {k: v.float() for k, v in weights.items()}, torch.float32, n + question, device, sdpa)
    comp = ref_sac.compress(ref, ids, ref_sac.uniform_anchors(n, ratio), None)  # per layer (K, V) [A, kv_heads * hd]
    k, v = mine.compress(ids, ratio)
    layers, kv_heads, rows, hd = k.shape
    flat = lambda t: t.permute(0, 2, 1, 3).reshape(layers, rows, kv_heads * hd).double().cpu()  # noqa: E731
    diffs = [(flat(k)[l] - comp[l][0]).abs().max().item() for l in range(layers)]
    diffs += [(flat(v)[l] - comp[l][1]).abs().max().item() for l in range(layers)]
    T = len(q)
    # the question over the anchors (positions n+1..), then over the full context (positions n..)
    allowed = torch.cat([torch.ones(T, rows, dtype=torch.bool), torch.ones(T, T, dtype=torch.bool).tril()], 1)
    h, _ = sm.forward(ref, ref.emb[q], list(range(n + 1, n + 1 + T)), comp, allowed)
    mine.hold(k, v)
    diffs.append((mine.forward(q, list(range(n + 1, n + 1 + T))).double().cpu() - sm.logits(ref, h[-1:])[0]).abs().max().item())
    _, past = sm.forward(ref, ref.emb[ids], list(range(n)), None, torch.ones(n, n, dtype=torch.bool).tril())
    allowed = torch.cat([torch.ones(T, n, dtype=torch.bool), torch.ones(T, T, dtype=torch.bool).tril()], 1)
    h, _ = sm.forward(ref, ref.emb[q], list(range(n, n + T)), past, allowed)
    mine.prefill(ids)
    diffs.append((mine.forward(q, list(range(n, n + T))).double().cpu() - sm.logits(ref, h[-1:])[0]).abs().max().item())
    return max(diffs)


def sac_work(a, cfg, weights, out):
    """The SAC work of the module docstring; adds its results to `out`."""
    n = a.sac_context
    ids, q = sac_ids(cfg, n, a.question)
    ratios = [int(r) for r in a.ask_ratios.split(",") if r]
    model = BenchLlama(cfg, weights, DTYPES[a.dtype], max(n, CHUNK) + a.question, a.device, a.attention == "sdpa")
    compress, ask, rows, greedy = [], {}, {}, {}
    with torch.inference_mode():
        kept = None
        if a.compress_ratio > 0:
            for rep in range(-a.warmup, a.reps):
                t0 = time.perf_counter()
                kept = model.compress(ids, a.compress_ratio)
                model.sync()
                s = time.perf_counter() - t0
                if rep >= 0:
                    compress.append(s)
        for r in ratios:
            if r == 1:
                model.prefill(ids)
                first = n  # 0-indexed positions: the question follows the context
            else:
                # the compress runs above already made the rows of their ratio (the encoder is deterministic)
                k, v = kept if r == a.compress_ratio and kept is not None else model.compress(ids, r)
                model.hold(k, v)
                first = n + 1  # training-free SAC: no [LM] at n, the question starts at n + 1
            held, times = model.length, []
            for rep in range(-a.warmup, a.reps):
                model.length = held
                t0 = time.perf_counter()
                logits = model.forward(q, list(range(first, first + len(q))))
                int(torch.argmax(logits))  # the first answer token
                s = time.perf_counter() - t0
                if rep >= 0:
                    times.append(s)
                if rep == -a.warmup:
                    lf = logits.float()
                    lf[q[-1]] = float("-inf")
                    greedy[str(r)] = int(torch.argmax(lf))
            ask[str(r)], rows[str(r)] = times, held
    out.update({"work": "sac", "context_tokens": n, "question_tokens": a.question, "bos": ids[0], "reps": a.reps,
                "compress_ratio": a.compress_ratio, "compress_seconds": compress,
                "compress_tokens_per_second": n / statistics.median(compress) if compress else None,
                "ask_seconds": ask, "ask_ms": {r: 1e3 * statistics.median(t) for r, t in ask.items()},
                "ask_rows": rows, "ask_greedy": greedy})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--attention", choices=["manual", "sdpa"], help="default: sdpa on cuda, manual on cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--sac-context", type=int, default=0, help="measure the SAC work on this many context tokens")
    ap.add_argument("--compress-ratio", type=int, default=15)
    ap.add_argument("--ask-ratios", default="1,5,15,51", help="1 = the full context")
    ap.add_argument("--question", type=int, default=16)
    ap.add_argument("--check", action="store_true",
                    help="first compare with ref_llama.Model (with --sac-context: ref_sac.py) (f32; small models)")
    a = ap.parse_args()
    a.attention = a.attention or ("sdpa" if a.device == "cuda" else "manual")
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = load_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    out = {"engine": "pytorch", "version": torch.__version__, "model": a.model_dir, "dtype": a.dtype,
           "threads": torch.get_num_threads(), "device": a.device, "attention": a.attention}
    if a.device == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
    if a.sac_context > 0:
        if a.check:
            out["check_max_abs_diff_vs_ref_sac"] = check_sac(a.model_dir, cfg, weights, device=a.device,
                                                             sdpa=a.attention == "sdpa")
            if not out["check_max_abs_diff_vs_ref_sac"] < 1e-3:
                print(json.dumps(out))
                sys.exit("torch_bench: the benchmark model's SAC disagrees with ref_sac.py")
        sac_work(a, cfg, weights, out)
        print(json.dumps(out))
        return
    if a.check:
        out["check_max_abs_diff_vs_ref_llama"] = check(cfg, weights, a.device, a.attention == "sdpa")
        if not out["check_max_abs_diff_vs_ref_llama"] < 1e-3:
            print(json.dumps(out))
            sys.exit("torch_bench: the benchmark model disagrees with ref_llama.Model")
    model = BenchLlama(cfg, weights, DTYPES[a.dtype], max(a.prompt + a.decode, 8 * a.greedy), a.device,
                       a.attention == "sdpa")
    pattern = [(i * 7919 + 13) % cfg["vocab_size"] for i in range(max(a.prompt, 8 * a.greedy))]
    prompt = pattern[:a.prompt]
    prefill, decode, greedy = [], [], []
    with torch.inference_mode():
        for k in range(1, a.greedy + 1):
            model.reset()
            logits = model.forward(pattern[:8 * k], list(range(8 * k))).float()
            logits[pattern[8 * k - 1]] = float("-inf")
            greedy.append(int(torch.argmax(logits)))
        for rep in range(-a.warmup, a.reps):
            model.reset()
            t0 = time.perf_counter()
            logits = model.forward(prompt, list(range(a.prompt)))
            model.sync()
            p = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(a.decode):
                token = int(torch.argmax(logits))
                logits = model.forward([token], [a.prompt + i])
            model.sync()
            d = time.perf_counter() - t0
            if rep >= 0:
                prefill.append(p)
                decode.append(d)
    out.update({"prompt_tokens": a.prompt, "decode_tokens": a.decode, "reps": a.reps, "prefill_seconds": prefill,
                "decode_seconds": decode,
                "prefill_tokens_per_second": a.prompt / statistics.median(prefill),
                "decode_tokens_per_second": a.decode / statistics.median(decode) if a.decode else None,
                "greedy": greedy, "blas": torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
