using System.Text.Json.Nodes;
using DebertaSharp.Cli;

namespace DebertaSharp.Tests.Cli;

/// <summary>Issue 13, item 5: input files with a UTF-8 byte-order mark are read; a folder given as an input file is called a folder.</summary>
public class InputFileTests
{
    private static (int Rc, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = CliApp.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void TokenizeInput_WithUtf8ByteOrderMark_IsRead()
    {
        using var dir = TestPaths.TempDir();
        string tok = TestPaths.Fixture("tokenizer", "prefix0");
        string json = new JsonArray("Hello world!", "\uFEFFinner marks stay").ToJsonString();
        File.WriteAllText(dir["plain.json"], json);
        File.WriteAllBytes(dir["bom.json"], [0xEF, 0xBB, 0xBF, .. System.Text.Encoding.UTF8.GetBytes(json)]);
        var plain = Cli("tokenize", "--tokenizer", tok, "--input", dir["plain.json"]);
        var bom = Cli("tokenize", "--tokenizer", tok, "--input", dir["bom.json"]);
        Assert.True(plain.Rc == 0, plain.Err);
        Assert.True(bom.Rc == 0, bom.Err);
        Assert.Equal(plain.Out, bom.Out);
        Assert.Equal(2, bom.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void TokenizeInput_Folder_IsSaidToBeAFolder()
    {
        using var dir = TestPaths.TempDir();
        var (rc, stdout, err) = Cli("tokenize", "--tokenizer", TestPaths.Fixture("tokenizer", "prefix0"), "--input", dir.Path);
        Assert.Equal(1, rc);
        Assert.Empty(stdout);
        Assert.Contains("is a folder", err);
        Assert.DoesNotContain("not found", err);
    }

    [Fact]
    public void ForwardInputs_Folder_IsSaidToBeAFolder()
    {
        using var dir = TestPaths.TempDir();
        var (rc, _, err) = Cli("forward", "--model", TestPaths.Fixture("models", "rel_c2p_p2c", "base"), "--inputs", dir.Path,
            "--output", dir["out.safetensors"]);
        Assert.Equal(1, rc);
        Assert.Contains("--inputs", err);
        Assert.Contains("is a folder", err);
        Assert.DoesNotContain("does not exist", err);
        Assert.False(File.Exists(dir["out.safetensors"]));
    }
}
