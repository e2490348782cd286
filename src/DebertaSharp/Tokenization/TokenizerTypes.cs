namespace DebertaSharp.Tokenization;

/// <summary>
/// A token added to the vocabulary on top of the BPE model (Hugging Face's <c>AddedToken</c>): it is matched in
/// the raw text before pre-tokenization and never split.
/// </summary>
/// <param name="Content">The token's text.</param>
/// <param name="SingleWord">Match only when not inside a word.</param>
/// <param name="LStrip">Also take the whitespace on its left.</param>
/// <param name="RStrip">Also take the whitespace on its right.</param>
/// <param name="Normalized">Match against the normalized text rather than the raw text.</param>
/// <param name="Special">A special token (skipped by <c>Decode(skipSpecialTokens: true)</c>).</param>
public sealed record AddedToken(string Content, bool SingleWord = false, bool LStrip = false, bool RStrip = false, bool Normalized = false, bool Special = false);

/// <summary>Which pieces to cut when a sequence is too long (Hugging Face's <c>truncation</c> argument).</summary>
public enum TruncationStrategy
{
    /// <summary>No truncation (<c>do_not_truncate</c>).</summary>
    None,
    /// <summary>Remove tokens from the longest sequence first (<c>longest_first</c>).</summary>
    LongestFirst,
    /// <summary>Truncate only the first sequence (<c>only_first</c>).</summary>
    OnlyFirst,
    /// <summary>Truncate only the second sequence of a pair (<c>only_second</c>).</summary>
    OnlySecond,
}

/// <summary>How to pad (Hugging Face's <c>padding</c> argument).</summary>
public enum PaddingStrategy
{
    /// <summary>No padding (<c>do_not_pad</c>).</summary>
    None,
    /// <summary>Pad to the longest sequence of the batch (<c>longest</c>).</summary>
    Longest,
    /// <summary>Pad to <see cref="EncodeOptions.MaxLength"/> (<c>max_length</c>).</summary>
    MaxLength,
}

/// <summary>The side where padding is added or truncation removes tokens.</summary>
public enum Side
{
    /// <summary>The end of the sequence.</summary>
    Right,
    /// <summary>The start of the sequence.</summary>
    Left,
}

/// <summary>Options of <see cref="DebertaTokenizerBase.Encode(string, string?, EncodeOptions?)"/> and friends, with Hugging Face's meaning.</summary>
public sealed record EncodeOptions
{
    /// <summary>Add <c>[CLS]</c>/<c>[SEP]</c> (the post-processor's template). Default true.</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>
    /// Truncation strategy. Null means Hugging Face's default: <see cref="TruncationStrategy.LongestFirst"/> when
    /// <see cref="MaxLength"/> is set and no padding is asked for, otherwise none.
    /// </summary>
    public TruncationStrategy? Truncation { get; init; }

    /// <summary>Maximum length (special tokens included) for truncation and <see cref="PaddingStrategy.MaxLength"/> padding; null uses the tokenizer's <c>model_max_length</c>.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Overlap between a truncated sequence and its overflowing pieces.</summary>
    public int Stride { get; init; }

    /// <summary>
    /// Keep the pieces cut off by truncation in <see cref="Encoding.Overflowing"/> (<c>return_overflowing_tokens</c>).
    /// Default false: the pieces are dropped, so a long pair truncated to a short length cannot multiply into
    /// every combination of its pieces.
    /// </summary>
    public bool ReturnOverflowingTokens { get; init; }

    /// <summary>Padding strategy. Default none.</summary>
    public PaddingStrategy Padding { get; init; } = PaddingStrategy.None;

    /// <summary>
    /// Length that <see cref="PaddingStrategy.MaxLength"/> pads to when it differs from the truncation length (a
    /// tokenizer.json <c>padding</c> section with a <c>Fixed</c> length, independent of its <c>truncation</c>
    /// section's <c>max_length</c>); null pads to <see cref="MaxLength"/>.
    /// </summary>
    public int? PaddingLength { get; init; }

