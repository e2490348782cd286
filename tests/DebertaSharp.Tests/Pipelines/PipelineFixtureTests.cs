using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Pipelines;

/// <summary>
/// Every case of Fixtures/pipelines_expected_public.json (Hugging Face transformers 5.17's pipelines on the tiny models of
/// Fixtures/pipeline_models, v4_template tokenizer; first/average/max on the prefix1 tokenizer) through the library's
/// <see cref="Pipeline.Run"/>: scores within 1e-4, everything else exact.
/// </summary>
public class PipelineFixtureTests
{
    private static readonly JsonNode Expected = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("pipelines_expected_public.json")))!;

    private static JsonArray Texts(string key) => Expected["texts"]![key]!.AsArray();

    private static Pipeline Create(string task, string model, string tokenizer) =>
        Pipeline.Create(task, TestPaths.Fixture("pipeline_models", model), TestPaths.Fixture("tokenizer", tokenizer));

    /// <summary>Structural equality with numeric <c>score</c> fields within 1e-4.</summary>
    internal static void AssertSame(JsonNode? want, JsonNode? got, string path)
    {
        switch (want)
        {
            case JsonArray wa:
                var ga = Assert.IsType<JsonArray>(got);
                Assert.True(wa.Count == ga.Count, $"{path}: {ga.Count} items, want {wa.Count}: {got?.ToJsonString()}");
                for (int i = 0; i < wa.Count; i++) AssertSame(wa[i], ga[i], $"{path}[{i}]");
                break;
            case JsonObject wo:
                var go = Assert.IsType<JsonObject>(got);
                Assert.Equal(wo.Select(kv => kv.Key), go.Select(kv => kv.Key));
                foreach (var (k, v) in wo)
                {
                    if (k == "score")
                    {
                        double w = v!.GetValue<double>(), g = go[k]!.GetValue<double>();
                        Assert.True(Math.Abs(w - g) <= 1e-4, $"{path}.score: {g} vs {w}");
                    }
                    else AssertSame(v, go[k], $"{path}.{k}");
                }
                break;
            default:
                Assert.True(want!.ToJsonString() == got?.ToJsonString(), $"{path}: {got?.ToJsonString()} vs {want.ToJsonString()}");
                break;
        }
    }

    /// <summary>The value as printed and read back (fp32 numbers become JSON numbers).</summary>
    internal static JsonNode? Printed(JsonNode? value) => value is null ? null : JsonNode.Parse(value.ToJsonString());

    private static void RunEach(Pipeline p, JsonArray texts, JsonArray expected, JsonObject? parameters, string name)
    {
        Assert.Equal(expected.Count, texts.Count);
        for (int i = 0; i < texts.Count; i++)
            AssertSame(expected[i], Printed(p.Run(JsonValue.Create((string)texts[i]!), parameters?.DeepClone().AsObject())), $"{name}[{i}]");
        // The same inputs as one batch (sorted, padded, batched by 2): the values in input order.
        var batch = new JsonArray([.. texts.Select(t => t!.DeepClone())]);
        var ps = parameters?.DeepClone().AsObject() ?? [];
        ps["batch_size"] = 2;
        AssertSame(expected, Printed(p.Run(batch, ps)), name + "(batch)");
    }

    [Fact]
    public void FillMaskTop5()
    {
        using var p = Create("fill-mask", "masked_lm", "v4_template");
        RunEach(p, Texts("fill_mask"), Expected["fill_mask_top5"]!.AsArray(), new JsonObject { ["top_k"] = 5 }, "fill_mask_top5");
    }

    [Fact]
    public void TextClassificationBestLabel()
    {
        using var p = Create("text-classification", "sequence_classification", "v4_template");
        RunEach(p, Texts("classify"), Expected["text_classification"]!.AsArray(), null, "text_classification");
    }

    [Fact]
    public void TextClassificationAllScores()
    {
        using var p = Create("text-classification", "sequence_classification", "v4_template");
        RunEach(p, Texts("classify"), Expected["text_classification_all_scores"]!.AsArray(), new JsonObject { ["top_k"] = null }, "all_scores");
        RunEach(p, Texts("classify"), Expected["text_classification_all_scores"]!.AsArray(), new JsonObject { ["top_k"] = "all" }, "all_scores(all)");
    }

    [Theory]
    [InlineData("none", "v4_template")]
    [InlineData("simple", "v4_template")]
    [InlineData("first", "prefix1")]
    [InlineData("average", "prefix1")]
    [InlineData("max", "prefix1")]
    public void TokenClassification(string aggregation, string tokenizer)
    {
        using var p = Create("token-classification", "token_classification", tokenizer);
        RunEach(p, Texts("ner"), Expected[$"token_classification_{aggregation}"]!.AsArray(),
            new JsonObject { ["aggregation_strategy"] = aggregation }, aggregation);
    }
}
