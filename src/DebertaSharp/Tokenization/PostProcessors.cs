using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Tokenization;

/// <summary>A post-processor: adds special tokens and sets type ids (tokenizers' <c>PostProcessor</c>).</summary>
internal abstract class PostProcessor
{
    /// <summary>Number of special tokens added for a single input or a pair.</summary>
    public abstract int AddedTokens(bool pair);

    /// <summary>Post-processes the (already truncated) encodings; returns the merged encoding.</summary>
    public abstract EncodingBuilder Process(EncodingBuilder a, EncodingBuilder? b, bool addSpecialTokens);

    protected static EncodingBuilder Merge(List<EncodingBuilder> parts)
    {
        var first = parts[0];
        for (int i = 1; i < parts.Count; i++) first.MergeWith(parts[i]);
        return first;
    }
}

/// <summary>One piece of a template: a sequence or a special token, with its type id.</summary>
internal readonly record struct TemplatePiece(bool IsSequence, string Id, int TypeId);

/// <summary>tokenizers' <c>TemplateProcessing</c>.</summary>
internal sealed class TemplateProcessor(TemplatePiece[] single, TemplatePiece[] pair, Dictionary<string, (int[] Ids, string[] Tokens)> specials) : PostProcessor
{
    public TemplatePiece[] Single { get; } = single;
    public TemplatePiece[] Pair { get; } = pair;
    public Dictionary<string, (int[] Ids, string[] Tokens)> Specials { get; } = specials;

    public override int AddedTokens(bool isPair) =>
        (isPair ? Pair : Single).Where(p => !p.IsSequence).Sum(p => Specials[p.Id].Ids.Length);

    private static bool IsSimple(TemplatePiece[] t, bool pair)
    {
        var seqs = t.Where(p => p.IsSequence).Select(p => p.Id).ToArray();
        return pair ? seqs.SequenceEqual(["A", "B"]) : seqs.SequenceEqual(["A"]);
    }

    private bool? _simpleSingle, _simplePair;

    public override EncodingBuilder Process(EncodingBuilder a, EncodingBuilder? b, bool addSpecialTokens)
    {
        var template = b is null ? Single : Pair;
        bool simple = b is null ? (_simpleSingle ??= IsSimple(Single, false)) : (_simplePair ??= IsSimple(Pair, true));
        if (simple && a.Overflowing.Count == 0 && (b is null || b.Overflowing.Count == 0))
            return ProcessInPlace(template, a, b, addSpecialTokens);
        var parts = new List<EncodingBuilder>();
        foreach (var piece in template)
        {
            if (piece.IsSequence)
            {
                var enc = piece.Id == "A" ? a : b!;
                int seqIndex = piece.Id == "A" ? 0 : 1;
                // As in tokenizers: the main encoding gets the template's type id; overflowing pieces keep theirs.
                for (int i = 0; i < enc.Count; i++) { enc.TypeIds[i] = piece.TypeId; if (enc.Seq[i] is not null) enc.Seq[i] = seqIndex; }
                parts.Add(enc.Clone());
            }
            else if (addSpecialTokens)
            {
                var (ids, toks) = Specials[piece.Id];
                var e = new EncodingBuilder(ids.Length);
                for (int i = 0; i < ids.Length; i++) e.Add(ids[i], piece.TypeId, toks[i], (0, 0), 1, null, null);
                parts.Add(e);
            }
        }
        if (parts.Count == 0) return new EncodingBuilder(0);
        return Merge(parts);
    }

    /// <summary>Fast path without overflowing pieces: builds the result inside <paramref name="a"/>'s lists.</summary>
    private EncodingBuilder ProcessInPlace(TemplatePiece[] template, EncodingBuilder a, EncodingBuilder? b, bool addSpecialTokens)
    {
        int aIndex = Array.FindIndex(template, p => p.IsSequence && p.Id == "A");
        // Specials before A go to the front, in order.
        if (addSpecialTokens)
        {
            int at = 0;
            for (int k = 0; k < aIndex; k++)
            {
                var (ids, toks) = Specials[template[k].Id];
                for (int i = 0; i < ids.Length; i++) a.Insert(at++, ids[i], template[k].TypeId, toks[i]);
            }
        }
        int start = addSpecialTokens ? CountSpecials(template, 0, aIndex) : 0;
        int aType = template[aIndex].TypeId;
        for (int i = start; i < a.Count; i++) { a.TypeIds[i] = aType; a.Seq[i] = 0; }
        for (int k = aIndex + 1; k < template.Length; k++)
        {
            var piece = template[k];
            if (piece.IsSequence)
            {
                int from = a.Count;
                a.AppendAll(b!);
                for (int i = from; i < a.Count; i++) { a.TypeIds[i] = piece.TypeId; a.Seq[i] = 1; }
            }
            else if (addSpecialTokens)
            {
                var (ids, toks) = Specials[piece.Id];
                for (int i = 0; i < ids.Length; i++) a.Add(ids[i], piece.TypeId, toks[i], (0, 0), 1, null, null);
            }
        }
        return a;
    }

