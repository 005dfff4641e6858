#!/usr/bin/python3
"""Reference values for io.sac4j.eval.Metrics (standard library only).

Writes two fixtures under src/test/resources/fixtures/eval/:

  metrics_cases.jsonl   one JSON object per case: prediction, answers, and what the two Python metrics say:
                        - the paper's metrics, as SAC's official evaluator (github lx-Meteors/SAC,
                          sft/instruction_evaluator.py) computes them: rouge-1 "f" of
                          `rouge.Rouge().get_scores(prediction, answers[0])` (pltrdy/rouge 1.0.1, default
                          settings), 0.0 when that raises (the evaluator catches every exception and records 0.0),
                          and EM = `prediction == answers[0]`;
                        - the official SQuAD v1.1 metrics (max over all answers), plus the intermediate strings
                          (normalize_answer, str.lower, str.split) so a mismatch is easy to locate.
  python_unicode.json   Python's own answers, for every code point, to the questions the Java port has to answer
                        the same way: str.isspace, re's \\w (what \\b in remove_articles looks at), str.lower, and
                        the two properties lower() uses for the final-sigma rule (probed through lower() itself).

Usage (from the repository root):
  /usr/bin/python3 scripts/eval/reference_metrics.py [--squad /work/shared/data/squad-dev-v1.1.json]
                                                     [--rouge-package DIR]
--squad adds ~30 cases built from real SQuAD dev questions (skipped with a note when the file is absent).
--rouge-package DIR: a directory holding the real `rouge` package (e.g. `git archive 1.0.1 rouge` of
github pltrdy/rouge; it needs `six`): every case's F is then also computed by the package itself and must agree
exactly with the rewrite below.

Sources:
- normalize_answer, f1_score, exact_match_score, metric_max_over_ground_truths: the official SQuAD v1.1 evaluation
  script evaluate-v1.1.py (https://rajpurkar.github.io/SQuAD-explorer/, repository rajpurkar/SQuAD-explorer),
  reproduced unchanged in function under its license:
    MIT License, Copyright (c) 2020 Pranav Rajpurkar. Permission is hereby granted, free of charge, to any person
    obtaining a copy of this software and associated documentation files (the "Software"), to deal in the Software
    without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute,
    sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do
    so, subject to the following conditions: The above copyright notice and this permission notice shall be
    included in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT
    WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
    LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
    FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
- rouge1_f: a rewrite of the ROUGE-1 path of pltrdy/rouge 1.0.1 (rouge/rouge.py Rouge._get_scores and
  rouge/rouge_score.py rouge_n / _get_word_ngrams / f_r_p_rouge_n; Apache-2.0, derived from Google's seq2seq
  metrics). What it does, read from the 1.0.1 source: no lowercasing and no punctuation handling at all; the text is
  split on "." into "sentences", empty pieces dropped, each piece whitespace-normalised with " ".join(piece.split());
  tokens are piece.split(" ") (so a whitespace-only piece gives one empty token ""); with the default
  exclusive=True the unigrams are a SET; p = overlap/|hyp set|, r = overlap/|ref set|,
  f = 2 * ((p * r) / (p + r + 1e-8)); no piece left raises ValueError("Hypothesis is empty." / "Reference is
  empty.").
"""
import argparse
import json
import os
import random
import re
import string
import sys
import unicodedata
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(ROOT, "src", "test", "resources", "fixtures", "eval")


# ---------------------------------------------------------------- official SQuAD v1.1 (evaluate-v1.1.py)

def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# ---------------------------------------------------------------- rouge 1.0.1, ROUGE-1 F (rewritten)

def _rouge_sentences(text):
    return [" ".join(piece.split()) for piece in text.split(".") if len(piece) > 0]


def _rouge_unigrams(sentences):
    words = []
    for s in sentences:
        words.extend(s.split(" "))
    return set(words)  # exclusive=True: a set, duplicates count once


def rouge1_f(hypothesis, reference):
    """(f, error): f as rouge 1.0.1 reports it, or (None, message) where it raises ValueError."""
    hyp = _rouge_sentences(hypothesis)
    ref = _rouge_sentences(reference)
    if len(hyp) <= 0:
        return None, "Hypothesis is empty."
    if len(ref) <= 0:
        return None, "Reference is empty."
    h, r = _rouge_unigrams(hyp), _rouge_unigrams(ref)
    overlap = len(h & r)
    p = 0.0 if len(h) == 0 else overlap / len(h)
    rc = 0.0 if len(r) == 0 else overlap / len(r)
    return 2.0 * ((p * rc) / (p + rc + 1e-8)), None


