using DebertaSharp.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp;

/// <summary>The bare DeBERTa encoder (Hugging Face's <c>DebertaModel</c>): embeddings and the layer stack.</summary>
public sealed class DebertaModel : DebertaPreTrainedModel
{
    private readonly DebertaEmbeddings embeddings;
    private readonly DebertaEncoder encoder;

    /// <summary>Creates a model with weights initialised as Hugging Face's <c>_init_weights</c>.</summary>
    /// <exception cref="DebertaConfigException">The configuration is invalid.</exception>
    public DebertaModel(DebertaConfig config) : this(config, init: true) { }

    internal DebertaModel(DebertaConfig config, bool init) : base(nameof(DebertaModel), config)
    {
        embeddings = new DebertaEmbeddings(Config);
        encoder = new DebertaEncoder(Config);
        RegisterComponents();
        if (init) WeightInit.Apply(this, Config);
    }

    /// <inheritdoc/>
    public override DebertaHead Head => DebertaHead.Base;

    /// <summary>Loads a checkpoint folder as a <see cref="DebertaModel"/> (see <see cref="DebertaPreTrainedModel.FromPretrained"/>).</summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="dtype">The model dtype; null keeps the checkpoint's.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <param name="options">Loading options.</param>
    public static DebertaModel FromPretrained(string dir, ScalarType? dtype = null, Device? device = null, PretrainedLoadOptions? options = null) =>
        (DebertaModel)DebertaPreTrainedModel.FromPretrained(dir, dtype, device, DebertaHead.Base, options);

    internal DebertaEmbeddings Embeddings => embeddings;
    internal DebertaEncoder Encoder => encoder;

    /// <summary>The word embedding matrix [vocab, E] (shared with the masked LM decoder).</summary>
    internal Tensor WordEmbeddingWeight => embeddings.WordEmbeddings.weight!;

    /// <inheritdoc/>
    public override ModelOutput Forward(DebertaInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Forward(inputs.InputIds, inputs.AttentionMask, inputs.TokenTypeIds, inputs.PositionIds, inputs.InputsEmbeds,
            inputs.OutputAttentions, inputs.OutputHiddenStates);
    }

    /// <summary>Runs the encoder, as Hugging Face's <c>DebertaModel.forward</c>.</summary>
    /// <param name="inputIds">[B, L] token ids; exactly one of this and <paramref name="inputsEmbeds"/>.</param>
    /// <param name="attentionMask">[B, L] 1 for real tokens, 0 for padding; ones when null. 3-D masks are rejected.</param>
    /// <param name="tokenTypeIds">[B, L] token types; zeros when null.</param>
    /// <param name="positionIds">[B, L] or [L] absolute positions; 0..L-1 when null.</param>
    /// <param name="inputsEmbeds">[B, L, E] embeddings instead of ids.</param>
    /// <param name="outputAttentions">Return every layer's attention probabilities.</param>
    /// <param name="outputHiddenStates">Return the embedding output and every layer's output.</param>
    /// <exception cref="ArgumentException">Missing, conflicting or badly shaped inputs.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id outside its table (the message names the input and value).</exception>
    public BaseModelOutput Forward(Tensor? inputIds = null, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        Tensor? positionIds = null, Tensor? inputsEmbeds = null, bool outputAttentions = false, bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var output = ForwardCore(inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds, outputAttentions, outputHiddenStates);
        return Scopes.MoveOut(scope, output);
    }

    /// <summary>The forward without its own dispose scope (callers own one).</summary>
    internal BaseModelOutput ForwardCore(Tensor? inputIds, Tensor? attentionMask, Tensor? tokenTypeIds, Tensor? positionIds,
        Tensor? inputsEmbeds, bool outputAttentions, bool outputHiddenStates)
    {
        var (ids, mask, types, positions, embeds) = InputValidation.Prepare(Config, inputIds, attentionMask, tokenTypeIds, positionIds, inputsEmbeds);
        if (embeds is not null) InputValidation.CheckEmbedsDtype(Config, embeds.dtype, WordEmbeddingWeight.dtype);
        var embeddingOutput = embeddings.Forward(ids, types, positions, mask, embeds);   // [B, L, H]
        var (last, hidden, atts) = encoder.Forward(embeddingOutput, mask, outputHiddenStates, outputAttentions);
        return new BaseModelOutput(last, hidden, atts);
    }
}

