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

    [Theory]
    [InlineData(true)]    // a system libstdc++ that has GLIBCXX_3.4.32 (a newer distribution packing the tool)
    [InlineData(false)]   // no libstdc++ found at all
    public void Weak_Versions_Are_Marked_Whatever_The_System_Has(bool systemHasEverything)
    {
        using var tmp = TestPaths.TempDir();
        string copy = tmp["lib.so"];
        File.Copy(TorchSharpNativeFixTests.NuGetCacheLibrary, copy);
        var needs = ElfVersionNeedPatcher.ReadVersionNeeds(copy);
        HashSet<string>? system = systemHasEverything ? [.. needs.Select(n => n.Version)] : null;
        // Without WeakVersions, nothing to do there.
        Assert.Equal(ElfPatchResult.NotNeeded, ElfVersionNeedPatcher.Patch(copy, ElfVersionNeedPatcher.AvailableVersions(system, needs, [])));
        // With it (the tool package's setting), exactly that need becomes weak.
        var met = ElfVersionNeedPatcher.AvailableVersions(system, needs, ["GLIBCXX_3.4.32"]);
        Assert.Equal(ElfPatchResult.Patched, ElfVersionNeedPatcher.Patch(copy, met));
        var before = needs.ToDictionary(n => (n.File, n.Version), n => n.Weak);
        foreach (var n in ElfVersionNeedPatcher.ReadVersionNeeds(copy))
            Assert.True(n.Weak == (before[(n.File, n.Version)] || n.Version == "GLIBCXX_3.4.32"), n.Version);
    }
}
