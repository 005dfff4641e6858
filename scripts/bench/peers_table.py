#!/usr/bin/python3
"""Turns peers.sh's results.jsonl into markdown tables: per weight file, each engine's prefill and decode tokens/s
and sac4j's speed divided by that engine's (above 1: sac4j is faster), with the machine, threads and versions;
then the SAC work (compress tokens/s, ask latency over the full and the compressed contexts) the same way.

usage: peers_table.py RESULTS.jsonl OUT.md [key=value ...]   (the key=values describe the machine and the run)
"""
import json
import statistics
import os
import sys

sys.dont_write_bytecode = True


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def weights(r):
    """The weight type of a run: GGUF from its file name (shape.type.gguf), safetensors from its directory."""
    f = os.path.basename(r["file"].rstrip("/"))
    if f.endswith(".gguf"):
        return f.split(".")[-2].upper() + " GGUF"
    return f.rsplit("-", 1)[-1].upper() + " safetensors"


def in_order(runs):
    """The files of `runs`, in the order they first appear."""
    files = []
    for r in runs:
        if r["file"] not in files:
            files.append(r["file"])
    return files


def minutes(info, key):
    s = info.get(key)
    return "?" if s is None else f"{int(s) / 60:.1f} min"


def runs_text(p, info):
    """How the medians were taken, e.g. '3 runs after 1 warm-up run(s)'."""
    text = f"{p.get('reps', '?')} runs after {info.get('warmup', '?')} warm-up run(s)"
    if p.get("rounds", 1) > 1:
        text += (f" each time an engine started, pooled from {p['rounds']} rounds in which the engines of a file "
                 "took turns")
    return text


def forward_table(runs, info, lines):
    files = in_order(runs)
    p = next((r for r in runs if not r.get("failed")), {})
    lines.append(f"Work: prefill of {p.get('prompt_tokens', '?')} tokens in one call (last row's logits), then "
                 f"{p.get('decode_tokens', '?')} greedy decode steps after it; median of {runs_text(p, info)}, one engine at a time. Every engine reads the same file (`sac synth --seed {info.get('seed', '?')}`).")
    lines.append("")
    lines.append("| weights | engine | threads | prefill tok/s | decode tok/s | sac4j ÷ engine, prefill | sac4j ÷ engine, decode |")
    lines.append("|---|---|---|---|---|---|---|")
    for f in files:
        group = [r for r in runs if r["file"] == f]
        sac = next((r for r in group if r["label"] == "sac4j" and not r.get("failed")), None)
        for r in group:
            if r.get("failed"):
                lines.append(f"| {weights(r)} | {r['label']} | | failed | failed | | |")
                continue
            pf, dc = r["prefill_tokens_per_second"], r.get("decode_tokens_per_second")
            rp = rd = None
            if sac is not None:
                rp = sac["prefill_tokens_per_second"] / pf
                rd = sac["decode_tokens_per_second"] / dc if dc and sac.get("decode_tokens_per_second") else None
            lines.append(f"| {weights(r)} | {r['label']} | {r.get('threads', '?')} | {fmt(pf)} | {fmt(dc)} | "
                         f"{fmt(rp, 2)} | {fmt(rd, 2)} |")
    lines.append("")
    agree = []
    for f in files:
        group = [r for r in runs if r["file"] == f and not r.get("failed")]
        sac = next((r for r in group if r["label"] == "sac4j"), None)
        for r in group:
            if sac is None or r is sac or not r.get("greedy") or not sac.get("greedy"):
                continue
            same = sum(a == b for a, b in zip(r["greedy"], sac["greedy"]))
            agree.append(f"{r['label']} {same}/{len(sac['greedy'])} on {weights(r)}")
    if agree:
        lines.append("Same function of the same file: the greedy next token (the prompt's last token excluded) after 8, "
                     "16, ..., 64 prompt tokens equals sac4j's for " + ", ".join(agree)
                     + " (reduced precision can flip near-ties).")
    checks = [r for r in runs if "check_max_abs_diff_vs_ref_llama" in r]
    if checks:
        lines.append("PyTorch's benchmark model agrees with scripts/reference/ref_llama.py to "
                     f"{max(r['check_max_abs_diff_vs_ref_llama'] for r in checks):.2g} (max |logit diff|, f32).")


def ratio_name(r):
    return "full" if r == "1" else f"r={r}"


