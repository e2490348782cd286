using DebertaSharp.Serialization;
using DebertaSharp.Tests.Modeling;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Cli;

/// <summary><c>deberta convert --dtype</c>: what <c>model.to(dtype).save_pretrained()</c> writes.</summary>
public sealed class ConvertDtypeTests
{
    /// <summary>fp32 checkpoint to float16: the weights equal Hugging Face's own <c>.half()</c> copy (formats/safetensors_fp16)
    /// bit for bit, config.json says float16, and an fp32 forward of it reproduces Hugging Face's fp16-weights output.</summary>
    [Fact]
    public void Float16_Equals_HuggingFaces_Half_Weights()
    {
        using var tmp = TestPaths.TempDir();
        var (code, stdout, err) = ForwardCommandTests.RunInProcess(["convert", "--model", TestPaths.Fixture("formats", "safetensors_fp32"),
            "--to", "pt", "--dtype", "float16", "--output", tmp["fp16"]]);
        Assert.True(code == 0, err);
        Assert.Contains("(float16)", stdout);
        var mine = SafeTensors.Load(Path.Combine(tmp["fp16"], "model.safetensors"));
        var hf = SafeTensors.Load(Path.Combine(TestPaths.Fixture("formats", "safetensors_fp16"), "model.safetensors"));
        try
        {
            Assert.Equal(hf.Keys.Order(StringComparer.Ordinal), mine.Keys.Order(StringComparer.Ordinal));
            foreach (var (k, t) in hf)
            {
                Assert.Equal(t.dtype, mine[k].dtype);
                Assert.True(t.eq(mine[k]).all().item<bool>(), k);
            }
            Assert.Contains("\"dtype\": \"float16\"", File.ReadAllText(Path.Combine(tmp["fp16"], "config.json")));
            using var model = DebertaPreTrainedModel.FromPretrained(tmp["fp16"], ScalarType.Float32);
            var expected = ParityAssert.Load(TestPaths.Fixture("formats", "expected_fp16_weights_fp32_compute.safetensors"));
            try
            {
                using var scope = NewDisposeScope();
                model.eval();
                using var noGrad = no_grad();
                var output = model.Forward(ParityAssert.Inputs(expected));
                ParityAssert.Close("logits", expected["output.logits"], output.NamedTensors().Single(kv => kv.Key == "logits").Value);
            }
            finally { ParityAssert.DisposeAll(expected.Values); }
        }
        finally
        {
            ParityAssert.DisposeAll(mine.Values);
            ParityAssert.DisposeAll(hf.Values);
        }
    }

    [Fact]
    public void Tf_Refuses_A_Non_Float32_Dtype_And_Writes_Nothing()
    {
        using var tmp = TestPaths.TempDir();
        var (code, _, err) = ForwardCommandTests.RunInProcess(["convert", "--model", TestPaths.Fixture("formats", "safetensors_fp32"),
            "--to", "tf", "--dtype", "bfloat16", "--output", tmp["tf"]]);
        Assert.Equal(2, code);
        Assert.Contains("--dtype bfloat16", err);
        Assert.False(Directory.Exists(tmp["tf"]) && Directory.EnumerateFileSystemEntries(tmp["tf"]).Any());
    }
}
