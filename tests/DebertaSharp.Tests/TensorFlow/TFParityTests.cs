using DebertaSharp.Tests.Cli;
using DebertaSharp.Tests.Modeling;
using DebertaSharp.Tests.Serialization;
using DebertaSharp.TensorFlow;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.TensorFlow;

/// <summary>
/// The TF family against the Hugging Face fixtures (PyTorch outputs of transformers 5.17): at real (unpadded) positions
/// the outputs must agree within 1e-4, through tf_model.h5 files written by DebertaSharp (converted from the fixture
/// checkpoints) and by h5py (Fixtures/tf_h5, see its README).
/// </summary>
public class TFParityTests
{
    /// <summary>Every model fixture: PyTorch checkpoint → TF class (fromPt) → tf_model.h5 → TF class → Call.</summary>
    [Theory]
    [MemberData(nameof(ForwardCommandTests.ModelCases), MemberType = typeof(ForwardCommandTests))]
    public void ConvertedCheckpointReproducesHuggingFace(string modelDir, string expectedFile)
    {
        using var tmp = TestPaths.TempDir();
        using (var converted = TFDebertaPreTrainedModel.FromPretrained(TestPaths.Fixture(modelDir), fromPt: true))
            converted.SavePretrained(tmp.Path);
        Assert.True(File.Exists(tmp["tf_model.h5"]));
        using var model = TFDebertaPreTrainedModel.FromPretrained(tmp.Path);
        AssertReproduces(model, TestPaths.Fixture(modelDir, expectedFile));
    }

    public static TheoryData<string, string> IndependentH5Cases()
    {
        var data = new TheoryData<string, string>();
        string root = TestPaths.Fixture("tf_h5");
        foreach (string dir in Directory.GetDirectories(root).Where(d => Path.GetFileName(d) != "bad").SelectMany(Directory.GetDirectories).Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(root, dir);
            foreach (string f in Directory.GetFiles(TestPaths.Fixture("models", rel), "expected*.safetensors").Order(StringComparer.Ordinal))
                data.Add(rel, Path.GetFileName(f));
        }
        return data;
    }

