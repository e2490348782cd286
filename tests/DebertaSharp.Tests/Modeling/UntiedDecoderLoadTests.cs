using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Loading an untied legacy decoder (tie_word_embeddings false) from a checkpoint that lacks it.</summary>
public sealed class UntiedDecoderLoadTests
{
    private static DebertaConfig Tiny(Func<DebertaConfig, DebertaConfig>? edit = null)
    {
        var c = new DebertaConfig
        {
            VocabSize = 40, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 20,
            MaxPositionEmbeddings = 16, RelativeAttention = true, PosAttType = ["c2p", "p2c"],
        };
        return edit is null ? c : edit(c);
    }

    [Fact]
    public void Untied_Decoder_Absent_From_The_Checkpoint_Is_Reported_As_A_New_Head_Weight()
    {
        using var tmp = TestPaths.TempDir();
        using (var tied = new DebertaForMaskedLM(Tiny())) tied.SavePretrained(tmp.Path);
        var config = DebertaConfig.FromFile(tmp["config.json"]) with { TieWordEmbeddings = false };
        config.Save(tmp["config.json"]);
        using var model = DebertaForMaskedLM.FromPretrained(tmp.Path);
        Assert.Contains("cls.predictions.decoder.weight", model.LoadReport!.MissingKeys);
        Assert.Contains("cls.predictions.decoder.weight", model.LoadReport.NewlyInitializedHeadKeys);
    }
}
