using System.Globalization;
using System.Text;

namespace DebertaSharp.Training;

/// <summary>
/// The few Python 3 <c>str</c> semantics the metric ports depend on, over code points (Python indexes strings by code
/// point, .NET by UTF-16 unit): <c>str.lower()</c>, <c>str.isspace()</c>/<c>str.split()</c>, the <c>\w</c> class of
/// <c>re</c> for str patterns, and the code-point order of <c>sorted()</c>. Lone surrogates pass through unchanged.
/// </summary>
internal static class PythonText
{
    /// <summary>Python's <c>string.punctuation</c> (ASCII only).</summary>
    internal const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>
    /// <c>str.isspace()</c> for one UTF-16 unit (every Python whitespace character is in the BMP): .NET's
    /// <see cref="char.IsWhiteSpace(char)"/> plus the information separators U+001C..U+001F, which Python also counts.
    /// </summary>
    internal static bool IsWhiteSpace(char c) => char.IsWhiteSpace(c) || (c >= '\u001C' && c <= '\u001F');

    /// <summary><c>s.split()</c>: splits on runs of Python whitespace and drops empty pieces.</summary>
    internal static List<string> SplitWhitespace(string s)
    {
        var parts = new List<string>();
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && IsWhiteSpace(s[i])) i++;
            int start = i;
            while (i < s.Length && !IsWhiteSpace(s[i])) i++;
            if (i > start) parts.Add(s[start..i]);
        }
        return parts;
    }

    /// <summary>
    /// Reads the code point at <paramref name="index"/>: a surrogate pair gives one code point of length 2, a lone
    /// surrogate gives its own value (length 1), as a Python str holds it.
    /// </summary>
    internal static int CodePointAt(string s, int index, out int length)
    {
        if (char.IsHighSurrogate(s[index]) && index + 1 < s.Length && char.IsLowSurrogate(s[index + 1]))
        {
            length = 2;
            return char.ConvertToUtf32(s[index], s[index + 1]);
        }
        length = 1;
        return s[index];
    }

    private static UnicodeCategory Category(int codePoint) =>
        IsSurrogate(codePoint) ? UnicodeCategory.Surrogate : CharUnicodeInfo.GetUnicodeCategory(codePoint);

    private static bool IsSurrogate(int codePoint) => codePoint is >= 0xD800 and <= 0xDFFF;

    /// <summary>
    /// A character of <c>re</c>'s <c>\w</c> for str patterns: <c>str.isalnum()</c> (letters Lu/Ll/Lt/Lm/Lo and
    /// numerics Nd/Nl/No) or the underscore. Unlike .NET's <c>\w</c> this excludes combining marks (Mn) and
    /// connector punctuation other than '_', and includes Nl/No and astral letters.
    /// </summary>
    internal static bool IsWordCodePoint(int codePoint) => codePoint == '_' || Category(codePoint) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => true,
        _ => false,
    };

    /// <summary>
    /// <c>str.lower()</c>: the invariant simple lowercase mapping per code point, plus the two places where Python's
    /// full mapping differs: U+0130 (capital I with dot) becomes "i\u0307", and a capital sigma in the Final_Sigma
    /// context becomes U+03C2 (final small sigma). "Cased" and "case-ignorable" follow the Unicode definitions by
    /// general category (Other_Lowercase/Other_Uppercase characters outside Ll/Lu/Lt are not counted as cased).
    /// </summary>
    internal static string Lower(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length;)
        {
            int cp = CodePointAt(s, i, out int len);
            if (cp == 0x0130) sb.Append("i\u0307");
            else if (cp == 0x03A3) sb.Append(IsFinalSigma(s, i) ? '\u03C2' : '\u03C3');
            else if (IsSurrogate(cp)) sb.Append((char)cp);
            else sb.Append(Rune.ToLowerInvariant(new Rune(cp)).ToString());
            i += len;
        }
        return sb.ToString();
    }

    // Final_Sigma: \p{cased} \p{case-ignorable}* SIGMA !( \p{case-ignorable}* \p{cased} ), as CPython's
    // handle_capital_sigma reads it.
    private static bool IsFinalSigma(string s, int sigmaIndex)
    {
        int j = sigmaIndex;
        int before = -1;
        while (j > 0)
        {
            j--;
            if (char.IsLowSurrogate(s[j]) && j > 0 && char.IsHighSurrogate(s[j - 1])) j--;
            int cp = CodePointAt(s, j, out _);
            if (!IsCaseIgnorable(cp)) { before = cp; break; }
        }
        if (before < 0 || !IsCased(before)) return false;
        for (int k = sigmaIndex + 1; k < s.Length;)
        {
            int cp = CodePointAt(s, k, out int len);
            if (!IsCaseIgnorable(cp)) return !IsCased(cp);
            k += len;
        }
        return true;
    }

    private static bool IsCased(int codePoint) => Category(codePoint) is UnicodeCategory.UppercaseLetter
        or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(int codePoint) => Category(codePoint) switch
    {
        UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol => true,
        // Word_Break = MidLetter, MidNumLet or Single_Quote.
        _ => codePoint is '\'' or '.' or ':' or 0x00B7 or 0x0387 or 0x055F or 0x05F4 or 0x2018 or 0x2019
            or 0x2024 or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A,
    };

    /// <summary>Orders strings by code point, as Python compares str (ordinal UTF-16 order differs above U+E000).</summary>
    internal sealed class CodePointComparer : IComparer<string>
    {
        /// <summary>The shared instance.</summary>
        internal static readonly CodePointComparer Instance = new();

        /// <inheritdoc/>
        public int Compare(string? x, string? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            if (x is null) return -1;
            if (y is null) return 1;
            int i = 0, j = 0;
            while (i < x.Length && j < y.Length)
            {
                int a = CodePointAt(x, i, out int la), b = CodePointAt(y, j, out int lb);
                if (a != b) return a < b ? -1 : 1;
                i += la;
                j += lb;
            }
            return (x.Length - i).CompareTo(y.Length - j);
        }
    }
}
