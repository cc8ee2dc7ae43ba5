package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An Azure Machine Learning workspace for tests, as its MLflow clients meet it, written from Azure's
 * published definitions ({@code azure-rest-api-specs}, specification/machinelearningservices/data-plane:
 * {@code artifact.json} 2019-09-30 and the run history API) and from what {@code azureml-mlflow} sends:
 * <ul>
 *   <li>the workspace's MLflow REST API under the tracking URI's path,
 *   {@code /mlflow/v1.0/subscriptions/…/workspaces/<ws>/api/2.0/mlflow/…}, served by an
 *   {@link MlflowTestServer} behind it (so model versions, aliases and runs behave as there);</li>
 *   <li>the artifact service on the same host: {@code GET /history/v1.0/<workspace>/experiments/<exp>/runs/<run>/artifacts}
 *   (listing, {@code continuationToken}) and {@code …/artifacts/contentinfo?path=}, the container form
 *   {@code GET /artifact/v2.0/<workspace>/artifacts/<origin>/<container>} and {@code …/contentinfo?path=}:
 *   {@code ArtifactContentInformation} {@code {"contentUri", "origin", "container", "path"}},
 *   {@code PaginatedArtifactList} {@code {"value", "continuationToken", "nextLink"}} (three a page, so that
 *   paging is exercised), errors as {@code ErrorResponse} {@code {"error": {"code", "message", "innerError"}}}
 *   (a missing artifact: 404 {@code UserError} "Cannot find Artifact with ID …", {@code NotFoundError});
 *   the bearer token is required, and a query parameter the operation does not define is a 400
 *   {@code ValidationError} (the check of the requests against the definitions);</li>
 *   <li>the storage account on another port (another origin, as {@code <account>.blob.core.windows.net}
 *   is): a content URI is a blob URL with a read-only service SAS ({@code sv}, {@code st}, {@code se},
 *   {@code sr=b}, {@code sp=r}, {@code sig}), checked on each {@code GET}: a bad or expired signature is
 *   403 {@code AuthenticationFailed}, a missing blob 404 {@code BlobNotFound}, as Azure Storage answers.</li>
 * </ul>
 * Run artifacts live in the container {@code dcid.<run>} of origin {@code ExperimentRun}, as in Azure
 * Machine Learning. Every request is recorded; faults can be injected.
 */
public final class AzureMlTestServer implements AutoCloseable {
    public static final String WORKSPACE = "/subscriptions/5f3c6a2e-1b4d-4c8e-9a7f-0d2e4b6c8a10/resourceGroups/ml-rg"
            + "/providers/Microsoft.MachineLearningServices/workspaces/ml-ws";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BLOB_CONTAINER = "azureml";
    private static final int PAGE = 3;
    private static final Pattern RUN_API = Pattern.compile("/experiments/([^/]+)/runs/([^/]+)/artifacts(/contentinfo)?");
    private static final Pattern CONTAINER_API = Pattern.compile("/artifacts/([^/]+)/([^/]+)(/contentinfo)?");

    /** One request as it arrived. */
    public record Request(String method, String path, String query, Map<String, String> headers) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    private record Fault(String pathPart, int status, String code, int[] left) {
    }

    private final MlflowTestServer mlflow;
    private final String token;
    private final HttpServer service;
    private final HttpServer storage;
    private final ExecutorService executor = Executors.newFixedThreadPool(4);
    private final HttpClient proxy = HttpClient.newHttpClient();
    private final byte[] accountKey = UUID.randomUUID().toString().getBytes(StandardCharsets.UTF_8);
    private final Map<String, byte[]> blobs = new TreeMap<>();
    private final Map<String, String> runExperiments = new TreeMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final List<Request> storageRequests = new CopyOnWriteArrayList<>();
    private final List<Fault> faults = new ArrayList<>();
    private String storageHost = "127.0.0.1";
    private int refuseSas;
    private String refuseSuffix = "";

