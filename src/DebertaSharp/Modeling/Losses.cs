using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>The loss rules of the Hugging Face DeBERTa heads.</summary>
internal static class Losses
{
    public const long IgnoreIndex = -100;

    /// <summary>Cross-entropy over [N, C] logits and [N] labels, ignoring -100 (masked LM, token classification).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, long numClasses) =>
        nn.functional.cross_entropy(logits.view(-1, numClasses), labels.view(-1).to(ScalarType.Int64), ignore_index: IgnoreIndex);

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
                    var target = labels.view(-1);
                    if (!target.is_floating_point()) target = target.to(logits.dtype);
                    return nn.functional.mse_loss(logits.view(-1).to(target.dtype), target);
                }
                if (labels.dim() == 1 || labels.shape[^1] == 1)
                {
                    var flat = labels.view(-1).to(ScalarType.Int64);                    // [B]
                    var rows = flat.ge(0).nonzero().view(-1);                             // [n]
                    if (rows.shape[0] == 0) return zeros([], dtype: logits.dtype, device: logits.device);
                    var labeled = logits.index_select(0, rows);                          // [n, C]
                    return nn.functional.cross_entropy(labeled.view(-1, numLabels).to(ScalarType.Float32), flat.index_select(0, rows));
                }
                return -(nn.functional.log_softmax(logits, -1) * labels).sum(-1).mean();
            case "regression":
                return numLabels == 1
                    ? nn.functional.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
                    : nn.functional.mse_loss(logits, labels.to(logits.dtype));
            case "single_label_classification":
                return nn.functional.cross_entropy(logits.view(-1, numLabels), labels.view(-1).to(ScalarType.Int64), ignore_index: IgnoreIndex);
            case "multi_label_classification":
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
        var s = startPositions.to(ScalarType.Int64).clamp(0, ignored);
        var e = endPositions.to(ScalarType.Int64).clamp(0, ignored);
        var startLoss = nn.functional.cross_entropy(startLogits, s, ignore_index: ignored);
        var endLoss = nn.functional.cross_entropy(endLogits, e, ignore_index: ignored);
        return (startLoss + endLoss) / 2;
    }
}
