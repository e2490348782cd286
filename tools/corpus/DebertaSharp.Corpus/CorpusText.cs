using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace DebertaSharp.Corpus;

/// <summary>
/// The cleaning rules of the pretraining corpus, one function per source format. Pure functions over strings so that the
/// tests can check them on sample input (tests/DebertaSharp.Tests/Corpus/CorpusTextTests.cs).
/// </summary>
internal static partial class CorpusText
{
    /// <summary>
    /// One Brown corpus sentence (<c>The/at jury/nn said/vbd ./.</c>) as plain text: the part-of-speech tag after each
    /// token's last '/' dropped, then <see cref="Detokenize"/>.
    /// </summary>
    public static string BrownSentence(string line)
    {
        var words = new List<string>();
        foreach (string token in line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            int slash = token.LastIndexOf('/');
            string word = slash > 0 ? token[..slash] : token;
            if (word.Length > 0) words.Add(word);
        }
        return Detokenize(words);
    }

    private static readonly HashSet<string> NoSpaceBefore = [".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "''", "'", "n't", "'s", "'re", "'ve", "'ll", "'d", "'m"];
    private static readonly HashSet<string> NoSpaceAfter = ["(", "[", "{", "$", "``"];

    /// <summary>
    /// Joins Penn-style tokens into ordinary text: <c>``</c> and <c>''</c> become straight double quotes, no space before
    /// closing punctuation and clitics (<c>n't</c>, <c>'s</c>), none after opening brackets and <c>$</c>.
    /// </summary>
    public static string Detokenize(IReadOnlyList<string> words)
    {
        var sb = new StringBuilder();
        bool glueNext = true;
        foreach (string w in words)
        {
            bool glue = glueNext || NoSpaceBefore.Contains(w) || (w.StartsWith('\'') && w.Length <= 3 && w.Skip(1).All(char.IsLetter) && w != "'");
            if (!glue) sb.Append(' ');
            sb.Append(w switch { "``" or "''" => "\"", "--" => "--", _ => w });
            glueNext = NoSpaceAfter.Contains(w);
        }
        return sb.ToString();
    }

    /// <summary>
    /// One synset line of a WordNet <c>data.*</c> file as text lines: <c>lemma, lemma: definition.</c> and each quoted
    /// example sentence on its own. License-header lines (two leading spaces) and lines without a gloss give nothing.
    /// </summary>
    public static IEnumerable<string> WordNetSynset(string line)
    {
        if (line.StartsWith("  ", StringComparison.Ordinal)) yield break;
        int bar = line.IndexOf(" | ", StringComparison.Ordinal);
        if (bar < 0) yield break;
        string[] fields = line[..bar].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // synset_offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id...] p_cnt ...
        if (fields.Length < 6 || !int.TryParse(fields[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int wordCount)) yield break;
        var lemmas = new List<string>();
        for (int i = 0; i < wordCount && 4 + 2 * i < fields.Length; i++)
        {
            string lemma = AdjectiveMarker().Replace(fields[4 + 2 * i], "").Replace('_', ' ');
            if (!lemmas.Contains(lemma)) lemmas.Add(lemma);
        }
        string gloss = line[(bar + 3)..].Trim();
        var examples = new List<string>();
        string definition = Quoted().Replace(gloss, m => { examples.Add(m.Groups[1].Value.Trim()); return ""; });
        definition = Whitespace().Replace(definition, " ").Trim().TrimEnd(';', ' ', ':', ',');
        if (definition.Length > 0 && lemmas.Count > 0) yield return $"{string.Join(", ", lemmas)}: {definition}.";
        foreach (string e in examples)
            if (e.Length > 0) yield return UpperFirst(e).TrimEnd() + (EndsSentence(e) ? "" : ".");
    }

    /// <summary>Running prose (an address, a chapter) cut into sentences: after '.', '!' or '?' (a closing quote or
    /// bracket may follow) and white space, where the next sentence starts with a capital, digit or opening quote.</summary>
    public static IEnumerable<string> Sentences(string text)
    {
        foreach (string paragraph in text.Split('\n'))
            foreach (string s in SentenceBreak().Split(paragraph))
                if (s.Trim().Length > 0) yield return s.Trim();
    }

    /// <summary>
    /// The line as it goes into the corpus, or null to drop it: NFC, control characters out, white space collapsed,
    /// typographic quotes and dashes kept; null when fewer than <paramref name="minWords"/> words or no letter.
    /// </summary>
    public static string? Normalize(string line, int minWords = 4)
    {
        string s = line.Normalize(NormalizationForm.FormC);
        var sb = new StringBuilder(s.Length);
        foreach (char ch in s) sb.Append(char.IsControl(ch) || char.IsWhiteSpace(ch) ? ' ' : ch);
        s = Whitespace().Replace(sb.ToString(), " ").Trim();
        if (!s.Any(char.IsLetter)) return null;
        if (s.Split(' ').Length < minWords) return null;
        return s;
    }

    /// <summary>Whether a line goes to the held-out file: the first 8 bytes of its UTF-8 SHA-256 as an unsigned number,
    /// modulo 1000, below <paramref name="perMille"/>. Depends on the line only, so the split is stable whatever order
    /// or other content the corpus has.</summary>
    public static bool IsHeldOut(string line, int perMille)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(line));
        return BitConverter.ToUInt64(hash, 0) % 1000 < (ulong)perMille;
    }

    private static string UpperFirst(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static bool EndsSentence(string s) => s.TrimEnd().EndsWith('.') || s.TrimEnd().EndsWith('!') || s.TrimEnd().EndsWith('?');

    [GeneratedRegex(@"\s+")] private static partial Regex Whitespace();
    [GeneratedRegex("\"([^\"]*)\"")] private static partial Regex Quoted();
    [GeneratedRegex(@"\((a|p|ip)\)$")] private static partial Regex AdjectiveMarker();
    [GeneratedRegex(@"(?<=[.!?][""”’')\]]?)\s+(?=[""“‘'(\[]?[A-Z0-9])")] private static partial Regex SentenceBreak();
}
