using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

using static DebertaSharp.Tests.Modeling.TinyConfigs;

namespace DebertaSharp.Tests.Modeling;

/// <summary>
/// Inputs that used to be accepted with a silent fallback: an <c>architectures</c> list naming no DeBERTa class, a
/// <c>model_type</c> other than <c>deberta</c>, and floating-point labels for the class-id losses. Each is an error
/// naming the key and the value.
/// </summary>
public sealed class SilentFallbackTests
{
    /// <summary>A copy of a fixture checkpoint whose config.json is edited.</summary>
    internal static TempDir CheckpointWith(string variant, string head, Action<JsonObject> edit)
    {
        var tmp = TestPaths.TempDir();
        string src = TestPaths.Fixture("models", variant, head);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        edit(cfg);
        File.WriteAllText(tmp["config.json"], cfg.ToJsonString());
        File.Copy(Path.Combine(src, "model.safetensors"), tmp["model.safetensors"]);
        return tmp;
    }

    [Fact]
    public void Architectures_NamingNoDebertaClass_IsAnError_UnlessTheHeadIsGiven()
    {
        using var tmp = CheckpointWith("rel_c2p_p2c", "masked_lm", c => c["architectures"] = new JsonArray("DebertaForMaskedLMM"));
        var e = Assert.Throws<DebertaConfigException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Equal("architectures", e.Key);
        Assert.Equal(tmp["config.json"], e.FilePath);
        Assert.Contains("DebertaForMaskedLMM", e.Message);
        Assert.Contains("DebertaForMaskedLM,", e.Message);   // the known class names are listed

        // An explicit class (the typed FromPretrained, the head argument, training's reload) still loads.
        using (var typed = DebertaForMaskedLM.FromPretrained(tmp.Path))
            Assert.Empty(typed.LoadReport!.MissingKeys);
        using (var m = DebertaPreTrainedModel.FromPretrained(tmp.Path, head: DebertaHead.MaskedLM))
            Assert.IsType<DebertaForMaskedLM>(m);
        using (var b = DebertaPreTrainedModel.FromPretrained(tmp.Path, head: DebertaHead.Base))
            Assert.Equal(DebertaHead.Base, b.Head);
    }

    [Fact]
    public void Architectures_WithADebertaClassAmongOthers_PicksIt_AndEmptyMeansTheBaseModel()
    {
        using (var tmp = CheckpointWith("rel_c2p_p2c", "masked_lm", c => c["architectures"] = new JsonArray("SomethingElse", "DebertaForMaskedLM")))
        using (var m = DebertaPreTrainedModel.FromPretrained(tmp.Path))
            Assert.Equal(DebertaHead.MaskedLM, m.Head);
        using (var tmp = CheckpointWith("rel_c2p_p2c", "base", c => c["architectures"] = new JsonArray()))
        using (var m = DebertaPreTrainedModel.FromPretrained(tmp.Path))
            Assert.Equal(DebertaHead.Base, m.Head);
        using (var tmp = CheckpointWith("rel_c2p_p2c", "base", c => c["architectures"] = null))
        using (var m = DebertaPreTrainedModel.FromPretrained(tmp.Path))
            Assert.Equal(DebertaHead.Base, m.Head);
    }

    [Theory]
    [InlineData("deberta-v2")]
    [InlineData("bert")]
    [InlineData("Deberta")]
    public void ModelType_OtherThanDeberta_IsAnError(string modelType)
    {
        using var tmp = CheckpointWith("rel_c2p_p2c", "masked_lm", c => c["model_type"] = modelType);
        foreach (var load in new Func<DebertaPreTrainedModel>[]
                 {
                     () => DebertaPreTrainedModel.FromPretrained(tmp.Path),
                     () => DebertaForMaskedLM.FromPretrained(tmp.Path),
                     () => DebertaPreTrainedModel.FromPretrained(tmp.Path, head: DebertaHead.Base),
                 })
        {
            var e = Assert.Throws<DebertaConfigException>(load);
            Assert.Equal("model_type", e.Key);
            Assert.Equal(tmp["config.json"], e.FilePath);
            Assert.Contains($"'{modelType}'", e.Message);
        }
        var v = Assert.Throws<DebertaConfigException>(() => DebertaConfig.FromJson($$"""{"model_type": "{{modelType}}"}""").Validate());
        Assert.Equal("model_type", v.Key);
        Assert.Equal("deberta", DebertaConfig.FromJson("{}").ModelType);   // absent: DeBERTa's own default
        DebertaConfig.FromJson("{}").Validate();
    }

