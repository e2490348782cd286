using System.Globalization;

namespace DebertaSharp.Benchmarks;

/// <summary>Helpers shared by the benchmarks: process peak resident memory, medians, CPU flags.</summary>
internal static class BenchSupport
{
    /// <summary>The CPU flags that decide which LibTorch/oneDNN kernels run, in this order.</summary>
    private static readonly string[] SpeedFlags = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"];

    /// <summary>Resets the process's peak resident memory (VmHWM) to its current value, where the kernel allows it.</summary>
    public static void ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The process's minor page faults so far (field 10 of /proc/self/stat); 0 where it is not readable.</summary>
    public static long MinorFaults()
    {
        try
        {
            string stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[7], CultureInfo.InvariantCulture);   // minflt is field 10; fields[0] is field 3
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }

    /// <summary>The process's peak resident memory (VmHWM) in MiB; the current working set where /proc is not readable.</summary>
    public static double PeakRssMb()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.WorkingSet / (1024.0 * 1024.0);
    }

    /// <summary>The median (the mean of the two middle values for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(x => x).ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }

    /// <summary>
    /// Applies <see cref="MklCpuDispatch.UseFeatureBasedKernels"/> as the deberta CLI does (before any matrix product)
    /// and returns the header comment saying what it found: <c># oneMKL vendor check: applied (vendor AuthenticAMD)</c>.
    /// </summary>
    public static string MklDispatchLine()
    {
        MklCpuDispatch.UseFeatureBasedKernels();
        return "# oneMKL vendor check: " + MklCpuDispatch.Status;
    }

    /// <summary>
    /// <c>cpu_flags avx2 avx512f ...</c>: which of avx2, avx512f, avx512_bf16 and amx_bf16 the first processor in
    /// /proc/cpuinfo reports (<c>none</c> when it reports none of them, <c>unknown</c> when the file cannot be read).
    /// </summary>
    public static string CpuFlagsLine()
    {
        if (CpuFeatures.Flags is not { } flags) return "cpu_flags unknown";
        var present = SpeedFlags.Where(flags.Contains).ToArray();
        return "cpu_flags " + (present.Length > 0 ? string.Join(' ', present) : "none");
    }
}
