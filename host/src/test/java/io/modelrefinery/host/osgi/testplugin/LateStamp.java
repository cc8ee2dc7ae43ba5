package io.modelrefinery.host.osgi.testplugin;

import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;

/** Used by {@link VersionedTransform} only at the end of a job, to prove late class loading works. */
final class LateStamp {
    private final String version;

    LateStamp(String version) {
        this.version = version;
    }

    StringStringEntryProto entry() {
        return StringStringEntryProto.newBuilder().setKey("served-by").setValue(version).build();
    }
}
