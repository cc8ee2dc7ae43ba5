package io.modelrefinery.host.kafka;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A single-node Kafka cluster (KRaft, broker and controller in one node) running inside this JVM, so that
 * {@code refinery serve} works without a Kafka installation and tests talk to a real broker rather than
 * to mocks.
 *
 * <p>The node listens on {@code 127.0.0.1} only: it is a local convenience, not a server to expose. Every
 * replication factor and minimum in-sync replica count is 1 (there is one broker), topics are never
 * created implicitly (a typo in a topic name should fail, not create a topic; see {@link Topics}), and a
 * consumer group's first rebalance is not delayed, since no other members are worth waiting for.
 *
 * <p>Data lives in the data folder and survives restarts: the folder is formatted for KRaft (with a new
 * cluster id, kept in its {@code meta.properties}) only when it does not hold a formatted log yet.
 *
 * <p>Nothing here calls {@code System.exit}: the node is built from Kafka's server classes
 * ({@link Formatter}, {@link KafkaRaftServer}), not through {@code kafka.Kafka.main}, and no exit
 * procedure is replaced. Kafka itself still halts the JVM on faults it considers unrecoverable (all log
 * folders failed, a corrupt metadata log), as a stand-alone broker would; {@link #start} checks the data
 * folder first so that a wrong path is reported as an exception rather than as such a halt.
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);

    /** The only node of the cluster. */
    static final int NODE_ID = 1;
    private static final String HOST = "127.0.0.1";
    private static final String BROKER_LISTENER = "PLAINTEXT";
    private static final String CONTROLLER_LISTENER = "CONTROLLER";
    /** Written by the format step; its presence means the folder holds a formatted log. */
    private static final String META_PROPERTIES = "meta.properties";
    /** How long {@link #start} waits for the node to answer clients, format and start-up included. */
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /** Tries when a port chosen here is taken by someone else between the choice and Kafka's bind. */
    private static final int MAX_ATTEMPTS = 3;
    /**
     * Partitions of the internal topics (consumer offsets, transactions, share-group state). Kafka's
     * default of 50 each is for spreading load over brokers; with one broker it only costs start-up time
     * and files.
     */
    private static final int INTERNAL_TOPIC_PARTITIONS = 4;
    /**
     * Heap the log cleaner takes for compacting the offsets topic: Kafka's default is 128 MiB, allocated
     * up front, which is far more than a handful of consumer groups need inside an application.
     */
    private static final int CLEANER_DEDUPE_BUFFER_BYTES = 8 * 1024 * 1024;

    private final KafkaRaftServer server;
    private final Path dataDir;
    private final int port;
    private boolean closed;

    private EmbeddedKafkaBroker(KafkaRaftServer server, Path dataDir, int port) {
        this.server = server;
        this.dataDir = dataDir;
        this.port = port;
    }

    /**
     * Starts a node on {@code 127.0.0.1:port} with its log in {@code dataDir}, formatting the folder first
     * if it holds no formatted log. Returns once the broker answers client requests.
     *
     * @param dataDir the broker's log folder; created if missing, kept across restarts
     * @param port the client (PLAINTEXT) port, or 0 for a free one
     * @throws BrokerStartException if the port is in use, the folder is unusable, or the broker does not
     *     answer within a minute
     */
    public static EmbeddedKafkaBroker start(Path dataDir, int port) {
        Objects.requireNonNull(dataDir, "dataDir");
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be between 0 and 65535: " + port);
        }
        long startNanos = System.nanoTime();
        long deadlineNanos = startNanos + START_TIMEOUT.toNanos();
        if (port != 0) {
            requireFree(port); // before formatting: a failed start should leave no trace
        }
        Path dir = prepareDataDir(dataDir);
        boolean formatted = Files.isRegularFile(dir.resolve(META_PROPERTIES));
        if (!formatted) {
            format(dir);
        }
        for (int attempt = 1; ; attempt++) {
            if (port != 0 && attempt > 1) {
                requireFree(port);
            }
            int brokerPort = port != 0 ? port : freePort(-1);
            int controllerPort = freePort(brokerPort);
            try {
                EmbeddedKafkaBroker broker = launch(dir, brokerPort, controllerPort, deadlineNanos);
                LOG.info("Kafka broker on {} with data in {} started in {} ms ({})", broker.bootstrapServers(),
                        dir, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos),
                        formatted ? "existing log" : "new log");
                return broker;
            } catch (BrokerStartException e) {
                if (!isBindFailure(e) || attempt == MAX_ATTEMPTS) {
                    throw e;
                }
                // A port that was free a moment ago was taken before Kafka bound it: choose again.
                LOG.info("Kafka broker could not bind its ports ({}); trying other ports", e.getMessage());
            }
        }
    }

    /** Where clients connect: {@code 127.0.0.1:port}, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return HOST + ":" + port;
    }

    /** The broker's log folder, absolute. */
    public Path dataDir() {
        return dataDir;
    }

    /**
     * Shuts the node down and waits until it has: its log is flushed and closed, so that the next start
     * on the same folder finds everything written. Calling it again does nothing.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        long startNanos = System.nanoTime();
        server.shutdown();
        server.awaitShutdown();
        LOG.info("Kafka broker on {} stopped in {} ms", bootstrapServers(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    }

    /** Creates the folder and checks that it can be written, before Kafka would halt the JVM over it. */
    private static Path prepareDataDir(Path dataDir) {
        Path dir = dataDir.toAbsolutePath().normalize();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new BrokerStartException("Cannot create the Kafka data folder " + dir + ": " + e, e);
        }
        if (!Files.isWritable(dir)) {
            throw new BrokerStartException("The Kafka data folder " + dir + " is not writable");
        }
        return dir;
    }

    /**
     * Formats {@code dir} for a new single-node cluster, as {@code kafka-storage.sh format} would: a new
     * cluster id and the node id go into {@code meta.properties}, the latest production metadata version
     * into the bootstrap snapshot of the metadata log.
     */
    private static void format(Path dir) {
        String clusterId = Uuid.randomUuid().toString();
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8)) {
            new Formatter()
                    .setPrintStream(out)
                    .setNodeId(NODE_ID)
                    .setClusterId(clusterId)
                    .setDirectories(List.of(dir.toString()))
                    .setMetadataLogDirectory(dir.toString())
                    .setControllerListenerName(CONTROLLER_LISTENER)
                    // A static quorum (controller.quorum.voters): see config() for why.
                    .setHasDynamicQuorum(false)
                    .setWriteBootstrapSnapshot(true)
                    .run();
        } catch (Exception e) {
            throw new BrokerStartException("Cannot format the Kafka data folder " + dir + ": " + e, e);
        }
        LOG.info("Formatted {} for Kafka cluster {}", dir, clusterId);
        LOG.debug("Kafka storage formatter: {}", output.toString(StandardCharsets.UTF_8).trim());
    }

    private static EmbeddedKafkaBroker launch(Path dir, int brokerPort, int controllerPort, long deadlineNanos) {
        KafkaConfig config;
        KafkaRaftServer server;
        try {
            config = new KafkaConfig(config(dir, brokerPort, controllerPort, deadlineNanos), false);
            server = new KafkaRaftServer(config, Time.SYSTEM);
        } catch (RuntimeException e) {
            throw new BrokerStartException("Cannot start a Kafka broker on the data folder " + dir + ": " + e, e);
        }
        String bootstrap = HOST + ":" + brokerPort;
        try {
            server.startup();
            awaitClients(bootstrap, deadlineNanos);
            return new EmbeddedKafkaBroker(server, dir, brokerPort);
        } catch (RuntimeException | Error e) {
            shutdownQuietly(server);
            if (e instanceof BrokerStartException bse) {
                throw bse;
            }
            if (isBindFailure(e)) {
                throw new BrokerStartException("Cannot start the Kafka broker: " + bootstrap + " or its controller"
                        + " port " + HOST + ":" + controllerPort + " is already in use", e);
            }
            throw new BrokerStartException("Cannot start the Kafka broker on " + bootstrap + ": " + e, e);
        }
    }

    /**
     * The node's settings. The quorum is static ({@code controller.quorum.voters}) rather than dynamic
     * ({@code controller.quorum.bootstrap.servers}) because the controller port is chosen afresh at every
     * start, and a dynamic quorum records its voters' endpoints in the metadata log, where an old port
     * would outlive the restart.
     */
    private static Map<String, Object> config(Path dir, int brokerPort, int controllerPort, long deadlineNanos) {
        Map<String, Object> props = new HashMap<>();
        props.put("process.roles", "broker,controller");
        props.put("node.id", String.valueOf(NODE_ID));
        props.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        props.put("controller.listener.names", CONTROLLER_LISTENER);
        props.put("inter.broker.listener.name", BROKER_LISTENER);
        props.put("listeners", BROKER_LISTENER + "://" + HOST + ":" + brokerPort + ","
                + CONTROLLER_LISTENER + "://" + HOST + ":" + controllerPort);
        props.put("advertised.listeners", BROKER_LISTENER + "://" + HOST + ":" + brokerPort);
        props.put("listener.security.protocol.map", BROKER_LISTENER + ":PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
        props.put("log.dirs", dir.toString());
        props.put("metadata.log.dir", dir.toString());
        // One broker: every replica count is 1.
        props.put("default.replication.factor", "1");
        props.put("min.insync.replicas", "1");
        props.put("offsets.topic.replication.factor", "1");
        props.put("transaction.state.log.replication.factor", "1");
        props.put("transaction.state.log.min.isr", "1");
        props.put("share.coordinator.state.topic.replication.factor", "1");
        props.put("share.coordinator.state.topic.min.isr", "1");
        props.put("offsets.topic.num.partitions", String.valueOf(INTERNAL_TOPIC_PARTITIONS));
        props.put("transaction.state.log.num.partitions", String.valueOf(INTERNAL_TOPIC_PARTITIONS));
        props.put("share.coordinator.state.topic.num.partitions", String.valueOf(INTERNAL_TOPIC_PARTITIONS));
        props.put("group.initial.rebalance.delay.ms", "0");
        props.put("auto.create.topics.enable", "false");
        props.put("log.cleaner.dedupe.buffer.size", String.valueOf(CLEANER_DEDUPE_BUFFER_BYTES));
        // Kafka's own start-up gives up at our deadline rather than waiting for ever.
        props.put("server.max.startup.time.ms",
                String.valueOf(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()))));
        return props;
    }

    /** Waits until the broker answers a metadata request, the first thing every client sends. */
    private static void awaitClients(String bootstrap, long deadlineNanos) {
        Map<String, Object> props = Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.CLIENT_ID_CONFIG, "refinery-embedded-broker-probe",
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000);
        Exception last = null;
        try (Admin admin = Admin.create(props)) {
            while (true) {
                long leftMs = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
                if (leftMs <= 0) {
                    throw new BrokerStartException("The Kafka broker on " + bootstrap + " did not answer clients within "
                            + START_TIMEOUT.toSeconds() + " s" + (last == null ? "" : ": " + last), last);
                }
                int timeoutMs = (int) Math.min(leftMs, 10_000);
                try {
                    Collection<Node> nodes = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs))
                            .nodes().get(timeoutMs, TimeUnit.MILLISECONDS);
                    if (!nodes.isEmpty()) {
                        return;
                    }
                } catch (ExecutionException e) {
                    last = e.getCause() instanceof Exception cause ? cause : e;
                } catch (TimeoutException e) {
                    last = e;
                }
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BrokerStartException("Interrupted while waiting for the Kafka broker on " + bootstrap, e);
        }
    }

    private static void shutdownQuietly(KafkaRaftServer server) {
        try {
            server.shutdown();
            server.awaitShutdown();
        } catch (RuntimeException e) {
            LOG.warn("Kafka broker did not shut down cleanly after a failed start", e);
        }
    }

    /** Fails clearly when the caller's port is taken, rather than half-starting a node that cannot bind it. */
    private static void requireFree(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(HOST, port));
        } catch (BindException e) {
            throw new BrokerStartException("Cannot start the Kafka broker: " + HOST + ":" + port + " is already in use", e);
        } catch (IOException e) {
            throw new BrokerStartException("Cannot start the Kafka broker: cannot bind " + HOST + ":" + port + ": " + e, e);
        }
    }

    /** A port free right now on the loopback address, other than {@code except}. */
    private static int freePort(int except) {
        for (int i = 0; i < 10; i++) {
            try (ServerSocket socket = new ServerSocket()) {
                socket.bind(new InetSocketAddress(HOST, 0));
                int port = socket.getLocalPort();
                if (port != except) {
                    return port;
                }
            } catch (IOException e) {
                throw new BrokerStartException("Cannot find a free port on " + HOST + ": " + e, e);
            }
        }
        throw new BrokerStartException("Cannot find a free port on " + HOST);
    }

    private static boolean isBindFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BindException) {
                return true;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return false;
    }
}
