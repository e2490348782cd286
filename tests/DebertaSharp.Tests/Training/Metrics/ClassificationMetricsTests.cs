using DebertaSharp.Training;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// <see cref="ClassificationMetrics"/> against the worked examples published in the docstrings of Hugging Face
/// evaluate's metrics and of the scikit-learn / SciPy functions they wrap.
/// </summary>
public class ClassificationMetricsTests
{
    // evaluate metrics/accuracy/accuracy.py, "Example 1-A simple example":
    // compute(references=[0, 1, 2, 0, 1, 2], predictions=[0, 1, 1, 2, 1, 0]) -> {'accuracy': 0.5}
    [Fact]
    public void Accuracy_EvaluateDocstringExample()
    {
        Assert.Equal(0.5, ClassificationMetrics.Accuracy([0, 1, 1, 2, 1, 0], [0, 1, 2, 0, 1, 2]));
    }

    // scikit-learn accuracy_score docstring: y_pred = [0, 2, 1, 3], y_true = [0, 1, 2, 3] -> 0.5
    [Fact]
    public void Accuracy_SklearnDocstringExample()
    {
        Assert.Equal(0.5, ClassificationMetrics.Accuracy([0, 2, 1, 3], [0, 1, 2, 3]));
    }

    // evaluate metrics/f1/f1.py, "Example 1-A simple binary example":
    // compute(references=[0, 1, 0, 1, 0], predictions=[0, 0, 1, 1, 0]) -> {'f1': 0.5}
    [Fact]
    public void F1_Binary_EvaluateExample1()
    {
        Assert.Equal(0.5, ClassificationMetrics.F1([0, 0, 1, 1, 0], [0, 1, 0, 1, 0]), 12);
    }

    // evaluate metrics/f1/f1.py, "Example 2": the same with pos_label=0 -> round(f1, 2) == 0.67
    [Fact]
    public void F1_Binary_PosLabelZero_EvaluateExample2()
    {
        Assert.Equal(0.67, Math.Round(ClassificationMetrics.F1([0, 0, 1, 1, 0], [0, 1, 0, 1, 0], posLabel: 0), 2));
    }

    // scikit-learn f1_score docstring: y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]
    //   average='macro' -> 0.26..., 'micro' -> 0.33..., 'weighted' -> 0.26..., None -> array([0.8, 0., 0.])
    // and evaluate metrics/f1/f1.py "Example 4" (rounded to 2 places: 0.27, 0.33, 0.27).
    [Theory]
    [InlineData("macro", 0.26, 0.27)]
    [InlineData("micro", 0.33, 0.33)]
    [InlineData("weighted", 0.26, 0.27)]
    public void F1_Multiclass_SklearnAndEvaluateExamples(string average, double sklearnPrefix, double evaluateRounded)
    {
        int[] yTrue = [0, 1, 2, 0, 1, 2], yPred = [0, 2, 1, 0, 0, 1];
        double f1 = ClassificationMetrics.F1(yPred, yTrue, average);
        Assert.InRange(f1, sklearnPrefix, sklearnPrefix + 0.01); // the doctest's "0.26..." / "0.33..."
        Assert.Equal(evaluateRounded, Math.Round(f1, 2));
    }

    // The per-class scores of that docstring are [0.8, 0, 0] with supports [2, 2, 2]: macro and weighted are their
    // mean (0.2666...), micro is the accuracy 2/6 (0.3333...), the values the task brief quotes.
    [Fact]
    public void F1_Multiclass_MatchesThePublishedPerClassScores()
    {
        int[] yTrue = [0, 1, 2, 0, 1, 2], yPred = [0, 2, 1, 0, 0, 1];
        Assert.Equal(0.8 / 3, ClassificationMetrics.F1(yPred, yTrue, "macro"), 12);
        Assert.Equal(0.8 / 3, ClassificationMetrics.F1(yPred, yTrue, "weighted"), 12);
        Assert.Equal(1.0 / 3, ClassificationMetrics.F1(yPred, yTrue, "micro"), 12);
    }

