using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

using static DebertaSharp.Tests.Modeling.TinyConfigs;

namespace DebertaSharp.Tests.Modeling;

/// <summary>config.json semantics found in review: id2label decides num_labels, Hugging Face's own validation, floats written as Python writes them, config errors naming their file.</summary>
public sealed class ConfigReviewTests
{
    [Fact]
    public void Id2Label_Decides_NumLabels_Over_A_Conflicting_Num_Labels()
    {
        // Hugging Face's PreTrainedConfig derives num_labels from id2label and only warns about num_labels.
        var c = DebertaConfig.FromJson("""{"num_labels": 5, "id2label": {"0": "a", "1": "b", "2": "c"}}""");
        Assert.Equal(3, c.NumLabels);
        Assert.Equal(4, DebertaConfig.FromJson("""{"num_labels": 4}""").NumLabels);
        using (var model = new DebertaForSequenceClassification(Tiny(x => x with { Id2Label = c.Id2Label })))
        using (NewDisposeScope())
            Assert.Equal([1L, 3L], model.Forward(tensor(new long[] { 1, 2, 3 }).view(1, 3)).Logits.shape);

        // Set through the API, num_labels wins (HF's num_labels setter) and the written id2label follows it, so that
        // Hugging Face reads the same number back.
        var four = c with { NumLabelsValue = 4 };
        Assert.Equal(4, four.NumLabels);
        var written = JsonNode.Parse(four.ToJson())!.AsObject();
        Assert.Equal(4, written["id2label"]!.AsObject().Count);
        Assert.Equal("LABEL_3", (string?)written["id2label"]!["3"]);
        Assert.Equal(3, (int)written["label2id"]!["LABEL_3"]!);
        Assert.Equal(4, DebertaConfig.FromJson(four.ToJson()).NumLabels);
    }

    [Fact]
    public void Validation_Rejects_What_HuggingFace_Rejects_Naming_The_Key()
    {
        var e = Assert.Throws<DebertaConfigException>(() =>
            DebertaConfig.FromJson("""{"num_labels": 1, "problem_type": "single_label_classification"}""").Validate());
        Assert.Equal("problem_type", e.Key);
        e = Assert.Throws<DebertaConfigException>(() => DebertaConfig.FromJson("""{"id2label": {"zero": "a"}}""").Validate());
        Assert.Equal("id2label", e.Key);
        Assert.Contains("zero", e.Message);
        DebertaConfig.FromJson("""{"id2label": {"0": "a", "1": "b"}, "problem_type": "single_label_classification"}""").Validate();
    }

    [Fact]
    public void Floats_Are_Written_As_Python_Writes_Them()
    {
        var c = DebertaConfig.FromJson("""{"pooler_dropout": 0.0, "layer_norm_eps": 1e-07, "hidden_dropout_prob": 0.1, "cls_dropout": 0.0, "initializer_range": 1.0}""");
        string json = c.ToJson();
        Assert.Contains("\"pooler_dropout\": 0.0", json);
        Assert.Contains("\"layer_norm_eps\": 1e-07", json);
        Assert.Contains("\"hidden_dropout_prob\": 0.1", json);
        Assert.Contains("\"cls_dropout\": 0.0", json);
        Assert.Contains("\"initializer_range\": 1.0", json);
        Assert.Contains("\"vocab_size\": 50265,", json);                               // ints stay ints
        // Every fixture config (written by Python) is written back with the same number text.
        foreach (string file in Directory.GetFiles(TestPaths.Fixtures, "config.json", SearchOption.AllDirectories))
        {
            var original = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
            var written = JsonNode.Parse(DebertaConfig.FromFile(file).ToJson())!.AsObject();
            foreach (var (k, v) in original)
                if (v is JsonValue jv && jv.GetValueKind() == System.Text.Json.JsonValueKind.Number)
                    Assert.True(v.ToJsonString() == written[k]!.ToJsonString(), $"{file}: '{k}' {v.ToJsonString()} became {written[k]!.ToJsonString()}");
        }
    }

    [Fact]
    public void Config_Errors_From_FromPretrained_Name_The_File()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["config.json"], """{"hidden_size": 30, "num_attention_heads": 4}""");
        var e = Assert.Throws<DebertaConfigException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Equal("num_attention_heads", e.Key);
        Assert.Contains(tmp["config.json"], e.Message);
        File.WriteAllText(tmp["config.json"], """{"hidden_size": "big"}""");
        e = Assert.Throws<DebertaConfigException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Equal("hidden_size", e.Key);
        Assert.Contains(tmp["config.json"], e.Message);
    }

    [Fact]
    public void Negative_Pad_Token_Id_Counts_From_The_End_As_In_HuggingFace()
    {
        // nn.Embedding(padding_idx=-1) pads the last row; hub configs with pad_token_id -1 load in Hugging Face.
        var config = Tiny(c => c with { PadTokenId = -1 });
        config.Validate();
        manual_seed(1);
        using var model = new DebertaModel(config);
        var words = model.named_parameters().Single(p => p.name == "embeddings.word_embeddings.weight").parameter;
        Assert.Equal(0.0, words[config.VocabSize - 1].abs().sum().item<float>());
        Assert.NotEqual(0.0, words[0].abs().sum().item<float>());
        var e = Assert.Throws<DebertaConfigException>(() => Tiny(c => c with { PadTokenId = -41 }).Validate());
        Assert.Equal("pad_token_id", e.Key);
        Assert.Throws<DebertaConfigException>(() => Tiny(c => c with { PadTokenId = 40 }).Validate());
    }
}
