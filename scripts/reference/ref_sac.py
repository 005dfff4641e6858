#!/usr/bin/python3
"""Independent reference for Semantic-Anchor Compression (docs: /work/shared/docs/SAC.md, section by section).

Writes src/test/resources/fixtures/sac/<model>.json and the random adapters under .../sac/adapters/ that they use.
Written from SAC.md, not from the Java code; the forward pass is sac_model.py (float64 torch).

The method, as computed here:
- context ids (n of them, [BOS] first) are cut into chunks of 510; chunk k covers [510k, min(510(k+1), n)).
- anchors of a chunk of length L: local indices off, off+r, ... < L with off = (r-1)//2; a single anchor at 0
  when L <= off.
- encoder = base model with each layer's LoRA merged, W' = W + 2 (A @ B)^T for q_proj and v_proj; input = the
  chunk's token embeddings, role_tokens[m] added to the m-th anchor of the chunk; positions global and 1-indexed
  (index g -> position g + 1); full bidirectional attention inside the chunk, none across chunks.
- the compressed context = every layer's post-RoPE K and V at the anchor rows, all chunks in order.
- decoder = the base model: special_tokens[1] ([LM]) as an input embedding at position n, then the question ids at
  n+1, n+2, ...; new rows attend every compressed row and, causally, each other; greedy argmax until EOS.
Training-free mode (no adapter): base weights in the encoder, no role tokens, no [LM]; the question starts at
position n+1. Ablations (with the adapter): a causal encoder (causal inside each chunk), no anchor embedding (no role
tokens), random anchors (same count per chunk, drawn by the generator described at `random_anchors`).
Baselines (no compression, base model, ordinary 0-indexed positions, causal): "full" keeps the whole context,
"first"/"last" keep the anchor budget B of the ratio: ids[:B], or [BOS] + the last B-1 ids; the question follows.

Fixture layout (one JSON per model): weights_sha256 of the model file it was made from, context_ids (a case with
n uses the first n), question_ids, eos ids, and cases; float arrays are base64 of little-endian float32 (the float64 results rounded once). Per case:
  anchors: global indices of the anchor rows; kv_rows: which anchors' K/V are stored (first 2 and last 2);
  kv: [len(kv_rows)][layers][2 (K, V)][kvDim]; kv_sums: per layer [sum K, sum V, sum |K|, sum |V|] over ALL anchors;
  logits: [steps][vocab] of the first `logit_steps` decoding steps; answer_ids: greedy ids (EOS excluded), at most
  max_new_tokens of them; stop: "eos" or "max".

Usage: /usr/bin/python3 scripts/reference/ref_sac.py   (from anywhere; needs torch and numpy)
"""
import base64
import collections
import hashlib
import json
import os
import random
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sac_model as sm  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "sac")
ADAPTERS = os.path.join(OUT, "adapters")
BUNDLED = os.path.join(ROOT, "src", "main", "resources", "io", "sac4j", "models", "aidreams260K.bin")
HF_MODELS = os.path.join(ROOT, "src", "test", "resources", "fixtures", "models")

CHUNK = 510
RATIOS = [5, 15, 51]
RANK = 8
MAX_NEW = 12
LOGIT_STEPS = 3
LONG = 2100  # 4 full chunks + a partial one of 60
QUESTION_LEN = 9
RANDOM_SEED = 1234


# ---------------------------------------------------------------- anchors

def anchors_in_chunk(L, r):
    off = (r - 1) // 2
    return [0] if L <= off else list(range(off, L, r))


def chunks(n):
    return [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]


def uniform_anchors(n, r):
    return [[s + a for a in anchors_in_chunk(e - s, r)] for s, e in chunks(n)]


class SplitMix64:
    """splitmix64 (Steele, Lea, Flood 2014): state += 0x9E3779B97F4A7C15, then the xor-shift-multiply finalizer."""

    M = (1 << 64) - 1

    def __init__(self, seed):
        self.s = seed & self.M

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & self.M
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M
        return z ^ (z >> 31)


