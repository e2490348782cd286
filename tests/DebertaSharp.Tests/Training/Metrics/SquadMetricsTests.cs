using DebertaSharp.Training;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// <see cref="SquadMetrics"/> against the examples of Hugging Face evaluate's <c>squad</c> and <c>squad_v2</c>
/// metrics (docstrings and READMEs), plus edge cases read off the official v1.1 / v2.0 evaluation scripts and
/// Python's documented string semantics.
/// </summary>
public class SquadMetricsTests
{
    private static IReadOnlyDictionary<string, IReadOnlyList<string>> Refs(params (string Id, string[] Answers)[] items) =>
        items.ToDictionary(i => i.Id, i => (IReadOnlyList<string>)i.Answers);

    private static IReadOnlyDictionary<string, string> Preds(params (string Id, string Text)[] items) =>
        items.ToDictionary(i => i.Id, i => i.Text);

    private static IReadOnlyDictionary<string, double> Probs(params (string Id, double P)[] items) =>
        items.ToDictionary(i => i.Id, i => i.P);

    // The three questions of the "Partial match" examples in evaluate's squad and squad_v2 READMEs.
    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> PartialRefs = Refs(
        ("56e10a3be3433e1400422b22", ["1976"]),
        ("56d2051ce7d4791d0090260b", ["Beyoncé and Bruno Mars"]),
        ("5733b5344776f419006610e1", ["climate change"]));

    private static readonly IReadOnlyDictionary<string, string> PartialPreds = Preds(
        ("56e10a3be3433e1400422b22", "1976"),
        ("56d2051ce7d4791d0090260b", "Beyonce"),
        ("5733b5344776f419006610e1", "climate change"));

    // evaluate metrics/squad/squad.py docstring (and README "Maximal values"):
    // predictions [{'prediction_text': '1976', 'id': '56e10a3be3433e1400422b22'}], references answers ['1976']
    // -> {'exact_match': 100.0, 'f1': 100.0}
    [Fact]
    public void ComputeV1_EvaluateDocstringExample()
    {
        var result = SquadMetrics.ComputeV1(
            Preds(("56e10a3be3433e1400422b22", "1976")), Refs(("56e10a3be3433e1400422b22", ["1976"])));
        Assert.Equal(new Dictionary<string, double> { ["exact_match"] = 100.0, ["f1"] = 100.0 }, result);
    }

    // evaluate metrics/squad/README.md "Minimal values (no match)": '1999' vs ['1976'] -> {'exact_match': 0.0, 'f1': 0.0}
    [Fact]
    public void ComputeV1_NoMatch_EvaluateReadme()
    {
        var result = SquadMetrics.ComputeV1(
            Preds(("56e10a3be3433e1400422b22", "1999")), Refs(("56e10a3be3433e1400422b22", ["1976"])));
        Assert.Equal(0.0, result["exact_match"]);
        Assert.Equal(0.0, result["f1"]);
    }

    // evaluate metrics/squad/README.md "Partial match (2 out of 3 answers correct)":
    // -> {'exact_match': 66.66666666666667, 'f1': 66.66666666666667} ('Beyonce' shares no token with
    // 'Beyoncé and Bruno Mars').
    [Fact]
    public void ComputeV1_PartialMatch_EvaluateReadme()
    {
        var result = SquadMetrics.ComputeV1(PartialPreds, PartialRefs);
        Assert.Equal(66.66666666666667, result["exact_match"], 12);
        Assert.Equal(66.66666666666667, result["f1"], 12);
    }

    // Official v1.1 compute_score: "Unanswered question ... will receive score 0." -- the question still counts in
    // the total; predictions for unknown ids are ignored.
    [Fact]
    public void ComputeV1_MissingPrediction_ScoresZeroButCounts()
    {
        var result = SquadMetrics.ComputeV1(Preds(("a", "x"), ("zzz", "y")), Refs(("a", ["x"]), ("b", ["y"])));
        Assert.Equal(50.0, result["exact_match"], 12);
        Assert.Equal(50.0, result["f1"], 12);
    }

    // v1.1 metric_max_over_ground_truths takes the best gold answer; max() of no gold answers raises in Python.
    [Fact]
    public void ComputeV1_BestOverGoldAnswers_AndNoGoldThrows()
    {
        var result = SquadMetrics.ComputeV1(Preds(("q", "Denver Broncos")), Refs(("q", ["Carolina Panthers", "the Denver Broncos"])));
        Assert.Equal(100.0, result["exact_match"]);
        Assert.Equal(100.0, result["f1"]);
        Assert.Equal("references", Assert.Throws<ArgumentException>(() => SquadMetrics.ComputeV1(Preds(("q", "x")), Refs(("q", [])))).ParamName);
        Assert.Equal("references", Assert.Throws<ArgumentException>(() => SquadMetrics.ComputeV1(Preds(("q", "x")), Refs())).ParamName);
    }

