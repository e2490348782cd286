using DebertaSharp.Tokenization;

namespace DebertaSharp.Training;

/// <summary>
/// The data preparation of transformers' <c>examples/pytorch/language-modeling/run_mlm.py</c> (v4.40): the
/// <c>line_by_line</c> path (one example per non-blank line, truncated) and the default path (tokenize every text,
/// concatenate and cut into blocks of <c>max_seq_length</c>, <c>group_texts</c>).
/// </summary>
public static class MlmData
{
    /// <summary>The batch size of <c>datasets.Dataset.map(batched=True)</c>, which run_mlm does not change.</summary>
    public const int DefaultMapBatchSize = 1000;

    /// <summary>
    /// run_mlm's <c>max_seq_length</c>: without a value, the tokenizer's <c>model_max_length</c> capped at 1024 (an
    /// unbounded one gives 1024); with one, the smaller of it and <c>model_max_length</c>.
    /// </summary>
    public static int ResolveMaxSeqLength(DebertaTokenizerBase tokenizer, int? maxSeqLength)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (maxSeqLength is <= 0) throw new ArgumentOutOfRangeException(nameof(maxSeqLength), $"maxSeqLength must be positive, not {maxSeqLength}");
        int? modelMax = tokenizer.ModelMaxLength; // null: unbounded (transformers' VERY_LARGE_INTEGER)
        if (maxSeqLength is int given) return modelMax is int mm ? Math.Min(given, mm) : given;
        return modelMax is int m && m <= 1024 ? m : 1024;
    }

    /// <summary>
    /// run_mlm's <c>group_texts</c> on one column, applied as <c>map(batched=True, batch_size=batchSize)</c>: each run of
    /// <paramref name="batchSize"/> sequences is concatenated, its last <c>total % blockSize</c> tokens dropped (a run
    /// shorter than a block yields nothing), and the rest cut into blocks of <paramref name="blockSize"/>.
    /// </summary>
    /// <param name="tokenized">The sequences (one per text), in dataset order.</param>
    /// <param name="blockSize">The block length (<c>max_seq_length</c>).</param>
    /// <param name="batchSize">The map batch size; the remainder is dropped per batch, as in run_mlm.</param>
    public static List<int[]> GroupTexts(IReadOnlyList<int[]> tokenized, int blockSize, int batchSize = DefaultMapBatchSize)
    {
        ArgumentNullException.ThrowIfNull(tokenized);
        CheckSizes(blockSize, batchSize);
        var blocks = new List<int[]>();
        var concatenated = new List<int>();
        for (int start = 0; start < tokenized.Count; start += batchSize)
        {
            // concatenated_examples = chain(*examples[k]) over this map batch.
            concatenated.Clear();
            for (int i = start; i < Math.Min(start + batchSize, tokenized.Count); i++)
                concatenated.AddRange(tokenized[i] ?? throw new ArgumentException($"sequence {i} is null", nameof(tokenized)));
            int total = concatenated.Count / blockSize * blockSize; // drop the small remainder
            for (int i = 0; i < total; i += blockSize) blocks.Add([.. concatenated.GetRange(i, blockSize)]);
        }
        return blocks;
    }

    /// <summary>
    /// <see cref="GroupTexts(IReadOnlyList{int[]}, int, int)"/> on every column of the examples (ids, attention mask,
    /// special-tokens mask), so that the blocks of the columns line up. Every example must have the same columns.
    /// </summary>
    public static List<MlmExample> GroupTexts(IReadOnlyList<MlmExample> examples, int blockSize, int batchSize = DefaultMapBatchSize)
    {
        ArgumentNullException.ThrowIfNull(examples);
        CheckSizes(blockSize, batchSize);
        if (examples.Count == 0) return [];
        bool hasAttention = examples[0]?.AttentionMask is not null, hasSpecial = examples[0]?.SpecialTokensMask is not null;
        for (int i = 0; i < examples.Count; i++)
        {
            var e = examples[i] ?? throw new ArgumentException($"example {i} is null", nameof(examples));
            if (e.InputIds is null) throw new ArgumentException($"example {i} has no input ids", nameof(examples));
            if ((e.AttentionMask is not null) != hasAttention || (e.SpecialTokensMask is not null) != hasSpecial)
                throw new ArgumentException($"example {i} does not have the same columns as example 0", nameof(examples));
            if ((e.AttentionMask?.Length ?? e.InputIds.Length) != e.InputIds.Length || (e.SpecialTokensMask?.Length ?? e.InputIds.Length) != e.InputIds.Length)
                throw new ArgumentException($"example {i}: its columns differ in length", nameof(examples));
        }
        var ids = GroupTexts([.. examples.Select(e => e.InputIds)], blockSize, batchSize);
        var attention = hasAttention ? GroupTexts([.. examples.Select(e => e.AttentionMask!)], blockSize, batchSize) : null;
        var special = hasSpecial ? GroupTexts([.. examples.Select(e => e.SpecialTokensMask!)], blockSize, batchSize) : null;
        return [.. ids.Select((b, i) => new MlmExample(b, attention?[i], special?[i]))];
    }

    /// <summary>
    /// run_mlm's <c>line_by_line</c> path: drops empty and whitespace-only lines (Python's <c>str.isspace</c>), then
    /// <c>tokenizer(lines, truncation=True, max_length=max_seq_length, return_special_tokens_mask=True)</c>, padding to
    /// <c>max_seq_length</c> with <paramref name="padToMaxLength"/> (<c>--pad_to_max_length</c>).
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="lines">The lines of text.</param>
    /// <param name="maxSeqLength"><c>--max_seq_length</c>; resolved by <see cref="ResolveMaxSeqLength"/>.</param>
    /// <param name="padToMaxLength">Pad every example to <c>max_seq_length</c>.</param>
    public static List<MlmExample> TokenizeLineByLine(DebertaTokenizerBase tokenizer, IReadOnlyList<string> lines, int? maxSeqLength = null,
        bool padToMaxLength = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(lines);
        int max = ResolveMaxSeqLength(tokenizer, maxSeqLength);
        var kept = lines.Where(l => l is not null && l.Length > 0 && !IsPythonSpace(l)).ToList();
        if (kept.Count == 0) return [];
        var options = EncodeOptions.Default with
        {
            Truncation = TruncationStrategy.LongestFirst,
            MaxLength = max,
            Padding = padToMaxLength ? PaddingStrategy.MaxLength : PaddingStrategy.None,
        };
        return ToExamples(tokenizer.EncodeBatch(kept, options));
    }

    /// <summary>
    /// run_mlm's default path: <c>tokenizer(texts, return_special_tokens_mask=True)</c> (no truncation, every text
    /// kept, an empty one giving <c>[CLS] [SEP]</c>), then <see cref="GroupTexts(IReadOnlyList{MlmExample}, int, int)"/>
    /// into blocks of <c>max_seq_length</c> per map batch of <paramref name="batchSize"/> texts.
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="texts">The texts (the dataset's text column).</param>
    /// <param name="maxSeqLength"><c>--max_seq_length</c>; resolved by <see cref="ResolveMaxSeqLength"/>.</param>
    /// <param name="batchSize">The map batch size of the grouping.</param>
    public static List<MlmExample> TokenizeAndGroup(DebertaTokenizerBase tokenizer, IReadOnlyList<string> texts, int? maxSeqLength = null,
        int batchSize = DefaultMapBatchSize)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        int max = ResolveMaxSeqLength(tokenizer, maxSeqLength);
        if (texts.Count == 0) return [];
        var options = EncodeOptions.Default with { Truncation = TruncationStrategy.None };
        return GroupTexts(ToExamples(tokenizer.EncodeBatch(texts, options)), max, batchSize);
    }

    private static List<MlmExample> ToExamples(BatchEncoding batch) =>
        [.. batch.Encodings.Select(e => new MlmExample(e.Ids, e.AttentionMask, e.SpecialTokensMask))];

    private static void CheckSizes(int blockSize, int batchSize)
    {
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize), $"blockSize must be positive, not {blockSize}");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batchSize must be positive, not {batchSize}");
    }

    /// <summary>
    /// Python's <c>str.isspace</c> for a non-empty string: every character is whitespace. Python also counts
    /// U+001C..U+001F (information separators), which .NET's <see cref="char.IsWhiteSpace(char)"/> does not.
    /// </summary>
    internal static bool IsPythonSpace(string s)
    {
        foreach (char c in s)
            if (!char.IsWhiteSpace(c) && c is not (>= '\u001c' and <= '\u001f')) return false;
        return true;
    }
}
