using DebertaSharp.Training;

namespace DebertaSharp.Tests.Training;

/// <summary>utils_qa.py's <c>postprocess_qa_predictions</c> on hand-made logits, every result derived by hand below.</summary>
public class QaPostprocessingTests
{
    private const string Context = QaPreprocessingTests.Context;

    // One validation feature of 16 tokens (no padding): [CLS] Who Ġwon ? [SEP] c0..c9 [SEP], context token c_k at
    // index 5 + k with the offsets of QaPreprocessingTests.ContextTokens; indices 0..4 and 15 have null offsets.
    private static readonly QaExample Example = new("q", "Who won?", Context, ["Panthers"], [21]);
    private static readonly Lazy<QaFeature> Single = new(() =>
        QuestionAnsweringPreprocessing.PrepareValidationFeatures(QaPreprocessingTests.Fast(), [Example], padToMaxLength: false).Single());

    private static float[] Logits(int length, float fill, params (int Index, float Value)[] set)
    {
        var x = Enumerable.Repeat(fill, length).ToArray();
        foreach (var (i, v) in set) x[i] = v;
        return x;
    }

    private static QaPostprocessResult Run(float[] start, float[] end, bool v2 = false, int nBest = 20, int maxLen = 30, double threshold = 0.0) =>
        QuestionAnsweringPostprocessing.PostprocessPredictions([Example], [Single.Value], [start], [end], v2, nBest, maxLen, threshold);

    // Start logits: [0] (CLS) 1, [2] (question token "Ġwon") 6, [6] (c1 ĠBroncos) 5, [9] (c4 ĠPanthers) 4, else 0.
    // End logits:   [0] 2, [5] (c0 The) 4, [6] 3, [9] 5, else 0.
    // n_best_size 3: top starts [2, 6, 9], top ends [9, 5, 6].
    //   start 2: offset null (question) -> all skipped.
    //   start 6: end 9 -> span (3, 29), 4 tokens, score 5 + 5 = 10; end 5 < 6 skipped; end 6 -> (3, 11), score 8.
    //   start 9: end 9 -> (20, 29), score 4 + 5 = 9; ends 5 and 6 < 9 skipped.
    // Sorted: 10 " Broncos beat the Panthers", 9 " Panthers", 8 " Broncos" (the offsets include the leading space:
    // the tokenizer's post-processor does not trim byte-level offsets).
    private static readonly float[] StartA = Logits(16, 0, (0, 1), (2, 6), (6, 5), (9, 4));
    private static readonly float[] EndA = Logits(16, 0, (0, 2), (5, 4), (6, 3), (9, 5));

    [Fact]
    public void BestSpan_NBestOrder_AndProbabilities()
    {
        var r = Run(StartA, EndA, nBest: 3);
        Assert.Equal(" Broncos beat the Panthers", r.Predictions["q"]);
        var nbest = r.NBest["q"];
        Assert.Equal([" Broncos beat the Panthers", " Panthers", " Broncos"], nbest.Select(p => p.Text));
        Assert.Equal([(5.0, 5.0), (4.0, 5.0), (5.0, 3.0)], nbest.Select(p => (p.StartLogit, p.EndLogit)));
        Assert.Equal([(3, 29), (20, 29), (3, 11)], nbest.Select(p => p.Offsets!.Value));
        Assert.Null(r.NullOdds);

        // Softmax of the float32 scores [10, 9, 8]: exp([0, -1, -2]) in float32, summed left to right (numpy's
        // pairwise sum is sequential below 8 values), divided in float32.
        float e0 = 1f, e1 = (float)Math.Exp(-1), e2 = (float)Math.Exp(-2);
        float sum = e0 + e1 + e2;
        Assert.Equal([e0 / sum, e1 / sum, e2 / sum], nbest.Select(p => (float)p.Probability));
        Assert.Equal(1.0, nbest.Sum(p => p.Probability), 6);
        Assert.Equal(0.6652409, nbest[0].Probability, 6);
    }

    [Fact]
    public void MaxAnswerLength_CutsLongerSpans()
    {
        // max_answer_length 3: (6, 9) has 9 - 6 + 1 = 4 tokens and goes; " Panthers" (score 9) is best.
        var r = Run(StartA, EndA, nBest: 3, maxLen: 3);
        Assert.Equal(" Panthers", r.Predictions["q"]);
        Assert.Equal([" Panthers", " Broncos"], r.NBest["q"].Select(p => p.Text));
        // exactly 4 allowed again
        Assert.Equal(" Broncos beat the Panthers", Run(StartA, EndA, nBest: 3, maxLen: 4).Predictions["q"]);
    }

