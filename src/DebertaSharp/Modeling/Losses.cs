using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>The loss rules of the Hugging Face DeBERTa heads.</summary>
internal static class Losses
{
    public const long IgnoreIndex = -100;

    /// <summary>Cross-entropy over [N, C] logits and [N] labels, ignoring -100 (masked LM, token classification).</summary>
    /// <exception cref="ArgumentException">The labels are not integers, or do not have one entry per logits row.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is neither -100 nor in [0, C).</exception>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, long numClasses)
    {
        // Hugging Face passes labels.view(-1) to CrossEntropyLoss, which refuses floating-point (and boolean) targets of
        // that shape; casting them would turn 0.7 into class 0 without a word.
        if (labels.is_floating_point() || labels.is_complex() || labels.dtype == ScalarType.Bool)
            throw new ArgumentException(
                $"labels must be integer class ids (int64; -100 to ignore a position), not {labels.dtype}.", nameof(labels));
        var flat = labels.reshape(-1).to(ScalarType.Int64);                               // [N]
        CheckClassIds(flat, logits.numel() / numClasses, numClasses, "labels", labels.shape, counted: v => v.ne(IgnoreIndex));
        return nn.functional.cross_entropy(logits.view(-1, numClasses), flat, ignore_index: IgnoreIndex);
    }

    private static void RequireLogitsShape(Tensor labels, Tensor logits, string what)
    {
        if (!labels.shape.SequenceEqual(logits.shape))
            throw new ArgumentException(
                $"labels has shape [{string.Join(", ", labels.shape)}]; {what} needs [{string.Join(", ", logits.shape)}], the logits' shape.", nameof(labels));
    }

    private static void RequireOnePerRow(Tensor labels, long rows, string what)
    {
        if (labels.numel() != rows)
            throw new ArgumentException($"labels has shape [{string.Join(", ", labels.shape)}]; {what} needs {rows} values.", nameof(labels));
    }

    /// <summary>
    /// Checks class ids before torch indexes with them, so that a wrong label is an exception naming the input and the
    /// value rather than an error from the native loss: <paramref name="ids"/> must have <paramref name="count"/> entries
    /// and those that <paramref name="counted"/> selects must lie in [0, <paramref name="numClasses"/>).
    /// </summary>
    private static void CheckClassIds(Tensor ids, long count, long numClasses, string name, long[] shape, Func<Tensor, Tensor> counted)
    {
        if (ids.numel() != count)
            throw new ArgumentException(
                $"{name} has shape [{string.Join(", ", shape)}] ({ids.numel()} entries); the logits need {count} (one per prediction).", name);
        using var scope = NewDisposeScope();
        var used = ids.masked_select(counted(ids));
        if (used.numel() == 0) return;
        long min = used.min().item<long>(), max = used.max().item<long>();
        if (min < 0)
            throw new ArgumentOutOfRangeException(name, min, $"{name} contains {min}: class ids must be in [0, {numClasses}) (or {IgnoreIndex} to ignore a position).");
        if (max >= numClasses)
            throw new ArgumentOutOfRangeException(name, max, $"{name} contains {max}: class ids must be in [0, {numClasses}).");
    }

    /// <summary>
    /// Mirrors DebertaForSequenceClassification's loss: problem_type regression (MSE), single_label_classification
    /// (CE), multi_label_classification (BCE with logits); unset: 1 label → MSE; [B] or [B, 1] labels → CE over rows
    /// with label >= 0 (0 if none); otherwise soft cross-entropy −(log_softmax · labels).sum(−1).mean().
    /// </summary>
    public static Tensor SequenceClassification(Tensor logits, Tensor labels, int numLabels, string? problemType)
    {
        switch (problemType)
        {
            case null:
                if (numLabels == 1)
                {
                    // HF casts logits to the labels' dtype; integer labels are taken as floats here (HF would fail).
                    RequireOnePerRow(labels, logits.shape[0], "one target per row for num_labels 1 (regression)");
                    var target = labels.reshape(-1);
                    if (!target.is_floating_point()) target = target.to(logits.dtype);
                    return nn.functional.mse_loss(logits.view(-1).to(target.dtype), target);
                }
                // Hugging Face reads labels.size(-1) here, which a 0-dim tensor does not have (IndexError).
                if (labels.dim() == 0)
                    throw new ArgumentException(
                        $"labels is a 0-dim tensor; with num_labels {numLabels} and problem_type unset it must be [{logits.shape[0]}] class ids (or [{logits.shape[0]}, {numLabels}] soft labels).", nameof(labels));
                if (labels.dim() == 1 || labels.shape[^1] == 1)
                {
                    var flat = labels.reshape(-1).to(ScalarType.Int64);                 // [B]
                    CheckClassIds(flat, logits.shape[0], numLabels, "labels", labels.shape, counted: v => v.ge(0));
                    var rows = flat.ge(0).nonzero().view(-1);                             // [n]
                    if (rows.shape[0] == 0) return zeros([], dtype: logits.dtype, device: logits.device);
                    var labeled = logits.index_select(0, rows);                          // [n, C]
                    return nn.functional.cross_entropy(labeled.view(-1, numLabels).to(ScalarType.Float32), flat.index_select(0, rows));
                }
                RequireLogitsShape(labels, logits, "soft labels");
                return -(nn.functional.log_softmax(logits, -1) * labels).sum(-1).mean();
            case "regression":
                if (numLabels == 1)
                {
                    RequireOnePerRow(labels, logits.shape[0], "one target per row for regression with num_labels 1");
                    return nn.functional.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype));
                }
                RequireLogitsShape(labels, logits, "regression");
                return nn.functional.mse_loss(logits, labels.to(logits.dtype));
            case "single_label_classification":
                return CrossEntropy(logits, labels, numLabels);
            case "multi_label_classification":
                RequireLogitsShape(labels, logits, "multi_label_classification");
                return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype));
            default:
                throw new DebertaConfigException("problem_type", $"unknown problem type '{problemType}'");
        }
    }

    /// <summary>
    /// Mirrors DebertaForQuestionAnswering's loss: positions clamped to [0, L], cross-entropy ignoring index L, the mean
    /// of the start and end losses (NaN when no target remains, as in Hugging Face).
    /// </summary>
    public static Tensor QuestionAnswering(Tensor startLogits, Tensor endLogits, Tensor startPositions, Tensor endPositions)
    {
        if (startPositions.dim() > 1) startPositions = startPositions.squeeze(-1);
        if (endPositions.dim() > 1) endPositions = endPositions.squeeze(-1);
        long ignored = startLogits.shape[1];
        foreach (var (name, p) in new[] { ("start_positions", startPositions), ("end_positions", endPositions) })
            // A 0-dim tensor is refused as Hugging Face's CrossEntropyLoss refuses it against [B, L] logits.
            if (p.dim() != 1 || p.numel() != startLogits.shape[0] || p.is_floating_point() || p.is_complex())
                throw new ArgumentException(
                    $"{name} must hold one integer position per row ([{startLogits.shape[0]}] or [{startLogits.shape[0]}, 1]), got {p.dtype} of shape [{string.Join(", ", p.shape)}].", name);
        var s = startPositions.to(ScalarType.Int64).clamp(0, ignored);
        var e = endPositions.to(ScalarType.Int64).clamp(0, ignored);
        var startLoss = nn.functional.cross_entropy(startLogits, s, ignore_index: ignored);
        var endLoss = nn.functional.cross_entropy(endLogits, e, ignore_index: ignored);
        return (startLoss + endLoss) / 2;
    }
}
