using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using DebertaSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Pipelines;

/// <summary>
/// The question-answering pipeline (transformers 4.x's <c>question_answering.py</c>; 5.x has none, so there is no
/// Hugging Face fixture) against answers worked out by hand from the model's own logits. The model: a small random
/// <see cref="DebertaForQuestionAnswering"/> on the v4_template tokenizer's vocabulary (the rel_c2p_p2c QA fixture has
/// a 128-token vocabulary, which does not fit that tokenizer's 50262 ids), seeded, with a wide initialisation so the
/// logits differ from token to token.
///
/// The derivation (<see cref="HandAnswers"/>), written independently of the pipeline with plain loops in double:
/// 1. Tokenize (question, context) with truncation only_second at max_seq_len, stride doc_stride and overflowing
///    windows; run the model on each window alone (no padding) to get its start and end logits.
/// 2. In each window the candidate tokens are the context tokens (sequence id 1) and [CLS] (Hugging Face keeps
///    [CLS] out of p_mask); every other token gets probability 0 (its logit is -10000, exp underflows to 0).
///    p_start[t] = exp(l[t] - max) / Σ exp(l[u] - max) over the candidates; the same for p_end.
/// 3. The null score of the window is p_start[0] · p_end[0]; the example's null score is the minimum over windows.
///    Then p_start[0] = p_end[0] = 0.
/// 4. Spans: every (s, e) of context tokens with s ≤ e ≤ s + max_answer_len - 1, score p_start[s] · p_end[e]; the
///    window contributes its top_k spans by score (top_k · 2 + 10 with align_to_words, transformers 4.57); a span whose
///    text equals an earlier answer's (case-insensitively) adds its score to that answer.
/// 5. Characters: with align_to_words, from the first character of the word of token s to the last of the word of
///    token e (the word's tokens in this window, context sequence); else the tokens' own offsets. Offsets are code
///    points, so the answer is cut from the context's code points.
/// 6. All windows' answers (and the null answer {score: null, 0, 0, ""} with handle_impossible_answer) are sorted by
///    score, stable, and the first top_k kept; one answer is returned as an object, several as an array.
/// </summary>
public class QuestionAnsweringPipelineTests
{
    private const string Question = "Who wrote the report about the harbour?";
    private const string ShortContext = "The harbour report was written by Margarethe Oyelaran-Whitcombe in 1987, after the storm.";

    private static readonly string LongContext = string.Join(" ",
        "The old harbour of Kestrelwick was rebuilt three times.",
        "In 1911 the quay collapsed during a winter storm and the fishing fleet moved north.",
        "Engineer Thaddeus Brannigan-Ulloa designed the second breakwater, finished in 1923.",
        "A report about the harbour, written by Margarethe Oyelaran-Whitcombe in 1987, described the silt problem.",
        "Dredging resumed in 1992 and the ferry to Solvanger returned in 1995.",
        "Today the harbour museum keeps the original drawings and a model of the lighthouse.");

