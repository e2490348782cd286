using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using static DebertaSharp.Tests.Serialization.SerializationTestUtil;

namespace DebertaSharp.Tests.Serialization;

/// <summary>StateDictMapper against the model fixtures (model.safetensors vs state_dict_keys.json) and the HF rules.</summary>
public class StateDictMapperTests
{
    public static TheoryData<string, string> ModelFixtures()
    {
        var data = new TheoryData<string, string>();
        foreach (var variant in Directory.GetDirectories(TestPaths.Fixture("models")).Order(StringComparer.Ordinal))
            foreach (var head in Directory.GetDirectories(variant).Order(StringComparer.Ordinal))
                if (File.Exists(Path.Combine(head, "state_dict_keys.json")))
                    data.Add(Path.GetFileName(variant), Path.GetFileName(head));
        return data;
    }

    private static string Model(string variant, string head, string file) => TestPaths.Fixture("models", variant, head, file);

    private static Dictionary<string, long[]> FileShapes(string variant, string head) =>
        StateDictMapper.ReadShapesFromSafeTensors(Model(variant, head, "model.safetensors"));

    private static Dictionary<string, long[]> Expected(string variant, string head) =>
        StateDictMapper.ReadShapes(Model(variant, head, "state_dict_keys.json"));

    [Fact]
    public void EveryModelFixtureIsCovered() => Assert.True(ModelFixtures().Count() >= 19);

    [Theory]
    [MemberData(nameof(ModelFixtures))]
    public void FixtureCheckpointsMapOntoTheirModelWithOnlyTiedWeightsAbsent(string variant, string head)
    {
        var file = FileShapes(variant, head);
        var expected = Expected(variant, head);
        var m = StateDictMapper.MapKeys(file, expected, targetIsHeadModel: head != "base");
        Assert.Empty(m.Missing);
        Assert.Empty(m.Unexpected);
        Assert.Empty(m.ShapeMismatches);
        Assert.Empty(m.Ignored);
        Assert.All(m.Renames, kv => Assert.Equal(kv.Key, kv.Value));
        Assert.Equal(expected.Keys.Except(file.Keys).Order(StringComparer.Ordinal), m.Tied.Order(StringComparer.Ordinal));
        if (head == "masked_lm") Assert.NotEmpty(m.Tied);
        else Assert.Empty(m.Tied);
    }

