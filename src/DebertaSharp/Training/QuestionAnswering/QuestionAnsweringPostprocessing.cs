using System.Numerics;

namespace DebertaSharp.Training;

/// <summary>
/// Turns a question-answering model's start/end logits back into answer texts as transformers 4.x's
/// <c>examples/pytorch/question-answering/utils_qa.py</c> (<c>postprocess_qa_predictions</c>) does.
/// </summary>
/// <remarks>
/// <para>
/// For each example, over all its features: the <c>nBestSize</c> highest start logits and end logits (numpy's
/// <c>np.argsort(x)[-1:-n-1:-1]</c>), every start/end pair whose tokens are both in the context (offset not null),
/// with <c>end &gt;= start</c> and at most <c>maxAnswerLength</c> tokens, scored <c>start_logit + end_logit</c> in
/// float32; with <c>versionWithNegative</c> also the null answer of the feature with the lowest CLS score
/// (<c>min_null_prediction</c>). The best <c>nBestSize</c> candidates (a stable sort, as Python's <c>sorted</c>), the
/// null answer added back if it fell out, an <c>"empty"</c> answer when nothing else is left, and a softmax of the
/// scores. run_qa.py's features have no <c>token_is_max_context</c>, so that filter does not exist here.
/// </para>
/// <para>
/// Ties in the logits: numpy's default argsort (introsort, or a SIMD sort on some CPUs) does not define the order of
/// equal values in arrays longer than 16. Here equal logits are ordered as the reverse of a stable ascending sort
/// (the higher token index first), which is numpy's order whenever its sort is stable (<c>kind="stable"</c>, or the
/// scalar introsort on 16 values or fewer, which is an insertion sort); NaN counts as the largest value, as numpy
/// sorts it last. Only which candidates enter the n-best, and their order among equal scores, can depend on it.
/// Candidates with equal scores keep their order (Python's <c>sorted</c> is stable); NaN scores sort last.
/// </para>
/// <para>
/// Numbers follow numpy 1.x on float32 logits: scores, the null score and the v2 score difference are float32
/// sums/differences; the softmax is computed in float32 (<c>exp</c> rounded to float32 from a float64 <c>exp</c>, which
/// can differ from numpy's vectorised float32 <c>exp</c> in the last bit; numpy's pairwise summation order), or in
/// float64 when the list holds the <c>"empty"</c> fallback (its Python float scores make the numpy array float64). The
/// threshold test <c>score_diff &gt; threshold</c> compares in float64 (numpy 1.x promotes the float32 to the Python
/// float's float64).
/// </para>
/// </remarks>
public static class QuestionAnsweringPostprocessing
{
    /// <summary>
    /// Post-processes the logits of <paramref name="features"/> (from
    /// <see cref="QuestionAnsweringPreprocessing.PrepareValidationFeatures"/>) into one answer per example.
    /// </summary>
    /// <param name="examples">The examples the features were built from; results follow their order.</param>
    /// <param name="features">The validation features; each must have an <see cref="QaFeature.OffsetMapping"/> and the id of one of <paramref name="examples"/>.</param>
    /// <param name="startLogits">Start logits, one row per feature (rows may be longer than the feature, e.g. padded).</param>
    /// <param name="endLogits">End logits, one row per feature.</param>
    /// <param name="versionWithNegative">SQuAD v2: an example may have no answer (<c>version_2_with_negative</c>).</param>
    /// <param name="nBestSize">How many start and end indices, and how many final candidates, to keep (<c>n_best_size</c>).</param>
    /// <param name="maxAnswerLength">Longest answer, in tokens (<c>max_answer_length</c>).</param>
    /// <param name="nullScoreDiffThreshold">v2 only: answer <c>""</c> when the null score exceeds the best span's score by more than this (<c>null_score_diff_threshold</c>).</param>
    /// <exception cref="ArgumentException">Mismatched counts, a feature without offsets, an unknown example id, an empty logit row, or (v2) an example without features.</exception>
    /// <exception cref="InvalidOperationException">v2: every candidate has an empty text (utils_qa.py fails there with an IndexError).</exception>
    public static QaPostprocessResult PostprocessPredictions(IReadOnlyList<QaExample> examples, IReadOnlyList<QaFeature> features, float[][] startLogits, float[][] endLogits,
        bool versionWithNegative = false, int nBestSize = 20, int maxAnswerLength = 30, double nullScoreDiffThreshold = 0.0)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(startLogits);
        ArgumentNullException.ThrowIfNull(endLogits);
        ArgumentOutOfRangeException.ThrowIfNegative(nBestSize);
        if (startLogits.Length != features.Count || endLogits.Length != features.Count)
            throw new ArgumentException($"Got {startLogits.Length} start and {endLogits.Length} end logit rows for {features.Count} features.");

