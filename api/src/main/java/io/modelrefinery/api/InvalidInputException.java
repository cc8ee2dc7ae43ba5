package io.modelrefinery.api;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Input that cannot be processed as given: a malformed model, a bad parameter value, a dataset that
 * does not fit the model. The message is one line that names the offending thing. Retrying the same
 * input gives the same failure, so callers report it (the CLI exits with code 2) rather than retry.
 */
public class InvalidInputException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    /** A quoted name longer than this is abbreviated: names come from the input and may be any bytes. */
    private static final int LONGEST_QUOTED = 120;
    private static final Pattern QUOTED = Pattern.compile("'([^']{" + (LONGEST_QUOTED + 1) + ",})'");

    public InvalidInputException(String message) {
        super(oneLine(message));
    }

    public InvalidInputException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /**
     * The message as one readable line: control characters (a damaged file's names carry any) escaped,
     * overlong quoted names abbreviated with their length.
     */
    static String oneLine(String message) {
        if (message == null) {
            return null;
        }
        StringBuilder line = new StringBuilder(message.length());
        message.codePoints().forEach(c -> {
            if (c == '\n') {
                line.append("\\n");
            } else if (Character.isISOControl(c) || c == 0xFFFD) {
                line.append(String.format("\\u%04x", c));
            } else {
                line.appendCodePoint(c);
            }
        });
        return QUOTED.matcher(line).replaceAll(m -> {
            String name = m.group(1);
            int keep = Character.isHighSurrogate(name.charAt(59)) ? 59 : 60;
            return Matcher.quoteReplacement("'" + name.substring(0, keep) + "...' (" + name.length() + " characters)");
        });
    }
}
