using System.Buffers;
using System.Text;

namespace DebertaSharp.Tokenization;

/// <summary>The pieces of a tokenization pipeline, shared by the slow and fast tokenizers.</summary>
internal sealed class TokenizerCore
{
    public required BpeModel Model { get; init; }
    public Normalizer? Normalizer { get; init; }

    /// <summary>Pre-tokenizer: byte-level (bytes mapped through GPT-2's table) or none.</summary>
    public bool ByteLevelPreTokenizer { get; init; } = true;

    /// <summary>Add a space before a text that does not start with one.</summary>
    public bool AddPrefixSpace { get; set; }

    /// <summary>Split with the GPT-2 pattern.</summary>
    public bool UseRegex { get; init; } = true;

    /// <summary>
    /// Slow-tokenizer (transformers 4.x Python) rules: the prefix space is added once to the whole text (when it
    /// does not start with whitespace), and always to the words of <c>is_split_into_words</c> inputs.
    /// </summary>
    public bool SlowPrefixRules { get; init; }

    public PostProcessor? PostProcessor { get; set; }

    /// <summary>An added token's string is its content (slow tokenizer) rather than the matched text with stripped spaces (fast).</summary>
    public bool AddedTokenStringIsContent { get; init; }

    /// <summary>Decoder: byte-level (true) or none (tokens joined with spaces).</summary>
    public bool ByteLevelDecoder { get; init; } = true;

    private readonly List<(AddedToken Token, int Id)> _added = [];
    private readonly Dictionary<string, int> _addedToId = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddedToken> _idToAdded = [];
    // Where each content sits in _added, and the largest added id: kept as tokens are added, so that adding one costs
    // no scan of the others (tokenizer.json may list many thousands; scanning made loading quadratic).
    private readonly Dictionary<string, int> _addedIndex = new(StringComparer.Ordinal);
    private int _maxAddedId = -1;
    private bool _deferRebuild;
    private AddedMatcher? _rawMatcher;
    private AddedMatcher? _normMatcher;

    /// <summary>The added tokens in id order.</summary>
    public IReadOnlyList<(AddedToken Token, int Id)> Added => _added;

    /// <summary>Vocabulary size including added tokens (Hugging Face's <c>len(tokenizer)</c>).</summary>
    public int Count
    {
        get
        {
            int n = Model.Vocab.Count;
            foreach (var (t, id) in _added) if (!Model.Vocab.ContainsKey(t.Content)) n++;
            return n;
        }
    }

    /// <summary>Adds (or updates) a token; returns true when it is new to the vocabulary.</summary>
    public bool AddToken(AddedToken token, int? fixedId = null)
    {
        if (string.IsNullOrEmpty(token.Content)) throw new ArgumentException("an added token cannot be empty");
        if (_addedToId.TryGetValue(token.Content, out int existing))
        {
            int idx = _addedIndex[token.Content];
            _added[idx] = (token, existing);
            _idToAdded[existing] = token;
            Rebuild();
            return false;
        }
        int modelId = Model.TokenToId(token.Content);
        int id = fixedId ?? (modelId >= 0 ? modelId : NextId());
        _addedIndex[token.Content] = _added.Count;
        _added.Add((token, id));
        _maxAddedId = Math.Max(_maxAddedId, id);
        _addedToId[token.Content] = id;
        _idToAdded[id] = token;
        Rebuild();
        return modelId < 0 && fixedId is null;
    }

    private int NextId() => Math.Max(Model.VocabCount - 1, _maxAddedId) + 1;

    /// <summary>Adds (or updates) several tokens as <see cref="AddToken"/> does, in order, rebuilding the matchers once.</summary>
    public void AddTokens(IEnumerable<AddedToken> tokens)
    {
        _deferRebuild = true;
        try
        {
            foreach (var t in tokens) AddToken(t);
        }
        finally
        {
            _deferRebuild = false;
            Rebuild();
        }
    }

