using System.Text;
using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>
/// The tokenizer readers' explicit bounds (issue 10, item 3; docs/fuzzing.md, "Limits") and the key named for a value of
/// the wrong JSON type: each hostile file is refused with a <see cref="TokenizerFormatException"/> naming the file, the
/// section or key, and the limit.
/// </summary>
public class TokenizerLimitsTests
{
    private static string Invariant(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static JsonObject FixtureJson() =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json")))!;

    private static TokenizerFormatException FastRefused(TempDir dir, string json)
    {
        File.WriteAllText(dir["tokenizer.json"], json);
        var e = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizerFast.FromPretrained(dir.Path));
        Assert.Contains(dir["tokenizer.json"], e.Message);
        return e;
    }

    private static TokenizerFormatException FastRefused(TempDir dir, Action<JsonObject> breakIt)
    {
        var json = FixtureJson();
        breakIt(json);
        return FastRefused(dir, json.ToJsonString());
    }

    private static TokenizerFormatException SlowRefused(TempDir dir, string vocab, string merges)
    {
        File.WriteAllText(dir["vocab.json"], vocab);
        File.WriteAllText(dir["merges.txt"], merges);
        return Assert.Throws<TokenizerFormatException>(() => new DebertaTokenizer(dir["vocab.json"], dir["merges.txt"]));
    }

    [Fact]
    public void VocabularyIdsAtOrPastTheLimitAreRefusedBeforeAllocating()
    {
        using var dir = TestPaths.TempDir();
        // One entry with id two billion used to make the model allocate a 16 GB id table.
        var slow = SlowRefused(dir, "{\"a\": 0, \"b\": 2000000000}", "");
        Assert.Equal(dir["vocab.json"], slow.FilePath);
        Assert.Contains("MaxVocabSize", slow.Message);
        Assert.Contains("2000000000", slow.Message);
        Assert.Contains("'b'", slow.Message);

        var fast = FastRefused(dir, j => j["model"]!["vocab"]!["zzzz"] = TokenizerLimits.MaxVocabSize);
        Assert.Contains("model.vocab", fast.Message);
        Assert.Contains("MaxVocabSize", fast.Message);
        Assert.Contains(Invariant(TokenizerLimits.MaxVocabSize), fast.Message);
    }

    [Fact]
    public void MoreMergesThanTheLimitAreRefused()
    {
        using var dir = TestPaths.TempDir();
        var merges = new StringBuilder("#version: 0.2\n");
        for (int i = 0; i <= TokenizerLimits.MaxMerges; i++) merges.Append("a b\n");
        var e = SlowRefused(dir, "{\"a\": 0, \"b\": 1, \"ab\": 2}", merges.ToString());
        Assert.Equal(dir["merges.txt"], e.FilePath);
        Assert.Contains("MaxMerges", e.Message);
        Assert.Contains(Invariant(TokenizerLimits.MaxMerges), e.Message);
    }