    private AzureMlTestServer(String token) throws IOException {
        this.token = token;
        mlflow = MlflowTestServer.withToken(token);
        service = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        service.createContext("/", e -> handle(e, requests, this::serviceRoute));
        service.setExecutor(executor);
        service.start();
        storage = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        storage.createContext("/", e -> handle(e, storageRequests, this::storageRoute));
        storage.setExecutor(executor);
        storage.start();
    }

    /** A workspace whose services take the Entra ID access token {@code token}. */
    public static AzureMlTestServer start(String token) throws IOException {
        return new AzureMlTestServer(token);
    }

    /** The MLflow server behind the workspace's MLflow endpoint: register versions there. */
    public MlflowTestServer mlflow() {
        return mlflow;
    }

    /**
     * The workspace's tracking URI as MLflow's REST clients use it, {@code http} here where Azure's is
     * {@code https} ({@code azureml://} is that URI's short form).
     */
    public URI trackingUri() {
        return URI.create("http://127.0.0.1:" + service.getAddress().getPort() + "/mlflow/v1.0" + WORKSPACE);
    }

    /** Content URIs name {@code host} (another name of the storage address) instead of 127.0.0.1. */
    public synchronized AzureMlTestServer storageHost(String host) {
        storageHost = host;
        return this;
    }

    /**
     * Logs {@code files} as run {@code runId}'s artifacts under {@code path}, and returns the run-artifact
     * URI the workspace's MLflow endpoint gives for them: {@code azureml://<host>/mlflow/v2.0/<workspace>/experiments/<exp>/runs/<run>/artifacts/<path>}.
     */
    public synchronized String logRunArtifacts(String experimentId, String runId, String path, Map<String, byte[]> files) {
        runExperiments.put(runId, experimentId);
        files.forEach((name, content) -> blobs.put("ExperimentRun/dcid." + runId + "/" + path + "/" + name, content));
        return "azureml://127.0.0.1:" + service.getAddress().getPort() + "/mlflow/v2.0" + WORKSPACE + "/experiments/"
                + experimentId + "/runs/" + runId + "/artifacts/" + path;
    }

    /**
     * Uploads {@code files} as {@code azureml-mlflow} registers a local model folder
     * ({@code LocalUpload/<container>/<folder>}), and returns the source it registers:
     * {@code azureml://artifacts/LocalUpload/<container>/<folder>}.
     */
    public synchronized String uploadLocal(String container, String folder, Map<String, byte[]> files) {
        files.forEach((name, content) -> blobs.put("LocalUpload/" + container + "/" + folder + "/" + name, content));
        return "azureml://artifacts/LocalUpload/" + container + "/" + folder;
    }

    /**
     * The next {@code times} storage requests for a blob whose name ends with {@code suffix} are refused
     * as for a SAS that expired or whose account key was rotated since it was issued: 403
     * {@code AuthenticationFailed}.
     */
    public synchronized void refuseNextSas(String suffix, int times) {
        refuseSuffix = suffix;
        refuseSas = times;
    }

    /** The next {@code times} artifact-service requests whose path contains {@code pathPart} fail. */
    public synchronized void failNext(String pathPart, int status, String code, int times) {
        faults.add(new Fault(pathPart, status, code, new int[] {times}));
    }

    /** The requests to the workspace's host (the MLflow endpoint's too), in order. */
    public List<Request> requests() {
        return List.copyOf(requests);
    }

    /** The requests to the storage account, in order. */
    public List<Request> storageRequests() {
        return List.copyOf(storageRequests);
    }

    @Override
    public void close() {
        service.stop(0);
        storage.stop(0);
        executor.shutdownNow();
        mlflow.close();
    }

    // ---------------------------------------------------------------- HTTP

