package io.modelrefinery.host.ort;

import io.modelrefinery.api.infer.Device;

/**
 * The device a job runs on, and why when it is not the one asked for.
 *
 * @param device the device used
 * @param note why {@code auto} fell back to CPU; {@code null} otherwise
 */
public record DeviceChoice(Device device, String note) {
}
