package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.load.Model;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.nio.file.Files;
import java.io.IOException;
import java.nio.file.StandardOpenOption;
import java.nio.file.StandardCopyOption;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Options every command shares, and their parsing. */
final class Common {
    private Common() {
    }

    static void addTo(Options o) {
        o.addOption(Option.builder("h").longOpt("help").desc("show this help").build());
        o.addOption(Option.builder().longOpt("debug").desc("print stack traces on errors").build());
        o.addOption(Option.builder("q").longOpt("quiet").desc("print only the results (and errors): no notes, no progress").build());
        o.addOption(Option.builder("t").longOpt("threads").hasArg().argName("N")
                .desc("CPU threads (default: all " + Runtime.getRuntime().availableProcessors() + " cores)").build());
        o.addOption(Option.builder("V").longOpt("version").desc("print the version").build());
    }

    /** --json as a flag: stdout then holds exactly one JSON object (notes and progress stay on stderr). */
    static void addJson(Options o, String what) {
        o.addOption(Option.builder().longOpt("json").desc("print one JSON object with " + what + " on stdout, nothing else").build());
    }

    /** Prints one JSON document as the only output on stdout (UTF-8, whatever the platform encoding). */
    static void printJson(java.util.Map<String, Object> doc) {
        java.io.PrintStream out = new java.io.PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.println(io.sac4j.load.JsonOut.write(doc));
        out.flush();
    }

    static void addModel(Options o) {
        o.addOption(Option.builder("m").longOpt("model").hasArg().argName("PATH")
                .desc("model: a Hugging Face directory, a .gguf file or a llama2.c .bin (default: the bundled aidreams260K)").build());
        o.addOption(Option.builder().longOpt("tokenizer").hasArg().argName("PATH")
                .desc("tokenizer.json or llama2.c tokenizer.bin (default: the one next to / inside the model)").build());
    }

    static void addAdapter(Options o) {
        o.addOption(Option.builder("a").longOpt("adapter").hasArg().argName("FILE")
                .desc("SAC adapter: the official torch.save .pt file or the same tensors as .safetensors "
                        + "(default: none = training-free SAC)").build());
    }

    static void addDevice(Options o) {
        o.addOption(Option.builder().longOpt("device").hasArg().argName("cpu|cuda")
                .desc("where to run (default: cuda when usable, else cpu with a one-line note)").build());
    }

    /** The backend --device asks for ("auto" when not given), with --threads CPU threads. */
    static io.sac4j.forward.Backend backend(CommandLine line) throws ParseException {
        String device = line.getOptionValue("device", "auto");
        if (!device.equals("cpu") && !device.equals("cuda") && !device.equals("auto"))
            throw new ParseException("--device must be cpu or cuda, got '" + device + "'");
        // the fallback note goes to stderr unless --quiet
        return io.sac4j.forward.Backends.create(device, threads(line),
                line.hasOption("quiet") ? note -> { } : System.err::println);
    }

    static io.sac4j.compress.SacAdapter openAdapter(CommandLine line, Model model) {
        if (!line.hasOption("adapter")) return null;
        Path p = Path.of(line.getOptionValue("adapter"));
        if (!Files.exists(p)) throw new io.sac4j.SacException(p, "no such file");
        return io.sac4j.compress.SacAdapter.load(p, model.config());
    }

    /** Reads a UTF-8 text file whole; invalid UTF-8 is an error naming the file, not silent replacement. */
    static String readText(Path p) {
        if (!Files.isRegularFile(p)) throw new io.sac4j.SacException(p, "no such file");
        try {
            byte[] bytes = Files.readAllBytes(p);
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new io.sac4j.SacException(p, "is not valid UTF-8 text");
        } catch (java.io.IOException e) {
            throw new io.sac4j.SacException(p, "cannot read: " + e.getMessage());
        }
    }

    static Model openModel(CommandLine line) throws ParseException {
        if (!line.hasOption("model")) {
            if (line.hasOption("tokenizer")) throw new ParseException("--tokenizer needs --model");
            return Model.bundled();
        }
        Path model = Path.of(line.getOptionValue("model"));
        if (!Files.exists(model)) throw new io.sac4j.SacException(model, "no such file or directory");
        Path tok = line.hasOption("tokenizer") ? Path.of(line.getOptionValue("tokenizer")) : null;
        if (tok != null && !Files.exists(tok)) throw new io.sac4j.SacException(tok, "no such file");
        return Model.open(model, tok);
    }

    static int threads(CommandLine line) throws ParseException {
        return intOption(line, "threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
    }

    static int intOption(CommandLine line, String name, int dflt, int min, int max) throws ParseException {
        if (!line.hasOption(name)) return dflt;
        String v = line.getOptionValue(name);
        try {
            int n = Integer.parseInt(v.trim());
            if (n < min || n > max) throw new ParseException("--" + name + " must be in " + min + ".." + max + ", got " + v);
            return n;
        } catch (NumberFormatException e) {
            throw new ParseException("--" + name + " must be an integer, got '" + v + "'");
        }
    }

    static double doubleOption(CommandLine line, String name, double dflt, double min, double max) throws ParseException {
        if (!line.hasOption(name)) return dflt;
        String v = line.getOptionValue(name);
        try {
            double d = Double.parseDouble(v.trim());
            if (!(d >= min && d <= max)) throw new ParseException("--" + name + " must be in " + min + ".." + max + ", got " + v);
            return d;
        } catch (NumberFormatException e) {
            throw new ParseException("--" + name + " must be a number, got '" + v + "'");
        }
    }

    static long longOption(CommandLine line, String name, long dflt) throws ParseException {
        if (!line.hasOption(name)) return dflt;
        String v = line.getOptionValue(name);
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new ParseException("--" + name + " must be an integer, got '" + v + "'");
        }
    }

    /** Writes a small text file atomically (temporary name in the same directory, then rename). */
    static void writeText(Path file, String text) {
        Path tmp = file.resolveSibling("." + file.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write error is the one to report
            }
            throw new SacException(file.toString(), "cannot write: " + e.getMessage(), e);
        }
    }
}
