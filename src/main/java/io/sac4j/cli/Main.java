package io.sac4j.cli;

import io.sac4j.SacException;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code sac} command line. Exit codes: 0 ok, 1 runtime failure, 2 usage error or bad input (the message is
 * one line {@code sac: error: ...}; {@code --debug} adds the stack trace).
 */
public final class Main {
    public static final int OK = 0, FAILURE = 1, USAGE = 2;

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
        if (args[0].equals("--version")) {
            System.out.println("sac " + version());
            return OK;
        }
        Command cmd = COMMANDS.get(args[0]);
        if (cmd == null) {
            System.err.println("sac: error: unknown command '" + args[0] + "' (try: sac --help)");
            return USAGE;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        boolean debug = Arrays.asList(rest).contains("--debug");
        Options options = cmd.options();
        Common.addTo(options);
        try {
            CommandLine line = new DefaultParser().parse(options, rest, false);
            if (line.hasOption("help")) {
                help(cmd, options);
                return OK;
            }
            if (!line.getArgList().isEmpty())
                throw new ParseException("unexpected argument '" + line.getArgList().get(0) + "'");
            return cmd.run(line);
        } catch (ParseException e) {
            System.err.println("sac: error: " + e.getMessage() + " (try: sac " + cmd.name() + " --help)");
            return USAGE;
        } catch (SacException | IllegalArgumentException e) {
            System.err.println("sac: error: " + e.getMessage());
            if (debug) e.printStackTrace();
            return USAGE;
        } catch (RuntimeException | OutOfMemoryError e) {
            System.err.println("sac: error: " + e);
            if (debug) e.printStackTrace();
            return FAILURE;
        }
    }

    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private static void usage() {
        System.out.println("usage: sac <command> [options]   (sac <command> --help for its options)");
        System.out.println();
        for (Command c : COMMANDS.values()) System.out.printf("  %-10s %s%n", c.name(), c.description());
        System.out.println();
        System.out.println("  --version  print the version");
        System.out.println("exit codes: 0 ok, 1 runtime failure, 2 usage error or bad input");
    }

    private static void help(Command cmd, Options options) {
        HelpFormatter f = new HelpFormatter();
        f.setWidth(110);
        PrintWriter out = new PrintWriter(System.out, true);
        f.printHelp(out, 110, "sac " + cmd.name() + " [options]", cmd.description(), options, 2, 2, null);
        out.flush();
    }
}
