using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using DebertaSharp.Build;
using DebertaSharp.Tokenization;
using TorchSharp;

namespace DebertaSharp.Tests.Build;

/// <summary>
/// The README's library example as a user builds it: a project of their own in a folder outside this repository,
/// written from the README's <c>.csproj</c> block (a reference to src/DebertaSharp by absolute path and the import of
/// build/TorchSharpNativeFix.targets) and its C# block. With the import it builds and runs; without it, it crashes
/// where the system libstdc++ lacks GLIBCXX_3.4.32 (Debian 12) and runs elsewhere.
/// </summary>
public class OutsideProjectTests
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromSeconds(150), RunTimeout = TimeSpan.FromSeconds(60);

    private static string RepoRoot => Path.GetFullPath(Path.Combine(TestPaths.Fixtures, "..", "..", ".."));

    /// <summary>The first fenced block of README.md in <paramref name="language"/> that contains <paramref name="marker"/>.</summary>
    private static string ReadmeBlock(string language, string marker)
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot, "README.md"));
        foreach (Match m in Regex.Matches(readme, "^```" + language + "\\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline))
            if (m.Groups[1].Value.Contains(marker, StringComparison.Ordinal)) return m.Groups[1].Value;
        throw new Xunit.Sdk.XunitException($"README.md has no ```{language} block containing '{marker}'");
    }

    private static (int ExitCode, string Output) Run(string workingDir, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        // A user's shell, not the test host's MSBuild environment; no build servers left behind.
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"dotnet {string.Join(' ', args)} ran past {timeout.TotalSeconds} s:\n{output}");
        }
        p.WaitForExit();   // drains the output
        lock (output) return (p.ExitCode, output.ToString());
    }

    /// <summary>Writes the user's project (the README's blocks with the repository's path) into a new folder outside the repository.</summary>
    private static string WriteUserProject(TempDir tmp, string name, bool withImport)
    {
        string csproj = ReadmeBlock("xml", "TorchSharpNativeFix.targets").Replace("/path/to/DebertaSharp", RepoRoot, StringComparison.Ordinal);
        Assert.Contains($"<ProjectReference Include=\"{RepoRoot}/src/DebertaSharp/DebertaSharp.csproj\" />", csproj);
        string import = $"<Import Project=\"{RepoRoot}/build/TorchSharpNativeFix.targets\" />";
        Assert.Contains(import, csproj);
        if (!withImport) csproj = csproj.Replace(import, "", StringComparison.Ordinal);

        string program = ReadmeBlock("csharp", "DebertaForMaskedLM.FromPretrained");
        string[] lines = program.Split('\n');
        int tokLine = Array.FindIndex(lines, l => l.Contains("DebertaTokenizerBase.FromPretrained(\"path/to/deberta-base\")", StringComparison.Ordinal));
        int modelLine = Array.FindIndex(lines, l => l.Contains("DebertaForMaskedLM.FromPretrained(\"path/to/deberta-base\")", StringComparison.Ordinal));
        Assert.True(tokLine >= 0 && modelLine >= 0, "the README's example no longer loads from \"path/to/deberta-base\"");
        lines[tokLine] = lines[tokLine].Replace("path/to/deberta-base", TestPaths.Fixture("tokenizer", "v4_template"), StringComparison.Ordinal);
        lines[modelLine] = lines[modelLine].Replace("path/to/deberta-base", TestPaths.Fixture("pipeline_models", "masked_lm"), StringComparison.Ordinal);
        program = string.Join('\n', lines) + "\n" +
            "Console.WriteLine(\"top5 \" + string.Join(\",\", tokens.data<long>().ToArray()) + \" \" + " +
            "string.Join(\",\", scores.data<float>().ToArray().Select(s => s.ToString(\"R\", System.Globalization.CultureInfo.InvariantCulture))));\n";

        string dir = Path.Combine(tmp.Path, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), csproj);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        return dir;
    }

    /// <summary>What the README's example prints, computed in this process (which loads the patched library).</summary>
    private static string ExpectedTop5()
    {
        var tokenizer = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "v4_template"));
        using var model = DebertaForMaskedLM.FromPretrained(TestPaths.Fixture("pipeline_models", "masked_lm"));
        model.eval();
        var enc = tokenizer.Encode("The capital of France is [MASK].");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var ids = torch.tensor(enc.Ids.Select(i => (long)i).ToArray(), new long[] { 1, enc.Ids.Length });
        var output = model.Forward(ids);
        int maskAt = Array.IndexOf(enc.Ids, tokenizer.MaskTokenId);
        var (scores, tokens) = output.Logits[0, maskAt].softmax(-1).topk(5);
        return "top5 " + string.Join(",", tokens.data<long>().ToArray()) + " " +
               string.Join(",", scores.data<float>().ToArray().Select(s => s.ToString("R", CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void ReadmeExample_AsAUsersOwnProject_RunsWithTheImport()
    {
        using var tmp = TestPaths.TempDir();
        Assert.False(tmp.Path.StartsWith(RepoRoot + "/", StringComparison.Ordinal), $"{tmp.Path} is inside the repository");
        for (var d = new DirectoryInfo(tmp.Path); d is not null; d = d.Parent)
            foreach (string f in new[] { "Directory.Build.props", "Directory.Build.targets" })
                Assert.False(File.Exists(Path.Combine(d.FullName, f)), $"{Path.Combine(d.FullName, f)} would apply to the user's project");
        string expected = ExpectedTop5();

        // With the import, as the README says: builds, runs, prints what this process computes.
        string app = WriteUserProject(tmp, "userapp", withImport: true);
        var (code, log) = Run(app, BuildTimeout, "build", "-c", "Release", "-nodeReuse:false", "-p:UseSharedCompilation=false");
        Assert.True(code == 0, $"dotnet build failed ({code}):\n{log}");
        string dll = Path.Combine(app, "bin", "Release", "net10.0", "userapp.dll");
        Assert.True(File.Exists(dll), dll);
        (code, log) = Run(app, RunTimeout, dll);
        Assert.True(code == 0, $"the app failed ({code}):\n{log}");
        Assert.Equal(expected, log.Split('\n').Select(l => l.TrimEnd('\r')).Single(l => l.StartsWith("top5 ", StringComparison.Ordinal)));
        // The copy it loads has no strong need the system cannot meet; the NuGet cache's copy is untouched.
        var available = ElfVersionNeedPatcher.SystemGlibcxxVersions();
        Assert.NotNull(available);
        string loaded = Path.Combine(app, "bin", "Release", "net10.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.All(ElfVersionNeedPatcher.ReadVersionNeeds(loaded).Where(n => n.File.StartsWith("libstdc++", StringComparison.Ordinal)),
            n => Assert.True(available!.Contains(n.Version) || n.Weak, n.Version));
        Assert.False(ElfVersionNeedPatcher.ReadVersionNeeds(TorchSharpNativeFixTests.NuGetCacheLibrary).Single(n => n.Version == "GLIBCXX_3.4.32").Weak);

        // Without the import: crashes where the system libstdc++ lacks GLIBCXX_3.4.32 (this repository's Debian 12
        // machines), runs where it has it. Either way one of the two is asserted.
        bool systemHasIt = available!.Contains("GLIBCXX_3.4.32");
        string bare = WriteUserProject(tmp, "bareapp", withImport: false);
        (code, log) = Run(bare, BuildTimeout, "build", "-c", "Release", "-nodeReuse:false", "-p:UseSharedCompilation=false");
        Assert.True(code == 0, $"dotnet build failed ({code}):\n{log}");
        (code, log) = Run(bare, RunTimeout, Path.Combine(bare, "bin", "Release", "net10.0", "bareapp.dll"));
        if (systemHasIt)
        {
            Assert.True(code == 0, $"the system libstdc++ has GLIBCXX_3.4.32, yet the app without the import failed ({code}):\n{log}");
        }
        else
        {
            Assert.True(code != 0, $"the system libstdc++ lacks GLIBCXX_3.4.32, yet the app without the import ran:\n{log}");
            Assert.Contains("TypeInitializationException", log);
            Assert.DoesNotContain("top5 ", log);
        }
    }
}
