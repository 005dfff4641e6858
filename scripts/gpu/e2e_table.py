#!/usr/bin/env python3
"""Renders run_all.sh's e2e.jsonl (one JSON line per engine run: scripts/bench/SacBench.java --device cuda and
scripts/bench/torch_bench.py --device cuda, with the label and file run_all.sh adds) as markdown, with
scripts/bench/peers_table.py's tables: the forward pass, then the SAC work at each context size, each engine's figures
and sac4j's ratio to PyTorch's. run_all.sh calls it after every engine run, so a stage cut short still reports what
it measured.

usage: e2e_table.py E2E.jsonl OUT.md TITLE MACHINE
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import peers_table as pt  # noqa: E402


def main():
    src, out, title, machine = sys.argv[1:5]
    info = {"warmup": "1", "seed": "0", "blas": "cuBLAS"}
    runs = [json.loads(line) for line in open(src) if line.strip()]
    lines = [title, "", machine, pt.engines(runs, info), ""]
    forward = [r for r in runs if r.get("work") == "forward"]
    if forward:
        lines += ["### Forward pass: prefill and decode", ""]
        pt.forward_table(forward, info, lines)
        lines.append("")
    sac = [r for r in runs if r.get("work") == "sac"]
    sizes = sorted({r["context_tokens"] for r in sac if "context_tokens" in r})
    for n in sizes:
        # a failed run has no size: it shows in every table rather than in none
        group = [r for r in sac if r.get("context_tokens", n) == n]
        lines += [f"### SAC work at n = {n}", ""]
        pt.sac_table(group, info, lines)
        lines.append("")
    if sac and not sizes:
        lines += ["### SAC work", "", "Every SAC run failed: see run_all.log.", ""]
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
