using TorchSharp;
using static TorchSharp.torch;

using static DebertaSharp.Tests.Modeling.TinyConfigs;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Labels are checked before the native losses index with them: wrong shapes and ids are argument errors naming the input and value.</summary>
public sealed class LabelValidationTests
{
    [Fact]
    public void Bad_Labels_Are_Argument_Errors_Naming_The_Input_And_Value()
    {
        manual_seed(3);
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).view(2, 3);

        using var mlm = new DebertaForMaskedLM(Tiny());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => mlm.Forward(ids, labels: tensor(new long[] { 1, -100, 40, 2, 3, 4 }).view(2, 3)));
        Assert.Contains("labels", e.Message);
        Assert.Contains("40", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => mlm.Forward(ids, labels: tensor(new long[] { 1, -1, 3, 2, 3, 4 }).view(2, 3)));
        Assert.Throws<ArgumentException>(() => mlm.Forward(ids, labels: tensor(new long[] { 1, 2 })));
        Assert.NotNull(mlm.Forward(ids, labels: tensor(new long[] { 1, -100, 39, 2, 3, 4 }).view(2, 3)).Loss);

        using var tok = new DebertaForTokenClassification(Tiny(c => c with { NumLabelsValue = 3 }));
        e = Assert.Throws<ArgumentOutOfRangeException>(() => tok.Forward(ids, labels: tensor(new long[] { 0, 1, 2, 3, 0, 0 }).view(2, 3)));
        Assert.Contains("3", e.Message);

        using var seq = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => seq.Forward(ids, labels: tensor(new long[] { 0, 7 })));
        Assert.Throws<ArgumentException>(() => seq.Forward(ids, labels: tensor(new long[] { 0, 1, 2 })));
        Assert.NotNull(seq.Forward(ids, labels: tensor(new long[] { -1, 2 })).Loss);    // negative rows are skipped, as HF

        Assert.Throws<ArgumentException>(() => seq.Forward(ids, labels: ones(2, 4)));              // soft labels of the wrong width
        Assert.NotNull(seq.Forward(ids, labels: full(2, 3, 1.0 / 3)).Loss);
        using var reg = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 1 }));
        Assert.Throws<ArgumentException>(() => reg.Forward(ids, labels: ones(2, 2)));
        using var regression = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3, ProblemType = "regression" }));
        Assert.Throws<ArgumentException>(() => regression.Forward(ids, labels: ones(2, 2)));

        using var single = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3, ProblemType = "single_label_classification" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => single.Forward(ids, labels: tensor(new long[] { 0, 3 })));
        using var multi = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3, ProblemType = "multi_label_classification" }));
        Assert.Throws<ArgumentException>(() => multi.Forward(ids, labels: ones(2, 2)));

        using var qa = new DebertaForQuestionAnswering(Tiny());
        var q = Assert.Throws<ArgumentException>(() => qa.Forward(ids, startPositions: tensor(new long[] { 0, 1, 2 }), endPositions: tensor(new long[] { 0, 1 })));
        Assert.Contains("start_positions", q.Message);
    }

    /// <summary>
    /// 0-dim labels and positions, batch 1: Hugging Face takes them where it reshapes them (view(-1): regression and
    /// single_label_classification) and fails where it reads a last dimension (problem_type unset, num_labels > 1:
    /// labels.size(-1)) or hands them to CrossEntropyLoss against [1, L] logits (question answering); here that failure is
    /// an argument error naming the input.
    /// </summary>
    [Fact]
    public void ZeroDim_Labels_And_Positions_Are_Taken_Where_HuggingFace_Takes_Them()
    {
        manual_seed(3);
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 1, 2, 3 }).view(1, 3);

        using var seq = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3 }));
        var e = Assert.Throws<ArgumentException>(() => seq.Forward(ids, labels: tensor(1L)));
        Assert.Equal("labels", e.ParamName);
        Assert.Contains("0-dim", e.Message);
        Assert.NotNull(seq.Forward(ids, labels: tensor(new long[] { 1 })).Loss);

        using var single = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 3, ProblemType = "single_label_classification" }));
        single.eval();                                                                    // no dropout: the two forwards must agree
        var singleLoss = single.Forward(ids, labels: tensor(1L)).Loss!;
        Assert.Equal(single.Forward(ids, labels: tensor(new long[] { 1 })).Loss!.item<float>(), singleLoss.item<float>());
        using var reg = new DebertaForSequenceClassification(Tiny(c => c with { NumLabelsValue = 1 }));
        reg.eval();
        Assert.Equal(reg.Forward(ids, labels: tensor(new[] { 0.5f })).Loss!.item<float>(), reg.Forward(ids, labels: tensor(0.5f)).Loss!.item<float>());

        using var qa = new DebertaForQuestionAnswering(Tiny());
        var start = Assert.Throws<ArgumentException>(() => qa.Forward(ids, startPositions: tensor(1L), endPositions: tensor(new long[] { 2 })));
        Assert.Equal("start_positions", start.ParamName);
        var end = Assert.Throws<ArgumentException>(() => qa.Forward(ids, startPositions: tensor(new long[] { 1 }), endPositions: tensor(2L)));
        Assert.Equal("end_positions", end.ParamName);
        var complex = Assert.Throws<ArgumentException>(() => qa.Forward(ids, startPositions: tensor(new long[] { 1 }).to(ScalarType.ComplexFloat32), endPositions: tensor(new long[] { 2 })));
        Assert.Equal("start_positions", complex.ParamName);
        Assert.NotNull(qa.Forward(ids, startPositions: tensor(new long[] { 1 }).view(1, 1), endPositions: tensor(new long[] { 2 })).Loss);
    }
}
