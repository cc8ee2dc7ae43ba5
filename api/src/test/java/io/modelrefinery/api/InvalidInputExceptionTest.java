package io.modelrefinery.api;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Refusals are one readable line whatever bytes a damaged file put into the names they quote. */
class InvalidInputExceptionTest {
    @Test
    void controlCharactersAreEscaped() {
        assertEquals("node reads 'a\\nb\\u0007\\ufffd', which nothing defines",
                new InvalidInputException("node reads 'a\nb\u0007\ufffd', which nothing defines").getMessage());
    }

    @Test
    void overlongQuotedNamesAreAbbreviatedAndTheReasonKept() {
        String name = "w".repeat(500);
        assertEquals("initializer '" + "w".repeat(60) + "...' (500 characters) has 3 values, its dims say 4",
                new InvalidInputException("initializer '" + name + "' has 3 values, its dims say 4").getMessage());
        assertEquals("short 'names' stay", new InvalidInputException("short 'names' stay").getMessage());
    }
}
