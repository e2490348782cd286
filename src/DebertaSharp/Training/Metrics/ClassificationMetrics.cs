namespace DebertaSharp.Training;

/// <summary>
/// Classification and regression metrics of the GLUE fine-tuning scripts, with the semantics of the Hugging Face
/// <c>evaluate</c> metrics <c>accuracy</c>, <c>f1</c>, <c>matthews_correlation</c>, <c>pearsonr</c>,
/// <c>spearmanr</c>, <c>mse</c> and <c>glue</c> (which wrap scikit-learn and SciPy).
/// </summary>
/// <remarks>
/// Every method takes the model's <c>predictions</c> first and the gold <c>references</c> second, like
/// <c>evaluate</c>'s <c>compute(predictions=..., references=...)</c>. Both must be non-empty and of equal length;
/// otherwise an <see cref="ArgumentException"/> names the argument at fault.
/// </remarks>
public static class ClassificationMetrics
{
    /// <summary>The fraction of predictions equal to their reference (scikit-learn's <c>accuracy_score</c>).</summary>
    /// <param name="predictions">Predicted labels.</param>
    /// <param name="references">Gold labels, one per prediction.</param>
    /// <returns>A value in [0, 1].</returns>
    public static double Accuracy(int[] predictions, int[] references)
    {
        CheckPair(predictions, references);
        int correct = 0;
        for (int i = 0; i < predictions.Length; i++)
            if (predictions[i] == references[i]) correct++;
        return (double)correct / predictions.Length;
    }

    /// <summary>
    /// The F1 score as scikit-learn's <c>f1_score(y_true=references, y_pred=predictions, average=..., pos_label=...)</c>
    /// with <c>zero_division="warn"</c> (an undefined score counts as 0).
    /// </summary>
    /// <param name="predictions">Predicted labels.</param>
    /// <param name="references">Gold labels, one per prediction.</param>
    /// <param name="average">
    /// <c>"binary"</c>: the score of <paramref name="posLabel"/> only (at most two distinct labels in both arrays);
    /// <c>"micro"</c>: from the total true positives, false positives and false negatives;
    /// <c>"macro"</c>: the unweighted mean of the per-label scores;
    /// <c>"weighted"</c>: their mean weighted by each label's count in <paramref name="references"/>.
    /// The labels are the sorted union of both arrays.
    /// </param>
    /// <param name="posLabel">The positive class for <c>"binary"</c>; ignored otherwise.</param>
    /// <returns>A value in [0, 1].</returns>
    /// <exception cref="ArgumentException">
    /// An unknown <paramref name="average"/>; <c>"binary"</c> with more than two labels; or a
    /// <paramref name="posLabel"/> that is absent while two labels are present.
    /// </exception>
    public static double F1(int[] predictions, int[] references, string average = "binary", int posLabel = 1)
    {
        // Mirrors sklearn.metrics.f1_score -> precision_recall_fscore_support and _check_set_wise_labels.
        ArgumentNullException.ThrowIfNull(average);
        if (average is not ("binary" or "micro" or "macro" or "weighted"))
            throw new ArgumentException(
                $"average has to be one of 'binary', 'micro', 'macro', 'weighted'; got '{average}'.", nameof(average));
        CheckPair(predictions, references);

        var labels = predictions.Concat(references).Distinct().Order().ToArray();
        if (average == "binary")
        {
            if (labels.Length > 2)
                throw new ArgumentException(
                    "Target is multiclass but average='binary'. Please choose another average setting, one of 'micro', 'macro', 'weighted'.",
                    nameof(average));
            if (Array.IndexOf(labels, posLabel) < 0 && labels.Length >= 2)
                throw new ArgumentException(
                    $"pos_label={posLabel} is not a valid label. It should be one of [{string.Join(", ", labels)}].",
                    nameof(posLabel));
            labels = [posLabel];
        }

        var index = new Dictionary<int, int>(labels.Length);
        for (int k = 0; k < labels.Length; k++) index[labels[k]] = k;
        var tp = new double[labels.Length];
        var predSum = new double[labels.Length];
        var trueSum = new double[labels.Length];
        for (int i = 0; i < predictions.Length; i++)
        {
            bool hasPred = index.TryGetValue(predictions[i], out int p);
            bool hasTrue = index.TryGetValue(references[i], out int t);
            if (hasPred) predSum[p]++;
            if (hasTrue) trueSum[t]++;
            if (hasPred && hasTrue && p == t) tp[p]++;
        }

        if (average == "micro")
        {
            tp = [tp.Sum()];
            predSum = [predSum.Sum()];
            trueSum = [trueSum.Sum()];
        }

        // F = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp) = 2 tp / (true + pred); 0 when undefined.
        var f = new double[tp.Length];
        for (int k = 0; k < f.Length; k++)
        {
            double denominator = trueSum[k] + predSum[k];
            f[k] = denominator == 0 ? 0.0 : 2 * tp[k] / denominator;
        }

        if (average == "weighted")
        {
            double weightTotal = trueSum.Sum();
            if (weightTotal == 0) return 0.0;
            double weighted = 0;
            for (int k = 0; k < f.Length; k++) weighted += f[k] * trueSum[k];
            return weighted / weightTotal;
        }
        return f.Sum() / f.Length;
    }