    private record Answer(int status, String contentType, byte[] body, Map<String, String> headers) {
        static Answer json(Object node) {
            try {
                return new Answer(200, "application/json; charset=utf-8", JSON.writeValueAsBytes(node), Map.of());
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Azure's ErrorResponse, as artifact.json defines it. */
        static Answer error(int status, String code, String message, String inner) {
            ObjectNode body = JSON.createObjectNode();
            ObjectNode error = body.putObject("error").put("code", code).put("message", message);
            if (inner != null) {
                error.putObject("innerError").put("code", inner);
            }
            body.putObject("correlation").put("operation", UUID.randomUUID().toString().replace("-", ""));
            body.put("environment", "test").put("location", "test").put("time", Instant.now().toString());
            try {
                return new Answer(status, "application/json; charset=utf-8", JSON.writeValueAsBytes(body), Map.of());
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Azure Storage's XML error body. */
        static Answer storageError(int status, String code, String message) {
            return new Answer(status, "application/xml", ("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code
                    + "</Code><Message>" + message + "\nRequestId:" + UUID.randomUUID() + "\nTime:" + Instant.now()
                    + "</Message></Error>").getBytes(StandardCharsets.UTF_8), Map.of("x-ms-error-code", code));
        }
    }

    private interface Route {
        Answer answer(String method, String path, String query, Map<String, String> headers, byte[] body) throws Exception;
    }

    private static void handle(HttpExchange exchange, List<Request> log, Route route) throws IOException {
        try (exchange) {
            Map<String, String> headers = new TreeMap<>();
            exchange.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), v.get(0)));
            byte[] body = exchange.getRequestBody().readAllBytes();
            String path = exchange.getRequestURI().getRawPath();
            String query = exchange.getRequestURI().getRawQuery();
            log.add(new Request(exchange.getRequestMethod(), path, query, headers));
            Answer answer;
            try {
                answer = route.answer(exchange.getRequestMethod(), path, query, headers, body);
            } catch (Exception e) {
                answer = Answer.error(500, "ServiceError", "test server failure: " + e, null);
            }
            exchange.getResponseHeaders().set("Content-Type", answer.contentType);
            answer.headers.forEach((k, v) -> exchange.getResponseHeaders().set(k, v));
            exchange.sendResponseHeaders(answer.status, answer.body.length == 0 ? -1 : answer.body.length);
            if (answer.body.length > 0) {
                exchange.getResponseBody().write(answer.body);
            }
        }
    }

    private Answer serviceRoute(String method, String path, String query, Map<String, String> headers, byte[] body)
            throws Exception {
        for (String mlflowBase : List.of("/mlflow/v1.0" + WORKSPACE, "/mlflow/v2.0" + WORKSPACE)) {
            if (path.regionMatches(true, 0, mlflowBase, 0, mlflowBase.length())) {
                return forward(method, path.substring(mlflowBase.length()), query, headers, body);
            }
        }
        if (!("Bearer " + token).equals(headers.get("authorization"))) {
            return Answer.error(401, "UserError", "Authentication failed: the request has no valid bearer token.", "AuthenticationError");
        }
        synchronized (this) {
            for (Fault fault : faults) {
                if (fault.left[0] > 0 && path.contains(fault.pathPart)) {
                    fault.left[0]--;
                    return Answer.error(fault.status, fault.code, "injected fault", null);
                }
            }
        }
        String history = "/history/v1.0" + WORKSPACE;
        String artifact = "/artifact/v2.0" + WORKSPACE;
        Map<String, String> params = query(query);
        if (path.regionMatches(true, 0, history, 0, history.length())) {
            Matcher m = RUN_API.matcher(path.substring(history.length()));
            if (m.matches() && method.equals("GET")) {
                String experiment = decode(m.group(1));
                String run = decode(m.group(2));
                synchronized (this) {
                    if (!experiment.equals(runExperiments.get(run))) {
                        return Answer.error(404, "UserError", "Run " + run + " was not found in experiment " + experiment + ".",
                                "NotFoundError");
                    }
                }
                return m.group(3) == null ? listing("ExperimentRun", "dcid." + run, params, Set.of("continuationToken"))
                        : contentInfo("ExperimentRun", "dcid." + run, params);
            }
        } else if (path.regionMatches(true, 0, artifact, 0, artifact.length())) {
            Matcher m = CONTAINER_API.matcher(path.substring(artifact.length()));
            if (m.matches() && method.equals("GET")) {
                return m.group(3) == null ? listing(decode(m.group(1)), decode(m.group(2)), params,
                        Set.of("path", "continuationToken")) : contentInfo(decode(m.group(1)), decode(m.group(2)), params);
            }
        }
        return Answer.error(404, "UserError", "No operation at " + method + " " + path + " in this workspace.", "NotFoundError");
    }

