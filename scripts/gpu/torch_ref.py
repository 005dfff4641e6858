#!/usr/bin/env python3
"""The jar's CUDA kernels against PyTorch on the GPU, and their speed.

The fatbin (target/classes/io/sac4j/cuda/sac4j_kernels.fatbin) is loaded with CuPy and launched exactly as
CudaBackend launches it (same argument order and types, same grid, same split-K rule), on torch tensors.

  check:  attention (f32 caches: SIMT kernels; bf16 caches: tensor-core kernel; CAUSAL / BLOCKS / PREFIX, GQA 1-8,
          head dims 64/128, split-K decode) against torch SDPA in float32 with the same boolean masks, and against
          FlexAttention with the same mask_mod; anchor_gather against torch.index_select and torch.gather. Error = normalised mean
          squared error (1e-9 for f32 caches; 1e-4 for the tensor-core kernel, which rounds q and P to bf16).
  bench:  attention TFLOP/s at 4k/16k/64k tokens (causal prefill, SAC blocks of 510, decode over a prefix) vs
          FlexAttention (torch.compile) and SDPA in bf16; gather GB/s vs a device-to-device copy of the same bytes
          and torch.index_select / torch.gather. FLOPs count only the (query, key) pairs the mask allows: 4 * heads * head_dim
          per pair. Times are medians of CUDA-event timings after warm-up.

Usage: python3 scripts/gpu/torch_ref.py [--fatbin PATH] [--json OUT.json] [--md OUT.md] [--quick] [check|bench]...
Needs torch >= 2.5 (FlexAttention, enable_gqa) and cupy; runs on the GPU machine (scripts/gpu/run_all.sh).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

MASK_CAUSAL, MASK_BLOCKS, MASK_PREFIX = 0, 1, 2  # io.sac4j.forward.Mask.Kind ordinals
ATTN_QV, ATTN_THREADS, COMBINE_THREADS, GATHER_THREADS, MMA_THREADS = 64, 256, 128, 128, 128  # native/*.cuh


# ----------------------------------------------------------------------------------------------- masks

def key_range(kind, start, rows, bs, r):
    """[lo, hi) of cache rows that new row r sees (io.sac4j.forward.Mask.lo/hi); r may be a tensor."""
    if kind == MASK_BLOCKS:
        lo = start + (r // bs) * bs
        hi = start + torch.clamp((r // bs + 1) * bs, max=rows) if torch.is_tensor(r) else start + min((r // bs + 1) * bs, rows)
        return lo, hi
    return 0 * r, start + r + 1


def bool_mask(kind, start, rows, bs, total, device):
    r = torch.arange(rows, device=device)[:, None]
    j = torch.arange(total, device=device)[None, :]
    lo, hi = key_range(kind, start, rows, bs, r)
    return (j >= lo) & (j < hi)


def allowed_pairs(kind, start, rows, bs):
    if kind == MASK_BLOCKS:
        full, rest = divmod(rows, bs)
        return full * bs * bs + rest * rest
    return rows * start + rows * (rows + 1) // 2


# ----------------------------------------------------------------------------------------------- our kernels

class Kernels:
    def __init__(self, fatbin):
        import cupy as cp
        self.cp = cp
        self.module = cp.RawModule(path=fatbin)
        self.fns = {}
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count

    def fn(self, name):
        if name not in self.fns:
            self.fns[name] = self.module.get_function(name)
        return self.fns[name]

    def launch(self, name, grid, block, *args):
        self.fn(name)(grid, (block, 1, 1), args)

    @staticmethod
    def ptr(t):
        return np.uint64(0 if t is None else t.data_ptr())

    def splits(self, blocks, longest):
        # CudaBackend.splits
        if blocks >= self.sms or longest < 256:
            return 1
        return max(1, min((2 * self.sms + blocks - 1) // blocks, longest // 128, 64))

    def attention(self, q, k_pre, v_pre, k_own, v_own, heads, kv_heads, hd, start, kind, block_size, allow_split=True, mma=True):
        """out [rows][heads*hd] f32; caches [rows][kv_heads*hd] f32 or bf16 (the prefix may be None). bf16 caches
        at head dim 64/128 go to the tensor-core kernel unless mma=False, as in CudaBackend."""
        rows = q.shape[0]
        group = heads // kv_heads
        bs = min(block_size, rows) if kind == MASK_BLOCKS else 1
        q_blocks = (rows * group + ATTN_QV - 1) // ATTN_QV
        longest = 0
        for b in range(q_blocks):
            first, last = b * ATTN_QV, min(b * ATTN_QV + ATTN_QV, rows * group) - 1
            lo, _ = key_range(kind, start, rows, bs, first // group)
            _, hi = key_range(kind, start, rows, bs, last // group)
            longest = max(longest, hi - lo)
        splits = self.splits(q_blocks * kv_heads, longest) if allow_split else 1
        split_len = 2 ** 31 - 1
        if splits > 1:
            split_len = ((longest + splits - 1) // splits + 63) // 64 * 64
            splits = (longest + split_len - 1) // split_len
        out = torch.empty(rows, heads * hd, device=q.device, dtype=torch.float32)
        part_o = part_ml = None
        if splits > 1:
            part_o = torch.empty(splits * rows * heads * hd, device=q.device, dtype=torch.float32)
            part_ml = torch.empty(splits * rows * heads * 2, device=q.device, dtype=torch.float32)
        variant = {64: "d64", 128: "d128"}.get(hd, "d32" if hd <= 32 else "d256")
        kv_type = "bf16" if k_own.dtype == torch.bfloat16 else "f32"
        tensor_cores = mma and kv_type == "bf16" and hd in (64, 128)
        name = f"sac_attn_mma_bf16_{variant}" if tensor_cores else f"sac_attn_{kv_type}_{variant}"
        n0 = 0 if k_pre is None else k_pre.shape[0]
        self.launch(name, (q_blocks, kv_heads, splits), MMA_THREADS if tensor_cores else ATTN_THREADS,
                    self.ptr(None if splits > 1 else out), self.ptr(q), self.ptr(k_pre), self.ptr(v_pre), np.int32(n0),
                    self.ptr(k_own), self.ptr(v_own), np.int32(rows), np.int32(heads), np.int32(kv_heads), np.int32(hd),
                    np.int32(start), np.int32(kind), np.int32(bs), np.float32(1.0 / math.sqrt(hd)), np.int32(split_len),
                    self.ptr(part_o), self.ptr(part_ml))
        if splits > 1:
            self.launch("sac_attn_combine", (rows * heads, 1, 1), COMBINE_THREADS, self.ptr(out), self.ptr(part_o),
                        self.ptr(part_ml), np.int32(splits), np.int32(rows), np.int32(heads), np.int32(hd))
        return out, splits

    def gather(self, planes, rows_idx):
        """planes [P][N][kv_dim] (one cache, no prefix) -> [P][len(rows)][kv_dim] (sac_anchor_gather)."""
        p, n, kv_dim = planes.shape
        row_bytes = kv_dim * planes.element_size()
        out = torch.empty(p, rows_idx.numel(), kv_dim, device=planes.device, dtype=planes.dtype)
        self.launch("sac_anchor_gather", (rows_idx.numel(), p, 1), GATHER_THREADS, self.ptr(out), self.ptr(None),
                    np.int64(0), np.int32(0), self.ptr(planes), np.int64(n * row_bytes), self.ptr(rows_idx),
                    np.int32(rows_idx.numel()), np.int32(row_bytes))
        return out


# ----------------------------------------------------------------------------------------------- references

def sdpa_reference(q, k, v, heads, kv_heads, hd, mask):
    """float32 SDPA with a boolean mask; q [rows][heads*hd], k/v [total][kv_heads*hd]."""
    from torch.nn.functional import scaled_dot_product_attention as sdpa
    rows, total = q.shape[0], k.shape[0]
    qh = q.float().view(rows, heads, hd).transpose(0, 1)[None]
    kh = k.float().view(total, kv_heads, hd).transpose(0, 1)[None]
    vh = v.float().view(total, kv_heads, hd).transpose(0, 1)[None]
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):  # plain float32 arithmetic, no TF32
        o = sdpa(qh, kh, vh, attn_mask=mask[None, None], enable_gqa=True)
    return o[0].transpose(0, 1).reshape(rows, heads * hd)


def flex_mask_mod(kind, start, rows, bs):
    def mod(b, h, q_idx, kv_idx):
        lo, hi = key_range(kind, start, rows, bs, q_idx)
        return (kv_idx >= lo) & (kv_idx < hi)
    return mod


_flex = None


def flex(q, k, v, heads, kv_heads, hd, kind, start, bs, dtype):
    """FlexAttention (compiled) with the same mask, in `dtype`; returns out [rows][heads*hd] and a callable."""
    global _flex
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    if _flex is None:
        _flex = torch.compile(flex_attention)
    rows, total = q.shape[0], k.shape[0]
    qh = q.to(dtype).view(rows, heads, hd).transpose(0, 1)[None].contiguous()
    kh = k.to(dtype).view(total, kv_heads, hd).transpose(0, 1)[None].contiguous()
    vh = v.to(dtype).view(total, kv_heads, hd).transpose(0, 1)[None].contiguous()
    bm = create_block_mask(flex_mask_mod(kind, start, rows, bs), None, None, rows, total, device=q.device)
    run = lambda: _flex(qh, kh, vh, block_mask=bm, enable_gqa=True)
    o = run()
    return o[0].transpose(0, 1).reshape(rows, heads * hd).float(), run


def nmse(got, want):
    got, want = got.double(), want.double()
    if not torch.isfinite(got).all():
        return float("inf")
    return (((got - want) ** 2).sum() / (want ** 2).sum().clamp_min(1e-300)).item()


# ----------------------------------------------------------------------------------------------- timing

def bench(fn, reps=10, warmup=2, max_seconds=20.0):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    t_end = time.time() + max_seconds
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
        if time.time() > t_end:
            break
    return statistics.median(times)


# ----------------------------------------------------------------------------------------------- checks

def make_case(rows, prefix, before, heads, kv_heads, hd, kv_dtype, gen):
    dev = "cuda"
    total = prefix + before + rows
    q = torch.randn(rows, heads * hd, device=dev, generator=gen)
    k = (torch.randn(total, kv_heads * hd, device=dev, generator=gen) * 1.5)
    v = torch.randn(total, kv_heads * hd, device=dev, generator=gen)
    if kv_dtype == torch.bfloat16:
        k, v = k.bfloat16().float(), v.bfloat16().float()
    k_pre = k[:prefix].to(kv_dtype).contiguous() if prefix else None
    v_pre = v[:prefix].to(kv_dtype).contiguous() if prefix else None
    k_own = k[prefix:].to(kv_dtype).contiguous()
    v_own = v[prefix:].to(kv_dtype).contiguous()
    return q, k, v, k_pre, v_pre, k_own, v_own


# (mask, rows, prefix rows, own rows before these, block size): the odd sizes 1, 7, 509, 510, 511 and 4097 for
# causal prefill and SAC blocks of 510 (a partial last block, one exact block, two), then rows over a long prefix
SHAPES = ([(MASK_CAUSAL, r, 0, 0, 1) for r in (1, 7, 509, 510, 511, 4097)]
          + [(MASK_BLOCKS, r, 0, 0, 510) for r in (1, 7, 509, 510, 511, 1020, 4097)]
          + [(MASK_PREFIX, 130, 1021, 3, 1), (MASK_PREFIX, 7, 509, 0, 1), (MASK_PREFIX, 1, 5000, 0, 1)])
# FlexAttention compiles per shape (tens of seconds): it checks these (mask, rows) only, as do quick runs
FLEX_SHAPES = {(MASK_CAUSAL, 511), (MASK_BLOCKS, 1020), (MASK_PREFIX, 130), (MASK_PREFIX, 1)}


def run_checks(ks, quick, results):
    gen = torch.Generator(device="cuda").manual_seed(7)
    cases = []
    for hd in (64, 128):
        for g in (1, 2, 4, 8):
            for kind, rows, prefix, before, bs in SHAPES:
                if quick and (g in (2, 8) or (kind, rows) not in FLEX_SHAPES):
                    continue
                for kv_dtype in (torch.float32, torch.bfloat16):
                    cases.append((hd, g, kind, rows, prefix, before, bs, kv_dtype))
    for hd, g, kind, rows, prefix, before, bs, kv_dtype in cases:
        kv_heads = 2
        heads = kv_heads * g
        q, k, v, k_pre, v_pre, k_own, v_own = make_case(rows, prefix, before, heads, kv_heads, hd, kv_dtype, gen)
        start = prefix + before
        out, splits = ks.attention(q, k_pre, v_pre, k_own, v_own, heads, kv_heads, hd, start, kind, bs)
        mask = bool_mask(kind, start, rows, min(bs, rows), k.shape[0], "cuda")
        ref = sdpa_reference(q, k, v, heads, kv_heads, hd, mask)
        e_sdpa = nmse(out, ref)
        e_flex = None
        # FlexAttention compiles per shape (tens of seconds each): one case per mask kind
        if not quick and hd == 128 and g == 4 and kv_dtype == torch.float32 and (kind, rows) in FLEX_SHAPES:
            fo, _ = flex(q, k, v, heads, kv_heads, hd, kind, start, min(bs, rows), torch.float32)
            e_flex = nmse(out, fo)
        name = f"attention {['causal', 'blocks', 'prefix'][kind]} rows={rows} prefix={prefix}+{before} hd={hd} gqa={g} kv={'bf16' if kv_dtype == torch.bfloat16 else 'f32'} splits={splits}"
        tc = kv_dtype == torch.bfloat16  # hd 64/128 here: the tensor-core kernel (bf16 q and P)
        ok = e_sdpa <= (1e-4 if tc else 1e-9) and (e_flex is None or e_flex <= (1e-4 if tc else 1e-6))
        max_abs = (out - ref).abs().max().item()
        results["checks"].append({"case": name, "nmse_sdpa_f32": e_sdpa, "max_abs_diff": max_abs, "nmse_flex_f32": e_flex, "ok": ok})
        print(f"{'ok  ' if ok else 'FAIL'} {name}: nmse vs SDPA f32 {e_sdpa:.2e}, max |diff| {max_abs:.1e}"
              + ("" if e_flex is None else f", vs Flex f32 {e_flex:.2e}"), flush=True)
    # gather: the SAC anchors of a 16-layer cache, against torch.index_select
    for dtype in (torch.float32, torch.bfloat16):
        planes = torch.randn(2 * 16, 3000, 512, device="cuda", generator=gen).to(dtype)
        idx = torch.tensor([i for i in range(3000) if i % 510 % 5 == 2], device="cuda", dtype=torch.int32)
        got = ks.gather(planes, idx)
        want = planes.index_select(1, idx.long())
        want2 = torch.gather(planes, 1, idx.long()[None, :, None].expand(planes.shape[0], -1, planes.shape[2]))
        ok = torch.equal(got, want) and torch.equal(got, want2)
        results["checks"].append({"case": f"anchor_gather {dtype}", "exact": ok, "ok": ok})
        print(f"{'ok  ' if ok else 'FAIL'} anchor_gather {dtype} vs torch.index_select and torch.gather: {'exact' if ok else 'DIFFERENT'}", flush=True)


# ----------------------------------------------------------------------------------------------- benchmarks

def run_bench(ks, quick, results):
    from torch.nn.functional import scaled_dot_product_attention as sdpa
    gen = torch.Generator(device="cuda").manual_seed(8)
    heads, kv_heads, hd = 32, 8, 128  # Llama-3.1-8B's attention
    lengths = (4096, 16384) if quick else (4096, 16384, 65536)
    # gather first (quick); then attention, shortest first, so a run cut short keeps what it measured
    # gather: SAC r=5 anchors of Llama-3.2-1B's cache (16 layers x K,V; 8 kv heads x 64), f32
    for n in lengths:
        planes = torch.randn(32, n, 512, device="cuda", generator=gen)
        idx = torch.tensor([i for i in range(n) if i % 510 % 5 == 2], device="cuda", dtype=torch.int32)
        idx64 = idx.long()
        moved = 2 * planes.shape[0] * idx.numel() * 512 * 4  # bytes read + written
        src = planes[:, :idx.numel()].contiguous()
        dst = torch.empty_like(src)
        t_ours = bench(lambda: ks.gather(planes, idx))
        t_copy = bench(lambda: dst.copy_(src))
        t_index = bench(lambda: planes.index_select(1, idx64))
        full_idx = idx64[None, :, None].expand(planes.shape[0], -1, planes.shape[2])
        t_gather = bench(lambda: torch.gather(planes, 1, full_idx))
        row = {"n": n, "anchors": idx.numel(), "MB moved": moved / 1e6, "ours GB/s": moved / t_ours / 1e9,
               "d2d copy GB/s": moved / t_copy / 1e9, "index_select GB/s": moved / t_index / 1e9,
               "torch.gather GB/s": moved / t_gather / 1e9}
        results["gather"].append(row)
        print(json.dumps(row), flush=True)
        del planes, src, dst
        torch.cuda.empty_cache()

    for n in lengths:
        for kind, rows, prefix, bs, label in ((MASK_CAUSAL, n, 0, 1, "causal prefill"),
                                              (MASK_BLOCKS, n, 0, 510, "SAC blocks(510)"),
                                              (MASK_PREFIX, 1, n, 1, "decode over prefix")):
            row = {"n": n, "mask": label, "heads": f"{heads}/{kv_heads}", "head_dim": hd}
            pairs = allowed_pairs(kind, prefix, rows, min(bs, rows))
            flops = 4.0 * heads * hd * pairs
            kv_bytes = 2 * (prefix + rows) * kv_heads * hd
            q = torch.randn(rows, heads * hd, device="cuda", generator=gen)
            k = torch.randn(prefix + rows, kv_heads * hd, device="cuda", generator=gen)
            v = torch.randn(prefix + rows, kv_heads * hd, device="cuda", generator=gen)
            for kv_dtype, tag in ((torch.float32, "ours f32 KV"), (torch.bfloat16, "ours bf16 KV")):  # SIMT f32 / tensor cores
                kp = k[:prefix].to(kv_dtype).contiguous() if prefix else None
                vp = v[:prefix].to(kv_dtype).contiguous() if prefix else None
                ko, vo = k[prefix:].to(kv_dtype).contiguous(), v[prefix:].to(kv_dtype).contiguous()
                t = bench(lambda: ks.attention(q, kp, vp, ko, vo, heads, kv_heads, hd, prefix, kind, bs), reps=5 if n >= 65536 else 10)
                row[tag] = {"ms": t * 1e3, "tflops": flops / t / 1e12, "kv_gbs": kv_bytes * (4 if kv_dtype == torch.float32 else 2) / t / 1e9}
                del kp, vp, ko, vo
            try:
                _, run = flex(q, k, v, heads, kv_heads, hd, kind, prefix, min(bs, rows), torch.bfloat16)
                t = bench(run, reps=10)
                row["flex bf16"] = {"ms": t * 1e3, "tflops": flops / t / 1e12, "kv_gbs": kv_bytes * 2 / t / 1e9}
            except Exception as e:  # noqa: BLE001 - a failing baseline is reported, not fatal
                row["flex bf16"] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            try:
                qh = q.bfloat16().view(rows, heads, hd).transpose(0, 1)[None]
                kh = k.bfloat16().view(-1, kv_heads, hd).transpose(0, 1)[None]
                vh = v.bfloat16().view(-1, kv_heads, hd).transpose(0, 1)[None]
                if kind == MASK_CAUSAL:
                    run = lambda: sdpa(qh, kh, vh, is_causal=True, enable_gqa=True)
                elif kind == MASK_PREFIX and rows == 1:
                    run = lambda: sdpa(qh, kh, vh, enable_gqa=True)
                else:
                    m = bool_mask(kind, prefix, rows, min(bs, rows), prefix + rows, "cuda")[None, None]
                    run = lambda: sdpa(qh, kh, vh, attn_mask=m, enable_gqa=True)
                t = bench(run, reps=10)
                row["sdpa bf16"] = {"ms": t * 1e3, "tflops": flops / t / 1e12, "kv_gbs": kv_bytes * 2 / t / 1e9}
            except Exception as e:  # noqa: BLE001
                row["sdpa bf16"] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            results["attention"].append(row)
            print(json.dumps(row), flush=True)
            del q, k, v
            torch.cuda.empty_cache()
def markdown(results):
    lines = [f"Device: {results['device']}; torch {results['torch']}", ""]
    if results["checks"]:
        bad = [c for c in results["checks"] if not c["ok"]]
        lines += [f"Correctness vs torch: {len(results['checks']) - len(bad)} of {len(results['checks'])} cases pass"
                  + ("" if not bad else ": FAILED " + "; ".join(c["case"] for c in bad)), ""]
        for kv in ("f32", "bf16"):
            att = [c for c in results["checks"] if "max_abs_diff" in c and c["case"].split(" kv=")[1].startswith(kv + " ")]
            if att:
                lines += [f"- attention, {kv} K/V: {len(att)} cases, largest nmse vs SDPA f32 "
                          f"{max(c['nmse_sdpa_f32'] for c in att):.1e}, largest max |diff| {max(c['max_abs_diff'] for c in att):.1e}"]
        lines.append("")
    if results["attention"]:
        lines += ["| n | mask | ours f32 KV (SIMT) | ours bf16 KV (tensor cores) | FlexAttention bf16 | SDPA bf16 |", "|---|---|---|---|---|---|"]
        for r in results["attention"]:
            def cell(key):
                c = r.get(key, {})
                if "error" in c:
                    return "error"
                if r["mask"].startswith("decode"):
                    return f"{c['ms']:.3f} ms, {c['kv_gbs']:.0f} GB/s"
                return f"{c['tflops']:.1f} TFLOP/s ({c['ms']:.2f} ms)"
            lines.append(f"| {r['n']} | {r['mask']} | {cell('ours f32 KV')} | {cell('ours bf16 KV')} | {cell('flex bf16')} | {cell('sdpa bf16')} |")
        lines.append("")
    if results["gather"]:
        lines += ["| n | anchors | MB moved | ours GB/s | D2D copy GB/s | index_select GB/s | torch.gather GB/s |",
                  "|---|---|---|---|---|---|---|"]
        for r in results["gather"]:
            lines.append(f"| {r['n']} | {r['anchors']} | {r['MB moved']:.0f} | {r['ours GB/s']:.0f} | {r['d2d copy GB/s']:.0f} "
                         f"| {r['index_select GB/s']:.0f} | {r['torch.gather GB/s']:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    # run_all.sh stops a stage with SIGTERM at its time limit: still write what was measured
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", default=["check", "bench"])
    ap.add_argument("--fatbin", default="target/classes/io/sac4j/cuda/sac4j_kernels.fatbin")
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch sees no GPU", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ks = Kernels(os.path.abspath(a.fatbin))
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "checks": [], "attention": [], "gather": []}
    try:
        if "check" in a.what:
            run_checks(ks, a.quick, results)
        if "bench" in a.what:
            run_bench(ks, a.quick, results)
    finally:
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        md = markdown(results)
        if a.md:
            with open(a.md, "w") as f:
                f.write(md)
        print(md)
    return 0 if all(c["ok"] for c in results["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