    [Fact]
    public void Version2_NullAnswerAgainstThreshold()
    {
        // As StartA/EndA but the CLS logits are 7 and 6: the null score is 13.
        // n_best 3: top starts [0 (7), 2 (6), 6 (5)], top ends [0 (6), 9 (5), 5 (4)]. Starts 0 and 2 have null
        // offsets; start 6: end 0 null, end 9 -> (3, 29) score 10, end 5 < 6. Candidates: the span (10) and the null
        // answer (13, offsets (0, 0), text "").
        // score_diff = 13 - 5 - 5 = 3: "" when 3 > threshold.
        var start = Logits(16, 0, (0, 7), (2, 6), (6, 5), (9, 4));
        var end = Logits(16, 0, (0, 6), (5, 4), (6, 3), (9, 5));
        var r = Run(start, end, v2: true, nBest: 3);
        Assert.Equal("", r.Predictions["q"]);
        Assert.Equal(3.0, r.NullOdds!["q"]);
        var nbest = r.NBest["q"];
        Assert.Equal(["", " Broncos beat the Panthers"], nbest.Select(p => p.Text));
        Assert.Equal((0, 0), nbest[0].Offsets);
        Assert.Equal((7.0, 6.0), (nbest[0].StartLogit, nbest[0].EndLogit));
        // softmax of [13, 10]: 1 / (1 + e^-3) and e^-3 / (1 + e^-3) in float32.
        float e = (float)Math.Exp(-3);
        Assert.Equal([1f / (1f + e), e / (1f + e)], nbest.Select(p => (float)p.Probability));

        Assert.Equal(" Broncos beat the Panthers", Run(start, end, v2: true, nBest: 3, threshold: 3.0).Predictions["q"]); // 3 > 3 is false
        Assert.Equal("", Run(start, end, v2: true, nBest: 3, threshold: 2.5).Predictions["q"]);
        // Without v2 the null answer is no candidate.
        Assert.Equal(" Broncos beat the Panthers", Run(start, end, nBest: 3).Predictions["q"]);
    }

    [Fact]
    public void Version2_NullScoreIsTheMinimumOverTheFeatures()
    {
        // Three windows (maxSeqLength 12, docStride 3; see QaPreprocessingTests): c0..c5, c3..c8, c6..c9, context at
        // indices 5.. of each. All logits -10 except: CLS scores f0 2 + 2 = 4, f1 1 + 0.5 = 1.5, f2 3 + 3 = 6, and in
        // f2 start and end 2 at index 7 (c8 " game", (42, 47)).
        // min null = f1's (1.5; start 1, end 0.5). Best span: f2 (7, 7) " game", score 4; next best spans have 2 - 10.
        // score_diff = 1.5 - 2 - 2 = -2.5 <= 0 -> " game".
        var features = QuestionAnsweringPreprocessing.PrepareValidationFeatures(QaPreprocessingTests.Fast(), [Example], maxSeqLength: 12, docStride: 3);
        Assert.Equal(3, features.Count);
        float[][] start = [Logits(12, -10, (0, 2)), Logits(12, -10, (0, 1)), Logits(12, -10, (0, 3), (7, 2))];
        float[][] end = [Logits(12, -10, (0, 2)), Logits(12, -10, (0, 0.5f)), Logits(12, -10, (0, 3), (7, 2))];
        var r = QuestionAnsweringPostprocessing.PostprocessPredictions([Example], features, start, end, versionWithNegative: true);
        Assert.Equal(" game", r.Predictions["q"]);
        Assert.Equal(-2.5, r.NullOdds!["q"]);
        var nbest = r.NBest["q"];
        Assert.Equal(20, nbest.Count);
        Assert.Equal((" game", 2.0, 2.0), (nbest[0].Text, nbest[0].StartLogit, nbest[0].EndLogit));
        Assert.Equal(("", 1.0, 0.5), (nbest[1].Text, nbest[1].StartLogit, nbest[1].EndLogit));
        Assert.Single(nbest, p => p.Offsets == (0, 0));
    }

