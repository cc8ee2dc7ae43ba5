package io.modelrefinery.host.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where reliability tests leave their summaries (Markdown tables) for docs/reliability.md and the
 * {@code bench/} scripts that run them at larger sizes: {@code target/reliability/} of the module, or
 * {@code -Drefinery.reliability.dir}.
 */
public final class ReliabilityReport {
    private ReliabilityReport() {
    }

    public static void write(String name, String markdown) {
        Path dir = Path.of(System.getProperty("refinery.reliability.dir", "target/reliability"));
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(name), markdown);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + name + " under " + dir, e);
        }
    }
}
