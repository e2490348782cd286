using static TorchSharp.torch;

namespace DebertaSharp.TensorFlow;

/// <summary>The bare DeBERTa encoder in the TF family (transformers 4.x's <c>TFDebertaModel</c>; Keras layer <c>deberta</c>).</summary>
public sealed class TFDebertaModel : TFDebertaPreTrainedModel
{
    internal TFDebertaModel(DebertaPreTrainedModel engine, DebertaConfig config) : base(engine, config) { }

    /// <summary>Creates a model with initialised weights.</summary>
    public TFDebertaModel(DebertaConfig config) : this(new DebertaModel(config), config) { }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.Base;

    /// <summary>Loads a folder as a <see cref="TFDebertaModel"/> (see <see cref="TFDebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="fromPt">Read the PyTorch weights instead of tf_model.h5 (null: tf_model.h5 when present).</param>
    /// <param name="options">Loading options.</param>
    public static TFDebertaModel FromPretrained(string dir, bool? fromPt = null, PretrainedLoadOptions? options = null) =>
        (TFDebertaModel)TFDebertaPreTrainedModel.FromPretrained(dir, fromPt, DebertaHead.Base, options);

    /// <summary>Runs the encoder (TFDebertaMainLayer.call).</summary>
    /// <param name="inputIds">[B, L] token ids; exactly one of this and <paramref name="inputsEmbeds"/>.</param>
    /// <param name="attentionMask">[B, L] 1 for real tokens, 0 for padding; ones when null.</param>
    /// <param name="tokenTypeIds">[B, L] token types; zeros when null.</param>
    /// <param name="positionIds">[B, L] or [L] absolute positions; 0..L-1 when null.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return the embedding output and every layer's output.</param>
    /// <param name="training">Dropout on (Keras's <c>training=True</c>).</param>
    public TFBaseModelOutput Call(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null, Tensor? positionIds = null,
        Tensor? inputsEmbeds = null, bool outputAttentions = false, bool outputHiddenStates = false, bool training = false) =>
        Run(training, Inputs(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates), o =>
        {
            var b = (BaseModelOutput)o;
            return new TFBaseModelOutput(b.LastHiddenState, b.HiddenStates, b.Attentions);
        });
}

/// <summary>DeBERTa with the masked LM head in the TF family (<c>TFDebertaForMaskedLM</c>: layers <c>deberta</c>, <c>cls</c>; the decoder is the word embeddings).</summary>
public sealed class TFDebertaForMaskedLM : TFDebertaPreTrainedModel
{
    internal TFDebertaForMaskedLM(DebertaPreTrainedModel engine, DebertaConfig config) : base(engine, config) { }

    /// <summary>Creates a model with initialised weights.</summary>
    public TFDebertaForMaskedLM(DebertaConfig config) : this(DebertaPreTrainedModel.Create(EngineConfig(config), DebertaHead.MaskedLM), config) { }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.MaskedLM;

    /// <summary>Loads a folder as a <see cref="TFDebertaForMaskedLM"/> (see <see cref="TFDebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="fromPt">Read the PyTorch weights instead of tf_model.h5 (null: tf_model.h5 when present).</param>
    /// <param name="options">Loading options.</param>
    public static TFDebertaForMaskedLM FromPretrained(string dir, bool? fromPt = null, PretrainedLoadOptions? options = null) =>
        (TFDebertaForMaskedLM)TFDebertaPreTrainedModel.FromPretrained(dir, fromPt, DebertaHead.MaskedLM, options);

