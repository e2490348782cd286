using System.Runtime.InteropServices;
using TorchSharp;

namespace DebertaSharp.Tests.Modeling;

/// <summary>
/// <see cref="MklCpuDispatch"/>: applied by the test process at start-up (<see cref="TestProcessSetup"/>) as by the CLI.
/// Its effect on speed is measured by <c>bench forward</c> (AMD EPYC Zen 5, 2026-12-02: a 1024x768x768 fp32 product
/// 87 -> 372 GFLOP/s; the 1x128 forward ratio to ONNX Runtime 1.95 -> 0.83).
/// </summary>
public class MklCpuDispatchTests
{
    private static string? CpuInfoVendor()
    {
        if (!File.Exists("/proc/cpuinfo")) return null;
        foreach (string line in File.ReadLines("/proc/cpuinfo"))
            if (line.StartsWith("vendor_id", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        return null;
    }

    private static bool Handled => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64
        && !string.Equals(Environment.GetEnvironmentVariable(MklCpuDispatch.EnvironmentVariable), "keep", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public void Applied_At_Start_Up_Exactly_When_The_Cpu_Is_Not_Intel()
    {
        bool applied = MklCpuDispatch.UseFeatureBasedKernels();
        Assert.Equal(applied, MklCpuDispatch.UseFeatureBasedKernels());
        if (!Handled)
        {
            Assert.False(applied);
            return;
        }
        if (CpuInfoVendor() == "GenuineIntel")
        {
            Assert.False(applied);
            Assert.Equal("not needed (GenuineIntel)", MklCpuDispatch.Status);
        }
        else
        {
            Assert.True(applied, MklCpuDispatch.Status);
            Assert.Equal($"applied (vendor {CpuInfoVendor()})", MklCpuDispatch.Status);
            // The slot now leads to the six-byte function returning 1 (mov eax, 1; ret).
            var code = new byte[6];
            Marshal.Copy(Marshal.ReadIntPtr(MklCpuDispatch.PatchedSlot), code, 0, 6);
            Assert.Equal(new byte[] { 0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3 }, code);
        }
    }

    [Fact]
    public void Finds_The_Plt_Slot_Readelf_Reports()
    {
        if (!Handled) return;
        _ = torch.get_num_threads();   // LibTorch loaded (on Intel the start-up call returns before loading it)
        string? path = MklCpuDispatch.LoadedTorchCpuPath();
        Assert.NotNull(path);
        var (value, slot) = MklCpuDispatch.FindPltSlot(path, "mkl_serv_intel_cpu_true");
        // libtorch-cpu-linux-x64 2.10.0 (TorchSharp-cpu 0.107.0), `readelf -W -r libtorch_cpu.so`:
        //   0000000015721b38  000147d800000007 R_X86_64_JUMP_SLOT  000000000bdc5670 mkl_serv_intel_cpu_true + 0
        Assert.Equal(0x15721b38UL, slot);
        Assert.Equal(0xbdc5670UL, value);
        Assert.Null(MklCpuDispatch.FindPltSlot(path, "no_such_symbol_anywhere").SlotOffset);
    }

    [Fact]
    public void Fp32_Products_Equal_A_Double_Precision_Reference()
    {
        // Whatever kernels oneMKL chose on this CPU, they compute the product: compared with a C# float64 loop.
        const int m = 48, k = 768, n = 320;
        var rng = new Random(7);
        float[] a = [.. Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        float[] w = [.. Enumerable.Range(0, n * k).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        using var scope = torch.NewDisposeScope();
        var product = torch.nn.functional.linear(torch.tensor(a, [m, k]), torch.tensor(w, [n, k])).data<float>().ToArray();
        double worst = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int t = 0; t < k; t++) sum += (double)a[i * k + t] * w[j * k + t];
                worst = Math.Max(worst, Math.Abs(sum - product[i * n + j]));
            }
        Assert.True(worst < 1e-4, $"max abs difference {worst}");
    }

    [Fact]
    public void A_File_That_Is_Not_An_Elf_Library_Is_Named()
    {
        using var dir = TestPaths.TempDir();
        string text = Path.Combine(dir.Path, "libtorch_cpu.so");
        File.WriteAllText(text, "not an ELF file at all, but long enough to hold an ELF header's sixty-four bytes of fields");
        var e = Assert.Throws<InvalidDataException>(() => MklCpuDispatch.FindPltSlot(text, "mkl_serv_intel_cpu_true"));
        Assert.Contains(text, e.Message);

        // A real ELF header whose section header table lies beyond the end of the file.
        if (!Handled) return;
        _ = TorchSharp.torch.get_num_threads();
        string? torch = MklCpuDispatch.LoadedTorchCpuPath();
        Assert.NotNull(torch);
        string cut = Path.Combine(dir.Path, "cut.so");
        var head = new byte[4096];
        using (var f = File.OpenRead(torch)) f.ReadExactly(head);
        File.WriteAllBytes(cut, head);
        e = Assert.Throws<InvalidDataException>(() => MklCpuDispatch.FindPltSlot(cut, "mkl_serv_intel_cpu_true"));
        Assert.Contains("section header table", e.Message);
        Assert.Contains(cut, e.Message);

        File.WriteAllBytes(cut, head[..20]);
        e = Assert.Throws<InvalidDataException>(() => MklCpuDispatch.FindPltSlot(cut, "mkl_serv_intel_cpu_true"));
        Assert.Contains(cut, e.Message);
    }
}