# ---------------------------------------------------------------- cases

HAND = [
    # (prediction, answers, why)
    ("Denver Broncos", ["Denver Broncos", "Denver Broncos", "Denver Broncos"], "exact"),
    ("denver broncos", ["Denver Broncos"], "case: rouge is case-sensitive, SQuAD is not"),
    ("The Denver Broncos.", ["Denver Broncos"], "article + final dot"),
    ("Denver Broncos.", ["Denver Broncos"], "final dot only"),
    ("Broncos Broncos Broncos", ["Denver Broncos"], "repeats: set vs multiset"),
    ("the the the cat", ["cat cat"], "repeats after article removal"),
    ("a b a b", ["a b c"], "articles are tokens too"),
    ("x y x y", ["x y z x"], "multiset overlap 3"),
    ("", ["Paris"], "empty prediction: rouge raises"),
    ("...", ["Paris"], "only dots: rouge raises"),
    (" ", ["Paris"], "whitespace prediction: rouge token ''"),
    ("Paris. ", ["Paris"], "trailing '. ' gives an empty rouge token"),
    (" . . ", [" . "], "empty rouge tokens on both sides"),
    ("Paris", [""], "empty reference: rouge raises"),
    ("", [""], "both empty: paper EM 1, rouge raises, SQuAD EM 1 F1 0"),
    ("a", ["the"], "both normalise to empty"),
    ("The", ["the"], "article only"),
    ("U.S.", ["United States", "U.S."], "dots split rouge sentences"),
    ("U.S. Army", ["US Army"], "SQuAD drops the dots"),
    ("3.14", ["3.14"], "decimal point"),
    ("3.14", ["3"], "decimal point splits for rouge"),
    ("1,000", ["1000"], "thousands comma"),
    ("$5 million", ["5 million"], "dollar sign"),
    ("24\u201310", ["24\u201310"], "en dash is not ASCII punctuation"),
    ("24-10", ["24\u201310"], "hyphen vs en dash"),
    ("\u201cgolden anniversary\u201d", ["golden anniversary"], "curly quotes stay"),
    ("\"golden anniversary\"", ["golden anniversary"], "straight quotes go"),
    ("Levi's Stadium", ["Levi's Stadium in the San Francisco Bay Area at Santa Clara, California"], "partial"),
    ("Santa Clara", ["Levi's Stadium", "Santa Clara, California", "Santa Clara"], "several golds: paper uses [0]"),
    ("Santa Clara, California", ["Levi's Stadium", "Santa Clara, California"], "comma glued to token"),
    ("The answer is Denver Broncos, who won.", ["Denver Broncos"], "long prediction"),
    ("  Denver \t Broncos  ", ["Denver Broncos"], "extra whitespace"),
    ("Denver\nBroncos", ["Denver Broncos"], "newline"),
    ("New\u00a0York", ["New York"], "NBSP is Python whitespace"),
    ("New\u200bYork", ["New York"], "zero-width space is not whitespace"),
    ("New\u3000York", ["New York"], "ideographic space"),
    ("New\u2028York", ["New York"], "line separator"),
    ("New\x1cYork", ["New York"], "\\x1c is whitespace for str.split"),
    ("New\x85York", ["New York"], "NEL"),
    ("New\u180eYork", ["New York"], "U+180E is not whitespace since Unicode 6.3"),
    ("foo_bar", ["foo bar"], "underscore is punctuation"),
    ("don't", ["dont"], "apostrophe"),
    ("A-team", ["team"], "punctuation goes before articles"),
    ("an apple", ["apple"], "an"),
    ("theater", ["the ater"], "article must be a whole word"),
    ("a_b", ["a b"], "underscore glues"),
    ("the\u0301 end", ["end"], "combining mark is not a word char for re: 'the' is removed"),
    ("a\u0308 b", ["b"], "a + combining diaeresis"),
    ("\u00e4 b", ["b"], "precomposed a-umlaut is a word char"),
    ("a\u00b2 b", ["b"], "superscript two is a word char"),
    ("a\u2167", ["\u2177"], "roman numeral (Nl)"),
    ("the\u00b7end", ["end"], "middle dot"),
    ("\u00c9COLE", ["\u00e9cole"], "lower E acute"),
    ("Saint Barth\u00e9lemy", ["saint barth\u00e9lemy"], "accent"),
    ("cafe\u0301", ["caf\u00e9"], "NFD vs NFC are different strings"),
    ("\u0130stanbul", ["i\u0307stanbul"], "dotted capital I lowers to two code points"),
    ("\u0130stanbul", ["istanbul"], "dotted capital I vs plain i"),
    ("\u0131", ["i"], "dotless i"),
    ("STRASSE", ["stra\u00dfe"], "sharp s does not fold"),
    ("\u01c5", ["\u01c6"], "titlecase digraph"),
    ("\uff21\uff22\uff23", ["abc"], "fullwidth letters lower to fullwidth"),
    ("\U0001d400", ["\U0001d41a"], "math bold A has no lowercase"),
    ("\U00010400", ["\U00010428"], "Deseret capital (supplementary lower mapping)"),
    ("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", ["\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2"], "final sigma"),
    ("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", ["\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3"], "final sigma vs sigma"),
    ("\u03a3", ["\u03c3"], "lone capital sigma"),
    ("A1\u03a3", ["a1\u03c3"], "sigma after a digit: not final for Python (Java's toLowerCase says final)"),
    ("A\u03a31B", ["a\u03c21b"], "sigma before a digit: final for Python"),
    ("A.\u03a3", ["a.\u03c2"], "'.' is case-ignorable"),
    ("A'\u03a3 B", ["a\u03c2 b"], "apostrophe is case-ignorable"),
    ("A\u03a3'B", ["a\u03c3b"], "cased letter after case-ignorable"),
    ("\u0391\u0301\u03a3", ["\u03b1\u0301\u03c2"], "combining mark before sigma"),
    ("\u03a3\u0391", ["\u03c3\u03b1"], "initial sigma"),
    ("\u5317\u4eac", ["\u5317\u4eac"], "CJK"),
    ("\u5317\u4eac \u5927\u5b66", ["\u5317\u4eac\u5927\u5b66"], "CJK needs spaces to split"),
    ("\u3002\u5317\u4eac", ["\u5317\u4eac"], "ideographic full stop is not ASCII"),
    ("\U0001f389 party", ["party \U0001f389"], "emoji token"),
    ("party\U0001f389", ["party"], "emoji glued"),
    ("\U0001f469\u200d\U0001f469\u200d\U0001f467", ["\U0001f469\u200d\U0001f469\u200d\U0001f467 family"], "ZWJ sequence"),
    ("\u0663", ["3"], "Arabic-Indic digit"),
    ("x\ud800y", ["x\ud800y"], "lone surrogate survives"),
    ("((()))", ["()"], "only punctuation"),
    ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", [""], "all of string.punctuation"),
    ("\u00bfQu\u00e9?", ["qu\u00e9"], "inverted question mark is not ASCII"),
    ("Mr. Smith", ["Smith"], "title with dot"),
    ("Denver Broncos", ["The Denver Broncos", "Broncos"], "gold has article"),
    ("Broncos", ["Denver Broncos", "Broncos"], "max over golds"),
    ("seven", ["7", "seven"], "number word"),
    ("1990s", ["the 1990s", "1990s"], "number with suffix"),
    ("in 1066", ["1066"], "extra word"),
    ("one two three four five", ["three"], "low precision"),
    ("three", ["one two three four five"], "low recall"),
]

