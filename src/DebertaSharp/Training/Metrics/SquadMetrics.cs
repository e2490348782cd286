using System.Text;

namespace DebertaSharp.Training;

/// <summary>
/// Extractive question-answering metrics: the official SQuAD v1.1 and v2.0 evaluation scripts as Hugging Face
/// evaluate wraps them in its <c>squad</c> and <c>squad_v2</c> metrics.
/// </summary>
/// <remarks>
/// Answers are compared after <see cref="NormalizeAnswer"/>, with Python's string semantics: <c>str.lower()</c>
/// (Unicode), removal of the ASCII punctuation of <c>string.punctuation</c> only, removal of the whole words
/// "a", "an" and "the" (word characters as in Python's <c>re</c>), and splitting on any Unicode whitespace.
/// </remarks>
public static class SquadMetrics
{
    /// <summary>
    /// The official scripts' <c>normalize_answer</c>: lower-cases, removes ASCII punctuation, replaces the articles
    /// "a", "an" and "the" (as whole words) with a space, and collapses whitespace to single spaces.
    /// </summary>
    /// <param name="text">An answer text.</param>
    /// <returns>The normalised text; its tokens are separated by single spaces.</returns>
    public static string NormalizeAnswer(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return WhiteSpaceFix(RemoveArticles(RemovePunctuation(PythonText.Lower(text))));
    }

    /// <summary>Whether the two answers are equal after <see cref="NormalizeAnswer"/> (v1.1 <c>exact_match_score</c>).</summary>
    /// <param name="prediction">The predicted answer.</param>
    /// <param name="groundTruth">A gold answer.</param>
    /// <returns>True when the normalised texts are equal.</returns>
    public static bool ExactMatch(string prediction, string groundTruth) =>
        string.Equals(NormalizeAnswer(prediction), NormalizeAnswer(groundTruth), StringComparison.Ordinal);

    /// <summary>
    /// The token-level F1 of the normalised answers (v1.1 <c>f1_score</c>): the harmonic mean of the precision and
    /// recall of the shared tokens, counted as multisets; 0 when no token is shared, including when either answer
    /// normalises to nothing. (<see cref="ComputeV2"/> uses the v2.0 rule instead: two empty answers score 1.)
    /// </summary>
    /// <param name="prediction">The predicted answer.</param>
    /// <param name="groundTruth">A gold answer.</param>
    /// <returns>A value in [0, 1].</returns>
    public static double F1(string prediction, string groundTruth)
    {
        var predictionTokens = Tokens(NormalizeAnswer(prediction));
        var truthTokens = Tokens(NormalizeAnswer(groundTruth));
        return TokenF1(predictionTokens, truthTokens);
    }

    /// <summary>
    /// SQuAD v1.1 scores as evaluate's <c>squad</c>: per question the best exact match and the best F1 over its gold
    /// answers, averaged over all questions of <paramref name="references"/> and given in percent.
    /// </summary>
    /// <param name="predictions">Question id to predicted answer text. Ids not in the references are ignored.</param>
    /// <param name="references">Question id to its gold answer texts (at least one each).</param>
    /// <returns><c>exact_match</c> and <c>f1</c>, each in [0, 100].</returns>
    /// <remarks>
    /// A question without a prediction scores 0 and still counts in the total, as in the official script and
    /// evaluate (which also print "Unanswered question ... will receive score 0." to stderr; nothing is printed here).
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// No references; or a predicted question with no gold answer (Python's <c>max()</c> of an empty list).
    /// </exception>
    public static IReadOnlyDictionary<string, double> ComputeV1(
        IReadOnlyDictionary<string, string> predictions, IReadOnlyDictionary<string, IReadOnlyList<string>> references)
    {
        // Mirrors the v1.1 compute_score (evaluate's metrics/squad/compute_score.py).
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        if (references.Count == 0) throw new ArgumentException("No references were given.", nameof(references));

        double exactMatch = 0, f1 = 0;
        int total = 0;
        foreach (var (id, answers) in references)
        {
            total++;
            if (!predictions.TryGetValue(id, out string? prediction)) continue;
            if (prediction is null) throw new ArgumentException($"The prediction for '{id}' is null.", nameof(predictions));
            if (answers is null || answers.Count == 0)
                throw new ArgumentException(
                    $"Question '{id}' has no gold answer; SQuAD v1.1 needs at least one (use ComputeV2 for unanswerable questions).",
                    nameof(references));
            exactMatch += answers.Max(a => ExactMatch(prediction, a) ? 1 : 0);
            f1 += answers.Max(a => F1(prediction, a));
        }
        return new Dictionary<string, double>
        {
            ["exact_match"] = 100.0 * exactMatch / total,
            ["f1"] = 100.0 * f1 / total,
        };
    }

