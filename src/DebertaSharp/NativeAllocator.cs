using System.Runtime.InteropServices;

namespace DebertaSharp;

/// <summary>
/// Process-wide tuning of the C allocator that LibTorch's CPU tensors come from.
/// </summary>
/// <remarks>
/// glibc serves allocations above its mmap threshold with a fresh <c>mmap</c> and gives freed heap tops back to the
/// system, so each forward pass faults in and zeroes its large activations again: a deberta-base forward at 32x128 took
/// about 530,000 minor page faults (2 GB of pages) each time, ONNX Runtime, whose arena keeps its buffers, about 13,000.
/// <see cref="RetainFreedMemory"/> makes glibc serve them from its heap and keep what is freed for the next forward (the
/// resident size then stays at its peak between calls instead of falling, which is what a long-running process wants).
/// It acts on glibc's main arena, which the process's main thread uses; threads with their own arenas (glibc creates
/// them for concurrent allocators) are unaffected unless the process starts with <c>MALLOC_ARENA_MAX=1</c>.
/// The CLI calls it; a library user opts in.
/// </remarks>
public static partial class NativeAllocator
{
    private const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_MAX = -4;
    private static int s_applied;

    /// <summary>
    /// On Linux with glibc: no <c>mmap</c> for large allocations (<c>M_MMAP_MAX</c> 0) and no trimming of the heap top
    /// (<c>M_TRIM_THRESHOLD</c> at its maximum, <c>M_TOP_PAD</c> 64 MiB), so that repeated forwards reuse their memory.
    /// Elsewhere, or with another C library, does nothing.
    /// </summary>
    /// <returns>True when the settings are in effect (applied now or by an earlier call).</returns>
    public static bool RetainFreedMemory()
    {
        if (Volatile.Read(ref s_applied) == 1) return true;
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            bool ok = (mallopt(M_MMAP_MAX, 0) == 1) & (mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1) & (mallopt(M_TOP_PAD, 64 << 20) == 1);
            if (ok) Volatile.Write(ref s_applied, 1);
            return ok;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // not glibc (musl has no mallopt): nothing to tune
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
