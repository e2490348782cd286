using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Input validation, dispose-scope hygiene, train/eval dropout, dtypes and the loss rules.</summary>
public sealed class InputAndLifetimeTests
{
    private static DebertaConfig Tiny(Func<DebertaConfig, DebertaConfig>? edit = null)
    {
        var c = new DebertaConfig
        {
            VocabSize = 50, HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 20,
            MaxPositionEmbeddings = 32, RelativeAttention = true, PosAttType = ["c2p", "p2c"], PositionBiasedInput = false,
            TypeVocabSize = 2,
        };
        return edit is null ? c : edit(c);
    }

    private static Tensor Ids(params long[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    [Fact]
    public void Ids_Out_Of_Range_Throw_Naming_Input_And_Value()
    {
        using var model = new DebertaModel(Tiny());
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Ids([1, 2, 50])));
        Assert.Equal("input_ids", ex.ParamName);
        Assert.Equal(50L, ex.ActualValue);
        var neg = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Ids([1, -3, 5])));
        Assert.Equal(-3L, neg.ActualValue);
        var tt = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Ids([1, 2, 3]), tokenTypeIds: Ids([0, 1, 2])));
        Assert.Equal("token_type_ids", tt.ParamName);
        Assert.Equal(2L, tt.ActualValue);
    }

    [Fact]
    public void Positions_Are_Checked_When_Absolute_Positions_Are_Used()
    {
        using var model = new DebertaModel(Tiny(c => c with { PositionBiasedInput = true, MaxPositionEmbeddings = 4 }));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Ids([1, 2, 3, 4, 5])));
        Assert.Equal("input_ids", ex.ParamName);
        var pos = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Ids([1, 2, 3]), positionIds: Ids([0, 1, 4])));
        Assert.Equal("position_ids", pos.ParamName);
        using var ok = model.Forward(Ids([1, 2, 3]), positionIds: Ids([3, 2, 1]));
        Assert.Equal([1L, 3, 16], ok.LastHiddenState.shape);
    }

    [Fact]
    public void Shapes_And_Exclusive_Inputs_Are_Checked()
    {
        using var model = new DebertaModel(Tiny());
        Assert.Throws<ArgumentException>(() => model.Forward());
        using var embeds = randn(1, 3, 16);
        Assert.Throws<ArgumentException>(() => model.Forward(Ids([1, 2, 3]), inputsEmbeds: embeds));
        Assert.Throws<ArgumentException>(() => model.Forward(tensor(new long[] { 1, 2, 3 })));                  // 1-D ids
        Assert.Throws<ArgumentException>(() => model.Forward(Ids([1, 2, 3]), attentionMask: ones(1, 4)));      // mask shape
        Assert.Throws<ArgumentException>(() => model.Forward(Ids([1, 2, 3]), tokenTypeIds: zeros(2, 3, dtype: ScalarType.Int64)));
        Assert.Throws<ArgumentException>(() => model.Forward(inputsEmbeds: randn(1, 3, 15)));
        Assert.Throws<ArgumentException>(() => model.Forward(tensor(new float[] { 1, 2 }).view(1, 2)));       // float ids
        var mask3d = Assert.Throws<ArgumentException>(() => model.Forward(Ids([1, 2, 3]), attentionMask: ones(1, 3, 3)));
        Assert.Contains("3-D attention_mask", mask3d.Message);
    }

    /// <summary>token_type_ids and position_ids of a non-integer dtype are argument errors naming the input, as input_ids are.</summary>
    [Theory]
    [InlineData(ScalarType.ComplexFloat32)]
    [InlineData(ScalarType.Bool)]
    [InlineData(ScalarType.Float32)]
    public void Non_Integer_Type_And_Position_Ids_Are_Refused_Naming_The_Input(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var model = new DebertaModel(Tiny(c => c with { PositionBiasedInput = true }));
        var types = Assert.Throws<ArgumentException>(() => model.Forward(Ids([1, 2, 3]), tokenTypeIds: zeros(1, 3).to(dtype)));
        Assert.Equal("tokenTypeIds", types.ParamName);
        Assert.Contains("token_type_ids", types.Message);
        Assert.Contains(dtype.ToString(), types.Message);
        var positions = Assert.Throws<ArgumentException>(() => model.Forward(Ids([1, 2, 3]), positionIds: zeros(1, 3).to(dtype)));
        Assert.Equal("positionIds", positions.ParamName);
        Assert.Contains("position_ids", positions.Message);
        // Integer ids of any width are still taken.
        Assert.Equal([1L, 3, 16], model.Forward(Ids([1, 2, 3]), tokenTypeIds: zeros(1, 3, dtype: ScalarType.Int32), positionIds: tensor(new int[] { 0, 1, 2 })).LastHiddenState.shape);
    }

    [Fact]
    public void InputsEmbeds_Equal_Word_Embedding_Lookup()
    {
        using var model = new DebertaModel(Tiny());
        model.eval();
        using var scope = NewDisposeScope();
        var ids = Ids([1, 5, 7, 0], [2, 3, 0, 0]);
        var mask = tensor(new long[] { 1, 1, 1, 0, 1, 1, 0, 0 }, [2, 4]);
        var a = model.Forward(ids, mask);
        var b = model.Forward(inputsEmbeds: model.Embeddings.WordEmbeddings.forward(ids), attentionMask: mask);
        Assert.True(a.LastHiddenState.allclose(b.LastHiddenState, 0, 1e-6));
        // Default mask = ones; default token types = zeros; int32 ids accepted.
        var c = model.Forward(ids.to(ScalarType.Int32), ones(2, 4), zeros(2, 4, dtype: ScalarType.Int64));
        var d = model.Forward(ids);
        Assert.True(c.LastHiddenState.allclose(d.LastHiddenState, 0, 1e-6));
    }

    [Fact]
    public void Forward_Does_Not_Leak_Tensors()
    {
        using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("models", "rel_c2p_p2c", "masked_lm"));
        var expected = ParityAssert.Load(TestPaths.Fixture("models", "rel_c2p_p2c", "masked_lm", "expected_padded.safetensors"));
        try
        {
            var inputs = ParityAssert.Inputs(expected);
            void RunOnce()
            {
                using var output = model.Forward(inputs);
                Assert.NotNull(output.Loss);
            }
            for (int i = 0; i < 3; i++) RunOnce();   // warm-up
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var stats = DisposeScopeManager.Statistics;
            long liveBefore = stats.ThreadTotalLiveCount;
            for (int i = 0; i < 20; i++) RunOnce();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long liveAfter = stats.ThreadTotalLiveCount;
            Assert.True(liveAfter <= liveBefore, $"live tensors grew from {liveBefore} to {liveAfter} over 20 forwards");

            // Inside a caller's scope: everything (outputs included) is gone when the scope ends.
            long before = stats.ThreadTotalLiveCount;
            using (var scope = NewDisposeScope())
            {
                var o = model.Forward(inputs);
                Assert.NotEmpty(o.Attentions!);
            }
            Assert.Equal(before, stats.ThreadTotalLiveCount);
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Fact]
    public void Dropout_Only_In_Training_Mode()
    {
        manual_seed(3);
        using var model = new DebertaForSequenceClassification(Tiny(c => c with { HiddenDropoutProb = 0.3, AttentionProbsDropoutProb = 0.3 }));
        using var scope = NewDisposeScope();
        var ids = Ids([1, 5, 7, 9, 11]);
        model.eval();
        var e1 = model.Forward(ids).Logits;
        var e2 = model.Forward(ids).Logits;
        Assert.True(e1.allclose(e2, 0, 0));
        model.train();
        var t1 = model.Forward(ids).Logits;
        var t2 = model.Forward(ids).Logits;
        Assert.False(t1.allclose(t2, 0, 1e-7));
        model.eval();
        Assert.True(model.Forward(ids).Logits.allclose(e1, 0, 0));
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Half_Precision_Runs_With_Dtype_Min_Masking(ScalarType dtype)
    {
        manual_seed(5);
        using var model = new DebertaForMaskedLM(Tiny());
        model.eval();
        using var scope = NewDisposeScope();
        var ids = Ids([1, 5, 7, 9], [1, 4, 0, 0]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 4]);
        var reference = model.Forward(ids, mask, outputAttentions: true);
        model.to(dtype);
        var half = model.Forward(ids, mask, outputAttentions: true);
        Assert.Equal(dtype, half.Logits.dtype);
        Assert.False(half.Logits.isnan().any().item<bool>());
        Assert.True(half.Logits.to(ScalarType.Float32).allclose(reference.Logits, 0, dtype == ScalarType.Float16 ? 2e-2 : 1e-1));
        // Padded keys get zero probability; fully padded query rows attend uniformly (dtype-min fill, as HF 5.x).
        var att = half.Attentions![0].to(ScalarType.Float32);
        Assert.Equal(0f, att[1, .., 0, 2].abs().max().item<float>());
        Assert.True(att[1, .., 3, ..].allclose(full_like(att[1, .., 3, ..], 0.25f), 0, 1e-3));
    }

    [Fact]
    public void Talking_Head_Adds_The_Head_Projections()
    {
        using var model = new DebertaModel(Tiny(c => c with { TalkingHead = true }));
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.Contains("encoder.layer.0.attention.self.head_logits_proj.weight", names);
        Assert.Contains("encoder.layer.0.attention.self.head_weights_proj.weight", names);
        using var o = model.Forward(Ids([1, 2, 3]), outputAttentions: true);
        Assert.Equal([1L, 4, 3, 3], o.Attentions![0].shape);
    }

    [Fact]
    public void Sequence_Classification_Loss_Rules_When_Problem_Type_Is_Unset()
    {
        manual_seed(11);
        using var model = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3 }));
        model.eval();
        using var scope = NewDisposeScope();
        var ids = Ids([1, 5, 7], [2, 3, 4], [5, 6, 7]);
        var logits = model.Forward(ids).Logits;

        // Integer labels: CE over rows with label >= 0.
        var l1 = model.Forward(ids, labels: tensor(new long[] { 2, -1, 0 })).Loss!;
        var expected1 = nn.functional.cross_entropy(logits.index_select(0, tensor(new long[] { 0, 2 })), tensor(new long[] { 2, 0 }));
        Assert.True(l1.allclose(expected1, 1e-6, 1e-7));
        // No row labelled: 0.
        Assert.Equal(0f, model.Forward(ids, labels: tensor(new long[] { -1, -1, -1 })).Loss!.item<float>());
        // Float labels [B, n]: soft cross-entropy.
        var soft = softmax(randn(3, 3), -1);
        var l3 = model.Forward(ids, labels: soft).Loss!;
        var expected3 = -(nn.functional.log_softmax(logits, -1) * soft).sum(-1).mean();
        Assert.True(l3.allclose(expected3, 1e-6, 1e-7));

        // One label: MSE.
        using var reg = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 1 }));
        reg.eval();
        var target = tensor(new float[] { 0.5f, -1f, 2f });
        var l4 = reg.Forward(ids, labels: target).Loss!;
        var expected4 = nn.functional.mse_loss(reg.Forward(ids).Logits.view(-1), target);
        Assert.True(l4.allclose(expected4, 1e-6, 1e-7));
    }

    [Fact]
    public void Weights_Are_Initialised_As_HuggingFace()
    {
        manual_seed(1);
        using var model = new DebertaForMaskedLM(Tiny(c => c with { InitializerRange = 0.05 }));
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) Assert.Equal(1f, p.min().item<float>());
            else if (name.EndsWith("bias", StringComparison.Ordinal) || name.EndsWith("_bias", StringComparison.Ordinal))
                Assert.Equal(0f, p.abs().max().item<float>());
            else
            {
                if (p.numel() >= 256) Assert.InRange(p.std().item<float>(), 0.04, 0.06);   // small tables: too few samples
                else Assert.InRange(p.abs().max().item<float>(), 1e-6, 0.3);
                if (name == "deberta.embeddings.word_embeddings.weight") Assert.Equal(0f, p[0].abs().max().item<float>());
            }
        }
    }
}
