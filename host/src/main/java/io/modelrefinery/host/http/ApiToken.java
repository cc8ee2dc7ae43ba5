package io.modelrefinery.host.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;

/**
 * The bearer token that guards the HTTP API's mutating endpoints ({@code POST /models},
 * {@code PUT /plugins/{file}}, {@code DELETE /plugins/{id}}). Only the token's SHA-256 digest is kept, and
 * requests are compared digest to digest with {@link MessageDigest#isEqual}, so the comparison takes the
 * same time whatever the request sends and however long it is. {@link #toString} never shows the token.
 */
public final class ApiToken {
    private static final String SCHEME = "bearer ";

    private final byte[] digest;

    private ApiToken(byte[] digest) {
        this.digest = digest;
    }

    /**
     * A token; surrounding white space (a trailing newline in a token file) is not part of it.
     *
     * @throws IllegalArgumentException if it is empty or contains white space or control characters
     */
    public static ApiToken of(String token) {
        String value = token == null ? "" : token.strip();
        if (value.isEmpty()) {
            throw new IllegalArgumentException("the API token is empty");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c <= ' ' || c == 0x7f) {
                throw new IllegalArgumentException("the API token must not contain white space or control characters");
            }
        }
        return new ApiToken(sha256(value));
    }

    /** True if {@code authorization} is {@code Bearer <this token>}; false for anything else, {@code null} included. */
    public boolean accepts(String authorization) {
        String presented = "";
        if (authorization != null && authorization.length() > SCHEME.length()
                && authorization.substring(0, SCHEME.length()).toLowerCase(Locale.ROOT).equals(SCHEME)) {
            presented = authorization.substring(SCHEME.length()).strip();
        }
        // Always hash and compare, so that a missing or malformed header takes as long as a wrong token.
        return MessageDigest.isEqual(digest, sha256(presented)) && !presented.isEmpty();
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }

    @Override
    public String toString() {
        return "ApiToken[redacted]";
    }
}