/// <summary>Checks and completes the forward inputs before any native indexing.</summary>
internal static class InputValidation
{
    public static (Tensor? Ids, Tensor Mask, Tensor Types, Tensor? Positions, Tensor? Embeds) Prepare(DebertaConfig config,
        Tensor? inputIds, Tensor? attentionMask, Tensor? tokenTypeIds, Tensor? positionIds, Tensor? inputsEmbeds)
    {
        if (inputIds is not null && inputsEmbeds is not null)
            throw new ArgumentException("You cannot specify both input_ids and inputs_embeds at the same time.", nameof(inputIds));
        if (inputIds is null && inputsEmbeds is null)
            throw new ArgumentException("You have to specify either input_ids or inputs_embeds.", nameof(inputIds));

        long b, l;
        Device device;
        if (inputIds is not null)
        {
            if (inputIds.dim() != 2)
                throw new ArgumentException($"input_ids must be 2-D [batch, seq], got shape [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
            if (inputIds.is_floating_point() || inputIds.is_complex() || inputIds.dtype == ScalarType.Bool)
                throw new ArgumentException($"input_ids must be an integer tensor, got {inputIds.dtype}.", nameof(inputIds));
            (b, l) = (inputIds.shape[0], inputIds.shape[1]);
            device = inputIds.device;
            CheckRange(inputIds, 0, config.VocabSize, "input_ids", "vocab_size");
            if (inputIds.dtype != ScalarType.Int64) inputIds = inputIds.to(ScalarType.Int64);
        }
        else
        {
            if (inputsEmbeds!.dim() != 3 || inputsEmbeds.shape[2] != config.EffectiveEmbeddingSize)
                throw new ArgumentException(
                    $"inputs_embeds must be [batch, seq, {config.EffectiveEmbeddingSize}], got shape [{string.Join(", ", inputsEmbeds.shape)}].", nameof(inputsEmbeds));
            if (!inputsEmbeds.is_floating_point())
                throw new ArgumentException($"inputs_embeds must be a floating-point tensor, got {inputsEmbeds.dtype}.", nameof(inputsEmbeds));
            (b, l) = (inputsEmbeds.shape[0], inputsEmbeds.shape[1]);
            device = inputsEmbeds.device;
        }
        if (l == 0) throw new ArgumentException("The sequence length must be at least 1.", inputIds is not null ? nameof(inputIds) : nameof(inputsEmbeds));

        Tensor mask;
        if (attentionMask is null) mask = ones(b, l, dtype: ScalarType.Int64, device: device);
        else
        {
            if (attentionMask.dim() == 3)
                throw new ArgumentException(
                    "A 3-D attention_mask is not supported: DebertaModel (transformers 5.17) rejects it too, because the embeddings are multiplied by the mask. Pass a [batch, seq] mask.",
                    nameof(attentionMask));
            if (attentionMask.dim() != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != l)
                throw new ArgumentException(
                    $"attention_mask must have the shape of input_ids [{b}, {l}], got [{string.Join(", ", attentionMask.shape)}].", nameof(attentionMask));
            mask = attentionMask;
        }

        Tensor types;
        if (tokenTypeIds is null) types = zeros(b, l, dtype: ScalarType.Int64, device: device);
        else
        {
            if (tokenTypeIds.dim() != 2 || tokenTypeIds.shape[0] != b || tokenTypeIds.shape[1] != l)
                throw new ArgumentException(
                    $"token_type_ids must have the shape of input_ids [{b}, {l}], got [{string.Join(", ", tokenTypeIds.shape)}].", nameof(tokenTypeIds));
            if (tokenTypeIds.is_floating_point() || tokenTypeIds.is_complex() || tokenTypeIds.dtype == ScalarType.Bool)
                throw new ArgumentException($"token_type_ids must be an integer tensor, got {tokenTypeIds.dtype}.", nameof(tokenTypeIds));
            if (config.TypeVocabSize > 0) CheckRange(tokenTypeIds, 0, config.TypeVocabSize, "token_type_ids", "type_vocab_size");
            types = tokenTypeIds.dtype == ScalarType.Int64 ? tokenTypeIds : tokenTypeIds.to(ScalarType.Int64);
        }

        Tensor? positions = null;
        if (config.PositionBiasedInput)
        {
            if (positionIds is null)
            {
                if (l > config.MaxPositionEmbeddings)
                    throw new ArgumentOutOfRangeException(inputIds is not null ? "input_ids" : "inputs_embeds", l,
                        $"The sequence length {l} exceeds max_position_embeddings ({config.MaxPositionEmbeddings}).");
            }
            else
            {
                bool ok = positionIds.dim() switch
                {
                    1 => positionIds.shape[0] == l,
                    2 => (positionIds.shape[0] == b || positionIds.shape[0] == 1) && positionIds.shape[1] == l,
                    _ => false,
                };
                if (!ok)
                    throw new ArgumentException($"position_ids must be [{b}, {l}], [1, {l}] or [{l}], got [{string.Join(", ", positionIds.shape)}].", nameof(positionIds));
                if (positionIds.is_floating_point() || positionIds.is_complex() || positionIds.dtype == ScalarType.Bool)
                    throw new ArgumentException($"position_ids must be an integer tensor, got {positionIds.dtype}.", nameof(positionIds));
                CheckRange(positionIds, 0, config.MaxPositionEmbeddings, "position_ids", "max_position_embeddings");
                positions = positionIds.dtype == ScalarType.Int64 ? positionIds : positionIds.to(ScalarType.Int64);
            }
        }
        return (inputIds, mask, types, positions, inputsEmbeds);
    }

    /// <summary>
    /// inputs_embeds must be in the model's dtype, or (without embed_proj) a narrower float that type promotion lifts to
    /// it (fp16/bf16 into an fp32 model): any other mix reaches a Linear with mismatched dtypes, which fails natively in
    /// Hugging Face as here. Checked first so the error names the input and both dtypes.
    /// </summary>
    public static void CheckEmbedsDtype(DebertaConfig config, ScalarType embeds, ScalarType model)
    {
        if (embeds == model) return;
        static int Rank(ScalarType t) => t switch
        {
            ScalarType.Float16 or ScalarType.BFloat16 => 1,
            ScalarType.Float32 => 2,
            ScalarType.Float64 => 3,
            _ => 0,
        };
        bool lifted = Rank(model) >= 2 && Rank(embeds) is > 0 and var r && r < Rank(model)
                      && config.EffectiveEmbeddingSize == config.HiddenSize;
        if (!lifted)
            throw new ArgumentException(
                $"inputs_embeds is {embeds} but the model's weights are {model}: convert it with .to({model}).", "inputsEmbeds");
    }

    private static void CheckRange(Tensor ids, long low, long high, string name, string limitKey)
    {
        if (ids.numel() == 0) return;
        using var scope = NewDisposeScope();
        long min = ids.min().to(ScalarType.Int64).item<long>();
        long max = ids.max().to(ScalarType.Int64).item<long>();
        if (min < low)
            throw new ArgumentOutOfRangeException(name, min, $"{name} contains {min}, below {low}.");
        if (max >= high)
            throw new ArgumentOutOfRangeException(name, max, $"{name} contains {max}, outside [0, {high}) ({limitKey} = {high}).");
    }
}