    private void Rebuild()
    {
        if (_deferRebuild) return;
        // tokenizers extracts the added tokens that are not normalized from the raw text first, then the normalized
        // ones (in their normalized form) from the normalized pieces left, with or without a normalizer. transformers'
        // Python tokenizer matches every added token in one pass.
        bool onePass = SlowPrefixRules && Normalizer is null;
        _rawMatcher = AddedMatcher.Create(_added.Where(x => onePass || !x.Token.Normalized));
        _normMatcher = onePass ? null : AddedMatcher.Create(_added.Where(x => x.Token.Normalized)
            .Select(x => (x.Token with { Content = NormalizeContent(x.Token.Content) }, x.Id))
            .Where(x => x.Item1.Content.Length > 0));
    }

    /// <summary>
    /// The form a normalized added token is matched in: its content through the normalizer, since it is looked for in
    /// normalized text (tokenizers builds its normalized trie the same way).
    /// </summary>
    private string NormalizeContent(string content) =>
        Normalizer is null ? content : Normalizer.Apply(content, new int[content.Length], new int[content.Length]).Text;

    public bool IsSpecialId(int id) => _idToAdded.TryGetValue(id, out var t) && t.Special;

    public string? IdToToken(int id) => _idToAdded.TryGetValue(id, out var t) ? t.Content : Model.IdToToken(id);

    public int TokenToId(string token) => _addedToId.TryGetValue(token, out int id) ? id : Model.TokenToId(token);

    // ---------------------------------------------------------------- encoding one sequence

    /// <summary>Encodes one text (no special tokens), appending to <paramref name="output"/>.</summary>
    public void EncodeText(string text, int seqIndex, EncodingBuilder output, int? forcedWord, bool isWord)
    {
        ValidateUtf16(text);
        int[]? cpMap = BuildCodePointMap(text);
        int wordCounter = 0;
        var ctx = new Ctx(output, cpMap, seqIndex, forcedWord);

        bool slowPrefix = SlowPrefixRules && (AddPrefixSpace || isWord) && text.Length > 0 && !IsPythonSpace(text[0]);
        if (slowPrefix)
        {
            // One virtual leading space aligned to the first char.
            var starts = new int[text.Length + 1];
            var ends = new int[text.Length + 1];
            int firstLen = char.IsSurrogatePair(text, 0) ? 2 : 1;
            starts[0] = 0; ends[0] = firstLen;
            for (int i = 0; i < text.Length; i++)
            {
                starts[i + 1] = char.IsLowSurrogate(text[i]) && i > 0 ? i - 1 : i;
                ends[i + 1] = char.IsHighSurrogate(text[i]) && i + 1 < text.Length ? i + 2 : i + 1;
            }
            EncodeSegments(new WorkText(" " + text, starts, ends, 0), ctx, ref wordCounter);
            return;
        }
        EncodeSegments(new WorkText(text, null, null, 0), ctx, ref wordCounter);
    }

    /// <summary>
    /// Python's <c>str.isspace</c> for one char, which the slow tokenizer's prefix-space rule uses: .NET's white space
    /// plus the information separators U+001C..U+001F (bidirectional class B or S).
    /// </summary>
    private static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    private readonly record struct Ctx(EncodingBuilder Out, int[]? CpMap, int Seq, int? ForcedWord);

    private void EncodeSegments(WorkText wt, Ctx ctx, ref int word)
    {
        string text = wt.Text;
        if (text.Length == 0) return;
        int cursor = 0;
        if (_rawMatcher is not null)
        {
            foreach (var (id, s, e) in _rawMatcher.FindMatches(text))
            {
                if (s > cursor) EncodeNormalizable(wt, cursor, s, ctx, ref word);
                EmitAdded(wt, id, s, e, ctx, ref word);
                cursor = e;
            }
        }
        if (cursor < text.Length) EncodeNormalizable(wt, cursor, text.Length, ctx, ref word);
    }

    private void EncodeNormalizable(WorkText wt, int s, int e, Ctx ctx, ref int word)
    {
        if (Normalizer is null && _normMatcher is null)
        {
            PreTokenize(wt, s, e, ctx, ref word);
            return;
        }
        // Normalize the segment (alignment kept), then match the normalized added tokens.
        var seg = wt.Text[s..e];
        var baseStarts = new int[seg.Length];
        var baseEnds = new int[seg.Length];
        for (int i = 0; i < seg.Length; i++) { baseStarts[i] = wt.OrigStart(s + i); baseEnds[i] = wt.OrigEnd(s + i + 1); }
        var (nt, ns, ne) = Normalizer is null ? (seg, baseStarts, baseEnds) : Normalizer.Apply(seg, baseStarts, baseEnds);
        var nwt = new WorkText(nt, ns, ne, 0);
        int cursor = 0;
        if (_normMatcher is not null)
        {
            foreach (var (id, ms, me) in _normMatcher.FindMatches(nt))
            {
                if (ms > cursor) PreTokenize(nwt, cursor, ms, ctx, ref word);
                EmitAdded(nwt, id, ms, me, ctx, ref word);
                cursor = me;
            }
        }
        if (cursor < nt.Length) PreTokenize(nwt, cursor, nt.Length, ctx, ref word);
    }

