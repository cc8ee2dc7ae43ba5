package io.modelrefinery.host.http;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiTokenTest {
    private final ApiToken token = ApiToken.of("abc123-XYZ\n");

    @Test
    void acceptsOnlyTheBearerSchemeWithTheExactToken() {
        assertTrue(token.accepts("Bearer abc123-XYZ"));
        assertTrue(token.accepts("bearer abc123-XYZ "), "the scheme is case-insensitive, as RFC 6750 allows");
        assertFalse(token.accepts(null));
        assertFalse(token.accepts(""));
        assertFalse(token.accepts("Bearer "));
        assertFalse(token.accepts("Bearer abc123-xyz"));
        assertFalse(token.accepts("Bearer abc123-XY"));
        assertFalse(token.accepts("Bearer abc123-XYZZ"));
        assertFalse(token.accepts("Basic abc123-XYZ"));
        assertFalse(token.accepts("abc123-XYZ"));
    }

    @Test
    void refusesEmptyTokensAndNeverShowsItself() {
        assertEquals("the API token is empty", assertThrows(IllegalArgumentException.class, () -> ApiToken.of(" \n"))
                .getMessage());
        assertThrows(IllegalArgumentException.class, () -> ApiToken.of("two words"));
        assertEquals("ApiToken[redacted]", token.toString());
    }
}
