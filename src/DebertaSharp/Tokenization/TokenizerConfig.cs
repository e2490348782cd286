using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Tokenization;

/// <summary>Settings from tokenizer_config.json, special_tokens_map.json and added_tokens.json.</summary>
internal sealed class TokenizerConfig
{
    public string Source { get; init; } = "tokenizer_config.json";
    public AddedToken? Cls, Sep, Pad, Unk, Mask, Bos, Eos;
    public bool? AddPrefixSpace;
    public int? ModelMaxLength;
    public bool? CleanUp;
    public string? Errors;
    public Side? PaddingSide, TruncationSide;
    public List<(AddedToken Token, int Id)> AddedTokensDecoder = [];
    public List<(string Token, int Id)> AddedTokensJson = [];
    public List<AddedToken> AdditionalSpecial = [];

    public static JsonNode? ReadJson(string path)
    {
        TokenizerLimits.CheckFileSize(path);
        try
        {
            using var s = File.OpenRead(path);
            JsonNode? node = JsonNode.Parse(s, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = TokenizerLimits.MaxJsonDepth });
            Materialize(node, path);
            return node;
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(path, $"is not valid JSON (nesting limit {TokenizerLimits.MaxJsonDepth}, TokenizerLimits.MaxJsonDepth): " + e.Message, e);
        }
    }

    /// <summary>
    /// JsonNode reads objects' keys and string values lazily, so a duplicate key or invalid UTF-8 inside a string would
    /// surface later as a raw ArgumentException / InvalidOperationException (found by fuzzing): read every key and
    /// string now and name the problem. The parser's depth limit (TokenizerLimits.MaxJsonDepth) bounds the recursion.
    /// </summary>
    private static void Materialize(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject o:
                try
                {
                    _ = o.Count;
                }
                catch (ArgumentException e)
                {
                    throw new TokenizerFormatException(path, "is not valid JSON here: an object has a duplicate key: " + e.Message, e);
                }
                catch (InvalidOperationException e)
                {
                    throw new TokenizerFormatException(path, "is not valid JSON: a key is not valid UTF-8", e);
                }
                foreach (var (_, v) in o) Materialize(v, path);
                break;
            case JsonArray a:
                foreach (var v in a) Materialize(v, path);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                try
                {
                    _ = v.GetValue<string>();
                }
                catch (InvalidOperationException e)
                {
                    throw new TokenizerFormatException(path, "is not valid JSON: a string is not valid UTF-8", e);
                }
                break;
        }
    }

    public static TokenizerConfig Load(string directory)
    {
        string cfgPath = Path.Combine(directory, "tokenizer_config.json");
        var c = new TokenizerConfig { Source = cfgPath };
        string mapPath = Path.Combine(directory, "special_tokens_map.json");
        if (File.Exists(mapPath))
        {
            if (ReadJson(mapPath) is not JsonObject map) throw new TokenizerFormatException(mapPath, "must be a JSON object");
            c.ReadSpecials(map, mapPath);
        }
        if (File.Exists(cfgPath))
        {
            if (ReadJson(cfgPath) is not JsonObject cfg) throw new TokenizerFormatException(cfgPath, "must be a JSON object");
            c.ReadSpecials(cfg, cfgPath);
            c.AddPrefixSpace = Bool(cfg, "add_prefix_space", cfgPath);
            c.CleanUp = Bool(cfg, "clean_up_tokenization_spaces", cfgPath);
            if (cfg["errors"] is JsonNode en) c.Errors = Str(en, "errors", cfgPath);
            if (cfg["model_max_length"] is JsonValue mv)
            {
                double d = mv.GetValueKind() == JsonValueKind.Number && mv.TryGetValue(out double number) ? number
                    : mv.GetValueKind() == JsonValueKind.Number   // 1e400: past double, i.e. no limit (-1e400: past it the other way)
                        ? (mv.ToJsonString().StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity)
                    : throw new TokenizerFormatException(cfgPath, "model_max_length must be a number");
                // A negative length would only fail at the first encode, with a message about MaxLength: refuse it
                // here, naming the file and key.
                if (d < 0)
                    throw new TokenizerFormatException(cfgPath, $"model_max_length must not be negative, not {mv.ToJsonString()}");
                c.ModelMaxLength = d >= int.MaxValue ? null : (int)d;
            }
            c.PaddingSide = SideOf(cfg, "padding_side", cfgPath);
            c.TruncationSide = SideOf(cfg, "truncation_side", cfgPath);
            if (cfg["added_tokens_decoder"] is JsonObject dec)
            {
                foreach (var (k, v) in dec)
                {
                    if (!int.TryParse(k, out int id))
                        throw new TokenizerFormatException(cfgPath, $"added_tokens_decoder key '{k}' is not a token id");
                    TokenizerLimits.CheckAddedTokenId(id, cfgPath, $"added_tokens_decoder key '{k}'");
                    c.AddedTokensDecoder.Add((ParseToken(v, cfgPath, "added_tokens_decoder." + k, special: false)!, id));
                }
            }
        }
        string addedPath = Path.Combine(directory, "added_tokens.json");
        if (File.Exists(addedPath))
        {
            if (ReadJson(addedPath) is not JsonObject added) throw new TokenizerFormatException(addedPath, "must be a JSON object of token to id");
            foreach (var (k, v) in added)
            {
                if (v is not JsonValue jv || !jv.TryGetValue(out int id)) throw new TokenizerFormatException(addedPath, $"the id of '{k}' must be an integer");
                TokenizerLimits.CheckAddedTokenId(id, addedPath, $"'{k}'");
                TokenizerLimits.CheckToken(k, addedPath, "added token");
                c.AddedTokensJson.Add((k, id));
            }
        }
        return c;
    }

    private void ReadSpecials(JsonObject o, string src)
    {
        Cls = ParseToken(o["cls_token"], src, "cls_token", true) ?? Cls;
        Sep = ParseToken(o["sep_token"], src, "sep_token", true) ?? Sep;
        Pad = ParseToken(o["pad_token"], src, "pad_token", true) ?? Pad;
        Unk = ParseToken(o["unk_token"], src, "unk_token", true) ?? Unk;
        Mask = ParseToken(o["mask_token"], src, "mask_token", true) ?? Mask;
        Bos = ParseToken(o["bos_token"], src, "bos_token", true) ?? Bos;
        Eos = ParseToken(o["eos_token"], src, "eos_token", true) ?? Eos;
        foreach (var key in new[] { "additional_special_tokens", "extra_special_tokens" })
        {
            if (o[key] is JsonArray arr)
                foreach (var item in arr)
                    if (ParseToken(item, src, key, true) is AddedToken t) AdditionalSpecial.Add(t);
        }
    }

    /// <summary>A token given as a string or as an AddedToken object.</summary>
    public static AddedToken? ParseToken(JsonNode? node, string src, string key, bool special)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                TokenizerLimits.CheckToken(v.GetValue<string>(), src, key);
                return new AddedToken(v.GetValue<string>(), Special: special);
            case JsonObject o:
                string content = o["content"] is JsonValue cv && cv.GetValueKind() == JsonValueKind.String ? cv.GetValue<string>()
                    : throw new TokenizerFormatException(src, $"{key}: an added token needs a string 'content'");
                TokenizerLimits.CheckToken(content, src, key);
                return new AddedToken(content,
                    SingleWord: Bool(o, "single_word", src) ?? false,
                    LStrip: Bool(o, "lstrip", src) ?? false,
                    RStrip: Bool(o, "rstrip", src) ?? false,
                    Normalized: Bool(o, "normalized", src) ?? !special,
                    Special: Bool(o, "special", src) ?? special);
            default:
                throw new TokenizerFormatException(src, $"{key} must be a string or an object with 'content', not {node.ToJsonString()}");
        }
    }

    public static bool? Bool(JsonObject o, string key, string src) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        var n => throw new TokenizerFormatException(src, $"{key} must be true or false, not {n.ToJsonString()}"),
    };

    public static string Str(JsonNode n, string key, string src) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw new TokenizerFormatException(src, $"{key} must be a string, not {n.ToJsonString()}");

    private static Side? SideOf(JsonObject o, string key, string src) => o[key] switch
    {
        null => null,
        var n => Str(n, key, src) switch
        {
            "right" => Side.Right,
            "left" => Side.Left,
            var s => throw new TokenizerFormatException(src, $"{key} must be 'right' or 'left', not '{s}'"),
        },
    };
}
