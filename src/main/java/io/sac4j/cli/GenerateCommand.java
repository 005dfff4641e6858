package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.decode.Generator;
import io.sac4j.decode.Sampler;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Backend;
import io.sac4j.load.Model;
import io.sac4j.tokenize.StreamDecoder;
import io.sac4j.tokenize.Tokenizer;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code sac generate}: text continuation, streamed, with prefill and decode speed at the end. */
final class GenerateCommand implements Command {
    @Override
    public String name() {
        return "generate";
    }

    @Override
    public String description() {
        return "continue a prompt with the model, streaming tokens as they are produced";
    }

    @Override
    public Options options() {
        Options o = new Options();
        Common.addModel(o);
        Common.addDevice(o);
        o.addOption(Option.builder("p").longOpt("prompt").hasArg().argName("TEXT").desc("prompt text (default: empty, i.e. start from BOS)").build());
        o.addOption(Option.builder("n").longOpt("max-tokens").hasArg().argName("N").desc("most new tokens (default: 256, or up to the model's context length if shorter)").build());
        o.addOption(Option.builder().longOpt("temperature").hasArg().argName("T").desc("sampling temperature; 0 = greedy (default 0)").build());
        o.addOption(Option.builder().longOpt("top-p").hasArg().argName("P").desc("nucleus sampling mass in (0, 1] (default 0.9)").build());
        o.addOption(Option.builder().longOpt("seed").hasArg().argName("S").desc("random seed for sampling (default 42)").build());
        Common.addJson(o, "the generated text, its ids and the timings (instead of streaming)");
        return o;
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        boolean quiet = line.hasOption("quiet"), json = line.hasOption("json");
        String prompt = line.getOptionValue("prompt", "");
        double temperature = Common.doubleOption(line, "temperature", 0, 0, 100);
        double topP = Common.doubleOption(line, "top-p", 0.9, 1e-6, 1);
        long seed = Common.longOption(line, "seed", 42);
        // its default depends on the model, but a bad value is refused before the (possibly slow) model load
        Common.intOption(line, "max-tokens", 0, 0, 1 << 20);
        try (Model model = Common.openModel(line); Backend backend = Common.backend(line)) {
            Tokenizer tok = model.tokenizer();
            if (tok == null) throw new SacException(model.source(), "has no tokenizer: pass --tokenizer");
            int bos = model.config().bosId();
            int[] text = tok.encode(prompt);
            int[] ids = new int[text.length + (bos >= 0 ? 1 : 0)];
            if (bos >= 0) ids[0] = bos;
            System.arraycopy(text, 0, ids, bos >= 0 ? 1 : 0, text.length);
            if (ids.length == 0) throw new SacException("the prompt is empty and the model has no BOS token");
            int room = Math.max(model.config().maxSeqLen() - ids.length, 1);
            int maxNew = Common.intOption(line, "max-tokens", Math.min(256, room), 0, 1 << 20);

            if (!quiet) System.err.println("model: " + model + "\nbackend: " + backend.name());
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            // echo the prompt as text (BOS is not text: decoding starts after it, as llama2.c's run.c does)
            StreamDecoder decoder = new StreamDecoder(tok, bos >= 0 ? bos : -1);
            StringBuilder generated = new StringBuilder();
            for (int id : text) {
                String piece = decoder.next(id);
                if (!json) out.print(piece);
            }
            Generator.Result r = Generator.generate(new Llama(model, backend), ids, maxNew,
                    new Sampler((float) temperature, (float) topP, seed), token -> {
                        String piece = decoder.next(token);
                        // with --json stdout holds only the JSON object: the text goes into it
                        if (json) generated.append(piece);
                        else out.print(piece);
                    });
            if (json) {
                generated.append(decoder.flush());
                Common.printJson(toJson(model, backend, prompt, r, generated.toString(), temperature, topP, seed));
            } else {
                out.println(decoder.flush());
            }
            if (!quiet)
                System.err.printf(java.util.Locale.ROOT, "prefill: %d tokens, %.1f tok/s | decode: %d tokens, %.1f tok/s%s%n",
                        r.promptIds().length, r.prefillTokensPerSecond(), r.generatedIds().length,
                        r.decodeTokensPerSecond(), r.stoppedAtEos() ? " (stopped at EOS)" : "");
        }
        return Main.OK;
    }

    private static Map<String, Object> toJson(Model model, Backend backend, String prompt, Generator.Result r, String text,
                                              double temperature, double topP, long seed) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt", prompt);
        m.put("prompt_tokens", r.promptIds().length);
        m.put("text", text);
        List<Object> ids = new ArrayList<>();
        for (int id : r.generatedIds()) ids.add(id);
        m.put("ids", ids);
        m.put("generated_tokens", r.generatedIds().length);
        // the same names as ask's Answer.Stop
        m.put("stop", r.stoppedAtEos() ? "EOS" : "MAX_TOKENS");
        m.put("prefill_ms", r.prefillNanos() * 1e-6);
        m.put("prefill_tokens_per_second", r.prefillTokensPerSecond());
        m.put("decode_ms", r.decodeNanos() * 1e-6);
        m.put("decode_tokens_per_second", r.decodeTokensPerSecond());
        m.put("temperature", temperature);
        m.put("top_p", topP);
        m.put("seed", seed);
        m.put("model", model.toString());
        m.put("backend", backend.name());
        return m;
    }
}
