package io.sac4j.cli;

import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.util.Map;

/** One sub-command of {@code sac}. */
interface Command {
    String name();

    String description();

    /** The command's own options ({@link Common} adds --help, --debug, --quiet, --threads, --version). */
    Options options();

    /** Old long-option spellings that still work: old -> current (e.g. "--ratios" -> "--ratio"). */
    default Map<String, String> aliases() {
        return Map.of();
    }

    /** Runs and returns the exit code; throws ParseException for bad option values (exit 2). */
    int run(CommandLine line) throws ParseException;
}
