package io.modelrefinery.host.http;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.EventGridWebhook;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.event.MlflowWebhook;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.event.RegistryAdapters;
import io.modelrefinery.host.event.WebhookRejectedException;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.osgi.PluginInfo;
import io.modelrefinery.host.osgi.PluginInstaller;
import io.modelrefinery.host.osgi.PluginRegistry;
import io.modelrefinery.host.service.JobTracker;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.SecurityPolicyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The HTTP API: {@code GET /health}, {@code GET /plugins}, {@code PUT /plugins/{file}},
 * {@code DELETE /plugins/{id}}, {@code POST /models}, {@code GET /jobs}, {@code GET /jobs/{id}},
 * {@code GET /metrics}, {@code POST /webhooks/mlflow}, {@code POST} and {@code OPTIONS /webhooks/eventgrid}. Handlers read in-memory state or hand events to
 * Kafka asynchronously; plugin uploads and removals, which touch files and wait for the plugin framework,
 * run on worker threads: nothing here blocks the event loop.
 *
 * <p>With an {@link ApiToken} configured, the endpoints that change something ({@code POST /models},
 * {@code PUT} and {@code DELETE /plugins}) answer 401 unless the request carries
 * {@code Authorization: Bearer <token>}; the check runs before the request body is read. The MLflow webhook
 * has its own signature check instead, the Event Grid webhook a key in its URL.
 */
