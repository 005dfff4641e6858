package io.sac4j.cli;

import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/** One sub-command of {@code sac}. */
interface Command {
    String name();

    String description();

    /** The command's own options ({@link Common} adds --help, --debug, --quiet, --threads). */
    Options options();

    /** Runs and returns the exit code; throws ParseException for bad option values (exit 2). */
    int run(CommandLine line) throws ParseException;
}
