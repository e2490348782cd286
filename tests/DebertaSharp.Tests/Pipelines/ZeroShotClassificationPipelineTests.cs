using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using DebertaSharp.Tokenization;
using TorchSharp;

namespace DebertaSharp.Tests.Pipelines;

/// <summary>
/// The zero-shot pipeline (Hugging Face's <c>zero_shot_classification.py</c>) against scores worked out by hand from
/// the model's logits. The model: a small seeded <see cref="DebertaForSequenceClassification"/> with 3 labels named
/// as an MNLI checkpoint's (<c>{0: contradiction, 1: neutral, 2: entailment}</c>), saved to a temporary folder and
/// loaded back so that the label names come from config.json; on the v4_template tokenizer's vocabulary (the
/// Fixtures/models/*/sequence_classification models have a 128-token vocabulary, too small for that tokenizer).
///
/// The derivation (<see cref="HandLogits"/> and the tests), in double:
/// 1. For each candidate label, hypothesis = template with {} replaced by the label; encode (sequence, hypothesis)
///    as a pair and run the model on it alone: logits l[label] = [l_contradiction, l_neutral, l_entailment].
/// 2. multi_label false (and more than one label): score[label] = exp(l[label][entail]) / Σ_labels exp(l[·][entail]).
/// 3. multi_label true, or a single label: score[label] = exp(l[label][entail]) / (exp(l[label][contra]) + exp(l[label][entail])),
///    contra = 0 unless the entailment id is 0, then the last index.
/// 4. Labels sorted by decreasing score.
/// </summary>
public class ZeroShotClassificationPipelineTests
{
    private const string Sequence = "The parliament passed the new budget after a long debate about taxes.";
    private static readonly string[] Labels = ["politics", "sports", "cooking", "economy"];

