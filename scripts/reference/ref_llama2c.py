#!/usr/bin/python3
"""Independent numpy port of Karpathy's llama2.c run.c (forward, greedy sampling, BPE encode, decode) for the
aidreams260K exactness test.

run.c semantics kept here: one token per forward call with a growing KV cache; RMSNorm ss = sum(x^2)/n + 1e-5;
RoPE rotates ADJACENT pairs (x[2i], x[2i+1]) with freq = 1 / 10000^((i % head_size) / head_size) and angle
pos * freq, both in f32; attention scaled by 1/sqrt(head_size); SwiGLU; shared classifier when vocab_size > 0.
Greedy = argmax, first index on ties. Generation as run.c's generate(): prompt tokens are forced, sampling starts
after the last one, it stops at `steps` positions or when BOS (1) comes out. Encoding as run.c's encode(): BOS, a
dummy-prefix " " token for non-empty text, UTF-8 code points looked up (bytes + 3 as fallback), then repeated
merging of the adjacent pair whose concatenation has the highest score.

Writes src/test/resources/fixtures/reference/aidreams.json:
  {"generator", "steps", "greedy": [{"prompt", "prompt_ids", "ids" (every token after BOS: forced prompt tokens
   then generated ones), "text" (run.c's printed output), "min_margin" (smallest top-1 minus top-2 logit over the
   sampled steps)}], "logits": {"prompt", "tokens", "positions", "logits": [[vocab] per row]}}

Usage: /usr/bin/python3 scripts/reference/ref_llama2c.py
"""
import json
import os
import struct

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODEL = "/work/shared/models/aidreams260K.bin"
TOKENIZER = "/work/shared/models/tok512.bin"
BUNDLED = os.path.join(ROOT, "src", "main", "resources", "io", "sac4j", "models")
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "reference", "aidreams.json")

STEPS = 100
PROMPTS = ["", "Echoes of", "The dream of a machine", "In silence, the circuits", "hello world"]
LOGITS_PROMPT = "The dream of a machine"

f32 = np.float32


def load_model(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    a = np.frombuffer(data, "<f4", offset=28).astype(f32)
    hs = dim // heads
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = a[off:off + n].reshape(shape)
        off += n
        return t

    w = {"emb": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_heads * hs, dim), "wv": take(layers, kv_heads * hs, dim), "wo": take(layers, dim, dim),
         "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
         "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    off += seq_len * hs  # freq_cis_real and freq_cis_imag (seq_len * head_size / 2 each), unused
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    assert off == a.size, (off, a.size)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq_len=seq_len)
    return cfg, w


