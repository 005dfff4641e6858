package io.sac4j.cli;

import io.sac4j.SacException;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The {@code sac} command line. Exit codes: 0 ok, 1 runtime failure, 2 usage error or bad input (the message is
 * one line {@code sac: error: ...}; {@code --debug} adds the stack trace).
 */
public final class Main {
    public static final int OK = 0, FAILURE = 1, USAGE = 2;

    static final String EXIT_CODES = "exit codes: 0 ok, 1 runtime failure, 2 usage error or bad input "
            + "(one line 'sac: error: ...' on stderr; --debug adds the stack trace)";

    private static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

    static {
        for (Command c : new Command[]{new GenerateCommand(), new CompressCommand(), new AskCommand(), new DemoCommand(), new EvalCommand(), new SynthCommand()}) COMMANDS.put(c.name(), c);
    }

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs one command line and returns its exit code (the CLI tests call this). */
    public static int run(String... args) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
            usage();
            return args.length == 0 ? USAGE : OK;
        }
        if (args[0].equals("--version") || args[0].equals("-V")) {
            System.out.println("sac " + version());
            return OK;
        }
        Command cmd = COMMANDS.get(args[0]);
        if (cmd == null) {
            System.err.println("sac: error: unknown " + (args[0].startsWith("-") ? "option" : "command") + " '"
                    + args[0] + "' (try: sac --help)");
            return USAGE;
        }
        return run(cmd, Arrays.copyOfRange(args, 1, args.length));
    }

    /** Runs one command on its arguments: parsing, --help / --version, and the mapping of errors to exit codes. */
    static int run(Command cmd, String[] args) {
        String[] rest = renameAliases(cmd, args);
        boolean debug = Arrays.asList(rest).contains("--debug");
        Options options = cmd.options();
        Common.addTo(options);
        try {
            CommandLine line = new DefaultParser().parse(options, rest, false);
            if (line.hasOption("help")) {
                help(cmd, options);
                return OK;
            }
            if (line.hasOption("version")) {
                System.out.println("sac " + version());
                return OK;
            }
            if (!line.getArgList().isEmpty())
                throw new ParseException("unexpected argument '" + line.getArgList().get(0) + "'");
            Common.threads(line); // every command takes --threads: a bad value is refused even where it is unused
            return cmd.run(line);
        } catch (ParseException e) {
            return error(oneLine(e) + " (try: sac " + cmd.name() + " --help)", e, debug, USAGE);
        } catch (SacException | IllegalArgumentException e) {
            return error(oneLine(e), e, debug, USAGE);
        } catch (OutOfMemoryError e) {
            return error("out of memory (" + oneLine(e) + "): give the JVM more, e.g. SAC_JVM_OPTS=-Xmx8g ./sac ...",
                    e, debug, FAILURE);
        } catch (RuntimeException | Error e) {
            // unexpected: the class name says more than the message alone
            return error(e.getClass().getName() + ": " + oneLine(e), e, debug, FAILURE);
        }
    }

    private static int error(String message, Throwable e, boolean debug, int code) {
        System.err.println("sac: error: " + message);
        if (debug) e.printStackTrace();
        return code;
    }

    /** The message on one line (a multi-line message would break the one-line error contract). */
    private static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) return e.getClass().getSimpleName();
        return m.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    /** Old option spellings, rewritten to the current ones before parsing (so help lists each option once). */
    private static String[] renameAliases(Command cmd, String[] args) {
        Map<String, String> aliases = cmd.aliases();
        if (aliases.isEmpty()) return args;
        String[] out = args.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i].equals("--")) break;
            for (Map.Entry<String, String> a : aliases.entrySet()) {
                if (out[i].equals(a.getKey())) out[i] = a.getValue();
                else if (out[i].startsWith(a.getKey() + "=")) out[i] = a.getValue() + out[i].substring(a.getKey().length());
            }
        }
        return out;
    }

    static Collection<Command> commands() {
        return Collections.unmodifiableCollection(COMMANDS.values());
    }

    /**
     * The jar manifest's Implementation-Version (the shaded jar keeps the project's manifest), else the version in
     * Maven's pom.properties, else "dev" (running from target/classes).
     */
    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        if (v != null) return v;
        try (InputStream in = Main.class.getResourceAsStream("/META-INF/maven/io.sac4j/sac4j/pom.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                if (p.getProperty("version") != null) return p.getProperty("version");
            }
        } catch (java.io.IOException ignored) {
            // no version to report beyond "dev"
        }
        return "dev";
    }

    private static void usage() {
        System.out.println("usage: sac <command> [options]   (sac <command> --help for its options)");
        System.out.println();
        for (Command c : COMMANDS.values()) System.out.printf("  %-10s %s%n", c.name(), c.description());
        System.out.println();
        System.out.println("  -V, --version  print the version");
        System.out.println("  -h, --help     print this help");
        System.out.println();
        System.out.println("every command takes -h/--help, -q/--quiet (results and errors only), --debug (stack traces),");
        System.out.println("-t/--threads N and -V/--version; generate, compress, ask, demo and synth take --json (one JSON");
        System.out.println("object on stdout, nothing else there), eval takes --json OUT (a summary file).");
        System.out.println(EXIT_CODES);
    }

    private static void help(Command cmd, Options options) {
        HelpFormatter f = new HelpFormatter();
        f.setWidth(110);
        PrintWriter out = new PrintWriter(System.out, true);
        f.printHelp(out, 110, "sac " + cmd.name() + " [options]", cmd.description(), options, 2, 2, EXIT_CODES);
        out.flush();
    }
}
