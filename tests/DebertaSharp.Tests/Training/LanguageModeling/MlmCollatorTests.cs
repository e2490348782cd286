using System.Text.Json;
using DebertaSharp.Tokenization;
using DebertaSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// <see cref="DataCollatorForLanguageModeling"/> against transformers 4.40's collator (Fixtures/hf4/mlm_collator.json):
/// both calls after seeding 7, every intermediate mask, padding never masked, no tensor leaks.
/// </summary>
public sealed class MlmCollatorTests
{
    private static readonly Lazy<DebertaTokenizerBase> _tokenizer =
        new(() => DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "vocab-files")));

    private static readonly Lazy<JsonElement> _fixture =
        new(() => JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("hf4", "mlm_collator.json"))).RootElement);

    private static DebertaTokenizerBase Tokenizer => _tokenizer.Value;
    private static JsonElement Fixture => _fixture.Value;

    internal static string[] Sentences => [.. Fixture.GetProperty("sentences").EnumerateArray().Select(s => s.GetProperty("sentence").GetString()!)];

    internal static int[][] ExampleIds => [.. Fixture.GetProperty("examples").EnumerateArray().Select(e => Ints(e.GetProperty("input_ids")))];

    private static int[] Ints(JsonElement a) => [.. a.EnumerateArray().Select(x => x.GetInt32())];

    /// <summary>A [B, L] fixture table, row-major.</summary>
    private static long[] Table(JsonElement call, string group, string key) =>
        [.. call.GetProperty(group).GetProperty(key).EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(x => x.GetInt64())];

    private static long[] Flat(Tensor t) => t.to_type(ScalarType.Int64).data<long>().ToArray();

    private static (long B, long L) Shape
    {
        get
        {
            var s = Fixture.GetProperty("batch_shape");
            return (s[0].GetInt64(), s[1].GetInt64());
        }
    }

    private static readonly string[] Calls = ["call_1", "call_2_same_generator"];

    [Fact]
    public void Tokenizer_Matches_The_Fixture()
    {
        Assert.Equal(Fixture.GetProperty("tokenizer").GetProperty("len").GetInt32(), Tokenizer.Count); // len(tokenizer) = 50262
        Assert.Equal(50261, Tokenizer.MaskTokenId);
        Assert.Equal(0, Tokenizer.PadTokenId);
        var ids = Tokenizer.EncodeBatch(Sentences).InputIds;
        Assert.Equal(ExampleIds, ids);
        Assert.Equal(Fixture.GetProperty("expected_draws_per_call").GetInt64(), 4 * Shape.B * Shape.L); // 4 draws of B·L
    }

    [Fact]
    public void MaskTokens_Reproduces_Every_Intermediate_Of_Both_Calls()
    {
        var (b, l) = Shape;
        using var scope = NewDisposeScope();
        var generator = new Generator(7); // torch.manual_seed(7); the second call without reseeding
        foreach (string name in Calls)
        {
            var call = Fixture.GetProperty(name);
            var ids = tensor(Table(call, "intermediate", "padded_input_ids"), [b, l]);
            var special = tensor(Table(call, "intermediate", "special_tokens_mask"), [b, l]).to_type(ScalarType.Bool);
            var t = DataCollatorForLanguageModeling.MaskTokensTraced(ids, special, Tokenizer.MaskTokenId, Tokenizer.Count, 0.15, generator);
            Assert.Equal(Table(call, "intermediate", "masked_indices"), Flat(t.MaskedIndices));
            Assert.Equal(Table(call, "intermediate", "indices_replaced"), Flat(t.IndicesReplaced));
            Assert.Equal(Table(call, "intermediate", "indices_random"), Flat(t.IndicesRandom));
            Assert.Equal(Table(call, "intermediate", "random_words"), Flat(t.RandomWords));
            Assert.Equal(Table(call, "output", "input_ids"), Flat(t.Inputs));
            Assert.Equal(Table(call, "output", "labels"), Flat(t.Labels));
            Assert.Equal(ScalarType.Int64, t.Inputs.dtype);
            Assert.Equal(ScalarType.Int64, t.Labels.dtype);
            // The caller's ids are not modified.
            Assert.Equal(Table(call, "intermediate", "padded_input_ids"), Flat(ids));
        }
    }

    [Fact]
    public void Each_Call_Takes_Four_Draws_Per_Element()
    {
        // Skip call 1 with 608 = 4·B·L single-u32 draws (randint below 2^32 takes one u32 per element); call 2 follows.
        var (b, l) = Shape;
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        randint(1000, [Fixture.GetProperty("call_1").GetProperty("rng_draws_after_call").GetInt64()], generator: generator);
        var call = Fixture.GetProperty("call_2_same_generator");
        var ids = tensor(Table(call, "intermediate", "padded_input_ids"), [b, l]);
        var special = tensor(Table(call, "intermediate", "special_tokens_mask"), [b, l]);
        var t = DataCollatorForLanguageModeling.MaskTokensTraced(ids, special, Tokenizer.MaskTokenId, Tokenizer.Count, 0.15, generator);
        Assert.Equal(Table(call, "intermediate", "masked_indices"), Flat(t.MaskedIndices));
        Assert.Equal(Table(call, "intermediate", "random_words"), Flat(t.RandomWords));
        Assert.Equal(Table(call, "output", "input_ids"), Flat(t.Inputs));
    }

    [Fact]
    public void Collate_Reproduces_Both_Calls_Without_And_With_Special_Tokens_Masks()
    {
        var fromIds = ExampleIds.Select(ids => new MlmExample(ids)).ToList();
        // run_mlm's line_by_line path hands the collator special-tokens masks; it must draw the same.
        var fromLines = MlmData.TokenizeLineByLine(Tokenizer, Sentences);
        Assert.Equal(ExampleIds, fromLines.Select(e => e.InputIds));
        foreach (var examples in new[] { fromIds, fromLines })
        {
            var collator = new DataCollatorForLanguageModeling(Tokenizer);
            Assert.Equal(0.15, collator.MlmProbability);
            var generator = new Generator(7);
            foreach (string name in Calls)
            {
                var call = Fixture.GetProperty(name);
                using var batch = collator.Collate(examples, generator);
                Assert.Equal([Shape.B, Shape.L], batch.InputIds.shape);
                Assert.Equal(Table(call, "output", "input_ids"), Flat(batch.InputIds));
                Assert.Equal(Table(call, "output", "labels"), Flat(batch.Labels));
                Assert.Equal(Table(call, "output", "attention_mask"), Flat(batch.AttentionMask));
            }
        }
    }

    [Fact]
    public void Special_Tokens_Mask_Computed_From_Padded_Ids_Matches_The_Fixture()
    {
        var call = Fixture.GetProperty("call_1");
        long[] padded = Table(call, "intermediate", "padded_input_ids");
        int l = (int)Shape.L;
        var mask = Enumerable.Range(0, (int)Shape.B)
            .SelectMany(r => Tokenizer.GetSpecialTokensMask([.. padded.Skip(r * l).Take(l).Select(x => (int)x)], alreadyHasSpecialTokens: true))
            .Select(x => (long)x);
        Assert.Equal(Table(call, "intermediate", "special_tokens_mask"), mask);
    }

    [Fact]
    public void Padding_And_Special_Tokens_Are_Never_Masked()
    {
        // Probability 1: every sequence token is chosen, none of [CLS], [SEP], [PAD]; pad_to_multiple_of rounds 38 up to 40.
        var collator = new DataCollatorForLanguageModeling(Tokenizer, mlmProbability: 1.0, padToMultipleOf: 8);
        foreach (bool withMasks in new[] { false, true })
        {
            var examples = withMasks
                ? MlmData.TokenizeLineByLine(Tokenizer, Sentences)
                : [.. ExampleIds.Select(ids => new MlmExample(ids))];
            using var batch = collator.Collate(examples, new Generator(11));
            Assert.Equal([4L, 40L], batch.InputIds.shape);
            long[] inputs = Flat(batch.InputIds), labels = Flat(batch.Labels), attention = Flat(batch.AttentionMask);
            for (int r = 0; r < 4; r++)
            {
                int[] ids = ExampleIds[r];
                for (int j = 0; j < 40; j++)
                {
                    int k = r * 40 + j;
                    bool real = j < ids.Length, special = !real || j == 0 || j == ids.Length - 1;
                    Assert.Equal(real ? 1 : 0, attention[k]);
                    if (special)
                    {
                        Assert.Equal(-100, labels[k]);
                        Assert.Equal(real ? ids[j] : 0, inputs[k]);
                    }
                    else Assert.Equal(ids[j], labels[k]);
                }
            }
        }
    }

    [Fact]
    public void Collate_Respects_A_Given_Special_Tokens_Mask_And_Attention_Mask()
    {
        // A mask marking every token special: nothing is chosen even at probability 1.
        var collator = new DataCollatorForLanguageModeling(Tokenizer, mlmProbability: 1.0);
        var e = new MlmExample([1, 500, 600, 2], AttentionMask: [1, 1, 1, 0], SpecialTokensMask: [1, 1, 1, 1]);
        using var batch = collator.Collate([e, new MlmExample([1, 2], [1, 1], [1, 1])], new Generator(1));
        Assert.Equal(new long[] { 1, 500, 600, 2, 1, 2, 0, 0 }, Flat(batch.InputIds));
        Assert.All(Flat(batch.Labels), x => Assert.Equal(-100, x));
        Assert.Equal(new long[] { 1, 1, 1, 0, 1, 1, 0, 0 }, Flat(batch.AttentionMask));
    }

    [Fact]
    public void Invalid_Inputs_Throw()
    {
        var collator = new DataCollatorForLanguageModeling(Tokenizer);
        Assert.Throws<ArgumentException>(() => collator.Collate([]));
        Assert.Throws<ArgumentException>(() => collator.Collate([new MlmExample([1, 2], SpecialTokensMask: [1, 1]), new MlmExample([1, 2])]));
        Assert.Throws<ArgumentException>(() => collator.Collate([new MlmExample([1, 2], SpecialTokensMask: [1])]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataCollatorForLanguageModeling(Tokenizer, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataCollatorForLanguageModeling(Tokenizer, padToMultipleOf: 0));
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => DataCollatorForLanguageModeling.MaskTokens(ones(2, 3), zeros(2, 3, ScalarType.Bool), 5, 10, 0.15, null));
        Assert.Throws<ArgumentException>(() => DataCollatorForLanguageModeling.MaskTokens(ones(2, 3, ScalarType.Int64), zeros(2, 4, ScalarType.Bool), 5, 10, 0.15, null));
    }

    [Fact]
    public void No_Tensor_Leaks()
    {
        var collator = new DataCollatorForLanguageModeling(Tokenizer);
        var examples = ExampleIds.Select(ids => new MlmExample(ids)).ToList();
        var generator = new Generator(7);
        void RunOnce()
        {
            using (collator.Collate(examples, generator)) { }
            using var ids = tensor(new long[] { 1, 5, 6, 2 }, [1, 4]);
            using var special = tensor(new[] { true, false, false, true }, [1, 4]);
            var (inputs, labels) = DataCollatorForLanguageModeling.MaskTokens(ids, special, 9, 10, 0.5, generator);
            inputs.Dispose();
            labels.Dispose();
        }
        RunOnce(); // warm-up
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var stats = DisposeScopeManager.Statistics;
        long before = stats.ThreadTotalLiveCount;
        for (int i = 0; i < 10; i++) RunOnce();
        Assert.Equal(before, stats.ThreadTotalLiveCount);

        // The results belong to the caller's scope and survive until it ends.
        using (var scope = NewDisposeScope())
        {
            var batch = collator.Collate(examples, generator);
            var (inputs, labels) = DataCollatorForLanguageModeling.MaskTokens(batch.InputIds, batch.AttentionMask.eq(0), 9, 10, 0.5, generator);
            Assert.False(batch.Labels.IsInvalid || inputs.IsInvalid || labels.IsInvalid);
            Assert.Equal(before + 3 + 1 + 2, stats.ThreadTotalLiveCount); // batch, the eq(0) mask, the two results
        }
        Assert.Equal(before, stats.ThreadTotalLiveCount);
    }
}