    /// <summary>tf_model.h5 files written by h5py in Keras's layout load into the TF classes and reproduce Hugging Face.</summary>
    [Theory]
    [MemberData(nameof(IndependentH5Cases))]
    public void IndependentH5ReproducesHuggingFace(string variantHead, string expectedFile)
    {
        using var model = TFDebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("tf_h5", variantHead));
        Assert.Empty(model.LoadReport!.MissingKeys);
        Assert.Empty(model.LoadReport.UnexpectedKeys);
        AssertReproduces(model, TestPaths.Fixture("models", variantHead, expectedFile));
    }

    /// <summary>A PyTorch class from the h5py-written tf_model.h5 (FromTf) reproduces the fixture everywhere, padding included.</summary>
    [Theory]
    [MemberData(nameof(IndependentH5Cases))]
    public void PyTorchClassFromIndependentH5ReproducesHuggingFace(string variantHead, string expectedFile)
    {
        using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("tf_h5", variantHead), options: new PretrainedLoadOptions { FromTf = true });
        Assert.Empty(model.LoadReport!.MissingKeys);
        Assert.Empty(model.LoadReport.UnexpectedKeys);
        using var fixture = new SerializationTestUtil.Owned(ParityAssert.Load(TestPaths.Fixture("models", variantHead, expectedFile)));
        var expected = fixture.Dict;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var output = model.Forward(ParityAssert.CaseInputs(expected));
        ParityAssert.Matches(expected, output);
    }

    /// <summary>Outputs at real positions within 1e-4 and the TF loss rules checked against the fixture.</summary>
    internal static void AssertReproduces(TFDebertaPreTrainedModel model, string expectedPath)
    {
        using var fixture = new SerializationTestUtil.Owned(ParityAssert.Load(expectedPath));
        var expected = fixture.Dict;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = ParityAssert.CaseInputs(expected) with { Labels = null, StartPositions = null, EndPositions = null };
        var got = model.Call(inputs).NamedTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
        var ids = expected.GetValueOrDefault("input.input_ids")!;
        var real = (expected.GetValueOrDefault("input.attention_mask") ?? ones_like(ids)).ne(0);   // [B, L]
        int compared = 0;
        foreach (var (key, want) in expected.Where(kv => kv.Key.StartsWith("output.", StringComparison.Ordinal) && kv.Key != "output.loss"))
        {
            string name = key["output.".Length..];
            Assert.True(got.ContainsKey(name), $"{expectedPath}: the TF model produced no {name}");
            var (w, g) = AtRealPositions(name, want, got[name], real);
            ParityAssert.Close($"{expectedPath}: {name}", w, g);
            compared++;
        }
        Assert.True(compared > 0);
        if (expected.TryGetValue("output.loss", out var loss)) AssertTFLoss(model, expected, inputs, loss, expectedPath);
    }

    /// <summary>Rows of real tokens: [B, L, ...] outputs at real (b, l); attentions at real query rows; [B, C] logits whole.</summary>
    internal static (Tensor Want, Tensor Got) AtRealPositions(string name, Tensor want, Tensor got, Tensor real)
    {
        // Hugging Face's PyTorch head flattens one-label logits to [B] when labels are given; the TF head keeps [B, 1].
        if (name == "logits" && want.dim() == 1 && got.dim() == 2 && got.shape[1] == 1) want = want.unsqueeze(1);
        Assert.Equal(want.shape, got.shape);
        if (name.StartsWith("attentions.", StringComparison.Ordinal))
            return (want.permute(0, 2, 1, 3)[real], got.permute(0, 2, 1, 3)[real]);           // [N, heads, L]
        bool perToken = want.dim() == 3 || name is "start_logits" or "end_logits";
        if (perToken) return (want[real], got[real]);                                        // [N, ...]
        return (want, got);                                                                  // [B, num_labels]
    }

    /// <summary>
    /// The TF loss mixins against Hugging Face's numbers: masked LM and token classification ([1]) equal the PyTorch
    /// mean over kept labels; sequence classification ([B]) averages to it; question answering ([B]) is, per example,
    /// the mean of the start and end cross-entropies of Hugging Face's logits, and out-of-range positions are refused.
    /// </summary>
    private static void AssertTFLoss(TFDebertaPreTrainedModel model, Dictionary<string, Tensor> expected, DebertaInputs inputs, Tensor loss, string path)
    {
        switch (model)
        {
            case TFDebertaForMaskedLM or TFDebertaForTokenClassification:
            {
                var tfLoss = model.Call(inputs with { Labels = expected["input.labels"] }).Loss!;
                Assert.Equal([1L], tfLoss.shape);
                ParityAssert.Loss(loss, tfLoss);
                break;
            }
            case TFDebertaForSequenceClassification:
            {
                var labels = expected["input.labels"];
                if (labels.is_floating_point() && labels.dim() == 2 && labels.shape[1] > 1)
                {
                    // multi_label_classification: TFSequenceClassificationLoss has no BCE rule; it is refused.
                    Assert.Throws<ArgumentException>(() => model.Call(inputs with { Labels = labels }));
                    break;
                }
                if (!labels.is_floating_point() && labels.lt(0).any().item<bool>())
                {
                    // The PyTorch head skips negative labels; Keras's sparse cross-entropy refuses them (on CPU).
                    Assert.Throws<ArgumentOutOfRangeException>(() => model.Call(inputs with { Labels = labels }));
                    break;
                }
                var tfLoss = model.Call(inputs with { Labels = labels }).Loss!;
                Assert.Equal([labels.shape[0]], tfLoss.shape);
                ParityAssert.Loss(loss, tfLoss.mean());
                break;
            }
            case TFDebertaForQuestionAnswering:
            {
                var start = expected["input.start_positions"];
                var end = expected["input.end_positions"];
                long l = expected["input.input_ids"].shape[1];
                bool outOfRange = start.lt(0).any().item<bool>() || start.ge(l).any().item<bool>() || end.lt(0).any().item<bool>() || end.ge(l).any().item<bool>();
                if (outOfRange)
                    Assert.Throws<ArgumentOutOfRangeException>(() => model.Call(inputs with { StartPositions = start, EndPositions = end }));
                var s = start.clamp(0, l - 1);
                var e = end.clamp(0, l - 1);
                var tfLoss = model.Call(inputs with { StartPositions = s, EndPositions = e }).Loss!;
                Assert.Equal([start.shape[0]], tfLoss.shape);
                var hfStart = expected["output.start_logits"].to(ScalarType.Float64);
                var hfEnd = expected["output.end_logits"].to(ScalarType.Float64);
                var ce = (hfStart.logsumexp(1) - hfStart.gather(1, s.unsqueeze(1)).squeeze(1)
                          + hfEnd.logsumexp(1) - hfEnd.gather(1, e.unsqueeze(1)).squeeze(1)) / 2;          // [B]
                // Rows with padding differ: the TF loss takes the softmax over every position, and the logits at padded
                // positions are not Hugging Face's (see the masked softmax); unpadded rows must agree.
                var full = (expected.GetValueOrDefault("input.attention_mask") ?? ones_like(expected["input.input_ids"])).ne(0).all(1);   // [B]
                Assert.True(full.any().item<bool>(), $"{path}: no row without padding, so the TF QA loss is not compared");
                ParityAssert.Close($"{path}: TF QA loss", ce[full], tfLoss[full], 1e-5);
                break;
            }
        }
    }
}