VOCAB = ["Denver", "denver", "Broncos", "the", "The", "THE", "a", "an", "An", "cat", "1,000", "3.14", "U.S.",
         "caf\u00e9", "Caf\u00e9", "CAF\u00c9", "\u5317\u4eac", "\U0001f389", "\u03a3", "\u039f\u0394\u03a5\u03a3",
         "na\u00efve", "don't", "co-op", "_x_", "\u0130", "\u00df", "e\u0301", "42", "\u00bd", "\u2167"]
SEPS = [" ", " ", " ", "  ", "\t", "\n", ".", ". ", ",", ", ", "\u00a0", "\u3000", "", "-", "...", "\u200b"]


def generated(rng, n):
    def text(k):
        out = []
        for i in range(k):
            if i:
                out.append(rng.choice(SEPS))
            out.append(rng.choice(VOCAB))
        if rng.random() < 0.2:
            out.append(rng.choice([".", " ", "!", "?"]))
        return "".join(out)

    cases = []
    for i in range(n):
        pred = text(rng.randint(0, 5))
        answers = []
        for _ in range(rng.randint(1, 3)):
            r = rng.random()
            if r < 0.3:
                answers.append(pred)
            elif r < 0.5:
                answers.append(pred.lower() if rng.random() < 0.5 else pred.upper())
            elif r < 0.7:
                words = pred.split()
                rng.shuffle(words)
                answers.append(" ".join(words[:max(1, len(words) - 1)]))
            else:
                answers.append(text(rng.randint(1, 4)))
        cases.append((pred, answers, "generated"))
    return cases


