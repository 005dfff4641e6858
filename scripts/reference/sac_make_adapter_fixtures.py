#!/usr/bin/python3
"""Writes the SAC adapter test fixtures (src/test/resources/fixtures/adapter/) with real torch.save.

Run once with the Debian python3 + torch 1.13 (no other packages needed); the outputs are committed, so tests never
need torch:

    /usr/bin/python3 scripts/reference/sac_make_adapter_fixtures.py

Outputs
  tiny.pt               the official layout: torch.save of a plain dict {name: bf16 tensor} (as SAC's save_adapter)
  tiny.safetensors      the same bf16 tensors in safetensors (written by hand: the format is a JSON header + bytes)
  tiny_state_dict.pt    the same values as float32, saved as model.state_dict() would be: an OrderedDict with a
                        _metadata attribute (pickled through BUILD), storages re-zipped DEFLATED (not torch's habit,
                        but a legal zip that a reader must inflate with bounds)
  tiny_f16_views.pt     the same values as float16 with keys "model.layers.{i}..." (a prefix variant), every layer
                        tensor a view into one shared storage (non-zero storage offsets)
  expected.json         per fixture and tensor: shape, float64 sum, first values, last value; and the adapter
                        fingerprint (see fingerprint() below: SHA-256 over names, shapes and float32 values)
  evil/*.pt             malicious pickles in the torch.save zip layout. Each payload would create the marker file
                        /tmp/sac4j_pwned_<name>; this script proves every payload is live by loading it once with
                        Python's own pickle (or torch.load) and checking that the marker appears, then deletes it.
  bad/*.pt              harmless but invalid archives: a zip bomb (a DEFLATED storage far bigger than its tensor
                        needs), absurd declared shapes and string lengths, a non-contiguous tensor, BUILD on a tensor,
                        and the legacy (non-zip) torch.save format.

Every output is byte-for-byte reproducible except bad/legacy.pt (the legacy format keys storages by object id).

The tiny adapter fits the bundled model aidreams260K: hidden 64, 4 layers, 4 heads, 4 kv heads, head dim 16;
rank 4, mem_size 10.
"""
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "fixtures",
                   "adapter")
OUT = os.path.normpath(OUT)
HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 64, 4, 4, 4, 16
RANK, MEM = 4, 10


def canonical_names():
    names = ["role_tokens", "special_tokens"]
    for i in range(LAYERS):
        for proj in ("q_proj", "v_proj"):
            for ab in ("A", "B"):
                names.append(f"model.model.layers.{i}.self_attn.{proj}.lora_{ab}")
    return names


def make_tensors():
    """float32 values, already rounded to bf16 so that every dtype written below holds them exactly (f16 too: the
    magnitudes stay well inside f16's normal range and bf16's 8-bit mantissa fits in f16's 11 bits)."""
    g = torch.Generator().manual_seed(20260214)
    t = collections.OrderedDict()
    t["role_tokens"] = torch.randn(MEM, HIDDEN, generator=g) * 0.02
    t["special_tokens"] = torch.randn(2, HIDDEN, generator=g) * 0.5
    for i in range(LAYERS):
        for proj, out in (("q_proj", HEADS * HEAD_DIM), ("v_proj", KV_HEADS * HEAD_DIM)):
            t[f"model.model.layers.{i}.self_attn.{proj}.lora_A"] = torch.randn(HIDDEN, RANK, generator=g) * 0.1
            t[f"model.model.layers.{i}.self_attn.{proj}.lora_B"] = torch.randn(RANK, out, generator=g) * 0.1
    for k in t:
        v = t[k].to(torch.bfloat16).to(torch.float32)
        # keep clear of f16's subnormal range so f16 holds every value exactly
        v = torch.where(v.abs() < 1e-4, torch.full_like(v, 1e-4), v)
        t[k] = v.to(torch.bfloat16).to(torch.float32)
        assert torch.equal(t[k].to(torch.float16).to(torch.float32), t[k])
    return t


