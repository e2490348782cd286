using DebertaSharp.Tokenization;

namespace DebertaSharp.Training;

/// <summary>
/// Turns question-answering examples into model features as transformers 4.x's
/// <c>examples/pytorch/question-answering/run_qa.py</c> does (<c>prepare_train_features</c>,
/// <c>prepare_validation_features</c>): the question (left-stripped) and the context are encoded as a pair, the
/// context truncated into windows of <c>maxSeqLength</c> tokens that overlap by <c>docStride</c> tokens, one feature per
/// window, in example order and, within an example, window order.
/// </summary>
/// <remarks>
/// As in run_qa.py: the question goes first when the tokenizer pads on the right (<c>pad_on_right</c>, DeBERTa's
/// default), otherwise the context goes first and <c>only_first</c> truncation applies; the maximum length is
/// <c>min(maxSeqLength, tokenizer.ModelMaxLength)</c>; padding is <c>max_length</c> when <c>padToMaxLength</c>, none
/// otherwise (pad later, per batch). A question that leaves no room for the context, or a stride too large for the
/// room left, is a <see cref="TrainingDataException"/> naming the example (Hugging Face raises there too).
/// </remarks>
public static class QuestionAnsweringPreprocessing
{
    /// <summary>
    /// Training features (run_qa.py's <c>prepare_train_features</c>): each window is labelled with the token indices
    /// of the first answer's start and end, or with the <c>[CLS]</c> index when the window does not contain the whole
    /// answer or the example has no answer. <see cref="QaFeature.OffsetMapping"/> is null.
    /// </summary>
    /// <param name="tokenizer">The tokenizer (its <see cref="DebertaTokenizerBase.PaddingSide"/> decides the order of question and context).</param>
    /// <param name="examples">The examples; <see cref="QaFeature.ExampleIndex"/> indexes this list.</param>
    /// <param name="maxSeqLength">Maximum length of a feature, special tokens included (<c>max_seq_length</c>).</param>
    /// <param name="docStride">Tokens shared by consecutive windows of a context (<c>doc_stride</c>).</param>
    /// <param name="padToMaxLength">Pad every feature to the maximum length (<c>pad_to_max_length</c>).</param>
    public static List<QaFeature> PrepareTrainFeatures(DebertaTokenizerBase tokenizer, IReadOnlyList<QaExample> examples, int maxSeqLength = 384, int docStride = 128, bool padToMaxLength = true)
    {
        var features = new List<QaFeature>();
        int clsId = tokenizer?.ClsTokenId ?? throw new ArgumentNullException(nameof(tokenizer));
        int bosId = tokenizer.ConvertTokensToIds(tokenizer.BosToken);
        foreach (var (exampleIndex, window, contextSeq) in Windows(tokenizer, examples, maxSeqLength, docStride, padToMaxLength))
        {
            var example = examples[exampleIndex];
            int[] ids = window.Ids;
            // Impossible answers point at the CLS token (else the BOS token, else 0).
            int cls = Array.IndexOf(ids, clsId);
            if (cls < 0) cls = Array.IndexOf(ids, bosId);
            if (cls < 0) cls = 0;
            var (start, end) = example.AnswerStarts.Count == 0 ? (cls, cls) : Label(example, window, contextSeq, cls);
            features.Add(new QaFeature(ids, window.AttentionMask, window.TypeIds, exampleIndex, example.Id, start, end, null));
        }
        return features;
    }

    /// <summary>
    /// Validation (and prediction) features (run_qa.py's <c>prepare_validation_features</c>): each keeps its example's
    /// id and an offset mapping into the context, null for every token outside the context, which is what
    /// <see cref="QuestionAnsweringPostprocessing.PostprocessPredictions"/> needs. Start and end positions are -1.
    /// </summary>
    /// <param name="tokenizer">The tokenizer (its <see cref="DebertaTokenizerBase.PaddingSide"/> decides the order of question and context).</param>
    /// <param name="examples">The examples; <see cref="QaFeature.ExampleIndex"/> indexes this list.</param>
    /// <param name="maxSeqLength">Maximum length of a feature, special tokens included (<c>max_seq_length</c>).</param>
    /// <param name="docStride">Tokens shared by consecutive windows of a context (<c>doc_stride</c>).</param>
    /// <param name="padToMaxLength">Pad every feature to the maximum length (<c>pad_to_max_length</c>).</param>
    public static List<QaFeature> PrepareValidationFeatures(DebertaTokenizerBase tokenizer, IReadOnlyList<QaExample> examples, int maxSeqLength = 384, int docStride = 128, bool padToMaxLength = true)
    {
        var features = new List<QaFeature>();
        string? tableFor = null;
        int[]? table = null;
        foreach (var (exampleIndex, window, contextSeq) in Windows(tokenizer, examples, maxSeqLength, docStride, padToMaxLength))
        {
            var example = examples[exampleIndex];
            if (!ReferenceEquals(tableFor, example.Context)) { table = TextIndex.CodePointTable(example.Context); tableFor = example.Context; }
            var seq = window.SequenceIds;
            var offsets = new (int Start, int End)?[window.Length];
            for (int k = 0; k < offsets.Length; k++)
            {
                if (seq[k] != contextSeq) continue; // not part of the context: None
                var (s, e) = window.Offsets[k];
                // The tokenizer counts code points; QaFeature offsets are C# (UTF-16) indices into the context.
                offsets[k] = table is null ? (s, e) : (table[Math.Min(s, table.Length - 1)], table[Math.Min(e, table.Length - 1)]);
            }
            features.Add(new QaFeature(window.Ids, window.AttentionMask, window.TypeIds, exampleIndex, example.Id, -1, -1, offsets));
        }
        return features;
    }