    /** The workspace's MLflow endpoint: the same request to the MLflow server behind it. */
    private Answer forward(String method, String apiPath, String query, Map<String, String> headers, byte[] body)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(mlflow.uri() + apiPath + (query == null ? "" : "?" + query)))
                .method(method, body.length == 0 ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        for (String name : List.of("authorization", "content-type")) {
            if (headers.containsKey(name)) {
                request.header(name, headers.get(name));
            }
        }
        HttpResponse<byte[]> response = proxy.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        return new Answer(response.statusCode(), response.headers().firstValue("Content-Type").orElse("application/json"),
                response.body(), Map.of());
    }

    /** Artifacts_GetContentInformation / RunArtifacts_GetContentInformation: the file's SAS link. */
    private synchronized Answer contentInfo(String origin, String container, Map<String, String> params) throws Exception {
        Answer invalid = onlyParameters(params, Set.of("path"));
        if (invalid != null) {
            return invalid;
        }
        String path = params.get("path");
        if (path == null || path.isEmpty()) {
            return Answer.error(400, "ValidationError", "The Artifact Path is required.", null);
        }
        String id = origin + "/" + container + "/" + path;
        if (!blobs.containsKey(id)) {
            return Answer.error(404, "UserError", "Cannot find Artifact with ID " + id + " in Partition "
                    + UUID.nameUUIDFromBytes(WORKSPACE.getBytes(StandardCharsets.UTF_8)) + ".", "NotFoundError");
        }
        ObjectNode info = JSON.createObjectNode().put("contentUri", sas(id)).put("origin", origin).put("container", container)
                .put("path", path);
        return Answer.json(info);
    }