def sac_table(runs, info, lines):
    files = in_order(runs)
    ok = [r for r in runs if not r.get("failed")]
    ratios = []  # the ask ratios of every run, full context first
    for r in ok:
        for k in r.get("ask_ms", {}):
            if k not in ratios:
                ratios.append(k)
    ratios.sort(key=int)
    p = next((r for r in ok if r.get("compress_ratio")), next(iter(ok), {}))
    n, q = p.get("context_tokens", "?"), p.get("question_tokens", "?")
    lines.append(f"Work: training-free SAC (no adapter) on n = {n} context tokens ([BOS], then token i = (i * 7919 + 13) "
                 f"mod vocab): **compress** at ratio {p.get('compress_ratio', '?')} (chunks of 510 tokens, full "
                 "attention inside each, every layer's K and V kept at the anchor rows), n / time = tokens/s; **ask**: "
                 f"time from a {q}-token question to its first answer token over the context held in full (all n "
                 "tokens in the KV cache, question at positions n..) or compressed at ratio r (n / r anchor rows, "
                 "question at n+1..); building the context is not timed. Median of "
                 f"{runs_text(p, info)}. llama.cpp cannot hold "
                 "SAC's anchor rows, so it has the full context only, on the GGUF file of the same type (sac4j too).")
    lines.append("")
    head = ["weights", "engine", "compress tok/s"] + [f"ask ms, {ratio_name(r)}" for r in ratios]
    head += ["sac4j ÷ engine, compress", "sac4j ÷ engine, ask " + " / ".join(ratio_name(r) for r in ratios)]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for f in files:
        group = [r for r in runs if r["file"] == f]
        sac = next((r for r in group if r["label"] == "sac4j" and not r.get("failed")), None)
        for r in group:
            if r.get("failed"):
                lines.append(f"| {weights(r)} | {r['label']} | failed |" + " |" * (len(head) - 3))
                continue
            ask = r.get("ask_ms", {})
            cells = [weights(r), r["label"], fmt(r.get("compress_tokens_per_second"))]
            cells += [fmt(ask.get(k), 2) for k in ratios]
            rc, ra = None, []
            if sac is not None:
                ct, sc = r.get("compress_tokens_per_second"), sac.get("compress_tokens_per_second")
                rc = sc / ct if ct and sc else None
                sask = sac.get("ask_ms", {})
                # a latency: sac4j is faster when the engine takes longer
                ra = [fmt(ask[k] / sask[k], 2) if k in ask and k in sask else "-" for k in ratios]
            cells += [fmt(rc, 2), " / ".join(ra) if ra else "-"]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    rows = next((r["ask_rows"] for r in ok if len(r.get("ask_rows", {})) == len(ratios)), None)
    if rows:
        lines.append("Rows in the KV cache before the question: "
                     + ", ".join(f"{rows[k]} ({ratio_name(k)})" for k in ratios) + ".")
    agree = []
    for f in files:
        group = [r for r in runs if r["file"] == f and not r.get("failed")]
        sac = next((r for r in group if r["label"] == "sac4j"), None)
        for r in group:
            if sac is None or r is sac or not r.get("ask_greedy") or not sac.get("ask_greedy"):
                continue
            keys = [k for k in ratios if k in r["ask_greedy"] and k in sac["ask_greedy"]]
            same = [ratio_name(k) for k in keys if r["ask_greedy"][k] == sac["ask_greedy"][k]]
            differ = [ratio_name(k) for k in keys if r["ask_greedy"][k] != sac["ask_greedy"][k]]
            agree.append(f"{r['label']} {len(same)}/{len(keys)} on {weights(r)}"
                         + (f" (differs at {', '.join(differ)})" if differ else ""))
    if agree:
        lines.append("Same SAC arithmetic: the first answer token (the question's last token excluded) equals sac4j's "
                     "for " + ", ".join(agree) + " (reduced precision can flip near-ties).")
    bos = {r["label"] + " on " + weights(r): r.get("bos") for r in ok}
    if len(set(bos.values())) > 1:
        lines.append("WARNING: the engines read different BOS ids: "
                     + ", ".join(f"{k} {v}" for k, v in bos.items()) + ".")
    checks = [r for r in runs if "check_max_abs_diff_vs_ref_sac" in r]
    if checks:
        lines.append("PyTorch's SAC (compression and first answer logits, 600 context tokens, ratio 15 and full) agrees "
                     "with scripts/reference/ref_sac.py to "
                     f"{max(r['check_max_abs_diff_vs_ref_sac'] for r in checks):.2g} (max |diff|, f32).")