    /// <summary>
    /// The start/end token labels of a window that has context tokens (run_qa.py's search loop), in code points as the
    /// tokenizer's offsets (Python's <c>answer_start</c> and <c>len(text)</c>).
    /// </summary>
    private static (int Start, int End) Label(QaExample example, Encoding window, int contextSeq, int cls)
    {
        if (example.AnswerTexts.Count == 0)
            throw new TrainingDataException(null, null, "answers", $"example '{example.Id}' has {example.AnswerStarts.Count} answer start(s) but no answer text");
        int startChar = TextIndex.Utf16ToCodePoint(example.Context, example.AnswerStarts[0]);
        int endChar = startChar + TextIndex.CodePointLength(example.AnswerTexts[0] ?? "");
        var seq = window.SequenceIds;
        var offsets = window.Offsets;

        // First and last context tokens of the window.
        int tokenStart = 0;
        while (tokenStart < seq.Length && seq[tokenStart] != contextSeq) tokenStart++;
        if (tokenStart == seq.Length)
            throw new TrainingDataException(null, null, "context", $"example '{example.Id}': a feature has no context token (empty context?)");
        int tokenEnd = window.Length - 1;
        while (seq[tokenEnd] != contextSeq) tokenEnd--;

        // The answer is not fully inside this window: label CLS.
        if (!(offsets[tokenStart].Start <= startChar && offsets[tokenEnd].End >= endChar)) return (cls, cls);

        // Move the two ends onto the answer. As in run_qa.py, the start walk runs over every token (special and
        // padding tokens have offsets (0, 0)), so an answer starting at the window's last context token is labelled
        // with the last index of the feature.
        while (tokenStart < offsets.Length && offsets[tokenStart].Start <= startChar) tokenStart++;
        while (tokenEnd >= 0 && offsets[tokenEnd].End >= endChar) tokenEnd--;
        // Python would wrap to offsets[-1] here and then fail with an IndexError (only for an empty answer at 0).
        if (tokenEnd < 0)
            throw new TrainingDataException(null, null, "answers", $"example '{example.Id}': the answer ends at character {endChar}, before the first token (run_qa.py fails here too)");
        return (tokenStart - 1, tokenEnd + 1);
    }

    /// <summary>
    /// Encodes every example (question left-stripped) as run_qa.py calls the tokenizer and yields its windows: the
    /// main encoding, then its overflowing windows (<c>overflow_to_sample_mapping</c>), with the sequence id of the context.
    /// </summary>
    private static IEnumerable<(int ExampleIndex, Encoding Window, int ContextSeq)> Windows(DebertaTokenizerBase tokenizer, IReadOnlyList<QaExample> examples,
        int maxSeqLength, int docStride, bool padToMaxLength)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSeqLength);
        ArgumentOutOfRangeException.ThrowIfNegative(docStride);
        for (int i = 0; i < examples.Count; i++)
        {
            var e = examples[i] ?? throw new ArgumentNullException(nameof(examples), $"example {i} is null");
            if (e.Question is null || e.Context is null || e.Id is null || e.AnswerStarts is null || e.AnswerTexts is null)
                throw new ArgumentException($"example {i} ('{e.Id}') has a null id, question, context or answer list", nameof(examples));
        }
        return Iterate(tokenizer, examples, maxSeqLength, docStride, padToMaxLength);
    }

    private static IEnumerable<(int, Encoding, int)> Iterate(DebertaTokenizerBase tokenizer, IReadOnlyList<QaExample> examples, int maxSeqLength, int docStride, bool padToMaxLength)
    {
        // run_qa.py: max_seq_length = min(max_seq_length, tokenizer.model_max_length); pad_on_right = padding_side == "right".
        int maxLength = tokenizer.ModelMaxLength is int m ? Math.Min(maxSeqLength, m) : maxSeqLength;
        bool padOnRight = tokenizer.PaddingSide == Side.Right;
        int contextSeq = padOnRight ? 1 : 0;
        var options = new EncodeOptions
        {
            Truncation = padOnRight ? TruncationStrategy.OnlySecond : TruncationStrategy.OnlyFirst,
            MaxLength = maxLength,
            Stride = docStride,
            ReturnOverflowingTokens = true,
            Padding = padToMaxLength ? PaddingStrategy.MaxLength : PaddingStrategy.None,
        };
        for (int i = 0; i < examples.Count; i++)
        {
            var ex = examples[i];
            string question = LStrip(ex.Question);
            var pair = padOnRight ? (question, ex.Context) : (ex.Context, question);
            Encoding encoding;
            try
            {
                // A batch of one: unlike a single call, a batch keeps an empty second text as a pair (as transformers 4.x's batch call).
                encoding = tokenizer.EncodeBatch([pair], options)[0];
            }
            catch (ArgumentException err)
            {
                throw new TrainingDataException(null, null, "question", $"example {i} ('{ex.Id}') cannot be encoded into features of {maxLength} tokens with a stride of {docStride}: {err.Message}", err);
            }
            yield return (i, encoding, contextSeq);
            foreach (var o in encoding.Overflowing) yield return (i, o, contextSeq);
        }
    }

    /// <summary>Python's <c>str.lstrip()</c>: removes leading Unicode whitespace (Python's <c>isspace</c>, which also counts U+001C..U+001F).</summary>
    internal static string LStrip(string s)
    {
        int i = 0;
        while (i < s.Length && (char.IsWhiteSpace(s[i]) || s[i] is >= '\u001C' and <= '\u001F')) i++;
        return i == 0 ? s : s[i..];
    }
}
