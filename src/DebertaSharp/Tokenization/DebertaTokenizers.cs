using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Tokenization;

/// <summary>
/// DeBERTa's tokenizer from <c>vocab.json</c> + <c>merges.txt</c> (Hugging Face's Python <c>DebertaTokenizer</c> of
/// transformers 4.x): GPT-2 byte-level BPE, <c>[CLS] A [SEP] B [SEP]</c> with type ids 0 then 1, <c>[MASK]</c>
/// taking the space on its left. Offsets are computed too (the Python class has none).
/// </summary>
public sealed class DebertaTokenizer : DebertaTokenizerBase
{
    private DebertaTokenizer(TokenizerCore core) : base(core) { }

    /// <summary>Loads <paramref name="vocabFile"/> and <paramref name="mergesFile"/> with default special tokens.</summary>
    public DebertaTokenizer(string vocabFile, string mergesFile, bool addPrefixSpace = false)
        : this(Build(vocabFile, mergesFile, addPrefixSpace))
    {
        RegisterSpecials(new TokenizerConfig());
    }

    /// <summary>Loads vocab.json, merges.txt and, when present, tokenizer_config.json, special_tokens_map.json and added_tokens.json.</summary>
    public static new DebertaTokenizer FromPretrained(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"tokenizer directory not found: {directory}");
        var cfg = TokenizerConfig.Load(directory);
        var t = new DebertaTokenizer(Build(Path.Combine(directory, "vocab.json"), Path.Combine(directory, "merges.txt"), cfg.AddPrefixSpace ?? false,
            cfg.Unk?.Content ?? "[UNK]"));
        t.RegisterSpecials(cfg);
        return t;
    }

    private void RegisterSpecials(TokenizerConfig cfg)
    {
        // transformers 4.x: a mask token given as a string strips the space on its left.
        if (cfg.Mask is { } m && !cfg.AddedTokensDecoder.Any(x => x.Token.Content == m.Content) && m == new AddedToken(m.Content, Special: true))
            cfg.Mask = m with { LStrip = true };
        cfg.Mask ??= new AddedToken("[MASK]", LStrip: true, Special: true);
        ApplyConfig(cfg);
        foreach (var (tok, id) in cfg.AddedTokensDecoder.OrderBy(x => x.Id)) Core.AddToken(tok, id);
        foreach (var (tok, id) in cfg.AddedTokensJson.OrderBy(x => x.Id))
            if (Core.TokenToId(tok) < 0) Core.AddToken(new AddedToken(tok, Normalized: true), id);
        var named = new[] { cfg.Bos ?? Sp(BosToken), cfg.Eos ?? Sp(EosToken), cfg.Unk ?? Sp(UnkToken), cfg.Sep ?? Sp(SepToken), cfg.Pad ?? Sp(PadToken), cfg.Cls ?? Sp(ClsToken), cfg.Mask };
        foreach (var t in named.Concat(cfg.AdditionalSpecial))
            if (!Core.Added.Any(x => x.Token.Content == t.Content)) Core.AddToken(t with { Special = true });
        Core.PostProcessor = new TemplateProcessor(
            [new(false, "[CLS]", 0), new(true, "A", 0), new(false, "[SEP]", 0)],
            [new(false, "[CLS]", 0), new(true, "A", 0), new(false, "[SEP]", 0), new(true, "B", 1), new(false, "[SEP]", 1)],
            new Dictionary<string, (int[], string[])>
            {
                ["[CLS]"] = ([ConvertTokensToIds(ClsToken)], [ClsToken]),
                ["[SEP]"] = ([ConvertTokensToIds(SepToken)], [SepToken]),
            });
    }

    private static AddedToken Sp(string s) => new(s, Special: true);

    /// <summary>
    /// The slow tokenizer's pipeline. A piece outside the vocabulary takes <paramref name="unkToken"/>'s id, the
    /// configured <c>unk_token</c> (transformers' <c>_convert_token_to_id</c>: <c>encoder.get(token, encoder.get(self.unk_token))</c>).
    /// </summary>
    private static TokenizerCore Build(string vocabFile, string mergesFile, bool addPrefixSpace, string unkToken = "[UNK]")
    {
        if (!File.Exists(vocabFile)) throw new FileNotFoundException($"vocabulary file not found: {vocabFile}", vocabFile);
        if (!File.Exists(mergesFile)) throw new FileNotFoundException($"merges file not found: {mergesFile}", mergesFile);
        var node = TokenizerConfig.ReadJson(vocabFile) as JsonObject ?? throw new TokenizerFormatException(vocabFile, "must be a JSON object of token to id");
        TokenizerLimits.CheckVocabCount(node.Count, vocabFile);
        var vocab = new Dictionary<string, int>(node.Count, StringComparer.Ordinal);
        foreach (var (tok, idNode) in node)
        {
            if (idNode is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue(out int id))
                throw new TokenizerFormatException(vocabFile, $"the id of '{tok}' must be an integer, not {idNode?.ToJsonString() ?? "null"}");
            TokenizerLimits.CheckVocabEntry(tok, id, vocabFile);
            vocab[tok] = id;
        }
        var merges = new List<(string, string)>();
        string[] lines;
        TokenizerLimits.CheckFileSize(mergesFile);
        try
        {
            lines = File.ReadAllText(mergesFile, new System.Text.UTF8Encoding(false, true)).Split('\n');
        }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new TokenizerFormatException(mergesFile, "is not valid UTF-8", e);
        }
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (i == 0 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
            if (line.Trim().Length == 0) continue;
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new TokenizerFormatException(mergesFile, $"line {i + 1} ('{line}') must hold two tokens separated by a space");
            TokenizerLimits.CheckMergeCount(merges.Count, mergesFile);
            TokenizerLimits.CheckToken(line, mergesFile, $"line {i + 1}");
            merges.Add((parts[0], parts[1]));
        }
        return new TokenizerCore
        {
            Model = new BpeModel(vocab, merges, unkToken, strictMerges: false, mergesFile),
            AddPrefixSpace = addPrefixSpace,
            SlowPrefixRules = true,
            AddedTokenStringIsContent = true,
        };
    }

    /// <inheritdoc/>
    private protected override bool PythonPairTruncation => true;

    /// <summary>
    /// transformers 4.x's slow decoding: tokens added outside the vocabulary (not special) are kept as they are and
    /// joined to the decoded text around them with spaces (<c>spaces_between_special_tokens=True</c>).
    /// </summary>
    private protected override string DecodeCore(IEnumerable<int> ids, bool skipSpecialTokens, System.Text.DecoderFallback? fallback)
    {
        var legacy = Core.Added.Where(x => !x.Token.Special && x.Id >= Core.Model.VocabCount).Select(x => x.Id).ToHashSet();
        if (legacy.Count == 0) return Core.Decode(ids, skipSpecialTokens, fallback);
        var parts = new List<string>();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (skipSpecialTokens && Core.IsSpecialId(id)) continue;
            if (!legacy.Contains(id)) { run.Add(id); continue; }
            if (run.Count > 0)
            {
                string t = Core.Decode(run, skipSpecialTokens, fallback);
                if (t.Length > 0) parts.Add(t);
                run.Clear();
            }
            parts.Add(Core.IdToToken(id)!);
        }
        if (run.Count > 0) parts.Add(Core.Decode(run, skipSpecialTokens, fallback));
        return string.Join(" ", parts);
    }

    /// <summary>Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json.</summary>
    public override void SavePretrained(string directory)
    {
        SaveVocabulary(directory);
        SaveConfig(directory, "DebertaTokenizer", withAddedTokensDecoder: true);
    }
}

