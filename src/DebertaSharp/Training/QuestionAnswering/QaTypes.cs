namespace DebertaSharp.Training;

/// <summary>
/// One extractive question-answering example (a SQuAD <c>qas</c> entry with its paragraph), as run_qa.py reads the
/// <c>id</c>, <c>question</c>, <c>context</c> and <c>answers</c> columns.
/// </summary>
/// <param name="Id">The example id (<c>id</c>); features point back to their example by it.</param>
/// <param name="Question">The question; <see cref="QuestionAnsweringPreprocessing"/> strips its leading whitespace.</param>
/// <param name="Context">The paragraph the answer is taken from.</param>
/// <param name="AnswerTexts">The answer texts (<c>answers["text"]</c>); empty for an unanswerable (SQuAD v2) question.</param>
/// <param name="AnswerStarts">
/// Where each answer starts, as a C# string index (UTF-16 code units) into <see cref="Context"/>. SQuAD files count
/// <c>answer_start</c> in Unicode code points (Python <c>str</c> indices); convert those with
/// <see cref="FromCodePointStarts"/>. Only the first answer labels training features, as in run_qa.py.
/// </param>
public sealed record QaExample(string Id, string Question, string Context, IReadOnlyList<string> AnswerTexts, IReadOnlyList<int> AnswerStarts)
{
    /// <summary>
    /// Creates an example whose answer starts are given in Unicode code points of <paramref name="context"/> (SQuAD's
    /// <c>answer_start</c>, a Python string index), converting them to UTF-16 indices. A start past the end of the
    /// context stays past it by the same number of characters and a negative one is kept, so a bad start still labels
    /// nothing (as in run_qa.py).
    /// </summary>
    public static QaExample FromCodePointStarts(string id, string question, string context, IReadOnlyList<string> answerTexts, IReadOnlyList<int> answerStartsInCodePoints)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(answerStartsInCodePoints);
        var starts = new int[answerStartsInCodePoints.Count];
        for (int i = 0; i < starts.Length; i++) starts[i] = TextIndex.CodePointToUtf16(context, answerStartsInCodePoints[i]);
        return new QaExample(id, question, context, answerTexts, starts);
    }
}

/// <summary>
/// One model input built from an example (run_qa.py's <c>prepare_train_features</c> / <c>prepare_validation_features</c>
/// rows): a <c>[CLS] question [SEP] context window [SEP]</c> sequence; a long context gives several features whose
/// windows overlap by the document stride.
/// </summary>
/// <param name="InputIds">Token ids (<c>input_ids</c>).</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding (<c>attention_mask</c>).</param>
/// <param name="TokenTypeIds">Token type ids (<c>token_type_ids</c>); null if the tokenizer gives none.</param>
/// <param name="ExampleIndex">Index in the example list of the example this feature comes from (<c>overflow_to_sample_mapping</c>).</param>
/// <param name="ExampleId">Id of that example (<c>example_id</c>).</param>
/// <param name="StartPosition">
/// Training features: the token index where the answer starts (<c>start_positions</c>), the <c>[CLS]</c> index when
/// the window does not contain the answer or the example has none. Validation features: -1 (unlabelled).
/// </param>
/// <param name="EndPosition">Training features: the token index where the answer ends (<c>end_positions</c>); validation features: -1.</param>
/// <param name="OffsetMapping">
/// Validation features: each token's <c>[start, end)</c> span in <see cref="QaExample.Context"/> as C# string indices
/// (UTF-16), null for tokens outside the context (question, special and padding tokens), as run_qa.py sets them to
/// <c>None</c>. Training features: null (run_qa.py drops the offsets).
/// </param>
public sealed record QaFeature(int[] InputIds, int[] AttentionMask, int[]? TokenTypeIds, int ExampleIndex, string ExampleId,
    int StartPosition, int EndPosition, (int Start, int End)?[]? OffsetMapping);

/// <summary>
/// One n-best answer of an example (an entry of utils_qa.py's <c>nbest_predictions.json</c>).
/// </summary>
/// <param name="Text">The answer text, a substring of the context (<c>""</c> for the null answer, <c>"empty"</c> for the fallback).</param>
/// <param name="Probability">
/// Softmax of the n-best scores. Computed in float32 as numpy does on float32 logits (the value is that float32,
/// widened); in float64 when the list holds the <c>"empty"</c> fallback, whose Python float scores make numpy's
/// array float64.
/// </param>
/// <param name="StartLogit">The start logit of the span's first token (a float32 widened; 0 for the fallback).</param>
/// <param name="EndLogit">The end logit of the span's last token (a float32 widened; 0 for the fallback).</param>
public sealed record QaPrediction(string Text, double Probability, double StartLogit, double EndLogit)
{
    /// <summary>
    /// The answer's <c>[start, end)</c> span in the context as C# string indices (UTF-16); <c>(0, 0)</c> for the null
    /// answer, null for the <c>"empty"</c> fallback. Not written to the JSON files (utils_qa.py pops it).
    /// </summary>
    public (int Start, int End)? Offsets { get; init; }
}

/// <summary>Converts between code-point indices (Python <c>str</c>, the tokenizer's offsets) and UTF-16 indices (C# <c>string</c>).</summary>
internal static class TextIndex
{
    /// <summary>Whether <paramref name="text"/> has surrogates, i.e. code-point and UTF-16 indices may differ.</summary>
    public static bool HasSurrogates(string text)
    {
        foreach (char c in text) if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>The UTF-16 index of code point <paramref name="cp"/> (past the end: the length plus the excess; negative: unchanged).</summary>
    public static int CodePointToUtf16(string text, int cp)
    {
        if (cp <= 0) return cp;
        int i = 0, n = 0;
        while (i < text.Length && n < cp)
        {
            i += char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            n++;
        }
        return i + (cp - n);
    }

    /// <summary>The number of code points in <paramref name="text"/>[0..<paramref name="utf16"/>) (past the end: the excess counts as code points).</summary>
    public static int Utf16ToCodePoint(string text, int utf16)
    {
        if (utf16 <= 0) return utf16;
        int i = 0, n = 0;
        int stop = Math.Min(utf16, text.Length);
        while (i < stop)
        {
            i += char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            n++;
        }
        return n + Math.Max(0, utf16 - text.Length);
    }

    /// <summary>The number of code points of <paramref name="text"/> (Python's <c>len</c>).</summary>
    public static int CodePointLength(string text) => Utf16ToCodePoint(text, text.Length);

    /// <summary>
    /// A table from code-point index (0..count) to UTF-16 index of <paramref name="text"/>, or null when the text has no
    /// surrogates (the indices are the same).
    /// </summary>
    public static int[]? CodePointTable(string text)
    {
        if (!HasSurrogates(text)) return null;
        var table = new List<int>(text.Length + 1);
        int i = 0;
        while (i < text.Length)
        {
            table.Add(i);
            i += char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
        }
        table.Add(text.Length);
        return [.. table];
    }
}
