using DebertaSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Training;

/// <summary>
/// One tokenized example for masked-LM training, as the rows of run_mlm's tokenized dataset: the ids and,
/// optionally, the attention mask and the special-tokens mask (<c>return_special_tokens_mask=True</c>).
/// </summary>
/// <param name="InputIds">Token ids, special tokens included.</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding; null means all ones.</param>
/// <param name="SpecialTokensMask">1 for special tokens (and padding), else 0; null lets the collator compute it from the ids.</param>
public sealed record MlmExample(int[] InputIds, int[]? AttentionMask = null, int[]? SpecialTokensMask = null);

/// <summary>
/// A collated masked-LM batch: <c>input_ids</c> with the masking applied, <c>attention_mask</c> and <c>labels</c>
/// (the original id where a token was chosen for prediction, else -100). Disposing disposes the three tensors.
/// </summary>
/// <param name="InputIds">Masked input ids, <c>[B, L]</c> int64.</param>
/// <param name="AttentionMask">Attention mask, <c>[B, L]</c> int64 (0 on padding).</param>
/// <param name="Labels">Labels, <c>[B, L]</c> int64 (-100 where not masked).</param>
public sealed record MlmBatch(Tensor InputIds, Tensor AttentionMask, Tensor Labels) : IDisposable
{
    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// Hugging Face's <c>DataCollatorForLanguageModeling</c> with <c>mlm=True</c> (transformers 4.40): pads a list of
/// tokenized examples (<c>tokenizer.pad</c>) and masks them (<c>torch_mask_tokens</c>) with the same torch calls in the
/// same order, so that on a generator in the same state it draws the same masks and random words as transformers.
/// </summary>
public sealed class DataCollatorForLanguageModeling
{
    /// <summary>Creates the collator.</summary>
    /// <param name="tokenizer">Gives the pad id, the <c>[MASK]</c> id, the special ids and <c>len(tokenizer)</c>.</param>
    /// <param name="mlmProbability">Probability that a (non-special) token is chosen for prediction.</param>
    /// <param name="padToMultipleOf">Round the padded length up to a multiple of this (run_mlm uses 8 with fp16 and line_by_line).</param>
    public DataCollatorForLanguageModeling(DebertaTokenizerBase tokenizer, double mlmProbability = 0.15, int? padToMultipleOf = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!(mlmProbability >= 0 && mlmProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(mlmProbability), $"mlmProbability must be in [0, 1], not {mlmProbability}");
        if (padToMultipleOf is <= 0)
            throw new ArgumentOutOfRangeException(nameof(padToMultipleOf), $"padToMultipleOf must be positive, not {padToMultipleOf}");
        Tokenizer = tokenizer;
        MlmProbability = mlmProbability;
        PadToMultipleOf = padToMultipleOf;
    }

    /// <summary>The tokenizer.</summary>
    public DebertaTokenizerBase Tokenizer { get; }

    /// <summary>Probability that a token is chosen for prediction (Hugging Face's default 0.15).</summary>
    public double MlmProbability { get; }

    /// <summary>Round the padded length up to a multiple of this; null pads to the longest example.</summary>
    public int? PadToMultipleOf { get; }

    /// <summary>
    /// Pads <paramref name="examples"/> to the longest (on the tokenizer's padding side, with its pad id) and masks
    /// them, drawing from <paramref name="generator"/> (the default generator when null). Mirrors <c>torch_call</c>:
    /// an example's special-tokens mask is padded with 1; without one, the mask is
    /// <c>get_special_tokens_mask(ids, already_has_special_tokens=True)</c> of the padded ids (padding included).
    /// The tensors belong to the caller's dispose scope, if any.
    /// </summary>
    public MlmBatch Collate(IReadOnlyList<MlmExample> examples, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("no examples to collate", nameof(examples));
        bool haveSpecial = examples[0]?.SpecialTokensMask is not null;
        int longest = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var e = examples[i] ?? throw new ArgumentException($"example {i} is null", nameof(examples));
            if (e.InputIds is null) throw new ArgumentException($"example {i} has no input ids", nameof(examples));
            if ((e.SpecialTokensMask is not null) != haveSpecial)
                throw new ArgumentException("either every example or none has a special-tokens mask", nameof(examples));
            if (e.SpecialTokensMask is not null && e.SpecialTokensMask.Length != e.InputIds.Length)
                throw new ArgumentException($"example {i}: special-tokens mask length {e.SpecialTokensMask.Length} != {e.InputIds.Length} ids", nameof(examples));
            if (e.AttentionMask is not null && e.AttentionMask.Length != e.InputIds.Length)
                throw new ArgumentException($"example {i}: attention mask length {e.AttentionMask.Length} != {e.InputIds.Length} ids", nameof(examples));
            longest = Math.Max(longest, e.InputIds.Length);
        }

        // tokenizer.pad -> _pad: pad to the longest, rounded up to pad_to_multiple_of.
        int length = longest;
        if (PadToMultipleOf is int m && length % m != 0) length = (length / m + 1) * m;
        int batch = examples.Count, pad = Tokenizer.PadTokenId;
        bool left = Tokenizer.PaddingSide == Side.Left;
        var ids = new long[batch * length];       // [B, L]
        var attention = new long[batch * length]; // [B, L]
        var special = new bool[batch * length];   // [B, L]
        var row = new int[length];
        for (int b = 0; b < batch; b++)
        {
            var e = examples[b];
            int n = e.InputIds.Length, start = left ? length - n : 0;
            Array.Fill(row, pad);
            e.InputIds.CopyTo(row, start);
            int[]? rowSpecial = haveSpecial ? null : Tokenizer.GetSpecialTokensMask(row, alreadyHasSpecialTokens: true);
            for (int j = 0; j < length; j++)
            {
                int k = b * length + j, src = j - start;
                bool real = src >= 0 && src < n;
                ids[k] = row[j];
                attention[k] = real ? (e.AttentionMask?[src] ?? 1) : 0;
                special[k] = rowSpecial is not null ? rowSpecial[j] != 0 : !real || e.SpecialTokensMask![src] != 0;
            }
        }

