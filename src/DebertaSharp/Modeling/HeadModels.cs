using DebertaSharp.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp;

/// <summary>
/// DeBERTa with a masked language modelling head (Hugging Face's <c>DebertaForMaskedLM</c>): <c>legacy: true</c> uses
/// <c>cls.predictions.*</c> with the decoder tied to the word embeddings, <c>legacy: false</c> uses
/// <c>lm_predictions.lm_head.*</c>.
/// </summary>
public sealed class DebertaForMaskedLM : DebertaPreTrainedModel
{
    private readonly DebertaModel deberta;
    private readonly LegacyDebertaOnlyMLMHead? cls;
    private readonly DebertaOnlyMLMHead? lm_predictions;

    /// <summary>Creates a model with weights initialised as Hugging Face's <c>_init_weights</c>.</summary>
    /// <exception cref="DebertaConfigException">The configuration is invalid.</exception>
    public DebertaForMaskedLM(DebertaConfig config) : base(nameof(DebertaForMaskedLM), config)
    {
        deberta = new DebertaModel(Config, init: false);
        if (Config.Legacy) cls = new LegacyDebertaOnlyMLMHead(Config);
        else
        {
            if (Config.EffectiveEmbeddingSize != Config.HiddenSize)
                throw new DebertaConfigException("embedding_size",
                    "the non-legacy masked LM head (legacy: false) needs embedding_size == hidden_size (Hugging Face fails on this combination too)");
            lm_predictions = new DebertaOnlyMLMHead(Config);
        }
        RegisterComponents();
        WeightInit.Apply(this, Config);
    }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.MaskedLM;

    /// <summary>Loads a checkpoint folder as a <see cref="DebertaForMaskedLM"/> (see <see cref="DebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="dtype">The model dtype; null keeps the checkpoint's.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <param name="options">Loading options.</param>
    public static DebertaForMaskedLM FromPretrained(string dir, ScalarType? dtype = null, Device? device = null, PretrainedLoadOptions? options = null) =>
        (DebertaForMaskedLM)DebertaPreTrainedModel.FromPretrained(dir, dtype, device, DebertaHead.MaskedLM, options);

    /// <summary>Whether this model uses the legacy <c>cls.predictions</c> head.</summary>
    public bool UsesLegacyHead => cls is not null;

    /// <summary>
    /// Set by the <see cref="Training.Trainer"/> around its training steps: in training mode with labels, the prediction
    /// head runs only on the labelled positions and <see cref="MaskedLMOutput.Logits"/> is [N, V] for those N rows. Off
    /// by default, so that a forward returns Hugging Face's [B, L, V] logits.
    /// </summary>
    internal bool LogitsAtLabelsOnly { get; set; }

    internal override DebertaModel Backbone => deberta;

    /// <inheritdoc/>
    public override ModelOutput Forward(DebertaInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Forward(inputs.InputIds, inputs.AttentionMask, inputs.TokenTypeIds, inputs.PositionIds, inputs.InputsEmbeds,
            inputs.Labels, inputs.OutputAttentions, inputs.OutputHiddenStates);
    }

