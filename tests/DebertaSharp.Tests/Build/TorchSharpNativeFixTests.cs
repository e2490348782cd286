using DebertaSharp.Build;
using TorchSharp;

namespace DebertaSharp.Tests.Build;

/// <summary>The build's fix that lets LibTorchSharp load on Debian 12 (build/TorchSharpNativeFix.targets).</summary>
public class TorchSharpNativeFixTests
{
    private static string LoadedLibrary =>
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void TorchInitialisesAndComputes()
    {
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = a.matmul(a.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, b.data<float>().ToArray());
    }

    [Fact]
    public void LoadedCopyHasNoUnsatisfiedStrongGlibcxxNeed()
    {
        Assert.True(OperatingSystem.IsLinux());
        Assert.True(File.Exists(LoadedLibrary), LoadedLibrary);
        var available = ElfVersionNeedPatcher.SystemGlibcxxVersions();
        Assert.NotNull(available);
        var needs = ElfVersionNeedPatcher.ReadVersionNeeds(LoadedLibrary);
        Assert.Contains(needs, n => n.Version == "GLIBCXX_3.4.32");
        foreach (var n in needs.Where(n => n.File.StartsWith("libstdc++", StringComparison.Ordinal)))
            Assert.True(available!.Contains(n.Version) || n.Weak, $"{n.Version} is neither provided by the system nor weak");
    }

    /// <summary>TorchSharp's own libLibTorchSharp.so in the NuGet cache, which the build copies and never changes.</summary>
    internal static string NuGetCacheLibrary => Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
        "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void NuGetCacheCopyIsUnpatched()
    {
        // The restore that built this test put TorchSharp there; the fix must have left it as published (a strong need).
        Assert.True(File.Exists(NuGetCacheLibrary), $"TorchSharp's native library is not in the NuGet cache: {NuGetCacheLibrary}");
        Assert.False(ElfVersionNeedPatcher.ReadVersionNeeds(NuGetCacheLibrary).Single(n => n.Version == "GLIBCXX_3.4.32").Weak);
    }

    [Fact]
    public void PatchIsIdempotentAndOnlyTouchesMissingVersions()
    {
        string dir = Directory.CreateTempSubdirectory("elfpatch").FullName;
        try
        {
            string copy = Path.Combine(dir, "lib.so");
            string original = NuGetCacheLibrary;
            Assert.True(File.Exists(original), $"TorchSharp's native library is not in the NuGet cache: {original}");
            File.Copy(original, copy);
            // Pretend the system has everything but 3.4.32: exactly that need becomes weak, others stay strong.
            var strong = ElfVersionNeedPatcher.ReadVersionNeeds(copy).Where(n => !n.Weak).Select(n => n.Version).ToHashSet();
            Assert.Contains("GLIBCXX_3.4.32", strong);
            strong.Remove("GLIBCXX_3.4.32");
            byte[] unpatched = File.ReadAllBytes(copy);
            Assert.Equal(ElfPatchResult.Patched, ElfVersionNeedPatcher.Patch(copy, strong));
            var after = ElfVersionNeedPatcher.ReadVersionNeeds(copy);
            Assert.True(after.Single(n => n.Version == "GLIBCXX_3.4.32").Weak);
            Assert.All(after.Where(n => n.Version != "GLIBCXX_3.4.32" && strong.Contains(n.Version)), n => Assert.False(n.Weak, n.Version));
            byte[] once = File.ReadAllBytes(copy);
            Assert.Equal(unpatched.Length, once.Length);
            Assert.Equal(1, unpatched.Zip(once).Count(p => p.First != p.Second));   // one flags byte
            Assert.Equal(ElfPatchResult.NotNeeded, ElfVersionNeedPatcher.Patch(copy, strong));
            Assert.Equal(once, File.ReadAllBytes(copy));
            // Where the system has the version (a newer libstdc++), nothing is changed.
            File.Copy(original, copy, overwrite: true);
            var all = ElfVersionNeedPatcher.ReadVersionNeeds(copy).Select(n => n.Version).ToHashSet();
            Assert.Equal(ElfPatchResult.NotNeeded, ElfVersionNeedPatcher.Patch(copy, all));
            Assert.Equal(unpatched, File.ReadAllBytes(copy));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void NonElfFileIsRejectedWithItsName()
    {
        string f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "not an elf");
            var e = Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.ReadVersionNeeds(f));
            Assert.Contains(f, e.Message);
        }
        finally { File.Delete(f); }
    }
}
