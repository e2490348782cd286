using static TorchSharp.torch;

namespace DebertaSharp.TensorFlow;

/// <summary>Output of <see cref="TFDebertaModel"/> (transformers' <c>TFBaseModelOutput</c>).</summary>
/// <param name="LastHiddenState">[B, L, H] output of the last layer.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities [B, heads, L, L], when asked (rows of padded queries are zeros).</param>
public sealed record TFBaseModelOutput(Tensor LastHiddenState, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(null, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("last_hidden_state", LastHiddenState)];
}

/// <summary>Output of <see cref="TFDebertaForMaskedLM"/> (transformers' <c>TFMaskedLMOutput</c>).</summary>
/// <param name="Loss">[1]: the mean cross-entropy over labels != -100 (TFMaskedLanguageModelingLoss), when labels were given.</param>
/// <param name="Logits">[B, L, vocab] prediction scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record TFMaskedLMOutput(Tensor? Loss, Tensor Logits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("logits", Logits)];
}

/// <summary>Output of <see cref="TFDebertaForSequenceClassification"/> (transformers' <c>TFSequenceClassifierOutput</c>).</summary>
/// <param name="Loss">[B]: one loss per example, unreduced (TFSequenceClassificationLoss): squared error with one label,
/// sparse categorical cross-entropy otherwise; when labels were given.</param>
/// <param name="Logits">[B, num_labels] scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record TFSequenceClassifierOutput(Tensor? Loss, Tensor Logits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("logits", Logits)];
}

/// <summary>Output of <see cref="TFDebertaForTokenClassification"/> (transformers' <c>TFTokenClassifierOutput</c>).</summary>
/// <param name="Loss">[1]: the mean cross-entropy over labels &gt;= 0 (TFTokenClassificationLoss), when labels were given.</param>
/// <param name="Logits">[B, L, num_labels] scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record TFTokenClassifierOutput(Tensor? Loss, Tensor Logits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("logits", Logits)];
}

/// <summary>Output of <see cref="TFDebertaForQuestionAnswering"/> (transformers' <c>TFQuestionAnsweringModelOutput</c>).</summary>
/// <param name="Loss">[B]: per example, the mean of the start and end cross-entropies (TFQuestionAnsweringLoss), when
/// both positions were given.</param>
/// <param name="StartLogits">[B, L] span start scores.</param>
/// <param name="EndLogits">[B, L] span end scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record TFQuestionAnsweringModelOutput(Tensor? Loss, Tensor StartLogits, Tensor EndLogits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("start_logits", StartLogits), new("end_logits", EndLogits)];
}
