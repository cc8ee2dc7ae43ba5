package io.modelrefinery.host.osgi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes the Felix framework's own log, resolver wiring messages included, to SLF4J instead of
 * standard output.
 */
final class FelixLogBridge extends org.apache.felix.framework.Logger {
    private static final Logger LOG = LoggerFactory.getLogger("io.modelrefinery.host.osgi.felix");

    /** The Felix log level matching what SLF4J would print, so Felix does not format lines nobody reads. */
    static String felixLevel() {
        if (LOG.isDebugEnabled()) {
            return Integer.toString(LOG_DEBUG);
        }
        return Integer.toString(LOG.isInfoEnabled() ? LOG_INFO : LOG_WARNING);
    }

    @Override
    protected void doLog(int level, String msg, Throwable throwable) {
        switch (level) {
            case LOG_ERROR:
                LOG.error(msg, throwable);
                break;
            case LOG_WARNING:
                LOG.warn(msg, throwable);
                break;
            case LOG_INFO:
                LOG.info(msg, throwable);
                break;
            default:
                LOG.debug(msg, throwable);
        }
    }
}
