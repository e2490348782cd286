using System.Text.RegularExpressions;
using DebertaSharp.Tests.Cli;

namespace DebertaSharp.Tests.ShippedModels;

/// <summary>The README's first command (a newcomer's first run) works as written and prints the right label.</summary>
public sealed partial class ReadmeCommandTests
{
    private const string Prefix = "dotnet run -c Release --project src/DebertaSharp.Cli -- ";

    /// <summary>The first and second code blocks of the README's "The two commands" section, first line each.</summary>
    internal static string[] Commands()
    {
        string readme = File.ReadAllText(TestPaths.Repo("README.md"));
        int section = readme.IndexOf("\n## The two commands", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no \"## The two commands\" section");
        int end = readme.IndexOf("\n## ", section + 5, StringComparison.Ordinal);
        string body = readme[section..(end < 0 ? readme.Length : end)];
        return [.. CodeBlock().Matches(body).Select(m => m.Groups[1].Value.Trim().Split('\n')[0].Trim())];
    }

    /// <summary>Shell words (double quotes only, as the README writes them), repository-relative paths made absolute.</summary>
    private static string[] Words(string command)
    {
        var words = ShellWord().Matches(command).Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value).ToList();
        return [.. words.Select(w => !w.StartsWith('-') && (Directory.Exists(TestPaths.Repo(w)) || File.Exists(TestPaths.Repo(w))) && w.Contains('/') ? TestPaths.Repo(w) : w)];
    }

    [Fact]
    public void First_Command_Classifies_The_Sentence()
    {
        string first = Commands()[0];
        Assert.StartsWith(Prefix + "pipeline text-classification --model models/", first);
        var (code, stdout, err) = ForwardCommandTests.RunInProcess(Words(first[Prefix.Length..]));
        Assert.True(code == 0, err);
        Assert.Contains("\"label\":\"positive\"", stdout);
    }

    [Fact]
    public void Second_Command_Is_The_Test_Command_Ci_Runs()
    {
        Assert.Equal("dotnet test tests/DebertaSharp.Tests -c Release", Commands().Last(c => c.StartsWith("dotnet test", StringComparison.Ordinal)));
        Assert.Contains("dotnet test tests/DebertaSharp.Tests -c Release", File.ReadAllText(TestPaths.Repo(".ci", "run")));
    }

    [GeneratedRegex("```[a-z]*\\n(.*?)```", RegexOptions.Singleline)] private static partial Regex CodeBlock();
    [GeneratedRegex("\"([^\"]*)\"|(\\S+)")] private static partial Regex ShellWord();
}
