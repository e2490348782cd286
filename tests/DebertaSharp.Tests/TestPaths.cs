namespace DebertaSharp.Tests;

/// <summary>Locates the repository's test data (tests/DebertaSharp.Tests/Fixtures) from the test binary's folder.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> _root = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "DebertaSharp.Tests", "Fixtures");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/DebertaSharp.Tests/Fixtures not found above " + AppContext.BaseDirectory);
    });

    /// <summary>Absolute path of the fixtures folder.</summary>
    public static string Fixtures => _root.Value;

    /// <summary>Absolute path of a file or folder inside the fixtures folder.</summary>
    public static string Fixture(params string[] parts) => Path.Combine([Fixtures, .. parts]);

    /// <summary>Absolute path of a file or folder under the repository root (three levels above the fixtures folder).</summary>
    public static string Repo(params string[] parts) => Path.GetFullPath(Path.Combine([Fixtures, "..", "..", "..", .. parts]));

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public static TempDir TempDir() => new();
}

/// <summary>A temporary folder removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    /// <summary>The folder.</summary>
    public string Path { get; } = Directory.CreateTempSubdirectory("debertasharp-test-").FullName;

    /// <summary>A path inside the folder.</summary>
    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}
