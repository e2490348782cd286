using System.Diagnostics;
using System.Runtime.Versioning;
using DebertaSharp.IO;
using DebertaSharp.Serialization;
using DebertaSharp.Tests.Tokenization;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Cli;

/// <summary>
/// Issue 13, item 1: writing an output path that is not a plain regular file never destroys it. A symbolic link is
/// written through (it stays a link, its target gets the data), a device or FIFO is written directly (it stays what it
/// is), a replaced regular file keeps its mode (and owner). For <c>deberta forward --output</c>, <c>SavePretrained</c>'s
/// config.json and model.safetensors, and tokenizer files. File types are read with coreutils' <c>stat</c>, not with the
/// code under test.
/// </summary>
[UnsupportedOSPlatform("windows")]
public class OutputFileTests
{
    private static readonly string Model = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
    private static readonly string Inputs = TestPaths.Fixture("models", "rel_c2p_p2c", "base", "expected_single.safetensors");

    private static string[] Forward(string output) => ["forward", "--model", Model, "--inputs", Inputs, "--output", output];

    private static void AssertForwardWrites(string output)
    {
        var (code, _, err) = ForwardCommandTests.RunInProcess(Forward(output));
        Assert.True(code == 0, err);
    }

    [Fact]
    public void Forward_DeviceOutput_StaysTheDevice()
    {
        // First a device node of our own (root only): if the writer still renamed over devices, this one is lost,
        // not the machine's /dev/null, and the test stops before touching /dev/null.
        if (IsRoot())
        {
            using var dir = TestPaths.TempDir();
            string node = dir["null"];
            Sh("mknod", node, "c", "1", "3");
            Assert.Equal("character special file 1:3", Stat(node, "%F %t:%T"));
            AssertForwardWrites(node);
            Assert.Equal("character special file 1:3", Stat(node, "%F %t:%T"));
            Assert.Equal(["null"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
        }
        string before = Stat("/dev/null", "%F %t:%T %a %u");
        Assert.StartsWith("character special file", before);
        AssertForwardWrites("/dev/null");
        Assert.Equal(before, Stat("/dev/null", "%F %t:%T %a %u"));
        Assert.Empty(Directory.GetFiles("/dev", ".null.*"));
    }

    [Fact]
    public void Forward_SymlinkOutput_IsWrittenThrough()
    {
        using var dir = TestPaths.TempDir();
        Directory.CreateDirectory(dir["real"]);
        Directory.CreateDirectory(dir["links"]);
        string target = dir["real/out.safetensors"];
        File.WriteAllText(target, "old contents");
        // A chain of two links, relative targets: links/out -> links/hop -> ../real/out.safetensors.
        File.CreateSymbolicLink(dir["links/hop"], "../real/out.safetensors");
        File.CreateSymbolicLink(dir["links/out.safetensors"], "hop");
        AssertForwardWrites(dir["links/out.safetensors"]);
        Assert.Equal("symbolic link", Stat(dir["links/out.safetensors"], "%F"));
        Assert.Equal("symbolic link", Stat(dir["links/hop"], "%F"));
        Assert.Equal("hop", new FileInfo(dir["links/out.safetensors"]).LinkTarget);
        Assert.Equal("regular file", Stat(target, "%F"));
        Assert.Contains("output.last_hidden_state", SafeTensors.Load(target).Keys);
        Assert.Equal(["hop", "out.safetensors"], Directory.GetFileSystemEntries(dir["links"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["out.safetensors"], Directory.GetFileSystemEntries(dir["real"]).Select(Path.GetFileName));

        // A dangling link creates its target, as a shell redirection does.
        File.Delete(target);
        AssertForwardWrites(dir["links/out.safetensors"]);
        Assert.Equal("symbolic link", Stat(dir["links/out.safetensors"], "%F"));
        Assert.Contains("output.last_hidden_state", SafeTensors.Load(target).Keys);
    }

    [Fact]
    public async Task Forward_FifoOutput_GetsTheDataAndStaysAFifo()
    {
        using var dir = TestPaths.TempDir();
        string fifo = dir["out.fifo"];
        Sh("mkfifo", fifo);
        Assert.Equal("fifo", Stat(fifo, "%F"));
        // The reader is another process, so that a writer that never opens the FIFO fails the test instead of hanging it.
        using var reader = Process.Start(new ProcessStartInfo("cat", [fifo]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var read = new MemoryStream();
        var copy = reader.StandardOutput.BaseStream.CopyToAsync(read);
        try
        {
            AssertForwardWrites(fifo);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await reader.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail("nothing was written to the FIFO: the reader still waits after 60 s");
            }
            await copy;
        }
        finally
        {
            if (!reader.HasExited) reader.Kill();
        }
        Assert.Equal("fifo", Stat(fifo, "%F"));
        string copyPath = dir["copy.safetensors"];
        File.WriteAllBytes(copyPath, read.ToArray());
        Assert.Contains("output.last_hidden_state", SafeTensors.Load(copyPath).Keys);
        Assert.Equal(["copy.safetensors", "out.fifo"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Forward_ProcFdOutput_WritesTheOpenPipe()
    {
        // /dev/stdout, /dev/fd/N and /proc/self/fd/N name an open file: /proc's links point at no real path
        // ("pipe:[123]"), so the write goes to the open file itself.
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In, HandleInheritability.None);
        using var writeEnd = pipe.ClientSafePipeHandle;
        string fdPath = $"/proc/self/fd/{writeEnd.DangerousGetHandle()}";
        Assert.StartsWith("pipe:", new FileInfo(fdPath).LinkTarget);
        var read = new MemoryStream();
        var copy = pipe.CopyToAsync(read);
        AssertForwardWrites(fdPath);
        pipe.DisposeLocalCopyOfClientHandle();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await copy.WaitAsync(timeout.Token);
        using var dir = TestPaths.TempDir();
        File.WriteAllBytes(dir["copy.safetensors"], read.ToArray());
        Assert.Contains("output.last_hidden_state", SafeTensors.Load(dir["copy.safetensors"]).Keys);
    }

    [Fact]
    public void SafeFile_ProcFdOfARegularFile_WritesThatFile()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["log.txt"], "a longer old text");
        using var open = new FileStream(dir["log.txt"], FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        string fdPath = $"/proc/self/fd/{open.SafeFileHandle.DangerousGetHandle()}";
        SafeFile.WriteAllText(fdPath, "new");
        Assert.Equal("new", File.ReadAllText(dir["log.txt"]));
        Assert.Equal(3, open.Length);   // the same file, not a new one renamed over it
        Assert.Equal(["log.txt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Forward_ReplacedFile_KeepsItsModeAndOwner()
    {
        using var dir = TestPaths.TempDir();
        string output = dir["out.safetensors"];
        File.WriteAllText(output, "old contents");
        File.SetUnixFileMode(output, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        bool root = IsRoot();
        if (root) Sh("chown", "65534:65534", output);
        AssertForwardWrites(output);
        Assert.Contains("output.last_hidden_state", SafeTensors.Load(output).Keys);
        Assert.Equal("600", Stat(output, "%a"));
        if (root) Assert.Equal("65534:65534", Stat(output, "%u:%g"));

        // A new file gets the usual mode of a new file (umask applied), not a copy of anything.
        string fresh = dir["fresh.safetensors"];
        AssertForwardWrites(fresh);
        Assert.Equal(Stat(dir["reference"], "%a", create: true), Stat(fresh, "%a"));
    }

    [Fact]
    public void SavePretrained_ConfigAndWeights_KeepLinksAndModes()
    {
        using var model = DebertaPreTrainedModel.FromPretrained(Model);
        using var dir = TestPaths.TempDir();
        Directory.CreateDirectory(dir["store"]);
        Directory.CreateDirectory(dir["ckpt"]);
        File.WriteAllText(dir["store/config.json"], "{}");
        File.CreateSymbolicLink(dir["ckpt/config.json"], dir["store/config.json"]);
        File.WriteAllText(dir["ckpt/model.safetensors"], "old");
        File.SetUnixFileMode(dir["ckpt/model.safetensors"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        model.SavePretrained(dir["ckpt"]);

        Assert.Equal("symbolic link", Stat(dir["ckpt/config.json"], "%F"));
        Assert.Equal(model.Config.HiddenSize, DebertaConfig.FromFile(dir["store/config.json"]).HiddenSize);
        Assert.Equal("640", Stat(dir["ckpt/model.safetensors"], "%a"));
        Assert.NotEmpty(SafeTensors.Load(dir["ckpt/model.safetensors"]));
        Assert.Equal(["config.json", "model.safetensors"], Directory.GetFileSystemEntries(dir["ckpt"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["config.json"], Directory.GetFileSystemEntries(dir["store"]).Select(Path.GetFileName));
    }

    [Fact]
    public void TokenizerSavePretrained_KeepsLinksAndModes()
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        using var dir = TestPaths.TempDir();
        Directory.CreateDirectory(dir["store"]);
        Directory.CreateDirectory(dir["tok"]);
        File.WriteAllText(dir["store/tokenizer.json"], "{}");
        File.CreateSymbolicLink(dir["tok/tokenizer.json"], "../store/tokenizer.json");
        File.WriteAllText(dir["tok/tokenizer_config.json"], "{}");
        File.SetUnixFileMode(dir["tok/tokenizer_config.json"], UnixFileMode.UserRead | UnixFileMode.UserWrite);

        tok.SavePretrained(dir["tok"]);

        Assert.Equal("symbolic link", Stat(dir["tok/tokenizer.json"], "%F"));
        Assert.Equal(tok.Encode("Hello world").Ids, DebertaTokenizerFast.FromPretrained(dir["tok"]).Encode("Hello world").Ids);
        Assert.Equal("600", Stat(dir["tok/tokenizer_config.json"], "%a"));
        Assert.Equal(["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"],
            Directory.GetFileSystemEntries(dir["tok"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void SafeFile_FolderTarget_IsAnErrorThatSaysSo()
    {
        using var dir = TestPaths.TempDir();
        Directory.CreateDirectory(dir["sub"]);
        var e = Assert.Throws<IOException>(() => SafeFile.WriteAllText(dir["sub"], "x"));
        Assert.Contains("is a folder", e.Message);
        File.CreateSymbolicLink(dir["link"], dir["sub"]);
        e = Assert.Throws<IOException>(() => SafeFile.WriteAllText(dir["link"], "x"));
        Assert.Contains("is a folder", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir["sub"]));

        var (code, _, err) = ForwardCommandTests.RunInProcess(Forward(dir["sub"]));
        Assert.Equal(1, code);
        Assert.Contains("is a folder", err);
    }

    [Fact]
    public void SafeFile_FailedWrite_LeavesTheLinkTargetAlone()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["target"], "old");
        File.CreateSymbolicLink(dir["link"], "target");
        Assert.Throws<InvalidOperationException>(() => SafeFile.WriteText(dir["link"], w =>
        {
            w.Write("partial");
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("old", File.ReadAllText(dir["target"]));
        Assert.Equal(["link", "target"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static bool IsRoot() => Sh("id", "-u").Trim() == "0";

    /// <summary>coreutils' <c>stat -c FORMAT</c> of <paramref name="path"/> itself (links not followed).</summary>
    private static string Stat(string path, string format, bool create = false)
    {
        if (create) File.WriteAllText(path, "");
        return Sh("stat", "-c", format, path).Trim();
    }

    private static string Sh(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {stderr}");
        return stdout;
    }
}
