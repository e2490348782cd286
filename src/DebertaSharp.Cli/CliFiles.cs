using DebertaSharp.IO;

namespace DebertaSharp.Cli;

/// <summary>Checks of the commands' file arguments, made before any work so that a wrong path fails fast and says why.</summary>
internal static class CliFiles
{
    /// <summary>An input file that must exist: a folder is said to be one, a missing path to be missing.</summary>
    public static void CheckInputFile(string flag, string path)
    {
        if (Directory.Exists(path)) throw new IOException($"{flag}: '{path}' is a folder, not a file");
        if (!File.Exists(path)) throw new FileNotFoundException($"{flag}: file '{path}' does not exist", path);
    }

    /// <summary>
    /// An output file: its folder must exist and it must not be a folder (a link is checked at its final target;
    /// devices and FIFOs are fine, they are written directly).
    /// </summary>
    public static void CheckOutputFile(string flag, string path)
    {
        string? outDir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (outDir is not null && !Directory.Exists(outDir)) throw new DirectoryNotFoundException($"{flag}: folder '{outDir}' does not exist");
        try
        {
            SafeFile.Resolve(path);
        }
        catch (IOException e)
        {
            throw new IOException($"{flag}: {e.Message}", e);
        }
    }
}