public final class HttpApi extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    /** Registration events are small; anything larger is refused before it is read. */
    private static final long MAX_BODY_BYTES = 256 * 1024;
    /** The largest plugin jar accepted by {@code PUT /plugins/{file}}. */
    private static final long MAX_PLUGIN_BYTES = 128L * 1024 * 1024;

    /**
     * Whether the instance can take work.
     *
     * @param up true when every check passes
     * @param checks each check's state, for operators
     */
    public record Health(boolean up, Map<String, String> checks) {
    }

    /**
     * What the API serves.
     *
     * @param host address to bind
     * @param port port to bind; 0 picks a free one
     * @param plugins the plugin registry
     * @param jobs the job tracker
     * @param publisher where registration events go
     * @param registeredTopic the topic of {@code model.registered} events
     * @param jobIdOf the job id a registration gets
     * @param metrics the Prometheus registry to scrape
     * @param health the health checks
     * @param mlflow MLflow webhook verification, or {@code null} when no secret is configured
     * @param eventGrid Event Grid webhook verification, or {@code null} when no key is configured
     * @param clock time for events and webhook checks
     * @param installer adds and removes plugin jars
     * @param apiToken the token mutating endpoints require, or {@code null} to leave them open
     */
    public record Settings(String host, int port, PluginRegistry plugins, JobTracker jobs, OutcomePublisher publisher,
                           String registeredTopic, Function<ModelRegistered, String> jobIdOf,
                           PrometheusMeterRegistry metrics, Supplier<Health> health, MlflowWebhook mlflow,
                           EventGridWebhook eventGrid, Clock clock,
                           PluginInstaller installer, ApiToken apiToken) {
    }

    private final Settings settings;
    private HttpServer server;

    public HttpApi(Settings settings) {
        this.settings = settings;
    }

    /** The port the server listens on, once started. */
    public int port() {
        return server.actualPort();
    }

    @Override
    public Future<?> start() {
        Router router = Router.router(vertx);
        router.route().failureHandler(ctx -> {
            if (ctx.failure() != null) {
                LOG.error("{} {} failed", ctx.request().method(), ctx.request().path(), ctx.failure());
            }
            error(ctx, ctx.statusCode() > 0 ? ctx.statusCode() : 500, ctx.statusCode() == 413
                    ? "request body larger than " + (ctx.request().path().startsWith("/plugins/") ? MAX_PLUGIN_BYTES
                    : MAX_BODY_BYTES) + " bytes" : "internal error");
        });
        router.get("/health").handler(this::health);
        router.get("/plugins").handler(this::plugins);
        router.get("/jobs").handler(ctx -> json(ctx, 200, settings.jobs().all()));
        router.get("/jobs/:id").handler(this::job);
        router.get("/metrics").handler(ctx -> ctx.response()
                .putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                .end(settings.metrics().scrape()));
        TokenGuard guard = new TokenGuard();
        router.put("/plugins/:file").handler(guard)
                .handler(BodyHandler.create().setBodyLimit(MAX_PLUGIN_BYTES)).handler(this::uploadPlugin);
        router.delete("/plugins/:id").handler(guard).handler(this::removePlugin);
        router.post("/models").handler(guard)
                .handler(BodyHandler.create().setBodyLimit(MAX_BODY_BYTES)).handler(this::registerModel);
        router.post("/webhooks/mlflow").handler(BodyHandler.create().setBodyLimit(MAX_BODY_BYTES))
                .handler(this::mlflowWebhook);
        router.options("/webhooks/eventgrid").handler(new EventGridGuard()).handler(this::eventGridHandshake);
        router.post("/webhooks/eventgrid").handler(new EventGridGuard())
                .handler(BodyHandler.create().setBodyLimit(MAX_BODY_BYTES)).handler(this::eventGridWebhook);
        return vertx.createHttpServer()
                .requestHandler(router)
                .listen(settings.port(), settings.host())
                .onSuccess(s -> {
                    server = s;
                    LOG.info("HTTP API on http://{}:{}", settings.host(), s.actualPort());
                });
    }

    private void health(RoutingContext ctx) {
        Health health = settings.health().get();
        json(ctx, health.up() ? 200 : 503, Map.of("status", health.up() ? "UP" : "DOWN", "checks", health.checks()));
    }

    /**
     * Lets the request through when no token is configured or it carries the right one; else answers 401.
     * A security-policy handler to Vert.x Web, so that it runs before the body handler: an unauthorized
     * request's body is never read. Neither the expected nor the presented token is ever logged.
     */
    private final class TokenGuard implements SecurityPolicyHandler {
        @Override
        public void handle(RoutingContext ctx) {
            ApiToken token = settings.apiToken();
            String authorization = ctx.request().getHeader("Authorization");
            if (token == null || token.accepts(authorization)) {
                ctx.next();
                return;
            }
            String why = authorization == null ? "no Authorization header" : "wrong bearer token";
            LOG.warn("{} {} from {} refused: {}", ctx.request().method(), ctx.request().path(),
                    ctx.request().remoteAddress(), why);
            ctx.response().putHeader("WWW-Authenticate", "Bearer realm=\"model-refinery\"");
            error(ctx, 401, authorization == null ? "this endpoint needs 'Authorization: Bearer <token>'" : why);
        }
    }

    /**
     * Lets an Event Grid request through when it carries the configured key; 404 when no key is configured
     * (the endpoint is off), 401 otherwise. Runs before the body is read.
     */
    private final class EventGridGuard implements SecurityPolicyHandler {
        @Override
        public void handle(RoutingContext ctx) {
            if (settings.eventGrid() == null) {
                error(ctx, 404, "the Event Grid webhook is off: start the host with an Event Grid key");
                return;
            }
            try {
                settings.eventGrid().verify(ctx.request().getParam(EventGridWebhook.KEY_PARAMETER));
            } catch (WebhookRejectedException e) {
                LOG.warn("Event Grid {} from {} refused: {}", ctx.request().method(), ctx.request().remoteAddress(),
                        e.getMessage());
                error(ctx, 401, e.getMessage());
                return;
            }
            ctx.next();
        }
    }

    /** The CloudEvents webhook abuse-protection handshake: the origin may deliver, at any rate. */
    private void eventGridHandshake(RoutingContext ctx) {
        String origin = ctx.request().getHeader(EventGridWebhook.REQUEST_ORIGIN_HEADER);
        if (origin == null || origin.isBlank()) {
            error(ctx, 400, "OPTIONS without a " + EventGridWebhook.REQUEST_ORIGIN_HEADER + " header");
            return;
        }
        LOG.info("Event Grid handshake from origin {}", origin);
        ctx.response().setStatusCode(200).putHeader(EventGridWebhook.ALLOWED_ORIGIN_HEADER, origin.strip())
                .putHeader(EventGridWebhook.ALLOWED_RATE_HEADER, "*").end();
    }

    /**
     * An Event Grid delivery: answers the subscription validation, or hands the delivery to Kafka as one
     * record, exactly as an Event Grid subscription to Event Hubs would, so that the consumer gives each
     * element its own job and dead-letters a bad one alone. The answer lists what each element becomes.
     */
    private void eventGridWebhook(RoutingContext ctx) {
        byte[] body = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        List<CloudEventCodec.Decoded> delivery;
        try {
            delivery = CloudEventCodec.decodeAll(body, Map.of());
            Optional<String> code = EventGridWebhook.validationCode(delivery);
            if (code.isPresent()) {
                LOG.info("Event Grid subscription validation answered");
                json(ctx, 200, Map.of("validationResponse", code.get()));
                return;
            }
        } catch (InvalidInputException e) {
            error(ctx, 400, e.getMessage());
            return;
        }
        List<Map<String, Object>> events = new ArrayList<>();
        String key = null;
        for (CloudEventCodec.Decoded decoded : delivery) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("index", Math.max(decoded.index(), 0));
            try {
                if (decoded.problem() != null) {
                    throw decoded.problem();
                }
                ModelRegistered registered = RegistryAdapters.toRegistered(decoded.event());
                key = key == null ? registered.name() : key;
                Optional<String> ignored = RegistryAdapters.ignoreReason(decoded.event(), registered);
                entry.put("status", ignored.isPresent() ? "ignored" : "accepted");
                ignored.ifPresentOrElse(reason -> entry.put("reason", reason), () -> {
                    String jobId = settings.jobIdOf().apply(registered);
                    entry.put("jobId", jobId);
                    entry.put("href", "/jobs/" + jobId);
                });
            } catch (InvalidInputException e) {
                entry.put("status", "dead-letter");
                entry.put("error", e.getMessage());
            }
            events.add(entry);
        }
        byte[] recordKey = (key == null ? "eventgrid" : key).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Future.fromCompletionStage(settings.publisher().send(settings.registeredTopic(), recordKey, body, List.of()),
                        vertx.getOrCreateContext())
                .onSuccess(metadata -> json(ctx, 200, Map.of("events", events)))
                // Not 2xx: Event Grid retries the delivery; redelivered events get their job's earlier outcome.
                .onFailure(e -> error(ctx, 503, "cannot publish the delivery to Kafka: " + e.getMessage()));
    }

    private void plugins(RoutingContext ctx) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (PluginInfo plugin : settings.plugins().plugins()) {
            out.add(describe(plugin));
        }
        json(ctx, 200, out);
    }

    private static Map<String, Object> describe(PluginInfo plugin) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("file", plugin.file());
        p.put("bundle", plugin.symbolicName());
        p.put("version", plugin.bundleVersion());
        p.put("state", plugin.state().name().toLowerCase(Locale.ROOT));
        p.put("problem", plugin.problem());
        List<Map<String, Object>> transforms = new ArrayList<>();
        for (TransformDescriptor d : plugin.transforms()) {
            transforms.add(describe(d));
        }
        p.put("transforms", transforms);
        return p;
    }

    /** {@code PUT /plugins/{file}}: 201 with the new plugin's state (200 when it replaced one), or why not. */
    private void uploadPlugin(RoutingContext ctx) {
        String file = ctx.pathParam("file");
        byte[] jar = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        vertx.executeBlocking(() -> settings.installer().install(file, jar), false).onComplete(done -> {
            if (done.succeeded()) {
                PluginInstaller.Installed installed = done.result();
                LOG.info("plugin {} uploaded ({} bytes): {}", file, jar.length, installed.plugin().state());
                json(ctx, installed.replaced() ? 200 : 201, describe(installed.plugin()));
            } else {
                pluginFailure(ctx, "upload of " + file, done.cause());
            }
        });
    }

    /** {@code DELETE /plugins/{id}}, by file name or bundle symbolic name: 200 with what was removed, or 404. */
    private void removePlugin(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> settings.installer().remove(id), false).onComplete(done -> {
            if (done.failed()) {
                pluginFailure(ctx, "removal of " + id, done.cause());
            } else if (done.result().isEmpty()) {
                error(ctx, 404, "no plugin jar named '" + id + "' (file name or bundle symbolic name)");
            } else {
                LOG.info("plugin {} removed", done.result().get().file());
                Map<String, Object> body = describe(done.result().get());
                body.put("state", "removed");
                json(ctx, 200, body);
            }
        });
    }

    private static void pluginFailure(RoutingContext ctx, String what, Throwable failure) {
        if (failure instanceof PluginInstaller.RefusedException) {
            error(ctx, 422, failure.getMessage());
        } else if (failure instanceof PluginInstaller.ConflictException) {
            error(ctx, 409, failure.getMessage());
        } else if (failure instanceof InvalidInputException) {
            error(ctx, 400, failure.getMessage());
        } else {
            LOG.error("{} failed", what, failure);
            error(ctx, 500, what + " failed: " + failure.getMessage());
        }
    }

    static Map<String, Object> describe(TransformDescriptor d) {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("id", d.id());
        t.put("version", d.version());
        t.put("kind", d.kind().name().toLowerCase(Locale.ROOT));
        t.put("accepts", d.inputFormats().stream().map(Object::toString).toList());
        t.put("produces", d.outputFormat().toString());
        t.put("summary", d.summary());
        t.put("requires", d.requiredData().stream().map(DataRole::label).toList());
        t.put("requiresWhen", d.conditionalData().stream().map(r -> Map.of("data", r.role().label(),
                "param", r.param().name(), "condition", r.condition())).toList());
        List<Map<String, Object>> params = new ArrayList<>();
        for (ParamSpec<?> spec : d.params()) {
            Map<String, Object> param = new LinkedHashMap<>();
            param.put("name", spec.name());
            param.put("type", spec.type().name().toLowerCase(Locale.ROOT));
            param.put("required", spec.required());
            param.put("default", spec.renderedDefault());
            param.put("valid", spec.validValues());
            param.put("doc", spec.documentation());
            params.add(param);
        }
        t.put("params", params);
        return t;
    }

    private void job(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        settings.jobs().get(id).ifPresentOrElse(status -> json(ctx, 200, status),
                () -> error(ctx, 404, "no job '" + id + "' on this instance"));
    }

    private void registerModel(RoutingContext ctx) {
        ModelRegistered registered;
        try {
            CloudEvent event = new CloudEvent("http-" + UUID.randomUUID(), OutcomeEvents.SOURCE,
                    io.modelrefinery.api.event.EventTypes.MODEL_REGISTERED, null, null,
                    EventJson.parse(ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes(),
                            "request body"));
            registered = RegistryAdapters.toRegistered(event);
        } catch (InvalidInputException e) {
            error(ctx, 400, e.getMessage());
            return;
        }
        publish(ctx, registered);
    }

    private void mlflowWebhook(RoutingContext ctx) {
        if (settings.mlflow() == null) {
            error(ctx, 404, "the MLflow webhook is off: start the host with a webhook secret");
            return;
        }
        byte[] body = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        String deliveryId = ctx.request().getHeader(MlflowWebhook.DELIVERY_ID_HEADER);
        ModelRegistered registered;
        try {
            settings.mlflow().verify(deliveryId, ctx.request().getHeader(MlflowWebhook.TIMESTAMP_HEADER),
                    ctx.request().getHeader(MlflowWebhook.SIGNATURE_HEADER), body, settings.clock().instant());
            CloudEvent event = MlflowWebhook.toCloudEvent(deliveryId, body);
            registered = RegistryAdapters.toRegistered(event);
            Optional<String> ignored = RegistryAdapters.ignoreReason(event, registered);
            if (ignored.isPresent()) {
                // The version the refinery registered itself: acknowledged, so MLflow does not retry, not optimized.
                LOG.info("MLflow webhook about {} {} ignored ({})", registered.name(), registered.version(), ignored.get());
                json(ctx, 200, Map.of("status", "ignored", "reason", ignored.get()));
                return;
            }
        } catch (WebhookRejectedException e) {
            LOG.warn("MLflow webhook delivery refused: {}", e.getMessage());
            error(ctx, 401, e.getMessage());
            return;
        } catch (InvalidInputException e) {
            error(ctx, 400, e.getMessage());
            return;
        }
        publish(ctx, registered);
    }

    /** Publishes a {@code model.registered} event and answers 202 with the job id once Kafka has it. */
    private void publish(RoutingContext ctx, ModelRegistered registered) {
        String jobId = settings.jobIdOf().apply(registered);
        CloudEvent event = OutcomeEvents.registered(registered, jobId + "/registered/" + UUID.randomUUID(),
                settings.clock().instant());
        Future.fromCompletionStage(settings.publisher().publish(settings.registeredTopic(), registered.name(), event),
                        vertx.getOrCreateContext())
                .onSuccess(metadata -> {
                    Map<String, Object> body = new LinkedHashMap<>();
                    body.put("jobId", jobId);
                    body.put("status", "accepted");
                    body.put("href", "/jobs/" + jobId);
                    json(ctx, 202, body);
                })
                .onFailure(e -> error(ctx, 503, "cannot publish the event to Kafka: " + e.getMessage()));
    }

    private static void json(RoutingContext ctx, int status, Object body) {
        ctx.response().setStatusCode(status).putHeader("content-type", "application/json")
                .end(Buffer.buffer(EventJson.bytes(body)));
    }

    private static void error(RoutingContext ctx, int status, String message) {
        json(ctx, status, Map.of("error", message));
    }
}
