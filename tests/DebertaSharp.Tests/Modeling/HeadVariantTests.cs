using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

using static DebertaSharp.Tests.Modeling.TinyConfigs;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Head layouts the fixtures do not cover: untied legacy decoder, legacy head with embed_proj, head checks.</summary>
public sealed class HeadVariantTests
{
    [Fact]
    public void Untied_Legacy_Decoder_Is_Its_Own_Weight_And_Round_Trips()
    {
        manual_seed(7);
        using var model = new DebertaForMaskedLM(Tiny(c => c with { TieWordEmbeddings = false }));
        model.eval();
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.Contains("cls.predictions.decoder.weight", names);
        using var tmp = TestPaths.TempDir();
        model.SavePretrained(tmp.Path);
        var saved = SafeTensors.ReadHeader(tmp["model.safetensors"]).Tensors.Select(t => t.Name).ToList();
        Assert.Contains("cls.predictions.decoder.weight", saved);
        Assert.DoesNotContain("cls.predictions.decoder.bias", saved);
        using var back = DebertaForMaskedLM.FromPretrained(tmp.Path);
        Assert.Empty(back.LoadReport!.MissingKeys);
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 1, 5, 9, 3 }).view(1, 4);
        Assert.True(model.Forward(ids).Logits.allclose(back.Forward(ids).Logits, 0, 0));
    }

    [Fact]
    public void Legacy_Head_With_Embed_Proj_Decodes_Through_The_Embedding_Size()
    {
        using var model = new DebertaForMaskedLM(Tiny(c => c with { EmbeddingSize = 8 }));
        model.eval();
        using var scope = NewDisposeScope();
        var o = model.Forward(tensor(new long[] { 1, 5, 9 }).view(1, 3), labels: tensor(new long[] { -100, 5, -100 }).view(1, 3));
        Assert.Equal([1L, 3, 40], o.Logits.shape);
        Assert.True(float.IsFinite(o.Loss!.item<float>()));
        Assert.Contains("cls.predictions.transform.dense.weight", model.named_parameters().Select(p => p.name));
        Assert.Equal([8L, 16], model.named_parameters().Single(p => p.name == "cls.predictions.transform.dense.weight").parameter.shape);
    }

    [Fact]
    public void Head_Configuration_Errors_Name_The_Key()
    {
        Assert.Equal("num_labels", Assert.Throws<DebertaConfigException>(() => new DebertaForQuestionAnswering(Tiny(c => c with { NumLabelsValue = 3 }))).Key);
        Assert.Equal("embedding_size", Assert.Throws<DebertaConfigException>(() => new DebertaForMaskedLM(Tiny(c => c with { EmbeddingSize = 8, Legacy = false }))).Key);
        Assert.Equal("pooler_hidden_size", Assert.Throws<DebertaConfigException>(() => new DebertaForSequenceClassification(Tiny(c => c with { PoolerHiddenSize = 8 }))).Key);
        Assert.Equal("hidden_act", Assert.Throws<DebertaConfigException>(() => new DebertaModel(Tiny(c => c with { HiddenAct = "gelu_weird" }))).Key);
    }

    [Fact]
    public void Generic_Forward_Dispatches_To_The_Typed_Head()
    {
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 1, 5, 9, 2 }).view(1, 4);
        foreach (DebertaHead head in Enum.GetValues<DebertaHead>())
        {
            using var model = DebertaPreTrainedModel.Create(Tiny(), head);
            model.eval();
            var output = model.Forward(new DebertaInputs { InputIds = ids, OutputHiddenStates = true });
            Assert.Equal(2, output.HiddenStates!.Count);
            var names = output.NamedTensors().Select(kv => kv.Key).ToList();
            string[] expected = head switch
            {
                DebertaHead.Base => ["last_hidden_state"],
                DebertaHead.QuestionAnswering => ["start_logits", "end_logits"],
                _ => ["logits"],
            };
            Assert.Equal([.. expected, "hidden_states.0", "hidden_states.1"], names);
        }
    }
}
