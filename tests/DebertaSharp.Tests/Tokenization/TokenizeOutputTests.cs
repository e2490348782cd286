using System.Text.Json.Nodes;
using DebertaSharp.Cli;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>
/// Issue 13, item 7: <c>deberta tokenize --output FILE.safetensors</c> writes the batch as <c>deberta forward</c>'s
/// input file (input.input_ids, input.attention_mask, input.token_type_ids; int64, padded), so that tokenize then
/// forward runs a model on one's own text.
/// </summary>
public class TokenizeOutputTests
{
    private static readonly string Tokenizer = TestPaths.Fixture("tokenizer", "v4_template");
    private static readonly string MaskedLm = TestPaths.Fixture("pipeline_models", "masked_lm");   // on the v4_template vocabulary
    private static readonly string[] Texts = ["Hello world!", "The [MASK] sat on the mat.", "x"];

    private static (int Rc, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = CliApp.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    private static string WriteJson(TempDir dir, string name, JsonNode array)
    {
        File.WriteAllText(dir[name], array.ToJsonString());
        return dir[name];
    }

    private static long[] Row(Tensor t, int i) => t[i].data<long>().ToArray();

    [Fact]
    public void Texts_AreWrittenPaddedToTheLongest_AsInt64()
    {
        using var dir = TestPaths.TempDir();
        string input = WriteJson(dir, "texts.json", new JsonArray([.. Texts.Select(t => JsonValue.Create(t))]));
        var (rc, stdout, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", input, "--output", dir["in.safetensors"]);
        Assert.True(rc == 0, err);
        Assert.Contains("in.safetensors", stdout);
        Assert.DoesNotContain("input_ids", stdout);   // the file instead of the JSON lines

        var lib = TokenizerFixtures.Fast("v4_template");
        var single = Texts.Select(t => lib.Encode(t)).ToList();
        int longest = single.Max(e => e.Length);
        using var scope = torch.NewDisposeScope();
        var file = SafeTensors.Load(dir["in.safetensors"]);
        Assert.Equal(["input.attention_mask", "input.input_ids", "input.token_type_ids"], file.Keys.Order(StringComparer.Ordinal));
        foreach (var t in file.Values)
        {
            Assert.Equal(ScalarType.Int64, t.dtype);
            Assert.Equal([Texts.Length, longest], t.shape);
        }
        for (int i = 0; i < Texts.Length; i++)
        {
            int n = single[i].Length, pad = longest - n;
            Assert.Equal([.. single[i].Ids.Select(v => (long)v), .. Enumerable.Repeat((long)lib.PadTokenId, pad)], Row(file["input.input_ids"], i));
            Assert.Equal([.. Enumerable.Repeat(1L, n), .. Enumerable.Repeat(0L, pad)], Row(file["input.attention_mask"], i));
            Assert.Equal([.. single[i].TypeIds.Select(v => (long)v), .. Enumerable.Repeat((long)lib.PadTokenTypeId, pad)], Row(file["input.token_type_ids"], i));
        }
        Assert.Contains(0L, Row(file["input.attention_mask"], 2));   // "x" is padded
    }

    [Fact]
    public void TokenizeThenForward_RunsTheModelOnTheText()
    {
        using var dir = TestPaths.TempDir();
        string input = WriteJson(dir, "texts.json", new JsonArray([.. Texts.Select(t => JsonValue.Create(t))]));
        var (rc, _, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", input, "--output", dir["in.safetensors"]);
        Assert.True(rc == 0, err);
        (rc, _, err) = Cli("forward", "--model", MaskedLm, "--inputs", dir["in.safetensors"], "--output", dir["out.safetensors"]);
        Assert.True(rc == 0, err);

        using var scope = torch.NewDisposeScope();
        var inputs = SafeTensors.Load(dir["in.safetensors"]);
        var logits = SafeTensors.Load(dir["out.safetensors"])["output.logits"];
        long longest = inputs["input.input_ids"].shape[1];
        Assert.Equal([Texts.Length, longest, DebertaConfig.FromFile(Path.Combine(MaskedLm, "config.json")).VocabSize], logits.shape);

        // The padded row's real positions are what the text alone gives: the mask hides the padding.
        string alone = WriteJson(dir, "alone.json", new JsonArray(Texts[2]));
        (rc, _, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", alone, "--output", dir["alone.safetensors"]);
        Assert.True(rc == 0, err);
        (rc, _, err) = Cli("forward", "--model", MaskedLm, "--inputs", dir["alone.safetensors"], "--output", dir["alone_out.safetensors"]);
        Assert.True(rc == 0, err);
        var aloneLogits = SafeTensors.Load(dir["alone_out.safetensors"])["output.logits"];
        long n = aloneLogits.shape[1];
        Assert.True(n < longest);
        double diff = (logits[2, ..(int)n] - aloneLogits[0]).abs().max().item<float>();
        Assert.True(diff < 1e-4, $"max difference {diff}");
    }

    [Fact]
    public void PairsAndMaxLengthPadding()
    {
        using var dir = TestPaths.TempDir();
        string input = WriteJson(dir, "pairs.json", new JsonArray(new JsonArray("Hello world!", "How are you?"), new JsonArray("x", "")));
        var (rc, _, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", input, "--pairs", "--output", dir["p.safetensors"],
            "--padding", "max_length", "--max-length", "16");
        Assert.True(rc == 0, err);
        var lib = TokenizerFixtures.Fast("v4_template");
        using var scope = torch.NewDisposeScope();
        var file = SafeTensors.Load(dir["p.safetensors"]);
        Assert.Equal([2, 16], file["input.token_type_ids"].shape);
        var pair = lib.Encode("Hello world!", "How are you?");
        Assert.Contains(1, pair.TypeIds);   // v4_template: type id 1 on the second text
        Assert.Equal(pair.TypeIds.Select(v => (long)v), Row(file["input.token_type_ids"], 0).Take(pair.Length));
        Assert.Equal(pair.Ids.Select(v => (long)v), Row(file["input.input_ids"], 0).Take(pair.Length));
        Assert.Equal(lib.Encode("x", "").Ids.Select(v => (long)v), Row(file["input.input_ids"], 1).Take(3));
        Assert.Equal(3, Row(file["input.attention_mask"], 1).Sum());
    }

    [Fact]
    public void BadOutputs_AreErrors_AndLeaveNoFile()
    {
        using var dir = TestPaths.TempDir();
        string empty = WriteJson(dir, "empty.json", new JsonArray());
        var (rc, _, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", empty, "--output", dir["e.safetensors"]);
        Assert.Equal(1, rc);
        Assert.Contains("empty", err);
        Assert.False(File.Exists(dir["e.safetensors"]));

        string texts = WriteJson(dir, "texts.json", new JsonArray("a"));
        (rc, _, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", texts, "--output", dir["missing/x.safetensors"]);
        Assert.Equal(1, rc);
        Assert.Contains("does not exist", err);
        (rc, _, err) = Cli("tokenize", "--tokenizer", Tokenizer, "--input", texts, "--output", dir.Path);
        Assert.Equal(1, rc);
        Assert.Contains("is a folder", err);
    }
}
