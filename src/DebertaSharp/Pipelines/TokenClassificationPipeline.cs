using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

/// <summary>How token predictions are merged into entities (Hugging Face's <c>aggregation_strategy</c>).</summary>
public enum AggregationStrategy
{
    /// <summary>One entity per token (<c>entity</c>, <c>index</c>).</summary>
    None,
    /// <summary>Adjacent tokens with the same tag merged (B-/I- rules), per-token labels.</summary>
    Simple,
    /// <summary>Words labelled by their first token, then merged.</summary>
    First,
    /// <summary>Words labelled by the average of their tokens' scores, then merged.</summary>
    Average,
    /// <summary>Words labelled by their most confident token, then merged.</summary>
    Max,
}

/// <summary>An entity (an entry of Hugging Face's token-classification output).</summary>
/// <param name="Entity">The token's label (<c>entity</c>, with <see cref="AggregationStrategy.None"/>); else null.</param>
/// <param name="EntityGroup">The group's tag without B-/I- (<c>entity_group</c>, with aggregation); else null.</param>
/// <param name="Score">The score (fp32).</param>
/// <param name="Index">The token's position in its window (with <see cref="AggregationStrategy.None"/>); else null.</param>
/// <param name="Word">The token or the decoded text of the group.</param>
/// <param name="Start">First character (code point) in the original text.</param>
/// <param name="End">End character (exclusive).</param>
public sealed record TokenEntity(string? Entity, string? EntityGroup, float Score, int? Index, string Word, int Start, int End);

/// <summary>
/// Hugging Face's <c>token-classification</c> (NER) pipeline: per-token labels, optionally aggregated into words and
/// entities, labels in <c>ignore_labels</c> dropped; long texts in overlapping windows with <c>stride</c>.
/// </summary>
public sealed class TokenClassificationPipeline : Pipeline
{
    private readonly Action<string>? _warn;

