namespace DebertaSharp.Tokenization;

/// <summary>
/// The bounds the tokenizer file readers (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json and friends)
/// put on what a file may ask for; each refusal is a <see cref="TokenizerFormatException"/> naming the file, the
/// section and the limit. They are generous: real vocabularies have tens to a few hundred thousand entries.
/// </summary>
internal static class TokenizerLimits
{
    /// <summary>
    /// The most vocabulary entries, and one more than the largest token id. The model keeps one slot per id up to the
    /// largest, so a single entry with id 2,000,000,000 would otherwise allocate 16 GB; the largest public vocabularies
    /// have about 256,000 tokens (deberta-v2-xxlarge: 128,000), so five million is a wide margin.
    /// </summary>
    internal const int MaxVocabSize = 5_000_000;

    /// <summary>The most merges: a BPE vocabulary holds one token per merge (plus its alphabet), so the vocabulary limit.</summary>
    internal const int MaxMerges = MaxVocabSize;

    /// <summary>
    /// The longest token (vocabulary entry, merge part or added token), in UTF-16 chars. Real tokens are words or word
    /// pieces (GPT-2's longest is 128 chars); the bound keeps every per-token string the readers build (a merge's two
    /// parts concatenated, added tokens normalized) small.
    /// </summary>
    internal const int MaxTokenLength = 16_384;

    /// <summary>
    /// Deepest JSON nesting accepted in tokenizer files (System.Text.Json's default, made explicit): tokenizer.json
    /// nests about six levels (a Sequence of normalizers inside the root), and the readers walk the tree recursively.
    /// </summary>
    internal const int MaxJsonDepth = 64;

    /// <summary>
    /// The largest tokenizer file read (tokenizer.json, vocab.json, merges.txt and the small JSON files): 256 MB. The
    /// readers hold a whole file as a JSON tree or as lines, several times its size in memory; the largest public
    /// tokenizer.json files are about 35 MB (a 256,000-token vocabulary with its merges).
    /// </summary>
    internal const long MaxFileBytes = 256L << 20;

    /// <summary>Refuses a file larger than <see cref="MaxFileBytes"/>.</summary>
    internal static void CheckFileSize(string path)
    {
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes)
            throw new TokenizerFormatException(path, $"the file has {length} bytes, more than the limit of {MaxFileBytes} (TokenizerLimits.MaxFileBytes)");
    }

    /// <summary>Refuses a vocabulary of more than <see cref="MaxVocabSize"/> entries.</summary>
    internal static void CheckVocabCount(int count, string source)
    {
        if (count > MaxVocabSize)
            throw new TokenizerFormatException(source, $"the vocabulary has {count} entries, more than the limit of {MaxVocabSize} (TokenizerLimits.MaxVocabSize)");
    }

    /// <summary>Refuses a vocabulary entry whose id is not below <see cref="MaxVocabSize"/> or whose token is too long.</summary>
    internal static void CheckVocabEntry(string token, int id, string source)
    {
        if (id >= MaxVocabSize)
            throw new TokenizerFormatException(source, $"the id {id} of '{Short(token)}' is not below the vocabulary limit of {MaxVocabSize} (TokenizerLimits.MaxVocabSize)");
        CheckToken(token, source, "vocabulary entry");
    }

    /// <summary>
    /// Refuses a fixed added-token id (tokenizer_config.json's <c>added_tokens_decoder</c>, added_tokens.json) that is
    /// negative or not below <see cref="MaxVocabSize"/>: the next free id is one past the largest, so an id of
    /// int.MaxValue would make a later token's id overflow to int.MinValue.
    /// </summary>
    internal static void CheckAddedTokenId(int id, string source, string key)
    {
        if (id < 0)
            throw new TokenizerFormatException(source, $"{key}: the id {id} is negative");
        if (id >= MaxVocabSize)
            throw new TokenizerFormatException(source, $"{key}: the id {id} is not below the vocabulary limit of {MaxVocabSize} (TokenizerLimits.MaxVocabSize)");
    }

    /// <summary>Refuses a token longer than <see cref="MaxTokenLength"/>.</summary>
    internal static void CheckToken(string token, string source, string what)
    {
        if (token.Length > MaxTokenLength)
            throw new TokenizerFormatException(source, $"{what} '{Short(token)}' is {token.Length} chars long, more than the limit of {MaxTokenLength} (TokenizerLimits.MaxTokenLength)");
    }

    /// <summary>Refuses the merge that would pass <see cref="MaxMerges"/> (<paramref name="count"/> merges read so far).</summary>
    internal static void CheckMergeCount(int count, string source)
    {
        if (count >= MaxMerges)
            throw new TokenizerFormatException(source, $"more than {MaxMerges} merges (TokenizerLimits.MaxMerges)");
    }

    private static string Short(string s) => s.Length > 40 ? s[..40] + "..." : s;
}
