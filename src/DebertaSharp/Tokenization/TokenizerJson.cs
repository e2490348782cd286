using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Tokenization;

/// <summary>Reads and writes Hugging Face's tokenizer.json.</summary>
internal static class TokenizerJson
{
    /// <summary>What a tokenizer.json holds besides the pipeline itself.</summary>
    internal sealed class Loaded
    {
        public required TokenizerCore Core { get; init; }
        public required JsonObject Root { get; init; }
        public EncodeOptions? Defaults { get; init; }
        public int? PadId { get; init; }
        public int PadTypeId { get; init; }
        public string? PadToken { get; init; }
        public Side? PaddingSide { get; init; }
        public Side? TruncationSide { get; init; }
    }

    public static Loaded Load(string path)
    {
        try
        {
            return LoadCore(path);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidCastException)
        {
            // JsonNode's casts and indexers throw these when a value has another JSON type than the section expects
            // (found by fuzzing: an array where the post_processor's special token object was expected).
            throw new TokenizerFormatException(path, "a value has the wrong JSON type or range: " + e.Message, e);
        }
    }

    private static Loaded LoadCore(string path)
    {
        JsonObject root = TokenizerConfig.ReadJson(path) as JsonObject ?? throw new TokenizerFormatException(path, "must be a JSON object");
        string P(string section) => $"{path} ({section})";

        // Model
        var model = root["model"] as JsonObject ?? throw new TokenizerFormatException(P("model"), "the 'model' section is missing");
        string type = model["type"] is JsonNode tn ? TokenizerConfig.Str(tn, "model.type", path) : "BPE";
        if (type != "BPE") throw new TokenizerFormatException(P("model"), $"model type '{type}' is not supported (only BPE)");
        if (model["dropout"] is JsonValue dv && dv.GetValueKind() == JsonValueKind.Number && !(dv.TryGetValue(out double dropout) && dropout <= 0))
            throw new TokenizerFormatException(P("model.dropout"), $"BPE dropout {dv.ToJsonString()} is not supported (only 0 or null: dropout makes encoding random)");
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model[key] is JsonNode n && TokenizerConfig.Str(n, key, path) != "")
                throw new TokenizerFormatException(P("model." + key), $"a non-empty {key} is not supported");
        var vocabNode = model["vocab"] as JsonObject ?? throw new TokenizerFormatException(P("model.vocab"), "the BPE vocab must be an object of token to id");
        TokenizerLimits.CheckVocabCount(vocabNode.Count, P("model.vocab"));
        var vocab = new Dictionary<string, int>(vocabNode.Count, StringComparer.Ordinal);
        foreach (var (tok, idNode) in vocabNode)
        {
            if (idNode is not JsonValue iv || !iv.TryGetValue(out int id)) throw new TokenizerFormatException(P("model.vocab"), $"the id of '{tok}' must be an integer, not {idNode?.ToJsonString() ?? "null"}");
            TokenizerLimits.CheckVocabEntry(tok, id, P("model.vocab"));
            vocab[tok] = id;
        }
        var merges = new List<(string, string)>();
        if (model["merges"] is JsonArray ma)
        {
            for (int i = 0; i < ma.Count; i++)
            {
                TokenizerLimits.CheckMergeCount(i, P("model.merges"));
                switch (ma[i])
                {
                    case JsonValue sv when sv.GetValueKind() == JsonValueKind.String:
                        string s = sv.GetValue<string>();
                        var parts = s.Split(' ');
                        if (parts.Length != 2) throw new TokenizerFormatException(P("model.merges"), $"merge {i} '{s}' must be two tokens separated by one space");
                        TokenizerLimits.CheckToken(s, P("model.merges"), $"merge {i}");
                        merges.Add((parts[0], parts[1]));
                        break;
                    case JsonArray pa when pa.Count == 2 && pa[0] is JsonValue a && pa[1] is JsonValue b
                        && a.GetValueKind() == JsonValueKind.String && b.GetValueKind() == JsonValueKind.String:
                        TokenizerLimits.CheckToken(a.GetValue<string>() + " " + b.GetValue<string>(), P("model.merges"), $"merge {i}");
                        merges.Add((a.GetValue<string>(), b.GetValue<string>()));
                        break;
                    default:
                        throw new TokenizerFormatException(P("model.merges"), $"merge {i} must be \"a b\" or [\"a\", \"b\"], not {ma[i]?.ToJsonString() ?? "null"}");
                }
            }
        }
        else if (model["merges"] is not null) throw new TokenizerFormatException(P("model.merges"), "merges must be an array");
        string? unk = model["unk_token"] is JsonNode un ? TokenizerConfig.Str(un, "model.unk_token", path) : null;
        var bpe = new BpeModel(vocab, merges, unk, strictMerges: true, P("model"))
        {
            FuseUnk = TokenizerConfig.Bool(model, "fuse_unk", path) ?? false,
            ByteFallback = TokenizerConfig.Bool(model, "byte_fallback", path) ?? false,
            IgnoreMerges = TokenizerConfig.Bool(model, "ignore_merges", path) ?? false,
        };

