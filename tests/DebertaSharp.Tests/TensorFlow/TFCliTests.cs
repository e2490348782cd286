using DebertaSharp.Serialization;
using DebertaSharp.Tests.Cli;
using DebertaSharp.Tests.Modeling;
using DebertaSharp.Tests.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.TensorFlow;

/// <summary><c>deberta forward --framework</c> and <c>deberta convert</c>.</summary>
public class TFCliTests
{
    /// <summary>Inputs of a fixture without labels (the TF loss rules are tested elsewhere).</summary>
    private static string InputsOnly(TempDir tmp, string expected)
    {
        using var t = new SerializationTestUtil.Owned(SafeTensors.Load(expected));
        string path = tmp["inputs.safetensors"];
        SafeTensors.Save(path, t.Dict.Where(kv => kv.Key is "input.input_ids" or "input.attention_mask" or "input.token_type_ids").ToList());
        return path;
    }

    /// <summary>A folder holding only tf_model.h5 (written by h5py) runs through the TF classes by default and matches Hugging Face at real positions.</summary>
    [Theory]
    [InlineData("rel_c2p_p2c/sequence_classification", "expected_padded.safetensors", null)]
    [InlineData("abs_token_type/token_classification", "expected_padded.safetensors", "tf")]
    [InlineData("rel_c2p_clamped/masked_lm", "expected_long.safetensors", null)]
    [InlineData("rel_p2c_embed_proj/question_answering", "expected_single.safetensors", "tf")]
    public void ForwardTfOnIndependentH5(string variantHead, string expectedFile, string? framework)
    {
        using var tmp = TestPaths.TempDir();
        string expected = TestPaths.Fixture("models", variantHead, expectedFile);
        var args = new List<string> { "forward", "--model", TestPaths.Fixture("tf_h5", variantHead), "--inputs", InputsOnly(tmp, expected), "--output", tmp["out.safetensors"] };
        if (framework is not null) args.AddRange(["--framework", framework]);
        var want = SafeTensors.Load(expected);
        try
        {
            // Ask for every output the fixture has, so that each one is compared.
            if (want.Keys.Any(k => k.StartsWith("output.hidden_states.", StringComparison.Ordinal))) args.Add("--output-hidden-states");
            if (want.Keys.Any(k => k.StartsWith("output.attentions.", StringComparison.Ordinal))) args.Add("--output-attentions");
            var (code, stdout, err) = ForwardCommandTests.RunInProcess([.. args]);
            Assert.True(code == 0, err);
            Assert.StartsWith("TFDeberta", stdout);
            var got = SafeTensors.Load(tmp["out.safetensors"]);
            try
            {
                // Every output of the fixture (but the loss: no labels are given) and nothing else, before the values.
                Assert.Equal(want.Keys.Where(k => k.StartsWith("output.", StringComparison.Ordinal) && k != "output.loss").Order(StringComparer.Ordinal),
                    got.Keys.Where(k => k.StartsWith("output.", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
                using var scope = NewDisposeScope();
                var real = (want.GetValueOrDefault("input.attention_mask") ?? ones_like(want["input.input_ids"])).ne(0);
                foreach (var (key, g) in got)
                {
                    var (w, gReal) = TFParityTests.AtRealPositions(key["output.".Length..], want[key], g, real);
                    ParityAssert.Close(key, w, gReal);
                }
            }
            finally { ParityAssert.DisposeAll(got.Values); }
        }
        finally { ParityAssert.DisposeAll(want.Values); }
    }

    /// <summary>--framework pt on a folder with only tf_model.h5 is an error that names the way out.</summary>
    [Fact]
    public void ForwardPtOnTfOnlyFolderExplains()
    {
        using var tmp = TestPaths.TempDir();
        string expected = TestPaths.Fixture("models", "rel_c2p_p2c", "base", "expected_single.safetensors");
        var (code, _, err) = ForwardCommandTests.RunInProcess(["forward", "--model", TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base"),
            "--inputs", InputsOnly(tmp, expected), "--output", tmp["out.safetensors"], "--framework", "pt"]);
        Assert.NotEqual(0, code);
        Assert.Contains("tf_model.h5", err);
    }

    /// <summary>convert --to tf then --to pt: the PyTorch weights come back bit for bit; forward --framework tf on the h5 matches pt.</summary>
    [Fact]
    public void ConvertRoundTrip()
    {
        using var tmp = TestPaths.TempDir();
        string src = TestPaths.Fixture("models", "rel_c2p_p2c", "token_classification");
        var (code, stdout, err) = ForwardCommandTests.RunInProcess(["convert", "--model", src, "--to", "tf", "--output", tmp["tf"]]);
        Assert.True(code == 0, err);
        Assert.Contains("tf_model.h5", stdout);
        Assert.True(File.Exists(Path.Combine(tmp["tf"], "config.json")));
        Assert.False(File.Exists(Path.Combine(tmp["tf"], "model.safetensors")));
        (code, _, err) = ForwardCommandTests.RunInProcess(["convert", "--model", tmp["tf"], "--to", "pt", "--output", tmp["pt"]]);
        Assert.True(code == 0, err);
        using var original = new SerializationTestUtil.Owned(SafeTensors.Load(Path.Combine(src, "model.safetensors")));
        using var back = new SerializationTestUtil.Owned(SafeTensors.Load(Path.Combine(tmp["pt"], "model.safetensors")));
        Assert.Equal(original.Dict.Keys.Order(StringComparer.Ordinal), back.Dict.Keys.Order(StringComparer.Ordinal));
        using (var scope = NewDisposeScope())
            foreach (var (k, t) in original.Dict) Assert.True(t.eq(back[k]).all().item<bool>(), k);
        // Only temporary files never left behind.
        Assert.Equal(["config.json", "tf_model.h5"], Directory.GetFiles(tmp["tf"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ConvertBadH5NamesFileAndWeight()
    {
        using var tmp = TestPaths.TempDir();
        var (code, _, err) = ForwardCommandTests.RunInProcess(["convert", "--model", TestPaths.Fixture("tf_h5", "bad", "misshaped"), "--to", "pt", "--output", tmp.Path]);
        Assert.Equal(1, code);
        Assert.Contains("tf_model.h5", err);
        Assert.Contains("in_proj/kernel:0", err);
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }
}