def fingerprint(tensors):
    """sac4j's adapter fingerprint: SHA-256 of "sac4j-adapter-v1\\n", then per tensor in canonical order the line
    "<canonical name> <d0>x<d1>\\n" followed by its values as little-endian float32."""
    h = hashlib.sha256(b"sac4j-adapter-v1\n")
    for name in canonical_names():
        v = tensors[name]
        h.update(f"{name} {'x'.join(str(d) for d in v.shape)}\n".encode())
        h.update(v.contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


def expected_entry(tensors):
    out = collections.OrderedDict()
    for name in canonical_names():
        v = tensors[name].double()
        flat = v.flatten()
        out[name] = {"shape": list(v.shape), "sum": float(flat.sum()), "abs_sum": float(flat.abs().sum()),
                     "first": [float(x) for x in flat[:4]], "last": float(flat[-1])}
    return out


def write_safetensors(path, tensors):
    """safetensors by hand: u64 LE header length, JSON header (offsets relative to the data), then the bytes."""
    header, blobs, pos = {}, [], 0
    for name, v in tensors.items():
        dtype = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}[v.dtype]
        raw = v.contiguous().view(torch.int16 if v.element_size() == 2 else torch.int32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def rezip_deflated(src, dst):
    """Copies a torch.save archive, compressing the tensor storages (data/...) with DEFLATE."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            comp = zipfile.ZIP_DEFLATED if "/data/" in info.filename else zipfile.ZIP_STORED
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0)), data, compress_type=comp)


def write_archive(path, pkl, storages=None, prefix="archive", compress=None):
    """A zip in torch.save's layout around a hand-made or foreign data.pkl."""
    compress = compress or {}
    with zipfile.ZipFile(path, "w") as z:
        def put(name, data):
            info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, data, compress_type=compress.get(name, zipfile.ZIP_STORED))
        put("data.pkl", pkl)
        for key, data in (storages or {}).items():
            put(f"data/{key}", data)
        put("version", b"3\n")