    /// <summary>Round the padded length up to a multiple of this.</summary>
    public int? PadToMultipleOf { get; init; }

    /// <summary>Padding side; null uses the tokenizer's <see cref="DebertaTokenizerBase.PaddingSide"/>.</summary>
    public Side? PaddingSide { get; init; }

    /// <summary>Truncation side; null uses the tokenizer's <see cref="DebertaTokenizerBase.TruncationSide"/>.</summary>
    public Side? TruncationSide { get; init; }

    /// <summary>
    /// The inputs are lists of words (<c>is_split_into_words</c>); <see cref="Encoding.WordIds"/> then index them. The
    /// overloads taking <c>IReadOnlyList&lt;string&gt;</c> always encode words; with a plain string this is an error (as in Hugging Face).
    /// </summary>
    public bool IsSplitIntoWords { get; init; }

    /// <summary>The defaults: special tokens, no truncation, no padding.</summary>
    public static EncodeOptions Default { get; } = new();
}

/// <summary>
/// The result of encoding one input (Hugging Face's <c>Encoding</c>): parallel arrays, one entry per token.
/// Offsets are <c>[start, end)</c> in Unicode code points of the input, <c>(0, 0)</c> for special and padding tokens.
/// </summary>
public sealed record Encoding
{
    /// <summary>Token ids.</summary>
    public required int[] Ids { get; init; }

    /// <summary>Token type (segment) ids.</summary>
    public required int[] TypeIds { get; init; }

    /// <summary>Token strings as produced by the tokenizer (an added token keeps the whitespace it stripped).</summary>
    public required string[] Tokens { get; init; }

    /// <summary>Character offsets of each token in its input, in code points.</summary>
    public required (int Start, int End)[] Offsets { get; init; }

    /// <summary>1 for tokens added by the post-processor or padding, else 0.</summary>
    public required int[] SpecialTokensMask { get; init; }

    /// <summary>1 for real tokens, 0 for padding.</summary>
    public required int[] AttentionMask { get; init; }

    /// <summary>Index of the word each token comes from (null for special and padding tokens).</summary>
    public required int?[] WordIds { get; init; }

    /// <summary>0 or 1: which input of a pair each token comes from (null for special and padding tokens).</summary>
    public required int?[] SequenceIds { get; init; }

    /// <summary>The pieces cut off by truncation, each post-processed and padded like this one (with <see cref="EncodeOptions.ReturnOverflowingTokens"/>).</summary>
    public IReadOnlyList<Encoding> Overflowing { get; init; } = [];

    /// <summary>Number of tokens.</summary>
    public int Length => Ids.Length;
}

/// <summary>The encodings of a batch, in input order (Hugging Face's <c>BatchEncoding</c>).</summary>
/// <param name="Encodings">One encoding per input.</param>
public sealed record BatchEncoding(IReadOnlyList<Encoding> Encodings)
{
    /// <summary>Number of inputs.</summary>
    public int Count => Encodings.Count;

    /// <summary>The encoding of input <paramref name="index"/>.</summary>
    public Encoding this[int index] => Encodings[index];

    /// <summary>The ids of every input.</summary>
    public int[][] InputIds => [.. Encodings.Select(e => e.Ids)];

    /// <summary>The attention masks of every input.</summary>
    public int[][] AttentionMask => [.. Encodings.Select(e => e.AttentionMask)];

    /// <summary>The token type ids of every input.</summary>
    public int[][] TokenTypeIds => [.. Encodings.Select(e => e.TypeIds)];
}

/// <summary>A tokenizer file (vocab.json, merges.txt, tokenizer.json, tokenizer_config.json…) that cannot be used.</summary>
public sealed class TokenizerFormatException : Exception
{
    /// <summary>The file (or file and section) at fault.</summary>
    public string FilePath { get; }

    /// <summary>Creates the exception; the message names <paramref name="source"/>.</summary>
    public TokenizerFormatException(string source, string message, Exception? inner = null)
        : base($"{source}: {message}", inner) => FilePath = source;
}
