/**
 * Datasets as pull readers: {@link io.modelrefinery.api.data.Datasets#open} reads NumPy {@code .npz} and
 * {@code .npy} files; a {@link io.modelrefinery.api.data.DatasetReader} returns batches until the data is
 * exhausted, so memory does not grow with the number of samples.
 */
@Export
@Version("1.2.0")
package io.modelrefinery.api.data;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
