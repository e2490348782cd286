using System.Text.Json.Nodes;
using DebertaSharp.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>DebertaConfig (JSON, defaults, validation) and the activation table.</summary>
public sealed class ConfigAndActivationTests
{
    [Fact]
    public void Defaults_Are_HuggingFace_Defaults()
    {
        var c = DebertaConfig.FromJson("{}");
        Assert.Equal(50265, c.VocabSize);
        Assert.Equal(768, c.HiddenSize);
        Assert.Equal(12, c.NumHiddenLayers);
        Assert.Equal(12, c.NumAttentionHeads);
        Assert.Equal(3072, c.IntermediateSize);
        Assert.Equal("gelu", c.HiddenAct);
        Assert.Equal(0.1, c.HiddenDropoutProb);
        Assert.Equal(0.1, c.AttentionProbsDropoutProb);
        Assert.Equal(512, c.MaxPositionEmbeddings);
        Assert.Equal(0, c.TypeVocabSize);
        Assert.Equal(0.02, c.InitializerRange);
        Assert.Equal(1e-7, c.LayerNormEps);
        Assert.False(c.RelativeAttention);
        Assert.Equal(-1, c.MaxRelativePositions);
        Assert.Equal(512, c.EffectiveMaxRelativePositions);
        Assert.Equal(0, c.PadTokenId);
        Assert.True(c.PositionBiasedInput);
        Assert.Null(c.PosAttType);
        Assert.Equal(0.0, c.PoolerDropout);
        Assert.Equal("gelu", c.PoolerHiddenAct);
        Assert.True(c.Legacy);
        Assert.Equal(2, c.NumLabels);
        Assert.Equal("deberta", c.ModelType);
        c.Validate();
    }

    [Fact]
    public void Every_Fixture_Config_Round_Trips_With_Unknown_Keys_Kept()
    {
        foreach (string file in Directory.GetFiles(TestPaths.Fixtures, "config.json", SearchOption.AllDirectories))
        {
            var original = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
            var config = DebertaConfig.FromFile(file);
            config.Validate();
            var written = JsonNode.Parse(config.ToJson())!.AsObject();
            foreach (var (k, v) in original)
                Assert.True(JsonNode.DeepEquals(v, written[k]), $"{file}: '{k}' {v?.ToJsonString()} became {written[k]?.ToJsonString()}");
            Assert.Equal(config, DebertaConfig.FromJson(config.ToJson()) with { ExtensionData = config.ExtensionData, PosAttType = config.PosAttType, Architectures = config.Architectures, Id2Label = config.Id2Label, Label2Id = config.Label2Id });
        }
    }

    [Fact]
    public void PosAttType_Reads_Both_Forms_And_Writes_Them_Back()
    {
        var s = DebertaConfig.FromJson("""{"pos_att_type": " C2P | p2c "}""");
        Assert.Equal(["c2p", "p2c"], s.PosAttTypes);
        Assert.Equal("c2p|p2c", (string)JsonNode.Parse(s.ToJson())!["pos_att_type"]!);
        var l = DebertaConfig.FromJson("""{"pos_att_type": ["p2c"]}""");
        Assert.Equal(["p2c"], l.PosAttTypes);
        Assert.IsType<JsonArray>(JsonNode.Parse(l.ToJson())!["pos_att_type"]);
        Assert.Null(DebertaConfig.FromJson("""{"pos_att_type": null}""").PosAttType);
        Assert.Throws<DebertaConfigException>(() => DebertaConfig.FromJson("""{"pos_att_type": 3}"""));
    }