    [Fact]
    public void NoValidSpan_GivesTheEmptyFallback()
    {
        // n_best 1: the top start is the question token 2, the top end 9: the only pair is skipped, nothing is left,
        // so utils_qa.py inserts {"text": "empty", logits 0.0, score 0.0}: probability 1.
        var r = Run(StartA, EndA, nBest: 1);
        Assert.Equal("empty", r.Predictions["q"]);
        var p = Assert.Single(r.NBest["q"]);
        Assert.Equal(("empty", 1.0, 0.0, 0.0), (p.Text, p.Probability, p.StartLogit, p.EndLogit));
        Assert.Null(p.Offsets);
    }

    [Fact]
    public void Version2_OnlyTheNullAnswer_GivesTheEmptyFallbackInFloat64()
    {
        // n_best 1: top start 0 (0.5), top end 0 (0.25): null offsets, no span. Candidates: the null answer alone
        // (score 0.75, text "") -> "empty" (score 0.0, a Python float) goes first and the numpy array is float64:
        // probabilities exp(-0.75) / (exp(-0.75) + 1) and 1 / (exp(-0.75) + 1) in float64.
        // Best non-null: "empty"; score_diff = 0.75 - 0 - 0 = 0.75 > 0 -> "".
        var start = Logits(16, -1, (0, 0.5f));
        var end = Logits(16, -1, (0, 0.25f));
        var r = Run(start, end, v2: true, nBest: 1);
        Assert.Equal("", r.Predictions["q"]);
        Assert.Equal(0.75, r.NullOdds!["q"]);
        var nbest = r.NBest["q"];
        Assert.Equal(["empty", ""], nbest.Select(p => p.Text));
        double e = Math.Exp(-0.75);
        Assert.Equal([e / (e + 1), 1 / (e + 1)], nbest.Select(p => p.Probability));
        // A higher threshold keeps "empty".
        Assert.Equal("empty", Run(start, end, v2: true, nBest: 1, threshold: 1.0).Predictions["q"]);
    }

    [Fact]
    public void TopIndices_MatchNumpyArgsortReversed()
    {
        // np.argsort([1, 3, 3, 0, nan]) = [3, 0, 1, 2, 4] (stable for 5 values, NaN last); [-1:-4:-1] = [4, 2, 1].
        Assert.Equal([4, 2, 1], QuestionAnsweringPostprocessing.TopIndices([1, 3, 3, 0, float.NaN], 3));
        Assert.Equal([1, 2, 0], QuestionAnsweringPostprocessing.TopIndices([0, 2, 1], 20)); // n larger than the row
        Assert.Empty(QuestionAnsweringPostprocessing.TopIndices([0, 2, 1], 0));
    }

    [Fact]
    public void PairwiseSum_FollowsNumpysOrder()
    {
        // 9 float32 values 2^24, 1 x 8. Left to right every +1 rounds back to 2^24 (ties to even). numpy's pairwise
        // sum with 8 accumulators: r = the first 8 values; ((2^24 + 1) + (1 + 1)) + ((1 + 1) + (1 + 1)) = (2^24 + 2)
        // + 4 = 2^24 + 6; then + the 9th value: 2^24 + 7 is a tie between 2^24 + 6 and 2^24 + 8 -> 2^24 + 8 (even).
        float[] a = [16777216f, 1, 1, 1, 1, 1, 1, 1, 1];
        float sequential = 0;
        foreach (var x in a) sequential += x;
        Assert.Equal(16777216f, sequential);
        Assert.Equal(16777224f, QuestionAnsweringPostprocessing.PairwiseSum<float>(a));
    }

    [Fact]
    public void ExamplesWithoutFeatures_AndBadInputs()
    {
        // v1: an example with no features gets the "empty" fallback; v2 needs a null score (utils_qa.py fails).
        var other = new QaExample("other", "Who?", Context, [], []);
        var r = QuestionAnsweringPostprocessing.PostprocessPredictions([Example, other], [Single.Value], [StartA], [EndA], nBestSize: 3);
        Assert.Equal(["q", "other"], r.Predictions.Keys);
        Assert.Equal("empty", r.Predictions["other"]);
        Assert.Throws<ArgumentException>(() => QuestionAnsweringPostprocessing.PostprocessPredictions([Example, other], [Single.Value], [StartA], [EndA], versionWithNegative: true));
        Assert.Throws<ArgumentException>(() => QuestionAnsweringPostprocessing.PostprocessPredictions([other], [Single.Value], [StartA], [EndA]));
        Assert.Throws<ArgumentException>(() => QuestionAnsweringPostprocessing.PostprocessPredictions([Example], [Single.Value], [StartA, StartA], [EndA]));
        Assert.Throws<ArgumentException>(() => QuestionAnsweringPostprocessing.PostprocessPredictions([Example], [Single.Value with { OffsetMapping = null }], [StartA], [EndA]));
    }