    /// <summary>Runs the model; with <paramref name="labels"/> [B, L] (-100 = ignored) also the cross-entropy loss.</summary>
    /// <param name="inputIds">[B, L] token ids; exactly one of this and <paramref name="inputsEmbeds"/>.</param>
    /// <param name="attentionMask">[B, L] mask; ones when null.</param>
    /// <param name="tokenTypeIds">[B, L] token types; zeros when null.</param>
    /// <param name="positionIds">[B, L] or [L] positions; 0..L-1 when null.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="labels">[B, L] target ids, -100 where ignored.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return the embedding output and every layer's output.</param>
    public MaskedLMOutput Forward(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        Tensor? positionIds = null, Tensor? inputsEmbeds = null, Tensor? labels = null, bool outputAttentions = false,
        bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var outputs = deberta.ForwardCore(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates);
        var words = deberta.WordEmbeddingWeight;
        var hidden = outputs.LastHiddenState;                                           // [B, L, H]
        if (LogitsAtLabelsOnly && labels is not null && training && labels.shape.SequenceEqual(hidden.shape[..^1]))
        {
            // The Trainer's training step: the loss only reads the labelled rows, so the head runs on those alone
            // ([N, H] -> [N, V], N = labels != -100); the same loss and gradients as the full [B, L, V] product.
            var selected = labels.ne(Losses.IgnoreIndex);                               // [B, L]
            hidden = hidden[selected];                                                  // [N, H]
            labels = labels[selected];                                                  // [N]
        }
        var logits = cls is not null
            ? cls.Forward(hidden, words)                                                // [B, L, V] ([N, V] above)
            : lm_predictions!.Forward(hidden, words);
        Tensor? loss = labels is null ? null : Losses.CrossEntropy(logits, labels, Config.VocabSize);
        return Scopes.MoveOut(scope, new MaskedLMOutput(loss, logits, outputs.HiddenStates, outputs.Attentions));
    }
}

/// <summary>
/// DeBERTa with a sequence classification/regression head (Hugging Face's <c>DebertaForSequenceClassification</c>):
/// <c>pooler.dense</c> on the first token, dropout, <c>classifier</c>.
/// </summary>
public sealed class DebertaForSequenceClassification : DebertaPreTrainedModel
{
    private readonly DebertaModel deberta;
    private readonly ContextPooler pooler;
    private readonly Linear classifier;
    private readonly double _dropout;

    /// <summary>Creates a model with weights initialised as Hugging Face's <c>_init_weights</c>.</summary>
    /// <exception cref="DebertaConfigException">The configuration is invalid.</exception>
    public DebertaForSequenceClassification(DebertaConfig config) : base(nameof(DebertaForSequenceClassification), config)
    {
        // ContextPooler feeds the first token (hidden_size) to a pooler_hidden_size square layer.
        if (Config.EffectivePoolerHiddenSize != Config.HiddenSize)
            throw new DebertaConfigException("pooler_hidden_size",
                $"must equal hidden_size ({Config.HiddenSize}) for the DeBERTa v1 pooler, got {Config.EffectivePoolerHiddenSize}");
        deberta = new DebertaModel(Config, init: false);
        pooler = new ContextPooler(Config);
        classifier = nn.Linear(Config.HiddenSize, Config.NumLabels);
        _dropout = Config.ClsDropout ?? Config.HiddenDropoutProb;
        RegisterComponents();
        WeightInit.Apply(this, Config);
    }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.SequenceClassification;

    /// <summary>Loads a checkpoint folder as a <see cref="DebertaForSequenceClassification"/> (see <see cref="DebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="dtype">The model dtype; null keeps the checkpoint's.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <param name="options">Loading options.</param>
    public static DebertaForSequenceClassification FromPretrained(string dir, ScalarType? dtype = null, Device? device = null, PretrainedLoadOptions? options = null) =>
        (DebertaForSequenceClassification)DebertaPreTrainedModel.FromPretrained(dir, dtype, device, DebertaHead.SequenceClassification, options);

    internal override DebertaModel Backbone => deberta;

    /// <inheritdoc/>
    public override ModelOutput Forward(DebertaInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Forward(inputs.InputIds, inputs.AttentionMask, inputs.TokenTypeIds, inputs.PositionIds, inputs.InputsEmbeds,
            inputs.Labels, inputs.OutputAttentions, inputs.OutputHiddenStates);
    }