        // Normalizer
        Normalizer? normalizer = ParseNormalizer(root["normalizer"], P("normalizer"));

        // Pre-tokenizer
        bool byteLevel = false, addPrefix = false, useRegex = true;
        SplitStep[]? splitSteps = null;
        var pre = root["pre_tokenizer"];
        if (pre is JsonObject po)
        {
            var steps = TypeOf(po, P("pre_tokenizer")) == "Sequence"
                ? (po["pretokenizers"] as JsonArray ?? throw new TokenizerFormatException(P("pre_tokenizer"), "Sequence without 'pretokenizers'")).ToList()
                : [po];
            var splits = new List<SplitStep>();
            for (int k = 0; k < steps.Count; k++)
            {
                var step = steps[k] as JsonObject ?? throw new TokenizerFormatException(P("pre_tokenizer"), "a pre-tokenizer must be an object");
                string st = TypeOf(step, P("pre_tokenizer"));
                if (st == "ByteLevel")
                {
                    if (k != steps.Count - 1) throw new TokenizerFormatException(P("pre_tokenizer"), "ByteLevel is supported only as the last pre-tokenizer of a Sequence");
                    byteLevel = true;
                    addPrefix = TokenizerConfig.Bool(step, "add_prefix_space", path) ?? true;
                    useRegex = TokenizerConfig.Bool(step, "use_regex", path) ?? true;
                }
                else if (st == "Split") splits.Add(ParseSplit(step, P("pre_tokenizer.Split")));
                else throw new TokenizerFormatException(P("pre_tokenizer"), $"pre-tokenizer type '{st}' is not supported (ByteLevel, Split, Sequence)");
            }
            splitSteps = splits.Count > 0 ? [.. splits] : null;
        }
        else if (pre is not null) throw new TokenizerFormatException(P("pre_tokenizer"), "must be an object or null");

        // Decoder
        bool byteDecoder = false;
        if (root["decoder"] is JsonObject dec)
        {
            var steps = TypeOf(dec, P("decoder")) == "Sequence"
                ? (dec["decoders"] as JsonArray ?? throw new TokenizerFormatException(P("decoder"), "Sequence without 'decoders'")).ToList()
                : [dec];
            foreach (var s in steps)
            {
                string dt = TypeOf(s as JsonObject ?? throw new TokenizerFormatException(P("decoder"), "a decoder must be an object"), P("decoder"));
                if (dt != "ByteLevel") throw new TokenizerFormatException(P("decoder"), $"decoder type '{dt}' is not supported (only ByteLevel)");
            }
            byteDecoder = steps.Count > 0;
        }
        else if (root["decoder"] is not null) throw new TokenizerFormatException(P("decoder"), "must be an object or null");

        var core = new TokenizerCore
        {
            Model = bpe,
            Normalizer = normalizer,
            ByteLevelPreTokenizer = byteLevel,
            AddPrefixSpace = addPrefix,
            UseRegex = useRegex,
            SplitSteps = splitSteps,
            ByteLevelDecoder = byteDecoder,
        };

        // Added tokens
        if (root["added_tokens"] is JsonArray added)
        {
            var tokens = new List<AddedToken>(added.Count);
            foreach (var node in added)
            {
                var o = node as JsonObject ?? throw new TokenizerFormatException(P("added_tokens"), "each added token must be an object");
                if (o["id"] is not JsonValue idv || !idv.TryGetValue(out int id) || id < 0)
                    throw new TokenizerFormatException(P("added_tokens"), $"added token {o.ToJsonString()} needs a non-negative integer 'id'");
                var t = TokenizerConfig.ParseToken(o, P("added_tokens"), "added_tokens", special: false)!;
                t = t with { Special = TokenizerConfig.Bool(o, "special", path) ?? false, Normalized = TokenizerConfig.Bool(o, "normalized", path) ?? true };
                // AFL++ found an empty content reaching AddToken's ArgumentException.
                if (t.Content.Length == 0)
                    throw new TokenizerFormatException(P("added_tokens"), $"added token {id} has an empty 'content'");
                TokenizerLimits.CheckToken(t.Content, P("added_tokens"), $"added token {id}");
                // As tokenizers: the id is the model's when the content is in the vocabulary, else the next free one;
                // the file's "id" only has to be well-formed (tokenizers warns when it differs).
                tokens.Add(t);
            }
            core.AddTokens(tokens);
        }
        else if (root["added_tokens"] is not null) throw new TokenizerFormatException(P("added_tokens"), "must be an array");