    [Theory]
    [InlineData("dtype", "flaot32")]
    [InlineData("dtype", "int8")]
    [InlineData("torch_dtype", "float8_e4m3fn")]
    [InlineData("torch_dtype", "Float32")]
    public void Dtype_NamingNoModelDtype_IsAnError_UnlessADtypeIsRequested(string key, string value)
    {
        using var tmp = CheckpointWith("rel_c2p_p2c", "base", c =>
        {
            c.Remove("dtype");
            c.Remove("torch_dtype");
            c[key] = value;
        });
        var e = Assert.Throws<DebertaConfigException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Equal(key, e.Key);
        Assert.Equal(tmp["config.json"], e.FilePath);
        Assert.Contains($"'{value}'", e.Message);
        Assert.Contains(tmp["config.json"], e.Message);

        // A requested dtype does not consult config.json's (Hugging Face neither).
        using var m = DebertaPreTrainedModel.FromPretrained(tmp.Path, ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, m.LoadReport!.ModelDtype);
    }

    [Theory]
    [InlineData("dtype", "auto", ScalarType.Float32)]        // the checkpoint's dtype
    [InlineData("torch_dtype", "auto", ScalarType.Float32)]
    [InlineData("dtype", "bfloat16", ScalarType.BFloat16)]
    [InlineData("torch_dtype", "float16", ScalarType.Float16)]
    [InlineData("torch_dtype", "double", ScalarType.Float64)]
    public void Dtype_Auto_And_ModelDtypes_StillLoad(string key, string value, ScalarType expected)
    {
        using var tmp = CheckpointWith("rel_c2p_p2c", "base", c =>
        {
            c.Remove("dtype");
            c.Remove("torch_dtype");
            c[key] = value;
        });
        using var m = DebertaPreTrainedModel.FromPretrained(tmp.Path);
        Assert.Equal(ScalarType.Float32, m.LoadReport!.CheckpointDtype);
        Assert.Equal(expected, m.LoadReport.ModelDtype);
    }

    public static TheoryData<string> ClassIdHeads => new() { "masked_lm", "token_classification", "single_label_classification" };

    [Theory]
    [MemberData(nameof(ClassIdHeads))]
    public void FloatingPointLabels_ForAClassIdLoss_AreAnError(string head)
    {
        manual_seed(5);
        using var scope = NewDisposeScope();
        using DebertaPreTrainedModel model = head switch
        {
            "masked_lm" => new DebertaForMaskedLM(Tiny()),
            "token_classification" => new DebertaForTokenClassification(Tiny(c => c with { NumLabelsValue = 3 })),
            _ => new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3, ProblemType = "single_label_classification" })),
        };
        var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).view(2, 3);
        var intLabels = head == "single_label_classification" ? tensor(new long[] { 0, 2 }) : tensor(new long[] { 1, -100, 2, 0, 1, 2 }).view(2, 3);
        Assert.NotNull(model.Forward(new DebertaInputs { InputIds = ids, Labels = intLabels }).Loss);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64, ScalarType.Float16, ScalarType.Bool })
        {
            // The same values (for Bool: 0/1) in a floating-point or boolean tensor: Hugging Face's CrossEntropyLoss refuses them.
            var labels = dtype == ScalarType.Bool ? intLabels.clamp(0, 1).to(dtype) : intLabels.to(dtype);
            var e = Assert.Throws<ArgumentException>(() => model.Forward(new DebertaInputs { InputIds = ids, Labels = labels }));
            Assert.Equal("labels", e.ParamName);
            Assert.Contains(dtype.ToString(), e.Message);
        }
    }

    [Fact]
    public void FloatingPointLabels_RemainValidWhereTheyAreTargets()
    {
        // Sequence classification with problem_type unset, regression or multi-label takes float labels (Hugging Face too).
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).view(2, 3);
        using var soft = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3 }));
        Assert.NotNull(soft.Forward(ids, labels: full(2, 3, 1.0 / 3)).Loss);
        Assert.NotNull(soft.Forward(ids, labels: tensor(new float[] { 0, 2 })).Loss);   // [B] floats: cast to ids, as HF's labels.long()
        using var reg = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 1 }));
        Assert.NotNull(reg.Forward(ids, labels: tensor(new float[] { 0.5f, 1.5f })).Loss);
        using var multi = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3, ProblemType = "multi_label_classification" }));
        Assert.NotNull(multi.Forward(ids, labels: ones(2, 3)).Loss);
    }
}
