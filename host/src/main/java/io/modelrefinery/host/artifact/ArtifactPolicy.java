package io.modelrefinery.host.artifact;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * What an {@link ArtifactFetcher} may read. Model URIs come from a registry that other people write to;
 * without limits a registered URI could read the host's own files ({@code file:///etc/shadow}), reach
 * internal services through the host (cloud metadata at 169.254.169.254: server-side request forgery),
 * or fill the disk. Everything is refused unless allowed here.
 *
 * @param fileRoots folders under which {@code file:} URIs may be read, after symbolic links are resolved;
 *     empty: no {@code file:} URIs. Made absolute and normalized.
 * @param allowedHosts host names ({@code models.example.com}), IP literals, or {@code *.suffix} patterns
 *     ({@code *.example.com} matches {@code a.example.com} and {@code a.b.example.com}, not
 *     {@code example.com}) that {@code http:} and {@code https:} URIs, and every redirect, may name;
 *     empty: no remote fetches at all. Compared case-insensitively.
 * @param maxBytes the largest artifact copied or downloaded, in bytes
 * @param connectTimeout how long connecting to a server may take
 * @param readTimeout how long a whole remote fetch may take, from the first connection to the last byte
 *     of the body, redirects included
 * @param allowPrivateAddresses whether hosts may resolve to loopback, link-local, private (site-local,
 *     unique-local, carrier-grade NAT), multicast, reserved or unspecified addresses. Keep it false in
 *     production: it is what stops a URI from reaching internal services; tests set it to fetch from a
 *     local server.
 * @param privateHosts host names or IP literals (exact, no patterns) that the operator named one by one as
 *     allowed to resolve to private addresses, such as a model registry inside the cluster; they are
 *     allowed hosts too. Every other host is still held to the private-address rule.
 */
public record ArtifactPolicy(List<Path> fileRoots, Set<String> allowedHosts, long maxBytes,
                             Duration connectTimeout, Duration readTimeout, boolean allowPrivateAddresses,
                             Set<String> privateHosts) {

    public ArtifactPolicy {
        Objects.requireNonNull(fileRoots, "fileRoots");
        Objects.requireNonNull(allowedHosts, "allowedHosts");
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(readTimeout, "readTimeout");
        fileRoots = fileRoots.stream()
                .map(root -> Objects.requireNonNull(root, "fileRoots element").toAbsolutePath().normalize())
                .distinct()
                .toList();
        Set<String> hosts = new LinkedHashSet<>();
        for (String host : allowedHosts) {
            hosts.add(normalizePattern(host));
        }
        allowedHosts = Set.copyOf(hosts);
        Set<String> privates = new LinkedHashSet<>();
        for (String host : Objects.requireNonNull(privateHosts, "privateHosts")) {
            String p = normalizePattern(host);
            if (p.startsWith("*.")) {
                throw new IllegalArgumentException("private host '" + host
                        + "' is a pattern; name each host that may resolve to a private address");
            }
            privates.add(p);
        }
        privateHosts = Set.copyOf(privates);
        if (maxBytes < 0) {
            throw new IllegalArgumentException("maxBytes must not be negative: " + maxBytes);
        }
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("connectTimeout must be positive: " + connectTimeout);
        }
        if (readTimeout.isNegative() || readTimeout.isZero()) {
            throw new IllegalArgumentException("readTimeout must be positive: " + readTimeout);
        }
    }

    /** A policy without named private hosts. */
    public ArtifactPolicy(List<Path> fileRoots, Set<String> allowedHosts, long maxBytes,
                          Duration connectTimeout, Duration readTimeout, boolean allowPrivateAddresses) {
        this(fileRoots, allowedHosts, maxBytes, connectTimeout, readTimeout, allowPrivateAddresses, Set.of());
    }

    /** A policy that refuses private addresses, the production setting. */
    public ArtifactPolicy(List<Path> fileRoots, Set<String> allowedHosts, long maxBytes,
                          Duration connectTimeout, Duration readTimeout) {
        this(fileRoots, allowedHosts, maxBytes, connectTimeout, readTimeout, false);
    }

    /** Whether any remote host may be fetched from. */
    boolean remoteAllowed() {
        return !allowedHosts.isEmpty() || !privateHosts.isEmpty();
    }

    /** True when {@code host} (from a URI, possibly a bracketed IPv6 literal) may resolve to a private address. */
    boolean privateAllowed(String host) {
        return allowPrivateAddresses || privateHosts.contains(normalizeHost(host));
    }

    /** True when {@code host} (from a URI, possibly a bracketed IPv6 literal) is on the allow-list. */
    public boolean hostAllowed(String host) {
        String h = normalizeHost(host);
        if (h.isEmpty()) {
            return false;
        }
        if (allowedHosts.contains(h) || privateHosts.contains(h)) {
            return true;
        }
        for (String pattern : allowedHosts) {
            // "*.example.com" -> ".example.com": a proper subdomain only, never "evilexample.com".
            if (pattern.startsWith("*.") && h.endsWith(pattern.substring(1))) {
                return true;
            }
        }
        return false;
    }

    /** Lower case, without IPv6 brackets or the trailing dot of a fully qualified name. */
    static String normalizeHost(String host) {
        String h = host.trim().toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        return h;
    }

    private static String normalizePattern(String pattern) {
        Objects.requireNonNull(pattern, "allowedHosts element");
        String p = normalizeHost(pattern);
        String name = p.startsWith("*.") ? p.substring(2) : p;
        if (name.isEmpty() || name.contains("*") || name.startsWith(".")
                || !name.chars().allMatch(c -> Character.isLetterOrDigit(c) || c == '.' || c == '-' || c == ':'
                        || c == '_')) {
            throw new IllegalArgumentException("allowedHosts entry '" + pattern
                    + "' is not a host name, an IP address or a *.suffix pattern");
        }
        return p;
    }
}
