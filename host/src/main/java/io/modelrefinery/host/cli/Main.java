package io.modelrefinery.host.cli;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.host.job.GateFailedException;
import io.modelrefinery.host.pipeline.StepFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;

/** Entry point of {@code java -jar refinery.jar}. */
public final class Main {
    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs a command line and returns its exit code; output and errors go to the given writers. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new RefineryCommand());
        cli.setOut(out);
        cli.setErr(err);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setParameterExceptionHandler((e, commandArgs) -> {
            err.println("error: " + e.getMessage() + " (see " + e.getCommandLine().getCommandName() + " --help)");
            return ExitCode.BAD_INPUT;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof InvalidParamException params && params.problems().size() > 1) {
                // Every problem of the pipeline at once, one line each, so that one run shows them all.
                params.problems().forEach(problem -> err.println("error: " + problem));
                return exitCode(e);
            }
            err.println("error: " + describe(e));
            LOG.debug("command failed", e);
            return exitCode(e);
        });
        try {
            return cli.execute(args);
        } catch (Error e) { // picocli hands only exceptions to the handler above
            err.println("error: " + describe(e));
            LOG.debug("command failed", e);
            return ExitCode.FAILED;
        }
    }

    /** 2 for bad input, 1 for everything else that went wrong. */
    static int exitCode(Throwable e) {
        return e instanceof InvalidInputException ? ExitCode.BAD_INPUT : ExitCode.FAILED;
    }

    /** One line: the message, or the exception's kind when it has none. */
    static String describe(Throwable e) {
        if (e instanceof InvalidInputException || e instanceof StepFailedException || e instanceof GateFailedException) {
            return e.getMessage();
        }
        if (e instanceof TransformCancelledException) {
            return "cancelled";
        }
        if (e instanceof IOException) {
            return "I/O error: " + e.getMessage();
        }
        String message = e.getMessage();
        return "internal error: " + e.getClass().getSimpleName() + (message == null ? "" : ": " + message.lines()
                .findFirst().orElse(""));
    }
}
