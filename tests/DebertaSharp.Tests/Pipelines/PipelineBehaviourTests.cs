using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Pipelines;

/// <summary>Hugging Face's pipeline rules beyond the fixture: targets, several masks, pairs, functions, windows, pooling, threads.</summary>
public class PipelineBehaviourTests
{
    private static DebertaTokenizerBase Tok(string name = "v4_template") => DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", name));

    private static DebertaPreTrainedModel Model(string name) => DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("pipeline_models", name));

    [Fact]
    public void FillMaskTargetsRestrictAndWarn()
    {
        var warnings = new List<string>();
        using var p = new FillMaskPipeline(Model("masked_lm"), Tok(), warnings.Add);
        var all = p.Predict("The capital of France is [MASK].", topK: 50000)[0];
        var got = p.Predict("The capital of France is [MASK].", topK: 5, targets: ["Ġsale", " Paris"])[0];
        // "Ġsale" is a vocabulary entry; " Paris" (raw text) is not, so its first BPE token is used, with a warning.
        int paris = Tok().EncodeToIds(" Paris", addSpecialTokens: false)[0];
        Assert.Equal(2, got.Count);
        Assert.Single(warnings);
        Assert.Contains("does not exist in the model vocabulary", warnings[0]);
        foreach (var g in got)
        {
            var full = all.Single(a => a.Token == g.Token);
            Assert.Equal(full.Score, g.Score, 6);
            Assert.Equal(full.Sequence, g.Sequence);
        }
        Assert.Contains(got, g => g.Token == paris);
        Assert.True(got[0].Score >= got[1].Score);
    }

    [Fact]
    public void FillMaskSeveralMasksGiveOneListPerMask()
    {
        using var p = new FillMaskPipeline(Model("masked_lm"), Tok());
        var r = p.Run(JsonValue.Create("[MASK] is the [MASK] way."), new JsonObject { ["top_k"] = 2 })!.AsArray();
        Assert.Equal(2, r.Count);
        foreach (var perMask in r) Assert.Equal(2, perMask!.AsArray().Count);
        // As Hugging Face: with several masks the sequence keeps the special tokens (skip_special_tokens=False).
        Assert.StartsWith("[CLS]", (string)r[0]![0]!["sequence"]!);
        Assert.Throws<ArgumentException>(() => p.Predict("no mask here"));
        Assert.Throws<ArgumentException>(() => p.Run(JsonValue.Create("[MASK]"), new JsonObject { ["topk"] = 1 }));
    }

    [Fact]
    public void TextClassificationPairsFunctionsAndTopK()
    {
        using var p = new TextClassificationPipeline(Model("sequence_classification"), Tok());
        Assert.Equal(ClassificationFunction.Softmax, p.DefaultFunction);
        var pair = p.Run(new JsonObject { ["text"] = "a b", ["text_pair"] = "c d" }, new JsonObject { ["top_k"] = null })!.AsArray();
        var typed = p.Classify("a b", "c d", topK: null);
        Assert.Equal(3, pair.Count);
        Assert.Equal(typed.Select(t => t.Label), pair.Select(x => (string)x!["label"]!));
        Assert.Equal(1.0, typed.Sum(t => t.Score), 5);
        var raw = p.Classify("a b", "c d", topK: null, ClassificationFunction.None);
        var sig = p.Classify("a b", "c d", topK: 2, ClassificationFunction.Sigmoid);
        Assert.Equal(2, sig.Count);
        Assert.Equal(1 / (1 + Math.Exp(-raw[0].Score)), sig[0].Score, 5);
        Assert.NotEqual(typed.Select(t => t.Score), p.Classify("a b", topK: null).Select(t => t.Score));   // the pair is encoded
        Assert.Throws<ArgumentException>(() => p.Run(JsonValue.Create("x"), new JsonObject { ["function_to_apply"] = "tanh" }));
        // text_classification.py __call__ without top_k: a string gets [best], a {"text", "text_pair"} input the best
        // label's dict itself; with top_k the list either way.
        var best = p.Run(new JsonObject { ["text"] = "a b", ["text_pair"] = "c d" });
        Assert.IsType<JsonObject>(best);
        Assert.Equal(typed[0].Label, (string)best!["label"]!);
        Assert.IsType<JsonArray>(p.Run(JsonValue.Create("a b")));
        Assert.IsType<JsonArray>(p.Run(new JsonObject { ["text"] = "a b", ["text_pair"] = "c d" }, new JsonObject { ["top_k"] = 1 }));
        var mixed = p.Run(new JsonArray("a b", new JsonObject { ["text"] = "a b", ["text_pair"] = "c d" }))!.AsArray();
        Assert.IsType<JsonArray>(mixed[0]);
        Assert.IsType<JsonObject>(mixed[1]);
    }

    [Fact]
    public void TokenClassificationStrideWindowsCoverALongText()
    {
        var tok = Tok();
        tok.ModelMaxLength = 16;
        using var p = new TokenClassificationPipeline(Model("token_classification"), tok);
        string text = string.Join(" ", Enumerable.Repeat("Universit\u00e9 d'\u00c9tat du Colorado, Tapez CTRL-W pour sauter.", 6));
        Assert.True(tok.Encode(text).Length > 64);
        Assert.Throws<ArgumentException>(() => p.Recognize(text, AggregationStrategy.None, stride: 4));
        var got = p.Recognize(text, AggregationStrategy.First, ignoreLabels: [], stride: 4);
        Assert.NotEmpty(got);
        for (int i = 1; i < got.Count; i++) Assert.True(got[i].Start >= got[i - 1].End, "overlapping entities were merged");
        Assert.True(got[^1].End > text.Length - 10, "the last window reaches the end of the text");
        Assert.All(got, e => Assert.InRange(e.End, e.Start, text.Length));
        // Without a stride the text is truncated to one window.
        var truncated = p.Recognize(text, AggregationStrategy.First, ignoreLabels: []);
        Assert.True(truncated[^1].End < text.Length / 2);
    }

    [Fact]
    public void TokenClassificationStrideWithoutAggregationMergesTokenWindows()
    {
        // Hugging Face refuses stride only for an explicit aggregation_strategy="none"; with none given, the windows run
        // token by token (aggregation NONE in postprocess) and aggregate_overlapping_entities keeps, of the tokens two
        // windows share (same start and length), the one with the higher score.
        var tok = Tok();
        tok.ModelMaxLength = 16;
        using var p = new TokenClassificationPipeline(Model("token_classification"), tok);
        string text = string.Join(" ", Enumerable.Repeat("Universit\u00e9 d'\u00c9tat du Colorado, Tapez CTRL-W pour sauter.", 4));
        var got = p.Recognize(text, ignoreLabels: [], stride: 4);
        tok.ModelMaxLength = null;
        var whole = tok.Encode(text);
        var expected = Enumerable.Range(0, whole.Length).Where(j => whole.SpecialTokensMask[j] == 0).Select(j => whole.Offsets[j]).ToList();
        Assert.Equal(expected, got.Select(e => (e.Start, e.End)).ToList());
        Assert.All(got, e => Assert.NotNull(e.Entity));
        Assert.All(got, e => Assert.NotNull(e.Index));
        tok.ModelMaxLength = 16;
        var json = p.Run(JsonValue.Create(text), new JsonObject { ["stride"] = 4, ["ignore_labels"] = new JsonArray() })!.AsArray();
        Assert.Equal(got.Count, json.Count);
        Assert.Equal(["entity", "score", "index", "word", "start", "end"], json[0]!.AsObject().Select(kv => kv.Key).ToArray());
        var explicitNone = Assert.Throws<ArgumentException>(() => p.Run(JsonValue.Create(text), new JsonObject { ["stride"] = 4, ["aggregation_strategy"] = "none" }));
        Assert.Contains("aggregation_strategy", explicitNone.Message);
    }

    [Fact]
    public void FeatureExtractionShapesAndPooling()
    {
        var tok = Tok();
        using var p = new FeatureExtractionPipeline(Model("masked_lm"), tok);
        var states = p.Extract("Hello world");
        int len = tok.Encode("Hello world").Length;
        Assert.Equal(len, states.Length);
        Assert.Equal(8, states[0].Length);
        var mean = p.Embed("Hello world");
        for (int d = 0; d < 8; d++) Assert.Equal(states.Average(r => (double)r[d]), mean[d], 5);
        Assert.Equal(states[0], p.Embed("Hello world", Pooling.Cls));
        // Batched with a longer input (padding) gives the same values.
        var batch = p.EmbedBatch(["Hello world", "A much longer sentence that needs padding of the other one."], batchSize: 2);
        for (int d = 0; d < 8; d++) Assert.Equal(mean[d], batch[0][d], 4);
        var json = p.Run(JsonValue.Create("Hello world"))!.AsArray();
        Assert.Single(json);
        Assert.Equal(len, json[0]!.AsArray().Count);
    }

    [Fact]
    public void ConcurrentCallersGetTheSingleCallerAnswer()
    {
        using var p = new TextClassificationPipeline(Model("sequence_classification"), Tok());
        string[] texts = ["one", "two words", "three little words", "a longer text with more tokens in it"];
        var want = texts.Select(t => p.Classify(t, topK: null)).ToArray();
        Parallel.For(0, 32, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var got = p.ClassifyBatch([.. texts.Select(t => new TextClassificationInput(t))], topK: null, batchSize: 1 + i % 3);
            for (int k = 0; k < texts.Length; k++)
                for (int j = 0; j < want[k].Count; j++)
                {
                    Assert.Equal(want[k][j].Label, got[k][j].Label);
                    Assert.Equal(want[k][j].Score, got[k][j].Score, 4);
                }
        });
    }

    [Fact]
    public void FactoryRejectsUnknownTasks()
    {
        Assert.Throws<ArgumentException>(() => Pipeline.Create("translation", TestPaths.Fixture("pipeline_models", "masked_lm"), TestPaths.Fixture("tokenizer", "v4_template")));
        using var fe = Pipeline.Create("feature-extraction", TestPaths.Fixture("pipeline_models", "masked_lm"), TestPaths.Fixture("tokenizer", "v4_template"));
        Assert.Equal("feature-extraction", fe.Task);
        Assert.IsType<FeatureExtractionPipeline>(fe);
    }
}
