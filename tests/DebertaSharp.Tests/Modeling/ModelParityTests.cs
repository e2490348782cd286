using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Every fixture case of Fixtures/models/&lt;variant&gt;/&lt;head&gt;/expected_*.safetensors against Hugging Face 5.17.</summary>
public sealed class ModelParityTests(ITestOutputHelper log)
{
    private static readonly Dictionary<string, DebertaHead> s_heads = new()
    {
        ["base"] = DebertaHead.Base,
        ["masked_lm"] = DebertaHead.MaskedLM,
        ["sequence_classification"] = DebertaHead.SequenceClassification,
        ["token_classification"] = DebertaHead.TokenClassification,
        ["question_answering"] = DebertaHead.QuestionAnswering,
    };

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        string root = TestPaths.Fixture("models");
        foreach (string variantDir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string variant = Path.GetFileName(variantDir);
            if (variant == "problem_types") continue;
            foreach (string headDir in Directory.GetDirectories(variantDir).Order(StringComparer.Ordinal))
                foreach (string file in Directory.GetFiles(headDir, "expected_*.safetensors").Order(StringComparer.Ordinal))
                {
                    string c = Path.GetFileNameWithoutExtension(file)["expected_".Length..];
                    data.Add(variant, Path.GetFileName(headDir), c);
                }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_HuggingFace(string variant, string head, string @case)
    {
        string dir = TestPaths.Fixture("models", variant, head);
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        Assert.Equal(s_heads[head], model.Head);
        var expected = ParityAssert.Load(Path.Combine(dir, $"expected_{@case}.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = model.Forward(ParityAssert.Inputs(expected));
            double max = ParityAssert.Matches(expected, output);
            log.WriteLine($"{variant}/{head}/{@case}: max abs diff {max:E2}; largest relative loss diff so far {ParityAssert.MaxLossRelSeen:E2}");
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    /// <summary>
    /// The cases that can take the blocked path: relative attention with c2p or p2c terms, and a sequence no longer than
    /// max_relative_positions (the strided path; longer ones gather) with at least 2 tokens (a block shorter than it).
    /// </summary>
    public static TheoryData<string, string, string> BlockedCases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var row in Cases())
        {
            var (variant, head, @case) = ((string)row[0], (string)row[1], (string)row[2]);
            string dir = TestPaths.Fixture("models", variant, head);
            var config = DebertaConfig.FromFile(Path.Combine(dir, "config.json"));
            var inputs = DebertaSharp.Serialization.SafeTensors.ReadHeader(Path.Combine(dir, $"expected_{@case}.safetensors")).Tensors
                .Single(t => t.Name is "input.input_ids");
            long l = inputs.Shape[1];
            if (config.RelativeAttention && config.PosAttTypes.Count > 0 && l > 1 && l <= config.EffectiveMaxRelativePositions)
                data.Add(variant, head, @case);
        }
        return data;
    }

    [Fact]
    public void Blocked_Cases_Are_Not_Empty()
    {
        Assert.True(BlockedCases().Count() >= 5, $"only {BlockedCases().Count()} fixture cases take the blocked relative path");
    }

    /// <summary>
    /// The blocked relative terms (queries / keys in blocks of <c>RelativeBandRows</c>, on by default only for inputs
    /// over 128 tokens, which the fixtures do not have) against the same Hugging Face fixtures: blocks of 1, 2 and 3 rows,
    /// so that most cases also have a last block shorter than the rest. Each forward whose blocks are shorter than the
    /// sequence must have run the blocked path (the encoder counts it).
    /// </summary>
    [Theory]
    [MemberData(nameof(BlockedCases))]
    public void Blocked_Relative_Terms_Match_HuggingFace(string variant, string head, string @case)
    {
        string dir = TestPaths.Fixture("models", variant, head);
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        var expected = ParityAssert.Load(Path.Combine(dir, $"expected_{@case}.safetensors"));
        try
        {
            long l = expected["input.input_ids"].shape[1];
            var encoder = model.Backbone.Encoder;
            foreach (long rows in new long[] { 1, 2, 3 })
            {
                encoder.RelativeBandRows = rows;
                long before = encoder.BlockedRelativeTerms;
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                ParityAssert.Matches(expected, model.Forward(ParityAssert.Inputs(expected)));
                // One blocked term per layer and c2p / p2c term whenever the blocks are shorter than the sequence.
                long terms = model.Config.NumHiddenLayers * model.Config.PosAttTypes.Count(t => t is "c2p" or "p2c");
                Assert.Equal(rows < l ? terms : 0, encoder.BlockedRelativeTerms - before);
            }
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Theory]
    [InlineData("rel_c2p_p2c", "masked_lm", "padded")]
    [InlineData("rel_c2p_p2c", "base", "long")]
    [InlineData("rel_c2p_p2c", "question_answering", "single")]
    [InlineData("rel_p2c_embed_proj", "base", "padded")]
    [InlineData("rel_c2p_clamped", "base", "single")]
    public void Gather_Path_Matches_Too(string variant, string head, string @case)
    {
        string dir = TestPaths.Fixture("models", variant, head);
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        model.Backbone.Encoder.ForceGather = true;
        var expected = ParityAssert.Load(Path.Combine(dir, $"expected_{@case}.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            ParityAssert.Matches(expected, model.Forward(ParityAssert.Inputs(expected)));
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    public static TheoryData<string> ProblemTypes()
    {
        var data = new TheoryData<string>();
        foreach (string d in Directory.GetDirectories(TestPaths.Fixture("models", "problem_types")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(d));
        return data;
    }

    [Theory]
    [MemberData(nameof(ProblemTypes))]
    public void ProblemType_Matches_HuggingFace(string problemType)
    {
        string dir = TestPaths.Fixture("models", "problem_types", problemType);
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        Assert.Equal(problemType, model.Config.ProblemType);
        var expected = ParityAssert.Load(Path.Combine(dir, "expected.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = model.Forward(ParityAssert.Inputs(expected, outputs: false));
            ParityAssert.Matches(expected, output);
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }
}