    // evaluate metrics/squad_v2/squad_v2.py docstring (and README "Maximal values"), keys in this order and no NoAns_*:
    // {'exact': 100.0, 'f1': 100.0, 'total': 1, 'HasAns_exact': 100.0, 'HasAns_f1': 100.0, 'HasAns_total': 1,
    //  'best_exact': 100.0, 'best_exact_thresh': 0.0, 'best_f1': 100.0, 'best_f1_thresh': 0.0}
    [Fact]
    public void ComputeV2_EvaluateDocstringExample()
    {
        const string id = "56e10a3be3433e1400422b22";
        var result = SquadMetrics.ComputeV2(Preds((id, "1976")), Probs((id, 0.0)), Refs((id, ["1976"])));
        Assert.Equal(
            [
                new("exact", 100.0), new("f1", 100.0), new("total", 1),
                new("HasAns_exact", 100.0), new("HasAns_f1", 100.0), new("HasAns_total", 1),
                new("best_exact", 100.0), new("best_exact_thresh", 0.0), new("best_f1", 100.0), new("best_f1_thresh", 0.0),
            ],
            result.ToList<KeyValuePair<string, double>>());
    }

    // evaluate metrics/squad_v2/README.md "Minimal values": '1999' vs ['1976'] ->
    // {'exact': 0.0, 'f1': 0.0, 'total': 1, 'HasAns_exact': 0.0, 'HasAns_f1': 0.0, 'HasAns_total': 1,
    //  'best_exact': 0.0, 'best_exact_thresh': 0.0, 'best_f1': 0.0, 'best_f1_thresh': 0.0}
    [Fact]
    public void ComputeV2_NoMatch_EvaluateReadme()
    {
        const string id = "56e10a3be3433e1400422b22";
        var result = SquadMetrics.ComputeV2(Preds((id, "1999")), Probs((id, 0.0)), Refs((id, ["1976"])));
        Assert.Equal(
            new Dictionary<string, double>
            {
                ["exact"] = 0.0, ["f1"] = 0.0, ["total"] = 1, ["HasAns_exact"] = 0.0, ["HasAns_f1"] = 0.0, ["HasAns_total"] = 1,
                ["best_exact"] = 0.0, ["best_exact_thresh"] = 0.0, ["best_f1"] = 0.0, ["best_f1_thresh"] = 0.0,
            },
            result);
    }

    // evaluate metrics/squad_v2/README.md "Partial match": -> exact, f1, HasAns_exact, HasAns_f1, best_exact and
    // best_f1 66.66666666666667, totals 3, thresholds 0.0.
    [Fact]
    public void ComputeV2_PartialMatch_EvaluateReadme()
    {
        var result = SquadMetrics.ComputeV2(PartialPreds, Probs(PartialPreds.Keys.Select(k => (k, 0.0)).ToArray()), PartialRefs);
        foreach (string key in new[] { "exact", "f1", "HasAns_exact", "HasAns_f1", "best_exact", "best_f1" })
            Assert.Equal(66.66666666666667, result[key], 12);
        Assert.Equal(3, result["total"]);
        Assert.Equal(3, result["HasAns_total"]);
        Assert.Equal(0.0, result["best_exact_thresh"]);
        Assert.Equal(0.0, result["best_f1_thresh"]);
        Assert.False(result.ContainsKey("NoAns_total"));
    }

    // Official v2.0 script, traced by hand (and confirmed with the script's own functions): an unanswerable question's only correct answer is "" (get_raw_scores),
    // compute_f1 gives 1 when both sides are empty; find_best_thresh starts from the NoAns count and walks the
    // questions by increasing no-answer probability (q1 at 0.1 adds 1 -> best 2 of 2 at threshold 0.1).
    [Fact]
    public void ComputeV2_Unanswerable_EmptyPredictionIsCorrect()
    {
        var result = SquadMetrics.ComputeV2(
            Preds(("q1", "1976"), ("q2", "")), Probs(("q1", 0.1), ("q2", 0.9)), Refs(("q1", ["1976"]), ("q2", [])));
        Assert.Equal(
            [
                "exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                "NoAns_exact", "NoAns_f1", "NoAns_total", "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh",
            ],
            result.Keys);
        Assert.Equal(100.0, result["exact"]);
        Assert.Equal(100.0, result["f1"]);
        Assert.Equal(2, result["total"]);
        Assert.Equal(100.0, result["NoAns_exact"]);
        Assert.Equal(100.0, result["NoAns_f1"]);
        Assert.Equal(1, result["NoAns_total"]);
        Assert.Equal(100.0, result["best_exact"]);
        Assert.Equal(0.1, result["best_exact_thresh"]);
        Assert.Equal(100.0, result["best_f1"]);
        Assert.Equal(0.1, result["best_f1_thresh"]);
    }