    private void EmitAdded(WorkText wt, int id, int s, int e, Ctx ctx, ref int word)
    {
        var off = (Cp(ctx.CpMap, wt.OrigStart(s)), Cp(ctx.CpMap, wt.OrigEnd(e)));
        ctx.Out.AddMatchedAddedToken(id, ctx.Seq, AddedTokenStringIsContent ? _idToAdded[id].Content : wt.Text[s..e], off, ctx.ForcedWord ?? word, ctx.Seq);
        word++;
    }

    private static int Cp(int[]? map, int utf16) => map is null ? utf16 : map[utf16];

    /// <summary>General pre-tokenizer steps (Split, then optionally ByteLevel last); null for the fast path.</summary>
    public SplitStep[]? SplitSteps { get; init; }

    /// <summary>Pre-tokenizes working range [s, e) and runs the model on each piece.</summary>
    private void PreTokenize(WorkText wt, int s, int e, Ctx ctx, ref int word)
    {
        if (SplitSteps is not null) { PreTokenizeGeneral(wt, s, e, ctx, ref word); return; }
        string text = wt.Text;
        bool prefix = ByteLevelPreTokenizer && AddPrefixSpace && !SlowPrefixRules && text[s] != ' ';
        int len = e - s + (prefix ? 1 : 0);
        char[] bufArr = ArrayPool<char>.Shared.Rent(len);
        char[] model = ArrayPool<char>.Shared.Rent(3 * len + 4);
        int[] src = ArrayPool<int>.Shared.Rent(3 * len + 4);
        try
        {
            Span<char> buf = bufArr.AsSpan(0, len);
            if (prefix) { buf[0] = ' '; text.AsSpan(s, e - s).CopyTo(buf[1..]); }
            else text.AsSpan(s, e - s).CopyTo(buf);
            int shift = prefix ? s - 1 : s; // working index of buf[i] is i + shift (i >= 1 when prefix)
            int i = 0;
            while (i < len)
            {
                int plen = ByteLevelPreTokenizer && UseRegex ? Gpt2Splitter.NextLength(buf, i) : len - i;
                RunModel(wt, buf, i, i + plen, shift, prefix, s, model, src, ctx, word);
                word++;
                i += plen;
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(bufArr);
            ArrayPool<char>.Shared.Return(model);
            ArrayPool<int>.Shared.Return(src);
        }
    }

    /// <summary>A piece of the working text, with an optional virtual leading space (ByteLevel's prefix).</summary>
    private readonly record struct Piece(int Start, int End, bool Prefix);

    private void PreTokenizeGeneral(WorkText wt, int s, int e, Ctx ctx, ref int word)
    {
        string text = wt.Text;
        var pieces = new List<Piece> { new(s, e, false) };
        foreach (var step in SplitSteps!)
        {
            var next = new List<Piece>();
            foreach (var p in pieces)
            {
                string chars = (p.Prefix ? " " : "") + text[p.Start..p.End];
                foreach (var (a, b) in step.Split(chars))
                {
                    if (!p.Prefix) { next.Add(new Piece(p.Start + a, p.Start + b, false)); continue; }
                    // Index 0 of chars is the virtual space.
                    if (a == 0) next.Add(new Piece(p.Start, p.Start + b - 1, true));
                    else next.Add(new Piece(p.Start + a - 1, p.Start + b - 1, false));
                }
            }
            pieces = next;
        }
        if (ByteLevelPreTokenizer)
        {
            // The final ByteLevel step: optional prefix space, optional GPT-2 split, then bytes.
            var next = new List<Piece>();
            foreach (var p in pieces)
            {
                bool prefix = p.Prefix || (AddPrefixSpace && (p.End == p.Start || text[p.Start] != ' '));
                if (!UseRegex) { next.Add(p with { Prefix = prefix }); continue; }
                string chars = (prefix ? " " : "") + text[p.Start..p.End];
                int i = 0;
                while (i < chars.Length)
                {
                    int len = Gpt2Splitter.NextLength(chars, i);
                    if (!prefix) next.Add(new Piece(p.Start + i, p.Start + i + len, false));
                    else if (i == 0) next.Add(new Piece(p.Start, p.Start + len - 1, true));
                    else next.Add(new Piece(p.Start + i - 1, p.Start + i + len - 1, false));
                    i += len;
                }
            }
            pieces = next;
        }
        foreach (var p in pieces)
        {
            if (p.End == p.Start && !p.Prefix) continue;
            string chars = (p.Prefix ? " " : "") + text[p.Start..p.End];
            char[] model = ArrayPool<char>.Shared.Rent(3 * chars.Length + 4);
            int[] src = ArrayPool<int>.Shared.Rent(3 * chars.Length + 4);
            try
            {
                int anchor = p.Start < text.Length ? p.Start : Math.Max(0, text.Length - 1);
                RunModel(wt, chars, 0, chars.Length, p.Prefix ? p.Start - 1 : p.Start, p.Prefix, anchor, model, src, ctx, word);
            }
            finally
            {
                ArrayPool<char>.Shared.Return(model);
                ArrayPool<int>.Shared.Return(src);
            }
            word++;
        }
    }

    private void RunModel(WorkText wt, ReadOnlySpan<char> buf, int ps, int pe, int shift, bool prefix, int segStart,
        char[] model, int[] src, Ctx ctx, int word)
    {
        // Model-level chars and, for each, the buf index of its source char.
        int m = 0;
        if (ByteLevelPreTokenizer)
        {
            var map = ByteLevel.ByteToChar;
            Span<byte> bytes = stackalloc byte[4];
            int i = ps;
            while (i < pe)
            {
                char c = buf[i];
                if (c < 0x80) { model[m] = map[c]; src[m++] = i; i++; continue; }
                int cpLen = char.IsHighSurrogate(c) && i + 1 < pe ? 2 : 1;
                int n = System.Text.Encoding.UTF8.GetBytes(buf.Slice(i, cpLen), bytes);
                for (int k = 0; k < n; k++) { model[m] = map[bytes[k]]; src[m++] = i; }
                i += cpLen;
            }
        }
        else
        {
            for (int i = ps; i < pe; i++) { model[m] = buf[i]; src[m++] = i; }
        }
        int[] pieces = Model.EncodeWord(model.AsSpan(0, m));
        int pos = 0;
        var output = ctx.Out;
        for (int k = 0; k < pieces.Length; k += 2)
        {
            int id = pieces[k];
            int tlen = pieces[k + 1];
            int first = src[pos];
            int last = src[Math.Max(pos, pos + tlen - 1)];
            int ws = prefix && first == 0 ? segStart : first + shift;
            int we = prefix && last == 0 ? segStart + CpLen(wt.Text, segStart) : last + shift + CpLen(buf, last);
            var off = (Cp(ctx.CpMap, wt.OrigStart(ws)), Cp(ctx.CpMap, wt.OrigEnd(we)));
            output.Add(id, ctx.Seq, Model.IdToToken(id) ?? "", off, 0, ctx.ForcedWord ?? word, ctx.Seq);
            pos += tlen;
        }
    }

    private static int CpLen(ReadOnlySpan<char> s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;

    /// <summary>Throws for lone surrogates, which have no UTF-8 form (Hugging Face cannot encode them either).</summary>
    public static void ValidateUtf16(string text)
    {
        int i = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            throw new ArgumentException($"the text has a lone surrogate U+{(int)c:X4} at UTF-16 index {i}; it is not valid Unicode and cannot be encoded as UTF-8", nameof(text));
        }
    }

    private static int[]? BuildCodePointMap(string text)
    {
        int i = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return null;
        var map = new int[text.Length + 1];
        int cp = 0;
        for (int k = 0; k < text.Length; k++)
        {
            map[k] = cp;
            if (!(char.IsHighSurrogate(text[k]) && k + 1 < text.Length && char.IsLowSurrogate(text[k + 1]))) cp++;
        }
        map[text.Length] = cp;
        return map;
    }

    // ---------------------------------------------------------------- decoding

    /// <summary>Decodes ids (tokenizers' <c>Tokenizer::decode</c> and the byte-level decoder).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens, DecoderFallback? fallback)
    {
        var tokens = new List<string>();
        foreach (int id in ids)
        {
            string? t = IdToToken(id);
            if (t is null) continue; // an id with no token: skipped, as tokenizers' Tokenizer::decode (negative ids are refused before)
            if (skipSpecialTokens && IsSpecialId(id)) continue;
            tokens.Add(t);
        }
        if (!ByteLevelDecoder) return string.Join(" ", tokens);
        var bytes = new List<byte>();
        foreach (var t in tokens)
            if (!ByteLevel.TryAppendBytes(t, bytes)) bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(t));
        var enc = fallback is null ? new UTF8Encoding(false, false) : (System.Text.Encoding)System.Text.Encoding.GetEncoding("utf-8", EncoderFallback.ReplacementFallback, fallback);
        return enc.GetString(bytes.ToArray());
    }
}

