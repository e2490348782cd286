using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DebertaSharp.Tokenization;
using DebertaSharp.Training;
using Xunit.Abstractions;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// The whole XQuAD English set (SQuAD v1.1 format, 1,190 questions): training labels as one-hot logits, run through the
/// post-processing, give back the gold answers.
/// </summary>
public class QaXquadTests(ITestOutputHelper output)
{
    private static readonly Lazy<List<QaExample>> _examples = new(Load);

    /// <summary>Reads xquad.en.json (its <c>answer_start</c> counts code points, as Python's str).</summary>
    private static List<QaExample> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestPaths.Fixture("datasets", "xquad", "xquad.en.json")));
        var list = new List<QaExample>();
        foreach (var article in doc.RootElement.GetProperty("data").EnumerateArray())
        {
            foreach (var para in article.GetProperty("paragraphs").EnumerateArray())
            {
                string context = para.GetProperty("context").GetString()!;
                foreach (var qa in para.GetProperty("qas").EnumerateArray())
                {
                    var answers = qa.GetProperty("answers").EnumerateArray().ToList();
                    list.Add(QaExample.FromCodePointStarts(qa.GetProperty("id").GetString()!, qa.GetProperty("question").GetString()!, context,
                        [.. answers.Select(a => a.GetProperty("text").GetString()!)], [.. answers.Select(a => a.GetProperty("answer_start").GetInt32())]));
                }
            }
        }
        return list;
    }

    /// <summary>The SQuAD evaluation script's <c>normalize_answer</c>: lower case, no punctuation, no articles, single spaces.</summary>
    private static string Normalize(string s)
    {
        s = s.ToLowerInvariant();
        var sb = new StringBuilder();
        foreach (char c in s) if (!"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".Contains(c)) sb.Append(c);
        s = Regex.Replace(sb.ToString(), @"\b(a|an|the)\b", " ");
        return string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void GoldPositionsAsOneHotLogits_RecoverTheGoldAnswers()
    {
        var examples = _examples.Value;
        Assert.Equal(1190, examples.Count);
        Assert.Contains(examples, e => e.Context.Any(c => c > 127)); // non-ASCII contexts ("6½", accents)

        var tok = QaPreprocessingTests.Fast();
        var train = QuestionAnsweringPreprocessing.PrepareTrainFeatures(tok, examples);
        var val = QuestionAnsweringPreprocessing.PrepareValidationFeatures(tok, examples);
        Assert.Equal(train.Count, val.Count); // the same windows
        Assert.True(train.Count > examples.Count, "some contexts need more than one 384-token window");
        for (int i = 0; i < train.Count; i++)
        {
            Assert.Equal(train[i].InputIds, val[i].InputIds);
            Assert.Equal(train[i].ExampleId, val[i].ExampleId);
        }

        // Every example has its answer inside at least one window.
        var labelled = train.Where(f => f.StartPosition != 0).Select(f => f.ExampleIndex).ToHashSet();
        Assert.Equal(examples.Count, labelled.Count);

        // One-hot logits at the gold positions (a window without the answer points at CLS, whose offset is null).
        var start = train.Select(f => { var x = new float[f.InputIds.Length]; x[f.StartPosition] = 10; return x; }).ToArray();
        var end = train.Select(f => { var x = new float[f.InputIds.Length]; x[f.EndPosition] = 10; return x; }).ToArray();
        var result = QuestionAnsweringPostprocessing.PostprocessPredictions(examples, val, start, end);
        Assert.Equal(examples.Select(e => e.Id), result.Predictions.Keys);

        int exact = 0;
        var misses = new List<string>();
        foreach (var e in examples)
        {
            string predicted = result.Predictions[e.Id];
            if (Normalize(predicted) == Normalize(e.AnswerTexts[0])) exact++;
            else misses.Add($"{e.Id}: gold '{e.AnswerTexts[0]}' predicted '{predicted}'");
        }
        double rate = exact / (double)examples.Count;
        output.WriteLine($"exact match {rate:F4} ({exact}/{examples.Count}), {train.Count} features");
        foreach (var m in misses) output.WriteLine(m);
        // Measured: 1189/1190 (0.9992). A token-level span can only give back whole tokens, so a gold answer whose
        // boundary falls inside a token cannot be matched: the one miss, 5729e2316aef0514001550c5, has the gold text
        // "7,000,000 square kilometres (2,70" cut inside the token "700" of "(2,700,000 square miles)". The raw
        // texts also keep the tokens' leading spaces (" 308": the v4_template post-processor does not trim
        // byte-level offsets, as Hugging Face's DeBERTa tokenizer.json), which the normalization removes.
        Assert.True(rate >= 0.98, $"exact match {rate:F4} ({exact}/{examples.Count}); misses:\n{string.Join("\n", misses)}");
        Assert.True(misses.Count <= 1, string.Join("\n", misses));
        Assert.StartsWith(" ", result.Predictions[examples[0].Id]);
    }

    [Fact]
    public void SlowTokenizerOnTheRealVocabulary_WindowsAndLabelsXquadAsTheFastOne()
    {
        var examples = _examples.Value.Take(200).ToList();
        var slow = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("deberta-base-vocab"));
        var a = QuestionAnsweringPreprocessing.PrepareTrainFeatures(slow, examples, maxSeqLength: 128, docStride: 32);
        var b = QuestionAnsweringPreprocessing.PrepareTrainFeatures(QaPreprocessingTests.Fast(), examples, maxSeqLength: 128, docStride: 32);
        Assert.Equal(b.Count, a.Count);
        Assert.Equal(b.Select(f => (f.ExampleIndex, f.StartPosition, f.EndPosition)), a.Select(f => (f.ExampleIndex, f.StartPosition, f.EndPosition)));
        Assert.Equal(b.Select(f => f.InputIds.Length), a.Select(f => f.InputIds.Length));
        var va = QuestionAnsweringPreprocessing.PrepareValidationFeatures(slow, examples, maxSeqLength: 128, docStride: 32);
        var vb = QuestionAnsweringPreprocessing.PrepareValidationFeatures(QaPreprocessingTests.Fast(), examples, maxSeqLength: 128, docStride: 32);
        Assert.Equal(vb.Select(f => f.OffsetMapping), va.Select(f => f.OffsetMapping));
    }
}
