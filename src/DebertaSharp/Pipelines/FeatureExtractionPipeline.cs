using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

/// <summary>How <see cref="FeatureExtractionPipeline.Embed"/> pools the hidden states into one vector.</summary>
public enum Pooling
{
    /// <summary>The mean over the tokens of the attention mask (special tokens included, padding excluded).</summary>
    Mean,
    /// <summary>The hidden state of the first token (<c>[CLS]</c>).</summary>
    Cls,
}

/// <summary>
/// Hugging Face's <c>feature-extraction</c> pipeline: the last hidden states of each input (<c>[1, L, H]</c> as nested
/// lists in <see cref="Run"/>), and a pooled sentence embedding for search.
/// </summary>
public sealed class FeatureExtractionPipeline : Pipeline
{
    /// <summary>Creates the pipeline; any head works (its encoder's last hidden states are used).</summary>
    /// <param name="model">The model.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    public FeatureExtractionPipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer) : base(model, tokenizer)
    {
    }

    /// <inheritdoc/>
    public override string Task => "feature-extraction";

    /// <summary>The last hidden states of <paramref name="text"/>: one row of H values per token.</summary>
    /// <param name="text">The text.</param>
    /// <param name="truncation">Truncate to the tokenizer's <c>ModelMaxLength</c>.</param>
    public float[][] Extract(string text, bool truncation = false) => ExtractBatch([text], truncation)[0];

    /// <summary><see cref="Extract"/> for a batch, run in batches of <paramref name="batchSize"/>; results in input order.</summary>
    /// <param name="texts">The texts.</param>
    /// <param name="truncation">Truncate to the tokenizer's <c>ModelMaxLength</c>.</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    public IReadOnlyList<float[][]> ExtractBatch(IReadOnlyList<string> texts, bool truncation = false, int batchSize = PipelineBatching.DefaultBatchSize) =>
        Compute(texts, truncation, batchSize, (rows, _) => rows);

    /// <summary>A sentence embedding of <paramref name="text"/> (H values).</summary>
    /// <param name="text">The text.</param>
    /// <param name="pooling">Mean over the attention mask, or the first token.</param>
    /// <param name="truncation">Truncate to the tokenizer's <c>ModelMaxLength</c>.</param>
    public float[] Embed(string text, Pooling pooling = Pooling.Mean, bool truncation = false) => EmbedBatch([text], pooling, truncation)[0];

    /// <summary><see cref="Embed"/> for a batch; results in input order.</summary>
    /// <param name="texts">The texts.</param>
    /// <param name="pooling">Mean over the attention mask, or the first token.</param>
    /// <param name="truncation">Truncate to the tokenizer's <c>ModelMaxLength</c>.</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    public IReadOnlyList<float[]> EmbedBatch(IReadOnlyList<string> texts, Pooling pooling = Pooling.Mean, bool truncation = false,
        int batchSize = PipelineBatching.DefaultBatchSize) =>
        Compute(texts, truncation, batchSize, (rows, enc) =>
        {
            if (pooling == Pooling.Cls || rows.Length == 0) return rows.Length == 0 ? [] : rows[0];
            int h = rows[0].Length;
            var sum = new double[h];
            int n = 0;
            for (int j = 0; j < rows.Length; j++)
            {
                if (enc.AttentionMask[j] == 0) continue;
                n++;
                for (int d = 0; d < h; d++) sum[d] += rows[j][d];
            }
            return [.. sum.Select(v => (float)(v / Math.Max(n, 1)))];
        });

    private T[] Compute<T>(IReadOnlyList<string> texts, bool truncation, int batchSize, Func<float[][], Encoding, T> finish)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var options = truncation && Tokenizer.ModelMaxLength is int m && m > 0
            ? new EncodeOptions { MaxLength = m, Truncation = TruncationStrategy.LongestFirst }
            : EncodeOptions.Default;
        var encodings = texts.Select(t =>
        {
            ArgumentNullException.ThrowIfNull(t, nameof(texts));
            return Tokenizer.Encode(t, null, options);
        }).ToArray();
        bool isBase = Model is DebertaModel;
        return PipelineBatching.Run(Model, Tokenizer, encodings, batchSize, (output, row, enc) =>
        {
            var hidden = isBase ? ((BaseModelOutput)output).LastHiddenState : output.HiddenStates![^1];   // [B, L, H]
            int h = (int)hidden.shape[2];
            var flat = PipelineBatching.ToFloats(hidden[row].narrow(0, 0, enc.Length));
            var rows = new float[enc.Length][];
            for (int j = 0; j < enc.Length; j++) rows[j] = flat.AsSpan(j * h, h).ToArray();
            return finish(rows, enc);
        }, outputHiddenStates: !isBase);
    }

    /// <inheritdoc/>
    /// <remarks>Each input gives <c>[1, L, H]</c> (Hugging Face's output). Parameters: <c>truncation</c>, <c>batch_size</c>.</remarks>
    public override JsonNode? Run(JsonNode inputs, JsonObject? parameters = null)
    {
        PipelineBatching.CheckKnown(parameters, "truncation", "batch_size");
        var texts = PipelineBatching.GetInputs(inputs, PipelineBatching.AsText, out bool isBatch);
        bool truncation = PipelineBatching.GetBool(parameters, "truncation", false);
        int batchSize = PipelineBatching.GetInt(parameters, "batch_size", PipelineBatching.DefaultBatchSize, 1);
        var results = ExtractBatch(texts, truncation, batchSize);
        var values = results.Select(rows => (JsonNode?)new JsonArray(
            new JsonArray([.. rows.Select(r => (JsonNode)new JsonArray([.. r.Select(v => (JsonNode)JsonValue.Create(v))]))]))).ToList();
        return PipelineBatching.Shape(values, isBatch);
    }
}