        // Post-processor
        core.PostProcessor = ParseProcessor(root["post_processor"], P("post_processor"), core);

        // Truncation and padding
        EncodeOptions? defaults = null;
        Side? truncSide = null, padSide = null;
        int? padId = null; int padType = 0; string? padToken = null;
        if (root["truncation"] is JsonObject tr)
        {
            string strategy = tr["strategy"] is JsonNode sn ? TokenizerConfig.Str(sn, "truncation.strategy", path) : "LongestFirst";
            var ts = strategy switch
            {
                "LongestFirst" => TruncationStrategy.LongestFirst,
                "OnlyFirst" => TruncationStrategy.OnlyFirst,
                "OnlySecond" => TruncationStrategy.OnlySecond,
                _ => throw new TokenizerFormatException(P("truncation"), $"truncation strategy '{strategy}' is not supported"),
            };
            truncSide = ParseSide(tr["direction"], P("truncation.direction"));
            int max = IntOf(tr, "max_length", P("truncation")) ?? 512;
            defaults = new EncodeOptions { Truncation = ts, MaxLength = max, Stride = IntOf(tr, "stride", P("truncation")) ?? 0, TruncationSide = truncSide };
        }
        else if (root["truncation"] is not null) throw new TokenizerFormatException(P("truncation"), "must be an object or null");
        if (root["padding"] is JsonObject pd)
        {
            defaults ??= new EncodeOptions { Truncation = TruncationStrategy.None };
            padSide = ParseSide(pd["direction"], P("padding.direction"));
            padId = IntOf(pd, "pad_id", P("padding"));
            padType = IntOf(pd, "pad_type_id", P("padding")) ?? 0;
            padToken = pd["pad_token"] is JsonNode ptn ? TokenizerConfig.Str(ptn, "padding.pad_token", path) : null;
            int? multiple = IntOf(pd, "pad_to_multiple_of", P("padding"));
            switch (pd["strategy"])
            {
                case JsonValue sv when sv.GetValueKind() == JsonValueKind.String && sv.GetValue<string>() == "BatchLongest":
                case null:
                    defaults = defaults with { Padding = PaddingStrategy.Longest, PadToMultipleOf = multiple, PaddingSide = padSide };
                    break;
                case JsonObject fo when fo["Fixed"] is JsonValue fv && fv.TryGetValue(out int fixedLen):
                    // The padding length is its own: the truncation section's max_length (if any) stays as it is.
                    defaults = defaults with { Padding = PaddingStrategy.MaxLength, PaddingLength = fixedLen, PadToMultipleOf = multiple, PaddingSide = padSide };
                    break;
                default:
                    throw new TokenizerFormatException(P("padding.strategy"), $"padding strategy {pd["strategy"]!.ToJsonString()} is not supported");
            }
        }
        else if (root["padding"] is not null) throw new TokenizerFormatException(P("padding"), "must be an object or null");