    /// <summary>Runs the model; with <paramref name="labels"/> also the loss chosen by <c>problem_type</c> (see Hugging Face).</summary>
    /// <param name="inputIds">[B, L] token ids; exactly one of this and <paramref name="inputsEmbeds"/>.</param>
    /// <param name="attentionMask">[B, L] mask; ones when null.</param>
    /// <param name="tokenTypeIds">[B, L] token types; zeros when null.</param>
    /// <param name="positionIds">[B, L] or [L] positions; 0..L-1 when null.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="labels">[B] class ids (rows with a negative label are skipped when problem_type is unset), [B] floats for
    /// regression, [B, num_labels] multi-label targets or soft labels. With one label, problem_type unset and labels given, the
    /// returned logits are flattened to [B] (in the labels' float dtype), as Hugging Face returns them.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return the embedding output and every layer's output.</param>
    public SequenceClassifierOutput Forward(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        Tensor? positionIds = null, Tensor? inputsEmbeds = null, Tensor? labels = null, bool outputAttentions = false,
        bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var outputs = deberta.ForwardCore(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates);
        var pooled = pooler.forward(outputs.LastHiddenState);                           // [B, H]
        pooled = nn.functional.dropout(pooled, _dropout, training);
        var logits = classifier.forward(pooled);                                         // [B, num_labels]
        Tensor? loss = labels is null ? null : Losses.SequenceClassification(logits, labels, Config.NumLabels, Config.ProblemType);
        if (labels is not null && Config.ProblemType is null && Config.NumLabels == 1)
        {
            // Hugging Face returns the flattened logits it computed the MSE on: [B], in the labels' float dtype.
            logits = logits.view(-1);                                                    // [B]
            if (labels.is_floating_point()) logits = logits.to(labels.dtype);
        }
        return Scopes.MoveOut(scope, new SequenceClassifierOutput(loss, logits, outputs.HiddenStates, outputs.Attentions));
    }
}

/// <summary>DeBERTa with a token classification head (Hugging Face's <c>DebertaForTokenClassification</c>): dropout, <c>classifier</c>.</summary>
public sealed class DebertaForTokenClassification : DebertaPreTrainedModel
{
    private readonly DebertaModel deberta;
    private readonly Linear classifier;
    private readonly double _dropout;

    /// <summary>Creates a model with weights initialised as Hugging Face's <c>_init_weights</c>.</summary>
    /// <exception cref="DebertaConfigException">The configuration is invalid.</exception>
    public DebertaForTokenClassification(DebertaConfig config) : base(nameof(DebertaForTokenClassification), config)
    {
        deberta = new DebertaModel(Config, init: false);
        classifier = nn.Linear(Config.HiddenSize, Config.NumLabels);
        _dropout = Config.HiddenDropoutProb;
        RegisterComponents();
        WeightInit.Apply(this, Config);
    }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.TokenClassification;

    /// <summary>Loads a checkpoint folder as a <see cref="DebertaForTokenClassification"/> (see <see cref="DebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="dtype">The model dtype; null keeps the checkpoint's.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <param name="options">Loading options.</param>
    public static DebertaForTokenClassification FromPretrained(string dir, ScalarType? dtype = null, Device? device = null, PretrainedLoadOptions? options = null) =>
        (DebertaForTokenClassification)DebertaPreTrainedModel.FromPretrained(dir, dtype, device, DebertaHead.TokenClassification, options);

    internal override DebertaModel Backbone => deberta;

    /// <inheritdoc/>
    public override ModelOutput Forward(DebertaInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Forward(inputs.InputIds, inputs.AttentionMask, inputs.TokenTypeIds, inputs.PositionIds, inputs.InputsEmbeds,
            inputs.Labels, inputs.OutputAttentions, inputs.OutputHiddenStates);
    }

    /// <summary>Runs the model; with <paramref name="labels"/> [B, L] (-100 = ignored) also the cross-entropy loss.</summary>
    /// <param name="inputIds">[B, L] token ids; exactly one of this and <paramref name="inputsEmbeds"/>.</param>
    /// <param name="attentionMask">[B, L] mask; ones when null.</param>
    /// <param name="tokenTypeIds">[B, L] token types; zeros when null.</param>
    /// <param name="positionIds">[B, L] or [L] positions; 0..L-1 when null.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="labels">[B, L] label ids, -100 where ignored.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return the embedding output and every layer's output.</param>
    public TokenClassifierOutput Forward(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        Tensor? positionIds = null, Tensor? inputsEmbeds = null, Tensor? labels = null, bool outputAttentions = false,
        bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var outputs = deberta.ForwardCore(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates);
        var x = nn.functional.dropout(outputs.LastHiddenState, _dropout, training);
        var logits = classifier.forward(x);                                              // [B, L, num_labels]
        Tensor? loss = labels is null ? null : Losses.CrossEntropy(logits, labels, Config.NumLabels);
        return Scopes.MoveOut(scope, new TokenClassifierOutput(loss, logits, outputs.HiddenStates, outputs.Attentions));
    }
}