        // Map each example to its features (utils_qa: example id -> index, the last example wins on duplicate ids).
        var idToIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < examples.Count; i++) idToIndex[examples[i].Id] = i;
        var featuresPerExample = new List<int>?[examples.Count];
        for (int i = 0; i < features.Count; i++)
        {
            var f = features[i] ?? throw new ArgumentException($"feature {i} is null", nameof(features));
            if (!idToIndex.TryGetValue(f.ExampleId, out int ei))
                throw new ArgumentException($"feature {i} belongs to example '{f.ExampleId}', which is not among the examples", nameof(features));
            (featuresPerExample[ei] ??= []).Add(i);
        }

        var allPredictions = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        var allNBest = new OrderedDictionary<string, IReadOnlyList<QaPrediction>>(StringComparer.Ordinal);
        var scoresDiff = versionWithNegative ? new OrderedDictionary<string, double>(StringComparer.Ordinal) : null;

        for (int exampleIndex = 0; exampleIndex < examples.Count; exampleIndex++)
        {
            var example = examples[exampleIndex];
            Candidate? minNull = null;
            var prelim = new List<Candidate>();
            foreach (int fi in (IEnumerable<int>?)featuresPerExample[exampleIndex] ?? [])
            {
                float[] sl = startLogits[fi] ?? throw new ArgumentException($"start logits of feature {fi} are null", nameof(startLogits));
                float[] el = endLogits[fi] ?? throw new ArgumentException($"end logits of feature {fi} are null", nameof(endLogits));
                if (sl.Length == 0 || el.Length == 0) throw new ArgumentException($"feature {fi} has an empty logit row");
                var offsets = features[fi].OffsetMapping
                    ?? throw new ArgumentException($"feature {fi} has no offset mapping (use PrepareValidationFeatures)", nameof(features));

                // The null answer: the feature with the lowest CLS score.
                float featureNull = sl[0] + el[0];
                if (minNull is null || minNull.Score > featureNull) minNull = new Candidate((0, 0), featureNull, sl[0], el[0]);

                int[] startIndexes = TopIndices(sl, nBestSize);
                int[] endIndexes = TopIndices(el, nBestSize);
                foreach (int s in startIndexes)
                {
                    foreach (int e in endIndexes)
                    {
                        // Out of the feature, or not in the context.
                        if (s >= offsets.Length || e >= offsets.Length || offsets[s] is null || offsets[e] is null) continue;
                        // Negative length or longer than max_answer_length.
                        if (e < s || e - s + 1 > maxAnswerLength) continue;
                        float score = sl[s] + el[e];
                        prelim.Add(new Candidate((offsets[s]!.Value.Start, offsets[e]!.Value.End), score, sl[s], el[e]));
                    }
                }
            }
            float nullScore = 0;
            if (versionWithNegative)
            {
                if (minNull is null) throw new ArgumentException($"example '{example.Id}' has no features (version 2 needs a null score for every example)", nameof(features));
                prelim.Add(minNull);
                nullScore = minNull.Score;
            }

            // The best n_best_size (Python's sorted(reverse=True) is stable).
            var predictions = prelim.OrderByDescending(p => p.Score).Take(nBestSize).ToList();
            if (versionWithNegative && !predictions.Any(p => p.Offsets == (0, 0))) predictions.Add(minNull!);

            string context = example.Context;
            var texts = predictions.Select(p => PySlice(context, p.Offsets.Start, p.Offsets.End)).ToList();
            bool fallback = predictions.Count == 0 || (predictions.Count == 1 && texts[0].Length == 0);

            var nbest = new List<QaPrediction>(predictions.Count + 1);
            if (fallback)
            {
                // float64 array: the fallback's score is a Python float.
                var scores = new double[predictions.Count + 1];
                for (int i = 0; i < predictions.Count; i++) scores[i + 1] = predictions[i].Score;
                var probs = Softmax<double>(scores);
                nbest.Add(new QaPrediction("empty", probs[0], 0.0, 0.0));
                for (int i = 0; i < predictions.Count; i++)
                    nbest.Add(new QaPrediction(texts[i], probs[i + 1], predictions[i].StartLogit, predictions[i].EndLogit) { Offsets = predictions[i].Offsets });
            }
            else
            {
                var probs = Softmax<float>([.. predictions.Select(p => p.Score)]);
                for (int i = 0; i < predictions.Count; i++)
                    nbest.Add(new QaPrediction(texts[i], probs[i], predictions[i].StartLogit, predictions[i].EndLogit) { Offsets = predictions[i].Offsets });
            }

            if (!versionWithNegative)
            {
                allPredictions[example.Id] = nbest[0].Text;
            }
            else
            {
                int i = nbest.FindIndex(p => p.Text.Length > 0);
                if (i < 0) throw new InvalidOperationException($"example '{example.Id}': every candidate answer has an empty text");
                var best = nbest[i];
                // float32 arithmetic (the fallback's logits are 0, which changes nothing).
                float scoreDiff = nullScore - (float)best.StartLogit;
                scoreDiff -= (float)best.EndLogit;
                scoresDiff![example.Id] = scoreDiff;
                allPredictions[example.Id] = scoreDiff > nullScoreDiffThreshold ? "" : best.Text;
            }
            allNBest[example.Id] = nbest;
        }
        return new QaPostprocessResult(allPredictions, allNBest, scoresDiff);
    }

    private sealed record Candidate((int Start, int End) Offsets, float Score, float StartLogit, float EndLogit);

    /// <summary>Python's <c>s[start:end]</c> for non-negative bounds.</summary>
    private static string PySlice(string s, int start, int end)
    {
        start = Math.Clamp(start, 0, s.Length);
        end = Math.Clamp(end, 0, s.Length);
        return end <= start ? "" : s[start..end];
    }

    /// <summary>
    /// <c>np.argsort(x)[-1:-n-1:-1]</c>: the indices of the <paramref name="n"/> largest values, largest first; equal
    /// values with the higher index first (a stable ascending sort, reversed); NaN largest.
    /// </summary>
    internal static int[] TopIndices(float[] x, int n)
    {
        var idx = new int[x.Length];
        for (int i = 0; i < idx.Length; i++) idx[i] = i;
        Array.Sort(idx, (a, b) =>
        {
            int c = CompareNumpy(x[b], x[a]);
            return c != 0 ? c : b.CompareTo(a);
        });
        return n >= idx.Length ? idx : idx[..n];
    }

    private static int CompareNumpy(float a, float b)
    {
        bool na = float.IsNaN(a), nb = float.IsNaN(b);
        if (na || nb) return na == nb ? 0 : na ? 1 : -1;
        return a < b ? -1 : a > b ? 1 : 0;
    }

    /// <summary>
    /// <c>exp = np.exp(scores - np.max(scores)); exp / exp.sum()</c> in the array's precision: the maximum (NaN if any),
    /// the differences and quotients in <typeparamref name="T"/>, <c>exp</c> rounded from float64, the sum as numpy's
    /// <c>add.reduce</c> (the identity 0 plus a pairwise sum).
    /// </summary>
    internal static T[] Softmax<T>(T[] scores) where T : IFloatingPointIeee754<T>
    {
        T max = scores[0];
        foreach (var s in scores) if (T.IsNaN(s) || s > max) { max = s; if (T.IsNaN(s)) break; }
        var exp = new T[scores.Length];
        for (int i = 0; i < exp.Length; i++) exp[i] = T.CreateTruncating(Math.Exp(double.CreateTruncating(scores[i] - max)));
        T sum = T.Zero + PairwiseSum<T>(exp);
        var probs = new T[exp.Length];
        for (int i = 0; i < probs.Length; i++) probs[i] = exp[i] / sum;
        return probs;
    }

    /// <summary>numpy's <c>pairwise_sum</c> (loops_utils.h): sequential below 8 values, 8 accumulators up to 128, halves above.</summary>
    internal static T PairwiseSum<T>(ReadOnlySpan<T> a) where T : IFloatingPointIeee754<T>
    {
        int n = a.Length;
        if (n < 8)
        {
            T res = T.NegativeZero;
            for (int i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= 128)
        {
            Span<T> r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
            int i = 8;
            for (; i < n - n % 8; i += 8)
                for (int j = 0; j < 8; j++) r[j] += a[i + j];
            T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) res += a[i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }
}