def random_anchors(n, r, seed):
    """Per chunk (in order, one generator for the whole context): as many anchors as the uniform choice, picked by a
    partial Fisher-Yates shuffle of the local indices 0..L-1 (step i swaps i with i + next() mod (L - i), next()
    read as an unsigned 64-bit integer), then sorted ascending."""
    g = SplitMix64(seed)
    out = []
    for s, e in chunks(n):
        L = e - s
        count = len(anchors_in_chunk(L, r))
        idx = list(range(L))
        for i in range(count):
            j = i + g.next() % (L - i)
            idx[i], idx[j] = idx[j], idx[i]
        out.append([s + a for a in sorted(idx[:count])])
    return out


# ---------------------------------------------------------------- adapter

def make_adapter(m, ratio, seed):
    """A random SAC adapter for model m: keys and shapes as SAC.md; mem_size = anchors in a full chunk."""
    g = torch.Generator().manual_seed(seed)
    c = m.cfg
    dim, q_out, v_out = c["dim"], c["n_heads"] * c["head_dim"], c["n_kv"] * c["head_dim"]
    mem = len(anchors_in_chunk(CHUNK, ratio))
    emb_std = float(m.emb.std())
    t = collections.OrderedDict()
    t["role_tokens"] = torch.randn(mem, dim, generator=g) * emb_std
    t["special_tokens"] = torch.randn(2, dim, generator=g) * emb_std
    for l, L in enumerate(m.layers):
        for proj, w, out in (("q_proj", L["wq"], q_out), ("v_proj", L["wv"], v_out)):
            # 2 A@B gets about half the spread of W itself: large enough to move every output visibly
            s = 0.25 * float(w.std()) * (dim / RANK) ** 0.5
            p = f"model.model.layers.{l}.self_attn.{proj}."
            t[p + "lora_A"] = torch.randn(dim, RANK, generator=g) / dim ** 0.5
            t[p + "lora_B"] = torch.randn(RANK, out, generator=g) * s
    return collections.OrderedDict((k, v.to(torch.bfloat16)) for k, v in t.items())


def merged_qv(m, adapter):
    out = []
    for l, L in enumerate(m.layers):
        p = f"model.model.layers.{l}.self_attn."
        ab = lambda proj: adapter[p + proj + ".lora_A"].to(sm.D) @ adapter[p + proj + ".lora_B"].to(sm.D)
        out.append((L["wq"] + 2 * ab("q_proj").T, L["wv"] + 2 * ab("v_proj").T))
    return out


# ---------------------------------------------------------------- compression and answering

def compress(m, ids, anchor_lists, adapter, causal=False, role=True):
    """Per layer (K [A, kvDim], V [A, kvDim]) of the anchors, chunks compressed independently."""
    qv = merged_qv(m, adapter) if adapter is not None else None
    ks = [[] for _ in m.layers]
    vs = [[] for _ in m.layers]
    for (s, e), anchors in zip(chunks(len(ids)), anchor_lists):
        x = m.emb[ids[s:e]].clone()
        local = [a - s for a in anchors]
        if adapter is not None and role:
            roles = adapter["role_tokens"].to(sm.D)
            for i, a in enumerate(local):
                x[a] += roles[i]
        T = e - s
        allowed = torch.ones(T, T, dtype=torch.bool)
        if causal:
            allowed = allowed.tril()
        _, kv = sm.forward(m, x, [g + 1 for g in range(s, e)], None, allowed, qv)
        for l, (k, v) in enumerate(kv):
            ks[l].append(k[local])
            vs[l].append(v[local])
    return [(torch.cat(k), torch.cat(v)) for k, v in zip(ks, vs)]