/// <summary>
/// Leftmost-longest matching of added tokens, with tokenizers' single_word/lstrip/rstrip rules. The contents sit in a
/// trie keyed by chars, so the longest token at a position costs one walk of at most the longest content's length,
/// whatever the number of tokens (tokenizers' <c>AddedVocabulary</c> matches with a leftmost-longest Aho-Corasick
/// automaton; 50,000 tokens sharing a first char made a scan of them all per occurrence of that char).
/// </summary>
internal sealed class AddedMatcher
{
    private readonly SearchValues<char> _first;
    // Edge (node, char) -> child node, the root being node 0; _tokenAt[node] is the token whose content ends there, or -1.
    private readonly Dictionary<long, int> _edges = [];
    private readonly List<int> _tokenAt = [-1];
    private readonly (string Content, int Id, AddedToken Token)[] _tokens;

    private AddedMatcher(IEnumerable<(AddedToken Token, int Id)> tokens)
    {
        _tokens = [.. tokens.Select(t => (t.Token.Content, t.Id, t.Token))];
        var first = new HashSet<char>();
        for (int k = 0; k < _tokens.Length; k++)
        {
            string content = _tokens[k].Content;
            first.Add(content[0]);
            int node = 0;
            foreach (char c in content)
            {
                long key = EdgeKey(node, c);
                if (!_edges.TryGetValue(key, out int child))
                {
                    child = _tokenAt.Count;
                    _tokenAt.Add(-1);
                    _edges[key] = child;
                }
                node = child;
            }
            // Two tokens with one content (normalized forms can coincide): the first keeps it, as before.
            if (_tokenAt[node] < 0) _tokenAt[node] = k;
        }
        _first = SearchValues.Create([.. first]);
    }