    /// <summary>Runs the model (TFDebertaForMaskedLM.call).</summary>
    /// <param name="inputIds">[B, L] token ids.</param>
    /// <param name="attentionMask">[B, L] mask.</param>
    /// <param name="tokenTypeIds">[B, L] token types.</param>
    /// <param name="positionIds">[B, L] or [L] absolute positions.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return every hidden state.</param>
    /// <param name="labels">[B, L] token ids, -100 where no loss is taken.</param>
    /// <param name="training">Dropout on.</param>
    public TFMaskedLMOutput Call(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null, Tensor? positionIds = null,
        Tensor? inputsEmbeds = null, bool outputAttentions = false, bool outputHiddenStates = false, Tensor? labels = null, bool training = false) =>
        Run(training, Inputs(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates), o =>
        {
            var m = (MaskedLMOutput)o;
            return new TFMaskedLMOutput(labels is null ? null : TFLosses.MaskedLM(m.Logits, labels), m.Logits, m.HiddenStates, m.Attentions);
        });
}

/// <summary>
/// DeBERTa with the sequence classification head in the TF family (<c>TFDebertaForSequenceClassification</c>: layers
/// <c>deberta</c>, <c>pooler</c>, <c>cls_dropout</c>, <c>classifier</c>).
/// </summary>
public sealed class TFDebertaForSequenceClassification : TFDebertaPreTrainedModel
{
    internal TFDebertaForSequenceClassification(DebertaPreTrainedModel engine, DebertaConfig config) : base(engine, config) { }

    /// <summary>Creates a model with initialised weights.</summary>
    public TFDebertaForSequenceClassification(DebertaConfig config) : this(new DebertaForSequenceClassification(config), config) { }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.SequenceClassification;

    /// <summary>Loads a folder as a <see cref="TFDebertaForSequenceClassification"/> (see <see cref="TFDebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="fromPt">Read the PyTorch weights instead of tf_model.h5 (null: tf_model.h5 when present).</param>
    /// <param name="options">Loading options.</param>
    public static TFDebertaForSequenceClassification FromPretrained(string dir, bool? fromPt = null, PretrainedLoadOptions? options = null) =>
        (TFDebertaForSequenceClassification)TFDebertaPreTrainedModel.FromPretrained(dir, fromPt, DebertaHead.SequenceClassification, options);

    /// <summary>Runs the model (TFDebertaForSequenceClassification.call).</summary>
    /// <param name="inputIds">[B, L] token ids.</param>
    /// <param name="attentionMask">[B, L] mask.</param>
    /// <param name="tokenTypeIds">[B, L] token types.</param>
    /// <param name="positionIds">[B, L] or [L] absolute positions.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return every hidden state.</param>
    /// <param name="labels">[B] class ids, or [B] / [B, 1] targets with one label (regression).</param>
    /// <param name="training">Dropout on.</param>
    public TFSequenceClassifierOutput Call(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null, Tensor? positionIds = null,
        Tensor? inputsEmbeds = null, bool outputAttentions = false, bool outputHiddenStates = false, Tensor? labels = null, bool training = false) =>
        Run(training, Inputs(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates), o =>
        {
            var m = (SequenceClassifierOutput)o;
            return new TFSequenceClassifierOutput(labels is null ? null : TFLosses.SequenceClassification(m.Logits, labels), m.Logits, m.HiddenStates, m.Attentions);
        });
}

/// <summary>DeBERTa with the token classification head in the TF family (<c>TFDebertaForTokenClassification</c>: layers <c>deberta</c>, <c>dropout</c>, <c>classifier</c>).</summary>
public sealed class TFDebertaForTokenClassification : TFDebertaPreTrainedModel
{
    internal TFDebertaForTokenClassification(DebertaPreTrainedModel engine, DebertaConfig config) : base(engine, config) { }

    /// <summary>Creates a model with initialised weights.</summary>
    public TFDebertaForTokenClassification(DebertaConfig config) : this(new DebertaForTokenClassification(config), config) { }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.TokenClassification;

