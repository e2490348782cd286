namespace DebertaSharp.Training;

/// <summary>Precision, recall and F1 of one entity type, and how many entities of it the references hold.</summary>
/// <param name="Precision">Correct predicted entities of the type over all predicted ones (0 when none was predicted).</param>
/// <param name="Recall">Correct predicted entities of the type over all reference ones (0 when the references hold none).</param>
/// <param name="F1">The harmonic mean of <paramref name="Precision"/> and <paramref name="Recall"/> (0 when both are 0).</param>
/// <param name="Number">The number of entities of the type in the references (seqeval's support).</param>
public sealed record EntityScores(double Precision, double Recall, double F1, int Number);

/// <summary>The result of <see cref="Seqeval.Compute"/>, field for field as Hugging Face evaluate's <c>seqeval</c>.</summary>
/// <param name="OverallPrecision">Micro-averaged entity precision over all types.</param>
/// <param name="OverallRecall">Micro-averaged entity recall over all types.</param>
/// <param name="OverallF1">Micro-averaged entity F1 over all types.</param>
/// <param name="OverallAccuracy">The fraction of tokens whose predicted tag equals the reference tag.</param>
/// <param name="PerType">
/// The scores of every entity type found in the predictions or the references, ordered by type name (code point
/// order, as Python's <c>sorted</c>).
/// </param>
public sealed record SeqevalResult(
    double OverallPrecision,
    double OverallRecall,
    double OverallF1,
    double OverallAccuracy,
    IReadOnlyDictionary<string, EntityScores> PerType);

/// <summary>
/// Entity-level evaluation of sequence labelling (NER, chunking) with the defaults of Hugging Face evaluate's
/// <c>seqeval</c> metric: seqeval's default, conlleval-compatible mode (<c>mode=None</c>, <c>scheme=None</c>,
/// <c>suffix=False</c>, <c>zero_division="warn"</c>, i.e. undefined scores are 0).
/// </summary>
/// <remarks>
/// Tags are read leniently by their first character as seqeval's <c>get_entities</c> does, which accepts IOB1, IOB2
/// (BIO), IOE1/IOE2 and IOBES: <c>B</c> or <c>S</c> always starts an entity, <c>I</c> or <c>E</c> after <c>O</c>,
/// <c>E</c> or <c>S</c> starts one, and so does any change of type; <c>O</c> ends one. The type is what follows the
/// first '-' (the whole rest when there is none), or <c>_</c> when that is empty, so a bare <c>B</c>/<c>I</c> tag
/// gives type <c>_</c>. Sentences are joined with an <c>O</c> between them, so no entity spans two sentences.
/// </remarks>
public static class Seqeval
{
    /// <summary>
    /// Scores predicted tag sequences against reference ones, as evaluate's <c>seqeval.compute(predictions,
    /// references)</c>: seqeval's <c>classification_report(output_dict=True)</c> (per type and micro average) and
    /// <c>accuracy_score</c>.
    /// </summary>
    /// <param name="predictions">One tag sequence per sentence, as predicted.</param>
    /// <param name="references">The gold tag sequences, sentence for sentence and token for token.</param>
    /// <returns>The overall and per-type scores.</returns>
    /// <exception cref="ArgumentException">
    /// The two lists differ in sentence count or in a sentence's length; there are no tokens at all (the accuracy
    /// is undefined; Python raises ZeroDivisionError); or a tag is null or empty.
    /// </exception>
    public static SeqevalResult Compute(
        IReadOnlyList<IReadOnlyList<string>> predictions, IReadOnlyList<IReadOnlyList<string>> references)
    {
        // Mirrors evaluate's Seqeval._compute -> seqeval.metrics.sequence_labeling.classification_report.
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        CheckConsistentLength(predictions, references);

        var trueEntities = GroupByType(GetEntities(references, nameof(references)));
        var predEntities = GroupByType(GetEntities(predictions, nameof(predictions)));
        var perType = new SortedDictionary<string, EntityScores>(PythonText.CodePointComparer.Instance);
        int tpTotal = 0, predTotal = 0, trueTotal = 0;
        foreach (string type in trueEntities.Keys.Union(predEntities.Keys))
        {
            var truth = trueEntities.GetValueOrDefault(type) ?? [];
            var guess = predEntities.GetValueOrDefault(type) ?? [];
            int tp = truth.Count(guess.Contains);
            var (p, r, f) = PrecisionRecallF1(tp, guess.Count, truth.Count);
            perType[type] = new EntityScores(p, r, f, truth.Count);
            tpTotal += tp;
            predTotal += guess.Count;
            trueTotal += truth.Count;
        }

        // The "micro avg" row of the report: the sums over all types.
        var (precision, recall, f1) = PrecisionRecallF1(tpTotal, predTotal, trueTotal);
        return new SeqevalResult(precision, recall, f1, Accuracy(predictions, references), perType);
    }