    [Fact]
    public void WriteFiles_AsUtilsQaWritesThem()
    {
        // Start 0.5 at c1 (6) and c4 (9), end 0.25 at 6 and 9, else -10; n_best 2. Top starts [9, 6] (equal values:
        // the higher index first), top ends [9, 6]. Pairs: (9, 9) 0.75; (9, 6) end < start; (6, 9) 0.75; (6, 6) 0.75.
        // All equal: the stable sort keeps that order, the best 2 are " Panthers" and " Broncos beat the Panthers",
        // probability 0.5 each.
        var start = Logits(16, -10, (6, 0.5f), (9, 0.5f));
        var end = Logits(16, -10, (6, 0.25f), (9, 0.25f));
        var r = Run(start, end, nBest: 2);
        using var dir = TestPaths.TempDir();
        var written = r.WriteFiles(dir.Path);
        Assert.Equal([dir["eval_predictions.json"], dir["eval_nbest_predictions.json"]], written);
        Assert.Equal("{\n    \"q\": \" Panthers\"\n}\n", File.ReadAllText(dir["eval_predictions.json"]));
        Assert.Equal("""
            {
                "q": [
                    {
                        "start_logit": 0.5,
                        "end_logit": 0.25,
                        "text": " Panthers",
                        "probability": 0.5
                    },
                    {
                        "start_logit": 0.5,
                        "end_logit": 0.25,
                        "text": " Broncos beat the Panthers",
                        "probability": 0.5
                    }
                ]
            }

            """.ReplaceLineEndings("\n"), File.ReadAllText(dir["eval_nbest_predictions.json"]));
        Assert.Equal(["eval_nbest_predictions.json", "eval_predictions.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());

        // v2 with only the null answer (score 0): the "empty" fallback (keys text, start_logit, end_logit, probability)
        // then the null answer; float64 probabilities 0.5; score_diff 0 - 0 - 0 = 0, not > 0 -> "empty".
        var v2 = Run(Logits(16, -1, (0, 0)), Logits(16, -1, (0, 0)), v2: true, nBest: 1);
        var paths = v2.WriteFiles(dir.Path, prefix: null);
        Assert.Equal([dir["predictions.json"], dir["nbest_predictions.json"], dir["null_odds.json"]], paths);
        Assert.Equal("{\n    \"q\": \"empty\"\n}\n", File.ReadAllText(dir["predictions.json"]));
        Assert.Equal("{\n    \"q\": 0.0\n}\n", File.ReadAllText(dir["null_odds.json"]));
        Assert.Equal("""
            {
                "q": [
                    {
                        "text": "empty",
                        "start_logit": 0.0,
                        "end_logit": 0.0,
                        "probability": 0.5
                    },
                    {
                        "start_logit": 0.0,
                        "end_logit": 0.0,
                        "text": "",
                        "probability": 0.5
                    }
                ]
            }

            """.ReplaceLineEndings("\n"), File.ReadAllText(dir["nbest_predictions.json"]));
        Assert.Throws<DirectoryNotFoundException>(() => r.WriteFiles(dir["missing"]));
    }

    [Theory]
    [InlineData(0.5, "0.5")]
    [InlineData(2.0, "2.0")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(100.0, "100.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1234567890123456.0, "1234567890123456.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(123456789012345678.0, "1.2345678901234568e+17")]
    [InlineData(1e100, "1e+100")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void Floats_AreWrittenAsPythonRepr(double value, string expected) => Assert.Equal(expected, PythonJson.Float(value));

    [Fact]
    public void Float32Values_AreWrittenAsTheirFloat64Repr()
    {
        // float(np.float32(0.1)) == 0.10000000149011612; float(np.float32(1/3)) == 0.3333333432674408
        Assert.Equal("0.10000000149011612", PythonJson.Float(0.1f));
        Assert.Equal("0.3333333432674408", PythonJson.Float(1f / 3f));
    }

    [Fact]
    public void Strings_AreEscapedAsJsonDumpsWithEnsureAscii()
    {
        var sb = new System.Text.StringBuilder();
        PythonJson.String(sb, "a\"b\\c\n\t\u00fcé😀\u007f\u001f/~");
        Assert.Equal("\"a\\\"b\\\\c\\n\\t\\u00fc\\u00e9\\ud83d\\ude00\\u007f\\u001f/~\"", sb.ToString());
    }
}
