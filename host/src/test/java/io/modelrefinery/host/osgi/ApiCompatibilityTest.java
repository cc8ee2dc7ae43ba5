package io.modelrefinery.host.osgi;

import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Version;

import java.nio.file.Files;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiCompatibilityTest {
    private final ApiCompatibility host = new ApiCompatibility(Map.of(
            "io.modelrefinery.api.plugin", new Version(1, 1, 0),
            "io.modelrefinery.api.onnx", new Version(1, 0, 0)));

    @Test
    void pluginsBuiltForThisMajorAndAnEqualOrOlderMinorFit() {
        assertEquals(Optional.empty(), host.problem(null));
        assertEquals(Optional.empty(), host.problem("org.slf4j;version=\"[2.0,3)\""));
        assertEquals(Optional.empty(), host.problem("io.modelrefinery.api.onnx;version=\"[1.0,2)\","
                + "io.modelrefinery.api.plugin;version=\"[1.1,2)\",org.osgi.framework;version=\"[1.8,2)\""));
        assertEquals(Optional.empty(), host.problem("io.modelrefinery.api.future;resolution:=optional;version=\"[1.5,2)\""));
        assertEquals(1, host.apiMajor());
    }

    @Test
    void anotherMajorIsNamedAsSuchAndANewerMinorAsNeedingANewerHost() {
        String major = host.problem("io.modelrefinery.api.plugin;version=\"[2.0,3)\",io.modelrefinery.api.onnx;"
                + "version=\"[1.0,2)\"").orElseThrow();
        String minor = host.problem("io.modelrefinery.api.plugin;version=\"[1.2,2)\"").orElseThrow();
        String missing = host.problem("io.modelrefinery.api.train;version=\"[1.0,2)\"").orElseThrow();

        assertEquals("built for an incompatible api major version: it needs refinery-api 2.x, this host runs 1.x; "
                + "import io.modelrefinery.api.plugin [2.0.0,3.0.0) (host has 1.1.0)", major);
        assertEquals("needs a newer refinery-api than this host runs: import io.modelrefinery.api.plugin "
                + "[1.2.0,2.0.0) (host has 1.1.0)", minor);
        assertTrue(missing.endsWith("io.modelrefinery.api.train [1.0.0,2.0.0) (not in this host's api)"), missing);
    }

    @Test
    void theHostReadsItsOwnApiExports() {
        assertEquals(1, ApiCompatibility.host().apiMajor());
    }

    @Test
    void thePluginGuideListsEveryApiPackageWithItsVersion() throws Exception {
        Map<String, String> exported = new TreeMap<>();
        for (ApiCompatibility.Clause clause : ApiCompatibility.clauses(HostExports.apiExports())) {
            exported.put(clause.name(), new Version(clause.attributes().get("version")).toString());
        }
        Map<String, String> documented = new TreeMap<>();
        Pattern row = Pattern.compile("\\| `(io\\.modelrefinery\\.api[a-z.]*)` \\| (\\d+\\.\\d+\\.\\d+)\\b.*");
        for (String line : Files.readAllLines(TestModels.root().resolve("docs/plugins.md"))) {
            Matcher m = row.matcher(line);
            if (m.matches()) {
                documented.put(m.group(1), m.group(2));
            }
        }

        assertEquals(exported, documented, "the version table in docs/plugins.md");
    }
}