/// <summary>
/// DeBERTa's fast tokenizer from a Hugging Face <c>tokenizer.json</c> (Hugging Face's <c>DebertaTokenizerFast</c>):
/// follows the file's model, normalizer, pre-tokenizer, post-processor, decoder, added tokens and
/// truncation/padding sections; an unsupported component is a <see cref="TokenizerFormatException"/> naming it.
/// </summary>
public sealed class DebertaTokenizerFast : DebertaTokenizerBase
{
    private readonly JsonObject _root;
    private readonly int? _padIdFromFile;

    private DebertaTokenizerFast(TokenizerJson.Loaded loaded) : base(loaded.Core)
    {
        _root = loaded.Root;
        _padIdFromFile = loaded.PadId;
        PadTokenTypeId = loaded.PadTypeId;
        if (loaded.PadToken is not null) PadToken = loaded.PadToken;
        if (loaded.PaddingSide is Side ps) PaddingSide = ps;
        if (loaded.TruncationSide is Side ts) TruncationSide = ts;
        if (loaded.Defaults is not null) DefaultOptions = loaded.Defaults;
    }

    /// <summary>Loads a tokenizer.json file (special-token names take DeBERTa's defaults).</summary>
    public DebertaTokenizerFast(string tokenizerJsonPath) : this(LoadFile(tokenizerJsonPath)) { }

    private static TokenizerJson.Loaded LoadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer.json not found: {path}", path);
        return TokenizerJson.Load(path);
    }

    /// <summary>Loads tokenizer.json and, when present, tokenizer_config.json and special_tokens_map.json from <paramref name="directory"/>.</summary>
    public static new DebertaTokenizerFast FromPretrained(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"tokenizer directory not found: {directory}");
        var t = new DebertaTokenizerFast(LoadFile(Path.Combine(directory, "tokenizer.json")));
        var cfg = TokenizerConfig.Load(directory);
        var padBefore = t.PadToken;
        t.ApplyConfig(cfg);
        if (t._padIdFromFile is not null && cfg.Pad is null) t.PadToken = padBefore;
        foreach (var tok in new[] { cfg.Bos, cfg.Eos, cfg.Unk, cfg.Sep, cfg.Pad, cfg.Cls, cfg.Mask }.Concat(cfg.AdditionalSpecial))
            if (tok is not null && !t.Core.Added.Any(x => x.Token.Content == tok.Content)) t.Core.AddToken(tok with { Special = true });
        return t;
    }

    /// <inheritdoc/>
    private protected override bool DecodeFollowsErrors => false;

    /// <summary>Writes tokenizer.json (loadable by Hugging Face), tokenizer_config.json and special_tokens_map.json.</summary>
    public override void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        TokenizerJson.Save(Path.Combine(directory, "tokenizer.json"), Core, _root,
            ReferenceEquals(DefaultOptions, EncodeOptions.Default) ? null : DefaultOptions, PadTokenId, PadTokenTypeId, PadToken);
        SaveConfig(directory, "DebertaTokenizer", withAddedTokensDecoder: true);
    }
}