    /// <summary>
    /// The flat dictionary of run_ner.py with <c>return_entity_level_metrics</c>: evaluate's nested
    /// <c>{type: {precision, recall, f1, number}}</c> entries flattened to <c>"{type}_precision"</c>,
    /// <c>"{type}_recall"</c>, <c>"{type}_f1"</c>, <c>"{type}_number"</c> (types in order), followed by
    /// <c>overall_precision</c>, <c>overall_recall</c>, <c>overall_f1</c> and <c>overall_accuracy</c>.
    /// </summary>
    /// <param name="result">A result of <see cref="Compute"/>.</param>
    /// <returns>The metric names and values, in that order (a later key overwrites an equal earlier one, as in Python).</returns>
    public static IReadOnlyDictionary<string, double> ToDictionary(SeqevalResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var flat = new Dictionary<string, double>();
        foreach (var (type, scores) in result.PerType)
        {
            flat[$"{type}_precision"] = scores.Precision;
            flat[$"{type}_recall"] = scores.Recall;
            flat[$"{type}_f1"] = scores.F1;
            flat[$"{type}_number"] = scores.Number;
        }
        flat["overall_precision"] = result.OverallPrecision;
        flat["overall_recall"] = result.OverallRecall;
        flat["overall_f1"] = result.OverallF1;
        flat["overall_accuracy"] = result.OverallAccuracy;
        return flat;
    }

    /// <summary>
    /// seqeval's <c>get_entities</c> for a list of sentences: the entities as (type, first, last) token indices
    /// over the sentences joined with one <c>O</c> after each (so sentence <c>k</c> starts after the
    /// <c>k</c> separators before it).
    /// </summary>
    internal static List<(string Type, int Start, int End)> GetEntities(
        IReadOnlyList<IReadOnlyList<string>> sentences, string paramName = "sequences")
    {
        var flat = new List<string>();
        foreach (var sentence in sentences)
        {
            flat.AddRange(sentence);
            flat.Add("O");
        }
        return GetEntities(flat, paramName);
    }

    /// <summary>seqeval's <c>get_entities(seq, suffix=False)</c> for one flat tag sequence.</summary>
    internal static List<(string Type, int Start, int End)> GetEntities(IReadOnlyList<string> tags, string paramName = "tags")
    {
        var chunks = new List<(string, int, int)>();
        int prevTag = 'O';
        string prevType = "";
        int begin = 0;
        for (int i = 0; i <= tags.Count; i++)
        {
            var (tag, type) = i < tags.Count ? SplitTag(tags[i], paramName) : ((int)'O', "_");
            if (EndOfChunk(prevTag, tag, prevType, type)) chunks.Add((prevType, begin, i - 1));
            if (StartOfChunk(prevTag, tag, prevType, type)) begin = i;
            prevTag = tag;
            prevType = type;
        }
        return chunks;
    }