    // scikit-learn f1_score docstring (zero division): y_true = y_pred = [0, 0, 0, 0, 0, 0] -> f1_score(...) 0.0...
    // (pos_label 1 never occurs; the default zero_division "warn" acts as 0).
    [Fact]
    public void F1_Binary_NoPositives_IsZero()
    {
        Assert.Equal(0.0, ClassificationMetrics.F1([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]));
    }

    // scikit-learn _check_set_wise_labels: "Target is multiclass but average='binary'" and
    // "pos_label=... is not a valid label" are ValueErrors.
    [Fact]
    public void F1_InvalidBinaryUse_Throws()
    {
        var multiclass = Assert.Throws<ArgumentException>(() => ClassificationMetrics.F1([0, 1, 2], [0, 1, 2]));
        Assert.Equal("average", multiclass.ParamName);
        var badPos = Assert.Throws<ArgumentException>(() => ClassificationMetrics.F1([0, 2], [2, 0]));
        Assert.Equal("posLabel", badPos.ParamName);
        var badAverage = Assert.Throws<ArgumentException>(() => ClassificationMetrics.F1([0, 1], [0, 1], "samples"));
        Assert.Equal("average", badAverage.ParamName);
    }

    // scikit-learn matthews_corrcoef docstring: y_true = [+1, +1, +1, -1], y_pred = [+1, -1, +1, +1] -> -0.33...
    [Fact]
    public void MatthewsCorrelation_SklearnDocstringExample()
    {
        double mcc = ClassificationMetrics.MatthewsCorrelation([+1, -1, +1, +1], [+1, +1, +1, -1]);
        Assert.InRange(mcc, -0.34, -0.33);
        Assert.Equal(-1.0 / 3, mcc, 12);
    }

    // evaluate metrics/matthews_correlation, "Example 1": references=[1, 3, 2, 0, 3, 2],
    // predictions=[1, 2, 2, 0, 3, 3] -> round(..., 2) == 0.54 (the multiclass formula).
    [Fact]
    public void MatthewsCorrelation_Multiclass_EvaluateExample1()
    {
        Assert.Equal(0.54, Math.Round(ClassificationMetrics.MatthewsCorrelation([1, 2, 2, 0, 3, 3], [1, 3, 2, 0, 3, 2]), 2));
    }

    // scikit-learn matthews_corrcoef: "if cov_ypyp * cov_ytyt == 0: return 0.0" (a constant prediction).
    [Fact]
    public void MatthewsCorrelation_ZeroDenominator_IsZero()
    {
        Assert.Equal(0.0, ClassificationMetrics.MatthewsCorrelation([1, 1, 1, 1], [0, 1, 0, 1]));
    }

    // SciPy pearsonr docstring: a = [0, 0, 0, 1, 1, 1, 1], b = np.arange(7) -> 0.8660254037844386 and
    // pearsonr([1, 2, 3, 4, 5], [10, 9, 2.5, 6, 4]) -> -0.7426106572325057.
    [Fact]
    public void Pearson_ScipyDocstringExamples()
    {
        Assert.Equal(0.8660254037844386, ClassificationMetrics.Pearson([0, 1, 2, 3, 4, 5, 6], [0, 0, 0, 1, 1, 1, 1]), 12);
        Assert.Equal(-0.7426106572325057, ClassificationMetrics.Pearson([10, 9, 2.5, 6, 4], [1, 2, 3, 4, 5]), 12);
    }

    // evaluate metrics/pearsonr, "Example 1": predictions=[10, 9, 2.5, 6, 4], references=[1, 2, 3, 4, 5] -> -0.74
    [Fact]
    public void Pearson_EvaluateExample()
    {
        Assert.Equal(-0.74, Math.Round(ClassificationMetrics.Pearson([10, 9, 2.5, 6, 4], [1, 2, 3, 4, 5]), 2));
    }

    // SciPy pearsonr documentation (Warns): "Raised if an input is a constant array. The correlation coefficient is
    // not defined in this case, so np.nan is returned."
    [Fact]
    public void Pearson_ConstantInput_IsNaN()
    {
        Assert.True(double.IsNaN(ClassificationMetrics.Pearson([2, 2, 2], [1, 2, 3])));
        Assert.True(double.IsNaN(ClassificationMetrics.Spearman([1, 2, 3], [5, 5, 5])));
    }