    /// <summary>Loads a folder as a <see cref="TFDebertaForTokenClassification"/> (see <see cref="TFDebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="fromPt">Read the PyTorch weights instead of tf_model.h5 (null: tf_model.h5 when present).</param>
    /// <param name="options">Loading options.</param>
    public static TFDebertaForTokenClassification FromPretrained(string dir, bool? fromPt = null, PretrainedLoadOptions? options = null) =>
        (TFDebertaForTokenClassification)TFDebertaPreTrainedModel.FromPretrained(dir, fromPt, DebertaHead.TokenClassification, options);

    /// <summary>Runs the model (TFDebertaForTokenClassification.call).</summary>
    /// <param name="inputIds">[B, L] token ids.</param>
    /// <param name="attentionMask">[B, L] mask.</param>
    /// <param name="tokenTypeIds">[B, L] token types.</param>
    /// <param name="positionIds">[B, L] or [L] absolute positions.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return every hidden state.</param>
    /// <param name="labels">[B, L] class ids; negative ones (-100) take no loss.</param>
    /// <param name="training">Dropout on.</param>
    public TFTokenClassifierOutput Call(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null, Tensor? positionIds = null,
        Tensor? inputsEmbeds = null, bool outputAttentions = false, bool outputHiddenStates = false, Tensor? labels = null, bool training = false) =>
        Run(training, Inputs(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates), o =>
        {
            var m = (TokenClassifierOutput)o;
            return new TFTokenClassifierOutput(labels is null ? null : TFLosses.TokenClassification(m.Logits, labels), m.Logits, m.HiddenStates, m.Attentions);
        });
}

/// <summary>DeBERTa with the span head in the TF family (<c>TFDebertaForQuestionAnswering</c>: layers <c>deberta</c>, <c>qa_outputs</c>).</summary>
public sealed class TFDebertaForQuestionAnswering : TFDebertaPreTrainedModel
{
    internal TFDebertaForQuestionAnswering(DebertaPreTrainedModel engine, DebertaConfig config) : base(engine, config) { }

    /// <summary>Creates a model with initialised weights.</summary>
    public TFDebertaForQuestionAnswering(DebertaConfig config) : this(new DebertaForQuestionAnswering(config), config) { }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.QuestionAnswering;

    /// <summary>Loads a folder as a <see cref="TFDebertaForQuestionAnswering"/> (see <see cref="TFDebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="fromPt">Read the PyTorch weights instead of tf_model.h5 (null: tf_model.h5 when present).</param>
    /// <param name="options">Loading options.</param>
    public static TFDebertaForQuestionAnswering FromPretrained(string dir, bool? fromPt = null, PretrainedLoadOptions? options = null) =>
        (TFDebertaForQuestionAnswering)TFDebertaPreTrainedModel.FromPretrained(dir, fromPt, DebertaHead.QuestionAnswering, options);

    /// <summary>Runs the model (TFDebertaForQuestionAnswering.call); the loss needs both positions.</summary>
    /// <param name="inputIds">[B, L] token ids.</param>
    /// <param name="attentionMask">[B, L] mask.</param>
    /// <param name="tokenTypeIds">[B, L] token types.</param>
    /// <param name="positionIds">[B, L] or [L] absolute positions.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return every hidden state.</param>
    /// <param name="startPositions">[B] span starts in [0, L).</param>
    /// <param name="endPositions">[B] span ends in [0, L).</param>
    /// <param name="training">Dropout on.</param>
    public TFQuestionAnsweringModelOutput Call(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null, Tensor? positionIds = null,
        Tensor? inputsEmbeds = null, bool outputAttentions = false, bool outputHiddenStates = false, Tensor? startPositions = null,
        Tensor? endPositions = null, bool training = false) =>
        Run(training, Inputs(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates), o =>
        {
            var m = (QuestionAnsweringModelOutput)o;
            var loss = startPositions is not null && endPositions is not null
                ? TFLosses.QuestionAnswering(m.StartLogits, m.EndLogits, startPositions, endPositions)
                : null;
            return new TFQuestionAnsweringModelOutput(loss, m.StartLogits, m.EndLogits, m.HiddenStates, m.Attentions);
        });
}
