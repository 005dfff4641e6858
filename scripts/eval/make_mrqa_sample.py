#!/usr/bin/python3
"""Small MRQA-layout samples built from the SQuAD v1.1 dev file (standard library only).

Writes into src/test/resources/fixtures/eval/:
  squad_sample.jsonl.gz  gzipped, header {"header": {"dataset": "SQuAD", "split": "dev"}}, each context line with
                         an "id" equal to the id the SQuAD JSON reader gives the same paragraph ("title/index")
  squad_sample.jsonl     the same contexts and questions, plain text, with the older header key "mrqa_split", no
                         "id" field (readers fall back to "line-N") and no token arrays (kept small)
Contexts: the first two paragraphs of each of the first 10 articles in title order (20 contexts), so the choice
does not depend on the article order of the file. Lines follow the MRQA 2019 layout (context, context_tokens, qas:
qid, question, question_tokens, answers, detected_answers with inclusive char/token spans); the tokens here are
plain whitespace tokens with character offsets, not spaCy's: readers ignore them.

Usage: /usr/bin/python3 scripts/eval/make_mrqa_sample.py [/work/shared/data/squad-dev-v1.1.json]
"""
import gzip
import io
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(ROOT, "src", "test", "resources", "fixtures", "eval")


def tokens(text):
    return [[m.group(0), m.start()] for m in re.finditer(r"\S+", text)]


def token_span(toks, start, end):
    """Inclusive token indices covering the inclusive character span [start, end]."""
    first = last = None
    for i, (tok, off) in enumerate(toks):
        if off <= end and off + len(tok) - 1 >= start:
            if first is None:
                first = i
            last = i
    return [first, last]


def context_line(title, p, paragraph, full):
    ctx = paragraph["context"]
    ctx_toks = tokens(ctx)
    qas = []
    for qa in paragraph["qas"]:
        detected = {}
        for a in qa["answers"]:
            s = a["answer_start"]
            e = s + len(a["text"]) - 1
            d = detected.setdefault(a["text"], {"text": a["text"], "char_spans": [], "token_spans": []})
            if [s, e] not in d["char_spans"]:
                d["char_spans"].append([s, e])
                d["token_spans"].append(token_span(ctx_toks, s, e))
        q = {"qid": qa["id"], "question": qa["question"]}
        if full:
            q["question_tokens"] = tokens(qa["question"])
        q["answers"] = [a["text"] for a in qa["answers"]]
        q["detected_answers"] = list(detected.values())
        qas.append(q)
    line = {}
    if full:
        line["id"] = "%s/%d" % (title, p)
    line["context"] = ctx
    if full:
        line["context_tokens"] = ctx_toks
    line["qas"] = qas
    return json.dumps(line, ensure_ascii=False)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/squad-dev-v1.1.json"
    with open(src, encoding="utf-8") as f:
        data = json.load(f)["data"]
    chosen = sorted(data, key=lambda a: a["title"])[:10]

    gz_lines = [json.dumps({"header": {"dataset": "SQuAD", "split": "dev"}})]
    plain_lines = [json.dumps({"header": {"dataset": "SQuAD", "mrqa_split": "dev"}})]
    for article in chosen:
        for p, paragraph in enumerate(article["paragraphs"][:2]):
            gz_lines.append(context_line(article["title"], p, paragraph, True))
            plain_lines.append(context_line(article["title"], p, paragraph, False))

    os.makedirs(OUT_DIR, exist_ok=True)
    raw = io.BytesIO()
    # mtime=0 and no file name: the same input always gives the same bytes
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as g:
        g.write(("\n".join(gz_lines) + "\n").encode("utf-8"))
    with open(os.path.join(OUT_DIR, "squad_sample.jsonl.gz"), "wb") as f:
        f.write(raw.getvalue())
    with open(os.path.join(OUT_DIR, "squad_sample.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(plain_lines) + "\n")
    n_q = sum(len(json.loads(l)["qas"]) for l in gz_lines[1:])
    print("wrote %d contexts, %d questions" % (len(gz_lines) - 1, n_q))


if __name__ == "__main__":
    main()
