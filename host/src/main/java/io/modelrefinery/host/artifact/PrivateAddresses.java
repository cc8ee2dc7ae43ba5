package io.modelrefinery.host.artifact;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Arrays;

/**
 * Recognizes addresses a fetched URI must not reach unless {@link ArtifactPolicy#allowPrivateAddresses()}:
 * anything that is not a public unicast address. Internal services (cloud metadata endpoints, admin
 * consoles, databases) listen there, and a URI from the registry must not turn the host into a proxy to
 * them. IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that
 * IPv4 address.
 */
final class PrivateAddresses {
    private PrivateAddresses() {
    }

    static boolean isPrivate(InetAddress address) {
        if (address.isAnyLocalAddress() || address.isLoopbackAddress() || address.isLinkLocalAddress()
                || address.isSiteLocalAddress() || address.isMulticastAddress()) {
            return true;
        }
        byte[] b = address.getAddress();
        if (address instanceof Inet4Address) {
            return isPrivateV4(b);
        }
        if ((b[0] & 0xfe) == 0xfc) {
            return true; // fc00::/7 unique local
        }
        if (allZero(b, 0, 10) && ((b[10] == 0 && b[11] == 0) || (b[10] == (byte) 0xff && b[11] == (byte) 0xff))) {
            return isPrivateV4(Arrays.copyOfRange(b, 12, 16)); // ::a.b.c.d compatible, ::ffff:a.b.c.d mapped
        }
        if (b[0] == 0 && b[1] == 0x64 && b[2] == (byte) 0xff && b[3] == (byte) 0x9b && allZero(b, 4, 12)) {
            return isPrivateV4(Arrays.copyOfRange(b, 12, 16)); // 64:ff9b::/96 NAT64
        }
        if (b[0] == 0x20 && b[1] == 0x02) {
            return isPrivateV4(Arrays.copyOfRange(b, 2, 6)); // 2002::/16 6to4
        }
        return false;
    }

    private static boolean isPrivateV4(byte[] b) {
        int a0 = b[0] & 0xff;
        int a1 = b[1] & 0xff;
        int a2 = b[2] & 0xff;
        return a0 == 0                                // 0.0.0.0/8 "this network"
                || a0 == 10                           // 10/8
                || a0 == 127                          // loopback
                || (a0 == 100 && (a1 & 0xc0) == 64)   // 100.64/10 carrier-grade NAT (some cloud metadata)
                || (a0 == 169 && a1 == 254)           // link-local, cloud metadata
                || (a0 == 172 && (a1 & 0xf0) == 16)   // 172.16/12
                || (a0 == 192 && a1 == 168)           // 192.168/16
                || (a0 == 192 && a1 == 0 && a2 == 0)  // 192.0.0/24 IETF protocol assignments
                || (a0 == 198 && (a1 & 0xfe) == 18)   // 198.18/15 benchmarking
                || a0 >= 224;                         // multicast, reserved, broadcast
    }

    private static boolean allZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
