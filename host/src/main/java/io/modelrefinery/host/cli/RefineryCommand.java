package io.modelrefinery.host.cli;

import ch.qos.logback.classic.Level;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code refinery}: the top command; does nothing itself. */
@Command(name = "refinery", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Optimizes machine-learning models: conversion to ONNX, compression, evaluation.",
        subcommands = {OptimizeCommand.class, PluginsCommand.class, ServeCommand.class, DemoCommand.class})
public final class RefineryCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Log what the host does (repeat for debug output).")
    void verbose(boolean[] flags) {
        Level level = flags.length > 1 ? Level.DEBUG : Level.INFO;
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).setLevel(level);
    }

    @Override
    public Integer call() {
        spec.commandLine().getErr().println("error: missing command");
        spec.commandLine().usage(spec.commandLine().getErr());
        return ExitCode.BAD_INPUT;
    }
}
