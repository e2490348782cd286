using System.Text.Json.Nodes;
using DebertaSharp.Tests.Modeling;
using DebertaSharp.Training;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// The Trainer's masked-LM training step runs the prediction head on the labelled rows only
/// (<c>DebertaForMaskedLM.LogitsAtLabelsOnly</c>): its loss must be Hugging Face's, and its gradients those of the full
/// [B, L, V] product.
/// </summary>
public sealed class MaskedLMTrainingStepTests
{
    public static TheoryData<string> MaskedLMFixtures() =>
    [
        "models/rel_c2p_p2c/masked_lm", "models/abs_token_type/masked_lm", "extra/models/rel_c2p_silu/masked_lm",
        "models/rel_c2p_clamped/masked_lm", "extra/models/abs_mish_eps/masked_lm",
    ];

    /// <summary>The fixture folder with every dropout set to 0, so that train mode computes what Hugging Face's eval did.</summary>
    private static string WithoutDropout(string fixture)
    {
        string src = TestPaths.Fixture(fixture.Split('/'));
        string dir = Path.Combine(Path.GetTempPath(), "debertasharp-mlmstep-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        foreach (string key in new[] { "hidden_dropout_prob", "attention_probs_dropout_prob", "pooler_dropout", "cls_dropout" })
            if (config.ContainsKey(key)) config[key] = 0.0;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }

    [Theory]
    [MemberData(nameof(MaskedLMFixtures))]
    public void LabelledRowsOnly_Gives_HuggingFaces_Loss_And_The_Full_Gradients(string fixture)
    {
        string dir = WithoutDropout(fixture);
        var expected = ParityAssert.Load(Path.Combine(dir, "expected_padded.safetensors"));
        try
        {
            using var model = DebertaForMaskedLM.FromPretrained(dir);
            model.train();
            var inputs = ParityAssert.Inputs(expected, outputs: false);
            Assert.NotNull(inputs.Labels);
            long labelled = inputs.Labels!.ne(-100).sum().item<long>();
            Assert.InRange(labelled, 1, inputs.Labels.numel() - 1);   // a real subset, or the test would show nothing

            Dictionary<string, Tensor> Step(bool atLabelsOnly, out float loss, out long[] logitsShape)
            {
                model.LogitsAtLabelsOnly = atLabelsOnly;
                model.zero_grad();
                using var scope = NewDisposeScope();
                var output = model.Forward(inputs);
                output.Loss!.backward();
                loss = output.Loss.item<float>();
                logitsShape = output.NamedTensors().Single(kv => kv.Key == "logits").Value.shape;
                return model.named_parameters().Where(p => p.parameter.grad is not null)
                    .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone().DetachFromDisposeScope());
            }

            var full = Step(false, out float fullLoss, out long[] fullShape);
            var rows = Step(true, out float rowsLoss, out long[] rowsShape);
            model.LogitsAtLabelsOnly = false;
            Assert.Equal(expected["output.logits"].shape, fullShape);
            Assert.Equal(new[] { labelled, expected["output.logits"].shape[^1] }, rowsShape);
            // Hugging Face's loss (its eval forward, which without dropout is the train forward).
            ParityAssert.Loss(expected["output.loss"], tensor(rowsLoss));
            Assert.True(Math.Abs(fullLoss - rowsLoss) <= 1e-6 * Math.Max(1, Math.Abs(fullLoss)), $"loss {rowsLoss} against the full product's {fullLoss}");
            Assert.Equal(full.Keys.Order(), rows.Keys.Order());
            foreach (var (name, g) in full)
                ParityAssert.Close("grad." + name, g, rows[name], 1e-6);
            ParityAssert.DisposeAll(full.Values);
            ParityAssert.DisposeAll(rows.Values);
        }
        finally
        {
            ParityAssert.DisposeAll(expected.Values);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Only_Training_Mode_With_Labels_Takes_The_Rows_Path()
    {
        string dir = WithoutDropout("models/rel_c2p_p2c/masked_lm");
        var expected = ParityAssert.Load(Path.Combine(dir, "expected_padded.safetensors"));
        try
        {
            using var model = DebertaForMaskedLM.FromPretrained(dir);
            model.LogitsAtLabelsOnly = true;
            using var scope = NewDisposeScope();
            model.eval();   // evaluation (the Trainer's evaluate and predict) keeps Hugging Face's [B, L, V] logits
            var evalOut = model.Forward(ParityAssert.Inputs(expected, outputs: false));
            ParityAssert.Close("logits", expected["output.logits"], evalOut.NamedTensors().Single(kv => kv.Key == "logits").Value);
            model.train();  // no labels: nothing to select
            var noLabels = model.Forward(ParityAssert.Inputs(expected, outputs: false) with { Labels = null });
            Assert.Equal(expected["output.logits"].shape, noLabels.NamedTensors().Single(kv => kv.Key == "logits").Value.shape);
        }
        finally
        {
            ParityAssert.DisposeAll(expected.Values);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Trainer_Switches_It_On_For_Training_Only()
    {
        using var model = DebertaForMaskedLM.FromPretrained(TestPaths.Fixture("models", "rel_c2p_p2c", "masked_lm"));
        var expected = ParityAssert.Load(TestPaths.Fixture("models", "rel_c2p_p2c", "masked_lm", "expected_padded.safetensors"));
        string output = Path.Combine(Path.GetTempPath(), "debertasharp-mlmstep-" + Guid.NewGuid().ToString("N"));
        try
        {
            var ids = expected["input.input_ids"];
            var mask = expected["input.attention_mask"];
            var labels = expected["input.labels"];
            var features = Enumerable.Range(0, (int)ids.shape[0]).Select(i => new TrainingFeature
            {
                InputIds = [.. ids[i].data<long>().Select(v => (int)v)], AttentionMask = [.. mask[i].data<long>().Select(v => (int)v)],
                TokenLabels = [.. labels[i].data<long>().Select(v => (int)v)],
            }).ToList();
            var args = new TrainingArguments { OutputDir = output, MaxSteps = 2, PerDeviceTrainBatchSize = 3, SaveStrategy = IntervalStrategy.No };
            var seen = new List<bool>();
            using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features);
            trainer.Progress += _ => seen.Add(model.LogitsAtLabelsOnly);
            trainer.Train();
            Assert.Equal([true, true], seen);
            Assert.False(model.LogitsAtLabelsOnly);
        }
        finally
        {
            ParityAssert.DisposeAll(expected.Values);
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }
}
