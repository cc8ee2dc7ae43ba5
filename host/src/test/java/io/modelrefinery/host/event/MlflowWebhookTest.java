package io.modelrefinery.host.event;

import io.modelrefinery.api.event.EventTypes;
import org.junit.jupiter.api.Test;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MlflowWebhookTest {
    private static final String SECRET = "s3cret";
    private static final Instant NOW = Instant.parse("2026-11-23T12:00:00Z");
    private static final byte[] BODY = ("{\"entity\":\"model_version\",\"action\":\"created\","
            + "\"timestamp\":\"2026-11-23T12:00:00+00:00\",\"data\":{\"name\":\"m\",\"version\":\"3\","
            + "\"source\":\"file:///inbox/m.onnx\",\"run_id\":\"r\",\"tags\":{},\"description\":null}}")
            .getBytes(StandardCharsets.UTF_8);

    /** The signature as MLflow computes it: HMAC-SHA256 over "id.timestamp.body", base64, prefixed "v1,". */
    static String mlflowSignature(String secret, String id, String timestamp, byte[] body) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String content = id + "." + timestamp + "." + new String(body, StandardCharsets.UTF_8);
        return "v1," + Base64.getEncoder().encodeToString(mac.doFinal(content.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void acceptsDeliveriesSignedWithTheSecret() throws Exception {
        String ts = Long.toString(NOW.getEpochSecond() - 30);
        String signature = mlflowSignature(SECRET, "d-1", ts, BODY);

        assertDoesNotThrow(() -> new MlflowWebhook(SECRET).verify("d-1", ts, signature, BODY, NOW));
    }

    @Test
    void refusesWrongSignaturesStaleDeliveriesAndMissingHeaders() throws Exception {
        String ts = Long.toString(NOW.getEpochSecond());
        MlflowWebhook webhook = new MlflowWebhook(SECRET);
        String forged = mlflowSignature("other", "d-1", ts, BODY);
        String old = Long.toString(NOW.getEpochSecond() - 3600);
        String oldSigned = mlflowSignature(SECRET, "d-1", old, BODY);
        byte[] tampered = new String(BODY, StandardCharsets.UTF_8).replace("\"3\"", "\"4\"").getBytes(StandardCharsets.UTF_8);
        String signature = mlflowSignature(SECRET, "d-1", ts, BODY);

        assertEquals("X-MLflow-Signature does not match the body", assertThrows(WebhookRejectedException.class,
                () -> webhook.verify("d-1", ts, forged, BODY, NOW)).getMessage());
        assertEquals("X-MLflow-Signature does not match the body", assertThrows(WebhookRejectedException.class,
                () -> webhook.verify("d-1", ts, signature, tampered, NOW)).getMessage());
        assertEquals("X-MLflow-Timestamp is more than 5 minutes from now", assertThrows(WebhookRejectedException.class,
                () -> webhook.verify("d-1", old, oldSigned, BODY, NOW)).getMessage());
        assertEquals("missing X-MLflow-Signature header", assertThrows(WebhookRejectedException.class,
                () -> webhook.verify("d-1", ts, null, BODY, NOW)).getMessage());
    }

    @Test
    void turnsTheDeliveryIntoARegistration() {
        CloudEvent event = MlflowWebhook.toCloudEvent("d-1", BODY);

        assertEquals(EventTypes.MLFLOW_MODEL_VERSION_CREATED, event.type());
        assertEquals("d-1", event.id());
        assertEquals("file:///inbox/m.onnx", RegistryAdapters.toRegistered(event).uri());
        assertEquals("MLflow event 'registered_model.created' is not handled; subscribe the webhook to "
                + "model_version.created", assertThrows(MalformedEventException.class, () -> MlflowWebhook.toCloudEvent(
                        "d-2", "{\"entity\":\"registered_model\",\"action\":\"created\",\"data\":{}}"
                                .getBytes(StandardCharsets.UTF_8))).getMessage());
    }
}
