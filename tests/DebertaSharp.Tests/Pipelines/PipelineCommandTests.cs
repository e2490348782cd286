using System.Text.Json.Nodes;
using DebertaSharp.Tests.Cli;

namespace DebertaSharp.Tests.Pipelines;

/// <summary>
/// <c>deberta pipeline</c>: every case of Fixtures/pipelines_expected_public.json (transformers 5.17) through the command
/// line, one JSON line per input in input order; inputs as arguments or a JSON file; bad parameters named.
/// </summary>
public sealed class PipelineCommandTests
{
    private static readonly JsonNode Expected = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("pipelines_expected_public.json")))!;

    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => ForwardCommandTests.RunInProcess(["pipeline", .. args]);

    private static void AssertLines(string stdout, JsonArray expected, string name)
    {
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++) PipelineFixtureTests.AssertSame(expected[i], JsonNode.Parse(lines[i]), $"{name}[{i}]");
    }

    public static TheoryData<string, string, string, string, string[]> Cases() => new()
    {
        { "fill-mask", "masked_lm", "v4_template", "fill_mask_top5", ["--top_k", "5"] },
        { "text-classification", "sequence_classification", "v4_template", "text_classification", [] },
        { "text-classification", "sequence_classification", "v4_template", "text_classification_all_scores", ["--top_k", "all"] },
        { "token-classification", "token_classification", "v4_template", "token_classification_none", ["--aggregation_strategy", "none"] },
        { "token-classification", "token_classification", "v4_template", "token_classification_simple", ["--aggregation_strategy", "simple"] },
        { "token-classification", "token_classification", "prefix1", "token_classification_first", ["--aggregation_strategy", "first"] },
        { "token-classification", "token_classification", "prefix1", "token_classification_average", ["--aggregation_strategy", "average"] },
        { "token-classification", "token_classification", "prefix1", "token_classification_max", ["--aggregation_strategy", "max", "--batch_size", "2"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reproduces_Hugging_Face_From_A_Json_File(string task, string model, string tokenizer, string expectedKey, string[] flags)
    {
        string textsKey = task switch { "fill-mask" => "fill_mask", "text-classification" => "classify", _ => "ner" };
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["in.json"], Expected["texts"]![textsKey]!.ToJsonString());
        var (code, stdout, stderr) = Run([task, "--model", TestPaths.Fixture("pipeline_models", model), "--tokenizer", TestPaths.Fixture("tokenizer", tokenizer),
            "--input", tmp["in.json"], .. flags]);
        Assert.True(code == 0, stderr);
        AssertLines(stdout, Expected[expectedKey]!.AsArray(), expectedKey);
    }

    [Fact]
    public void Long_Inputs_Are_Printed_Chunk_By_Chunk_And_Ctrl_C_Stops_Between_Chunks()
    {
        // With --batch_size 1 a chunk is 16 inputs: 40 inputs are 3 chunks, each line still Hugging Face's answer.
        var texts = Expected["texts"]!["classify"]!.AsArray();
        var expected = Expected["text_classification"]!.AsArray();
        var inputs = new JsonArray([.. Enumerable.Range(0, 40).Select(i => texts[i % texts.Count]!.DeepClone())]);
        var want = new JsonArray([.. Enumerable.Range(0, 40).Select(i => expected[i % texts.Count]!.DeepClone())]);
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["in.json"], inputs.ToJsonString());
        string[] args = ["pipeline", "text-classification", "--model", TestPaths.Fixture("pipeline_models", "sequence_classification"),
            "--tokenizer", TestPaths.Fixture("tokenizer", "v4_template"), "--input", tmp["in.json"], "--batch_size", "1"];
        var (code, stdout, stderr) = ForwardCommandTests.RunInProcess(args);
        Assert.True(code == 0, stderr);
        AssertLines(stdout, want, "chunked");

        // Cancelled while the first chunk's lines are written: they are all printed, complete, and nothing after them.
        using var cts = new CancellationTokenSource();
        var cancelling = new CancellingWriter(cts);
        var err = new StringWriter();
        code = DebertaSharp.Cli.CliApp.Run(args, cancelling, err, handleProcessTermination: false, cts.Token);
        Assert.Equal(130, code);
        var lines = cancelling.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(DebertaSharp.Cli.PipelineCommand.ChunkBatches, lines.Length);
        AssertLines(cancelling.ToString(), new JsonArray([.. want.Take(lines.Length).Select(x => x!.DeepClone())]), "cancelled");
        Assert.Equal("deberta pipeline: cancelled", err.ToString().Trim());
    }

    /// <summary>A stdout that cancels its token on the first line written.</summary>
    private sealed class CancellingWriter(CancellationTokenSource cts) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            cts.Cancel();
        }
    }

    [Fact]
    public void Texts_As_Arguments_And_Bad_Input_Named()
    {
        string model = TestPaths.Fixture("pipeline_models", "masked_lm"), tok = TestPaths.Fixture("tokenizer", "v4_template");
        var texts = Expected["texts"]!["fill_mask"]!.AsArray().Select(t => (string)t!).ToArray();
        var (code, stdout, stderr) = Run(["fill-mask", "--model", model, "--tokenizer", tok, .. texts]);
        Assert.True(code == 0, stderr);
        AssertLines(stdout, Expected["fill_mask_top5"]!.AsArray(), "args");

        (code, _, stderr) = Run("fill-mask", "--model", model, "--tokenizer", tok, "a [MASK]", "--aggregation_strategy", "first");
        Assert.Equal(1, code);
        Assert.Contains("aggregation_strategy", stderr);
        (code, _, stderr) = Run("fill-mask", "--model", model, "--tokenizer", tok);
        Assert.Equal(2, code);
        Assert.Contains("--input", stderr);
        (code, _, stderr) = Run("fill-mask", "--model", model, "--tokenizer", tok, "a [MASK]", "--top_k", "many");
        Assert.Equal(2, code);
        Assert.Contains("--top_k", stderr);
        (code, _, stderr) = Run("fill-mask", "--model", model, "--tokenizer", tok, "a [MASK]", "--top_k", "all");
        Assert.Equal(2, code);
        Assert.Contains("--top_k all", stderr);
        // --targets splits at commas only: " Paris" keeps its space, so (not being a vocabulary entry) it is tokenized to
        // "ĠParis" as Hugging Face does with targets=[" Paris"]; "Ġsale" is an entry as it stands.
        (code, stdout, stderr) = Run("fill-mask", "--model", model, "--tokenizer", tok, "The capital of France is [MASK].", "--targets", "Ġsale, Paris");
        Assert.True(code == 0, stderr);
        var strs = JsonNode.Parse(stdout.Trim())!.AsArray().Select(x => (string)x!["token_str"]!).Order().ToArray();
        Assert.Equal([" Paris", " sale"], strs);
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["bad.json"], "[\"a [MASK]\",");
        (code, _, stderr) = Run("fill-mask", "--model", model, "--tokenizer", tok, "--input", tmp["bad.json"]);
        Assert.Equal(1, code);
        Assert.Contains("bad.json", stderr);
    }
}
