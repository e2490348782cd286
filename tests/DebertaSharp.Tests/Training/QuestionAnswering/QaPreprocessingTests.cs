using DebertaSharp.Tokenization;
using DebertaSharp.Training;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// run_qa.py's <c>prepare_train_features</c> / <c>prepare_validation_features</c> on small worked examples, derived by
/// hand below from the algorithm and the v4_template tokenizer's tokens.
/// </summary>
public class QaPreprocessingTests
{
    internal static DebertaTokenizerBase Fast() => DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "v4_template"));

    // The tokens of the pair ("Who won?", Context) with the v4_template tokenizer (byte-level BPE; its post-processor
    // is TemplateProcessing, so offsets are not trimmed and a token's span includes its leading space):
    //   0 [CLS]   1 Who (0,3)   2 Ġwon (3,7)   3 ? (7,8)   4 [SEP]
    //   context tokens c0..c9:
    //   c0 The (0,3)   c1 ĠBroncos (3,11)   c2 Ġbeat (11,16)   c3 Ġthe (16,20)   c4 ĠPanthers (20,29)
    //   c5 Ġin (29,32) c6 Ġthe (32,36)      c7 Ġfinal (36,42)  c8 Ġgame (42,47)  c9 . (47,48)
    //   then [SEP]. [CLS] is id 1, [SEP] 2, [PAD] 0.
    internal const string Context = "The Broncos beat the Panthers in the final game.";
    internal static readonly (int, int)[] ContextTokens =
        [(0, 3), (3, 11), (11, 16), (16, 20), (20, 29), (29, 32), (32, 36), (36, 42), (42, 47), (47, 48)];

    private static QaExample Ex(string id, string answer, int start, string question = "Who won?") =>
        new(id, question, Context, [answer], [start]);

    [Fact]
    public void TrainFeatures_AnswerInTwoWindows_StartEndPositionsAndClsForTheOthers()
    {
        // maxSeqLength 10 = [CLS] + 3 question tokens + [SEP] + context + [SEP]: 4 context tokens per window.
        // docStride 2: windows start every 4 - 2 = 2 context tokens: c0..c3, c2..c5, c4..c7, c6..c9 (the last reaches
        // the end). Each feature is 10 tokens, so max_length padding adds nothing; context tokens sit at 5..8.
        var tok = Fast();
        var examples = new[]
        {
            Ex("panthers", "Panthers", 21),   // "Panthers": characters [21, 29)
            Ex("final", "the final", 33),     // "the final": [33, 42)
            Ex("dot", ".", 47),               // ".": [47, 48), the last context token
            new QaExample("none", "Who won?", Context, [], []),
        };
        var f = QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, examples, maxSeqLength: 10, docStride: 2);
        Assert.Equal(16, f.Count);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3], f.Select(x => x.ExampleIndex));
        Assert.All(f, x => Assert.Equal(10, x.InputIds.Length));
        Assert.All(f, x => Assert.Null(x.OffsetMapping));

        // Ids: window 1 is [CLS] Who Ġwon ? [SEP] Ġbeat Ġthe ĠPanthers Ġin [SEP]; type ids 1 from the context on.
        Assert.Equal([1, 8245, 1843, 34, 2, 4409, 266, 17786, 291, 2], f[1].InputIds);
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], f[1].TokenTypeIds!);
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], f[1].AttentionMask);

        // "Panthers", start_char 21, end_char 29:
        //  w0 c0..c3: offsets[first ctx].start 0 <= 21 but offsets[last ctx].end 20 < 29 -> CLS (0, 0).
        //  w1 c2..c5: 11 <= 21 and 32 >= 29 -> inside. Start walk from 5 while start <= 21: c2 11, c3 16, c4 20, stop
        //     at c5 (29) = index 8 -> start 7. End walk from 8 while end >= 29: c5 32, c4 29, stop at c3 (20) = index 6
        //     -> end 7.
        //  w2 c4..c7: 20 <= 21, 42 >= 29. Start: c4 20, stop at c5 (index 6) -> 5. End: c7 42, c6 36, c5 32, c4 29, stop
        //     at [SEP] (end 0, index 4) -> 5.
        //  w3 c6..c9: first start 32 > 21 -> CLS.
        Assert.Equal([(0, 0), (7, 7), (5, 5), (0, 0)], f.Take(4).Select(x => (x.StartPosition, x.EndPosition)));

        // "the final", start_char 33, end_char 42 (the answer starts inside "Ġthe" (32,36): its leading space):
        //  w0, w1: last ends 20, 32 < 42 -> CLS.
        //  w2 c4..c7: 20 <= 33, 42 >= 42. Start: c4 20, c5 29, c6 32 <= 33, stop at c7 (36) = index 8 -> 7. End: c7
        //     42 >= 42, stop at c6 (36) = index 7 -> 8.
        //  w3 c6..c9: 32 <= 33, 48 >= 42. Start: c6 32, stop at c7 (index 6) -> 5. End: c9 48, c8 47, c7 42, stop at
        //     c6 (index 5) -> 6.
        Assert.Equal([(0, 0), (0, 0), (7, 8), (5, 6)], f.Skip(4).Take(4).Select(x => (x.StartPosition, x.EndPosition)));

        // ".", start_char 47, end_char 48: only w3 (c6..c9) holds it. Start walk: c6 32, c7 36, c8 42, c9 47 <= 47, then
        // the final [SEP] at index 9 has offsets (0, 0) and 0 <= 47 too, so the walk runs off the end (index 10) and
        // the start is 9 - run_qa.py's own edge case ("we could go after the last offset if the answer is the last
        // word"), kept as is. End walk: c9 48 >= 48, stop at c8 (47) = index 7 -> 8.
        Assert.Equal([(0, 0), (0, 0), (0, 0), (9, 8)], f.Skip(8).Take(4).Select(x => (x.StartPosition, x.EndPosition)));

        // No answer: every window is labelled with the CLS index.
        Assert.All(f.Skip(12), x => Assert.Equal((0, 0), (x.StartPosition, x.EndPosition)));
        Assert.All(f, x => Assert.Equal(examples[x.ExampleIndex].Id, x.ExampleId));
    }

    [Fact]
    public void TrainFeatures_QuestionIsLeftStripped_AndPaddingIsOptional()
    {
        // "  Who won?" would tokenize as [CLS] Ġ ĠWho Ġwon ? [SEP] (5 question tokens); lstrip() makes it "Who won?".
        var tok = Fast();
        var withSpaces = new[] { Ex("a", "Panthers", 21, question: " \t Who won?") };
        var plain = new[] { Ex("a", "Panthers", 21) };
        var f1 = QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, withSpaces, maxSeqLength: 10, docStride: 2);
        var f2 = QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, plain, maxSeqLength: 10, docStride: 2);
        Assert.Equal(f2.Select(x => x.InputIds), f1.Select(x => x.InputIds));

        // One window of 16 tokens: padded to 20 with max_length padding, left at 16 without.
        var padded = QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, plain, maxSeqLength: 20, docStride: 2);
        var unpadded = QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, plain, maxSeqLength: 20, docStride: 2, padToMaxLength: false);
        Assert.Equal(20, Assert.Single(padded).InputIds.Length);
        Assert.Equal([0, 0, 0, 0], padded[0].InputIds[16..]);
        Assert.Equal([0, 0, 0, 0], padded[0].AttentionMask[16..]);
        Assert.Equal(16, Assert.Single(unpadded).InputIds.Length);
        // "Panthers" is c4 = index 5 + 4 = 9 in both.
        Assert.Equal((9, 9), (padded[0].StartPosition, padded[0].EndPosition));
        Assert.Equal((9, 9), (unpadded[0].StartPosition, unpadded[0].EndPosition));
    }

    [Fact]
    public void ValidationFeatures_OffsetsOutsideTheContextAreNull()
    {
        // maxSeqLength 12: 6 context tokens per window; docStride 3: windows start every 3 tokens: c0..c5, c3..c8,
        // c6..c9. The last has 4 context tokens: 3 + 2 + 4 + ... = 10 tokens, padded with 2 [PAD] to 12.
        var tok = Fast();
        var f = QuestionAnsweringPreprocessing.PrepareValidationFeatures(tok, [Ex("q", "Panthers", 21)], maxSeqLength: 12, docStride: 3);
        Assert.Equal(3, f.Count);
        Assert.All(f, x => Assert.Equal("q", x.ExampleId));
        Assert.All(f, x => Assert.Equal((-1, -1), (x.StartPosition, x.EndPosition)));
        (int, int)?[] Want(int from, int count, int pads)
        {
            var list = new List<(int, int)?> { null, null, null, null, null }; // [CLS] Who Ġwon ? [SEP]
            for (int i = 0; i < count; i++) list.Add(ContextTokens[from + i]);
            list.Add(null); // [SEP]
            for (int i = 0; i < pads; i++) list.Add(null);
            return [.. list];
        }
        Assert.Equal(Want(0, 6, 0), f[0].OffsetMapping);
        Assert.Equal(Want(3, 6, 0), f[1].OffsetMapping);
        Assert.Equal(Want(6, 4, 2), f[2].OffsetMapping);
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0], f[2].AttentionMask);
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0], f[2].TokenTypeIds!);
    }

    [Fact]
    public void AnswerStarts_AreUtf16Indices_TokenOffsetsAreCodePoints()
    {
        // "Fun 😀 in Zürich today." - the emoji is one code point but two UTF-16 units (C# indices 4 and 5).
        // Tokens (offsets in code points): [CLS] Where ? [SEP] | Fun (0,3) ĠðŁĺ (3,5) Ģ (4,5) Ġin (5,8) ĠZ (8,10)
        // Ã¼ (10,11) rich (11,15) Ġtoday (15,21) . (21,22) [SEP]; context tokens start at index 4.
        // "Zürich" starts at UTF-16 index 10 = code point 9; its 6 code points end at 15.
        // Start walk (code points): Fun 0, ĠðŁĺ 3, Ģ 4, Ġin 5, ĠZ 8 <= 9, stop at Ã¼ (10) = index 9 -> start 8.
        // End walk: . 22, Ġtoday 21, rich 15 >= 15, stop at Ã¼ (11) = index 9 -> end 10.
        // (Comparing the UTF-16 start 10 with code-point offsets would wrongly take Ã¼ as the start.)
        const string context = "Fun 😀 in Zürich today.";
        int start = context.IndexOf("Zürich", StringComparison.Ordinal);
        Assert.Equal(10, start);
        var ex = new QaExample("e", "Where?", context, ["Zürich"], [start]);
        Assert.Equal([10], QaExample.FromCodePointStarts("e", "Where?", context, ["Zürich"], [9]).AnswerStarts);

        var tok = Fast();
        var train = Assert.Single(QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, [ex], padToMaxLength: false));
        Assert.Equal((8, 10), (train.StartPosition, train.EndPosition));

        // Validation offsets are converted to UTF-16: ĠðŁĺ (3,5) -> (3,6), Ģ (4,5) -> (4,6), ĠZ (8,10) -> (9,11),
        // Ã¼ -> (11,12), rich -> (12,16), Ġtoday -> (16,22), . -> (22,23).
        var val = Assert.Single(QuestionAnsweringPreprocessing.PrepareValidationFeatures(tok, [ex], padToMaxLength: false));
        Assert.Equal([null, null, null, null, (0, 3), (3, 6), (4, 6), (6, 9), (9, 11), (11, 12), (12, 16), (16, 22), (22, 23), null], val.OffsetMapping);
        Assert.Equal(" Zürich", context[val.OffsetMapping![8]!.Value.Start..val.OffsetMapping[10]!.Value.End]);
    }

    [Fact]
    public void LeftPaddingTokenizer_PutsTheContextFirst()
    {
        // pad_on_right is False: the pair is (context, question), truncation only_first, padding on the left.
        // [PAD]x4 [CLS] c0..c9 [SEP] Who Ġwon ? [SEP] = 20 tokens; c_k is at index 5 + k; "Panthers" is c4 = 9.
        var tok = Fast();
        tok.PaddingSide = Side.Left;
        var f = Assert.Single(QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, [Ex("a", "Panthers", 21)], maxSeqLength: 20));
        Assert.Equal([0, 0, 0, 0, 1, 468], f.InputIds[..6]);
        Assert.Equal((9, 9), (f.StartPosition, f.EndPosition));
        var v = Assert.Single(QuestionAnsweringPreprocessing.PrepareValidationFeatures(tok, [Ex("a", "Panthers", 21)], maxSeqLength: 20));
        Assert.Equal(ContextTokens.Select(t => ((int, int)?)t), v.OffsetMapping![5..15]);
        Assert.All(v.OffsetMapping[15..], o => Assert.Null(o));
    }

    [Fact]
    public void SlowTokenizerOnTheRealVocabulary_GivesTheSameFeatures()
    {
        // deberta-base-vocab (the real vocab.json + merges.txt) loads as the slow DebertaTokenizer; its ids differ from
        // the v4_template vocabulary's ("Who" is 12375 there, 8245 in v4_template) but the pieces, hence windows,
        // labels and offsets, are the same.
        var slow = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("deberta-base-vocab"));
        Assert.IsType<DebertaTokenizer>(slow);
        var examples = new[] { Ex("panthers", "Panthers", 21), Ex("final", "the final", 33), Ex("dot", ".", 47) };
        var a = QuestionAnsweringPreprocessing.PrepareTrainFeatures(slow, examples, maxSeqLength: 10, docStride: 2);
        var b = QuestionAnsweringPreprocessing.PrepareTrainFeatures(Fast(), examples, maxSeqLength: 10, docStride: 2);
        Assert.Equal(b.Select(x => (x.StartPosition, x.EndPosition)), a.Select(x => (x.StartPosition, x.EndPosition)));
        Assert.Equal([1, 12375, 351, 116, 2], a[0].InputIds[..5]);
        Assert.Equal(b.Select(x => x.TokenTypeIds), a.Select(x => x.TokenTypeIds));
        var va = QuestionAnsweringPreprocessing.PrepareValidationFeatures(slow, examples, maxSeqLength: 10, docStride: 2);
        var vb = QuestionAnsweringPreprocessing.PrepareValidationFeatures(Fast(), examples, maxSeqLength: 10, docStride: 2);
        Assert.Equal(vb.Select(x => x.OffsetMapping), va.Select(x => x.OffsetMapping));
    }

    [Fact]
    public void QuestionTooLongForTheWindow_IsATrainingDataException()
    {
        // 10 tokens leave 4 for the context after a 3-token question; a stride of 4 is then too large.
        var tok = Fast();
        var err = Assert.Throws<TrainingDataException>(() => QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, [Ex("x", "Panthers", 21)], maxSeqLength: 10, docStride: 4));
        Assert.Contains("'x'", err.Message);
        // A question longer than the whole feature.
        Assert.Throws<TrainingDataException>(() => QuestionAnsweringPreprocessing.PrepareValidationFeatures(tok, [Ex("y", "Panthers", 21, question: "Who won the final game of the season?")], maxSeqLength: 8, docStride: 1));
    }
}