    private int CountSpecials(TemplatePiece[] t, int from, int to)
    {
        int n = 0;
        for (int k = from; k < to; k++) if (!t[k].IsSequence) n += Specials[t[k].Id].Ids.Length;
        return n;
    }

    public static TemplateProcessor FromJson(JsonObject o, string src)
    {
        // Every value is type-checked here, so a wrong JSON type is refused naming its key (the JsonNode casts used
        // before threw a bare InvalidOperationException that could only say "a value has the wrong JSON type").
        static string? StrAt(JsonObject o, string name, string src, string key) => o[name] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            var n => throw new TokenizerFormatException(src, $"{key}.{name} must be a string, not {n.ToJsonString()}"),
        };
        static int? IntAt(JsonObject o, string name, string src, string key) => o[name] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out int i) => i,
            var n => throw new TokenizerFormatException(src, $"{key}.{name} must be an integer, not {n.ToJsonString()}"),
        };
        static TemplatePiece[] Parse(JsonNode? arr, string src, string key)
        {
            if (arr is not JsonArray a) throw new TokenizerFormatException(src, $"post_processor.{key} must be an array");
            var list = new List<TemplatePiece>();
            for (int i = 0; i < a.Count; i++)
            {
                var item = a[i];
                string at = $"post_processor.{key}[{i}]";
                if (item is JsonObject io && io["Sequence"] is JsonObject s)
                    list.Add(new TemplatePiece(true, StrAt(s, "id", src, at + ".Sequence") ?? "A", IntAt(s, "type_id", src, at + ".Sequence") ?? 0));
                else if (item is JsonObject io2 && io2["SpecialToken"] is JsonObject t)
                    list.Add(new TemplatePiece(false, StrAt(t, "id", src, at + ".SpecialToken") ?? throw new TokenizerFormatException(src, $"{at}: SpecialToken without id"),
                        IntAt(t, "type_id", src, at + ".SpecialToken") ?? 0));
                else throw new TokenizerFormatException(src, $"post_processor.{key}: unsupported template piece {item?.ToJsonString()}");
            }
            return [.. list];
        }
        var single = Parse(o["single"], src, "single");
        var pair = Parse(o["pair"], src, "pair");
        var specials = new Dictionary<string, (int[], string[])>(StringComparer.Ordinal);
        if (o["special_tokens"] is JsonObject st)
        {
            foreach (var (name, node) in st)
            {
                string at = $"post_processor.special_tokens.{name}";
                var entry = node as JsonObject ?? throw new TokenizerFormatException(src, $"{at} must be an object with 'ids' and 'tokens', not {node?.ToJsonString() ?? "null"}");
                var ids = (entry["ids"] as JsonArray ?? throw new TokenizerFormatException(src, $"special token '{name}' without ids ({at}.ids must be an array)"))
                    .Select((x, j) => x is JsonValue v && v.TryGetValue(out int id) ? id
                        : throw new TokenizerFormatException(src, $"{at}.ids[{j}] must be an integer, not {x?.ToJsonString() ?? "null"}")).ToArray();
                var toks = (entry["tokens"] as JsonArray ?? throw new TokenizerFormatException(src, $"special token '{name}' without tokens ({at}.tokens must be an array)"))
                    .Select((x, j) => x is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
                        : throw new TokenizerFormatException(src, $"{at}.tokens[{j}] must be a string, not {x?.ToJsonString() ?? "null"}")).ToArray();
                if (ids.Length != toks.Length) throw new TokenizerFormatException(src, $"special token '{name}' has {ids.Length} ids but {toks.Length} tokens");
                specials[name] = (ids, toks);
            }
        }
        else if (o["special_tokens"] is not null) throw new TokenizerFormatException(src, $"post_processor.special_tokens must be an object, not {o["special_tokens"]!.ToJsonString()}");
        foreach (var p in single.Concat(pair))
        {
            if (p.IsSequence && p.Id is not ("A" or "B")) throw new TokenizerFormatException(src, $"template sequence id must be A or B, not '{p.Id}'");
            if (!p.IsSequence && !specials.ContainsKey(p.Id)) throw new TokenizerFormatException(src, $"template uses special token '{p.Id}' missing from special_tokens");
        }
        return new TemplateProcessor(single, pair, specials);
    }
}

/// <summary>tokenizers' <c>RobertaProcessing</c>: <c>cls A sep</c> / <c>cls A sep sep B sep</c>, all type ids 0.</summary>
internal sealed class RobertaProcessor(string sep, int sepId, string cls, int clsId, bool trimOffsets, bool addPrefixSpace) : PostProcessor
{
    public override int AddedTokens(bool pair) => pair ? 4 : 2;

