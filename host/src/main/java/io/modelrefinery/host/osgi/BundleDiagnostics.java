package io.modelrefinery.host.osgi;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Filter;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.namespace.PackageNamespace;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Explains why a bundle does not resolve: the package imports nothing in the framework exports. */
final class BundleDiagnostics {
    private static final Pattern PACKAGE = Pattern.compile("\\(osgi\\.wiring\\.package=([^)]+)\\)");
    private static final Pattern LOWER = Pattern.compile("\\(version>=([^)]+)\\)");
    private static final Pattern UPPER = Pattern.compile("\\(!\\(version>=([^)]+)\\)\\)");

    private BundleDiagnostics() {
    }

    /** The mandatory imports of {@code bundle} that no installed bundle exports, as {@code pkg [1.0,2.0)}. */
    static List<String> missingImports(BundleContext context, Bundle bundle) {
        BundleRevision revision = bundle.adapt(BundleRevision.class);
        List<String> missing = new ArrayList<>();
        if (revision == null) {
            return missing;
        }
        List<BundleCapability> exports = new ArrayList<>();
        for (Bundle other : context.getBundles()) {
            BundleRevision r = other.adapt(BundleRevision.class);
            if (r != null && other != bundle) {
                exports.addAll(r.getDeclaredCapabilities(PackageNamespace.PACKAGE_NAMESPACE));
            }
        }
        for (BundleRequirement requirement : revision.getDeclaredRequirements(PackageNamespace.PACKAGE_NAMESPACE)) {
            if (PackageNamespace.RESOLUTION_OPTIONAL.equals(
                    requirement.getDirectives().get(PackageNamespace.REQUIREMENT_RESOLUTION_DIRECTIVE))) {
                continue;
            }
            String filterText = requirement.getDirectives().get(PackageNamespace.REQUIREMENT_FILTER_DIRECTIVE);
            if (filterText == null) {
                continue;
            }
            try {
                Filter filter = FrameworkUtil.createFilter(filterText);
                boolean found = exports.stream().anyMatch(c -> filter.matches(c.getAttributes()));
                if (!found) {
                    missing.add(describe(filterText));
                }
            } catch (InvalidSyntaxException e) {
                missing.add(filterText);
            }
        }
        return missing;
    }

    /** {@code (&(osgi.wiring.package=a.b)(version>=1.0.0)(!(version>=2.0.0)))} as {@code a.b [1.0.0,2.0.0)}. */
    static String describe(String filter) {
        Matcher pkg = PACKAGE.matcher(filter);
        if (!pkg.find()) {
            return filter;
        }
        Matcher lower = LOWER.matcher(filter);
        Matcher upper = UPPER.matcher(filter);
        String low = lower.find() ? lower.group(1) : "0.0.0";
        return pkg.group(1) + (upper.find() ? " [" + low + "," + upper.group(1) + ")" : " " + low + " or later");
    }
}