    [Theory]
    [MemberData(nameof(ModelFixtures))]
    public void NamesToSaveReproduceWhatSavePretrainedWrote(string variant, string head)
    {
        var file = FileShapes(variant, head);
        var expected = Expected(variant, head);
        var names = StateDictMapper.NamesToSave(expected.Keys);
        Assert.Equal(file.Keys.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
        Assert.All(names, n => Assert.Equal(expected[n], file[n]));
        // A model that also lists its position_ids buffer does not write it.
        Assert.Equal(names, StateDictMapper.NamesToSave(expected.Keys.Append("deberta.embeddings.position_ids")));
    }

    [Fact]
    public void UntiedDecoderIsWrittenButItsBiasStaysTied()
    {
        var expected = Expected("rel_c2p_p2c", "masked_lm");
        var names = StateDictMapper.NamesToSave(expected.Keys, tieWordEmbeddings: false);
        Assert.Contains("cls.predictions.decoder.weight", names);
        Assert.DoesNotContain("cls.predictions.decoder.bias", names);
    }

    [Theory]
    [InlineData("rel_c2p_p2c", "masked_lm", "Legacy")]
    [InlineData("abs_token_type", "masked_lm", "Legacy")]
    [InlineData("rel_c2p_clamped", "masked_lm", "NonLegacy")]
    [InlineData("rel_c2p_p2c", "sequence_classification", "None")]
    [InlineData("rel_c2p_p2c", "base", "None")]
    public void DetectsTheMlmHeadLayoutOfACheckpoint(string variant, string head, string layout)
    {
        Assert.Equal(Enum.Parse<MlmHeadLayout>(layout), StateDictMapper.DetectMlmHead(FileShapes(variant, head).Keys));
    }

    [Fact]
    public void LegacyHeadCheckpointIntoNonLegacyModelReportsBothSides()
    {
        var file = FileShapes("rel_c2p_p2c", "masked_lm");
        var expected = Expected("rel_c2p_clamped", "masked_lm");
        // Different variants differ in position embeddings too; only look at the head.
        var m = StateDictMapper.MapKeys(file, expected, true);
        Assert.Contains("lm_predictions.lm_head.dense.weight", m.Missing);
        Assert.Contains("cls.predictions.transform.dense.weight", m.Unexpected);
        Assert.Contains("lm_predictions.lm_head.weight", m.Tied);
    }

    [Theory]
    [InlineData("sequence_classification")]
    [InlineData("token_classification")]
    [InlineData("question_answering")]
    [InlineData("masked_lm")]
    public void BareCheckpointLoadsIntoAHeadModel(string head)
    {
        var file = FileShapes("rel_c2p_p2c", "base");
        var expected = Expected("rel_c2p_p2c", head);
        var m = StateDictMapper.MapKeys(file, expected, targetIsHeadModel: true);
        Assert.Empty(m.Unexpected);
        Assert.Empty(m.ShapeMismatches);
        Assert.Equal(file.Count, m.Renames.Count);
        Assert.All(m.Renames, kv => Assert.Equal("deberta." + kv.Key, kv.Value));
        // Only the head is left to initialise.
        Assert.All(m.Missing.Concat(m.Tied), n => Assert.False(n.StartsWith("deberta.", StringComparison.Ordinal), n));
        Assert.Equal(expected.Keys.Where(k => !k.StartsWith("deberta.", StringComparison.Ordinal)).Order(StringComparer.Ordinal),
                     m.Missing.Concat(m.Tied).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("sequence_classification")]
    [InlineData("masked_lm")]
    public void HeadCheckpointLoadsIntoABareModel(string head)
    {
        var file = FileShapes("rel_c2p_p2c", head);
        var expected = Expected("rel_c2p_p2c", "base");
        var m = StateDictMapper.MapKeys(file, expected, targetIsHeadModel: false);
        Assert.Empty(m.Missing);
        Assert.Empty(m.Tied);
        Assert.Empty(m.ShapeMismatches);
        Assert.Equal(expected.Count, m.Renames.Count);
        Assert.All(m.Renames, kv => Assert.Equal(kv.Key, "deberta." + kv.Value));
        Assert.Equal(file.Keys.Where(k => !k.StartsWith("deberta.", StringComparison.Ordinal)), m.Unexpected);
    }

    [Fact]
    public void MapReturnsTheLoadedTensorsUnderTheTargetNames()
    {
        using var sd = new Owned(SafeTensors.Load(Model("rel_c2p_p2c", "base", "model.safetensors")));
        var mapped = StateDictMapper.Map(sd.Dict, Expected("rel_c2p_p2c", "sequence_classification"), targetIsHeadModel: true);
        Assert.Same(sd["embeddings.word_embeddings.weight"], mapped.Mapped["deberta.embeddings.word_embeddings.weight"]);
        Assert.Equal(new[] { "pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias" }, mapped.Missing);
    }

    private static Dictionary<string, long[]> Shapes(params (string, long[])[] entries) =>
        entries.ToDictionary(e => e.Item1, e => e.Item2, StringComparer.Ordinal);

    [Fact]
    public void GammaAndBetaBecomeWeightAndBias()
    {
        var expected = Expected("rel_c2p_p2c", "sequence_classification");
        var file = FileShapes("rel_c2p_p2c", "sequence_classification").ToDictionary(
            kv => kv.Key.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta"), kv => kv.Value);
        Assert.Contains("deberta.embeddings.LayerNorm.gamma", file.Keys);
        var m = StateDictMapper.MapKeys(file, expected, true);
        Assert.Empty(m.Missing);
        Assert.Empty(m.Unexpected);
        Assert.Equal("deberta.embeddings.LayerNorm.weight", m.Renames["deberta.embeddings.LayerNorm.gamma"]);
        Assert.Equal("deberta.encoder.layer.1.output.LayerNorm.bias", m.Renames["deberta.encoder.layer.1.output.LayerNorm.beta"]);

        // Old bare checkpoint with gamma/beta into a head model: both rules at once.
        var bare = FileShapes("rel_c2p_p2c", "base").ToDictionary(kv => kv.Key.Replace("LayerNorm.weight", "LayerNorm.gamma"), kv => kv.Value);
        var m2 = StateDictMapper.MapKeys(bare, expected, true);
        Assert.Equal("deberta.embeddings.LayerNorm.weight", m2.Renames["embeddings.LayerNorm.gamma"]);
        Assert.Empty(m2.Unexpected);
    }

    [Fact]
    public void ExactNameWinsOverARenamedDuplicate()
    {
        var expected = Shapes(("deberta.embeddings.LayerNorm.weight", [4]));
        var file = Shapes(("deberta.embeddings.LayerNorm.gamma", [4]), ("deberta.embeddings.LayerNorm.weight", [4]));
        var m = StateDictMapper.MapKeys(file, expected, true);
        Assert.Equal("deberta.embeddings.LayerNorm.weight", m.Renames.Single().Key);
        Assert.Equal(new[] { "deberta.embeddings.LayerNorm.gamma" }, m.Unexpected);
    }

    [Fact]
    public void StrayPositionIdsAndUnusedPositionEmbeddingsAreIgnored()
    {
        // rel_c2p_p2c has no absolute positions (like microsoft/deberta-base, whose file still has them).
        var expected = Expected("rel_c2p_p2c", "masked_lm");
        var file = FileShapes("rel_c2p_p2c", "masked_lm");
        file["deberta.embeddings.position_ids"] = [1, 512];
        file["deberta.embeddings.position_embeddings.weight"] = [512, 32];
        var m = StateDictMapper.MapKeys(file, expected, true);
        Assert.Empty(m.Unexpected);
        Assert.Empty(m.Missing);
        Assert.Empty(m.ShapeMismatches);
        Assert.Equal(new[] { "deberta.embeddings.position_ids", "deberta.embeddings.position_embeddings.weight" }, m.Ignored);

        // Same from a bare checkpoint into a head model, and into a bare model.
        var bare = FileShapes("rel_c2p_p2c", "base");
        bare["embeddings.position_embeddings.weight"] = [512, 32];
        bare["embeddings.position_ids"] = [1, 512];
        Assert.Equal(2, StateDictMapper.MapKeys(bare, expected, true).Ignored.Count);
        var toBare = StateDictMapper.MapKeys(bare, Expected("rel_c2p_p2c", "base"), false);
        Assert.Equal(2, toBare.Ignored.Count);
        Assert.Empty(toBare.Unexpected);
    }

    [Fact]
    public void PositionEmbeddingsAreKeptWhenTheModelHasThem()
    {
        var expected = Expected("abs_token_type", "sequence_classification");
        Assert.Contains("deberta.embeddings.position_embeddings.weight", expected.Keys);
        var m = StateDictMapper.MapKeys(FileShapes("abs_token_type", "base"), expected, true);
        Assert.Equal("deberta.embeddings.position_embeddings.weight", m.Renames["embeddings.position_embeddings.weight"]);
        Assert.Empty(m.Ignored);
    }

    [Fact]
    public void ShapeMismatchesAreReportedNotMapped()
    {
        // A 5-label token classifier into a 3-label sequence classifier.
        var m = StateDictMapper.MapKeys(FileShapes("rel_c2p_p2c", "token_classification"), Expected("rel_c2p_p2c", "sequence_classification"), true);
        var mismatch = Assert.Single(m.ShapeMismatches, s => s.Name == "classifier.weight");
        Assert.Equal(new long[] { 3, 32 }, mismatch.Expected);
        Assert.Equal(new long[] { 5, 32 }, mismatch.Actual);
        Assert.Contains(m.ShapeMismatches, s => s.Name == "classifier.bias");
        Assert.DoesNotContain("classifier.weight", m.Renames.Values);
        Assert.DoesNotContain("classifier.weight", m.Missing);
        Assert.Equal(new[] { "pooler.dense.weight", "pooler.dense.bias" }, m.Missing);
        Assert.Contains("[5, 32]", mismatch.ToString());
    }

    [Fact]
    public void ToSaveKeepsTheTensorsAndDropsTiedOnes()
    {
        using var sd = new Owned(SafeTensors.Load(Model("rel_c2p_p2c", "masked_lm", "model.safetensors")));
        var model = sd.Dict.ToList();
        model.Add(new("cls.predictions.decoder.weight", sd["deberta.embeddings.word_embeddings.weight"]));
        model.Add(new("cls.predictions.decoder.bias", sd["cls.predictions.bias"]));
        var toSave = StateDictMapper.ToSave(model);
        Assert.Equal(sd.Dict.Keys, toSave.Select(kv => kv.Key));
        using var tmp = TestPaths.TempDir();
        SafeTensors.Save(tmp["model.safetensors"], toSave);
        Assert.Equal(File.ReadAllBytes(Model("rel_c2p_p2c", "masked_lm", "model.safetensors")), File.ReadAllBytes(tmp["model.safetensors"]));
    }
}
