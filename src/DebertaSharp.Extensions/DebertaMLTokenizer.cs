using System.Buffers;
using DebertaSharp.Tokenization;
using Microsoft.ML.Tokenizers;

namespace DebertaSharp.Extensions;

/// <summary>Options of <see cref="DebertaMLTokenizer"/>, named as Hugging Face's tokenizer arguments.</summary>
public sealed record DebertaMLTokenizerOptions
{
    /// <summary>Adds <c>[CLS]</c> / <c>[SEP]</c> as <c>tokenizer(text)</c> does (<c>add_special_tokens</c>); they count as
    /// tokens and have empty offsets. False for the content tokens only (what a token counter or chunker usually wants).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Leaves special tokens out of <see cref="Tokenizer.Decode(IEnumerable{int})"/>'s text (<c>skip_special_tokens</c>).</summary>
    public bool SkipSpecialTokens { get; init; }
}

/// <summary>
/// A DeBERTa tokenizer (<see cref="DebertaTokenizerBase"/>, slow or fast) as a <c>Microsoft.ML.Tokenizers</c>
/// <see cref="Tokenizer"/>, for libraries that take that abstraction (token counting, chunking, Semantic Kernel...).
/// Ids are our tokenizer's (Hugging Face's); offsets are converted from its code points to the UTF-16 ranges that
/// <see cref="EncodedToken.Offset"/> holds. Normalization and pre-tokenization are the tokenizer's own and always
/// applied, so <see cref="EncodeSettings.ConsiderNormalization"/> and <see cref="EncodeSettings.ConsiderPreTokenization"/>
/// change nothing; <see cref="EncodeSettings.MaxTokenCount"/> keeps the first tokens that make whole characters.
/// </summary>
public sealed class DebertaMLTokenizer : Tokenizer
{
    private readonly DebertaTokenizerBase _tokenizer;
    private readonly EncodeOptions _encodeOptions;

    /// <summary>Wraps <paramref name="tokenizer"/>.</summary>
    /// <param name="tokenizer">The DeBERTa tokenizer.</param>
    /// <param name="options">Special tokens; null for the defaults.</param>
    public DebertaMLTokenizer(DebertaTokenizerBase tokenizer, DebertaMLTokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        Options = options ?? new DebertaMLTokenizerOptions();
        _encodeOptions = new EncodeOptions { AddSpecialTokens = Options.AddSpecialTokens };
    }

    /// <summary>Loads a tokenizer folder (<see cref="DebertaTokenizerBase.FromPretrained"/>) and wraps it.</summary>
    /// <param name="directory">A folder with tokenizer.json, or vocab.json and merges.txt.</param>
    /// <param name="options">Special tokens; null for the defaults.</param>
    public static DebertaMLTokenizer FromPretrained(string directory, DebertaMLTokenizerOptions? options = null) =>
        new(DebertaTokenizerBase.FromPretrained(directory), options);

    /// <summary>The wrapped tokenizer.</summary>
    public DebertaTokenizerBase InnerTokenizer => _tokenizer;

