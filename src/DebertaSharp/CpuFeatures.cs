namespace DebertaSharp;

/// <summary>What this process's CPU offers for bfloat16 compute, as <c>/proc/cpuinfo</c> lists it.</summary>
internal static class CpuFeatures
{
    /// <summary>Said once (by the loader, the trainer and the commands given <c>--dtype bfloat16</c>) on a CPU without bf16 instructions.</summary>
    public const string Bf16EmulatedNotice =
        "this CPU has neither avx512_bf16 nor amx_bf16: LibTorch runs bfloat16 products without bf16 instructions, many times slower than float32 (running anyway)";

    private static readonly Lazy<IReadOnlySet<string>?> s_flags = new(() => ParseFlags(ReadFlagsLine()));

    /// <summary>The first processor's flags in <c>/proc/cpuinfo</c>; null where that file cannot be read.</summary>
    public static IReadOnlySet<string>? Flags => s_flags.Value;

    /// <summary>Whether the CPU has avx512_bf16 or amx_bf16 (false where <c>/proc/cpuinfo</c> cannot be read).</summary>
    public static bool HasBf16 => Flags is { } f && HasBf16In(f);

    /// <summary>Whether a <c>/proc/cpuinfo</c> <c>flags</c> line names avx512_bf16 or amx_bf16 (whole words).</summary>
    internal static bool HasBf16Flags(string? flagsLine) => ParseFlags(flagsLine) is { } f && HasBf16In(f);

    private static bool HasBf16In(IReadOnlySet<string> flags) => flags.Contains("avx512_bf16") || flags.Contains("amx_bf16");

    /// <summary>The words after the colon of a <c>flags</c> line; null for no line.</summary>
    private static HashSet<string>? ParseFlags(string? flagsLine)
    {
        if (flagsLine is null) return null;
        int colon = flagsLine.IndexOf(':', StringComparison.Ordinal);
        return new HashSet<string>(flagsLine[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
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