    private static long EdgeKey(int node, char c) => ((long)node << 16) | c;

    /// <summary>The longest token whose content starts <paramref name="text"/> at <paramref name="pos"/>, or -1.</summary>
    private int LongestAt(string text, int pos)
    {
        int node = 0, best = -1;
        for (int i = pos; i < text.Length && _edges.TryGetValue(EdgeKey(node, text[i]), out node); i++)
            if (_tokenAt[node] >= 0) best = _tokenAt[node];
        return best;
    }

    public static AddedMatcher? Create(IEnumerable<(AddedToken Token, int Id)> tokens)
    {
        var list = tokens.ToList();
        return list.Count == 0 ? null : new AddedMatcher(list);
    }

    /// <summary>Matches as (id, start, end), non-overlapping, in order.</summary>
    public List<(int Id, int Start, int End)> FindMatches(string text)
    {
        var result = new List<(int, int, int)>();
        int cursor = 0;      // where the next search starts
        int lastEnd = 0;     // end of the previous accepted split
        while (cursor < text.Length)
        {
            int rel = text.AsSpan(cursor).IndexOfAny(_first);
            if (rel < 0) break;
            int pos = cursor + rel;
            int k = LongestAt(text, pos);
            (string Content, int Id, AddedToken Token)? hit = k < 0 ? null : _tokens[k];
            if (hit is null) { cursor = pos + 1; continue; }
            var (content, id, tok) = hit.Value;
            int start = pos, stop = pos + content.Length;
            cursor = stop;
            if (tok.SingleWord)
            {
                bool startOk = start == 0 || !IsWordChar(text, char.IsLowSurrogate(text[start - 1]) && start >= 2 && char.IsHighSurrogate(text[start - 2]) ? start - 2 : start - 1);
                bool stopOk = stop == text.Length || !IsWordChar(text, stop);
                if (!startOk || !stopOk) continue;
            }
            if (tok.LStrip)
            {
                int ns = start;
                while (ns > 0 && char.IsWhiteSpace(text[ns - 1])) ns--;
                start = Math.Max(ns, lastEnd);
            }
            if (tok.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop])) stop++;
                cursor = stop;
            }
            result.Add((id, start, stop));
            lastEnd = stop;
        }
        return result;
    }

    /// <summary>
    /// Whether the code point at <paramref name="i"/> is a word character for <c>single_word</c>: the Rust regex
    /// <c>\w</c> that tokenizers uses (letters, letter numbers, marks, decimal digits, connector punctuation, ZWNJ/ZWJ).
    /// </summary>
    private static bool IsWordChar(string s, int i)
    {
        int cp = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];
        if (cp is 0x200C or 0x200D) return true;
        return System.Globalization.CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            System.Globalization.UnicodeCategory.UppercaseLetter or System.Globalization.UnicodeCategory.LowercaseLetter
                or System.Globalization.UnicodeCategory.TitlecaseLetter or System.Globalization.UnicodeCategory.ModifierLetter
                or System.Globalization.UnicodeCategory.OtherLetter or System.Globalization.UnicodeCategory.LetterNumber
                or System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark
                or System.Globalization.UnicodeCategory.EnclosingMark or System.Globalization.UnicodeCategory.DecimalDigitNumber
                or System.Globalization.UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }
}