# ---- pickle opcodes, for hand-assembled pickles --------------------------------------------------------------------
def op_unicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_int(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes(8, "little", signed=True).rstrip(b"\x00")
    return b"\x8a" + bytes([len(raw)]) + raw


def op_tuple(items):
    return b"(" + b"".join(items) + b"t"


def op_tensor(storage_type, key, numel, offset, shape, stride):
    """torch._utils._rebuild_tensor_v2((persistent storage), offset, shape, stride, False, OrderedDict())."""
    pid = op_tuple([op_unicode("storage"), b"ctorch\n" + storage_type.encode() + b"\n", op_unicode(key),
                    op_unicode("cpu"), op_int(numel)]) + b"Q"
    args = op_tuple([pid, op_int(offset), op_tuple([op_int(d) for d in shape]),
                     op_tuple([op_int(d) for d in stride]), b"\x89", b"ccollections\nOrderedDict\n)R"])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def op_dict(items):
    return b"}(" + b"".join(op_unicode(k) + v for k, v in items) + b"u"


MARKERS = []


def marker(name):
    m = f"/tmp/sac4j_pwned_{name}"
    MARKERS.append((name, m))
    if os.path.exists(m):
        os.remove(m)
    return m


class PosixSystem:
    """pickles as GLOBAL 'posix system' (os.system's real module on Linux) + REDUCE."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return os.system, (self.cmd,)


class Popen:
    def __init__(self, argv):
        self.argv = argv

    def __reduce__(self):
        return subprocess.Popen, (self.argv,)


class Eval:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return eval, (self.code,)


class Exec:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


def evil_fixtures(tensors):
    d = os.path.join(OUT, "evil")
    os.makedirs(d, exist_ok=True)
    made = {}

    m = marker("os_system")  # GLOBAL 'os system' + REDUCE, assembled by hand
    made["os_system"] = b"\x80\x02cos\nsystem\n" + op_tuple([op_unicode(f"touch {m}")]) + b"R."

    m = marker("posix_system")  # what pickle itself writes for os.system on Linux
    made["posix_system"] = pickle.dumps(PosixSystem(f"touch {m}"), protocol=2)

    m = marker("builtins_eval")
    # fix_imports=False keeps Python 3 module names (protocol 2 would write __builtin__ / commands otherwise)
    made["builtins_eval"] = pickle.dumps(Eval(f"__import__('os').system('touch {m}')"), protocol=2, fix_imports=False)

    m = marker("subprocess_popen")
    made["subprocess_popen"] = pickle.dumps(Popen(["touch", m]), protocol=2, fix_imports=False)

    m = marker("stack_global")  # protocol 4: FRAME, MEMOIZE and STACK_GLOBAL 'builtins' 'eval'
    made["stack_global"] = pickle.dumps(Eval(f"__import__('os').system('touch {m}')"), protocol=4)
    assert b"\x93" in made["stack_global"]

    # a class's __reduce__ inside an otherwise genuine torch.save state dict: the allowed globals and a real tensor
    # come first, the payload is found mid-stream (torch pickles with protocol 2, so exec is written __builtin__.exec)
    m = marker("torch_save_reduce_chain")
    buf = io.BytesIO()
    torch.save({"role_tokens": tensors["role_tokens"].to(torch.bfloat16),
                "special_tokens": Exec(f"import os; os.system('touch {m}')")}, buf)
    made["torch_save_reduce_chain"] = buf.getvalue()

    # torch.storage._load_from_bytes runs torch.load on attacker bytes: here a zip whose pickle calls os.system
    m = marker("load_from_bytes")
    inner = io.BytesIO()
    torch.save(PosixSystem(f"touch {m}"), inner)
    blob = inner.getvalue()
    made["load_from_bytes"] = (b"\x80\x03ctorch.storage\n_load_from_bytes\n" + b"B" + struct.pack("<I", len(blob))
                               + blob + b"\x85R.")

    # INST ('i'): the protocol-0 way to call a global with the arguments above a MARK
    m = marker("inst_opcode")
    made["inst_opcode"] = b"\x80\x02(" + op_unicode(f"touch {m}") + b"ios\nsystem\n."

    # an allowed global (a storage class) used as a callable: torch's legacy path would construct it
    made["reduce_storage"] = b"\x80\x02ctorch\nFloatStorage\n" + op_tuple([op_int(10 ** 9)]) + b"R."

    live = {}
    for name, pkl in made.items():
        path = os.path.join(d, name + ".pt")
        if name == "torch_save_reduce_chain":
            with open(path, "wb") as f:
                f.write(pkl)
        else:
            write_archive(path, pkl, storages={"0": b"\x00" * 16})
        live[name] = path
    return live


def prove_live(paths):
    """Loads each evil archive with Python's pickle (as torch.load would) and checks that its marker appears."""
    for name, m in MARKERS:
        path = paths[name]
        with zipfile.ZipFile(path) as z:
            pkl_name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            pkl = z.read(pkl_name)
        if name == "torch_save_reduce_chain":
            torch.load(path)
        else:
            try:
                pickle.loads(pkl)
            except Exception as e:  # the payload runs before any type error surfaces
                print(f"  ({name}: pickle.loads raised {type(e).__name__} after running)")
        for _ in range(50):
            if os.path.exists(m):
                break
            import time
            time.sleep(0.05)
        assert os.path.exists(m), f"evil fixture {name} is not live: {m} was not created"
        os.remove(m)
        print(f"  evil/{name}.pt is live (created {m} under Python pickle)")


def bad_fixtures(tensors):
    d = os.path.join(OUT, "bad")
    os.makedirs(d, exist_ok=True)
    role = tensors["role_tokens"].to(torch.bfloat16)
    role_bytes = role.view(torch.int16).numpy().tobytes()

    # zip bomb: role_tokens is a 640-element view of a 4M-element zero storage, stored DEFLATED (8 MB -> ~8 KB)
    big = torch.zeros(4 * 1024 * 1024, dtype=torch.bfloat16)
    big[:MEM * HIDDEN] = role.flatten()
    sd = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
    sd["role_tokens"] = big[:MEM * HIDDEN].view(MEM, HIDDEN)
    raw = io.BytesIO()
    torch.save(sd, raw)
    raw.seek(0)
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(os.path.join(d, "zip_bomb.pt"), "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            comp = zipfile.ZIP_DEFLATED if len(data) > 1_000_000 else zipfile.ZIP_STORED
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0)), data, compress_type=comp)

    # role_tokens declares a [2^20, 2^20] shape over a 2^40-element storage (the entry has 1280 bytes)
    pkl = b"\x80\x02" + op_dict([("role_tokens", op_tensor("BFloat16Storage", "0", 2 ** 40, 0, [2 ** 20, 2 ** 20],
                                                           [2 ** 20, 1]))]) + b"."
    write_archive(os.path.join(d, "huge_shape.pt"), pkl, {"0": role_bytes})

    # a right shape over a storage that claims 2^40 elements while the archive entry has 1280 bytes
    pkl = b"\x80\x02" + op_dict([("role_tokens", op_tensor("BFloat16Storage", "0", 2 ** 40, 0, [MEM, HIDDEN],
                                                           [HIDDEN, 1]))]) + b"."
    write_archive(os.path.join(d, "huge_storage.pt"), pkl, {"0": role_bytes})

    # a BINUNICODE that claims 4 GB
    pkl = b"\x80\x02}(X" + struct.pack("<I", 0xFFFFFFF0) + b"role_tokens"
    write_archive(os.path.join(d, "huge_string.pt"), pkl, {"0": role_bytes})

    # a transposed (non-contiguous) role_tokens
    pkl = b"\x80\x02" + op_dict([("role_tokens", op_tensor("BFloat16Storage", "0", MEM * HIDDEN, 0, [MEM, HIDDEN],
                                                           [1, MEM]))]) + b"."
    write_archive(os.path.join(d, "non_contiguous.pt"), pkl, {"0": role_bytes})

    # BUILD applied to a tensor (torch never writes this; only an OrderedDict's _metadata may be BUILT)
    pkl = (b"\x80\x02}(" + op_unicode("role_tokens")
           + op_tensor("BFloat16Storage", "0", MEM * HIDDEN, 0, [MEM, HIDDEN], [HIDDEN, 1]) + b"}b" + b"u.")
    write_archive(os.path.join(d, "build_tensor.pt"), pkl, {"0": role_bytes})

    # the legacy (pre-1.6, non-zip) torch.save format
    buf = io.BytesIO()
    torch.save({"role_tokens": role}, buf, _use_new_zipfile_serialization=False)
    with open(os.path.join(d, "legacy.pt"), "wb") as f:
        f.write(buf.getvalue())