    /// <summary>
    /// The Matthews correlation coefficient of scikit-learn's <c>matthews_corrcoef</c> (its multiclass form over the
    /// confusion matrix, which reduces to the binary formula for two labels).
    /// </summary>
    /// <param name="predictions">Predicted labels.</param>
    /// <param name="references">Gold labels, one per prediction.</param>
    /// <returns>A value in [-1, 1]; 0 when the denominator is 0 (for example a constant prediction).</returns>
    public static double MatthewsCorrelation(int[] predictions, int[] references)
    {
        CheckPair(predictions, references);
        var trueSum = new Dictionary<int, double>();
        var predSum = new Dictionary<int, double>();
        double correct = 0;
        for (int i = 0; i < predictions.Length; i++)
        {
            trueSum[references[i]] = trueSum.GetValueOrDefault(references[i]) + 1;
            predSum[predictions[i]] = predSum.GetValueOrDefault(predictions[i]) + 1;
            if (predictions[i] == references[i]) correct++;
        }

        double n = predictions.Length;
        double truePred = 0, predPred = 0, trueTrue = 0;
        foreach (int label in trueSum.Keys.Union(predSum.Keys).Order())
        {
            double t = trueSum.GetValueOrDefault(label), p = predSum.GetValueOrDefault(label);
            truePred += t * p;
            predPred += p * p;
            trueTrue += t * t;
        }
        double covTruePred = correct * n - truePred;
        double covPredPred = n * n - predPred;
        double covTrueTrue = n * n - trueTrue;
        if (covPredPred * covTrueTrue == 0) return 0.0;
        return covTruePred / Math.Sqrt(covTrueTrue * covPredPred);
    }

    /// <summary>
    /// The Pearson correlation coefficient of SciPy's <c>pearsonr</c> (the statistic; no p-value).
    /// </summary>
    /// <param name="predictions">Predicted values.</param>
    /// <param name="references">Gold values, one per prediction.</param>
    /// <returns>
    /// A value in [-1, 1]; <see cref="double.NaN"/> when either input is constant (SciPy warns and returns nan) or
    /// contains NaN.
    /// </returns>
    /// <exception cref="ArgumentException">Fewer than two values, or arrays of different lengths.</exception>
    public static double Pearson(double[] predictions, double[] references)
    {
        CheckPair(predictions, references);
        CheckAtLeastTwo(predictions);
        if (predictions.Any(double.IsNaN) || references.Any(double.IsNaN)) return double.NaN;
        return PearsonCore(references, predictions);
    }

