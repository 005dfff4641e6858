// Reference token ids for sac4j's BpeTokenizer tests, computed by Hugging Face's own JavaScript tokenizer
// (@huggingface/tokenizers, pinned in package.json). Run once after changing lines.txt or the tokenizer.json files;
// the outputs are committed, so tests need neither node nor npm.
//
//   cd scripts/tokenizer && npm ci && node reference_ids.mjs
//
// For each src/test/resources/fixtures/tokenizer/<name>/tokenizer.json it writes <name>/expected.jsonl: one JSON
// object per test case {"case", "from", "to", "sep", "ids", "roundtrip"[, "decoded"]}, where the case text is
// lines[from..to) of lines.txt joined with sep. Cases: every line alone, then lines 0-7, 16-23, 32-39, ... as blocks
// joined with "\n" (every second block with "\r\n") so that newlines and CR LF go through the pre-tokenizer regexes too.
// ids come from encode(text, {add_special_tokens: false}); "decoded" (written only when it differs from the text)
// is decode(ids) with special tokens kept and no clean-up of spaces.
//
// Known limits of the reference, avoided by lines.txt: tokenizers.js's built-in GPT-2 regex uses JavaScript's \s
// (U+FEFF counts as space, U+0085 does not; Rust/Oniguruma say the opposite), (?i:...) folds ASCII only, and its
// Digits pre-tokenizer uses \d = [0-9] where Rust uses char::is_numeric. For the smollm2 file (Digits) cases with
// non-ASCII numeric characters are therefore left out.
import { Tokenizer } from "@huggingface/tokenizers";
import { readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "..", "..", "src", "test", "resources", "fixtures", "tokenizer");

const text = readFileSync(join(fixtures, "lines.txt"), "utf8");
const lines = text.split("\n");
if (lines[lines.length - 1] === "") lines.pop();

const cases = lines.map((_, i) => ({ from: i, to: i + 1, sep: "\n" }));
for (let s = 0, k = 0; s < lines.length; s += 16, k++) {
  cases.push({ from: s, to: Math.min(s + 8, lines.length), sep: k % 2 === 1 ? "\r\n" : "\n" });
}

const nonAsciiNumeric = /[^\P{N}0-9]/u;

for (const name of readdirSync(fixtures).sort()) {
  const file = join(fixtures, name, "tokenizer.json");
  if (!existsSync(file)) continue;
  const json = JSON.parse(readFileSync(file, "utf8"));
  const usesDigits = JSON.stringify(json.pre_tokenizer).includes('"Digits"');
  const tok = new Tokenizer(json, { clean_up_tokenization_spaces: false });
  const out = [];
  let roundtrips = 0;
  cases.forEach((c, i) => {
    const t = lines.slice(c.from, c.to).join(c.sep);
    if (usesDigits && nonAsciiNumeric.test(t)) return;
    const ids = tok.encode(t, { add_special_tokens: false }).ids;
    const decoded = ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: false });
    const rec = { case: i, from: c.from, to: c.to, sep: c.sep, ids, roundtrip: decoded === t };
    if (decoded !== t) rec.decoded = decoded;
    else roundtrips++;
    out.push(JSON.stringify(rec));
  });
  writeFileSync(join(fixtures, name, "expected.jsonl"), out.join("\n") + "\n");
  console.log(`${name}: ${out.length} cases, ${roundtrips} decode back to the text`);
}
