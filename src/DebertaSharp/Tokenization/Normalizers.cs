using System.Globalization;
using System.Text;

namespace DebertaSharp.Tokenization;

/// <summary>
/// Text being tokenized, with the alignment of each of its UTF-16 units to the original input
/// (original UTF-16 indices; null arrays mean "identity shifted by <see cref="Base"/>").
/// </summary>
internal sealed class WorkText(string text, int[]? alignStart, int[]? alignEnd, int @base)
{
    public string Text { get; } = text;
    public int[]? AlignStart { get; } = alignStart;
    public int[]? AlignEnd { get; } = alignEnd;
    public int Base { get; } = @base;

    /// <summary>Original UTF-16 start of working char <paramref name="w"/>.</summary>
    public int OrigStart(int w) => AlignStart is null ? Base + w : AlignStart[w];

    /// <summary>Original UTF-16 end of the working range ending (exclusive) at <paramref name="wEnd"/>.</summary>
    public int OrigEnd(int wEnd) => AlignEnd is null ? Base + wEnd : AlignEnd[wEnd - 1];
}

/// <summary>A normalizer (tokenizers' <c>Normalizer</c>) that keeps the alignment to the original text.</summary>
internal abstract class Normalizer
{
    /// <summary>Normalizes <paramref name="text"/> whose chars align to [<paramref name="starts"/>[i], <paramref name="ends"/>[i]).</summary>
    public abstract (string Text, int[] Starts, int[] Ends) Apply(string text, int[] starts, int[] ends);

    /// <summary>Splits text into chunks of one code point followed by its combining marks.</summary>
    protected static IEnumerable<(int Start, int End)> Chunks(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            i += char.IsSurrogatePair(text, i) ? 2 : 1;
            while (i < text.Length)
            {
                var cat = CharUnicodeInfo.GetUnicodeCategory(text, i);
                if (cat is not (UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark)) break;
                i += char.IsSurrogatePair(text, i) ? 2 : 1;
            }
            yield return (start, i);
        }
    }

    /// <summary>
    /// Joins neighbouring chunks whose mapping is not the concatenation of their own mappings: characters that are
    /// not combining marks but still compose with what precedes them (Hangul jamo into a syllable under NFC, a
    /// half-width voiced sound mark into its kana under NFKC).
    /// </summary>
    private static IEnumerable<(int Start, int End)> JoinInteracting(string text, Func<string, string> map)
    {
        int gs = -1, ge = -1;
        string? mapped = null;
        foreach (var (a, b) in Chunks(text))
        {
            if (gs >= 0)
            {
                string joined = map(text[gs..b]);
                if (joined != mapped + map(text[a..b]))
                {
                    ge = b;
                    mapped = joined;
                    continue;
                }
                yield return (gs, ge);
            }
            gs = a;
            ge = b;
            mapped = map(text[a..b]);
        }
        if (gs >= 0) yield return (gs, ge);
    }

    /// <summary>
    /// Maps chunks through <paramref name="map"/>, aligning every output char to its whole chunk; with
    /// <paramref name="joinInteracting"/>, chunks that compose with each other are mapped together.
    /// </summary>
    protected static (string, int[], int[]) MapChunks(string text, int[] starts, int[] ends, Func<string, string> map, bool joinInteracting = false)
    {
        var sb = new StringBuilder(text.Length);
        var ns = new List<int>(text.Length);
        var ne = new List<int>(text.Length);
        foreach (var (a, b) in joinInteracting ? JoinInteracting(text, map) : Chunks(text))
        {
            string chunk = text[a..b];
            string m = map(chunk);
            if (m == chunk)
            {
                sb.Append(chunk);
                for (int k = a; k < b; k++) { ns.Add(starts[k]); ne.Add(ends[k]); }
                continue;
            }
            sb.Append(m);
            for (int k = 0; k < m.Length; k++) { ns.Add(starts[a]); ne.Add(ends[b - 1]); }
        }
        return (sb.ToString(), [.. ns], [.. ne]);
    }
}

/// <summary>Unicode normalization (NFC, NFD, NFKC, NFKD).</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    /// <summary>
    /// Whether this process can normalize in <paramref name="f"/>: a process in invariant globalization mode
    /// without ICU leaves non-ASCII text unchanged, which would be a silent difference.
    /// </summary>
    public static bool Available(NormalizationForm f)
    {
        try
        {
            return f switch
            {
                NormalizationForm.FormC => "e\u0301".Normalize(f) == "\u00E9",
                NormalizationForm.FormD => "\u00E9".Normalize(f) == "e\u0301",
                _ => "\uFF11\u00E9".Normalize(f) == (f == NormalizationForm.FormKC ? "1\u00E9" : "1e\u0301"),
            };
        }
        catch (PlatformNotSupportedException)
        {
            return false;
        }
    }

    public override (string, int[], int[]) Apply(string text, int[] starts, int[] ends) =>
        text.IsNormalized(form) ? (text, starts, ends) : MapChunks(text, starts, ends, c => c.Normalize(form), joinInteracting: true);
}

/// <summary>Lower-casing, code point by code point as Rust's <c>char::to_lowercase</c> (İ becomes i + U+0307).</summary>
internal sealed class LowercaseNormalizer : Normalizer
{
    public override (string, int[], int[]) Apply(string text, int[] starts, int[] ends) =>
        MapChunks(text, starts, ends, c => c.Replace("\u0130", "i\u0307").ToLowerInvariant());
}

/// <summary>Strips whitespace at the left and/or right.</summary>
internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override (string, int[], int[]) Apply(string text, int[] starts, int[] ends)
    {
        int a = 0, b = text.Length;
        if (left) while (a < b && char.IsWhiteSpace(text[a])) a++;
        if (right) while (b > a && char.IsWhiteSpace(text[b - 1])) b--;
        return (text[a..b], starts[a..b], ends[a..b]);
    }
}

/// <summary>A sequence of normalizers.</summary>
internal sealed class SequenceNormalizer(Normalizer[] steps) : Normalizer
{
    public override (string, int[], int[]) Apply(string text, int[] starts, int[] ends)
    {
        foreach (var s in steps) (text, starts, ends) = s.Apply(text, starts, ends);
        return (text, starts, ends);
    }
}