    private static DebertaTokenizerBase Tokenizer() => DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "v4_template"));

    private static DebertaForQuestionAnswering Model()
    {
        torch.manual_seed(20240607);
        var config = new DebertaConfig
        {
            VocabSize = 50262, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 24,
            MaxPositionEmbeddings = 512, RelativeAttention = true, PosAttType = ["c2p", "p2c"], PositionBiasedInput = false,
            TypeVocabSize = 0, InitializerRange = 0.6, NumLabelsValue = 2,
        };
        var model = new DebertaForQuestionAnswering(config);
        model.eval();
        return model;
    }

    private sealed record Hand(double Score, int Start, int End, string Answer);

    /// <summary>The logits of one window, the model run on it alone.</summary>
    private static (double[] Start, double[] End) Logits(DebertaForQuestionAnswering model, Encoding w)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        long[] shape = [1, w.Length];
        var output = model.Forward(torch.tensor(w.Ids.Select(i => (long)i).ToArray(), shape),
            torch.tensor(w.AttentionMask.Select(i => (long)i).ToArray(), shape),
            torch.tensor(w.TypeIds.Select(i => (long)i).ToArray(), shape));
        return (output.StartLogits[0].data<float>().Select(x => (double)x).ToArray(),
                output.EndLogits[0].data<float>().Select(x => (double)x).ToArray());
    }

    private static List<Encoding> Windows(DebertaTokenizerBase tok, string question, string context, int maxSeqLen, int stride)
    {
        var enc = tok.EncodeBatch([(question, context)], new EncodeOptions
        {
            Truncation = TruncationStrategy.OnlySecond, MaxLength = maxSeqLen, Stride = stride, ReturnOverflowingTokens = true,
        })[0];
        return [enc, .. enc.Overflowing];
    }

    /// <summary>Steps 1-6 of the class comment.</summary>
    private static List<Hand> HandAnswers(DebertaForQuestionAnswering model, DebertaTokenizerBase tok, string question, string context,
        int topK = 1, int maxSeqLen = 384, int stride = 128, int maxAnswerLen = 15, bool handleImpossible = false, bool align = true)
    {
        string[] cps = [.. context.EnumerateRunes().Select(r => r.ToString())];
        var all = new List<Hand>();
        double nullScore = 1e6;
        foreach (var w in Windows(tok, question, context, maxSeqLen, stride))
        {
            var (ls, le) = Logits(model, w);
            int n = w.Length;
            bool Candidate(int t) => w.SequenceIds[t] == 1 || w.Ids[t] == tok.ClsTokenId;
            double[] Probs(double[] l)
            {
                double max = double.NegativeInfinity;
                for (int t = 0; t < n; t++) if (Candidate(t)) max = Math.Max(max, l[t]);
                var p = new double[n];
                double sum = 0;
                for (int t = 0; t < n; t++) if (Candidate(t)) { p[t] = Math.Exp(l[t] - max); sum += p[t]; }
                for (int t = 0; t < n; t++) p[t] /= sum;
                return p;
            }
            var ps = Probs(ls);
            var pe = Probs(le);
            nullScore = Math.Min(nullScore, ps[0] * pe[0]);
            ps[0] = pe[0] = 0;
            var spans = new List<(int S, int E, double Score)>();
            for (int s = 0; s < n; s++)
                for (int e = s; e < n && e <= s + maxAnswerLen - 1; e++)
                    if (w.SequenceIds[s] == 1 && w.SequenceIds[e] == 1) spans.Add((s, e, ps[s] * pe[e]));
            // 4.57: with align_to_words a window contributes top_k * 2 + 10 spans (several spans can give the same words).
            foreach (var (s, e, score) in spans.OrderByDescending(x => x.Score).Take(align ? topK * 2 + 10 : topK))
            {
                int cs = w.Offsets[s].Start, ce = w.Offsets[e].End;
                if (align)
                {
                    int ws = w.WordIds[s]!.Value, we = w.WordIds[e]!.Value;
                    var sTokens = Enumerable.Range(0, n).Where(t => w.SequenceIds[t] == 1 && w.WordIds[t] == ws).ToList();
                    var eTokens = Enumerable.Range(0, n).Where(t => w.SequenceIds[t] == 1 && w.WordIds[t] == we).ToList();
                    cs = w.Offsets[sTokens.First()].Start;
                    ce = w.Offsets[eTokens.Last()].End;
                }
                // get_answer: a text already answered (case-insensitively) adds its score to that answer, which keeps
                // its first start and end.
                string text = string.Concat(cps[cs..ce]);
                int same = all.FindIndex(a => a.Answer.ToLowerInvariant() == text.ToLowerInvariant());
                if (same >= 0) all[same] = all[same] with { Score = all[same].Score + score };
                else all.Add(new Hand(score, cs, ce, text));
            }
        }
        if (handleImpossible) all.Add(new Hand(nullScore, 0, 0, ""));
        return [.. all.OrderByDescending(a => a.Score).Take(topK)];
    }

    private static void AssertSame(List<Hand> want, IReadOnlyList<QuestionAnsweringAnswer> got)
    {
        Assert.Equal(want.Count, got.Count);
        for (int i = 0; i < want.Count; i++)
        {
            Assert.Equal((want[i].Start, want[i].End, want[i].Answer), (got[i].Start, got[i].End, got[i].Answer));
            Assert.True(Math.Abs(want[i].Score - got[i].Score) <= 1e-5 * want[i].Score + 1e-9, $"answer {i}: score {got[i].Score} vs {want[i].Score}");
        }
    }

    [Fact]
    public void ShortContextDefaultsGiveTheHandDerivedSpanAsOneObject()
    {
        var tok = Tokenizer();
        var model = Model();
        using var pipe = new QuestionAnsweringPipeline(model, tok);
        var want = HandAnswers(model, tok, Question, ShortContext);
        AssertSame(want, pipe.Answer(Question, ShortContext));

        var json = pipe.Run(new JsonObject { ["question"] = Question, ["context"] = ShortContext })!.AsObject();
        Assert.Equal(["score", "start", "end", "answer"], json.Select(kv => kv.Key));
        Assert.Equal(want[0].Start, (int)json["start"]!);
        Assert.Equal(want[0].End, (int)json["end"]!);
        Assert.Equal(want[0].Answer, (string)json["answer"]!);
        Assert.Equal(ShortContext[want[0].Start..want[0].End], want[0].Answer);  // ASCII: code points are UTF-16 indices
    }

    [Fact]
    public void LongContextIsSplitIntoWindowsAndTopKIsOrderedAcrossThem()
    {
        var tok = Tokenizer();
        var model = Model();
        using var pipe = new QuestionAnsweringPipeline(model, tok);
        Assert.True(Windows(tok, Question, LongContext, 40, 10).Count >= 4, "the long context should need several windows");

        var p = new JsonObject { ["max_seq_len"] = 40, ["doc_stride"] = 10, ["top_k"] = 6, ["max_answer_len"] = 5 };
        var want = HandAnswers(model, tok, Question, LongContext, topK: 6, maxSeqLen: 40, stride: 10, maxAnswerLen: 5);
        var got = pipe.Answer(Question, LongContext, new QuestionAnsweringOptions { MaxSeqLen = 40, DocStride = 10, TopK = 6, MaxAnswerLen = 5 });
        AssertSame(want, got);
        for (int i = 1; i < got.Count; i++) Assert.True(got[i - 1].Score >= got[i].Score);

        var json = pipe.Run(new JsonObject { ["question"] = Question, ["context"] = LongContext }, p)!.AsArray();
        Assert.Equal(6, json.Count);
        for (int i = 0; i < 6; i++) Assert.Equal(want[i].Answer, (string)json[i]!["answer"]!);

        // top_k 1 over the same windows: the best of all windows.
        AssertSame(HandAnswers(model, tok, Question, LongContext, maxSeqLen: 40, stride: 10),
            pipe.Answer(Question, LongContext, new QuestionAnsweringOptions { MaxSeqLen = 40, DocStride = 10 }));
    }

    [Fact]
    public void HandleImpossibleAnswerAddsTheMinimumNullScoreOfTheWindows()
    {
        var tok = Tokenizer();
        var model = Model();
        using var pipe = new QuestionAnsweringPipeline(model, tok);
        // top_k below the number of spans of a window, so that no zero-score span is needed to fill it.
        foreach (int topK in new[] { 1, 30 })
        {
            var opts = new QuestionAnsweringOptions { MaxSeqLen = 40, DocStride = 10, TopK = topK, MaxAnswerLen = 3, HandleImpossibleAnswer = true };
            var want = HandAnswers(model, tok, Question, LongContext, topK: topK, maxSeqLen: 40, stride: 10, maxAnswerLen: 3, handleImpossible: true);
            var got = pipe.Answer(Question, LongContext, opts);
            AssertSame(want, got);
            Assert.Equal(want.Any(a => a.Answer == ""), got.Any(a => a is { Start: 0, End: 0, Answer: "" }));
        }
        // A single window whose [CLS] dominates: the null answer wins (worked in SelectStartsEndsOnAWorkedExample's style).
        float minNull = 1e6f;
        bool[] desired = [true, false, true, true];
        QuestionAnsweringPipeline.SelectStartsEnds([5f, 0f, 0f, 0f], [5f, 0f, 0f, 0f], desired, 1, true, 15, ref minNull);
        // p[0] = e^5 / (e^5 + 2) for start and end alike; the null score is its square.
        double p0 = Math.Exp(5) / (Math.Exp(5) + 2);
        Assert.Equal(p0 * p0, minNull, 1e-6);
    }

    [Fact]
    public void AlignToWordsWidensSpansToWholeWords()
    {
        var tok = Tokenizer();
        var model = Model();
        using var pipe = new QuestionAnsweringPipeline(model, tok);
        const string context = "Quizzaciously overbrimming xylophonists transmogrified Zanzibarian pachydermatous cartographers";
        const string question = "Who?";
        var aligned = pipe.Answer(question, context, new QuestionAnsweringOptions { TopK = 20, MaxAnswerLen = 3 });
        var raw = pipe.Answer(question, context, new QuestionAnsweringOptions { TopK = 20, MaxAnswerLen = 3, AlignToWords = false });
        AssertSame(HandAnswers(model, tok, question, context, topK: 20, maxAnswerLen: 3), aligned);
        AssertSame(HandAnswers(model, tok, question, context, topK: 20, maxAnswerLen: 3, align: false), raw);
        // Byte-level BPE words carry their leading space in the offsets (the template post-processor trims nothing, as
        // in Hugging Face's DeBERTa tokenizer), so a word starts at the text's start or at a space.
        static bool WholeWords(QuestionAnsweringAnswer a, string c) =>
            (a.Start == 0 || c[a.Start] == ' ') && (a.End == c.Length || c[a.End] == ' ');
        Assert.All(aligned, a => Assert.True(WholeWords(a, context), $"'{a.Answer}' is not whole words"));
        Assert.Contains(raw, a => !WholeWords(a, context));   // the multi-token words give sub-word spans without alignment
    }

    [Fact]
    public void OffsetsAreCodePointsOfTheContext()
    {
        var tok = Tokenizer();
        var model = Model();
        using var pipe = new QuestionAnsweringPipeline(model, tok);
        const string context = "😀 🎉 The report 😀 was written by Zoë Ångström 🎉 in Kraków.";
        var want = HandAnswers(model, tok, Question, context, topK: 5);
        var got = pipe.Answer(Question, context, new QuestionAnsweringOptions { TopK = 5 });
        AssertSame(want, got);
    }

    [Fact]
    public void SelectStartsEndsOnAWorkedExample()
    {
        // Tokens: [CLS] q q [SEP] c c c [SEP]; desired: [CLS] and the three context tokens (3, 4, 5 here as 3..5).
        bool[] desired = [true, false, false, true, true, true, false];
        // Start logits at the desired tokens 0, 3, 4, 5: 0, ln 4, ln 2, ln 2 → exp 1, 4, 2, 2 (sum 9) → 1/9, 4/9, 2/9, 2/9.
        // End logits: 0, 0, ln 3, ln 2 → exp 1, 1, 3, 2 (sum 7) → 1/7, 1/7, 3/7, 2/7. The others are masked (9 is ignored).
        float[] start = [0f, 9f, 9f, MathF.Log(4), MathF.Log(2), MathF.Log(2), 9f];
        float[] end = [0f, 9f, 9f, 0f, MathF.Log(3), MathF.Log(2), 9f];
        // Null score: p_start[0] p_end[0] = 1/63. With max_answer_len 2 the spans are (3,3) 4/63, (3,4) 12/63,
        // (4,4) 6/63, (4,5) 4/63, (5,5) 4/63: top 3 = (3,4), (4,4), then the first 4/63 in flat order, (3,3).
        float minNull = 1e6f;
        var spans = QuestionAnsweringPipeline.SelectStartsEnds(start, end, desired, 3, true, 2, ref minNull);
        Assert.Equal(1.0 / 63, minNull, 1e-6);
        Assert.Equal([(3, 4), (4, 4), (3, 3)], spans.Select(x => (x.Start, x.End)));
        Assert.Equal([12.0 / 63, 6.0 / 63, 4.0 / 63], spans.Select(x => (double)x.Score), new Tol(1e-6));
        // max_answer_len 3 adds (3,5) = 4/9 · 2/7 = 8/63, second best.
        spans = QuestionAnsweringPipeline.SelectStartsEnds(start, end, desired, 2, false, 3, ref minNull);
        Assert.Equal([(3, 4), (3, 5)], spans.Select(x => (x.Start, x.End)));
    }

    private sealed class Tol(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= eps;
        public int GetHashCode(double obj) => 0;
    }

    [Fact]
    public void ArrayOfInputsGivesArrayOfValuesInOrder()
    {
        var tok = Tokenizer();
        var model = Model();
        using var pipe = new QuestionAnsweringPipeline(model, tok);
        var inputs = new JsonArray
        {
            new JsonObject { ["question"] = Question, ["context"] = LongContext },
            new JsonObject { ["question"] = "When?", ["context"] = ShortContext },
        };
        var got = pipe.Run(inputs, new JsonObject { ["max_seq_len"] = 40, ["doc_stride"] = 10 })!.AsArray();
        Assert.Equal(2, got.Count);
        Assert.Equal(HandAnswers(model, tok, Question, LongContext, maxSeqLen: 40, stride: 10)[0].Answer, (string)got[0]!["answer"]!);
        Assert.Equal(HandAnswers(model, tok, "When?", ShortContext, maxSeqLen: 40, stride: 10)[0].Answer, (string)got[1]!["answer"]!);
    }

    [Fact]
    public void BadInputsAndParametersNameTheField()
    {
        var tok = Tokenizer();
        using var pipe = new QuestionAnsweringPipeline(Model(), tok);
        var good = new JsonObject { ["question"] = "q", ["context"] = "c d" };
        Assert.Contains("cannot be empty", Assert.Throws<ArgumentException>(() => pipe.Answer("", "ctx")).Message);
        Assert.Contains("context", Assert.Throws<ArgumentException>(() => pipe.Run(new JsonObject { ["question"] = "q" })).Message);
        Assert.Contains("top_k", Assert.Throws<ArgumentException>(() => pipe.Run(good, new JsonObject { ["top_k"] = 0 })).Message);
        Assert.Contains("max_answer_len", Assert.Throws<ArgumentException>(() => pipe.Run(good, new JsonObject { ["max_answer_len"] = 0 })).Message);
        Assert.Contains("doc_stride", Assert.Throws<ArgumentException>(() => pipe.Run(good, new JsonObject { ["max_seq_len"] = 10, ["doc_stride"] = 11 })).Message);
        Assert.Contains("nonsense", Assert.Throws<ArgumentException>(() => pipe.Run(good, new JsonObject { ["nonsense"] = 1 })).Message);
        Assert.Contains("handle_impossible_answer", Assert.Throws<ArgumentException>(() => pipe.Run(good, new JsonObject { ["handle_impossible_answer"] = "yes" })).Message);
        Assert.Throws<ArgumentException>(() => pipe.Run(JsonValue.Create("just a string")));
        Assert.Throws<ArgumentException>(() => new QuestionAnsweringPipeline(new DebertaForSequenceClassification(new DebertaConfig { VocabSize = 50262, HiddenSize = 8, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 8 }), tok));
    }
}