    // Official v2.0 apply_no_ans_threshold, traced by hand (and confirmed with the script's own functions): a question whose no-answer probability exceeds the
    // threshold scores float(not has_ans); the best-threshold search uses the raw scores (a non-empty answer to an
    // unanswerable question costs 1).
    [Fact]
    public void ComputeV2_NoAnswerThreshold()
    {
        var preds = Preds(("q1", "1976"), ("q2", "something"));
        var probs = Probs(("q1", 0.1), ("q2", 0.9));
        var refs = Refs(("q1", ["1976"]), ("q2", []));

        var plain = SquadMetrics.ComputeV2(preds, probs, refs);
        Assert.Equal(50.0, plain["exact"]);
        Assert.Equal(50.0, plain["f1"]);
        Assert.Equal(100.0, plain["HasAns_exact"]);
        Assert.Equal(0.0, plain["NoAns_exact"]);
        Assert.Equal(100.0, plain["best_exact"]);
        Assert.Equal(0.1, plain["best_exact_thresh"]);

        var thresholded = SquadMetrics.ComputeV2(preds, probs, refs, noAnswerThreshold: 0.5);
        Assert.Equal(100.0, thresholded["exact"]);
        Assert.Equal(100.0, thresholded["NoAns_f1"]);
        Assert.Equal(100.0, thresholded["HasAns_f1"]);
    }

    // Official v2.0 get_raw_scores keeps only gold answers that normalise to something; with none left the gold is "".
    [Fact]
    public void ComputeV2_GoldAnswersNormalisingToNothing_CountAsEmpty()
    {
        var result = SquadMetrics.ComputeV2(Preds(("q", "")), Probs(("q", 0.0)), Refs(("q", ["The", "!"])));
        Assert.Equal(100.0, result["exact"]);
        Assert.Equal(100.0, result["f1"]);
        Assert.Equal(1, result["HasAns_total"]); // has_ans is bool(answers["text"]): a non-empty list
    }

    // evaluate's squad_v2 fails (KeyError in make_eval_dict) when a reference has no prediction.
    [Fact]
    public void ComputeV2_MissingPredictionOrProbability_Throws()
    {
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() =>
            SquadMetrics.ComputeV2(Preds(("a", "x")), Probs(("a", 0.0)), Refs(("a", ["x"]), ("b", ["y"])))).ParamName);
        Assert.Equal("noAnswerProbabilities", Assert.Throws<ArgumentException>(() =>
            SquadMetrics.ComputeV2(Preds(("a", "x")), Probs(), Refs(("a", ["x"])))).ParamName);
        Assert.Equal("references", Assert.Throws<ArgumentException>(() =>
            SquadMetrics.ComputeV2(Preds(), Probs(), Refs())).ParamName);
    }

    // normalize_answer: lower, drop string.punctuation, replace whole-word a/an/the with a space, collapse whitespace.
    [Theory]
    [InlineData("The Quick, Brown Fox!", "quick brown fox")]
    [InlineData("an apple a day", "apple day")]
    [InlineData("theatre ANd anthem", "theatre and anthem")]
    [InlineData("A", "")]
    [InlineData("  1,976.  ", "1976")]
    [InlineData("U.S.A.", "usa")]
    [InlineData("«Paris» — capital", "«paris» — capital")] // string.punctuation is ASCII only
    public void NormalizeAnswer_OfficialDefinition(string text, string expected)
    {
        Assert.Equal(expected, SquadMetrics.NormalizeAnswer(text));
    }

    // Python semantics the official script inherits:
    // - str.split() splits on every str.isspace() character, U+00A0, U+3000 and U+001C..U+001F included;
    // - str.lower() maps U+0130 to "i\u0307" and a word-final capital sigma to U+03C2 (Unicode Final_Sigma);
    // - re's \w (str.isalnum() or '_') excludes combining marks and includes other numbers such as '²' and astral
    //   letters, so \b(a|an|the)\b matches before U+0301 but not in "a²" or "the𝐀".
    [Theory]
    [InlineData("the\u00A0cat\u3000sat\u001Cdown", "cat sat down")]
    [InlineData("ΟΔΟΣ ΣΑ", "οδος σα")]
    [InlineData("İstanbul", "i\u0307stanbul")]
    [InlineData("the\u0301 cat", "\u0301 cat")]
    [InlineData("a² b", "a² b")]
    [InlineData("the\U00010400 x", "the\U00010428 x")] // Deseret capital/small long I
    public void NormalizeAnswer_PythonStringSemantics(string text, string expected)
    {
        Assert.Equal(expected, SquadMetrics.NormalizeAnswer(text));
    }

    [Fact]
    public void ExactMatchAndF1_TokenLevel()
    {
        Assert.True(SquadMetrics.ExactMatch("The Denver Broncos!", "denver broncos"));
        Assert.False(SquadMetrics.ExactMatch("Beyonce", "Beyoncé"));
        // Counter(prediction) & Counter(truth): "cat cat" vs "cat" share one token -> P 1/2, R 1, F1 2/3.
        Assert.Equal(2.0 / 3, SquadMetrics.F1("a cat cat", "the cat"), 12);
        Assert.Equal(1.0, SquadMetrics.F1("Bruno Mars and Beyoncé", "Beyoncé and Bruno Mars"));
        // v1.1 f1_score: no shared token -> 0, even for two empty answers.
        Assert.Equal(0.0, SquadMetrics.F1("", "the"));
    }
}