    /// <summary>
    /// SQuAD v2.0 scores as evaluate's <c>squad_v2</c> (the official v2.0 script with a no-answer probability file).
    /// </summary>
    /// <param name="predictions">Question id to predicted answer text ("" predicts "no answer").</param>
    /// <param name="noAnswerProbabilities">Question id to the model's probability that the question has no answer.</param>
    /// <param name="references">
    /// Question id to its gold answer texts; an empty list marks an unanswerable question, whose only correct answer
    /// is "" (so are answers that normalise to nothing).
    /// </param>
    /// <param name="noAnswerThreshold">
    /// A question whose no-answer probability exceeds this is scored as answered with "" (default 1.0: never).
    /// </param>
    /// <returns>
    /// In this order: <c>exact</c>, <c>f1</c> (percent) and <c>total</c>; <c>HasAns_exact</c>, <c>HasAns_f1</c>,
    /// <c>HasAns_total</c> when some question is answerable; <c>NoAns_exact</c>, <c>NoAns_f1</c>, <c>NoAns_total</c>
    /// when some is not; then <c>best_exact</c>, <c>best_exact_thresh</c>, <c>best_f1</c>, <c>best_f1_thresh</c>:
    /// the best scores over all no-answer thresholds and the probability that reaches each (computed from the raw,
    /// unthresholded scores, visiting questions by increasing probability, ties in the enumeration order of
    /// <paramref name="noAnswerProbabilities"/>, as Python's stable sort does). Totals are whole numbers.
    /// </returns>
    /// <remarks>
    /// Unlike v1.1, every reference needs a prediction: the official script skips a missing one ("Missing prediction
    /// for ...") and then fails with a KeyError in its HasAns/NoAns split, so evaluate's <c>squad_v2</c> raises; here
    /// it is an <see cref="ArgumentException"/>. evaluate stores the probabilities as float32; pass
    /// <c>(double)(float)p</c> to reproduce its thresholds bit for bit.
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// No references; a reference without a prediction or without a no-answer probability; a null text.
    /// </exception>
    public static IReadOnlyDictionary<string, double> ComputeV2(
        IReadOnlyDictionary<string, string> predictions,
        IReadOnlyDictionary<string, double> noAnswerProbabilities,
        IReadOnlyDictionary<string, IReadOnlyList<string>> references,
        double noAnswerThreshold = 1.0)
    {
        // Mirrors evaluate's SquadV2._compute over the v2.0 script: make_qid_to_has_ans, get_raw_scores,
        // apply_no_ans_threshold, make_eval_dict, merge_eval and find_all_best_thresh.
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(noAnswerProbabilities);
        ArgumentNullException.ThrowIfNull(references);
        if (references.Count == 0) throw new ArgumentException("No references were given.", nameof(references));

        var hasAnswer = new Dictionary<string, bool>(StringComparer.Ordinal);
        var exactRaw = new Dictionary<string, double>(StringComparer.Ordinal);
        var f1Raw = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (id, answers) in references)
        {
            if (answers is null) throw new ArgumentException($"The answers of '{id}' are null.", nameof(references));
            hasAnswer[id] = answers.Count > 0;
            var gold = answers.Where(a => NormalizeAnswer(a ?? throw new ArgumentException(
                $"An answer of '{id}' is null.", nameof(references))).Length > 0).ToList();
            if (gold.Count == 0) gold.Add("");
            if (!predictions.TryGetValue(id, out string? prediction))
                throw new ArgumentException($"Missing prediction for '{id}'; SQuAD v2 scores every reference.", nameof(predictions));
            if (prediction is null) throw new ArgumentException($"The prediction for '{id}' is null.", nameof(predictions));
            exactRaw[id] = gold.Max(a => ExactV2(a, prediction));
            f1Raw[id] = gold.Max(a => F1V2(a, prediction));
        }

        var exactThresholded = ApplyNoAnswerThreshold(exactRaw, noAnswerProbabilities, hasAnswer, noAnswerThreshold);
        var f1Thresholded = ApplyNoAnswerThreshold(f1Raw, noAnswerProbabilities, hasAnswer, noAnswerThreshold);

        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        AddEvalDict(result, "", exactThresholded, f1Thresholded, [.. exactThresholded.Keys]);
        var hasAnswerIds = hasAnswer.Where(kv => kv.Value).Select(kv => kv.Key).ToList();
        var noAnswerIds = hasAnswer.Where(kv => !kv.Value).Select(kv => kv.Key).ToList();
        if (hasAnswerIds.Count > 0) AddEvalDict(result, "HasAns_", exactThresholded, f1Thresholded, hasAnswerIds);
        if (noAnswerIds.Count > 0) AddEvalDict(result, "NoAns_", exactThresholded, f1Thresholded, noAnswerIds);