    // The tag is the first code point, the type follows the first '-' of the rest (or is the whole rest), "_" if empty.
    private static (int Tag, string Type) SplitTag(string? chunk, string paramName)
    {
        if (string.IsNullOrEmpty(chunk))
            throw new ArgumentException("A tag is null or empty; every token needs a tag such as 'O' or 'B-PER'.", paramName);
        int tag = PythonText.CodePointAt(chunk, 0, out int length);
        string rest = chunk[length..];
        int dash = rest.IndexOf('-');
        string type = dash >= 0 ? rest[(dash + 1)..] : rest;
        return (tag, type.Length == 0 ? "_" : type);
    }

    // seqeval.metrics.sequence_labeling.end_of_chunk
    private static bool EndOfChunk(int prevTag, int tag, string prevType, string type) =>
        prevTag is 'E' or 'S'
        || (prevTag is 'B' or 'I' && tag is 'B' or 'S' or 'O')
        || (prevTag is not ('O' or '.') && prevType != type);

    // seqeval.metrics.sequence_labeling.start_of_chunk
    private static bool StartOfChunk(int prevTag, int tag, string prevType, string type) =>
        tag is 'B' or 'S'
        || (prevTag is 'E' or 'S' or 'O' && tag is 'E' or 'I')
        || (tag is not ('O' or '.') && prevType != type);

    private static Dictionary<string, HashSet<(int, int)>> GroupByType(List<(string Type, int Start, int End)> entities)
    {
        var byType = new Dictionary<string, HashSet<(int, int)>>(StringComparer.Ordinal);
        foreach (var (type, start, end) in entities)
        {
            if (!byType.TryGetValue(type, out var set)) byType[type] = set = [];
            set.Add((start, end));
        }
        return byType;
    }

    // seqeval.metrics.v1._precision_recall_fscore_support with beta = 1 and zero_division "warn" (-> 0).
    private static (double Precision, double Recall, double F1) PrecisionRecallF1(int tp, int predicted, int actual)
    {
        double precision = predicted == 0 ? 0.0 : (double)tp / predicted;
        double recall = actual == 0 ? 0.0 : (double)tp / actual;
        double denominator = precision + recall;
        return (precision, recall, denominator == 0 ? 0.0 : 2 * precision * recall / denominator);
    }

    // seqeval.metrics.sequence_labeling.accuracy_score over the flattened tokens.
    private static double Accuracy(IReadOnlyList<IReadOnlyList<string>> predictions, IReadOnlyList<IReadOnlyList<string>> references)
    {
        int correct = 0, total = 0;
        for (int s = 0; s < references.Count; s++)
        {
            for (int t = 0; t < references[s].Count; t++)
                if (string.Equals(references[s][t], predictions[s][t], StringComparison.Ordinal)) correct++;
            total += references[s].Count;
        }
        return (double)correct / total;
    }

    // seqeval.metrics.v1.check_consistent_length, plus the ZeroDivisionError of accuracy_score on no tokens.
    private static void CheckConsistentLength(
        IReadOnlyList<IReadOnlyList<string>> predictions, IReadOnlyList<IReadOnlyList<string>> references)
    {
        if (predictions.Count != references.Count)
            throw new ArgumentException(
                $"{predictions.Count} predicted sentences but {references.Count} reference sentences.", nameof(predictions));
        int tokens = 0;
        for (int s = 0; s < predictions.Count; s++)
        {
            if (predictions[s] is null) throw new ArgumentException($"Predicted sentence {s} is null.", nameof(predictions));
            if (references[s] is null) throw new ArgumentException($"Reference sentence {s} is null.", nameof(references));
            if (predictions[s].Count != references[s].Count)
                throw new ArgumentException(
                    $"Sentence {s} has {predictions[s].Count} predicted tags but {references[s].Count} reference tags.",
                    nameof(predictions));
            tokens += references[s].Count;
        }
        if (tokens == 0)
            throw new ArgumentException("There are no tokens to score (token accuracy is undefined).", nameof(predictions));
    }
}