    private static DebertaTokenizerBase Tokenizer() => DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "v4_template"));

    private static DebertaForSequenceClassification Model(TempDir dir, string[] names)
    {
        torch.manual_seed(77);
        var id2label = names.Select((n, i) => (n, i)).ToDictionary(x => x.i.ToString(System.Globalization.CultureInfo.InvariantCulture), x => x.n);
        var config = new DebertaConfig
        {
            VocabSize = 50262, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 24,
            MaxPositionEmbeddings = 512, RelativeAttention = true, PosAttType = ["c2p", "p2c"], PositionBiasedInput = false,
            TypeVocabSize = 0, InitializerRange = 0.6, Id2Label = id2label, Label2Id = names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i),
        };
        using (var fresh = new DebertaForSequenceClassification(config)) fresh.SavePretrained(dir.Path);
        var model = DebertaForSequenceClassification.FromPretrained(dir.Path);
        model.eval();
        return model;
    }

    /// <summary>Step 1: the logits of each (sequence, hypothesis) pair, one pair per forward.</summary>
    private static double[][] HandLogits(DebertaForSequenceClassification model, DebertaTokenizerBase tok, string sequence, IEnumerable<string> labels, string template = "This example is {}.")
    {
        var rows = new List<double[]>();
        foreach (var label in labels)
        {
            var enc = tok.EncodeBatch([(sequence, template.Replace("{}", label))])[0];
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            long[] shape = [1, enc.Length];
            var output = (SequenceClassifierOutput)model.Forward(new DebertaInputs { InputIds = torch.tensor(enc.Ids.Select(i => (long)i).ToArray(), shape) });
            rows.Add([.. output.Logits[0].data<float>().Select(x => (double)x)]);
        }
        return [.. rows];
    }

    private static void AssertResult(ZeroShotClassificationResult got, string sequence, IReadOnlyList<string> labels, double[] scores)
    {
        Assert.Equal(sequence, got.Sequence);
        var order = Enumerable.Range(0, labels.Count).OrderByDescending(i => scores[i]).ToArray();
        Assert.Equal(order.Select(i => labels[i]), got.Labels);
        for (int k = 0; k < order.Length; k++)
            Assert.True(Math.Abs(scores[order[k]] - got.Scores[k]) <= 1e-5, $"{labels[order[k]]}: {got.Scores[k]} vs {scores[order[k]]}");
    }

    [Fact]
    public void SingleLabelSoftmaxesEntailmentAcrossLabels()
    {
        using var dir = TestPaths.TempDir();
        var tok = Tokenizer();
        var model = Model(dir, ["contradiction", "neutral", "entailment"]);
        using var pipe = new ZeroShotClassificationPipeline(model, tok);
        Assert.Equal(2, pipe.EntailmentId);
        Assert.Null(pipe.Warning);
        var l = HandLogits(model, tok, Sequence, Labels);
        double z = l.Sum(r => Math.Exp(r[2]));
        double[] want = [.. l.Select(r => Math.Exp(r[2]) / z)];                     // step 2
        AssertResult(pipe.Classify(Sequence, Labels), Sequence, Labels, want);

        var json = pipe.Run(JsonValue.Create(Sequence), new JsonObject { ["candidate_labels"] = new JsonArray([.. Labels.Select(x => (JsonNode)x)]) })!.AsObject();
        Assert.Equal(["sequence", "labels", "scores"], json.Select(kv => kv.Key));
        Assert.Equal(1.0, json["scores"]!.AsArray().Sum(s => (double)(float)s!), 1e-5);
    }

    [Fact]
    public void MultiLabelScoresEachLabelAgainstContradiction()
    {
        using var dir = TestPaths.TempDir();
        var tok = Tokenizer();
        var model = Model(dir, ["contradiction", "neutral", "entailment"]);
        using var pipe = new ZeroShotClassificationPipeline(model, tok);
        var l = HandLogits(model, tok, Sequence, Labels);
        double[] want = [.. l.Select(r => Math.Exp(r[2]) / (Math.Exp(r[0]) + Math.Exp(r[2])))];   // step 3
        AssertResult(pipe.Classify(Sequence, Labels, multiLabel: true), Sequence, Labels, want);
        var json = pipe.Run(JsonValue.Create(Sequence), new JsonObject { ["candidate_labels"] = "politics, sports,, cooking ,economy", ["multi_label"] = true })!;
        Assert.Equal(Labels.Length, json["labels"]!.AsArray().Count);

        // One label is always scored on its own, multi_label or not.
        var one = HandLogits(model, tok, Sequence, ["economy"])[0];
        AssertResult(pipe.Classify(Sequence, ["economy"]), Sequence, ["economy"], [Math.Exp(one[2]) / (Math.Exp(one[0]) + Math.Exp(one[2]))]);
    }

    [Fact]
    public void HypothesisTemplateAndBatchOfSequences()
    {
        using var dir = TestPaths.TempDir();
        var tok = Tokenizer();
        var model = Model(dir, ["contradiction", "neutral", "entailment"]);
        using var pipe = new ZeroShotClassificationPipeline(model, tok);
        const string template = "The topic of this text is {}.";
        string[] seqs = [Sequence, "He scored twice in the final minutes of the match.", "Stir the sauce until it thickens."];
        var got = pipe.Run(new JsonArray([.. seqs.Select(s => (JsonNode)s)]),
            new JsonObject { ["candidate_labels"] = "politics,sports,cooking", ["hypothesis_template"] = template })!.AsArray();
        Assert.Equal(3, got.Count);
        string[] labels = ["politics", "sports", "cooking"];
        for (int i = 0; i < seqs.Length; i++)
        {
            var l = HandLogits(model, tok, seqs[i], labels, template);
            double z = l.Sum(r => Math.Exp(r[2]));
            var typed = new ZeroShotClassificationResult((string)got[i]!["sequence"]!,
                [.. got[i]!["labels"]!.AsArray().Select(x => (string)x!)], [.. got[i]!["scores"]!.AsArray().Select(x => (float)x!)]);
            AssertResult(typed, seqs[i], labels, [.. l.Select(r => Math.Exp(r[2]) / z)]);
        }
    }

    [Fact]
    public void EntailmentIdComesFromTheLabelNames()
    {
        // Entailment first: contradiction is then the last index (Hugging Face: contradiction_id = -1 if entailment_id == 0).
        using var dir = TestPaths.TempDir();
        var tok = Tokenizer();
        var model = Model(dir, ["ENTAILMENT", "neutral", "contradiction"]);
        using var pipe = new ZeroShotClassificationPipeline(model, tok);
        Assert.Equal(0, pipe.EntailmentId);
        var l = HandLogits(model, tok, Sequence, Labels);
        AssertResult(pipe.Classify(Sequence, Labels, multiLabel: true), Sequence, Labels, [.. l.Select(r => Math.Exp(r[0]) / (Math.Exp(r[2]) + Math.Exp(r[0])))]);

        // No label starts with "entail": -1 with Hugging Face's warning, and index -1 (the last logit) is used.
        using var dir2 = TestPaths.TempDir();
        var model2 = Model(dir2, ["LABEL_0", "LABEL_1", "LABEL_2"]);
        using var pipe2 = new ZeroShotClassificationPipeline(model2, tok);
        Assert.Equal(-1, pipe2.EntailmentId);
        Assert.Contains("entailment", pipe2.Warning);
        var l2 = HandLogits(model2, tok, Sequence, Labels);
        double z = l2.Sum(r => Math.Exp(r[2]));
        AssertResult(pipe2.Classify(Sequence, Labels), Sequence, Labels, [.. l2.Select(r => Math.Exp(r[2]) / z)]);

        Assert.Equal(1, ZeroShotClassificationPipeline.FindEntailmentId(new DebertaConfig { Label2Id = new Dictionary<string, int> { ["neutral"] = 0, ["entails"] = 1 } }));
        Assert.Equal(2, ZeroShotClassificationPipeline.FindEntailmentId(new DebertaConfig { Id2Label = new Dictionary<string, string> { ["0"] = "c", ["1"] = "n", ["2"] = "Entailment" } }));
        Assert.Equal(-1, ZeroShotClassificationPipeline.FindEntailmentId(new DebertaConfig()));
    }

    [Fact]
    public void LabelsParseAndErrorsNameTheField()
    {
        Assert.Equal(["a", "b c", "d"], ZeroShotClassificationPipeline.SplitLabels(" a,b c ,, d ,"));
        Assert.Equal("This example is x.", ZeroShotClassificationPipeline.Format("This example is {}.", "x"));
        Assert.Equal("{x} x", ZeroShotClassificationPipeline.Format("{{{0}}} {}", "x"));

        using var dir = TestPaths.TempDir();
        var tok = Tokenizer();
        using var pipe = new ZeroShotClassificationPipeline(Model(dir, ["contradiction", "neutral", "entailment"]), tok);
        var seq = JsonValue.Create(Sequence);
        Assert.Contains("candidate_labels", Assert.Throws<ArgumentException>(() => pipe.Run(seq)).Message);
        Assert.Contains("at least one label", Assert.Throws<ArgumentException>(() => pipe.Run(seq, new JsonObject { ["candidate_labels"] = new JsonArray() })).Message);
        Assert.Contains("at least one label", Assert.Throws<ArgumentException>(() => pipe.Run(seq, new JsonObject { ["candidate_labels"] = " , ," })).Message);
        Assert.Contains("at least one label", Assert.Throws<ArgumentException>(() => pipe.Classify("", ["a"])).Message);
        Assert.Contains("hypothesis_template", Assert.Throws<ArgumentException>(() => pipe.Classify(Sequence, ["a"], "No placeholder.")).Message);
        Assert.Contains("top_k", Assert.Throws<ArgumentException>(() => pipe.Run(seq, new JsonObject { ["candidate_labels"] = "a", ["top_k"] = 1 })).Message);
        Assert.Contains("candidate_labels", Assert.Throws<ArgumentException>(() => pipe.Run(seq, new JsonObject { ["candidate_labels"] = 3 })).Message);
    }
}
