package io.modelrefinery.host.osgi;

import org.osgi.framework.Version;
import org.osgi.framework.VersionRange;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Whether a plugin bundle's imports of the api packages ({@code io.modelrefinery.api...}) fit the api this
 * host runs. The api's packages carry semantic versions: a plugin built against api {@code 1.1} imports
 * {@code [1.1,2)}, so it runs on every later 1.x host and on no 2.x host. A bundle whose import range
 * excludes the host's major version was built for an incompatible api; one that needs a higher minor
 * version needs a newer host.
 */
public final class ApiCompatibility {
    static final String API_PACKAGE_PREFIX = "io.modelrefinery.api";

    private final Map<String, Version> exported;

    ApiCompatibility(Map<String, Version> exported) {
        this.exported = Map.copyOf(exported);
    }

    /** The api packages this host exports to plugins, with their versions. */
    public static ApiCompatibility host() {
        return new ApiCompatibility(exports(HostExports.apiExports()));
    }

    /** The major version of the host's plugin SPI package, {@code io.modelrefinery.api.plugin}. */
    public int apiMajor() {
        Version v = exported.get(API_PACKAGE_PREFIX + ".plugin");
        return v == null ? 0 : v.getMajor();
    }

    /**
     * Why a bundle with this {@code Import-Package} header cannot run on this host, one line; empty when its
     * api imports are all satisfied (or it imports none).
     */
    public Optional<String> problem(String importPackage) {
        if (importPackage == null) {
            return Optional.empty();
        }
        List<String> incompatibleMajor = new ArrayList<>();
        List<String> unsatisfied = new ArrayList<>();
        Integer builtFor = null;
        for (Clause clause : clauses(importPackage)) {
            if (!clause.name().startsWith(API_PACKAGE_PREFIX) || "optional".equals(clause.directives().get("resolution"))) {
                continue;
            }
            String rangeText = clause.attributes().getOrDefault("version", "0.0.0");
            VersionRange range;
            try {
                range = new VersionRange(rangeText);
            } catch (IllegalArgumentException e) {
                unsatisfied.add(clause.name() + " " + rangeText + " (not a version range)");
                continue;
            }
            Version offered = exported.get(clause.name());
            if (offered != null && range.includes(offered)) {
                continue;
            }
            String wanted = clause.name() + " " + range;
            if (offered != null && range.getLeft().getMajor() != offered.getMajor()) {
                incompatibleMajor.add(wanted + " (host has " + offered + ")");
                builtFor = range.getLeft().getMajor();
            } else {
                unsatisfied.add(wanted + (offered == null ? " (not in this host's api)" : " (host has " + offered + ")"));
            }
        }
        if (!incompatibleMajor.isEmpty()) {
            return Optional.of("built for an incompatible api major version: it needs refinery-api " + builtFor
                    + ".x, this host runs " + apiMajor() + ".x; import " + String.join(", ", incompatibleMajor));
        }
        if (!unsatisfied.isEmpty()) {
            return Optional.of("needs a newer refinery-api than this host runs: import " + String.join(", ", unsatisfied));
        }
        return Optional.empty();
    }

    private static Map<String, Version> exports(String exportPackage) {
        Map<String, Version> out = new LinkedHashMap<>();
        for (Clause clause : clauses(exportPackage)) {
            out.put(clause.name(), Version.parseVersion(clause.attributes().getOrDefault("version", "0.0.0")));
        }
        return out;
    }

    /** One package of a manifest header, with its attributes ({@code a=b}) and directives ({@code a:=b}). */
    record Clause(String name, Map<String, String> attributes, Map<String, String> directives) {
    }

    /**
     * Parses an OSGi package header: clauses separated by commas, each of package names and parameters
     * separated by semicolons; values may be quoted, and quotes protect commas and semicolons.
     */
    static List<Clause> clauses(String header) {
        List<Clause> out = new ArrayList<>();
        for (String clause : split(header, ',')) {
            List<String> names = new ArrayList<>();
            Map<String, String> attributes = new LinkedHashMap<>();
            Map<String, String> directives = new LinkedHashMap<>();
            for (String part : split(clause, ';')) {
                String p = part.strip();
                int directive = p.indexOf(":=");
                int eq = p.indexOf('=');
                if (directive > 0 && directive == eq - 1) {
                    directives.put(p.substring(0, directive).strip(), unquote(p.substring(directive + 2)));
                } else if (eq > 0) {
                    attributes.put(p.substring(0, eq).strip(), unquote(p.substring(eq + 1)));
                } else if (!p.isEmpty()) {
                    names.add(p);
                }
            }
            for (String name : names) {
                out.add(new Clause(name, attributes, directives));
            }
        }
        return out;
    }

    private static List<String> split(String text, char separator) {
        List<String> parts = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"') {
                quoted = !quoted;
            }
            if (c == separator && !quoted) {
                parts.add(current.toString());
                current.setLength(0);
            } else {
                current.append(c);
            }
        }
        if (current.length() > 0) {
            parts.add(current.toString());
        }
        return parts;
    }

    private static String unquote(String value) {
        String v = value.strip();
        return v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"") ? v.substring(1, v.length() - 1) : v;
    }
}