    public override EncodingBuilder Process(EncodingBuilder a, EncodingBuilder? b, bool addSpecialTokens)
    {
        if (trimOffsets)
        {
            ByteLevelProcessor.TrimOffsets(a, addPrefixSpace);
            if (b is not null) ByteLevelProcessor.TrimOffsets(b, addPrefixSpace);
        }
        ZeroTypes(a);
        if (b is not null) ZeroTypes(b);
        if (!addSpecialTokens)
        {
            if (b is null) return a;
            a.MergeWith(b);
            return a;
        }
        var first = Wrap(a, cls, clsId, 0);
        if (b is null) return first;
        first.MergeWith(Wrap(b, sep, sepId, 1));
        return first;
    }

    private static void ZeroTypes(EncodingBuilder e)
    {
        for (int i = 0; i < e.Count; i++) e.TypeIds[i] = 0;
        foreach (var o in e.Overflowing) ZeroTypes(o);
    }

    /// <summary>
    /// <c>open</c> + <paramref name="e"/> + <c>sep</c>, in place (no copy of the sequence: copying it was a third of the
    /// encoder's allocations): content tokens get type 0, no special flag, attention 1 and sequence id
    /// <paramref name="seq"/>; the overflowing pieces are wrapped the same way.
    /// </summary>
    private EncodingBuilder Wrap(EncodingBuilder e, string open, int openId, int seq)
    {
        for (int i = 0; i < e.Count; i++)
        {
            e.TypeIds[i] = 0;
            e.Special[i] = 0;
            e.Attention[i] = 1;
            if (e.Seq[i] is not null) e.Seq[i] = seq;
        }
        e.Insert(0, openId, 0, open);
        e.Add(sepId, 0, sep, (0, 0), 1, null, null);
        foreach (var o in e.Overflowing) Wrap(o, open, openId, seq);
        return e;
    }
}

/// <summary>tokenizers' <c>ByteLevel</c> post-processor: trims the offsets of tokens that start or end with spaces.</summary>
internal sealed class ByteLevelProcessor(bool trimOffsets, bool addPrefixSpace) : PostProcessor
{
    public override int AddedTokens(bool pair) => 0;

    public override EncodingBuilder Process(EncodingBuilder a, EncodingBuilder? b, bool addSpecialTokens)
    {
        if (trimOffsets)
        {
            TrimOffsets(a, addPrefixSpace);
            if (b is not null) TrimOffsets(b, addPrefixSpace);
        }
        if (b is not null) a.MergeWith(b);
        return a;
    }

    /// <summary>tokenizers' <c>process_offsets</c>.</summary>
    public static void TrimOffsets(EncodingBuilder e, bool addPrefixSpace)
    {
        for (int i = 0; i < e.Count; i++)
        {
            string tok = e.Tokens[i];
            int lead = 0;
            while (lead < tok.Length && (tok[lead] == ByteLevel.SpaceChar || char.IsWhiteSpace(tok[lead]))) lead++;
            int trail = 0;
            while (trail < tok.Length && (tok[tok.Length - 1 - trail] == ByteLevel.SpaceChar || char.IsWhiteSpace(tok[tok.Length - 1 - trail]))) trail++;
            if (lead == 0 && trail == 0) continue;
            var (s, t) = e.Offsets[i];
            if (lead > 0)
            {
                bool isFirst = i == 0 || s == 0;
                if (isFirst && addPrefixSpace && lead == 1) lead = 0;
                s = Math.Min(s + lead, t);
            }
            if (trail > 0 && t >= trail) t = Math.Max(t - trail, s);
            e.Offsets[i] = (s, t);
        }
        foreach (var o in e.Overflowing) TrimOffsets(o, addPrefixSpace);
    }
}

/// <summary>tokenizers' <c>Sequence</c> of post-processors.</summary>
internal sealed class SequenceProcessor(PostProcessor[] steps) : PostProcessor
{
    public override int AddedTokens(bool pair) => steps.Sum(s => s.AddedTokens(pair));

    public override EncodingBuilder Process(EncodingBuilder a, EncodingBuilder? b, bool addSpecialTokens)
    {
        // tokenizers runs each step on the list of encodings; only the last may merge. We apply the
        // non-merging steps (ByteLevel offsets) first, then the merging one.
        EncodingBuilder? result = null;
        for (int i = 0; i < steps.Length; i++)
        {
            if (steps[i] is ByteLevelProcessor bl && i < steps.Length - 1)
            {
                bl.Process(a, null, addSpecialTokens);
                if (b is not null) bl.Process(b, null, addSpecialTokens);
                continue;
            }
            if (i != steps.Length - 1)
                throw new NotSupportedException("post_processor Sequence: only ByteLevel steps may come before the last step");
            result = steps[i].Process(a, b, addSpecialTokens);
        }
        return result ?? a;
    }
}