def generate(m, past, first_x, first_pos, eos):
    """Greedy decoding over `past` rows: the rows first_x at first_pos, then one token at a time."""
    P = past[0][0].shape[0] if past is not None else 0
    T = first_x.shape[0]
    allowed = torch.cat([torch.ones(T, P, dtype=torch.bool), torch.ones(T, T, dtype=torch.bool).tril()], 1)
    h, kv = sm.forward(m, first_x, first_pos, past, allowed)
    past = kv if past is None else [(torch.cat([a, k]), torch.cat([b, v])) for (a, b), (k, v) in zip(past, kv)]
    pos = first_pos[-1]
    logits, ids, stop, margins = [], [], "max", []
    lg = sm.logits(m, h[-1:])[0]
    while True:
        if len(logits) < LOGIT_STEPS:
            logits.append(lg)
        top = torch.topk(lg, 2).values
        margins.append(float(top[0] - top[1]))
        nxt = int(torch.argmax(lg))
        if nxt in eos:
            stop = "eos"
            break
        ids.append(nxt)
        if len(ids) == MAX_NEW:
            break
        pos += 1
        S = past[0][0].shape[0]
        h, kv = sm.forward(m, m.emb[[nxt]], [pos], past, torch.ones(1, S + 1, dtype=torch.bool))
        past = [(torch.cat([a, k]), torch.cat([b, v])) for (a, b), (k, v) in zip(past, kv)]
        lg = sm.logits(m, h[-1:])[0]
    return torch.stack(logits), ids, stop, min(margins)


def answer_compressed(m, comp, n, question, adapter, eos):
    if adapter is not None:
        lm = adapter["special_tokens"][1].to(sm.D)[None, :]
        x = torch.cat([lm, m.emb[question]])
        pos = list(range(n, n + 1 + len(question)))
    else:
        x = m.emb[question]
        pos = list(range(n + 1, n + 1 + len(question)))
    return generate(m, comp, x, pos, eos)


def answer_plain(m, kept, question, eos):
    """Baselines: the kept context ids causally at 0..B-1, then the question."""
    allowed = torch.ones(len(kept), len(kept), dtype=torch.bool).tril()
    _, past = sm.forward(m, m.emb[kept], list(range(len(kept))), None, allowed)
    x = m.emb[question]
    return generate(m, past, x, list(range(len(kept), len(kept) + len(question))), eos)


# ---------------------------------------------------------------- fixture output

def b64(t):
    return base64.b64encode(np.ascontiguousarray(t.to(torch.float32).numpy()).astype("<f4").tobytes()).decode()


def kv_record(comp):
    A = comp[0][0].shape[0]
    rows = sorted(set(list(range(min(2, A))) + list(range(max(0, A - 2), A))))
    sel = torch.stack([torch.stack([torch.stack([k[i], v[i]]) for k, v in comp]) for i in rows])
    sums = [[float(k.sum()), float(v.sum()), float(k.abs().sum()), float(v.abs().sum())] for k, v in comp]
    return {"kv_rows": rows, "kv": b64(sel), "kv_sums": sums}