        using var scope = NewDisposeScope();
        var inputIds = tensor(ids, [batch, length]);
        var specialMask = tensor(special, [batch, length]);
        var (inputs, labels) = MaskTokens(inputIds, specialMask, Tokenizer.MaskTokenId, Tokenizer.Count, MlmProbability, generator);
        var attentionMask = tensor(attention, [batch, length]);
        return new MlmBatch(inputs.MoveToOuterDisposeScope(), attentionMask.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Masks <paramref name="inputIds"/> as transformers' <c>torch_mask_tokens</c>: each non-special token is chosen with
    /// probability <paramref name="mlmProbability"/>; of the chosen, 80% become <paramref name="maskTokenId"/>, 10% a
    /// random id below <paramref name="vocabSize"/> and 10% stay. Same draws in the same order as transformers:
    /// <c>bernoulli</c> over the whole probability matrix, <c>bernoulli(0.8)</c>, <c>bernoulli(0.5)</c>, then
    /// <c>randint(vocabSize)</c> for every element. <paramref name="inputIds"/> is not modified.
    /// </summary>
    /// <param name="inputIds">Token ids, <c>[B, L]</c> (any shape), int64 or int32.</param>
    /// <param name="specialTokensMask">Nonzero for special tokens and padding (never chosen), same shape.</param>
    /// <param name="maskTokenId">The <c>[MASK]</c> id.</param>
    /// <param name="vocabSize"><c>len(tokenizer)</c>: random words are drawn from <c>[0, vocabSize)</c>.</param>
    /// <param name="mlmProbability">Probability that a non-special token is chosen.</param>
    /// <param name="generator">The generator to draw from; null for torch's default generator.</param>
    /// <returns>The masked inputs and the labels (-100 where not chosen), int64, in the caller's dispose scope.</returns>
    public static (Tensor Inputs, Tensor Labels) MaskTokens(Tensor inputIds, Tensor specialTokensMask, int maskTokenId, int vocabSize,
        double mlmProbability, Generator? generator)
    {
        using var scope = NewDisposeScope();
        var t = MaskTokensTraced(inputIds, specialTokensMask, maskTokenId, vocabSize, mlmProbability, generator);
        return (t.Inputs.MoveToOuterDisposeScope(), t.Labels.MoveToOuterDisposeScope());
    }

    /// <summary>Every tensor of one <c>torch_mask_tokens</c> call (for tests); all in the caller's dispose scope.</summary>
    internal sealed record MaskingTrace(Tensor Inputs, Tensor Labels, Tensor MaskedIndices, Tensor IndicesReplaced,
        Tensor IndicesRandom, Tensor RandomWords);

    /// <summary>The body of <see cref="MaskTokens"/>, returning the intermediate masks too.</summary>
    internal static MaskingTrace MaskTokensTraced(Tensor inputIds, Tensor specialTokensMask, int maskTokenId, int vocabSize,
        double mlmProbability, Generator? generator)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(specialTokensMask);
        if (inputIds.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"inputIds must be int64 or int32, not {inputIds.dtype}", nameof(inputIds));
        if (!specialTokensMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"specialTokensMask shape [{string.Join(", ", specialTokensMask.shape)}] != inputIds shape [{string.Join(", ", inputIds.shape)}]", nameof(specialTokensMask));
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabSize must be positive, not {vocabSize}");
        if (!(mlmProbability >= 0 && mlmProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(mlmProbability), $"mlmProbability must be in [0, 1], not {mlmProbability}");

        using var scope = NewDisposeScope();
        long[] shape = inputIds.shape;
        // transformers 4.40 DataCollatorForLanguageModeling.torch_mask_tokens, call for call.
        var labels = inputIds.to_type(ScalarType.Int64, copy: true);                   // [B, L]
        var inputs = labels.clone();                                                   // [B, L]
        var probability = full(shape, mlmProbability, dtype: ScalarType.Float32);      // [B, L], float32 as torch.full(shape, p)
        probability.masked_fill_(specialTokensMask.to_type(ScalarType.Bool), 0.0);
        var masked = bernoulli(probability, generator).to_type(ScalarType.Bool);      // draw 1: B·L u32
        labels.masked_fill_(masked.logical_not(), -100);
        var replaced = bernoulli(full(shape, 0.8, dtype: ScalarType.Float32), generator).to_type(ScalarType.Bool)
            .logical_and(masked);                                                      // draw 2: B·L u32
        inputs.masked_fill_(replaced, maskTokenId);
        var random = bernoulli(full(shape, 0.5, dtype: ScalarType.Float32), generator).to_type(ScalarType.Bool)
            .logical_and(masked).logical_and(replaced.logical_not());                  // draw 3: B·L u32
        var words = randint(vocabSize, shape, dtype: ScalarType.Int64, generator: generator); // draw 4: B·L u32
        inputs = where(random, words, inputs);                                         // inputs[random] = words[random]
        return new MaskingTrace(inputs.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), masked.MoveToOuterDisposeScope(),
            replaced.MoveToOuterDisposeScope(), random.MoveToOuterDisposeScope(), words.MoveToOuterDisposeScope());
    }
}
