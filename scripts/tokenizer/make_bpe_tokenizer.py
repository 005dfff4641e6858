#!/usr/bin/python3
"""Trains a tiny byte-level BPE and writes it as Hugging Face tokenizer.json files in the layouts that Llama 3,
Qwen2.5, GPT-2 and SmolLM2 use, so that sac4j's BpeTokenizer can be checked against the reference implementation
(scripts/tokenizer/reference_ids.mjs) without downloading a real model.

    /usr/bin/python3 scripts/tokenizer/make_bpe_tokenizer.py

Standard library only. Deterministic: same input text, same files. Every id stays below 512 so the llama3 file can
sit next to random test models with a 512-token vocabulary.

Outputs src/test/resources/fixtures/tokenizer/{llama3,qwen2,gpt2,smollm2}/tokenizer.json:
  llama3  : Sequence[Split(llama3 regex, Isolated), ByteLevel(use_regex=false)], ignore_merges=true, merges written
            as "a b" strings, three vocab entries that no merge produces (only ignore_merges can emit them), and
            specials after the BPE vocab (as in Llama 3, where they are not part of model.vocab).
  qwen2   : NFC normalizer, Sequence[Split(qwen2 regex), ByteLevel], merges written as [a, b] pairs (the newer
            tokenizers format), specials plus non-special added tokens (<tool_call> not normalized, <think>
            normalized), as in Qwen2.5.
  gpt2    : ByteLevel(use_regex=true) with the built-in GPT-2 regex, one special <|endoftext|>.
  smollm2 : Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)] with the specials at ids 0..2 and
            also in model.vocab, as SmolLM2 writes it.
"""
import json
import os
import re
from collections import Counter

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "src", "test", "resources", "fixtures", "tokenizer")

N_MERGES = 244

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")

# Training only needs plausible words; Python's re has no \p{L}, so this approximates the Llama 3 split.
TRAIN_SPLIT = re.compile(r"'(?:[sdmt]|ll|ve|re)|[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
                         re.IGNORECASE)

# Extra training text so that merges are not only fitted to the test lines.
EXTRA_TEXT = """
The history of natural language processing generally started in the 1950s, although work can be found from earlier
periods. In 1950, Alan Turing published an article titled "Computing Machinery and Intelligence" which proposed what
is now called the Turing test as a criterion of intelligence. Byte pair encoding is a simple form of data compression
in which the most common pair of consecutive bytes of data is replaced with a byte that does not occur within that
data. A table of the replacements is required to rebuild the original data. The algorithm was first described
publicly by Philip Gage in a February 1994 article "A New Algorithm for Data Compression" in the C Users Journal.
Language models use a variant of it: the vocabulary starts with the 256 byte values and learns merges of frequent
adjacent symbols, so that any text can be encoded, including emoji, Chinese characters and source code.
"""


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable characters, in GPT-2's vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


BYTE_ORDER = bytes_to_unicode()
BYTE_CHAR = dict(BYTE_ORDER)


def byte_level(s):
    return "".join(BYTE_CHAR[b] for b in s.encode("utf-8"))


def train(text, n_merges):
    words = Counter(byte_level(w) for w in TRAIN_SPLIT.findall(text))
    words = {tuple(w): c for w, c in words.items() if w}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        # most frequent pair; ties broken by the pair itself so the result is deterministic
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < 2:
            break
        a, b = best[0]
        merges.append((a, b))
        merged = {}
        for w, c in words.items():
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        words = merged
    if len(merges) != n_merges:
        raise SystemExit("training text too small: only %d merges" % len(merges))
    return merges


def added(id_, content, special=True, normalized=False):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": special}


def byte_level_pre(use_regex, trim_offsets=True):
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": trim_offsets, "use_regex": use_regex}


def split_pre(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def bpe_model(vocab, merges, ignore_merges, pair_format):
    return {
        "type": "BPE",
        "dropout": None,
        "unk_token": None,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": False,
        "byte_fallback": False,
        "ignore_merges": ignore_merges,
        "vocab": vocab,
        "merges": [[a, b] for a, b in merges] if pair_format else ["%s %s" % (a, b) for a, b in merges],
    }


def tokenizer_json(added_tokens, normalizer, pre_tokenizer, post_processor, model):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": model,
    }


def base_vocab(merges, first_id=0):
    vocab = {}
    for _, ch in BYTE_ORDER:
        vocab[ch] = first_id + len(vocab)
    for a, b in merges:
        if a + b not in vocab:  # a merge can recreate a string reached by another route; HF keeps the first id
            vocab[a + b] = first_id + len(vocab)
    return vocab


def write(name, tok):
    d = os.path.join(FIXTURES, name)
    os.makedirs(d, exist_ok=True)
    ids = [v for v in tok["model"]["vocab"].values()] + [t["id"] for t in tok["added_tokens"]]
    assert max(ids) < 512, name
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("%s: %d ids" % (name, max(ids) + 1))


def main():
    with open(os.path.join(FIXTURES, "lines.txt"), encoding="utf-8") as f:
        lines_text = f.read()
    merges = train(EXTRA_TEXT + lines_text, N_MERGES)

    # llama3
    vocab = base_vocab(merges)
    orphans = [byte_level(w) for w in (" robot", " Normans", " Mississippi")]
    for w in orphans:
        assert w not in vocab, w
        vocab[w] = len(vocab)
    n = len(vocab)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    llama3 = tokenizer_json(
        [added(n + i, s) for i, s in enumerate(specials)],
        None,
        {"type": "Sequence", "pretokenizers": [split_pre(LLAMA3_REGEX), byte_level_pre(False)]},
        {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n], "tokens": [
                 "<|begin_of_text|>"]}}}]},
        bpe_model(vocab, merges, True, False))
    write("llama3", llama3)

    # qwen2
    vocab = base_vocab(merges)
    n = len(vocab)
    qwen2 = tokenizer_json(
        [added(n, "<|endoftext|>"), added(n + 1, "<|im_start|>"), added(n + 2, "<|im_end|>"),
         added(n + 3, "<tool_call>", special=False, normalized=False),
         added(n + 4, "<think>", special=False, normalized=True)],
        {"type": "NFC"},
        {"type": "Sequence", "pretokenizers": [split_pre(QWEN2_REGEX), byte_level_pre(False, trim_offsets=False)]},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        bpe_model(vocab, merges, False, True))
    write("qwen2", qwen2)

    # gpt2
    vocab = base_vocab(merges)
    n = len(vocab)
    gpt2 = tokenizer_json(
        [added(n, "<|endoftext|>")],
        None,
        byte_level_pre(True),
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        bpe_model(vocab, merges, False, False))
    write("gpt2", gpt2)

    # smollm2: specials first, inside model.vocab as well
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {s: i for i, s in enumerate(specials)}
    vocab.update(base_vocab(merges, first_id=len(specials)))
    smollm2 = tokenizer_json(
        [added(i, s) for i, s in enumerate(specials)],
        None,
        {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level_pre(True)]},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        bpe_model(vocab, merges, False, False))
    write("smollm2", smollm2)


if __name__ == "__main__":
    main()