class Transformer:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        hs = cfg["dim"] // cfg["heads"]
        kv_dim = cfg["kv_heads"] * hs
        self.key = np.zeros((cfg["layers"], cfg["seq_len"], kv_dim), f32)
        self.val = np.zeros((cfg["layers"], cfg["seq_len"], kv_dim), f32)

    @staticmethod
    def rmsnorm(x, w):
        ss = f32(np.dot(x, x) / f32(x.size)) + f32(1e-5)
        return w * (f32(1.0) / np.sqrt(ss, dtype=f32) * x)

    def forward(self, token, pos):
        c, w = self.c, self.w
        dim, heads = c["dim"], c["heads"]
        hs = dim // heads
        kv_dim = c["kv_heads"] * hs
        kv_mul = heads // c["kv_heads"]
        x = w["emb"][token].copy()
        for l in range(c["layers"]):
            xb = self.rmsnorm(x, w["rms_att"][l])
            q = w["wq"][l] @ xb
            k = w["wk"][l] @ xb
            v = w["wv"][l] @ xb
            for i in range(0, dim, 2):  # RoPE on adjacent pairs; keys only inside kv_dim
                freq = f32(1.0) / np.power(f32(10000.0), f32(i % hs) / f32(hs), dtype=f32)
                val = f32(pos) * freq
                fcr, fci = np.cos(val, dtype=f32), np.sin(val, dtype=f32)
                for vec in ((q, k) if i < kv_dim else (q,)):
                    v0, v1 = vec[i], vec[i + 1]
                    vec[i] = v0 * fcr - v1 * fci
                    vec[i + 1] = v0 * fci + v1 * fcr
            self.key[l, pos] = k
            self.val[l, pos] = v
            att_out = np.zeros(dim, f32)
            for h in range(heads):
                qh = q[h * hs:(h + 1) * hs]
                kvh = (h // kv_mul) * hs
                scores = (self.key[l, :pos + 1, kvh:kvh + hs] @ qh) / np.sqrt(f32(hs), dtype=f32)
                e = np.exp(scores - scores.max(), dtype=f32)
                p = e / e.sum(dtype=f32)
                att_out[h * hs:(h + 1) * hs] = p @ self.val[l, :pos + 1, kvh:kvh + hs]
            x = x + w["wo"][l] @ att_out
            xb = self.rmsnorm(x, w["rms_ffn"][l])
            hb = w["w1"][l] @ xb
            hb2 = w["w3"][l] @ xb
            hb = hb * (f32(1.0) / (f32(1.0) + np.exp(-hb, dtype=f32))) * hb2
            x = x + w["w2"][l] @ hb
        x = self.rmsnorm(x, w["rms_final"])
        return w["wcls"] @ x


def load_tokenizer(path, vocab_size):
    with open(path, "rb") as f:
        data = f.read()
    off = 4  # max_token_length
    vocab, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        vocab.append(data[off:off + n])
        scores.append(score)
        off += n
    return vocab, scores


def encode(text, vocab, scores):
    """run.c encode(text, bos=1, eos=0)."""
    lookup = {}
    for i, piece in enumerate(vocab):
        lookup.setdefault(piece, i)  # run.c's bsearch over the sorted vocab; pieces are unique here
    tokens = [1]
    if text:
        tokens.append(lookup[b" "])
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):  # one UTF-8 code point at a time (at most 4 bytes)
        j = i + 1
        while j < len(raw) and (raw[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        cp = raw[i:j]
        if cp in lookup:
            tokens.append(lookup[cp])
        else:
            tokens.extend(b + 3 for b in cp)
        i = j
    while True:
        best, best_id, best_idx = -1e10, -1, -1
        for k in range(len(tokens) - 1):
            m = lookup.get(vocab[tokens[k]] + vocab[tokens[k + 1]])
            if m is not None and scores[m] > best:
                best, best_id, best_idx = scores[m], m, k
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens


def decode_piece(vocab, prev, token):
    """run.c decode() followed by safe_printf(): raw bytes of the printed piece."""
    piece = vocab[token]
    if prev == 1 and piece.startswith(b" "):
        piece = piece[1:]
    if len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
        piece = bytes([int(piece[3:5], 16)])
    if len(piece) == 1 and not (32 <= piece[0] < 127 or piece[0] in b"\t\n\v\f\r"):
        return b""  # safe_printf drops single non-printable bytes
    return piece


def generate(cfg, w, vocab, scores, prompt):
    t = Transformer(cfg, w)
    prompt_ids = encode(prompt, vocab, scores)
    ids, out, margins = [], b"", []
    token, pos = prompt_ids[0], 0
    while pos < STEPS:
        logits = t.forward(token, pos)
        if pos < len(prompt_ids) - 1:
            nxt = prompt_ids[pos + 1]
        else:
            nxt = int(np.argmax(logits))
            top2 = np.sort(logits)[-2:]
            margins.append(float(top2[1] - top2[0]))
        pos += 1
        if nxt == 1:
            break
        out += decode_piece(vocab, token, nxt)
        ids.append(nxt)
        token = nxt
    return {"prompt": prompt, "prompt_ids": prompt_ids, "ids": ids, "text": out.decode("utf-8", "replace"),
            "min_margin": round(min(margins), 6)}


def main():
    cfg, w = load_model(MODEL)
    for name in ("aidreams260K.bin", "tok512.bin"):  # the bundled copies must be the same files
        with open(os.path.join(BUNDLED, name), "rb") as a, open(os.path.join(os.path.dirname(MODEL), name), "rb") as b:
            assert a.read() == b.read(), name
    vocab, scores = load_tokenizer(TOKENIZER, cfg["vocab"])
    greedy = [generate(cfg, w, vocab, scores, p) for p in PROMPTS]
    for g in greedy:
        print(f"{g['prompt']!r}: {len(g['ids'])} ids, min margin {g['min_margin']:.4f}: {g['text'][:80]!r}")

    toks = encode(LOGITS_PROMPT, vocab, scores)
    t = Transformer(cfg, w)
    rows = [[round(float(v), 6) for v in t.forward(tok, p)] for p, tok in enumerate(toks)]
    obj = {"generator": "scripts/reference/ref_llama2c.py", "model": "aidreams260K.bin", "tokenizer": "tok512.bin",
           "steps": STEPS, "greedy": greedy,
           "logits": {"prompt": LOGITS_PROMPT, "tokens": toks, "positions": list(range(len(toks))), "logits": rows}}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("{\n")
        for k in ("generator", "model", "tokenizer", "steps"):
            f.write(f"  {json.dumps(k)}: {json.dumps(obj[k])},\n")
        f.write('  "greedy": [\n')
        f.write(",\n".join("    " + json.dumps(g, ensure_ascii=False) for g in greedy))
        f.write("\n  ],\n")
        lg = obj["logits"]
        f.write(f'  "logits": {{"prompt": {json.dumps(lg["prompt"])}, "tokens": {json.dumps(lg["tokens"])}, '
                f'"positions": {json.dumps(lg["positions"])}, "logits": [\n')
        f.write(",\n".join("    " + json.dumps(r, separators=(",", ":")) for r in rows))
        f.write("\n  ]}\n}\n")
    json.load(open(OUT))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
