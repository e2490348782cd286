using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Pipelines;

/// <summary>One proposal for a masked position (an entry of Hugging Face's fill-mask output).</summary>
/// <param name="Score">The probability of the token at the mask (fp32).</param>
/// <param name="Token">The token id.</param>
/// <param name="TokenStr">The token decoded on its own (<c>token_str</c>).</param>
/// <param name="Sequence">The input with the mask replaced by the token, decoded as Hugging Face does (special tokens
/// skipped when the input has one mask, kept when it has several; padding removed; the tokenizer's clean-up setting).</param>
public sealed record FillMaskPrediction(float Score, int Token, string TokenStr, string Sequence);

/// <summary>
/// Hugging Face's <c>fill-mask</c> pipeline: the most likely tokens at each <c>[MASK]</c> of the input. An input with one
/// mask gives a list of proposals; with several masks, one list per mask (in order).
/// </summary>
public sealed class FillMaskPipeline : Pipeline
{
    private readonly Action<string>? _warn;

    /// <summary>Creates the pipeline over a masked-LM model and its tokenizer.</summary>
    /// <param name="model">A <see cref="DebertaHead.MaskedLM"/> model.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="warning">Receives Hugging Face's warnings (a target not in the vocabulary); null drops them.</param>
    /// <exception cref="ArgumentException">The model is not a masked-LM model.</exception>
    public FillMaskPipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer, Action<string>? warning = null)
        : base(model, tokenizer)
    {
        if (model.Head != DebertaHead.MaskedLM)
            throw new ArgumentException($"fill-mask needs a masked-LM model, not {model.Head}", nameof(model));
        _warn = warning;
    }

    /// <inheritdoc/>
    public override string Task => "fill-mask";

    /// <summary>The proposals for each mask of <paramref name="text"/> (one list per mask, best first).</summary>
    /// <param name="text">The text, with at least one mask token.</param>
    /// <param name="topK">How many proposals per mask (Hugging Face's <c>top_k</c>); at most the number of targets.</param>
    /// <param name="targets">Restrict the proposals to these tokens: a vocabulary entry, else the first BPE token of the
    /// target (with a warning).</param>
    /// <exception cref="ArgumentException">No mask token in the text, or no usable target.</exception>
    public IReadOnlyList<IReadOnlyList<FillMaskPrediction>> Predict(string text, int topK = 5, IReadOnlyList<string>? targets = null) =>
        PredictBatch([text], topK, targets)[0];

    /// <summary><see cref="Predict"/> for a batch of texts, run in batches of <paramref name="batchSize"/>; results in input order.</summary>
    /// <param name="texts">The texts.</param>
    /// <param name="topK">Proposals per mask.</param>
    /// <param name="targets">Restrict the proposals to these tokens.</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    public IReadOnlyList<IReadOnlyList<IReadOnlyList<FillMaskPrediction>>> PredictBatch(IReadOnlyList<string> texts, int topK = 5,
        IReadOnlyList<string>? targets = null, int batchSize = PipelineBatching.DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1, nameof(topK));
        long[]? targetIds = targets is null ? null : TargetIds(targets);
        int k = targetIds is null ? topK : Math.Min(topK, targetIds.Length);
        int maskId = Tokenizer.MaskTokenId;
        var encodings = new Encoding[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(texts[i], nameof(texts));
            encodings[i] = Tokenizer.Encode(texts[i]);
            if (Array.IndexOf(encodings[i].Ids, maskId) < 0)
                throw new ArgumentException($"No mask_token ({Tokenizer.MaskToken}) found on the input", nameof(texts));
        }
        var raw = PipelineBatching.Run(Model, Tokenizer, encodings, batchSize, (output, row, enc) =>
        {
            var logits = ((MaskedLMOutput)output).Logits;
            int[] positions = [.. Enumerable.Range(0, enc.Length).Where(j => enc.Ids[j] == maskId)];
            var at = logits[row].index_select(0, torch.tensor(positions.Select(p => (long)p).ToArray(), device: logits.device));
            var probs = at.to(ScalarType.Float32).softmax(-1);                                       // [masks, V]
            if (targetIds is not null) probs = probs.index_select(1, torch.tensor(targetIds, device: probs.device));
            var (values, indices) = probs.topk(k);
            return (positions, PipelineBatching.ToFloats(values), indices.to(ScalarType.Int64).cpu().data<long>().ToArray());
        });
        var results = new IReadOnlyList<IReadOnlyList<FillMaskPrediction>>[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            var (positions, values, indices) = raw[i];
            var enc = encodings[i];
            bool single = positions.Length == 1;
            var perMask = new IReadOnlyList<FillMaskPrediction>[positions.Length];
            for (int m = 0; m < positions.Length; m++)
            {
                var row = new FillMaskPrediction[k];
                for (int r = 0; r < k; r++)
                {
                    long p = indices[m * k + r];
                    int token = (int)(targetIds is null ? p : targetIds[p]);
                    var ids = (int[])enc.Ids.Clone();
                    ids[positions[m]] = token;
                    int pad = Tokenizer.PadTokenId;
                    string sequence = Tokenizer.Decode(ids.Where(x => x != pad), skipSpecialTokens: single);
                    row[r] = new FillMaskPrediction(values[m * k + r], token, Tokenizer.Decode([token]), sequence);
                }
                perMask[m] = row;
            }
            results[i] = perMask;
        }
        return results;
    }

    /// <summary>Hugging Face's <c>get_target_ids</c>: vocabulary entries, else the first token of each target (deduplicated).</summary>
    private long[] TargetIds(IReadOnlyList<string> targets)
    {
        var vocab = Tokenizer.GetVocab();
        var ids = new List<long>();
        foreach (var target in targets)
        {
            ArgumentNullException.ThrowIfNull(target, nameof(targets));
            if (vocab.TryGetValue(target, out int id))
            {
                if (!ids.Contains(id)) ids.Add(id);
                continue;
            }
            var pieces = Tokenizer.EncodeToIds(target, addSpecialTokens: false);
            if (pieces.Length == 0)
            {
                _warn?.Invoke($"The specified target token `{target}` does not exist in the model vocabulary. We cannot replace it with anything meaningful, ignoring it");
                continue;
            }
            _warn?.Invoke($"The specified target token `{target}` does not exist in the model vocabulary. Replacing with `{Tokenizer.ConvertIdsToTokens(pieces[0])}`.");
            if (!ids.Contains(pieces[0])) ids.Add(pieces[0]);
        }
        if (ids.Count == 0) throw new ArgumentException("At least one target must be provided when passed.", nameof(targets));
        return [.. ids];
    }

    /// <inheritdoc/>
    /// <remarks>Parameters: <c>top_k</c> (5), <c>targets</c> (a string or a list), <c>batch_size</c>.</remarks>
    public override JsonNode? Run(JsonNode inputs, JsonObject? parameters = null)
    {
        PipelineBatching.CheckKnown(parameters, "top_k", "targets", "batch_size");
        var texts = PipelineBatching.GetInputs(inputs, PipelineBatching.AsText, out bool isBatch);
        int topK = PipelineBatching.GetInt(parameters, "top_k", 5, 1);
        var targets = PipelineBatching.GetStringList(parameters, "targets");
        int batchSize = PipelineBatching.GetInt(parameters, "batch_size", PipelineBatching.DefaultBatchSize, 1);
        var results = PredictBatch(texts, topK, targets, batchSize);
        var values = results.Select(perMask =>
        {
            var lists = perMask.Select(row => (JsonNode)new JsonArray([.. row.Select(ToJson)])).ToList();
            return lists.Count == 1 ? lists[0] : new JsonArray([.. lists]);
        }).ToList();
        return PipelineBatching.Shape(values, isBatch);
    }

    private static JsonNode ToJson(FillMaskPrediction p) => new JsonObject
    {
        ["score"] = p.Score,
        ["token"] = p.Token,
        ["token_str"] = p.TokenStr,
        ["sequence"] = p.Sequence,
    };
}
