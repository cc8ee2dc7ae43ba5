package io.modelrefinery.host.event;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;

/**
 * Azure Event Grid's webhook deliveries, received directly over HTTP ({@code POST /webhooks/eventgrid}).
 *
 * <p>Event Grid signs nothing; a subscription proves it is the operator's by a secret in the endpoint URL
 * (the {@code key} query parameter), which Event Grid sends with every request, the validation handshakes
 * included. Before the first delivery Event Grid checks that the endpoint wants its events:
 * <ul>
 *   <li>Event Grid schema: a {@code Microsoft.EventGrid.SubscriptionValidationEvent} whose
 *       {@code data.validationCode} the endpoint echoes as {@code {"validationResponse": ...}};</li>
 *   <li>CloudEvents schema: the CloudEvents webhook spec's abuse protection, an {@code OPTIONS} request
 *       with {@code WebHook-Request-Origin} that the endpoint answers with {@code WebHook-Allowed-Origin}.</li>
 * </ul>
 * Deliveries are a JSON array (Event Grid schema, CloudEvents batch) or one CloudEvent; each element is
 * its own registration, read like the same event from Kafka ({@link CloudEventCodec#decodeAll}).
 */
public final class EventGridWebhook {
    /** The query parameter the secret travels in. */
    public static final String KEY_PARAMETER = "key";
    public static final String VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent";
    public static final String REQUEST_ORIGIN_HEADER = "WebHook-Request-Origin";
    public static final String ALLOWED_ORIGIN_HEADER = "WebHook-Allowed-Origin";
    public static final String ALLOWED_RATE_HEADER = "WebHook-Allowed-Rate";

    private final byte[] key;

    /** An endpoint that accepts requests carrying {@code key}. */
    public EventGridWebhook(String key) {
        if (key == null || key.isBlank()) {
            throw new IllegalArgumentException("an Event Grid webhook needs a key");
        }
        this.key = key.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Checks the key a request carries, in constant time.
     *
     * @throws WebhookRejectedException when it is missing or wrong
     */
    public void verify(String given) {
        if (given == null || given.isEmpty()) {
            throw new WebhookRejectedException("missing '" + KEY_PARAMETER + "' query parameter");
        }
        if (!MessageDigest.isEqual(key, given.getBytes(StandardCharsets.UTF_8))) {
            throw new WebhookRejectedException("wrong '" + KEY_PARAMETER + "' query parameter");
        }
    }

    /**
     * The validation code of a delivery that is Event Grid's subscription validation, or empty for an
     * ordinary delivery. Event Grid sends the validation event alone.
     *
     * @throws MalformedEventException when it is a validation event without a code
     */
    public static Optional<String> validationCode(List<CloudEventCodec.Decoded> delivery) {
        if (delivery.size() != 1 || delivery.get(0).event() == null
                || !VALIDATION_EVENT.equals(delivery.get(0).event().type())) {
            return Optional.empty();
        }
        String code = delivery.get(0).event().data().path("validationCode").asText("");
        if (code.isEmpty()) {
            throw new MalformedEventException(VALIDATION_EVENT + " has no data.validationCode");
        }
        return Optional.of(code);
    }
}
