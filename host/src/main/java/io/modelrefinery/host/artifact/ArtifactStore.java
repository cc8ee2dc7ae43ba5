package io.modelrefinery.host.artifact;

import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.files.Folders;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A local, content-addressed, write-once store for job outputs. A file lives at
 * {@code root/sha256/<first 2 hex digits>/<sha256>.<extension>}: its name is its digest, so the same
 * content is stored once whoever puts it, a stored file never changes, and a URI handed out stays valid.
 *
 * <p>Writes are atomic: the copy goes to a hidden temporary file in the target's folder, is flushed,
 * checked against the digest and then published without replacing anything (a hard link, or a move that
 * refuses an existing target where links are not supported). A file already there is left untouched
 * (same content, by construction), so concurrent puts of the same content are safe and readers never
 * see a partial file.
 *
 * <p>An ONNX model with external data (a side file {@code <model file name>.data} next to it, as
 * {@code OnnxModel.save} writes it) is two files that only work together, and the .onnx file names its
 * side file inside it; see {@link #putModel}.
 *
 * <p>Thread-safe, and safe across processes sharing the root.
 */
public final class ArtifactStore {
    private static final Logger LOG = LoggerFactory.getLogger(ArtifactStore.class);

    /** The file name a model with external data gets inside its folder. */
    public static final String MODEL_FILE = "model.onnx";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern EXTENSION = Pattern.compile("[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*");

    private final Path root;

    public ArtifactStore(Path root) {
        this.root = Objects.requireNonNull(root, "root").toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    /**
     * Deletes temporary files and folders that writers left behind when they were killed mid-write: the
     * hidden {@code .<name>.tmp-<uuid>} entries not modified for {@code olderThan} (a live writer keeps
     * touching its file; another process sharing the root may be writing one right now).
     *
     * @return how many were deleted
     */
    public int removeAbandonedTemporaries(Duration olderThan) throws IOException {
        if (!Files.isDirectory(root)) {
            return 0;
        }
        Instant cutoff = Instant.now().minus(olderThan);
        List<Path> abandoned;
        try (Stream<Path> all = Files.walk(root)) {
            abandoned = all.filter(p -> p.getFileName().toString().startsWith(".")
                            && p.getFileName().toString().contains(".tmp-"))
                    .filter(p -> {
                        try {
                            return Files.getLastModifiedTime(p).toInstant().isBefore(cutoff);
                        } catch (IOException e) {
                            return false; // gone already
                        }
                    }).toList();
        }
        for (Path p : abandoned) {
            Folders.deleteQuietly(p);
        }
        if (!abandoned.isEmpty()) {
            LOG.info("removed {} temporary files left in the artifact store by interrupted writes", abandoned.size());
        }
        return abandoned.size();
    }

    /**
     * Stores a copy of {@code file} under its SHA-256 with {@code extension} (such as {@code onnx}, without
     * the dot). When the same content is stored already, nothing is written and the stored file is returned.
     *
     * @throws IllegalArgumentException the extension is not letters and digits, optionally separated by
     *     single {@code .}, {@code -} or {@code _}
     * @throws IOException {@code file} cannot be read, changed while being copied, or the store cannot be written
     */
    public StoredArtifact put(Path file, String extension) throws IOException {
        checkExtension(extension);
        String sha256 = ArtifactMeasurer.sha256(file);
        Path target = fileFor(sha256, extension);
        if (Files.exists(target)) {
            LOG.debug("{} is stored already as {}", file, target);
            return stored(sha256, Files.size(target), target);
        }
        Path temp = AtomicFiles.createTemp(target);
        try {
            copyChecked(file, sha256, temp);
            if (publishOnce(temp, target)) {
                LOG.debug("Stored {} as {}", file, target);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
        return stored(sha256, Files.size(target), target);
    }

    /**
     * Stores an ONNX model. Without a side file {@code <onnxFile name>.data} next to it this is
     * {@code put(onnxFile, "onnx")}. With one, both go into a folder
     * {@code root/sha256/<first 2>/<sha256>/}: the model as {@value #MODEL_FILE}, the side file under its
     * own name, because that is the name the .onnx file refers to (renaming it would break the model).
     * The folder is built under a temporary name and renamed into place, so it appears whole or not at all.
     *
     * <p>The .onnx file of such a model holds only offsets into the side file, so its digest alone does
     * not identify the weights (two fine-tunings of one architecture can share it). The address of the
     * pair is therefore the SHA-256 of the text {@code "<sha256 of .onnx>\n<sha256 of .data>\n"}, and
     * {@link StoredArtifact#bytes()} counts both files.
     */
    public StoredArtifact putModel(Path onnxFile) throws IOException {
        Path side = onnxFile.resolveSibling(onnxFile.getFileName() + ".data");
        if (!Files.isRegularFile(side)) {
            return put(onnxFile, "onnx");
        }
        String modelSha = ArtifactMeasurer.sha256(onnxFile);
        String sideSha = ArtifactMeasurer.sha256(side);
        String sha256 = pairDigest(modelSha, sideSha);
        Path folder = folderFor(sha256);
        Path model = folder.resolve(MODEL_FILE);
        if (!Files.isDirectory(folder)) {
            Path temp = folder.resolveSibling("." + sha256 + ".tmp-" + UUID.randomUUID());
            Files.createDirectories(temp);
            try {
                copyChecked(onnxFile, modelSha, temp.resolve(MODEL_FILE));
                copyChecked(side, sideSha, temp.resolve(side.getFileName().toString()));
                publishFolderOnce(temp, folder);
            } finally {
                Folders.deleteQuietly(temp);
            }
        }
        return stored(sha256, folderBytes(folder), model);
    }

    private static long folderBytes(Path folder) throws IOException {
        long bytes = 0;
        try (Stream<Path> files = Files.list(folder)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                bytes += Files.size(f);
            }
        }
        return bytes;
    }

    /** The stored file with this digest and extension, if there is one. */
    public Optional<Path> find(String sha256, String extension) {
        checkExtension(extension);
        Path file = fileFor(checkSha256(sha256), extension);
        return Files.isRegularFile(file) ? Optional.of(file) : Optional.empty();
    }

    /**
     * The stored model with this digest: the {@value #MODEL_FILE} of a model stored with external data, or
     * the {@code .onnx} file of one without.
     */
    public Optional<Path> findModel(String sha256) {
        Path model = folderFor(checkSha256(sha256)).resolve(MODEL_FILE);
        return Files.isRegularFile(model) ? Optional.of(model) : find(sha256, "onnx");
    }

    private Path folderFor(String sha256) {
        return root.resolve("sha256").resolve(sha256.substring(0, 2)).resolve(sha256);
    }

    private Path fileFor(String sha256, String extension) {
        return root.resolve("sha256").resolve(sha256.substring(0, 2)).resolve(sha256 + "." + extension);
    }

    private static StoredArtifact stored(String sha256, long bytes, Path path) {
        return new StoredArtifact(path.toUri(), sha256, bytes, path);
    }

    /** Copies {@code source} to {@code target}, flushed, and fails if the copy is not the expected content. */
    private static void copyChecked(Path source, String sha256, Path target) throws IOException {
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel channel = FileChannel.open(target, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        if (!ArtifactMeasurer.sha256(target).equals(sha256)) {
            throw new IOException(source + " changed while it was being stored");
        }
    }

    /**
     * Gives the complete, flushed {@code temp} the name {@code target} unless {@code target} exists, and
     * then leaves it alone. {@link AtomicFiles#commit} replaces; this must not (write-once). A hard link
     * is atomic and fails on an existing name; where links are not supported, a move without
     * REPLACE_EXISTING checks first (a race then replaces the file with the same content).
     *
     * @return whether this call created {@code target}
     */
    private static boolean publishOnce(Path temp, Path target) throws IOException {
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        try {
            Files.createLink(target, temp);
            return true;
        } catch (FileAlreadyExistsException e) {
            return false;
        } catch (NoSuchFileException | AccessDeniedException e) {
            throw e;
        } catch (UnsupportedOperationException | FileSystemException e) {
            LOG.debug("No hard link for {} ({}); moving instead", target, e.toString());
        }
        try {
            Files.move(temp, target);
            return true;
        } catch (FileAlreadyExistsException e) {
            return false;
        }
    }

    /** Renames the complete folder {@code temp} to {@code folder} unless another put got there first. */
    private static void publishFolderOnce(Path temp, Path folder) throws IOException {
        try {
            Files.move(temp, folder, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + temp + " to " + folder + " atomically", e);
        } catch (FileSystemException e) {
            // A folder that is there already (non-empty: they are only ever published complete) is the same model.
            if (!Files.isRegularFile(folder.resolve(MODEL_FILE))) {
                throw e;
            }
        }
    }

    private static String pairDigest(String modelSha, String sideSha) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] text = (modelSha + "\n" + sideSha + "\n").getBytes(StandardCharsets.US_ASCII);
            return HexFormat.of().formatHex(digest.digest(text));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    private static void checkExtension(String extension) {
        Objects.requireNonNull(extension, "extension");
        if (!EXTENSION.matcher(extension).matches() || extension.length() > 32) {
            throw new IllegalArgumentException("extension '" + extension
                    + "' must be letters and digits, optionally separated by single '.', '-' or '_'");
        }
    }

    private static String checkSha256(String sha256) {
        String sha = Objects.requireNonNull(sha256, "sha256").toLowerCase(Locale.ROOT);
        if (!SHA256.matcher(sha).matches()) {
            throw new IllegalArgumentException("sha256 '" + sha256 + "' is not 64 hexadecimal digits");
        }
        return sha;
    }
}
