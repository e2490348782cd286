using static TorchSharp.torch;

namespace DebertaSharp;

/// <summary>Which model class (head) a checkpoint or a model is.</summary>
public enum DebertaHead
{
    /// <summary><c>DebertaModel</c>: the bare encoder.</summary>
    Base,
    /// <summary><c>DebertaForMaskedLM</c>.</summary>
    MaskedLM,
    /// <summary><c>DebertaForSequenceClassification</c>.</summary>
    SequenceClassification,
    /// <summary><c>DebertaForTokenClassification</c>.</summary>
    TokenClassification,
    /// <summary><c>DebertaForQuestionAnswering</c>.</summary>
    QuestionAnswering,
}

/// <summary>The inputs of a forward pass, as Hugging Face's keyword arguments.</summary>
public sealed record DebertaInputs
{
    /// <summary>[B, L] token ids (int64 or int32); exactly one of this and <see cref="InputsEmbeds"/>.</summary>
    public Tensor? InputIds { get; init; }
    /// <summary>[B, L] mask, 1 for real tokens and 0 for padding; ones when null.</summary>
    public Tensor? AttentionMask { get; init; }
    /// <summary>[B, L] token type ids; zeros when null (ignored when <c>type_vocab_size</c> is 0).</summary>
    public Tensor? TokenTypeIds { get; init; }
    /// <summary>[B, L] or [L] absolute positions; 0..L-1 when null (used only with <c>position_biased_input</c>).</summary>
    public Tensor? PositionIds { get; init; }
    /// <summary>[B, L, E] input embeddings instead of <see cref="InputIds"/>.</summary>
    public Tensor? InputsEmbeds { get; init; }
    /// <summary>Labels for the loss of the masked LM, sequence and token classification heads.</summary>
    public Tensor? Labels { get; init; }
    /// <summary>[B] start positions for the question answering loss.</summary>
    public Tensor? StartPositions { get; init; }
    /// <summary>[B] end positions for the question answering loss.</summary>
    public Tensor? EndPositions { get; init; }
    /// <summary>Whether to return every layer's attention probabilities.</summary>
    public bool OutputAttentions { get; init; }
    /// <summary>Whether to return the embedding output and every layer's output.</summary>
    public bool OutputHiddenStates { get; init; }
}

/// <summary>
/// Base of the forward results (Hugging Face's <c>ModelOutput</c>). Tensors belong to the caller: dispose the output
/// (or use a dispose scope) when done.
/// </summary>
/// <param name="Loss">The loss when labels were given, else null.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities [B, heads, L, L], when asked.</param>
public abstract record ModelOutput(Tensor? Loss, IReadOnlyList<Tensor>? HiddenStates, IReadOnlyList<Tensor>? Attentions) : IDisposable
{
    /// <summary>The head's own tensors by Hugging Face field name (null ones included).</summary>
    private protected abstract IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors();

    /// <summary>
    /// The non-null tensors by Hugging Face name: <c>loss</c>, <c>logits</c>, <c>last_hidden_state</c>,
    /// <c>start_logits</c>, <c>end_logits</c>, <c>hidden_states.{i}</c>, <c>attentions.{i}</c>.
    /// </summary>
    public IEnumerable<KeyValuePair<string, Tensor>> NamedTensors()
    {
        if (Loss is not null) yield return new("loss", Loss);
        foreach (var (k, v) in HeadTensors())
            if (v is not null) yield return new(k, v);
        if (HiddenStates is not null)
            for (int i = 0; i < HiddenStates.Count; i++) yield return new($"hidden_states.{i}", HiddenStates[i]);
        if (Attentions is not null)
            for (int i = 0; i < Attentions.Count; i++) yield return new($"attentions.{i}", Attentions[i]);
    }

    /// <summary>Disposes every tensor of the output.</summary>
    public void Dispose()
    {
        foreach (var (_, t) in NamedTensors()) t.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Output of <see cref="DebertaModel"/> (Hugging Face's <c>BaseModelOutput</c>).</summary>
/// <param name="LastHiddenState">[B, L, H] output of the last layer.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record BaseModelOutput(Tensor LastHiddenState, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(null, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("last_hidden_state", LastHiddenState)];
}

/// <summary>Output of <see cref="DebertaForMaskedLM"/> (Hugging Face's <c>MaskedLMOutput</c>).</summary>
/// <param name="Loss">Cross-entropy over labels != -100, when labels were given.</param>
/// <param name="Logits">[B, L, vocab] prediction scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record MaskedLMOutput(Tensor? Loss, Tensor Logits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("logits", Logits)];
}

/// <summary>Output of <see cref="DebertaForSequenceClassification"/> (Hugging Face's <c>SequenceClassifierOutput</c>).</summary>
/// <param name="Loss">The classification or regression loss, when labels were given.</param>
/// <param name="Logits">[B, num_labels] scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record SequenceClassifierOutput(Tensor? Loss, Tensor Logits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("logits", Logits)];
}

/// <summary>Output of <see cref="DebertaForTokenClassification"/> (Hugging Face's <c>TokenClassifierOutput</c>).</summary>
/// <param name="Loss">Cross-entropy over labels != -100, when labels were given.</param>
/// <param name="Logits">[B, L, num_labels] scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record TokenClassifierOutput(Tensor? Loss, Tensor Logits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("logits", Logits)];
}

/// <summary>Output of <see cref="DebertaForQuestionAnswering"/> (Hugging Face's <c>QuestionAnsweringModelOutput</c>).</summary>
/// <param name="Loss">Mean of the start and end cross-entropies, when positions were given.</param>
/// <param name="StartLogits">[B, L] span start scores.</param>
/// <param name="EndLogits">[B, L] span end scores.</param>
/// <param name="HiddenStates">The embedding output then each layer's output, when asked.</param>
/// <param name="Attentions">Each layer's attention probabilities, when asked.</param>
public sealed record QuestionAnsweringModelOutput(Tensor? Loss, Tensor StartLogits, Tensor EndLogits, IReadOnlyList<Tensor>? HiddenStates = null, IReadOnlyList<Tensor>? Attentions = null)
    : ModelOutput(Loss, HiddenStates, Attentions)
{
    private protected override IEnumerable<KeyValuePair<string, Tensor?>> HeadTensors() => [new("start_logits", StartLogits), new("end_logits", EndLogits)];
}
