package io.modelrefinery.host.artifact;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArtifactPolicyTest {
    private static final Duration SECOND = Duration.ofSeconds(1);

    private static ArtifactPolicy hosts(String... hosts) {
        return new ArtifactPolicy(List.of(), Set.of(hosts), 100, SECOND, SECOND);
    }

    @Test
    void rootsBecomeAbsoluteAndNormalized() {
        ArtifactPolicy policy = new ArtifactPolicy(List.of(Path.of("a/../b"), Path.of("b")), Set.of(), 0, SECOND, SECOND);

        assertEquals(List.of(Path.of("b").toAbsolutePath()), policy.fileRoots());
        assertFalse(policy.allowPrivateAddresses(), "the short constructor is the production setting");
    }

    @Test
    void refusesNegativeSizesAndNonPositiveTimeouts() {
        assertThrows(IllegalArgumentException.class,
                () -> new ArtifactPolicy(List.of(), Set.of(), -1, SECOND, SECOND));
        assertThrows(IllegalArgumentException.class,
                () -> new ArtifactPolicy(List.of(), Set.of(), 1, Duration.ZERO, SECOND));
        assertThrows(IllegalArgumentException.class,
                () -> new ArtifactPolicy(List.of(), Set.of(), 1, SECOND, Duration.ofMillis(-1)));
    }

    @Test
    void refusesHostPatternsOtherThanNamesAndLeadingWildcards() {
        for (String bad : List.of("", "*", "*.", "a.*.com", "ex*ample.com", "http://example.com", "a b", "u@host")) {
            assertThrows(IllegalArgumentException.class, () -> hosts(bad), bad);
        }
    }

    @Test
    void matchesHostsExactlyOrAsProperSubdomainsIgnoringCase() {
        ArtifactPolicy policy = hosts("Models.Example.org", "*.cdn.example.com", "[::1]", "10.0.0.7");

        assertTrue(policy.hostAllowed("models.example.org"));
        assertTrue(policy.hostAllowed("MODELS.example.org."));
        assertFalse(policy.hostAllowed("other.example.org"));
        assertFalse(policy.hostAllowed("models.example.org.evil.net"));
        assertTrue(policy.hostAllowed("eu.cdn.example.com"));
        assertTrue(policy.hostAllowed("a.b.cdn.example.com"));
        assertFalse(policy.hostAllowed("cdn.example.com"), "*.suffix is subdomains only");
        assertFalse(policy.hostAllowed("evilcdn.example.com"));
        assertTrue(policy.hostAllowed("[::1]"));
        assertTrue(policy.hostAllowed("10.0.0.7"));
        assertFalse(policy.hostAllowed(""));
    }

    @Test
    void privateAddressesAreEveryNonPublicRange() throws Exception {
        for (String address : List.of("127.0.0.1", "127.8.9.10", "0.0.0.0", "0.1.2.3", "10.1.2.3", "172.16.0.1",
                "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.100.100.200", "224.0.0.1", "239.1.1.1",
                "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.170",
                "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
                "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:c0a8:0101::1")) {
            assertTrue(PrivateAddresses.isPrivate(InetAddress.getByName(address)), address);
        }
        for (String address : List.of("8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "9.9.9.9", "93.184.216.34",
                "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:0808:0808::1")) {
            assertFalse(PrivateAddresses.isPrivate(InetAddress.getByName(address)), address);
        }
    }
}
