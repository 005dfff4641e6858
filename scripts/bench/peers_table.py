#!/usr/bin/python3
"""Turns peers.sh's results.jsonl into a markdown table: per weight file, each engine's prefill and decode tokens/s
and sac4j's speed divided by that engine's (above 1: sac4j is faster), with the machine, threads and versions.

usage: peers_table.py RESULTS.jsonl OUT.md [key=value ...]   (the key=values describe the machine and the run)
"""
import json
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


def main():
    src, out = sys.argv[1], sys.argv[2]
    info = dict(a.split("=", 1) for a in sys.argv[3:])
    runs = [json.loads(line) for line in open(src) if line.strip()]
    files = []
    for r in runs:
        if r["file"] not in files:
            files.append(r["file"])
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

    lines = [f"# Peer comparison: {info.get('shape', '?')}-shaped random model, {info.get('threads', '?')} threads", ""]
    lines.append(f"Machine: {info.get('cpu', '?')}, {info.get('cores', '?')} cores, {info.get('memory', '?')}; "
                 f"{info.get('date', '?')}; load average {info.get('load_before', '?')} before, "
                 f"{info.get('load_after', '?')} after.")
    lines.append("Engines: " + "; ".join(versions[k] for k in ("sac4j", "llama.cpp", "pytorch") if k in versions) + ".")
    p = next((r for r in runs if not r.get("failed")), {})
    lines.append(f"Work: prefill of {p.get('prompt_tokens', '?')} tokens in one call (last row's logits), then "
                 f"{p.get('decode_tokens', '?')} greedy decode steps after it; median of {p.get('reps', '?')} runs "
                 f"after {info.get('warmup', '?')} warm-up run(s), one engine at a time. Every engine reads the same file (`sac synth --seed {info.get('seed', '?')}`).")
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
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