def pool_rounds(runs):
    """One line per engine, file and work: peers.sh --rounds N runs each engine N times in turn; their timed runs
    are pooled and the speeds recomputed from the median of all of them, as each engine computes its own."""
    merged, order = {}, []
    for r in runs:
        key = (r["label"], r["file"], r.get("work", "forward"))
        if r.get("failed"):
            merged.setdefault(key, r)
            if key not in order:
                order.append(key)
            continue
        m = merged.get(key)
        if m is None or m.get("failed"):
            merged[key] = dict(r, rounds=1)
            if key not in order:
                order.append(key)
            continue
        m["rounds"] += 1
        for k in ("prefill_seconds", "decode_seconds", "compress_seconds"):
            if k in r:
                m[k] = m.get(k, []) + r[k]
        for ratio, t in r.get("ask_seconds", {}).items():
            m.setdefault("ask_seconds", {}).setdefault(ratio, []).extend(t)
    for m in merged.values():
        if m.get("failed") or m.get("rounds", 1) == 1:
            continue
        m["reps"] = len(m.get("prefill_seconds") or m.get("compress_seconds") or next(iter(m.get("ask_seconds", {}).values()), []))
        if m.get("prefill_seconds"):
            m["prefill_tokens_per_second"] = m["prompt_tokens"] / statistics.median(m["prefill_seconds"])
        if m.get("decode_seconds"):
            m["decode_tokens_per_second"] = m["decode_tokens"] / statistics.median(m["decode_seconds"])
        if m.get("compress_seconds"):
            m["compress_tokens_per_second"] = m["context_tokens"] / statistics.median(m["compress_seconds"])
        if m.get("ask_seconds"):
            m["ask_ms"] = {k: 1e3 * statistics.median(t) for k, t in m["ask_seconds"].items()}
    return [merged[k] for k in order]


def engines(runs, info):
    """The 'Engines: ...' line: each engine's version and build, from its runs."""
    versions = {}
    for r in runs:
        if r.get("failed"):
            continue
        if r["label"] == "sac4j":
            versions["sac4j"] = f"sac4j (Java {r.get('java', '?')}, {r.get('backend', '?')})"
        elif r["label"] == "llama.cpp":
            rel = r.get("llama_cpp_release") or {}
            versions["llama.cpp"] = (f"llama.cpp {rel.get('repo', '?')} release {rel.get('release', '?')} through "
                                     f"{r.get('via', '?')} ({r.get('build', '?')} binaries)")
        elif r["label"] == "pytorch":
            versions["pytorch"] = f"PyTorch {r.get('version', '?')} (BLAS {info.get('blas', '?')})"
    return "Engines: " + "; ".join(versions[k] for k in ("sac4j", "llama.cpp", "pytorch") if k in versions) + "."


def main():
    src, out = sys.argv[1], sys.argv[2]
    info = dict(a.split("=", 1) for a in sys.argv[3:])
    runs = pool_rounds([json.loads(line) for line in open(src) if line.strip()])
    forward = [r for r in runs if r.get("work", "forward") != "sac"]
    sac = [r for r in runs if r.get("work") == "sac"]
    lines = [f"# Peer comparison: {info.get('shape', '?')}-shaped random model, {info.get('threads', '?')} threads", ""]
    lines.append(f"Machine: {info.get('cpu', '?')}, {info.get('cores', '?')} cores, {info.get('memory', '?')}; "
                 f"{info.get('date', '?')}; load average {info.get('load_before', '?')} before, "
                 f"{info.get('load_after', '?')} after.")
    lines.append(engines(runs, info))
    if "forward_seconds" in info or "sac_seconds" in info:
        lines.append(f"Runtime: {minutes(info, 'forward_seconds')} for the forward pass comparison, "
                     f"{minutes(info, 'sac_seconds')} for the SAC work (each including the writing of "
                     "any model file it needed first).")
    lines.append("")
    if forward:
        lines.append("## Forward pass: prefill and decode")
        lines.append("")
        forward_table(forward, info, lines)
    if sac:
        if forward:
            lines.append("")
        lines.append("## SAC work: compress and ask")
        lines.append("")
        sac_table(sac, info, lines)
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
