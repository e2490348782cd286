using DebertaSharp.Build;

namespace DebertaSharp.Tests.Build;

/// <summary>The fix marks weak only what the system's libstdc++ lacks (GLIBCXX and CXXABI versions alike).</summary>
public class NativeFixScopeTests
{
    [Fact]
    public void Loaded_Copy_Differs_From_TorchSharps_Only_In_Needs_The_System_Lacks()
    {
        var available = ElfVersionNeedPatcher.SystemGlibcxxVersions();
        Assert.NotNull(available);
        Assert.Contains(available!, v => v.StartsWith("CXXABI_", StringComparison.Ordinal));
        string loaded = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var original = ElfVersionNeedPatcher.ReadVersionNeeds(TorchSharpNativeFixTests.NuGetCacheLibrary).ToDictionary(n => (n.File, n.Version), n => n.Weak);
        foreach (var n in ElfVersionNeedPatcher.ReadVersionNeeds(loaded))
        {
            bool shouldBeWeak = original[(n.File, n.Version)] || (n.File.StartsWith("libstdc++", StringComparison.Ordinal) && !available!.Contains(n.Version));
            Assert.True(shouldBeWeak == n.Weak, $"{n.Version}: weak {n.Weak}, expected {shouldBeWeak}");
        }
    }
}