def case_lengths(r):
    off = (r - 1) // 2
    return sorted({1, off, off + 1, 509, 510, 511, 1020, 1021, LONG})


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_model(name, m, eos, source, weights_file, warn):
    rnd = random.Random(name)
    vocab = m.cfg["vocab"]
    # ordinary tokens only: not 0..2 (<unk>, <s>, </s> of llama2.c vocabularies), BOS or EOS
    special = {0, 1, 2, m.cfg["bos"]} | set(eos)
    ordinary = [t for t in range(vocab) if t not in special]
    context = [m.cfg["bos"]] + [rnd.choice(ordinary) for _ in range(LONG - 1)]
    question = [rnd.choice(ordinary) for _ in range(QUESTION_LEN)]
    os.makedirs(ADAPTERS, exist_ok=True)
    adapters = {}
    for i, r in enumerate(RATIOS):
        a = make_adapter(m, r, seed=1000 * (1 + i) + len(name))
        base = os.path.join(ADAPTERS, f"{name}-r{r}")
        torch.save(a, base + ".pt")
        safetensors_io.write(base + ".safetensors", a)
        adapters[r] = a
    cases = []

    def add(case, result):
        logits, ids, stop, margin = result
        if margin < 1e-3:
            warn.append(f"{name} {case['name']}: greedy top-2 margin {margin:.2e}")
        case.update({"logits": b64(logits), "answer_ids": ids, "stop": stop})
        cases.append(case)

    for r in RATIOS:
        for n in case_lengths(r):
            ids = context[:n]
            anchors = uniform_anchors(n, r)
            flat = [a for ch in anchors for a in ch]
            for mode in ("sac", "training_free"):
                adapter = adapters[r] if mode == "sac" else None
                comp = compress(m, ids, anchors, adapter)
                case = {"name": f"{mode}-r{r}-n{n}", "mode": mode, "ratio": r, "n": n,
                        "adapter": f"adapters/{name}-r{r}" if adapter is not None else None, "anchors": flat}
                case.update(kv_record(comp))
                add(case, answer_compressed(m, comp, n, question, adapter, eos))
    # ablations, with the adapter
    for mode, r, n in (("causal_encoder", 5, 1021), ("no_anchor_embedding", 5, 1021), ("random_anchors", 15, LONG)):
        ids = context[:n]
        anchors = random_anchors(n, r, RANDOM_SEED) if mode == "random_anchors" else uniform_anchors(n, r)
        comp = compress(m, ids, anchors, adapters[r], causal=mode == "causal_encoder",
                        role=mode != "no_anchor_embedding")
        case = {"name": f"{mode}-r{r}-n{n}", "mode": mode, "ratio": r, "n": n, "adapter": f"adapters/{name}-r{r}",
                "anchors": [a for ch in anchors for a in ch]}
        if mode == "random_anchors":
            case["seed"] = RANDOM_SEED
        case.update(kv_record(comp))
        add(case, answer_compressed(m, comp, n, question, adapters[r], eos))
    # baselines without compression
    for mode, r, n in (("full", 1, 600), ("first", 5, 1021), ("last", 15, LONG)):
        ids = context[:n]
        budget = sum(len(ch) for ch in uniform_anchors(n, r))
        kept = ids if mode == "full" else ids[:budget] if mode == "first" else ids[:1] + ids[n - budget + 1:]
        case = {"name": f"{mode}-r{r}-n{n}", "mode": mode, "ratio": r, "n": n, "adapter": None,
                "kept": len(kept)}
        add(case, answer_plain(m, kept, question, eos))

    fixture = {
        "model": name, "source": source, "weights_sha256": sha256(weights_file), "eos": eos, "chunk": CHUNK, "max_new_tokens": MAX_NEW,
        "logit_steps": LOGIT_STEPS, "layers": m.cfg["n_layers"], "kv_dim": m.cfg["n_kv"] * m.cfg["head_dim"],
        "vocab": vocab, "context_ids": context, "question_ids": question, "cases": cases,
    }
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"{name}: {len(cases)} cases, {os.path.getsize(path)} bytes")


def main():
    torch.manual_seed(0)
    warn = []
    # llama2.c models stop when BOS (1) comes out, as run.c does, or at </s> (2)
    run_model("aidreams260K", sm.load_llama2c(BUNDLED, "aidreams260K"), [1, 2], "bundled", BUNDLED, warn)
    for name in ("llama-gqa-untied", "qwen2-gqa-tied"):
        d = os.path.join(HF_MODELS, name)
        with open(os.path.join(d, "config.json")) as f:
            eos = json.load(f)["eos_token_id"]
        run_model(name, sm.load_hf(d, name), eos if isinstance(eos, list) else [eos], "fixtures/models/" + name,
                  os.path.join(d, "model.safetensors"), warn)
    for w in warn:
        print("warning:", w)


if __name__ == "__main__":
    main()
