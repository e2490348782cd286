namespace DebertaSharp;

/// <summary>What this process's CPU offers for bfloat16 compute, as <c>/proc/cpuinfo</c> lists it.</summary>
internal static class CpuFeatures
{
    /// <summary>Said once (by the loader, the trainer and the commands given <c>--dtype bfloat16</c>) on a CPU without bf16 instructions.</summary>
    public const string Bf16EmulatedNotice =
        "this CPU has neither avx512_bf16 nor amx_bf16: LibTorch runs bfloat16 products without bf16 instructions, many times slower than float32 (running anyway)";

    private static readonly Lazy<bool> s_hasBf16 = new(() => HasBf16Flags(ReadFlagsLine()));

    /// <summary>Whether the CPU has avx512_bf16 or amx_bf16 (false where <c>/proc/cpuinfo</c> cannot be read).</summary>
    public static bool HasBf16 => s_hasBf16.Value;

    /// <summary>Whether a <c>/proc/cpuinfo</c> <c>flags</c> line names avx512_bf16 or amx_bf16 (whole words).</summary>
    internal static bool HasBf16Flags(string? flagsLine)
    {
        if (flagsLine is null) return false;
        int colon = flagsLine.IndexOf(':', StringComparison.Ordinal);
        foreach (string flag in flagsLine[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (flag is "avx512_bf16" or "amx_bf16") return true;
        return false;
    }

    private static string? ReadFlagsLine()
    {
        try
        {
            return File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