        return new Loaded
        {
            Core = core, Root = root, Defaults = defaults, PadId = padId, PadTypeId = padType, PadToken = padToken,
            PaddingSide = padSide, TruncationSide = truncSide,
        };
    }

    private static SplitStep ParseSplit(JsonObject o, string src)
    {
        var pat = o["pattern"] as JsonObject ?? throw new TokenizerFormatException(src, "Split needs a 'pattern' object");
        string regex;
        if (pat["String"] is JsonNode sn) regex = System.Text.RegularExpressions.Regex.Escape(TokenizerConfig.Str(sn, "pattern.String", src));
        else if (pat["Regex"] is JsonNode rn) regex = TokenizerConfig.Str(rn, "pattern.Regex", src);
        else throw new TokenizerFormatException(src, "Split pattern must be {\"String\": ...} or {\"Regex\": ...}");
        string behavior = o["behavior"] is JsonNode bn ? TokenizerConfig.Str(bn, "behavior", src) : "Isolated";
        if (behavior is not ("Removed" or "Isolated" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
            throw new TokenizerFormatException(src, $"Split behavior '{behavior}' is not supported");
        try
        {
            var re = new System.Text.RegularExpressions.Regex(regex, System.Text.RegularExpressions.RegexOptions.CultureInvariant);
            return new SplitStep(re, behavior, TokenizerConfig.Bool(o, "invert", src) ?? false);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFormatException(src, $"Split pattern '{regex}' is not supported by .NET regular expressions: {e.Message}", e);
        }
    }

    private static string TypeOf(JsonObject o, string src) =>
        o["type"] is JsonNode t ? TokenizerConfig.Str(t, "type", src) : throw new TokenizerFormatException(src, $"component without a 'type': {o.ToJsonString()}");

    private static int? IntOf(JsonObject o, string key, string src) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out int i) && i >= 0 => i,
        var n => throw new TokenizerFormatException(src, $"{key} must be a non-negative integer, not {n.ToJsonString()}"),
    };

    private static Side? ParseSide(JsonNode? n, string src) => n switch
    {
        null => null,
        _ => TokenizerConfig.Str(n, "direction", src) switch
        {
            "Right" => Side.Right,
            "Left" => Side.Left,
            var s => throw new TokenizerFormatException(src, $"direction must be Right or Left, not '{s}'"),
        },
    };

    private static Normalizer? ParseNormalizer(JsonNode? node, string src)
    {
        if (node is null) return null;
        var o = node as JsonObject ?? throw new TokenizerFormatException(src, "must be an object or null");
        string t = TypeOf(o, src);
        return t switch
        {
            "NFC" => Unicode(NormalizationForm.FormC, t, src),
            "NFD" => Unicode(NormalizationForm.FormD, t, src),
            "NFKC" => Unicode(NormalizationForm.FormKC, t, src),
            "NFKD" => Unicode(NormalizationForm.FormKD, t, src),
            "Lowercase" => new LowercaseNormalizer(),
            "Strip" => new StripNormalizer(TokenizerConfig.Bool(o, "strip_left", src) ?? true, TokenizerConfig.Bool(o, "strip_right", src) ?? true),
            "Sequence" => new SequenceNormalizer([.. (o["normalizers"] as JsonArray ?? throw new TokenizerFormatException(src, "Sequence without 'normalizers'"))
                .Select(n => ParseNormalizer(n, src) ?? throw new TokenizerFormatException(src, "null normalizer in a Sequence"))]),
            _ => throw new TokenizerFormatException(src, $"normalizer type '{t}' is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, Sequence)"),
        };
    }

    private static UnicodeNormalizer Unicode(NormalizationForm form, string name, string src) =>
        UnicodeNormalizer.Available(form) ? new UnicodeNormalizer(form)
            : throw new TokenizerFormatException(src, $"normalizer '{name}' needs Unicode normalization, which this process lacks (invariant globalization mode without ICU); run without InvariantGlobalization to use it");

    private static PostProcessor? ParseProcessor(JsonNode? node, string src, TokenizerCore core)
    {
        if (node is null) return null;
        var o = node as JsonObject ?? throw new TokenizerFormatException(src, "must be an object or null");
        string t = TypeOf(o, src);
        switch (t)
        {
            case "TemplateProcessing":
                return TemplateProcessor.FromJson(o, src);
            case "RobertaProcessing":
            {
                var (sep, sepId) = TokenAndId(o["sep"], src, "sep");
                var (cls, clsId) = TokenAndId(o["cls"], src, "cls");
                return new RobertaProcessor(sep, sepId, cls, clsId, TokenizerConfig.Bool(o, "trim_offsets", src) ?? true, TokenizerConfig.Bool(o, "add_prefix_space", src) ?? true);
            }
            case "BertProcessing":
            {
                var (sep, sepId) = TokenAndId(o["sep"], src, "sep");
                var (cls, clsId) = TokenAndId(o["cls"], src, "cls");
                var specials = new Dictionary<string, (int[], string[])> { [cls] = ([clsId], [cls]), [sep] = ([sepId], [sep]) };
                return new TemplateProcessor(
                    [new(false, cls, 0), new(true, "A", 0), new(false, sep, 0)],
                    [new(false, cls, 0), new(true, "A", 0), new(false, sep, 0), new(true, "B", 1), new(false, sep, 1)], specials);
            }
            case "ByteLevel":
                return new ByteLevelProcessor(TokenizerConfig.Bool(o, "trim_offsets", src) ?? true, TokenizerConfig.Bool(o, "add_prefix_space", src) ?? true);
            case "Sequence":
                return new SequenceProcessor([.. (o["processors"] as JsonArray ?? throw new TokenizerFormatException(src, "Sequence without 'processors'"))
                    .Select(n => ParseProcessor(n, src, core) ?? throw new TokenizerFormatException(src, "null processor in a Sequence"))]);
            default:
                throw new TokenizerFormatException(src, $"post-processor type '{t}' is not supported (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
        }
    }

    private static (string, int) TokenAndId(JsonNode? n, string src, string key)
    {
        if (n is JsonArray a && a.Count == 2 && a[0] is JsonValue t && t.GetValueKind() == JsonValueKind.String && a[1] is JsonValue i && i.TryGetValue(out int id))
            return (t.GetValue<string>(), id);
        throw new TokenizerFormatException(src, $"{key} must be [token, id], not {n?.ToJsonString() ?? "null"}");
    }

    /// <summary>An added token as tokenizer.json writes it.</summary>
    public static JsonObject AddedTokenJson(AddedToken t, int? id)
    {
        var o = new JsonObject();
        if (id is int i) o["id"] = i;
        o["content"] = t.Content;
        o["single_word"] = t.SingleWord;
        o["lstrip"] = t.LStrip;
        o["rstrip"] = t.RStrip;
        o["normalized"] = t.Normalized;
        o["special"] = t.Special;
        return o;
    }

    /// <summary>Writes a tokenizer.json for <paramref name="core"/>, keeping the sections of <paramref name="original"/> it does not own.</summary>
    public static void Save(string path, TokenizerCore core, JsonObject original, EncodeOptions? defaults, int padId, int padTypeId, string padToken)
    {
        var root = new JsonObject { ["version"] = original["version"]?.DeepClone() ?? "1.0" };
        root["truncation"] = defaults is { Truncation: not null and not TruncationStrategy.None } d
            ? new JsonObject
            {
                ["direction"] = d.TruncationSide == Side.Left ? "Left" : "Right",
                ["max_length"] = d.MaxLength ?? 512,
                ["strategy"] = d.Truncation switch { TruncationStrategy.OnlyFirst => "OnlyFirst", TruncationStrategy.OnlySecond => "OnlySecond", _ => "LongestFirst" },
                ["stride"] = d.Stride,
            }
            : null;
        root["padding"] = defaults is { Padding: not PaddingStrategy.None } p
            ? new JsonObject
            {
                ["strategy"] = p.Padding == PaddingStrategy.Longest ? JsonValue.Create("BatchLongest") : new JsonObject { ["Fixed"] = p.PaddingLength ?? p.MaxLength ?? 512 },
                ["direction"] = p.PaddingSide == Side.Left ? "Left" : "Right",
                ["pad_to_multiple_of"] = p.PadToMultipleOf,
                ["pad_id"] = padId,
                ["pad_type_id"] = padTypeId,
                ["pad_token"] = padToken,
            }
            : null;
        var added = new JsonArray();
        foreach (var (t, id) in core.Added.OrderBy(x => x.Id)) added.Add(AddedTokenJson(t, id));
        root["added_tokens"] = added;
        root["normalizer"] = original["normalizer"]?.DeepClone();
        root["pre_tokenizer"] = original["pre_tokenizer"]?.DeepClone();
        root["post_processor"] = original["post_processor"]?.DeepClone();
        root["decoder"] = original["decoder"]?.DeepClone();
        var model = new JsonObject { ["type"] = "BPE" };
        if (original["model"] is JsonObject om)
            foreach (var (k, v) in om)
                if (k is not ("type" or "vocab" or "merges")) model[k] = v?.DeepClone();
        var vocab = new JsonObject();
        foreach (var (tok, id) in core.Model.Vocab.OrderBy(kv => kv.Value)) vocab[tok] = id;
        model["vocab"] = vocab;
        var merges = new JsonArray();
        foreach (var (a, b) in core.Model.MergeList) merges.Add(new JsonArray(a, b));
        model["merges"] = merges;
        root["model"] = model;
        FileUtil.WriteAtomic(path, w => w.Write(root.ToJsonString(FileUtil.PrettyJson)));
    }
}