def from_squad(path, n):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    qas = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qas.append((paragraph["context"], qa))
    qas.sort(key=lambda cq: cq[1]["id"])  # file order differs from the official file; ids do not
    rng = random.Random(20251125)
    cases = []
    for context, qa in rng.sample(qas, n):
        golds = [a["text"] for a in qa["answers"]]
        kind = rng.randrange(5)
        if kind == 0:
            pred = golds[-1]
        elif kind == 1:
            pred = golds[0].lower()
        elif kind == 2:
            pred = golds[0] + "."
        elif kind == 3:
            start = qa["answers"][0]["answer_start"]
            pred = context[max(0, start - 20):start + len(golds[0]) + 20]
        else:
            pred = "The answer is " + golds[-1] + "."
        cases.append((pred, golds, "squad " + qa["id"]))
    return cases


def case_record(cid, pred, answers, why, rouge_pkg):
    f, err = rouge1_f(pred, answers[0])
    if rouge_pkg is not None:
        try:
            pf = rouge_pkg.get_scores(pred, answers[0])[0]["rouge-1"]["f"]
        except ValueError as e:
            pf = None
            if str(e) != err:
                raise SystemExit("%s: package raised %r, rewrite said %r" % (cid, str(e), err))
        if pf != f:
            raise SystemExit("%s: package f=%r, rewrite f=%r" % (cid, pf, f))
    return {
        "id": cid,
        "why": why,
        "prediction": pred,
        "answers": answers,
        "paper_f1": 0.0 if f is None else f,
        "rouge_error": err,
        "paper_em": 1.0 if pred == answers[0] else 0.0,
        "squad_em": 1.0 if metric_max_over_ground_truths(exact_match_score, pred, answers) else 0.0,
        "squad_f1": float(metric_max_over_ground_truths(f1_score, pred, answers)),
        "norm_prediction": normalize_answer(pred),
        "lower_prediction": pred.lower(),
        "split_prediction": pred.split(),
    }


# ---------------------------------------------------------------- unicode tables

def ranges(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def unicode_tables():
    word_re = re.compile(r"\w")
    space, word, ign, cased, assigned, lower = [], [], [], [], [], []
    for cp in range(0x110000):
        c = chr(cp)
        if c.isspace():
            space.append(cp)
        if word_re.fullmatch(c):
            word.append(cp)
        lo = c.lower()
        if lo != c:
            lower.append([cp] + [ord(x) for x in lo])
        # The final-sigma rule only looks at two properties; probe them through lower() itself:
        # "A" + c + SIGMA ends in final sigma iff c is case-ignorable or cased; c + SIGMA iff c is cased and not
        # case-ignorable (an ignorable c is skipped, leaving nothing before the sigma).
        p1 = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"
        p2 = (c + "\u03a3").lower()[-1] == "\u03c2"
        if p1 and not p2:
            ign.append(cp)
        if p2:
            cased.append(cp)
        if unicodedata.category(c) != "Cn":
            assigned.append(cp)
    return {
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
        "punctuation": string.punctuation,
        "space": space,
        "word": ranges(word),
        "case_ignorable": ranges(ign),
        "cased_not_ignorable": ranges(cased),
        "assigned": ranges(assigned),
        "lower": lower,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", default="/work/shared/data/squad-dev-v1.1.json")
    ap.add_argument("--rouge-package", default=None)
    args = ap.parse_args()

    rouge_pkg = None
    if args.rouge_package:
        sys.path.insert(0, args.rouge_package)
        from rouge import Rouge
        rouge_pkg = Rouge()

    cases = [("hand-%03d" % i, p, a, w) for i, (p, a, w) in enumerate(HAND)]
    cases += [("gen-%03d" % i, p, a, w) for i, (p, a, w) in enumerate(generated(random.Random(1234), 60))]
    if os.path.exists(args.squad):
        cases += [("squad-%03d" % i, p, a, w) for i, (p, a, w) in enumerate(from_squad(args.squad, 30))]
    else:
        print("note: %s not found, SQuAD-derived cases skipped" % args.squad, file=sys.stderr)

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "metrics_cases.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for cid, pred, answers, why in cases:
            # ensure_ascii keeps lone surrogates representable (as \\ud800 escapes)
            f.write(json.dumps(case_record(cid, pred, answers, why, rouge_pkg), ensure_ascii=True) + "\n")
    with open(os.path.join(OUT_DIR, "python_unicode.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(unicode_tables(), f, separators=(",", ":"))
        f.write("\n")
    print("wrote %d cases%s" % (len(cases), " (rouge package agrees on all)" if rouge_pkg else ""))


if __name__ == "__main__":
    main()
