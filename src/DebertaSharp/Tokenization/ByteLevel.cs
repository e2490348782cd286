using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace DebertaSharp.Tokenization;

/// <summary>GPT-2's reversible map between bytes and printable characters (<c>bytes_to_unicode</c>).</summary>
internal static class ByteLevel
{
    /// <summary>The character that stands for each byte value.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>The byte value of each mapped character, or -1; indexed by char code (all mapped chars are below 0x200).</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    /// <summary>The mapped character of a space (<c>Ġ</c>).</summary>
    public const char SpaceChar = '\u0120';

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[0x200];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>Whether every char of <paramref name="token"/> is a mapped byte character.</summary>
    public static bool TryAppendBytes(string token, List<byte> output)
    {
        foreach (char c in token)
            if (c >= 0x200 || CharToByte[c] < 0) return false;
        foreach (char c in token) output.Add((byte)CharToByte[c]);
        return true;
    }
}

/// <summary>Character classes used by the GPT-2 pre-tokenization pattern.</summary>
internal enum CharClass : byte
{
    Letter,
    Number,
    Space,
    Other,
}

/// <summary>
/// A hand-written matcher for GPT-2's pre-tokenization pattern
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>,
/// with the same leftmost-alternative, greedy semantics as the regular expression.
/// </summary>
internal static class Gpt2Splitter
{
    private static readonly CharClass[] Ascii = BuildAscii();

    private static CharClass[] BuildAscii()
    {
        var t = new CharClass[128];
        for (int c = 0; c < 128; c++) t[c] = ClassifySlow(c);
        return t;
    }

    private static CharClass ClassifySlow(int cp)
    {
        if (cp < 0x10000 && char.IsWhiteSpace((char)cp)) return CharClass.Space;
        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return CharClass.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return CharClass.Number;
            default:
                return CharClass.Other;
        }
    }

    /// <summary>Class of the code point at <paramref name="i"/> and its length in UTF-16 units.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static CharClass ClassAt(ReadOnlySpan<char> s, int i, out int len)
    {
        char c = s[i];
        if (c < 128) { len = 1; return Ascii[c]; }
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            len = 2;
            return ClassifySlow(char.ConvertToUtf32(c, s[i + 1]));
        }
        len = 1;
        return ClassifySlow(c);
    }

    /// <summary>Length (UTF-16 units) of the next pre-token starting at <paramref name="i"/> (always at least 1).</summary>
    public static int NextLength(ReadOnlySpan<char> s, int i)
    {
        int n = s.Length;
        char c = s[i];
        if (c == '\'' && i + 1 < n)
        {
            char d = s[i + 1];
            if (d is 's' or 't' or 'm' or 'd') return 2;
            if (i + 2 < n)
            {
                char e = s[i + 2];
                if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return 3;
            }
        }
        int start = i;
        CharClass cls = ClassAt(s, i, out int len);
        if (c == ' ' && i + 1 < n)
        {
            CharClass next = ClassAt(s, i + 1, out int nlen);
            if (next != CharClass.Space)
            {
                // ' ?X+' with the optional space taken.
                int j = i + 1 + nlen;
                while (j < n && ClassAt(s, j, out int l) == next) j += l;
                return j - start;
            }
        }
        if (cls != CharClass.Space)
        {
            int j = i + len;
            while (j < n && ClassAt(s, j, out int l) == cls) j += l;
            return j - start;
        }
        // Whitespace run: \s+(?!\S) then \s+.
        int end = i + len;
        int lastStart = i;
        while (end < n)
        {
            CharClass k = ClassAt(s, end, out int l);
            if (k != CharClass.Space) break;
            lastStart = end;
            end += l;
        }
        if (end == n) return end - start;
        // Followed by a non-space: give back the last whitespace char when the run has more than one.
        if (lastStart > start) return lastStart - start;
        return end - start;
    }
}