    [Fact]
    public void TokensLongerThanTheLimitAreRefusedNamingTheFile()
    {
        using var dir = TestPaths.TempDir();
        string longToken = new('x', TokenizerLimits.MaxTokenLength + 1);
        string length = Invariant(TokenizerLimits.MaxTokenLength + 1);

        var vocab = SlowRefused(dir, $"{{\"a\": 0, \"{longToken}\": 1}}", "");
        Assert.Equal(dir["vocab.json"], vocab.FilePath);
        Assert.Contains("MaxTokenLength", vocab.Message);
        Assert.Contains(length + " chars", vocab.Message);

        var merges = SlowRefused(dir, "{\"a\": 0}", $"a {longToken}\n");
        Assert.Equal(dir["merges.txt"], merges.FilePath);
        Assert.Contains("line 1", merges.Message);
        Assert.Contains("MaxTokenLength", merges.Message);

        var added = FastRefused(dir, j => ((JsonArray)j["added_tokens"]!).Add(new JsonObject
        {
            ["id"] = 60000, ["content"] = longToken, ["special"] = true,
        }));
        Assert.Contains("added_tokens", added.Message);
        Assert.Contains("MaxTokenLength", added.Message);

        var merge = FastRefused(dir, j => ((JsonArray)j["model"]!["merges"]!).Insert(0, new JsonArray("a", longToken)));
        Assert.Contains("model.merges", merge.Message);
        Assert.Contains("MaxTokenLength", merge.Message);

        // tokenizer_config.json's special tokens go through the same bound.
        File.WriteAllText(dir["tokenizer.json"], FixtureJson().ToJsonString());
        File.WriteAllText(dir["tokenizer_config.json"], $"{{\"mask_token\": \"{longToken}\"}}");
        var config = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizerFast.FromPretrained(dir.Path));
        Assert.Equal(dir["tokenizer_config.json"], config.FilePath);
        Assert.Contains("mask_token", config.Message);
        Assert.Contains("MaxTokenLength", config.Message);
        File.Delete(dir["tokenizer_config.json"]);
    }

    [Fact]
    public void JsonNestedPastTheDepthLimitIsRefused()
    {
        using var dir = TestPaths.TempDir();
        int depth = TokenizerLimits.MaxJsonDepth + 6;
        string deep = new string('[', depth) + new string(']', depth);
        var fast = FastRefused(dir, $"{{\"version\": \"1.0\", \"extra\": {deep}}}");
        Assert.Contains($"nesting limit {TokenizerLimits.MaxJsonDepth}", fast.Message);

        var slow = SlowRefused(dir, $"{{\"a\": 0, \"x\": {deep}}}", "");
        Assert.Equal(dir["vocab.json"], slow.FilePath);
        Assert.Contains($"nesting limit {TokenizerLimits.MaxJsonDepth}", slow.Message);
    }

    [Fact]
    public void WrongJsonTypesInThePostProcessorNameTheKey()
    {
        using var dir = TestPaths.TempDir();
        static JsonObject Template(JsonObject j) => (JsonObject)j["post_processor"]!;

        var typeId = FastRefused(dir, j => Template(j)["single"]![1]!["Sequence"]!["type_id"] = "zero");
        Assert.Contains("post_processor.single[1].Sequence.type_id must be an integer", typeId.Message);
        Assert.DoesNotContain("wrong JSON type", typeId.Message);

        var specialId = FastRefused(dir, j => Template(j)["pair"]![0]!["SpecialToken"]!["id"] = new JsonArray());
        Assert.Contains("post_processor.pair[0].SpecialToken.id must be a string", specialId.Message);

        var ids = FastRefused(dir, j => Template(j)["special_tokens"]!["[CLS]"]!["ids"] = new JsonArray("one"));
        Assert.Contains("post_processor.special_tokens.[CLS].ids[0] must be an integer", ids.Message);

        var tokens = FastRefused(dir, j => Template(j)["special_tokens"]!["[SEP]"]!["tokens"] = new JsonArray(2));
        Assert.Contains("post_processor.special_tokens.[SEP].tokens[0] must be a string", tokens.Message);

        var entry = FastRefused(dir, j => Template(j)["special_tokens"]!["[CLS]"] = new JsonArray(1, 2));
        Assert.Contains("post_processor.special_tokens.[CLS] must be an object", entry.Message);

        var section = FastRefused(dir, j => Template(j)["special_tokens"] = "none");
        Assert.Contains("post_processor.special_tokens must be an object", section.Message);
    }

    [Fact]
    public void OutOfRangeDropoutIsRefusedNamingTheKey()
    {
        using var dir = TestPaths.TempDir();
        // 1e400 is a JSON number no double holds: JsonNode's GetValue threw a bare exception.
        var json = FixtureJson();
        json["model"]!["dropout"] = 0;
        string text = json.ToJsonString().Replace("\"dropout\":0", "\"dropout\":1e400", StringComparison.Ordinal);
        var e = FastRefused(dir, text);
        Assert.Contains("model.dropout", e.Message);
        Assert.Contains("1e400", e.Message);
    }

    /// <summary>The fixture's tokenizer.json with 50,000 added tokens <c>&lt;extra_i&gt;</c> (ids from 60,000).</summary>
    private static void WriteWithManyAddedTokens(string path)
    {
        var json = FixtureJson();
        var added = (JsonArray)json["added_tokens"]!;
        for (int i = 0; i < 50_000; i++)
            added.Add(new JsonObject { ["id"] = 60_000 + i, ["content"] = "<extra_" + Invariant(i) + ">", ["special"] = true, ["normalized"] = false });
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void ManyAddedTokensLoadInLinearTime()
    {
        // Each added token used to rebuild the matchers over all earlier ones and scan them for the next free id:
        // 50,000 took minutes. Batched, the file loads in well under a second.
        using var dir = TestPaths.TempDir();
        WriteWithManyAddedTokens(dir["tokenizer.json"]);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var tok = DebertaTokenizerFast.FromPretrained(dir.Path);
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"loading took {watch.Elapsed}");
        Assert.Equal(tok.ConvertTokensToIds("<extra_0>") + 49_999, tok.ConvertTokensToIds("<extra_49999>"));
    }

    [Fact]
    public void ManyAddedTokensSharingAFirstChar_MatchInTimeLinearInTheText()
    {
        // 50,000 added tokens starting with '<' used to cost a comparison with each at every '<' of a text.
        using var dir = TestPaths.TempDir();
        WriteWithManyAddedTokens(dir["tokenizer.json"]);
        var tok = DebertaTokenizerFast.FromPretrained(dir.Path);
        int first = tok.ConvertTokensToIds("<extra_0>");
        // Leftmost-longest, as tokenizers' Aho-Corasick: "<extra_12>" is matched, not "<extra_1>" followed by "2>".
        var ids = tok.Encode("<extra_1><extra_12>", null, new EncodeOptions { AddSpecialTokens = false }).Ids;
        Assert.Equal([first + 1, first + 12], ids);
        var text = string.Concat(Enumerable.Repeat("a<b <extra_49999> <extra_", 20_000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var enc = tok.Encode(text, null, new EncodeOptions { AddSpecialTokens = false });
        watch.Stop();
        Assert.Equal(20_000, enc.Ids.Count(id => id == first + 49_999));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"encoding took {watch.Elapsed}");
    }

    private static void Sparse(string path, long length)
    {
        using var f = new FileStream(path, FileMode.Create);
        f.SetLength(length);   // sparse on the usual file systems: nothing is written, and nothing may be read
    }

    [Fact]
    public void FilesLargerThanTheLimitAreRefusedBeforeReading()
    {
        using var dir = TestPaths.TempDir();
        Sparse(dir["tokenizer.json"], TokenizerLimits.MaxFileBytes + 1);
        var fast = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizerFast.FromPretrained(dir.Path));
        Assert.Equal(dir["tokenizer.json"], fast.FilePath);
        Assert.Contains("MaxFileBytes", fast.Message);

        File.WriteAllText(dir["vocab.json"], "{\"a\": 0}");
        Sparse(dir["merges.txt"], TokenizerLimits.MaxFileBytes + 1);
        var slow = Assert.Throws<TokenizerFormatException>(() => new DebertaTokenizer(dir["vocab.json"], dir["merges.txt"]));
        Assert.Equal(dir["merges.txt"], slow.FilePath);
        Assert.Contains((TokenizerLimits.MaxFileBytes + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), slow.Message);
    }
}