/// <summary>DeBERTa with an extractive question answering head (Hugging Face's <c>DebertaForQuestionAnswering</c>): <c>qa_outputs</c>.</summary>
public sealed class DebertaForQuestionAnswering : DebertaPreTrainedModel
{
    private readonly DebertaModel deberta;
    private readonly Linear qa_outputs;

    /// <summary>Creates a model with weights initialised as Hugging Face's <c>_init_weights</c>.</summary>
    /// <exception cref="DebertaConfigException">The configuration is invalid.</exception>
    public DebertaForQuestionAnswering(DebertaConfig config) : base(nameof(DebertaForQuestionAnswering), config)
    {
        if (Config.NumLabels != 2)
            throw new DebertaConfigException("num_labels", $"question answering needs 2 labels (start, end), got {Config.NumLabels}");
        deberta = new DebertaModel(Config, init: false);
        qa_outputs = nn.Linear(Config.HiddenSize, Config.NumLabels);
        RegisterComponents();
        WeightInit.Apply(this, Config);
    }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.QuestionAnswering;

    /// <summary>Loads a checkpoint folder as a <see cref="DebertaForQuestionAnswering"/> (see <see cref="DebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="dtype">The model dtype; null keeps the checkpoint's.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <param name="options">Loading options.</param>
    public static DebertaForQuestionAnswering FromPretrained(string dir, ScalarType? dtype = null, Device? device = null, PretrainedLoadOptions? options = null) =>
        (DebertaForQuestionAnswering)DebertaPreTrainedModel.FromPretrained(dir, dtype, device, DebertaHead.QuestionAnswering, options);

    internal override DebertaModel Backbone => deberta;

    /// <inheritdoc/>
    public override ModelOutput Forward(DebertaInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Forward(inputs.InputIds, inputs.AttentionMask, inputs.TokenTypeIds, inputs.PositionIds, inputs.InputsEmbeds,
            inputs.StartPositions, inputs.EndPositions, inputs.OutputAttentions, inputs.OutputHiddenStates);
    }

    /// <summary>
    /// Runs the model; with both position tensors also the loss: positions clamped to [0, L], index L ignored, the mean
    /// of the start and end cross-entropies (NaN when no target remains, as Hugging Face).
    /// </summary>
    /// <param name="inputIds">[B, L] token ids; exactly one of this and <paramref name="inputsEmbeds"/>.</param>
    /// <param name="attentionMask">[B, L] mask; ones when null.</param>
    /// <param name="tokenTypeIds">[B, L] token types; zeros when null.</param>
    /// <param name="positionIds">[B, L] or [L] positions; 0..L-1 when null.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="startPositions">[B] span starts.</param>
    /// <param name="endPositions">[B] span ends.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return the embedding output and every layer's output.</param>
    public QuestionAnsweringModelOutput Forward(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        Tensor? positionIds = null, Tensor? inputsEmbeds = null, Tensor? startPositions = null, Tensor? endPositions = null,
        bool outputAttentions = false, bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var outputs = deberta.ForwardCore(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates);
        var logits = qa_outputs.forward(outputs.LastHiddenState);                        // [B, L, num_labels]
        var parts = logits.split(1, -1);
        var start = parts[0].squeeze(-1).contiguous();                                   // [B, L]
        var end = parts[1].squeeze(-1).contiguous();                                     // [B, L]
        Tensor? loss = startPositions is not null && endPositions is not null
            ? Losses.QuestionAnswering(start, end, startPositions, endPositions)
            : null;
        return Scopes.MoveOut(scope, new QuestionAnsweringModelOutput(loss, start, end, outputs.HiddenStates, outputs.Attentions));
    }
}
