using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>
/// The real microsoft/deberta-base vocabulary on hard text the shared fixtures lack, every truncation strategy with
/// odd and even max_length, left padding, pad_to_multiple_of and split-into-words, against transformers 5.17 /
/// tokenizers 0.23 (Fixtures/tokenizer_extra, made by tools/gen_tokenizer_fixtures.py).
/// </summary>
public class TokenizerExtraFixtureTests
{
    private static readonly Lazy<JsonObject> Expected = new(() =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer_extra", "tokenizer_extra.json")))!);

    public static TheoryData<string> Builds => new("base_default", "base_mask_lstrip", "base_prefix_space");

    private static DebertaTokenizerFast Load(string build) =>
        DebertaTokenizerFast.FromPretrained(TestPaths.Fixture("tokenizer_extra", "tok_" + build));

    private static void Compare(List<string> errors, string where, JsonNode? expected, Func<Encoding> encode)
    {
        var e = (JsonObject)expected!;
        if (e["error"] is not null)
        {
            try
            {
                var got = encode();
                errors.Add($"{where}: Hugging Face refuses ({e["error"]}), we gave {got.Length} tokens");
            }
            catch (ArgumentException) { }
            return;
        }
        Encoding actual;
        try { actual = encode(); }
        catch (Exception ex) { errors.Add($"{where}: {ex.GetType().Name}: {ex.Message}"); return; }
        void Check<T>(string field, T[] want, T[] got)
        {
            if (!want.SequenceEqual(got)) errors.Add($"{where}.{field}: expected [{string.Join(",", want)}] got [{string.Join(",", got)}]");
        }
        Check("input_ids", TokenizerFixtures.Ints(e["input_ids"]), actual.Ids);
        Check("token_type_ids", TokenizerFixtures.Ints(e["token_type_ids"]), actual.TypeIds);
        Check("attention_mask", TokenizerFixtures.Ints(e["attention_mask"]), actual.AttentionMask);
        Check("special_tokens_mask", TokenizerFixtures.Ints(e["special_tokens_mask"]), actual.SpecialTokensMask);
        Check("offset_mapping", TokenizerFixtures.Offsets(e["offset_mapping"]), actual.Offsets);
        Check("tokens", [.. ((JsonArray)e["tokens"]!).Select(x => (string)x!)], actual.Tokens);
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void EveryCaseMatchesHuggingFace(string build)
    {
        var tok = Load(build);
        var b = (JsonObject)Expected.Value["builds"]![build]!;
        var errors = new List<string>();
        int compared = 0;
        foreach (var node in (JsonArray)b["items"]!)
        {
            var c = (JsonObject)node!;
            string text = (string)c["text"]!, pair = (string)c["pair"]!;
            string at = $"{build} '{(text.Length > 30 ? text[..30] : text)}'";
            if (c["tokens"] is JsonArray want)
            {
                var got = tok.Tokenize(text);
                if (!want.Select(x => (string)x!).SequenceEqual(got)) errors.Add($"{at}.tokens: expected [{string.Join(" ", want)}] got [{string.Join(" ", got)}]");
            }
            Compare(errors, at + ".single", c["single"], () => tok.Encode(text));
            Compare(errors, at + ".no_special", c["no_special"], () => tok.Encode(text, null, new EncodeOptions { AddSpecialTokens = false }));
            Compare(errors, at + ".pair_full", c["pair_full"], () => tok.Encode(text, pair));
            foreach (int ml in new[] { 9, 12, 17, 18, 25 })
            {
                foreach (var (name, strategy) in new[] { ("longest_first", TruncationStrategy.LongestFirst), ("only_first", TruncationStrategy.OnlyFirst), ("only_second", TruncationStrategy.OnlySecond) })
                {
                    Compare(errors, $"{at}.pair_{name}_{ml}", c[$"pair_{name}_{ml}"],
                        () => tok.Encode(text, pair, new EncodeOptions { Truncation = strategy, MaxLength = ml }));
                    compared++;
                }
            }
            Compare(errors, at + ".single_trunc_7", c["single_trunc_7"], () => tok.Encode(text, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 7 }));
            var ids = TokenizerFixtures.Ints(c["single"]!["input_ids"]);
            if (c["decode"] is JsonValue d && (string)d! != tok.Decode(ids)) errors.Add($"{at}.decode: expected '{d}' got '{tok.Decode(ids)}'");
            if (c["decode_skip"] is JsonValue ds && (string)ds! != tok.Decode(ids, skipSpecialTokens: true))
                errors.Add($"{at}.decode_skip: expected '{ds}' got '{tok.Decode(ids, skipSpecialTokens: true)}'");
            if (c["split_into_words"] is JsonObject w && w["error"] is null)
            {
                var words = ((JsonArray)w["words"]!).Select(x => (string)x!).ToList();
                var enc = tok.Encode(words, null, new EncodeOptions { IsSplitIntoWords = true });
                if (!TokenizerFixtures.Ints(w["input_ids"]).SequenceEqual(enc.Ids)) errors.Add($"{at}.words.input_ids");
                if (!TokenizerFixtures.NullableInts(w["word_ids"]).SequenceEqual(enc.WordIds)) errors.Add($"{at}.words.word_ids");
                if (!TokenizerFixtures.Offsets(w["offset_mapping"]).SequenceEqual(enc.Offsets)) errors.Add($"{at}.words.offset_mapping");
            }
            compared++;
        }
        var texts = ((JsonArray)Expected.Value["texts"]!).Select(x => (string)x!).Take(10).ToList();
        CompareBatch(errors, build + ".batch_left8", b["batch_longest_left_multiple8"],
            tok.EncodeBatch(texts, new EncodeOptions { Padding = PaddingStrategy.Longest, PaddingSide = Side.Left, PadToMultipleOf = 8 }));
        CompareBatch(errors, build + ".batch_max20", b["batch_max_length_20_truncated"],
            tok.EncodeBatch(texts, new EncodeOptions { Padding = PaddingStrategy.MaxLength, Truncation = TruncationStrategy.LongestFirst, MaxLength = 20 }));
        Assert.True(compared > 500, $"only {compared} cases");
        Assert.True(errors.Count == 0, $"{errors.Count} mismatches:\n" + string.Join("\n", errors.Take(30)));
    }

    private static void CompareBatch(List<string> errors, string where, JsonNode? expected, BatchEncoding actual)
    {
        var e = (JsonObject)expected!;
        foreach (var (field, select) in new (string, Func<Encoding, int[]>)[]
                 { ("input_ids", x => x.Ids), ("attention_mask", x => x.AttentionMask), ("token_type_ids", x => x.TypeIds), ("special_tokens_mask", x => x.SpecialTokensMask) })
        {
            var rows = (JsonArray)e[field]!;
            for (int i = 0; i < rows.Count; i++)
                if (!TokenizerFixtures.Ints(rows[i]).SequenceEqual(select(actual[i])))
                    errors.Add($"{where}[{i}].{field}: expected [{string.Join(",", TokenizerFixtures.Ints(rows[i]))}] got [{string.Join(",", select(actual[i]))}]");
        }
    }
}
