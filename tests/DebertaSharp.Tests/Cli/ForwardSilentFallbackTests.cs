using System.Text.Json.Nodes;
using DebertaSharp.Serialization;
using DebertaSharp.Tests.Modeling;
using TorchSharp;

using static DebertaSharp.Tests.Cli.ForwardCommandTests;

namespace DebertaSharp.Tests.Cli;

/// <summary>
/// <c>deberta forward</c> on checkpoints and inputs it used to run with a silent fallback (issue 13, item 3): each is
/// exit 1 with an error naming the key and the value, and the previous output file is left as it was.
/// </summary>
public class ForwardSilentFallbackTests
{
    private static readonly string MaskedLM = TestPaths.Fixture("models", "rel_c2p_p2c", "masked_lm");
    private static readonly string Inputs = Path.Combine(MaskedLM, "expected_single.safetensors");   // has input.labels

    [Fact]
    public void ArchitecturesTypo_IsAnError_NamingTheKeyAndTheHeadFlag()
    {
        using var ckpt = SilentFallbackTests.CheckpointWith("rel_c2p_p2c", "masked_lm", c => c["architectures"] = new JsonArray("DebertaForMaskedLMM"));
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["o.safetensors"], "previous");
        var (code, stdout, err) = RunInProcess(["forward", "--model", ckpt.Path, "--inputs", Inputs, "--output", tmp["o.safetensors"]]);
        Assert.Equal(1, code);
        Assert.Contains("architectures", err);
        Assert.Contains("DebertaForMaskedLMM", err);
        Assert.Contains("--head", err);
        Assert.Equal("", stdout);
        Assert.Equal("previous", File.ReadAllText(tmp["o.safetensors"]));

        // --head says which class to build: Hugging Face's masked-LM outputs, loss included (the labels are used).
        (code, _, err) = RunInProcess(["forward", "--model", ckpt.Path, "--inputs", Inputs, "--output", tmp["o.safetensors"], "--head", "masked-lm"]);
        Assert.True(code == 0, err);
        var got = SafeTensors.Load(tmp["o.safetensors"]);
        var want = SafeTensors.Load(Inputs);
        Assert.Contains("output.loss", got.Keys);
        ParityAssert.Close("logits", want["output.logits"], got["output.logits"]);
        ParityAssert.Loss(want["output.loss"], got["output.loss"]);
    }

    [Theory]
    [InlineData("deberta-v2")]
    [InlineData("bert")]
    public void ModelTypeOtherThanDeberta_IsAnError(string modelType)
    {
        using var ckpt = SilentFallbackTests.CheckpointWith("rel_c2p_p2c", "masked_lm", c => c["model_type"] = modelType);
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["o.safetensors"], "previous");
        foreach (string head in new[] { "auto", "masked-lm" })
        {
            var (code, _, err) = RunInProcess(["forward", "--model", ckpt.Path, "--inputs", Inputs, "--output", tmp["o.safetensors"], "--head", head]);
            Assert.Equal(1, code);
            Assert.Contains("model_type", err);
            Assert.Contains($"'{modelType}'", err);
            Assert.Equal("previous", File.ReadAllText(tmp["o.safetensors"]));
        }
    }

    [Fact]
    public void FloatLabels_ForTheMaskedLM_AreAnError_NamingLabelsAndTheirDtype()
    {
        using var tmp = TestPaths.TempDir();
        var file = SafeTensors.Load(Inputs);
        SafeTensors.Save(tmp["float_labels.safetensors"],
        [
            new("input.input_ids", file["input.input_ids"]),
            new("input.attention_mask", file["input.attention_mask"]),
            new("input.labels", file["input.labels"].to(torch.ScalarType.Float32)),
        ]);
        File.WriteAllText(tmp["o.safetensors"], "previous");
        var (code, _, err) = RunInProcess(["forward", "--model", MaskedLM, "--inputs", tmp["float_labels.safetensors"], "--output", tmp["o.safetensors"]]);
        Assert.Equal(1, code);
        Assert.Contains("labels", err);
        Assert.Contains("Float32", err);
        Assert.Contains("float_labels.safetensors", err);
        Assert.Equal("previous", File.ReadAllText(tmp["o.safetensors"]));
    }
}