    /** Artifacts_ListInContainer / RunArtifacts_ListInContainer: a page of the container's artifacts. */
    private synchronized Answer listing(String origin, String container, Map<String, String> params, Set<String> allowed) {
        Answer invalid = onlyParameters(params, allowed);
        if (invalid != null) {
            return invalid;
        }
        String prefix = origin + "/" + container + "/" + (params.containsKey("path") ? params.get("path") + "/" : "");
        List<String> paths = blobs.keySet().stream().filter(k -> k.startsWith(prefix))
                .map(k -> k.substring(origin.length() + container.length() + 2)).toList();
        int from = 0;
        if (params.containsKey("continuationToken")) {
            try {
                from = Integer.parseInt(new String(Base64.getDecoder().decode(params.get("continuationToken")),
                        StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                return Answer.error(400, "ValidationError", "The continuation token is not valid.", null);
            }
        }
        ObjectNode page = JSON.createObjectNode();
        ArrayNode value = page.putArray("value");
        for (String p : paths.subList(Math.min(from, paths.size()), Math.min(from + PAGE, paths.size()))) {
            value.addObject().put("artifactId", origin + "/" + container + "/" + p).put("origin", origin)
                    .put("container", container).put("path", p).put("etag", "\"" + UUID.nameUUIDFromBytes(blobs.get(
                            origin + "/" + container + "/" + p)) + "\"").put("createdTime", "2026-11-30T09:00:00.0000000+00:00");
        }
        if (from + PAGE < paths.size()) {
            String next = Base64.getEncoder().encodeToString(Integer.toString(from + PAGE).getBytes(StandardCharsets.UTF_8));
            page.put("continuationToken", next);
            page.put("nextLink", trackingUri().resolve("/").toString() + "?continuationToken=" + encode(next));
        } else {
            page.putNull("continuationToken");
            page.putNull("nextLink");
        }
        return Answer.json(page);
    }

    private static Answer onlyParameters(Map<String, String> params, Set<String> allowed) {
        for (String name : params.keySet()) {
            if (!allowed.contains(name)) {
                return Answer.error(400, "ValidationError", "The query parameter '" + name + "' is not defined for this "
                        + "operation.", null);
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- storage

    /** A read-only service SAS for the blob of artifact {@code id}, valid for an hour. */
    private String sas(String id) throws GeneralSecurityException {
        Instant start = Instant.now().minusSeconds(300).truncatedTo(ChronoUnit.SECONDS);
        Instant expiry = start.plus(Duration.ofHours(1));
        String blob = "/" + BLOB_CONTAINER + "/" + id;
        return "http://" + storageHost + ":" + storage.getAddress().getPort() + encodePath(blob) + "?sv=2021-08-06&st="
                + encode(start.toString()) + "&se=" + encode(expiry.toString()) + "&sr=b&sp=r&sig="
                + encode(signature("r", start.toString(), expiry.toString(), blob));
    }

    private String signature(String permissions, String start, String expiry, String blob) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(accountKey, "HmacSHA256"));
        return Base64.getEncoder().encodeToString(mac.doFinal((permissions + "\n" + start + "\n" + expiry + "\n" + blob)
                .getBytes(StandardCharsets.UTF_8)));
    }

    private Answer storageRoute(String method, String path, String query, Map<String, String> headers, byte[] body)
            throws Exception {
        Map<String, String> sas = query(query);
        String blob = URLDecoder.decode(path, StandardCharsets.UTF_8);
        boolean signed = sas.containsKey("sig") && "r".equals(sas.get("sp")) && "b".equals(sas.get("sr"))
                && sas.containsKey("st") && sas.containsKey("se")
                && signature("r", sas.get("st"), sas.get("se"), blob).equals(sas.get("sig"));
        synchronized (this) {
            boolean refused = refuseSas > 0 && blob.endsWith(refuseSuffix);
            refuseSas = refused ? refuseSas - 1 : refuseSas;
            if (!method.equals("GET") || !signed || Instant.parse(sas.get("se")).isBefore(Instant.now()) || refused) {
                return Answer.storageError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make "
                        + "sure the value of Authorization header is formed correctly including the signature.");
            }
            byte[] content = blob.startsWith("/" + BLOB_CONTAINER + "/") ? blobs.get(blob.substring(BLOB_CONTAINER.length() + 2))
                    : null;
            if (content == null) {
                return Answer.storageError(404, "BlobNotFound", "The specified blob does not exist.");
            }
            return new Answer(200, "application/octet-stream", content, Map.of("x-ms-blob-type", "BlockBlob",
                    "x-ms-version", "2021-08-06"));
        }
    }

    // ---------------------------------------------------------------- helpers

    private static Map<String, String> query(String raw) {
        Map<String, String> out = new LinkedHashMap<>();
        if (raw != null && !raw.isEmpty()) {
            for (String pair : raw.split("&")) {
                int eq = pair.indexOf('=');
                out.put(decode(eq < 0 ? pair : pair.substring(0, eq)), eq < 0 ? "" : decode(pair.substring(eq + 1)));
            }
        }
        return out;
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String encodePath(String path) {
        StringBuilder out = new StringBuilder();
        for (String segment : path.substring(1).split("/", -1)) {
            out.append('/').append(encode(segment));
        }
        return out.toString();
    }
}
