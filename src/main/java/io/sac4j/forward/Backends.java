package io.sac4j.forward;

import io.sac4j.SacException;
import io.sac4j.forward.cpu.CpuBackend;

import java.lang.reflect.InvocationTargetException;

/**
 * The one place that picks a {@link Backend}. The CUDA backend is reached by reflection, so the CPU path never
 * loads a CUDA or JavaCPP class.
 */
public final class Backends {
    private static final String CUDA_CLASS = "io.sac4j.forward.cuda.CudaBackend";
    private static final String UNAVAILABLE = "CUDA unavailable: ";

    private Backends() {
    }

    /**
     * @param device  "cpu"; "cuda" (fails with "CUDA unavailable: reason" when it cannot be used); or "auto": CUDA
     *                when usable, else the CPU with the one-line note "CUDA unavailable: reason; using cpu" on stderr
     * @param threads CPU threads (the CPU backend's pool)
     */
    public static Backend create(String device, int threads) {
        return create(device, threads, System.err::println);
    }

    /** As {@link #create(String, int)}, with the fallback note sent to {@code note} (e.g. nowhere under --quiet). */
    public static Backend create(String device, int threads, java.util.function.Consumer<String> note) {
        if (threads <= 0) throw new SacException("threads", "must be positive, got " + threads);
        return switch (device) {
            case "cpu" -> new CpuBackend(threads);
            case "cuda" -> cuda();
            case "auto" -> {
                try {
                    yield cuda();
                } catch (SacException e) {
                    if (!e.getMessage().startsWith(UNAVAILABLE)) throw e;
                    note.accept(e.getMessage() + "; using cpu");
                    yield new CpuBackend(threads);
                }
            }
            default -> throw new SacException("device", "unknown device '" + device + "' (expected auto, cpu or cuda)");
        };
    }

    private static Backend cuda() {
        try {
            return (Backend) Class.forName(CUDA_CLASS).getMethod("open").invoke(null);
        } catch (InvocationTargetException e) {
            Throwable t = e.getCause();
            if (t instanceof SacException s) throw s;
            throw new SacException(null, UNAVAILABLE + t, t);
        } catch (ReflectiveOperationException | LinkageError e) {
            // a jar without the CUDA classes, or without the JavaCPP presets on the class path
            String what = String.valueOf(e.getMessage()).contains("org/bytedeco")
                    ? "the JavaCPP CUDA presets (org.bytedeco:cuda) are not on the class path"
                    : "the CUDA backend is not on the class path";
            throw new SacException(null, UNAVAILABLE + what + " (" + e + ")", e);
        }
    }
}