/// <summary>tokenizers' <c>Split</c> pre-tokenizer: a pattern, a delimiter behaviour and <c>invert</c>.</summary>
internal sealed class SplitStep(System.Text.RegularExpressions.Regex pattern, string behavior, bool invert)
{
    /// <summary>The pieces of <paramref name="s"/> as [start, end) ranges (empty pieces dropped).</summary>
    public List<(int, int)> Split(string s)
    {
        // Segments covering the whole string, flagged when they are matches.
        var segs = new List<(int Start, int End, bool Match)>();
        int last = 0;
        foreach (System.Text.RegularExpressions.Match m in pattern.Matches(s))
        {
            if (m.Length == 0) continue;
            if (m.Index > last) segs.Add((last, m.Index, false));
            segs.Add((m.Index, m.Index + m.Length, true));
            last = m.Index + m.Length;
        }
        if (last < s.Length) segs.Add((last, s.Length, false));
        if (invert) segs = [.. segs.Select(x => (x.Start, x.End, !x.Match))];

        var result = new List<(int Start, int End)>();
        bool previousMatch = false;
        switch (behavior)
        {
            case "Removed":
                foreach (var x in segs) if (!x.Match) result.Add((x.Start, x.End));
                break;
            case "Isolated":
                foreach (var x in segs) result.Add((x.Start, x.End));
                break;
            case "MergedWithPrevious":
                foreach (var x in segs)
                {
                    if (x.Match && !previousMatch && result.Count > 0) result[^1] = (result[^1].Start, x.End);
                    else result.Add((x.Start, x.End));
                    previousMatch = x.Match;
                }
                break;
            case "MergedWithNext":
                for (int k = segs.Count - 1; k >= 0; k--)
                {
                    var x = segs[k];
                    if (x.Match && !previousMatch && result.Count > 0) result[^1] = (x.Start, result[^1].End);
                    else result.Add((x.Start, x.End));
                    previousMatch = x.Match;
                }
                result.Reverse();
                break;
            case "Contiguous":
                foreach (var x in segs)
                {
                    if (x.Match == previousMatch && result.Count > 0) result[^1] = (result[^1].Start, x.End);
                    else result.Add((x.Start, x.End));
                    previousMatch = x.Match;
                }
                break;
            default:
                throw new NotSupportedException($"Split behavior '{behavior}'");
        }
        result.RemoveAll(r => r.Item1 == r.Item2);
        return result;
    }
}
