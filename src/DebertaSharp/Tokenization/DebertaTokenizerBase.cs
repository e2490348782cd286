using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Tokenization;

/// <summary>
/// What <see cref="DebertaTokenizer"/> and <see cref="DebertaTokenizerFast"/> share: Hugging Face's tokenizer API
/// (<c>tokenize</c>, <c>__call__</c>/<c>encode</c>, <c>decode</c>, conversions, added tokens, special-token helpers)
/// in C# naming. Instances are thread-safe for encoding and decoding; adding tokens is not concurrent-safe.
/// </summary>
public abstract class DebertaTokenizerBase
{
    private protected DebertaTokenizerBase(TokenizerCore core) => Core = core;

    internal TokenizerCore Core { get; }

    /// <summary>Classification token (<c>[CLS]</c>), also the beginning-of-sequence token.</summary>
    public string ClsToken { get; protected set; } = "[CLS]";

    /// <summary>Separator token (<c>[SEP]</c>), also the end-of-sequence token.</summary>
    public string SepToken { get; protected set; } = "[SEP]";

    /// <summary>Padding token (<c>[PAD]</c>).</summary>
    public string PadToken { get; protected set; } = "[PAD]";

    /// <summary>Unknown token (<c>[UNK]</c>).</summary>
    public string UnkToken { get; protected set; } = "[UNK]";

    /// <summary>Mask token (<c>[MASK]</c>).</summary>
    public string MaskToken { get; protected set; } = "[MASK]";

    /// <summary>Beginning-of-sequence token (<c>[CLS]</c> for DeBERTa).</summary>
    public string BosToken { get; protected set; } = "[CLS]";

    /// <summary>End-of-sequence token (<c>[SEP]</c> for DeBERTa).</summary>
    public string EosToken { get; protected set; } = "[SEP]";

    /// <summary>Id of <see cref="ClsToken"/>.</summary>
    public int ClsTokenId => ConvertTokensToIds(ClsToken);

    /// <summary>Id of <see cref="SepToken"/>.</summary>
    public int SepTokenId => ConvertTokensToIds(SepToken);

    /// <summary>Id of <see cref="PadToken"/>.</summary>
    public int PadTokenId => ConvertTokensToIds(PadToken);

    /// <summary>Id of <see cref="UnkToken"/>.</summary>
    public int UnkTokenId => Core.TokenToId(UnkToken);

    /// <summary>Id of <see cref="MaskToken"/>.</summary>
    public int MaskTokenId => ConvertTokensToIds(MaskToken);

    /// <summary>Token type id given to padding tokens.</summary>
    public int PadTokenTypeId { get; protected set; }

    /// <summary>Whether a space is added before text that does not start with one.</summary>
    public bool AddPrefixSpace => Core.AddPrefixSpace;

    /// <summary>The model's maximum input length (<c>model_max_length</c>), or null when unbounded.</summary>
    public int? ModelMaxLength { get; set; }

    /// <summary>Default padding side.</summary>
    public Side PaddingSide { get; set; } = Side.Right;

    /// <summary>Default truncation side.</summary>
    public Side TruncationSide { get; set; } = Side.Right;

    /// <summary>Default of <c>cleanUpTokenizationSpaces</c> in <see cref="Decode"/> (<c>clean_up_tokenization_spaces</c>).</summary>
    public bool CleanUpTokenizationSpaces { get; set; }

    /// <summary>
    /// tokenizer_config.json's <c>errors</c>: how the slow tokenizer decodes invalid UTF-8, <c>replace</c> (default),
    /// <c>ignore</c> or <c>strict</c>. The fast tokenizer keeps it (and saves it) but, as Hugging Face's, always replaces.
    /// </summary>
    public string Errors { get; protected set; } = "replace";

    /// <summary>Options used when none are passed.</summary>
    public EncodeOptions DefaultOptions { get; set; } = EncodeOptions.Default;

    /// <summary>Size of the base vocabulary (without added tokens).</summary>
    public int VocabSize => Core.Model.Vocab.Count;

    /// <summary>Size of the full vocabulary, added tokens included (Hugging Face's <c>len(tokenizer)</c>).</summary>
    public int Count => Core.Count;

    /// <summary>The full vocabulary, added tokens included.</summary>
    public IReadOnlyDictionary<string, int> GetVocab()
    {
        var d = new Dictionary<string, int>(Core.Model.Vocab, StringComparer.Ordinal);
        foreach (var (t, id) in Core.Added) d[t.Content] = id;
        return d;
    }

    /// <summary>The special tokens (named ones and any added as special).</summary>
    public IReadOnlyList<string> AllSpecialTokens
    {
        get
        {
            var list = new List<string>();
            foreach (var t in new[] { BosToken, EosToken, UnkToken, SepToken, PadToken, ClsToken, MaskToken })
                if (!list.Contains(t)) list.Add(t);
            foreach (var (t, _) in Core.Added) if (t.Special && !list.Contains(t.Content)) list.Add(t.Content);
            return list;
        }
    }