    /// <summary>The options.</summary>
    public DebertaMLTokenizerOptions Options { get; }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string s = text ?? textSpan.ToString();
        var enc = _tokenizer.Encode(s, options: _encodeOptions);
        int n = settings.MaxTokenCount is > 0 and var max && max < enc.Length ? CleanCut(enc, max) : enc.Length;
        int[] utf16 = CodePointToUtf16(s);
        var tokens = new List<EncodedToken>(n);
        for (int i = 0; i < n; i++)
        {
            var (start, end) = enc.Offsets[i];
            tokens.Add(new EncodedToken(enc.Ids[i], enc.Tokens[i], new Range(Utf16At(utf16, start), Utf16At(utf16, end))));
        }
        int consumed = n == enc.Length ? s.Length : Utf16At(utf16, Reach(enc, 0, n, fromEnd: false));
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = consumed };
    }

    /// <inheritdoc/>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        normalizedText = null;
        string s = text ?? textSpan.ToString();
        var enc = _tokenizer.Encode(s, options: _encodeOptions);
        int max = settings.MaxTokenCount;
        if (max >= enc.Length)
        {
            tokenCount = enc.Length;
            return fromEnd ? 0 : s.Length;
        }
        int[] utf16 = CodePointToUtf16(s);
        if (!fromEnd)
        {
            tokenCount = CleanCut(enc, Math.Max(max, 0));
            return Utf16At(utf16, Reach(enc, 0, tokenCount, fromEnd: false));
        }
        // The last tokens: the first kept one moves right until it starts a character of its own.
        int first = enc.Length - Math.Max(max, 0);
        while (first < enc.Length && SharesCharacterWithPrevious(enc, first)) first++;
        tokenCount = enc.Length - first;
        return Utf16At(utf16, Reach(enc, first, enc.Length, fromEnd: true));
    }

    /// <summary>
    /// At most <paramref name="n"/> first tokens, ending on a whole character: a character the byte-level encoding
    /// splits into several tokens (an emoji, say) is covered by each of them, and is kept whole or not at all.
    /// </summary>
    private static int CleanCut(Tokenization.Encoding enc, int n)
    {
        while (n > 0 && n < enc.Length && SharesCharacterWithPrevious(enc, n)) n--;
        return n;
    }

    // Whether token i covers (part of) the last character of token i - 1; special tokens cover nothing.
    private static bool SharesCharacterWithPrevious(Tokenization.Encoding enc, int i) =>
        i > 0 && enc.SpecialTokensMask[i] == 0 && enc.SpecialTokensMask[i - 1] == 0 && enc.Offsets[i].Start < enc.Offsets[i - 1].End;

    /// <summary>
    /// The code point where tokens [<paramref name="from"/>, <paramref name="to"/>) end (the furthest end of a content
    /// token; 0 with none) or, <paramref name="fromEnd"/>, start (the first content token's start; the text's end with none).
    /// </summary>
    private static int Reach(Tokenization.Encoding enc, int from, int to, bool fromEnd)
    {
        int edge = fromEnd ? int.MaxValue : 0;
        for (int i = from; i < to; i++)
        {
            if (enc.SpecialTokensMask[i] != 0) continue;
            edge = fromEnd ? Math.Min(edge, enc.Offsets[i].Start) : Math.Max(edge, enc.Offsets[i].End);
        }
        return edge;   // int.MaxValue is clamped to the text's end by the caller
    }

    /// <inheritdoc/>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var r = EncodeToTokens(text, textSpan, settings);
        return new EncodeResults<int> { Tokens = [.. r.Tokens.Select(t => t.Id)], NormalizedText = null, CharsConsumed = r.CharsConsumed };
    }

    /// <inheritdoc/>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings) =>
        EncodeToTokens(text, textSpan, settings).Tokens.Count;

    /// <inheritdoc/>
    public override string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, skipSpecialTokens: Options.SkipSpecialTokens);

    /// <inheritdoc/>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] all = [.. ids];
        string whole = Decode(all);
        if (whole.Length <= destination.Length)
        {
            whole.AsSpan().CopyTo(destination);
            idsConsumed = all.Length;
            charsWritten = whole.Length;
            return OperationStatus.Done;
        }
        // The most ids whose text fits and is the start of the whole text (a prefix ending inside a character decodes
        // as U+FFFD, which is not): a binary search on the prefix length (longer prefixes decode to longer texts), then
        // back to a prefix of the whole.
        int lo = 0, hi = all.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (Decode(all.Take(mid)).Length <= destination.Length) lo = mid; else hi = mid - 1;
        }
        string prefix = Decode(all.Take(lo));
        while (lo > 0 && (prefix.Length > destination.Length || !whole.StartsWith(prefix, StringComparison.Ordinal)))
            prefix = Decode(all.Take(--lo));
        prefix.AsSpan().CopyTo(destination);
        idsConsumed = lo;
        charsWritten = prefix.Length;
        return OperationStatus.DestinationTooSmall;
    }

    /// <summary>The UTF-16 index of code point <paramref name="codePoint"/>; the text's end for one at or past it.</summary>
    private static int Utf16At(int[] utf16, int codePoint) => utf16[Math.Min(codePoint, utf16.Length - 1)];

    /// <summary>UTF-16 index of each code point of <paramref name="s"/>, and of its end (one entry more).</summary>
    private static int[] CodePointToUtf16(string s)
    {
        var map = new List<int>(s.Length + 1);
        for (int i = 0; i < s.Length; i++)
        {
            map.Add(i);
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
        }
        map.Add(s.Length);
        return [.. map];
    }
}