    // SciPy spearmanr docstring (ties in the second array): spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).statistic
    // -> 0.8207826816681233.
    [Fact]
    public void Spearman_WithTies_ScipyDocstringExample()
    {
        Assert.Equal(0.8207826816681233, ClassificationMetrics.Spearman([5, 6, 7, 8, 7], [1, 2, 3, 4, 5]), 12);
    }

    // evaluate metrics/spearmanr, "Example 1": references=[1, 2, 3, 4, 5], predictions=[10, 9, 2.5, 6, 4]
    // -> {'spearmanr': -0.7}
    [Fact]
    public void Spearman_EvaluateExample()
    {
        Assert.Equal(-0.7, ClassificationMetrics.Spearman([10, 9, 2.5, 6, 4], [1, 2, 3, 4, 5]), 12);
    }

    // SciPy rankdata docstring: rankdata([0, 2, 3, 2]) -> array([1., 2.5, 4., 2.5]) (method='average').
    [Fact]
    public void AverageRanks_ScipyRankdataExample()
    {
        Assert.Equal([1.0, 2.5, 4.0, 2.5], ClassificationMetrics.AverageRanks([0, 2, 3, 2]));
    }

    // evaluate metrics/mse: predictions=[2.5, 0.0, 2, 8], references=[3, -0.5, 2, 7] -> {'mse': 0.375}
    [Fact]
    public void MeanSquaredError_EvaluateExample()
    {
        Assert.Equal(0.375, ClassificationMetrics.MeanSquaredError([2.5, 0.0, 2, 8], [3, -0.5, 2, 7]), 12);
    }

    // evaluate metrics/glue docstring: sst2 [0, 1] vs [0, 1] -> {'accuracy': 1.0}; mrpc -> {'accuracy': 1.0,
    // 'f1': 1.0}; cola -> {'matthews_correlation': 1.0}; stsb [0., ..., 5.] vs itself -> pearson 1.0, spearmanr 1.0.
    [Fact]
    public void Glue_EvaluateDocstringExamples()
    {
        Assert.Equal(new Dictionary<string, double> { ["accuracy"] = 1.0 }, ClassificationMetrics.Glue("sst2", [0, 1], [0, 1]));
        Assert.Equal(new Dictionary<string, double> { ["accuracy"] = 1.0, ["f1"] = 1.0 }, ClassificationMetrics.Glue("mrpc", [0, 1], [0, 1]));
        Assert.Equal(new Dictionary<string, double> { ["matthews_correlation"] = 1.0 }, ClassificationMetrics.Glue("cola", [0, 1], [0, 1]));
        var stsb = ClassificationMetrics.Glue("stsb", [0.0, 1, 2, 3, 4, 5], [0.0, 1, 2, 3, 4, 5]);
        Assert.Equal(["pearson", "spearmanr"], stsb.Keys);
        Assert.Equal(1.0, Math.Round(stsb["pearson"], 2));
        Assert.Equal(1.0, Math.Round(stsb["spearmanr"], 2));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Glue("stsb", [0, 1], [0, 1]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Glue("sst2", [0.0, 1], [0.0, 1]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Glue("squad", [0, 1], [0, 1]));
    }

    [Fact]
    public void Arguments_EmptyOrOfDifferentLength_NameTheArgument()
    {
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([], [1])).ParamName);
        Assert.Equal("references", Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([1], [])).ParamName);
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => ClassificationMetrics.F1([1, 0], [1])).ParamName);
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => ClassificationMetrics.MatthewsCorrelation([1], [1, 0])).ParamName);
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => ClassificationMetrics.MeanSquaredError([1.0], [1.0, 2.0])).ParamName);
        // SciPy: "x and y must have length at least 2."
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => ClassificationMetrics.Pearson([1.0], [1.0])).ParamName);
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => ClassificationMetrics.Spearman([1.0], [1.0])).ParamName);
        Assert.Throws<ArgumentNullException>(() => ClassificationMetrics.Accuracy(null!, [1]));
    }
}
