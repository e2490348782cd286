using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Training;

/// <summary>
/// One tokenized training, evaluation or prediction example (a row of Hugging Face's processed dataset). Which label
/// field is set depends on the task.
/// </summary>
public sealed record TrainingFeature
{
    /// <summary><c>input_ids</c>, unpadded (or padded with an <see cref="AttentionMask"/> saying so).</summary>
    public required int[] InputIds { get; init; }
    /// <summary><c>attention_mask</c>; ones when null.</summary>
    public int[]? AttentionMask { get; init; }
    /// <summary><c>token_type_ids</c>; zeros when null.</summary>
    public int[]? TokenTypeIds { get; init; }
    /// <summary><c>special_tokens_mask</c> (masked LM: tokens never masked); null computes it from the tokenizer's special ids.</summary>
    public int[]? SpecialTokensMask { get; init; }
    /// <summary>Per-token <c>labels</c> (token classification; -100 where no loss is computed).</summary>
    public int[]? TokenLabels { get; init; }
    /// <summary>A class id <c>label</c> (sequence classification).</summary>
    public int? Label { get; init; }
    /// <summary>Float labels: one value for regression, one per class for multi-label classification.</summary>
    public float[]? FloatLabels { get; init; }
    /// <summary><c>start_positions</c> (question answering).</summary>
    public int? StartPosition { get; init; }
    /// <summary><c>end_positions</c> (question answering).</summary>
    public int? EndPosition { get; init; }

    /// <summary>Number of tokens.</summary>
    public int Length => InputIds.Length;

    /// <summary>Whether the example carries any label.</summary>
    public bool HasLabels => TokenLabels is not null || Label is not null || FloatLabels is not null || StartPosition is not null;
}

/// <summary>
/// Turns a list of <see cref="TrainingFeature"/> into one padded batch of tensors (Hugging Face's data collators).
/// </summary>
public abstract class DataCollator
{
    /// <summary>Builds the model inputs of one batch; the tensors belong to the caller's dispose scope.</summary>
    public abstract DebertaInputs Collate(IReadOnlyList<TrainingFeature> features);
}

/// <summary>
/// Pads every field of a batch to its longest example (Hugging Face's <c>DataCollatorWithPadding</c>, and
/// <c>DataCollatorForTokenClassification</c> for per-token labels, padded with <see cref="LabelPadTokenId"/>).
/// Features of equal length are stacked as they are (<c>default_data_collator</c>).
/// </summary>
/// <param name="padTokenId">The tokenizer's pad id.</param>
/// <param name="padTokenTypeId">The token type id of padding.</param>
/// <param name="padToMultipleOf">Pad the length up to a multiple of this (null: no rounding).</param>
public class DataCollatorWithPadding(int padTokenId, int padTokenTypeId = 0, int? padToMultipleOf = null) : DataCollator
{
    /// <summary>The pad id of <c>input_ids</c>.</summary>
    public int PadTokenId { get; } = padTokenId;
    /// <summary>The pad value of <c>token_type_ids</c>.</summary>
    public int PadTokenTypeId { get; } = padTokenTypeId;
    /// <summary>Length rounding.</summary>
    public int? PadToMultipleOf { get; } = padToMultipleOf;
    /// <summary>The pad value of per-token labels (-100, ignored by the loss).</summary>
    public int LabelPadTokenId { get; init; } = -100;

    /// <summary>The padded length of a batch.</summary>
    protected int PaddedLength(IReadOnlyList<TrainingFeature> features)
    {
        int length = features.Max(f => f.Length);
        if (PadToMultipleOf is int m && m > 0 && length % m != 0) length = (length / m + 1) * m;
        return length;
    }

    /// <summary>Pads <paramref name="rows"/> (right side) into a [B, L] int64 tensor.</summary>
    protected static Tensor Pad(IReadOnlyList<int[]> rows, int length, long value)
    {
        var data = new long[rows.Count * length];
        Array.Fill(data, value);
        for (int b = 0; b < rows.Count; b++)
            for (int i = 0; i < rows[b].Length; i++) data[b * length + i] = rows[b][i];
        return tensor(data, [rows.Count, length], ScalarType.Int64);   // [B, L]
    }

    /// <inheritdoc/>
    public override DebertaInputs Collate(IReadOnlyList<TrainingFeature> features)
    {
        if (features.Count == 0) throw new ArgumentException("a batch needs at least one feature", nameof(features));
        int length = PaddedLength(features);
        var inputIds = Pad([.. features.Select(f => f.InputIds)], length, PadTokenId);
        var mask = Pad([.. features.Select(f => f.AttentionMask ?? Ones(f.Length))], length, 0);
        Tensor? types = features.Any(f => f.TokenTypeIds is not null)
            ? Pad([.. features.Select(f => f.TokenTypeIds ?? new int[f.Length])], length, PadTokenTypeId)
            : null;
        Tensor? labels = null, start = null, end = null;
        var first = features[0];
        if (first.TokenLabels is not null)
        {
            Require(features, f => f.TokenLabels is not null, "labels");
            labels = Pad([.. features.Select(f => f.TokenLabels!)], length, LabelPadTokenId);
        }
        else if (first.Label is not null)
        {
            Require(features, f => f.Label is not null, "label");
            labels = tensor(features.Select(f => (long)f.Label!.Value).ToArray(), ScalarType.Int64);   // [B]
        }
        else if (first.FloatLabels is not null)
        {
            Require(features, f => f.FloatLabels?.Length == first.FloatLabels.Length, "label");
            var data = features.SelectMany(f => f.FloatLabels!).ToArray();
            labels = first.FloatLabels.Length == 1
                ? tensor(data, ScalarType.Float32)                                           // [B] regression
                : tensor(data, [features.Count, first.FloatLabels.Length], ScalarType.Float32);   // [B, C] multi-label
        }
        if (first.StartPosition is not null)
        {
            Require(features, f => f.StartPosition is not null && f.EndPosition is not null, "start_positions");
            start = tensor(features.Select(f => (long)f.StartPosition!.Value).ToArray(), ScalarType.Int64);   // [B]
            end = tensor(features.Select(f => (long)f.EndPosition!.Value).ToArray(), ScalarType.Int64);       // [B]
        }
        return new DebertaInputs
        {
            InputIds = inputIds,
            AttentionMask = mask,
            TokenTypeIds = types,
            Labels = labels,
            StartPositions = start,
            EndPositions = end,
        };
    }

    private static int[] Ones(int n)
    {
        var a = new int[n];
        Array.Fill(a, 1);
        return a;
    }

    private static void Require(IReadOnlyList<TrainingFeature> features, Func<TrainingFeature, bool> ok, string field)
    {
        if (!features.All(ok))
            throw new ArgumentException($"every feature of a batch must have the same '{field}' fields (some have none or another size)", nameof(features));
    }
}
