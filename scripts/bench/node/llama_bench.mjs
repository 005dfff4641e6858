// llama.cpp (through node-llama-cpp's prebuilt CPU binaries) on a GGUF file, measured as sac4j's ForwardBench
// measures itself: prefill of a P-token prompt (tokens (i * 7919 + 13) % vocab, positions 0..P-1, in one batch)
// and decode of D single tokens right after that prompt, each step computing the logits and picking the next token
// greedily. Prints one JSON object on stdout.
//
// With --greedy K it also reports the greedy next token after each of the prompts made of the first 8, 16, ..., 8K
// pattern tokens, the prompt's last token excluded (random tied-embedding models mostly echo their input, so the
// runner-up is what depends on the layers): a cheap check that every engine computes the same function of a file.
//
// usage: node llama_bench.mjs MODEL.gguf [--threads 2] [--prompt 512] [--decode 64] [--reps 3] [--warmup 1]
//                             [--greedy 0] [--sac-context N [--question 16]]
//
// With --sac-context N it measures SAC's "ask" baseline instead: llama.cpp cannot hold SAC's anchor rows, so only
// the context held in full. It evaluates the N context ids ([BOS] + pattern tokens 1..N-1, positions 0..N-1; not
// timed), then times the prefill of a question of Q pattern tokens N..N+Q-1 to the first answer token (greedy),
// erasing the question from the sequence after each run; it also reports the first answer token with the
// question's last token excluded (as --greedy does), from one more, untimed run.
import {getLlama, LlamaLogLevel, TokenBias} from "node-llama-cpp";
import {readFileSync} from "node:fs";
import {fileURLToPath} from "node:url";
import path from "node:path";

