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
/// change nothing; <see cref="EncodeSettings.MaxTokenCount"/> keeps the first tokens.
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
        int n = settings.MaxTokenCount is > 0 and var max && max < enc.Length ? max : enc.Length;
        int[] utf16 = CodePointToUtf16(s);
        var tokens = new List<EncodedToken>(n);
        int consumed = n == enc.Length ? s.Length : 0;
        for (int i = 0; i < n; i++)
        {
            var (start, end) = enc.Offsets[i];
            int a = utf16[Math.Min(start, utf16.Length - 1)], b = utf16[Math.Min(end, utf16.Length - 1)];
            tokens.Add(new EncodedToken(enc.Ids[i], enc.Tokens[i], new Range(a, b)));
            if (n < enc.Length) consumed = Math.Max(consumed, b);
        }
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = consumed };
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
        // The longest prefix of the ids whose text fits.
        idsConsumed = 0;
        charsWritten = 0;
        for (int k = 1; k < all.Length; k++)
        {
            string prefix = Decode(all.Take(k));
            if (prefix.Length > destination.Length) break;
            prefix.AsSpan().CopyTo(destination);
            idsConsumed = k;
            charsWritten = prefix.Length;
        }
        return OperationStatus.DestinationTooSmall;
    }

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