    /// <summary>
    /// The Spearman rank correlation of SciPy's <c>spearmanr</c>: the Pearson correlation of the ranks, tied values
    /// sharing the average of their ranks (<c>rankdata(method="average")</c>).
    /// </summary>
    /// <param name="predictions">Predicted values.</param>
    /// <param name="references">Gold values, one per prediction.</param>
    /// <returns>
    /// A value in [-1, 1]; <see cref="double.NaN"/> when either input is constant or contains NaN (SciPy's
    /// <c>nan_policy="propagate"</c>).
    /// </returns>
    /// <exception cref="ArgumentException">Fewer than two values, or arrays of different lengths.</exception>
    public static double Spearman(double[] predictions, double[] references)
    {
        // Mirrors scipy.stats.spearmanr for two 1-D inputs: rank each, then np.corrcoef of the ranks.
        CheckPair(predictions, references);
        CheckAtLeastTwo(predictions);
        if (predictions.Any(double.IsNaN) || references.Any(double.IsNaN)) return double.NaN;
        if (IsConstant(predictions) || IsConstant(references)) return double.NaN;

        double[] x = AverageRanks(references), y = AverageRanks(predictions);
        int n = x.Length;
        double meanX = x.Sum() / n, meanY = y.Sum() / n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            double dx = x[i] - meanX, dy = y[i] - meanY;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        // np.corrcoef: cov / stddev_x / stddev_y with the (n - 1)-normalised covariance, clipped to [-1, 1].
        double r = sxy / (n - 1) / Math.Sqrt(sxx / (n - 1)) / Math.Sqrt(syy / (n - 1));
        return Math.Clamp(r, -1.0, 1.0);
    }

    /// <summary>The mean squared error of scikit-learn's <c>mean_squared_error</c> (evaluate's <c>mse</c>).</summary>
    /// <param name="predictions">Predicted values.</param>
    /// <param name="references">Gold values, one per prediction.</param>
    /// <returns>The mean of the squared differences.</returns>
    public static double MeanSquaredError(double[] predictions, double[] references)
    {
        CheckPair(predictions, references);
        double sum = 0;
        for (int i = 0; i < predictions.Length; i++)
        {
            double d = references[i] - predictions[i];
            sum += d * d;
        }
        return sum / predictions.Length;
    }

    /// <summary>
    /// The metrics of evaluate's <c>glue</c> for a classification task: <c>cola</c> gives
    /// <c>matthews_correlation</c>; <c>mrpc</c> and <c>qqp</c> give <c>accuracy</c> and binary <c>f1</c>;
    /// <c>sst2</c>, <c>mnli</c>, <c>mnli_matched</c>, <c>mnli_mismatched</c>, <c>qnli</c>, <c>rte</c>, <c>wnli</c>
    /// and <c>hans</c> give <c>accuracy</c>.
    /// </summary>
    /// <param name="taskName">The GLUE configuration name (lower case, as evaluate spells it).</param>
    /// <param name="predictions">Predicted labels.</param>
    /// <param name="references">Gold labels, one per prediction.</param>
    /// <returns>The metric names and values, in evaluate's order.</returns>
    /// <exception cref="ArgumentException">An unknown task, or <c>stsb</c> (use the overload for real values).</exception>
    public static IReadOnlyDictionary<string, double> Glue(string taskName, int[] predictions, int[] references)
    {
        ArgumentNullException.ThrowIfNull(taskName);
        return taskName switch
        {
            "cola" => new Dictionary<string, double> { ["matthews_correlation"] = MatthewsCorrelation(predictions, references) },
            "mrpc" or "qqp" => new Dictionary<string, double>
            {
                ["accuracy"] = Accuracy(predictions, references),
                ["f1"] = F1(predictions, references),
            },
            "sst2" or "mnli" or "mnli_mismatched" or "mnli_matched" or "qnli" or "rte" or "wnli" or "hans" =>
                new Dictionary<string, double> { ["accuracy"] = Accuracy(predictions, references) },
            "stsb" => throw new ArgumentException(
                "stsb is a regression task: pass real-valued predictions and references.", nameof(taskName)),
            _ => throw UnknownGlueTask(taskName),
        };
    }