    /// <summary>Creates the pipeline over a token-classification model and its tokenizer.</summary>
    /// <param name="model">A <see cref="DebertaHead.TokenClassification"/> model.</param>
    /// <param name="tokenizer">Its tokenizer (its <c>ModelMaxLength</c> is the window length).</param>
    /// <param name="warning">Receives Hugging Face's warnings (the word heuristic of byte-level tokenizers); null drops them.</param>
    /// <exception cref="ArgumentException">The model is not a token classifier.</exception>
    public TokenClassificationPipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer, Action<string>? warning = null)
        : base(model, tokenizer)
    {
        if (model.Head != DebertaHead.TokenClassification)
            throw new ArgumentException($"token-classification needs a token-classification model, not {model.Head}", nameof(model));
        _warn = warning;
    }

    /// <inheritdoc/>
    public override string Task => "token-classification";

    /// <summary>The entities of <paramref name="text"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="aggregation">How tokens are merged; null (not given) acts as <see cref="AggregationStrategy.None"/>.</param>
    /// <param name="ignoreLabels">Labels (or groups) left out; null for <c>["O"]</c>.</param>
    /// <param name="stride">Overlap of the windows of a text longer than the tokenizer's <c>ModelMaxLength</c>; null for
    /// one window (truncated). As in Hugging Face, an explicit <see cref="AggregationStrategy.None"/> refuses it, while no
    /// aggregation given runs the windows token by token and merges their overlapping entities.</param>
    public IReadOnlyList<TokenEntity> Recognize(string text, AggregationStrategy? aggregation = null,
        IReadOnlyList<string>? ignoreLabels = null, int? stride = null) =>
        RecognizeBatch([text], aggregation, ignoreLabels, stride)[0];

    /// <summary><see cref="Recognize"/> for a batch, run in batches of <paramref name="batchSize"/> windows; results in input order.</summary>
    /// <param name="texts">The texts.</param>
    /// <param name="aggregationStrategy">How tokens are merged; null (not given) acts as <see cref="AggregationStrategy.None"/>.</param>
    /// <param name="ignoreLabels">Labels left out; null for <c>["O"]</c>.</param>
    /// <param name="stride">Window overlap, or null.</param>
    /// <param name="batchSize">Windows per forward pass.</param>
    /// <exception cref="ArgumentException"><paramref name="stride"/> not below the window length, or with an explicit <see cref="AggregationStrategy.None"/>.</exception>
    public IReadOnlyList<IReadOnlyList<TokenEntity>> RecognizeBatch(IReadOnlyList<string> texts, AggregationStrategy? aggregationStrategy = null,
        IReadOnlyList<string>? ignoreLabels = null, int? stride = null, int batchSize = PipelineBatching.DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var aggregation = aggregationStrategy ?? AggregationStrategy.None;
        ignoreLabels ??= ["O"];
        int? maxLength = Tokenizer.ModelMaxLength is int m && m > 0 ? m : null;
        EncodeOptions options;
        if (stride is int s)
        {
            // TokenClassificationPipeline._sanitize_parameters: the length check first, then the explicit "none".
            if (s < 0) throw new ArgumentOutOfRangeException(nameof(stride), s, "stride must not be negative");
            if (maxLength is int ml && s >= ml)
                throw new ArgumentException("`stride` must be less than `tokenizer.model_max_length` (or even lower if the tokenizer adds special tokens)", nameof(stride));
            if (aggregationStrategy == AggregationStrategy.None)
                throw new ArgumentException("`stride` was provided to process all the text but `aggregation_strategy=\"none\"`, please select another one instead.", nameof(stride));
            options = new EncodeOptions { MaxLength = maxLength, Truncation = maxLength is null ? TruncationStrategy.None : TruncationStrategy.LongestFirst, Stride = s, ReturnOverflowingTokens = true };
        }
        else
        {
            options = new EncodeOptions { MaxLength = maxLength, Truncation = maxLength is null ? TruncationStrategy.None : TruncationStrategy.LongestFirst };
        }
        if (aggregation is AggregationStrategy.First or AggregationStrategy.Average or AggregationStrategy.Max)
            _warn?.Invoke("Tokenizer does not support real words, using fallback heuristic");

        // Every window of every text, flattened; owner[i] = the text of window i.
        var windows = new List<Encoding>();
        var owner = new List<int>();
        for (int t = 0; t < texts.Count; t++)
        {
            ArgumentNullException.ThrowIfNull(texts[t], nameof(texts));
            var enc = Tokenizer.Encode(texts[t], null, options);
            windows.Add(enc with { Overflowing = [] });
            owner.Add(t);
            foreach (var o in enc.Overflowing)
            {
                windows.Add(o);
                owner.Add(t);
            }
        }
        var scores = PipelineBatching.Run(Model, Tokenizer, windows, batchSize, (output, row, enc) =>
        {
            var logits = PipelineBatching.ToFloats(((TokenClassifierOutput)output).Logits[row]);   // [L_batch * C]
            int c = Model.Config.NumLabels;
            var perToken = new float[enc.Length][];
            for (int j = 0; j < enc.Length; j++) perToken[j] = PipelineBatching.Softmax(logits.AsSpan(j * c, c));
            return perToken;
        });

        var results = new List<TokenEntity>[texts.Count];
        var chunks = new int[texts.Count];
        for (int t = 0; t < texts.Count; t++) results[t] = [];
        for (int w = 0; w < windows.Count; w++)
        {
            int t = owner[w];
            chunks[t]++;
            var pre = GatherPreEntities(texts[t], windows[w], scores[w]);
            foreach (var e in Aggregate(pre, aggregation))
                if (!ignoreLabels.Contains(e.Entity ?? e.EntityGroup!)) results[t].Add(e);
        }
        for (int t = 0; t < texts.Count; t++)
            if (chunks[t] > 1) results[t] = AggregateOverlapping(results[t]);
        return results;
    }

    private sealed record PreEntity(string Word, float[] Scores, int Start, int End, int Index, bool IsSubword);

    /// <summary>Hugging Face's <c>gather_pre_entities</c>, with its fallback word heuristic (the BPE model has no continuing-subword prefix).</summary>
    private List<PreEntity> GatherPreEntities(string sentence, Encoding enc, float[][] scores)
    {
        var pre = new List<PreEntity>();
        int[] cp = CodePointStarts(sentence);
        int unk = Tokenizer.UnkTokenId;
        for (int j = 0; j < enc.Length; j++)
        {
            if (enc.SpecialTokensMask[j] != 0) continue;
            string word = Tokenizer.ConvertIdsToTokens(enc.Ids[j]) ?? "";
            var (start, end) = enc.Offsets[j];
            // is_subword = start > 0 and " " not in sentence[start - 1 : start + 1]  (Python indices: code points)
            bool isSubword = start > 0 && !Slice(sentence, cp, start - 1, start + 1).Contains(' ');
            if (enc.Ids[j] == unk)
            {
                word = Slice(sentence, cp, start, end);
                isSubword = false;
            }
            pre.Add(new PreEntity(word, scores[j], start, end, j, isSubword));
        }
        return pre;
    }

    private List<TokenEntity> Aggregate(List<PreEntity> pre, AggregationStrategy strategy)
    {
        List<(string Entity, float Score, int Index, string Word, int Start, int End)> entities;
        if (strategy is AggregationStrategy.None or AggregationStrategy.Simple)
        {
            entities = [.. pre.Select(p =>
            {
                int best = ArgMax(p.Scores);
                return (PipelineBatching.Label(Model.Config, best), p.Scores[best], p.Index, p.Word, p.Start, p.End);
            })];
            if (strategy == AggregationStrategy.None)
                return [.. entities.Select(e => new TokenEntity(e.Entity, null, e.Score, e.Index, e.Word, e.Start, e.End))];
        }
        else
        {
            entities = [];
            var group = new List<PreEntity>();
            foreach (var p in pre)
            {
                if (group.Count > 0 && !p.IsSubword)
                {
                    entities.Add(AggregateWord(group, strategy));
                    group = [];
                }
                group.Add(p);
            }
            if (group.Count > 0) entities.Add(AggregateWord(group, strategy));
        }
        return GroupEntities(entities);
    }

    private (string, float, int, string, int, int) AggregateWord(List<PreEntity> group, AggregationStrategy strategy)
    {
        string word = PipelineBatching.TokensToString(Tokenizer, group.Select(g => g.Word));
        float[] scores;
        switch (strategy)
        {
            case AggregationStrategy.First:
                scores = group[0].Scores;
                break;
            case AggregationStrategy.Max:
                var best = group[0];
                foreach (var g in group) if (g.Scores.Max() > best.Scores.Max()) best = g;   // first of equal maxima
                scores = best.Scores;
                break;
            default:
                scores = new float[group[0].Scores.Length];
                for (int c = 0; c < scores.Length; c++)
                {
                    double sum = 0;
                    int n = 0;
                    foreach (var g in group)
                        if (!float.IsNaN(g.Scores[c])) { sum += g.Scores[c]; n++; }
                    scores[c] = n == 0 ? float.NaN : (float)(sum / n);
                }
                break;
        }
        int idx = ArgMax(scores);
        return (PipelineBatching.Label(Model.Config, idx), scores[idx], -1, word, group[0].Start, group[^1].End);
    }

    private static (string Bi, string Tag) GetTag(string name) =>
        name.StartsWith("B-", StringComparison.Ordinal) ? ("B", name[2..])
        : name.StartsWith("I-", StringComparison.Ordinal) ? ("I", name[2..])
        : ("I", name);

    private List<TokenEntity> GroupEntities(List<(string Entity, float Score, int Index, string Word, int Start, int End)> entities)
    {
        var groups = new List<TokenEntity>();
        var current = new List<(string Entity, float Score, int Index, string Word, int Start, int End)>();
        foreach (var e in entities)
        {
            if (current.Count > 0)
            {
                var (bi, tag) = GetTag(e.Entity);
                var (_, lastTag) = GetTag(current[^1].Entity);
                if (!(tag == lastTag && bi != "B"))
                {
                    groups.Add(GroupSubEntities(current));
                    current = [];
                }
            }
            current.Add(e);
        }
        if (current.Count > 0) groups.Add(GroupSubEntities(current));
        return groups;
    }

    private TokenEntity GroupSubEntities(List<(string Entity, float Score, int Index, string Word, int Start, int End)> group)
    {
        // group_sub_entities: entity.split("-", 1)[-1] ("B-tax-amount" → "tax-amount").
        string entity = group[0].Entity;
        int dash = entity.IndexOf('-');
        string tag = dash < 0 ? entity : entity[(dash + 1)..];
        double sum = 0;
        int n = 0;
        foreach (var g in group)
            if (!float.IsNaN(g.Score)) { sum += g.Score; n++; }
        float score = n == 0 ? float.NaN : (float)(sum / n);
        string word = PipelineBatching.TokensToString(Tokenizer, group.Select(g => g.Word));
        return new TokenEntity(null, tag, score, null, word, group[0].Start, group[^1].End);
    }

    /// <summary>Hugging Face's <c>aggregate_overlapping_entities</c>: of entities that overlap, the longest (then the best-scored) stays.</summary>
    private static List<TokenEntity> AggregateOverlapping(List<TokenEntity> entities)
    {
        if (entities.Count == 0) return entities;
        var sorted = entities.OrderBy(e => e.Start).ToList();                                                  // stable, as sorted()
        var result = new List<TokenEntity>();
        var previous = sorted[0];
        foreach (var e in sorted)
        {
            if (previous.Start <= e.Start && e.Start < previous.End)
            {
                int currentLength = e.End - e.Start, previousLength = previous.End - previous.Start;
                if (currentLength > previousLength || (currentLength == previousLength && e.Score > previous.Score))
                    previous = e;
            }
            else
            {
                result.Add(previous);
                previous = e;
            }
        }
        result.Add(previous);
        return result;
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best] || (float.IsNaN(v[best]) && !float.IsNaN(v[i]))) best = i;
        return best;
    }

    /// <summary>UTF-16 index of each code point of <paramref name="s"/>, plus the length at the end.</summary>
    private static int[] CodePointStarts(string s)
    {
        var starts = new List<int>(s.Length + 1);
        for (int i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1) starts.Add(i);
        starts.Add(s.Length);
        return [.. starts];
    }

    /// <summary>Python's <c>s[from:to]</c> in code points (clamped like Python slices).</summary>
    private static string Slice(string s, int[] cp, int from, int to)
    {
        int count = cp.Length - 1;
        from = Math.Clamp(from, 0, count);
        to = Math.Clamp(to, 0, count);
        return to <= from ? "" : s[cp[from]..cp[to]];
    }

    /// <inheritdoc/>
    /// <remarks>Parameters: <c>aggregation_strategy</c> (<c>none</c>, <c>simple</c>, <c>first</c>, <c>average</c>,
    /// <c>max</c>), <c>ignore_labels</c> (a list), <c>stride</c>, <c>batch_size</c>.</remarks>
    public override JsonNode? Run(JsonNode inputs, JsonObject? parameters = null)
    {
        PipelineBatching.CheckKnown(parameters, "aggregation_strategy", "ignore_labels", "stride", "batch_size");
        var texts = PipelineBatching.GetInputs(inputs, PipelineBatching.AsText, out bool isBatch);
        AggregationStrategy? aggregation = PipelineBatching.GetString(parameters, "aggregation_strategy")?.ToLowerInvariant() switch
        {
            null => null,
            "none" => AggregationStrategy.None,
            "simple" => AggregationStrategy.Simple,
            "first" => AggregationStrategy.First,
            "average" => AggregationStrategy.Average,
            "max" => AggregationStrategy.Max,
            var other => throw new ArgumentException($"parameter \"aggregation_strategy\" must be none, simple, first, average or max, not \"{other}\"", "aggregation_strategy"),
        };
        var ignore = PipelineBatching.GetStringList(parameters, "ignore_labels");
        int? stride = parameters is not null && parameters["stride"] is not null ? PipelineBatching.GetInt(parameters, "stride", 0, 0) : null;
        int batchSize = PipelineBatching.GetInt(parameters, "batch_size", PipelineBatching.DefaultBatchSize, 1);
        var results = RecognizeBatch(texts, aggregation, ignore, stride, batchSize);
        var values = results.Select(r => (JsonNode?)new JsonArray([.. r.Select(ToJson)])).ToList();
        return PipelineBatching.Shape(values, isBatch);
    }

    private static JsonNode ToJson(TokenEntity e)
    {
        var o = new JsonObject();
        if (e.Entity is not null) o["entity"] = e.Entity;
        else o["entity_group"] = e.EntityGroup;
        o["score"] = e.Score;
        if (e.Index is int i) o["index"] = i;
        o["word"] = e.Word;
        o["start"] = e.Start;
        o["end"] = e.End;
        return o;
    }
}
