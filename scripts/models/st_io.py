"""Minimal safetensors and bfloat16 helpers for the model scripts (numpy only, no safetensors package).

Layout (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}} padded with spaces to a multiple of 8,
then the tensor bytes, which the offsets (relative to the end of the header) cover exactly.
"""
import json
import struct

import numpy as np

NP_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64, "I32": np.int32}


def f32_to_bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even, NaN kept quiet (as ggml_compute_fp32_to_bf16)."""
    n = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    n = np.where((n & 0x7FFFFFFF) > 0x7F800000, (n & np.uint32(0xFFFF0000)) | np.uint32(64 << 16), n)
    n = (n.astype(np.uint64) + (0x7FFF + ((n >> 16) & 1))) >> 16
    return n.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, numpy array holding that dtype's values or BF16 bit patterns)."""
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, arr in tensors:
        raw = np.ascontiguousarray(arr, dtype=NP_DTYPES[dtype]).astype("<" + np.dtype(NP_DTYPES[dtype]).str[1:]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read(path):
    """Returns {name: (dtype string, float32 numpy array)} in header order (BF16/F16 widened to float32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = e["dtype"]
        raw = np.frombuffer(data[base + b:base + end], dtype="<" + np.dtype(NP_DTYPES[dt]).str[1:])
        vals = bf16_bits_to_f32(raw) if dt == "BF16" else raw.astype(np.float32)
        out[name] = (dt, vals.reshape(e["shape"]))
    return out