    /// <summary>
    /// The metrics of evaluate's <c>glue</c> for the regression task <c>stsb</c>: <c>pearson</c> and
    /// <c>spearmanr</c>.
    /// </summary>
    /// <param name="taskName">Must be <c>stsb</c>.</param>
    /// <param name="predictions">Predicted similarity scores.</param>
    /// <param name="references">Gold similarity scores, one per prediction.</param>
    /// <returns>The metric names and values, in evaluate's order.</returns>
    /// <exception cref="ArgumentException">A task other than <c>stsb</c>.</exception>
    public static IReadOnlyDictionary<string, double> Glue(string taskName, double[] predictions, double[] references)
    {
        ArgumentNullException.ThrowIfNull(taskName);
        if (taskName != "stsb")
            throw GlueTasks.Contains(taskName)
                ? new ArgumentException($"{taskName} is a classification task: pass integer labels.", nameof(taskName))
                : UnknownGlueTask(taskName);
        return new Dictionary<string, double>
        {
            ["pearson"] = Pearson(predictions, references),
            ["spearmanr"] = Spearman(predictions, references),
        };
    }

    private static readonly string[] GlueTasks =
        ["sst2", "mnli", "mnli_mismatched", "mnli_matched", "cola", "stsb", "mrpc", "qqp", "qnli", "rte", "wnli", "hans"];

    private static ArgumentException UnknownGlueTask(string taskName) => new(
        $"Unknown GLUE task '{taskName}'; expected one of {string.Join(", ", GlueTasks)}.", nameof(taskName));

    // Mirrors scipy.stats.pearsonr: constant input -> nan; n == 2 -> the product of the signs; otherwise the dot
    // product of the centred, max-scaled, normalised vectors, clipped to [-1, 1].
    private static double PearsonCore(double[] x, double[] y)
    {
        if (IsConstant(x) || IsConstant(y)) return double.NaN;
        int n = x.Length;
        if (n == 2) return Math.Sign(x[1] - x[0]) * (double)Math.Sign(y[1] - y[0]);

        double meanX = x.Sum() / n, meanY = y.Sum() / n;
        var xm = new double[n];
        var ym = new double[n];
        double maxX = 0, maxY = 0;
        for (int i = 0; i < n; i++)
        {
            xm[i] = x[i] - meanX;
            ym[i] = y[i] - meanY;
            maxX = Math.Max(maxX, Math.Abs(xm[i]));
            maxY = Math.Max(maxY, Math.Abs(ym[i]));
        }
        double normX = 0, normY = 0;
        for (int i = 0; i < n; i++)
        {
            xm[i] /= maxX;
            ym[i] /= maxY;
            normX += xm[i] * xm[i];
            normY += ym[i] * ym[i];
        }
        normX = Math.Sqrt(normX);
        normY = Math.Sqrt(normY);
        double r = 0;
        for (int i = 0; i < n; i++) r += xm[i] / normX * (ym[i] / normY);
        return Math.Clamp(r, -1.0, 1.0);
    }

    // scipy.stats.rankdata(method="average"): 1-based ranks, ties share the mean of the ranks they span.
    internal static double[] AverageRanks(double[] values)
    {
        int n = values.Length;
        int[] order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
        var ranks = new double[n];
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && values[order[end + 1]] == values[order[start]]) end++;
            double rank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }

    private static bool IsConstant(double[] values)
    {
        // SciPy's (x == x[0]).all(): NaN is never equal, so an input with NaN is not "constant" (it propagates).
        for (int i = 1; i < values.Length; i++)
            if (!(values[i] == values[0])) return false;
        return true;
    }

    private static void CheckAtLeastTwo(double[] predictions)
    {
        if (predictions.Length < 2)
            throw new ArgumentException("At least two values are needed for a correlation.", nameof(predictions));
    }

    private static void CheckPair<T>(T[] predictions, T[] references)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        if (predictions.Length == 0) throw new ArgumentException("No predictions were given.", nameof(predictions));
        if (references.Length == 0) throw new ArgumentException("No references were given.", nameof(references));
        if (predictions.Length != references.Length)
            throw new ArgumentException(
                $"{predictions.Length} predictions but {references.Length} references; they must pair up one to one.",
                nameof(predictions));
    }
}