    [Theory]
    [InlineData("""{"hidden_size": 30, "num_attention_heads": 4}""", "num_attention_heads")]
    [InlineData("""{"hidden_act": "nope"}""", "hidden_act")]
    [InlineData("""{"pooler_hidden_act": "nope"}""", "pooler_hidden_act")]
    [InlineData("""{"pos_att_type": "c2p|x2y"}""", "pos_att_type")]
    [InlineData("""{"vocab_size": -1}""", "vocab_size")]
    [InlineData("""{"num_hidden_layers": 0}""", "num_hidden_layers")]
    [InlineData("""{"type_vocab_size": -2}""", "type_vocab_size")]
    [InlineData("""{"hidden_dropout_prob": 1.5}""", "hidden_dropout_prob")]
    [InlineData("""{"problem_type": "ranking"}""", "problem_type")]
    [InlineData("""{"pad_token_id": 60000}""", "pad_token_id")]
    public void Validate_Names_The_Key(string json, string key)
    {
        var ex = Assert.Throws<DebertaConfigException>(() => DebertaConfig.FromJson(json).Validate());
        Assert.Equal(key, ex.ParamName);
        Assert.Contains(key, ex.Message);
        Assert.IsAssignableFrom<ArgumentException>(ex);
    }

    [Fact]
    public void Bad_Json_Types_Throw_Config_Errors()
    {
        var ex = Assert.Throws<DebertaConfigException>(() => DebertaConfig.FromJson("""{"hidden_size": "big"}"""));
        Assert.Contains("hidden_size", ex.Message);
    }

    [Fact]
    public void Hub_Shapes()
    {
        Assert.Equal((768, 12, 12, 3072), (DebertaConfig.Base.HiddenSize, DebertaConfig.Base.NumHiddenLayers, DebertaConfig.Base.NumAttentionHeads, DebertaConfig.Base.IntermediateSize));
        Assert.Equal((1024, 24, 16, 4096), (DebertaConfig.Large.HiddenSize, DebertaConfig.Large.NumHiddenLayers, DebertaConfig.Large.NumAttentionHeads, DebertaConfig.Large.IntermediateSize));
        Assert.Equal((1024, 48, 16, 4096), (DebertaConfig.XLarge.HiddenSize, DebertaConfig.XLarge.NumHiddenLayers, DebertaConfig.XLarge.NumAttentionHeads, DebertaConfig.XLarge.IntermediateSize));
        foreach (var c in new[] { DebertaConfig.Base, DebertaConfig.Large, DebertaConfig.XLarge })
        {
            c.Validate();
            Assert.True(c.RelativeAttention);
            Assert.False(c.PositionBiasedInput);
            Assert.Equal(["c2p", "p2c"], c.PosAttTypes);
        }
    }

    [Fact]
    public void Save_Writes_Atomically_And_Reloads()
    {
        using var tmp = TestPaths.TempDir();
        var c = DebertaConfig.Base with { NumLabelsValue = 3 };
        c.Save(tmp["config.json"]);
        c.Save(tmp["config.json"]);
        Assert.Single(Directory.GetFiles(tmp.Path));
        var back = DebertaConfig.FromFile(tmp["config.json"]);
        Assert.Equal(3, back.NumLabels);
        Assert.Equal(c.ToJson(), back.ToJson());
    }

    [Theory]
    [InlineData("gelu", 1.0, 0.8413447460685429)]
    [InlineData("gelu_new", 1.0, 0.8411919906082768)]
    [InlineData("gelu_fast", 1.0, 0.8411919906082768)]
    [InlineData("gelu_pytorch_tanh", 1.0, 0.8411919906082768)]
    [InlineData("quick_gelu", 1.0, 0.8457957659328212)]
    [InlineData("relu", -1.0, 0.0)]
    [InlineData("silu", 1.0, 0.7310585786300049)]
    [InlineData("swish", 1.0, 0.7310585786300049)]
    [InlineData("tanh", 1.0, 0.7615941559557649)]
    [InlineData("mish", 1.0, 0.8650983882673103)]
    [InlineData("linear", 1.5, 1.5)]
    [InlineData("sigmoid", 0.0, 0.5)]
    [InlineData("relu2", -2.0, 0.0)]
    [InlineData("relu2", 3.0, 9.0)]
    [InlineData("relu6", 7.0, 6.0)]
    [InlineData("leaky_relu", -1.0, -0.01)]
    [InlineData("gelu_10", 20.0, 10.0)]
    public void Activations_Follow_HuggingFace(string name, double x, double y)
    {
        using var scope = NewDisposeScope();
        var result = Activations.Get(name)(tensor(new[] { x }, dtype: ScalarType.Float64));
        Assert.Equal(y, result.item<double>(), 1e-6);
    }
}
