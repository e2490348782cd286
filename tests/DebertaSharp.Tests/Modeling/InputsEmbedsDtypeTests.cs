using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>inputs_embeds in a dtype the model cannot take is an ArgumentException naming it, not a native dtype error.</summary>
public sealed class InputsEmbedsDtypeTests
{
    private static DebertaConfig Tiny(int? embeddingSize = null) => new()
    {
        VocabSize = 40, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 20,
        MaxPositionEmbeddings = 16, RelativeAttention = true, PosAttType = ["c2p", "p2c"], EmbeddingSize = embeddingSize,
    };

    [Fact]
    public void Mismatched_Embeds_Dtype_Names_The_Input_And_Both_Dtypes()
    {
        using var model = new DebertaModel(Tiny());
        model.eval();
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => model.Forward(inputsEmbeds: randn(1, 3, 16, dtype: ScalarType.Float64)));
        Assert.Equal("inputsEmbeds", e.ParamName);
        Assert.Contains("Float64", e.Message);
        Assert.Contains("Float32", e.Message);
        // A narrower float is lifted by type promotion (as in Hugging Face) and still runs.
        var lifted = model.Forward(inputsEmbeds: randn(1, 3, 16).to(ScalarType.Float16));
        Assert.Equal(ScalarType.Float32, lifted.LastHiddenState.dtype);

        // ... but not through embed_proj, a Linear that needs its weight's dtype.
        using var projected = new DebertaModel(Tiny(embeddingSize: 8));
        Assert.Throws<ArgumentException>(() => projected.Forward(inputsEmbeds: randn(1, 3, 8).to(ScalarType.Float16)));
        // ... nor into a half-precision model.
        projected.to(ScalarType.BFloat16);
        Assert.Throws<ArgumentException>(() => projected.Forward(inputsEmbeds: randn(1, 3, 8)));
        Assert.Equal(ScalarType.BFloat16, projected.Forward(inputsEmbeds: randn(1, 3, 8).to(ScalarType.BFloat16)).LastHiddenState.dtype);
    }
}
