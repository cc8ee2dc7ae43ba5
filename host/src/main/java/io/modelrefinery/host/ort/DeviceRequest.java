package io.modelrefinery.host.ort;

/** The device a user asks for: {@code --device cpu|cuda|auto}. */
public enum DeviceRequest {
    /** ONNX Runtime's CPU provider. */
    CPU,
    /** The CUDA provider; an error if it cannot run here. */
    CUDA,
    /** CUDA when it runs here, otherwise CPU, with the reason recorded. */
    AUTO
}
