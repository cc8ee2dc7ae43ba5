package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.event.EventTypes;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;

/**
 * MLflow's model-registry webhooks, received directly over HTTP. MLflow signs each delivery:
 * {@code X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">}, with
 * {@code X-MLflow-Delivery-Id} and {@code X-MLflow-Timestamp} (Unix seconds) headers. A delivery is
 * accepted only with a valid signature and a timestamp within the tolerance, which stops replays.
 */
public final class MlflowWebhook {
    public static final String SIGNATURE_HEADER = "X-MLflow-Signature";
    public static final String TIMESTAMP_HEADER = "X-MLflow-Timestamp";
    public static final String DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id";
    /** How far a delivery's timestamp may be from now. */
    public static final Duration TOLERANCE = Duration.ofMinutes(5);

    private final byte[] secret;

    /** A webhook endpoint that accepts deliveries signed with {@code secret}. */
    public MlflowWebhook(String secret) {
        if (secret == null || secret.isEmpty()) {
            throw new IllegalArgumentException("an MLflow webhook needs a secret");
        }
        this.secret = secret.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Checks a delivery's signature and age.
     *
     * @throws WebhookRejectedException saying why it is refused
     */
    public void verify(String deliveryId, String timestamp, String signature, byte[] body, Instant now) {
        if (deliveryId == null || timestamp == null || signature == null) {
            throw new WebhookRejectedException("missing " + (deliveryId == null ? DELIVERY_ID_HEADER
                    : timestamp == null ? TIMESTAMP_HEADER : SIGNATURE_HEADER) + " header");
        }
        long seconds;
        try {
            seconds = Long.parseLong(timestamp.trim());
        } catch (NumberFormatException e) {
            throw new WebhookRejectedException(TIMESTAMP_HEADER + " is not a Unix time: '" + timestamp + "'");
        }
        if (Duration.between(Instant.ofEpochSecond(seconds), now).abs().compareTo(TOLERANCE) > 0) {
            throw new WebhookRejectedException(TIMESTAMP_HEADER + " is more than " + TOLERANCE.toMinutes()
                    + " minutes from now");
        }
        byte[] expected = sign(deliveryId, timestamp.trim(), body);
        for (String candidate : signature.split(" ")) {
            int comma = candidate.indexOf(',');
            if (comma > 0 && candidate.substring(0, comma).equals("v1")) {
                byte[] given;
                try {
                    given = Base64.getDecoder().decode(candidate.substring(comma + 1));
                } catch (IllegalArgumentException e) {
                    continue;
                }
                if (MessageDigest.isEqual(expected, given)) {
                    return;
                }
            }
        }
        throw new WebhookRejectedException(SIGNATURE_HEADER + " does not match the body");
    }

    /** The raw HMAC a delivery must carry. */
    byte[] sign(String deliveryId, String timestamp, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update((deliveryId + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8));
            return mac.doFinal(body);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("every Java runtime has HmacSHA256", e);
        }
    }

    /**
     * The delivery as a CloudEvent, for the same path as events from Kafka.
     *
     * @throws MalformedEventException if the body is not an MLflow webhook payload
     */
    public static CloudEvent toCloudEvent(String deliveryId, byte[] body) {
        JsonNode json = EventJson.parse(body, "webhook body");
        String entity = json.path("entity").asText("");
        String action = json.path("action").asText("");
        if (entity.isEmpty() || action.isEmpty() || !json.has("data")) {
            throw new MalformedEventException("webhook body has no 'entity', 'action' or 'data'");
        }
        String type = "org.mlflow." + entity + "." + action;
        if (!type.equals(EventTypes.MLFLOW_MODEL_VERSION_CREATED)) {
            throw new MalformedEventException("MLflow event '" + entity + "." + action
                    + "' is not handled; subscribe the webhook to model_version.created");
        }
        return new CloudEvent(deliveryId, "mlflow", type, json.path("timestamp").asText(null), null, json.get("data"));
    }
}
