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
        return o;
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        boolean quiet = line.hasOption("quiet");
        String prompt = line.getOptionValue("prompt", "");
        double temperature = Common.doubleOption(line, "temperature", 0, 0, 100);
        double topP = Common.doubleOption(line, "top-p", 0.9, 1e-6, 1);
        long seed = Common.longOption(line, "seed", 42);
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
            for (int id : text) out.print(decoder.next(id));
            Generator.Result r = Generator.generate(new Llama(model, backend), ids, maxNew,
                    new Sampler((float) temperature, (float) topP, seed), token -> out.print(decoder.next(token)));
            out.println(decoder.flush());
            if (!quiet)
                System.err.printf("prefill: %d tokens, %.1f tok/s | decode: %d tokens, %.1f tok/s%s%n",
                        r.promptIds().length, r.prefillTokensPerSecond(), r.generatedIds().length,
                        r.decodeTokensPerSecond(), r.stoppedAtEos() ? " (stopped at EOS)" : "");
        }
        return Main.OK;
    }
}