        var (bestExact, bestExactThreshold) = FindBestThreshold(predictions, exactRaw, noAnswerProbabilities, hasAnswer);
        var (bestF1, bestF1Threshold) = FindBestThreshold(predictions, f1Raw, noAnswerProbabilities, hasAnswer);
        result["best_exact"] = bestExact;
        result["best_exact_thresh"] = bestExactThreshold;
        result["best_f1"] = bestF1;
        result["best_f1_thresh"] = bestF1Threshold;
        return result;
    }

    // v2.0 compute_exact(a_gold, a_pred)
    private static double ExactV2(string gold, string prediction) =>
        string.Equals(NormalizeAnswer(gold), NormalizeAnswer(prediction), StringComparison.Ordinal) ? 1 : 0;

    // v2.0 compute_f1(a_gold, a_pred): if either side has no tokens, 1 when both have none, else 0.
    private static double F1V2(string gold, string prediction)
    {
        var goldTokens = Tokens(NormalizeAnswer(gold));
        var predictionTokens = Tokens(NormalizeAnswer(prediction));
        if (goldTokens.Length == 0 || predictionTokens.Length == 0)
            return goldTokens.Length == predictionTokens.Length ? 1 : 0;
        return TokenF1(predictionTokens, goldTokens);
    }

    // The shared body of v1.1 f1_score and v2.0 compute_f1: Counter(prediction) & Counter(truth).
    private static double TokenF1(string[] predictionTokens, string[] truthTokens)
    {
        var truthCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string token in truthTokens) truthCounts[token] = truthCounts.GetValueOrDefault(token) + 1;
        int same = 0;
        foreach (string token in predictionTokens)
        {
            if (truthCounts.TryGetValue(token, out int left) && left > 0)
            {
                truthCounts[token] = left - 1;
                same++;
            }
        }
        if (same == 0) return 0;
        double precision = 1.0 * same / predictionTokens.Length;
        double recall = 1.0 * same / truthTokens.Length;
        return 2 * precision * recall / (precision + recall);
    }

    // v2.0 apply_no_ans_threshold
    private static Dictionary<string, double> ApplyNoAnswerThreshold(
        Dictionary<string, double> scores,
        IReadOnlyDictionary<string, double> noAnswerProbabilities,
        Dictionary<string, bool> hasAnswer,
        double threshold)
    {
        var thresholded = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (id, score) in scores)
        {
            if (!noAnswerProbabilities.TryGetValue(id, out double probability))
                throw new ArgumentException($"Missing no-answer probability for '{id}'.", nameof(noAnswerProbabilities));
            thresholded[id] = probability > threshold ? (hasAnswer[id] ? 0.0 : 1.0) : score;
        }
        return thresholded;
    }

    // v2.0 make_eval_dict followed by merge_eval(prefix)
    private static void AddEvalDict(
        Dictionary<string, double> into, string prefix, Dictionary<string, double> exact, Dictionary<string, double> f1,
        List<string> ids)
    {
        double exactSum = 0, f1Sum = 0;
        foreach (string id in ids)
        {
            exactSum += exact[id];
            f1Sum += f1[id];
        }
        into[prefix + "exact"] = 100.0 * exactSum / ids.Count;
        into[prefix + "f1"] = 100.0 * f1Sum / ids.Count;
        into[prefix + "total"] = ids.Count;
    }

    // v2.0 find_best_thresh: start from "answer nothing" (every NoAns right), then lower the threshold question by
    // question in increasing probability, keeping the best running score.
    private static (double Best, double Threshold) FindBestThreshold(
        IReadOnlyDictionary<string, string> predictions,
        Dictionary<string, double> scores,
        IReadOnlyDictionary<string, double> noAnswerProbabilities,
        Dictionary<string, bool> hasAnswer)
    {
        double current = hasAnswer.Count(kv => !kv.Value);
        double best = current;
        double bestThreshold = 0.0;
        foreach (var (id, probability) in noAnswerProbabilities.OrderBy(kv => kv.Value))
        {
            if (!scores.TryGetValue(id, out double score)) continue;
            double diff = hasAnswer[id] ? score : (predictions[id].Length > 0 ? -1 : 0);
            current += diff;
            if (current > best)
            {
                best = current;
                bestThreshold = probability;
            }
        }
        return (100.0 * best / scores.Count, bestThreshold);
    }

    private static string RemovePunctuation(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
            if (PythonText.AsciiPunctuation.IndexOf(c) < 0) sb.Append(c);
        return sb.ToString();
    }

    // re.sub(r"\b(a|an|the)\b", " ", text): a match is exactly a maximal run of word characters equal to an article.
    private static string RemoveArticles(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length;)
        {
            int cp = PythonText.CodePointAt(text, i, out int len);
            if (!PythonText.IsWordCodePoint(cp))
            {
                sb.Append(text, i, len);
                i += len;
                continue;
            }
            int start = i;
            while (i < text.Length && PythonText.IsWordCodePoint(PythonText.CodePointAt(text, i, out len))) i += len;
            var word = text.AsSpan(start, i - start);
            if (word is "a" or "an" or "the") sb.Append(' ');
            else sb.Append(word);
        }
        return sb.ToString();
    }

    private static string WhiteSpaceFix(string text) => string.Join(' ', PythonText.SplitWhitespace(text));

    // normalize_answer(s).split(): the normalised text has single-space separators only.
    private static string[] Tokens(string normalized) => normalized.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
