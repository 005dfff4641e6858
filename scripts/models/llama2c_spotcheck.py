#!/usr/bin/python3
"""Reads a llama2.c checkpoint with numpy, independently of the Java loader, and writes spot values of every
tensor (shape, first values, a middle row's first values, the last value, float64 sum) as JSON.

usage: llama2c_spotcheck.py MODEL.bin OUT.json
"""
import json
import sys

import numpy as np


def main():
    path, out = sys.argv[1], sys.argv[2]
    raw = open(path, "rb").read()
    dim, hidden, L, heads, kv_heads, vocab, seq_len = np.frombuffer(raw[:28], dtype="<i4").tolist()
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // heads
    kv_dim = kv_heads * head
    f = np.frombuffer(raw[28:], dtype="<f4")
    layout = [("token_embedding", (vocab, dim)), ("rms_att", (L, dim)), ("wq", (L, dim, dim)),
              ("wk", (L, kv_dim, dim)), ("wv", (L, kv_dim, dim)), ("wo", (L, dim, dim)), ("rms_ffn", (L, dim)),
              ("w1", (L, hidden, dim)), ("w2", (L, dim, hidden)), ("w3", (L, hidden, dim)), ("rms_final", (dim,)),
              ("freq_cis", (seq_len, head))]
    if not shared:
        layout.append(("wcls", (vocab, dim)))
    pos, res = 0, {}
    for name, shape in layout:
        n = int(np.prod(shape))
        t = f[pos:pos + n].reshape(shape)
        pos += n
        if name == "freq_cis":
            continue
        # per layer for the stacked tensors, as the Java loader slices them
        parts = [(f"{name}[{i}]", t[i]) for i in range(L)] if len(shape) > 1 and shape[0] == L and name not in (
            "token_embedding", "wcls") else [(name, t)]
        for pname, p in parts:
            flat = p.reshape(-1)
            mid = p[p.shape[0] // 2][:4] if p.ndim == 2 else flat[:0]
            res[pname] = {"shape": list(p.shape), "first": [float(x) for x in flat[:4]],
                          "midRow": p.shape[0] // 2 if p.ndim == 2 else -1, "midRowFirst": [float(x) for x in mid],
                          "last": float(flat[-1]), "sum": float(flat.astype(np.float64).sum())}
    assert pos == len(f), (pos, len(f))
    doc = {"header": {"dim": dim, "hidden_dim": hidden, "n_layers": L, "n_heads": heads, "n_kv_heads": kv_heads,
                      "vocab_size": vocab, "shared_classifier": shared, "seq_len": seq_len, "bytes": len(raw)},
           "tensors": res}
    with open(out, "w") as fo:
        json.dump(doc, fo, indent=1)


if __name__ == "__main__":
    main()
