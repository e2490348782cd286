using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Fixtures/gradients (one backward in train mode, dropout 0) and Fixtures/formats (every checkpoint format).</summary>
public sealed class GradientAndFormatTests(ITestOutputHelper log)
{
    /// <summary>Also with the relative terms computed in blocks of 2 and 3 rows (DebertaEncoder.RelativeBandRows; by
    /// default only inputs over 128 tokens are), so that their backward is checked against the fixture too.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    public void Gradients_Match_HuggingFace(long bandRows)
    {
        string dir = TestPaths.Fixture("gradients");
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        Assert.Equal(DebertaHead.SequenceClassification, model.Head);
        if (bandRows > 0) model.Backbone.Encoder.RelativeBandRows = bandRows;
        model.train();
        var expected = ParityAssert.Load(Path.Combine(dir, "expected.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            var output = model.Forward(ParityAssert.Inputs(expected, outputs: false));
            ParityAssert.Loss(expected["output.loss"], output.Loss!);
            ParityAssert.Close("logits", expected["output.logits"], output.NamedTensors().Single(kv => kv.Key == "logits").Value);
            output.Loss!.backward();
            int checkedCount = 0;
            double max = 0;
            foreach (var (name, p) in model.named_parameters())
            {
                Assert.True(expected.TryGetValue("grad." + name, out var g), $"the fixture has no gradient for '{name}'");
                Assert.NotNull(p.grad);
                ParityAssert.Close("grad." + name, g!, p.grad!);
                max = Math.Max(max, ParityAssert.MaxAbsDiff(g!, p.grad!));
                checkedCount++;
            }
            Assert.Equal(expected.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)), checkedCount);
            log.WriteLine($"gradients: {checkedCount} parameters, max abs diff {max:E2}");
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    public static TheoryData<string> Formats()
    {
        var data = new TheoryData<string>();
        foreach (string d in Directory.GetDirectories(TestPaths.Fixture("formats")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(d));
        return data;
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Format_Loads_And_Matches(string format)
    {
        string dir = TestPaths.Fixture("formats", format);
        string expectedFile = format switch
        {
            "safetensors_fp16" => "expected_fp16_weights_fp32_compute",
            "safetensors_bf16" => "expected_bf16_weights_fp32_compute",
            _ => "expected_fp32",
        };
        using var model = DebertaPreTrainedModel.FromPretrained(dir, dtype: ScalarType.Float32);
        Assert.Equal(DebertaHead.MaskedLM, model.Head);
        Assert.NotNull(model.LoadReport);
        Assert.Empty(model.LoadReport!.MissingKeys);
        Assert.Empty(model.LoadReport.UnexpectedKeys);
        Assert.Equal("legacy", model.LoadReport.MaskedLMHead);
        if (format.StartsWith("bin_", StringComparison.Ordinal))
        {
            // torch.save(state_dict()) keeps the tied decoder copies: dropped on purpose, not unexpected.
            Assert.Contains("cls.predictions.decoder.weight", model.LoadReport.IgnoredKeys);
            Assert.Contains("cls.predictions.decoder.bias", model.LoadReport.IgnoredKeys);
        }
        if (format == "safetensors_sharded") Assert.Equal(8, model.LoadReport.FilesRead.Count);   // the index and 7 shards
        var expected = ParityAssert.Load(TestPaths.Fixture("formats", expectedFile + ".safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            double max = ParityAssert.Matches(expected, model.Forward(ParityAssert.Inputs(expected, outputs: false)));
            log.WriteLine($"{format}: files {string.Join(", ", model.LoadReport.FilesRead.Select(Path.GetFileName))}; max abs diff {max:E2}");
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Theory]
    [InlineData("safetensors_fp16", ScalarType.Float16)]
    [InlineData("safetensors_bf16", ScalarType.BFloat16)]
    [InlineData("safetensors_fp32", ScalarType.Float32)]
    public void Dtype_Defaults_To_The_Checkpoint_Dtype(string format, ScalarType dtype)
    {
        using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("formats", format));
        Assert.Equal(dtype, model.LoadReport!.CheckpointDtype);
        Assert.Equal(dtype, model.LoadReport.ModelDtype);
        Assert.All(model.parameters(), p => Assert.Equal(dtype, p.dtype));
        string reference = dtype switch
        {
            ScalarType.Float16 => "expected_fp16_weights_fp32_compute",
            ScalarType.BFloat16 => "expected_bf16_weights_fp32_compute",
            _ => "expected_fp32",
        };
        var expected = ParityAssert.Load(TestPaths.Fixture("formats", reference + ".safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = (MaskedLMOutput)model.Forward(ParityAssert.Inputs(expected, outputs: true));
            Assert.Equal(dtype, output.Logits.dtype);
            Assert.All(output.HiddenStates!, h => Assert.Equal(dtype, h.dtype));
            // Half precision: close to the same weights run in fp32, at the real (unpadded) positions.
            var mask = expected["input.attention_mask"].to(ScalarType.Bool).unsqueeze(-1);
            var diff = (output.Logits.to(ScalarType.Float32) - expected["output.logits"]).abs().masked_fill(mask.logical_not(), 0).max().item<float>();
            Assert.True(float.IsFinite(diff) && diff < dtype switch { ScalarType.Float32 => 1e-4f, ScalarType.Float16 => 1e-2f, _ => 5e-2f }, $"{dtype}: max abs diff {diff}");
            log.WriteLine($"{format} run in {dtype}: max abs logits diff vs the same weights in fp32 {diff:E2}");
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Fact]
    public void Half_Checkpoint_Saves_In_Its_Dtype()
    {
        using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("formats", "safetensors_fp16"));
        using var tmp = TestPaths.TempDir();
        model.SavePretrained(tmp.Path);
        Assert.All(DebertaSharp.Serialization.SafeTensors.ReadHeader(tmp["model.safetensors"]).Tensors, t => Assert.Equal("F16", t.Dtype));
        Assert.Equal("float16", (string)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp["config.json"]))!["dtype"]!);
        using var back = DebertaPreTrainedModel.FromPretrained(tmp.Path);
        Assert.Equal(ScalarType.Float16, back.LoadReport!.ModelDtype);
        using var f32 = DebertaPreTrainedModel.FromPretrained(tmp.Path, dtype: ScalarType.Float32);
        Assert.All(f32.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }
}