def main():
    os.makedirs(OUT, exist_ok=True)
    t = make_tensors()
    fp = fingerprint(t)

    # the official layout: save_adapter() pickles a plain dict comprehension over state_dict() (bf16 tensors)
    bf16 = {k: v.to(torch.bfloat16).clone() for k, v in t.items()}
    torch.save(bf16, os.path.join(OUT, "tiny.pt"))
    write_safetensors(os.path.join(OUT, "tiny.safetensors"), bf16)

    # model.state_dict(): an OrderedDict with _metadata (-> BUILD), float32, storages DEFLATED
    sd = collections.OrderedDict((k, v.clone()) for k, v in t.items())
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("model", {"version": 1})])
    tmp = os.path.join(OUT, "tiny_state_dict.tmp")
    torch.save(sd, tmp)
    rezip_deflated(tmp, os.path.join(OUT, "tiny_state_dict.pt"))
    os.remove(tmp)

    # float16, keys "model.layers.{i}...", layer tensors as views of one shared storage
    flat = torch.cat([t[k].flatten() for k in canonical_names()[2:]]).to(torch.float16)
    f16, pos = collections.OrderedDict(), 0
    f16["role_tokens"] = t["role_tokens"].to(torch.float16)
    f16["special_tokens"] = t["special_tokens"].to(torch.float16)
    for k in canonical_names()[2:]:
        n = t[k].numel()
        f16[k.replace("model.model.layers.", "model.layers.")] = flat[pos:pos + n].view(t[k].shape)
        pos += n
    torch.save(f16, os.path.join(OUT, "tiny_f16_views.pt"))

    # check the written files with torch itself
    for name in ("tiny.pt", "tiny_state_dict.pt", "tiny_f16_views.pt"):
        back = torch.load(os.path.join(OUT, name))
        for k in canonical_names():
            key = k if k in back else k.replace("model.model.layers.", "model.layers.")
            assert torch.equal(back[key].float(), t[k]), (name, k)

    exp = collections.OrderedDict()
    exp["hidden"], exp["layers"], exp["heads"], exp["kv_heads"], exp["head_dim"] = HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM
    exp["rank"], exp["mem_size"] = RANK, MEM
    exp["fingerprint"] = fp
    exp["tensors"] = expected_entry(t)
    exp["evil_markers"] = {}
    live = evil_fixtures(t)
    exp["evil_markers"] = {name: m for name, m in MARKERS}
    bad_fixtures(t)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
        f.write("\n")
    prove_live(live)
    print("wrote", OUT, "fingerprint", fp)


if __name__ == "__main__":
    main()
