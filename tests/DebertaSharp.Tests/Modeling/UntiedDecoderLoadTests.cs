using TorchSharp;
using static TorchSharp.torch;

using static DebertaSharp.Tests.Modeling.TinyConfigs;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Loading an untied legacy decoder (tie_word_embeddings false) from a checkpoint that lacks it.</summary>
public sealed class UntiedDecoderLoadTests
{
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