function parseArgs(argv) {
    const o = {threads: 2, prompt: 512, decode: 64, reps: 3, warmup: 1, greedy: 0, sacContext: 0, question: 16, model: null};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const num = () => {
            const v = Number(argv[++i]);
            if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer, got ${argv[i]}`);
            return v;
        };
        if (a === "--threads") o.threads = num();
        else if (a === "--prompt") o.prompt = num();
        else if (a === "--decode") o.decode = num();
        else if (a === "--reps") o.reps = num();
        else if (a === "--warmup") o.warmup = num();
        else if (a === "--greedy") o.greedy = num();
        else if (a === "--sac-context") o.sacContext = num();
        else if (a === "--question") o.question = num();
        else if (!a.startsWith("-") && o.model == null) o.model = a;
        else throw new Error(`unknown argument ${a}`);
    }
    if (o.model == null) throw new Error("usage: node llama_bench.mjs MODEL.gguf [--threads N] [--prompt P] [--decode D] [--reps R]");
    if (o.threads < 1 || o.prompt < 1 || o.reps < 1) throw new Error("--threads, --prompt and --reps must be >= 1");
    if (o.sacContext > 0 && o.question < 1) throw new Error("--question must be >= 1");
    return o;
}

const median = xs => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The engine and file fields every output starts with. */
function describe(o, llama, model) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const pkg = JSON.parse(readFileSync(path.join(here, "node_modules", "node-llama-cpp", "package.json"), "utf8"));
    return {
        engine: "llama.cpp",
        via: `node-llama-cpp ${pkg.version}`,
        llama_cpp_release: llama.llamaCppRelease,
        build: llama.buildType,
        model: o.model,
        model_type: model.fileInfo.metadata?.general?.file_type,
        system_info: llama.systemInfo
    };
}

/** SAC's full-context "ask" baseline (see the header); the same JSON fields as SacBench's SAC work. */
async function askWork(o, model, vocab) {
    const n = o.sacContext, q = o.question;
    const context = await model.createContext({
        contextSize: n + q + 256, batchSize: 512, sequences: 1, threads: {ideal: o.threads, min: o.threads},
        flashAttention: false
    });
    const seq = context.getSequence();
    const ids = Array.from({length: n}, (_, i) => (i * 7919 + 13) % vocab);
    if (model.tokens.bos != null) ids[0] = model.tokens.bos;
    const question = Array.from({length: q}, (_, j) => ((n + j) * 7919 + 13) % vocab);
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    if (seq.nextTokenIndex !== n) throw new Error(`the sequence holds ${seq.nextTokenIndex} tokens after the context, not ${n}`);
    // one ask: the question's prefill and the first token, timed; then the question leaves the sequence again
    const ask = async options => {
        const t0 = process.hrtime.bigint();
        const it = seq.evaluate(question, options);
        const token = (await it.next()).value;
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        await it.return();
        await seq.eraseContextTokenRanges([{start: n, end: seq.nextTokenIndex}]);
        if (seq.nextTokenIndex !== n) throw new Error(`erasing the question left ${seq.nextTokenIndex} tokens, not ${n}`);
        return {s, token};
    };
    const times = [];
    for (let rep = -o.warmup; rep < o.reps; rep++) {
        const {s} = await ask({temperature: 0});
        if (rep >= 0) times.push(s);
    }
    const {token} = await ask({temperature: 0, tokenBias: new TokenBias(model.tokenizer).set(question[q - 1], "never")});
    const out = {
        work: "sac", threads: context.currentThreads, context_tokens: n, question_tokens: q, bos: ids[0], reps: o.reps,
        compress_ratio: null, compress_seconds: [], compress_tokens_per_second: null,
        ask_seconds: {"1": times}, ask_ms: {"1": 1e3 * median(times)}, ask_rows: {"1": n}, ask_greedy: {"1": token}
    };
    await context.dispose();
    return out;
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
        maxThreads: o.threads, logLevel: LlamaLogLevel.error
    });
    const model = await llama.loadModel({modelPath: path.resolve(o.model), gpuLayers: 0, useMmap: true});
    const md = model.fileInfo.metadata;
    const vocab = md?.[md?.general?.architecture]?.vocab_size ?? md?.tokenizer?.ggml?.tokens?.length;
    if (!Number.isInteger(vocab)) throw new Error(`${o.model}: cannot tell the vocabulary size`);
    if (o.sacContext > 0) {
        console.log(JSON.stringify({...describe(o, llama, model), ...await askWork(o, model, vocab)}));
        await model.dispose();
        await llama.dispose();
        return;
    }
    const context = await model.createContext({
        contextSize: Math.max(o.prompt + o.decode, 8 * o.greedy) + 256, batchSize: Math.max(o.prompt, 1), sequences: 1,
        threads: {ideal: o.threads, min: o.threads}, flashAttention: false
    });
    const seq = context.getSequence();
    const pattern = n => Array.from({length: n}, (_, i) => (i * 7919 + 13) % vocab);
    const prompt = pattern(o.prompt);

    const greedy = [];
    for (let k = 1; k <= o.greedy; k++) {
        await seq.clearHistory();
        const p = pattern(8 * k);
        const it = seq.evaluate(p, {temperature: 0, tokenBias: new TokenBias(model.tokenizer).set(p[p.length - 1], "never")});
        greedy.push((await it.next()).value);
        await it.return();
    }

    const prefill = [], decode = [];
    let generated = 0;
    for (let rep = -o.warmup; rep < o.reps; rep++) {
        await seq.clearHistory();
        let t0 = process.hrtime.bigint();
        await seq.evaluateWithoutGeneratingNewTokens(prompt);
        const p = Number(process.hrtime.bigint() - t0) / 1e9;
        // greedy decode: every step runs one token and computes its logits (as sac4j's decode does)
        let n = 0;
        t0 = process.hrtime.bigint();
        if (o.decode > 0) {
            for await (const tok of seq.evaluate([prompt[prompt.length - 1]], {temperature: 0})) {
                if (++n >= o.decode) break;
            }
        }
        const d = Number(process.hrtime.bigint() - t0) / 1e9;
        if (rep >= 0) {
            prefill.push(p);
            decode.push(d);
            generated = n;
        }
    }
    const out = {
        ...describe(o, llama, model),
        threads: context.currentThreads,
        prompt_tokens: o.prompt,
        decode_tokens: generated,
        reps: o.reps,
        prefill_seconds: prefill,
        decode_seconds: decode,
        prefill_tokens_per_second: o.prompt / median(prefill),
        decode_tokens_per_second: generated > 0 ? generated / median(decode) : null,
        greedy
    };
    console.log(JSON.stringify(out));
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch(e => {
    console.error(`llama_bench: ${e.message ?? e}`);
    process.exit(1);
});
