using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.TensorFlow;

/// <summary>
/// The loss mixins of transformers 4.x's modeling_tf_utils (with <c>tf_legacy_loss</c> false), on top of Keras's
/// <c>SparseCategoricalCrossentropy(from_logits=True, reduction=NONE)</c> and <c>MeanSquaredError(reduction=NONE)</c>.
/// Shapes and reductions differ from the PyTorch heads: masked LM and token classification return [1], sequence
/// classification and question answering one loss per example [B]. Class ids outside the logits are errors (TF on
/// CPU raises for them too); there is no clamping of span positions as the PyTorch head does.
/// </summary>
internal static class TFLosses
{
    /// <summary>Per-element sparse categorical cross-entropy from logits: logsumexp(z) - z[label], in fp32 or wider.</summary>
    private static Tensor SparseCrossEntropy(Tensor logits, Tensor labels)
    {
        var z = logits.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? logits.to(ScalarType.Float32) : logits;
        var logp = nn.functional.log_softmax(z, -1);                                     // [..., C]
        return -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1);                       // [...]
    }

    private static Tensor ClassIds(Tensor labels, string name)
    {
        if (labels.is_complex() || labels.dtype == ScalarType.Bool)
            throw new ArgumentException($"{name} must be class ids, not {labels.dtype}.", name);
        return labels.dtype == ScalarType.Int64 ? labels : labels.to(ScalarType.Int64);   // Keras casts y_true to int64
    }

    private static void CheckRange(Tensor ids, long classes, string name)
    {
        if (ids.numel() == 0) return;
        using var scope = NewDisposeScope();
        long min = ids.min().item<long>(), max = ids.max().item<long>();
        if (min < 0) throw new ArgumentOutOfRangeException(name, min, $"{name} contains {min}: class ids must be in [0, {classes}).");
        if (max >= classes) throw new ArgumentOutOfRangeException(name, max, $"{name} contains {max}: class ids must be in [0, {classes}).");
    }

    private static void RequireShape(Tensor labels, long[] shape, string name)
    {
        if (!labels.shape.SequenceEqual(shape))
            throw new ArgumentException($"{name} has shape [{string.Join(", ", labels.shape)}]; the logits need [{string.Join(", ", shape)}].", name);
    }

    /// <summary>
    /// TFMaskedLanguageModelingLoss (TFCausalLanguageModelingLoss): cross-entropy at relu(labels), masked where
    /// labels == -100, sum / count, reshaped to [1]. Other negative labels count as class 0, as in TF.
    /// </summary>
    public static Tensor MaskedLM(Tensor logits, Tensor labels) => Masked(logits, labels, keep: l => l.ne(-100));

    /// <summary>TFTokenClassificationLoss: the same with the mask labels &gt;= 0.</summary>
    public static Tensor TokenClassification(Tensor logits, Tensor labels) => Masked(logits, labels, keep: l => l.ge(0));

    private static Tensor Masked(Tensor logits, Tensor labels, Func<Tensor, Tensor> keep)
    {
        var ids = ClassIds(labels, "labels");
        RequireShape(ids, logits.shape[..^1], "labels");
        var clipped = ids.clamp_min(0);                                                  // tf.nn.relu(labels)
        CheckRange(clipped, logits.shape[^1], "labels");
        var unmasked = SparseCrossEntropy(logits, clipped);                              // [B, L]
        var mask = keep(ids).to(unmasked.dtype);
        return ((unmasked * mask).sum() / mask.sum()).reshape(1);                        // [1]
    }

    /// <summary>
    /// TFSequenceClassificationLoss: one label → MeanSquaredError per example (labels [B] become [B, 1]); otherwise
    /// sparse categorical cross-entropy per example. problem_type is not consulted (the TF classes never did).
    /// </summary>
    public static Tensor SequenceClassification(Tensor logits, Tensor labels)
    {
        long b = logits.shape[0];
        if (logits.dim() == 1 || logits.shape[1] == 1)
        {
            var y = labels.dim() == 1 ? labels.unsqueeze(-1) : labels;
            RequireShape(y, logits.dim() == 1 ? [b] : [b, 1], "labels");
            var diff = logits - y.to(logits.dtype);
            return diff.dim() == 1 ? diff.square() : diff.square().mean(new long[] { -1 });   // [B]: the mean over the one label
        }
        // Keras's sparse_categorical_crossentropy flattens a target whose rank is not the output's minus one: [B, 1] ids work.
        if (labels.dim() == 2 && labels.shape[0] == b && labels.shape[1] == 1) labels = labels.reshape(b);
        if (labels.dim() != 1 || labels.shape[0] != b)
            throw new ArgumentException(
                $"labels has shape [{string.Join(", ", labels.shape)}]; TFDebertaForSequenceClassification's loss (TFSequenceClassificationLoss) " +
                $"takes [{b}] class ids (it has no multi-label or problem_type rule).", nameof(labels));
        var ids = ClassIds(labels, "labels");
        CheckRange(ids, logits.shape[1], "labels");
        return SparseCrossEntropy(logits, ids);                                          // [B]
    }

    /// <summary>TFQuestionAnsweringLoss: (CE(start) + CE(end)) / 2 per example, [B]; positions must lie in [0, L).</summary>
    public static Tensor QuestionAnswering(Tensor startLogits, Tensor endLogits, Tensor startPositions, Tensor endPositions)
    {
        long b = startLogits.shape[0], l = startLogits.shape[1];
        var s = ClassIds(startPositions.reshape(-1), "startPositions");
        var e = ClassIds(endPositions.reshape(-1), "endPositions");
        RequireShape(s, [b], "startPositions");
        RequireShape(e, [b], "endPositions");
        CheckRange(s, l, "startPositions");
        CheckRange(e, l, "endPositions");
        return (SparseCrossEntropy(startLogits, s) + SparseCrossEntropy(endLogits, e)) / 2.0;   // [B]
    }
}