    /// <summary>Ids of <see cref="AllSpecialTokens"/>.</summary>
    public IReadOnlyList<int> AllSpecialIds => [.. AllSpecialTokens.Select(ConvertTokensToIds)];

    // ------------------------------------------------------------------------------------------- encoding

    /// <summary>Splits <paramref name="text"/> into token strings (Hugging Face's <c>tokenize</c>), without special tokens.</summary>
    public string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var b = new EncodingBuilder();
        Core.EncodeText(text, 0, b, null, false);
        return [.. b.Tokens];
    }

    /// <summary>Encodes a text or a pair of texts (Hugging Face's <c>tokenizer(text, text_pair, ...)</c>).</summary>
    public Encoding Encode(string text, string? pair = null, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        // As transformers: an empty text_pair is no pair at all.
        return EncodeMany([(new Input(text, null), string.IsNullOrEmpty(pair) ? null : new Input(pair, null))], options)[0];
    }

    /// <summary>Encodes pre-split words (<c>is_split_into_words=True</c>), optionally with a second list of words.</summary>
    public Encoding Encode(IReadOnlyList<string> words, IReadOnlyList<string>? pairWords = null, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(words);
        return EncodeMany([(new Input(null, words), pairWords is null || pairWords.Count == 0 ? null : new Input(null, pairWords))], options)[0];
    }

    /// <summary>Encodes a batch of texts; <see cref="PaddingStrategy.Longest"/> pads to the longest of the batch.</summary>
    public BatchEncoding EncodeBatch(IReadOnlyList<string> texts, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return new BatchEncoding(EncodeMany([.. texts.Select((t, i) => (TextInput(t, nameof(texts), i, "text"), (Input?)null))], options));
    }

    /// <summary>Encodes a batch of text pairs.</summary>
    public BatchEncoding EncodeBatch(IReadOnlyList<(string Text, string TextPair)> pairs, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return new BatchEncoding(EncodeMany([.. pairs.Select((p, i) => (TextInput(p.Text, nameof(pairs), i, "text"), (Input?)TextInput(p.TextPair, nameof(pairs), i, "text pair")))], options));
    }

    /// <summary>
    /// Pairs encoded as one <c>tokenizer(text, text_pair)</c> call per pair encodes them (an empty text_pair is no pair,
    /// as in <see cref="Encode(string, string?, EncodeOptions?)"/> and Hugging Face's single call), padded together as
    /// one batch. <see cref="EncodeBatch(IReadOnlyList{ValueTuple{string, string}}, EncodeOptions?)"/> keeps an empty
    /// text_pair as a pair, as transformers' batch call does.
    /// </summary>
    internal BatchEncoding EncodeBatchAsSingleCalls(IReadOnlyList<(string Text, string TextPair)> pairs, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return new BatchEncoding(EncodeMany([.. pairs.Select((p, i) => (TextInput(p.Text, nameof(pairs), i, "text"), string.IsNullOrEmpty(p.TextPair) ? null : (Input?)new Input(p.TextPair, null)))], options));
    }

    /// <summary>Pre-split pairs as <see cref="EncodeBatchAsSingleCalls(IReadOnlyList{ValueTuple{string, string}}, EncodeOptions?)"/>: an empty list of pair words is no pair.</summary>
    internal BatchEncoding EncodeBatchAsSingleCalls(IReadOnlyList<(IReadOnlyList<string> Words, IReadOnlyList<string> PairWords)> pairs, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return new BatchEncoding(EncodeMany([.. pairs.Select((p, i) => (WordsInput(p.Words, nameof(pairs), i, "words"), p.PairWords is null || p.PairWords.Count == 0 ? null : (Input?)new Input(null, p.PairWords)))], options));
    }

    /// <summary>Encodes a batch of pre-split inputs (<c>is_split_into_words=True</c>).</summary>
    public BatchEncoding EncodeBatch(IReadOnlyList<IReadOnlyList<string>> batchOfWords, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(batchOfWords);
        return new BatchEncoding(EncodeMany([.. batchOfWords.Select((w, i) => (WordsInput(w, nameof(batchOfWords), i, "words"), (Input?)null))], options));
    }

    /// <summary>Encodes a batch of pre-split pairs (<c>is_split_into_words=True</c> with <c>text_pair</c>).</summary>
    public BatchEncoding EncodeBatch(IReadOnlyList<(IReadOnlyList<string> Words, IReadOnlyList<string> PairWords)> batchOfWordPairs, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(batchOfWordPairs);
        return new BatchEncoding(EncodeMany([.. batchOfWordPairs.Select((p, i) => (WordsInput(p.Words, nameof(batchOfWordPairs), i, "words"), (Input?)WordsInput(p.PairWords, nameof(batchOfWordPairs), i, "pair words")))], options));
    }

    /// <summary>Encodes a batch on all cores; same results as <see cref="EncodeBatch(IReadOnlyList{string}, EncodeOptions?)"/>.</summary>
    public BatchEncoding EncodeBatchParallel(IReadOnlyList<string> texts, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var opts = Resolve(options);
        for (int i = 0; i < texts.Count; i++)
            if (texts[i] is null) throw new ArgumentNullException(nameof(texts), $"the text of input {i} of the batch is null");
        if (texts.Count > 0) RefuseTextWhenSplitIntoWords(options);
        bool longLived = IsLargeBatch(texts.Count, i => texts[i].Length);
        // Every per-text step runs on the workers, the final arrays included; only padding to the longest, which needs
        // the whole batch, waits for all of them.
        if (opts.Padding != PaddingStrategy.Longest)
        {
            var done = new Encoding[texts.Count];
            int target = PadTarget(opts, 0);
            Parallel.For(0, texts.Count, i => done[i] = FinishOne(EncodeOne(new Input(texts[i], null), null, opts), opts, target, longLived));
            return new BatchEncoding(done);
        }
        var encs = new EncodingBuilder[texts.Count];
        Parallel.For(0, texts.Count, i => encs[i] = EncodeOne(new Input(texts[i], null), null, opts));
        return new BatchEncoding(Finish(encs, opts, longLived, parallel: true));
    }

    /// <summary>
    /// Batches whose inputs hold at least this many characters (about 16 k tokens, 0.8 MB of encoding arrays) put their
    /// encodings' arrays on the pinned object heap (see <see cref="IsLargeBatch"/>).
    /// </summary>
    internal const int LargeBatchChars = 1 << 16;

    /// <summary>
    /// Whether a batch is large enough for its encodings to outlive young-generation collections: every encoding is kept
    /// until the batch returns, so a batch of several megabytes of results sees collections while it runs, and each copied
    /// all that was kept so far from generation 0 to 1 and from 1 to 2 with every other thread stopped (a 4 MB batch of
    /// text on two threads spent 15-25% of its time paused so, and ran no faster than one thread that drops its results).
    /// The pinned object heap is collected with generation 2 and never copies; the arrays of value types are 40 of the 48
    /// bytes per token. Small batches, whose results usually die young, keep the ordinary heap.
    /// </summary>
    private static bool IsLargeBatch(int count, Func<int, int> chars)
    {
        if (count < 2) return false;
        long total = 0;
        for (int i = 0; i < count && total < LargeBatchChars; i++) total += chars(i);
        return total >= LargeBatchChars;
    }

    private static int InputChars(Input input)
    {
        if (input.Text is not null) return input.Text.Length;
        int n = 0;
        for (int w = 0; w < input.Words!.Count && n < LargeBatchChars; w++) n += input.Words[w]?.Length ?? 0;
        return n;
    }

    /// <summary>Ids only, for a text (no allocation of offsets or token strings beyond the result).</summary>
    public int[] EncodeToIds(string text, bool addSpecialTokens = true) =>
        Encode(text, null, (DefaultOptions ?? EncodeOptions.Default) with { AddSpecialTokens = addSpecialTokens }).Ids;

    private readonly record struct Input(string? Text, IReadOnlyList<string>? Words);

    /// <summary>Input <paramref name="index"/> of a batch; a null <paramref name="what"/> is an <see cref="ArgumentNullException"/> naming it.</summary>
    private static Input TextInput(string? text, string paramName, int index, string what) =>
        new(text ?? throw new ArgumentNullException(paramName, $"the {what} of input {index} of the batch is null"), null);

    /// <summary>Pre-split input <paramref name="index"/> of a batch, as <see cref="TextInput"/>.</summary>
    private static Input WordsInput(IReadOnlyList<string>? words, string paramName, int index, string what) =>
        new(null, words ?? throw new ArgumentNullException(paramName, $"the {what} of input {index} of the batch are null"));

    private sealed record Resolved(bool AddSpecial, TruncationStrategy Truncation, int? MaxLength, int Stride, Side TruncSide,
        PaddingStrategy Padding, int? PadLength, int? PadMultiple, Side PadSide, bool Overflow);

    private Resolved Resolve(EncodeOptions? options)
    {
        var o = options ?? DefaultOptions ?? EncodeOptions.Default;
        var padding = o.Padding;
        var trunc = o.Truncation ?? (o.MaxLength is not null && padding == PaddingStrategy.None ? TruncationStrategy.LongestFirst : TruncationStrategy.None);
        int? max = o.MaxLength ?? ModelMaxLength;
        if (o.MaxLength is < 0) throw new ArgumentOutOfRangeException(nameof(options), $"MaxLength must not be negative, not {o.MaxLength}");
        if (o.Stride < 0) throw new ArgumentOutOfRangeException(nameof(options), $"Stride must not be negative, not {o.Stride}");
        if (o.PadToMultipleOf is <= 0) throw new ArgumentOutOfRangeException(nameof(options), $"PadToMultipleOf must be positive, not {o.PadToMultipleOf}");
        if (trunc != TruncationStrategy.None && max is null) trunc = TruncationStrategy.None; // unbounded model_max_length
        if (o.PaddingLength is < 0) throw new ArgumentOutOfRangeException(nameof(options), $"PaddingLength must not be negative, not {o.PaddingLength}");
        int? padLength = o.PaddingLength ?? max;
        if (padding == PaddingStrategy.MaxLength && padLength is null) padding = PaddingStrategy.None; // as transformers (it warns)
        return new Resolved(o.AddSpecialTokens, trunc, max, o.Stride, o.TruncationSide ?? TruncationSide, padding, padLength, o.PadToMultipleOf,
            o.PaddingSide ?? PaddingSide, o.ReturnOverflowingTokens);
    }

    private List<Encoding> EncodeMany(IReadOnlyList<(Input A, Input? B)> items, EncodeOptions? options)
    {
        var opts = Resolve(options);
        if (items.Any(x => x.A.Text is not null || x.B?.Text is not null)) RefuseTextWhenSplitIntoWords(options);
        bool longLived = IsLargeBatch(items.Count, i => InputChars(items[i].A) + (items[i].B is { } b ? InputChars(b) : 0));
        if (opts.Padding != PaddingStrategy.Longest)
        {
            // Nothing waits for the rest of the batch: each text is finished as soon as it is encoded, so one builder
            // (this thread's spare) serves the whole batch instead of one set of lists per text.
            var done = new List<Encoding>(items.Count);
            int target = PadTarget(opts, 0);
            for (int i = 0; i < items.Count; i++) done.Add(FinishOne(EncodeOne(items[i].A, items[i].B, opts), opts, target, longLived));
            return done;
        }
        var encs = new EncodingBuilder[items.Count];
        for (int i = 0; i < items.Count; i++) encs[i] = EncodeOne(items[i].A, items[i].B, opts);
        return Finish(encs, opts, longLived);
    }

    /// <summary>
    /// Refuses texts when the options (or <see cref="DefaultOptions"/>) say <c>IsSplitIntoWords</c>: the words must come
    /// as lists (transformers' <c>is_split_into_words=True</c> takes lists of words, not strings).
    /// </summary>
    private void RefuseTextWhenSplitIntoWords(EncodeOptions? options)
    {
        if ((options ?? DefaultOptions)?.IsSplitIntoWords == true)
            throw new ArgumentException("IsSplitIntoWords needs lists of words: use the Encode/EncodeBatch overloads that take IReadOnlyList<string>", nameof(options));
    }

    /// <summary>The padded length: <see cref="PaddingStrategy.MaxLength"/>'s, or <paramref name="longest"/> (the batch's
    /// longest) for <see cref="PaddingStrategy.Longest"/>, rounded up to PadToMultipleOf; 0 without padding.</summary>
    private static int PadTarget(Resolved opts, int longest)
    {
        if (opts.Padding == PaddingStrategy.None) return 0;
        int target = opts.Padding == PaddingStrategy.MaxLength ? opts.PadLength!.Value : longest;
        if (opts.PadMultiple is int m && target % m != 0) target += m - target % m;
        return target;
    }

    /// <summary>Pads <paramref name="e"/> to <paramref name="target"/> (with padding on), turns it into an
    /// <see cref="Encoding"/> (<paramref name="longLived"/>: of a large batch) and gives the builder back for reuse.</summary>
    private Encoding FinishOne(EncodingBuilder e, Resolved opts, int target, bool longLived)
    {
        if (opts.Padding != PaddingStrategy.None) e.Pad(target, PadTokenId, PadTokenTypeId, PadToken, opts.PadSide);
        var result = e.ToEncoding(longLived);
        EncodingBuilder.Return(e);
        return result;
    }

    private List<Encoding> Finish(EncodingBuilder[] encs, Resolved opts, bool longLived, bool parallel = false)
    {
        int target = PadTarget(opts, encs.Length == 0 ? 0 : encs.Max(e => e.Count));
        var result = new Encoding[encs.Length];
        void One(int i)
        {
            result[i] = FinishOne(encs[i], opts, target, longLived);
            encs[i] = null!;
        }
        if (parallel) Parallel.For(0, encs.Length, One);
        else for (int i = 0; i < encs.Length; i++) One(i);
        return [.. result];
    }

    private EncodingBuilder EncodeSequence(Input input, int seq)
    {
        var b = EncodingBuilder.Rent(input.Text is null ? 16 : Math.Min(input.Text.Length / 2 + 8, 1 << 16));
        if (input.Text is not null)
        {
            Core.EncodeText(input.Text, seq, b, null, false);
        }
        else
        {
            for (int w = 0; w < input.Words!.Count; w++)
            {
                string word = input.Words[w] ?? throw new ArgumentNullException(nameof(input), $"word {w} is null");
                Core.EncodeText(word, seq, b, w, true);
            }
        }
        return b;
    }

    private EncodingBuilder EncodeOne(Input a, Input? b, Resolved opts)
    {
        var ea = EncodeSequence(a, 0);
        var eb = b is null ? null : EncodeSequence(b.Value, 1);
        if (opts.Truncation != TruncationStrategy.None)
        {
            if (!PythonPairTruncation && !opts.Overflow)
            {
                // The tokenizers library (since 0.23) stops tokenizing a sequence once it holds max_length tokens, at
                // the end of the pre-token that got there (tokenize_with_limit), for every sequence but the first under
                // only_second; truncation then works on those lengths (it decides which input of a pair keeps the odd
                // token). When overflowing tokens are asked for, the whole text is tokenized instead, so that the
                // overflowing windows cover all of it (tokenizers 0.23 would return only those of its first part).
                if (opts.Truncation != TruncationStrategy.OnlySecond && a.Text is not null)
                    ea = LimitAtPreToken(ea, opts.MaxLength!.Value, opts.TruncSide);
                if (eb is not null && b!.Value.Text is not null)
                    eb = LimitAtPreToken(eb, opts.MaxLength!.Value, opts.TruncSide);
            }
            int max = opts.MaxLength!.Value;
            int added = opts.AddSpecial && Core.PostProcessor is not null ? Core.PostProcessor.AddedTokens(eb is not null) : 0;
            if (added > 0)
            {
                if (max < added) throw new ArgumentException($"MaxLength {max} is shorter than the {added} special tokens the template adds");
                max -= added;
            }
            Truncate(ea, eb, max, opts, PythonPairTruncation);
            if (!opts.Overflow)
            {
                ea.Overflowing.Clear();
                eb?.Overflowing.Clear();
            }
        }
        if (Core.PostProcessor is not null) return Core.PostProcessor.Process(ea, eb, opts.AddSpecial);
        if (eb is not null) ea.MergeWith(eb);
        return ea;
    }

    /// <summary>
    /// The tokens a sequence keeps when tokenization stops once <paramref name="maxTokens"/> tokens are reached
    /// (tokenizers' <c>tokenize_with_limit</c>), counted from the truncation side pre-token by pre-token (a pre-token is
    /// a run of one word id): the limit is checked only after a pre-token the model tokenized, so an added token
    /// matched in the text that reaches it is kept together with the next model pre-token (and any added tokens
    /// between them).
    /// </summary>
    private EncodingBuilder LimitAtPreToken(EncodingBuilder e, int maxTokens, Side direction)
    {
        int n = e.Count;
        if (n <= maxTokens || maxTokens == 0) return e;
        bool Same(int i, int j) => e.Words[i] is int x && e.Words[j] is int y && x == y;
        int total = 0;
        if (direction == Side.Right)
        {
            int end = 0;
            while (end < n)
            {
                int start = end;
                end++;
                while (end < n && Same(end - 1, end)) end++;
                total += end - start;
                if (total >= maxTokens && !e.IsMatchedAddedToken(start)) break;
            }
            return end == n ? e : e.Slice(0, end);
        }
        int begin = n;
        while (begin > 0)
        {
            int stop = begin;
            begin--;
            while (begin > 0 && Same(begin - 1, begin)) begin--;
            total += stop - begin;
            if (total >= maxTokens && !e.IsMatchedAddedToken(begin)) break;
        }
        return begin == 0 ? e : e.Slice(begin, n);
    }

    /// <summary>
    /// True for the slow tokenizer: a pair truncated with longest_first follows transformers' Python
    /// <c>truncate_sequences</c> (with an odd budget the first sequence keeps the extra token) instead of the tokenizers
    /// library's rule.
    /// </summary>
    private protected virtual bool PythonPairTruncation => false;

    /// <summary>
    /// Truncates to <paramref name="max"/> tokens (the maximum length less the template's special tokens). longest_first
    /// on a pair follows the tokenizers library's rule (the shorter keeps min(its length, budget / 2 or what the longer
    /// leaves), the longer the rest; lengths as limited by <see cref="LimitAtPreToken"/>), or transformers' Python rule
    /// for the slow tokenizer.
    /// </summary>
    private static void Truncate(EncodingBuilder a, EncodingBuilder? b, int max, Resolved o, bool pythonRule)
    {
        if (max == 0)
        {
            a.Truncate(0, o.Stride, o.TruncSide);
            b?.Truncate(0, o.Stride, o.TruncSide);
            return;
        }
        int total = a.Count + (b?.Count ?? 0);
        if (total <= max) return;
        int toRemove = total - max;
        switch (o.Truncation)
        {
            case TruncationStrategy.LongestFirst:
                if (b is not null && pythonRule)
                {
                    // transformers' truncate_sequences: remove from the longer down to the shorter's length, then
                    // alternately, the first sequence keeping the extra token.
                    int lenA = a.Count, lenB = b.Count;
                    int first = Math.Min(Math.Abs(lenB - lenA), toRemove), second = toRemove - first;
                    int fromA = lenA > lenB ? first + second / 2 : second / 2;
                    int fromB = lenA > lenB ? second - second / 2 : first + second - second / 2;
                    a.Truncate(lenA - fromA, o.Stride, o.TruncSide);
                    b.Truncate(lenB - fromB, o.Stride, o.TruncSide);
                }
                else if (b is not null)
                {
                    int n1 = a.Count, n2 = b.Count;
                    bool swap = false;
                    if (n1 > n2) { swap = true; (n1, n2) = (n2, n1); }
                    n2 = n1 > max ? n1 : Math.Max(n1, max - n1);
                    if (n1 + n2 > max) { n1 = max / 2; n2 = n1 + max % 2; }
                    if (swap) (n1, n2) = (n2, n1);
                    a.Truncate(n1, o.Stride, o.TruncSide);
                    b.Truncate(n2, o.Stride, o.TruncSide);
                }
                else a.Truncate(total - toRemove, o.Stride, o.TruncSide);
                break;
            case TruncationStrategy.OnlyFirst:
            case TruncationStrategy.OnlySecond:
                var target = o.Truncation == TruncationStrategy.OnlyFirst ? a
                    : b ?? throw new ArgumentException("truncation only_second needs a pair of sequences");
                if (target.Count > toRemove) target.Truncate(target.Count - toRemove, o.Stride, o.TruncSide);
                else throw new ArgumentException($"truncation {(o.Truncation == TruncationStrategy.OnlyFirst ? "only_first" : "only_second")}: the sequence to truncate has {target.Count} tokens but {toRemove} must be removed to fit the maximum length; use longest_first");
                break;
        }
    }

    // ------------------------------------------------------------------------------------------- decoding and conversions

    /// <summary>
    /// Decodes ids to text (Hugging Face's <c>decode</c>); invalid UTF-8 follows <see cref="Errors"/>. An id with no
    /// token (at or past the vocabulary's end) is skipped, as the tokenizers library's <c>Tokenizer::decode</c> does; a
    /// negative id is an <see cref="ArgumentOutOfRangeException"/> naming it and its index (Hugging Face cannot take
    /// one: the Rust binding's conversion to <c>u32</c> raises <c>OverflowError</c>).
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ids = RefuseNegativeIds(ids);
        DecoderFallback? fb = !DecodeFollowsErrors ? null : Errors switch
        {
            "strict" => DecoderFallback.ExceptionFallback,
            "ignore" => new DecoderReplacementFallback(""),
            _ => null,
        };
        string text = DecodeCore(ids, skipSpecialTokens, fb);
        return cleanUpTokenizationSpaces ?? CleanUpTokenizationSpaces ? CleanUpTokenization(text) : text;
    }

    /// <summary>
    /// Whether <see cref="Decode"/> follows <see cref="Errors"/>: true for the slow tokenizer (transformers' Python
    /// <c>bytearray(...).decode("utf-8", errors=self.errors)</c>); the fast one's decoder is tokenizers' ByteLevel, which
    /// always replaces invalid UTF-8 (<c>String::from_utf8_lossy</c>) whatever <c>errors</c> says.
    /// </summary>
    private protected virtual bool DecodeFollowsErrors => true;

    private protected virtual string DecodeCore(IEnumerable<int> ids, bool skipSpecialTokens, DecoderFallback? fallback) =>
        Core.Decode(ids, skipSpecialTokens, fallback);

    /// <summary>Decodes each sequence of a batch.</summary>
    public string[] BatchDecode(IEnumerable<IEnumerable<int>> sequences, bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null) =>
        [.. sequences.Select(s => Decode(s, skipSpecialTokens, cleanUpTokenizationSpaces))];

    /// <summary>Hugging Face's <c>clean_up_tokenization</c>: removes spaces before punctuation and English contractions.</summary>
    public static string CleanUpTokenization(string text) => text
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
        .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");

    /// <summary>
    /// The token string of each id (Hugging Face's <c>convert_ids_to_tokens</c>): null for an id at or past the
    /// vocabulary's end (tokenizers' <c>id_to_token</c> gives None); a negative id is an
    /// <see cref="ArgumentOutOfRangeException"/> naming it and its index.
    /// </summary>
    public string?[] ConvertIdsToTokens(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var checkedIds = RefuseNegativeIds(ids);
        if (!skipSpecialTokens) return [.. checkedIds.Select(Core.IdToToken)];
        var special = AllSpecialIds.ToHashSet();
        return [.. checkedIds.Where(id => !special.Contains(id)).Select(Core.IdToToken)];
    }

    /// <summary>The token string of one id, or null past the vocabulary's end; a negative id is an <see cref="ArgumentOutOfRangeException"/>.</summary>
    public string? ConvertIdsToTokens(int id)
    {
        if (id < 0) throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is negative; token ids start at 0");
        return Core.IdToToken(id);
    }

    /// <summary>
    /// The ids, refusing a negative one with its index: Hugging Face's fast tokenizer converts ids to Rust's <c>u32</c>
    /// (<c>decode</c>, <c>id_to_token</c>), which raises <c>OverflowError</c> for a negative id.
    /// </summary>
    private static int[] RefuseNegativeIds(IEnumerable<int> ids)
    {
        int[] all = [.. ids];
        for (int i = 0; i < all.Length; i++)
            if (all[i] < 0) throw new ArgumentOutOfRangeException(nameof(ids), all[i], $"token id {all[i]} at index {i} is negative; token ids start at 0");
        return all;
    }

    /// <summary>The id of each token (the unknown token's id for tokens outside the vocabulary).</summary>
    public int[] ConvertTokensToIds(IEnumerable<string> tokens) => [.. tokens.Select(ConvertTokensToIds)];

    /// <summary>The id of one token (the unknown token's id, or -1 without one, when absent).</summary>
    public int ConvertTokensToIds(string token)
    {
        int id = Core.TokenToId(token);
        return id >= 0 ? id : Core.TokenToId(UnkToken);
    }

    // ------------------------------------------------------------------------------------------- added tokens

    /// <summary>Adds tokens (not special); returns how many are new to the vocabulary.</summary>
    public int AddTokens(IEnumerable<string> tokens) => AddTokens(tokens.Select(t => new AddedToken(t, Normalized: true)));

    /// <summary>Adds tokens with their matching options; returns how many are new to the vocabulary.</summary>
    public int AddTokens(IEnumerable<AddedToken> tokens)
    {
        int n = 0;
        foreach (var t in tokens) if (Core.AddToken(t)) n++;
        return n;
    }

    /// <summary>Adds special tokens (never split, skipped by <c>skipSpecialTokens</c>); returns how many are new.</summary>
    public int AddSpecialTokens(IEnumerable<string> tokens) =>
        AddTokens(tokens.Select(t => new AddedToken(t, Normalized: false, Special: true)));

    /// <summary>Adds special tokens with their matching options; returns how many are new.</summary>
    public int AddSpecialTokens(IEnumerable<AddedToken> tokens) => AddTokens(tokens.Select(t => t with { Special = true }));

    // ------------------------------------------------------------------------------------------- documented helpers

    /// <summary><c>[CLS] A [SEP]</c> or <c>[CLS] A [SEP] B [SEP]</c> (<c>build_inputs_with_special_tokens</c>).</summary>
    public int[] BuildInputsWithSpecialTokens(IReadOnlyList<int> tokenIds0, IReadOnlyList<int>? tokenIds1 = null)
    {
        var r = new List<int> { ClsTokenId };
        r.AddRange(tokenIds0);
        r.Add(SepTokenId);
        if (tokenIds1 is not null) { r.AddRange(tokenIds1); r.Add(SepTokenId); }
        return [.. r];
    }

    /// <summary>
    /// 1 for special tokens, 0 for sequence tokens (<c>get_special_tokens_mask</c>). With
    /// <paramref name="alreadyHasSpecialTokens"/>, marks the ids of <paramref name="tokenIds0"/> that are special.
    /// </summary>
    public int[] GetSpecialTokensMask(IReadOnlyList<int> tokenIds0, IReadOnlyList<int>? tokenIds1 = null, bool alreadyHasSpecialTokens = false)
    {
        if (alreadyHasSpecialTokens)
        {
            if (tokenIds1 is not null) throw new ArgumentException("tokenIds1 must be null when the ids already have special tokens", nameof(tokenIds1));
            var special = AllSpecialIds.ToHashSet();
            return [.. tokenIds0.Select(id => special.Contains(id) ? 1 : 0)];
        }
        var r = new List<int> { 1 };
        r.AddRange(Enumerable.Repeat(0, tokenIds0.Count));
        r.Add(1);
        if (tokenIds1 is not null) { r.AddRange(Enumerable.Repeat(0, tokenIds1.Count)); r.Add(1); }
        return [.. r];
    }

    /// <summary>Token type ids for <c>[CLS] A [SEP] B [SEP]</c>: 0 for <c>[CLS] A [SEP]</c>, 1 for <c>B [SEP]</c> (<c>create_token_type_ids_from_sequences</c>).</summary>
    public int[] CreateTokenTypeIdsFromSequences(IReadOnlyList<int> tokenIds0, IReadOnlyList<int>? tokenIds1 = null)
    {
        var r = Enumerable.Repeat(0, tokenIds0.Count + 2).ToList();
        if (tokenIds1 is not null) r.AddRange(Enumerable.Repeat(1, tokenIds1.Count + 1));
        return [.. r];
    }

    // ------------------------------------------------------------------------------------------- saving and loading

    /// <summary>Writes <c>vocab.json</c> and <c>merges.txt</c> (<c>save_vocabulary</c>); returns their paths.</summary>
    public string[] SaveVocabulary(string directory, string? filenamePrefix = null)
    {
        Directory.CreateDirectory(directory);
        string pre = string.IsNullOrEmpty(filenamePrefix) ? "" : filenamePrefix + "-";
        string vocabPath = Path.Combine(directory, pre + "vocab.json");
        string mergesPath = Path.Combine(directory, pre + "merges.txt");
        var vocab = new JsonObject();
        foreach (var (tok, id) in Core.Model.Vocab.OrderBy(kv => kv.Key, StringComparer.Ordinal)) vocab[tok] = id;
        FileUtil.WriteAtomic(vocabPath, w => w.Write(vocab.ToJsonString(FileUtil.PrettyJson)));
        FileUtil.WriteAtomic(mergesPath, w =>
        {
            w.Write("#version: 0.2\n");
            foreach (var (a, b) in Core.Model.MergeList) { w.Write(a); w.Write(' '); w.Write(b); w.Write('\n'); }
        });
        return [vocabPath, mergesPath];
    }

    /// <summary>Writes the files <see cref="FromPretrained"/> reads back.</summary>
    public abstract void SavePretrained(string directory);

    /// <summary>Writes tokenizer_config.json and special_tokens_map.json.</summary>
    private protected void SaveConfig(string directory, string tokenizerClass, bool withAddedTokensDecoder)
    {
        var cfg = new JsonObject
        {
            ["add_prefix_space"] = AddPrefixSpace,
            ["bos_token"] = BosToken,
            ["clean_up_tokenization_spaces"] = CleanUpTokenizationSpaces,
            ["cls_token"] = ClsToken,
            ["eos_token"] = EosToken,
            ["errors"] = Errors,
            ["mask_token"] = MaskToken,
            ["pad_token"] = PadToken,
            ["sep_token"] = SepToken,
            ["unk_token"] = UnkToken,
            ["padding_side"] = PaddingSide == Side.Left ? "left" : "right",
            ["truncation_side"] = TruncationSide == Side.Left ? "left" : "right",
            ["tokenizer_class"] = tokenizerClass,
        };
        if (ModelMaxLength is int mml) cfg["model_max_length"] = mml;
        if (withAddedTokensDecoder)
        {
            var dec = new JsonObject();
            foreach (var (t, id) in Core.Added.OrderBy(x => x.Id))
                dec[id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = TokenizerJson.AddedTokenJson(t, null);
            cfg["added_tokens_decoder"] = dec;
        }
        FileUtil.WriteAtomic(Path.Combine(directory, "tokenizer_config.json"), w => w.Write(cfg.ToJsonString(FileUtil.PrettyJson)));
        var map = new JsonObject
        {
            ["bos_token"] = BosToken, ["cls_token"] = ClsToken, ["eos_token"] = EosToken,
            ["mask_token"] = TokenizerJson.AddedTokenJson(Core.Added.FirstOrDefault(x => x.Token.Content == MaskToken).Token ?? new AddedToken(MaskToken, Special: true), null),
            ["pad_token"] = PadToken, ["sep_token"] = SepToken, ["unk_token"] = UnkToken,
        };
        FileUtil.WriteAtomic(Path.Combine(directory, "special_tokens_map.json"), w => w.Write(map.ToJsonString(FileUtil.PrettyJson)));
    }

    /// <summary>
    /// Loads the tokenizer saved in <paramref name="directory"/>: <see cref="DebertaTokenizerFast"/> when it has a
    /// <c>tokenizer.json</c>, else <see cref="DebertaTokenizer"/> on its <c>vocab.json</c> and <c>merges.txt</c>.
    /// </summary>
    public static DebertaTokenizerBase FromPretrained(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"tokenizer directory not found: {directory}");
        return File.Exists(Path.Combine(directory, "tokenizer.json"))
            ? DebertaTokenizerFast.FromPretrained(directory)
            : DebertaTokenizer.FromPretrained(directory);
    }

    /// <summary>Applies the settings of tokenizer_config.json / special_tokens_map.json shared by both tokenizers.</summary>
    private protected void ApplyConfig(TokenizerConfig cfg)
    {
        ClsToken = cfg.Cls?.Content ?? ClsToken;
        SepToken = cfg.Sep?.Content ?? SepToken;
        PadToken = cfg.Pad?.Content ?? PadToken;
        UnkToken = cfg.Unk?.Content ?? UnkToken;
        MaskToken = cfg.Mask?.Content ?? MaskToken;
        BosToken = cfg.Bos?.Content ?? BosToken;
        EosToken = cfg.Eos?.Content ?? EosToken;
        ModelMaxLength = cfg.ModelMaxLength;
        CleanUpTokenizationSpaces = cfg.CleanUp ?? false;
        Errors = cfg.Errors ?? "replace";
        if (Errors is not ("replace" or "ignore" or "strict"))
            throw new TokenizerFormatException(cfg.Source, $"errors must be replace, ignore or strict, not '{Errors}'");
        if (cfg.PaddingSide is Side ps) PaddingSide = ps;
        if (cfg.TruncationSide is Side ts) TruncationSide = ts;
    }
}

/// <summary>Atomic file writes and shared JSON settings.</summary>
internal static class FileUtil
{
    public static readonly JsonSerializerOptions PrettyJson = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Writes a UTF-8 file through a temporary file and a rename, so a failure never leaves a partial file (see
    /// <see cref="IO.SafeFile"/>: links are written through, devices and FIFOs directly, the file's mode is kept).
    /// </summary>
    public static void WriteAtomic(string path, Action<TextWriter> write) => IO.SafeFile.WriteText(path, write);
}
