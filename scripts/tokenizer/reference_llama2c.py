#!/usr/bin/python3
"""Reference token ids for sac4j's Llama2cTokenizer: a direct, deliberately naive Python port of encode() and
decode() in Karpathy's llama2.c run.c, run on the llama2.c tokenizer tok512.bin.

    /usr/bin/python3 scripts/tokenizer/reference_llama2c.py [path/to/tok512.bin]

Standard library only. Writes src/test/resources/fixtures/tokenizer/tok512/expected.jsonl with the same cases as
reference_ids.mjs (every line of lines.txt alone, then lines 0-7, 16-23, ... joined with "\\n", every second block
with "\\r\\n"): {"case", "from", "to", "sep", "ids", "roundtrip"[, "decoded"]}. ids are encode(text, bos=0, eos=0);
"decoded" (written only when it differs from the text) is what run.c's decode() pieces give when the ids follow
BOS (token 1), joined as bytes and read as UTF-8.
"""
import json
import os
import struct
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "src", "test", "resources", "fixtures", "tokenizer")
VOCAB_SIZE = 512  # from the aidreams260K.bin header


def load(path, vocab_size):
    data = open(path, "rb").read()
    (max_token_length,) = struct.unpack_from("<i", data, 0)
    off = 4
    vocab, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        piece = data[off:off + n]
        off += n
        # run.c keeps tokens as C strings: a NUL inside ends the string
        vocab.append(piece.split(b"\0")[0])
        scores.append(score)
    return max_token_length, vocab, scores


def encode(text, vocab, scores):
    """run.c encode(t, text, bos=0, eos=0, ...): the same steps, in the same order."""
    lookup = {}
    for i, piece in enumerate(vocab):
        lookup.setdefault(piece, i)  # tok512 has no duplicate strings, so bsearch's choice does not matter
    data = text.encode("utf-8")
    tokens = []
    if len(data) > 0:
        tokens.append(lookup.get(b" ", -1))  # the dummy prefix
    buf = b""
    for i, c in enumerate(data):
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        nxt = data[i + 1] if i + 1 < len(data) else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            continue
        tid = lookup.get(buf, -1)
        if tid != -1:
            tokens.append(tid)
        else:
            for b in buf:
                tokens.append(b + 3)  # byte fallback: <0x00> is token 3
        buf = b""
    while True:
        best_score = struct.unpack("<f", struct.pack("<f", -1e10))[0]
        best_id = -1
        best_idx = -1
        for i in range(len(tokens) - 1):
            tid = lookup.get(vocab[tokens[i]] + vocab[tokens[i + 1]], -1)
            if tid != -1 and scores[tid] > best_score:
                best_score = scores[tid]
                best_id = tid
                best_idx = i
        if best_idx == -1:
            break
        tokens[best_idx] = best_id
        del tokens[best_idx + 1]
    return tokens


def decode_piece(vocab, prev, token):
    """run.c decode(): strip the leading space after BOS, turn <0xXX> pieces into their byte."""
    piece = vocab[token]
    if prev == 1 and piece[:1] == b" ":
        piece = piece[1:]
    if piece.startswith(b"<0x") and len(piece) >= 4:
        hexpart = piece[3:5]
        digits = b""
        for ch in hexpart:
            if chr(ch) in "0123456789abcdefABCDEF":
                digits += bytes([ch])
            else:
                break
        if digits:
            return bytes([int(digits, 16)])
    return piece


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/models/tok512.bin"
    _, vocab, scores = load(path, VOCAB_SIZE)
    with open(os.path.join(FIXTURES, "lines.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cases = [(i, i + 1, "\n") for i in range(len(lines))]
    for k, s in enumerate(range(0, len(lines), 16)):
        cases.append((s, min(s + 8, len(lines)), "\r\n" if k % 2 == 1 else "\n"))
    out_dir = os.path.join(FIXTURES, "tok512")
    os.makedirs(out_dir, exist_ok=True)
    same = 0
    with open(os.path.join(out_dir, "expected.jsonl"), "w", encoding="utf-8") as out:
        for n, (a, b, sep) in enumerate(cases):
            text = sep.join(lines[a:b])
            ids = encode(text, vocab, scores)
            raw = b""
            prev = 1
            for t in ids:
                raw += decode_piece(vocab, prev, t)
                prev = t
            decoded = raw.decode("utf-8", errors="replace")
            rec = {"case": n, "from": a, "to": b, "sep": sep, "ids": ids, "roundtrip": decoded == text}
            if decoded != text:
                rec["decoded"] = decoded
            else:
                same += 1
            out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    print("tok512: %d cases, %d decode back to the text" % (len(cases), same))


if __name__ == "__main__":
    main()
