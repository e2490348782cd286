using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>Malformed or unsupported tokenizer files give exceptions that name the file and the problem.</summary>
public class TokenizerFileErrorTests
{
    private static JsonObject FixtureJson(string build = "prefix0") =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", build, "tokenizer.json")))!;

    private static TokenizerFormatException LoadBroken(TempDir dir, Action<JsonObject> breakIt)
    {
        var json = FixtureJson();
        breakIt(json);
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        var e = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizerFast.FromPretrained(dir.Path));
        Assert.Contains("tokenizer.json", e.Message);
        return e;
    }

    [Fact]
    public void TokenizerJson_NotJson()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["tokenizer.json"], "{ \"model\": ");
        var e = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizerBase.FromPretrained(dir.Path));
        Assert.Contains("tokenizer.json", e.FilePath);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void TokenizerJson_UnsupportedComponents_AreNamed()
    {
        using var dir = TestPaths.TempDir();
        Assert.Contains("Metaspace", LoadBroken(dir, j => j["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace" }).Message);
        Assert.Contains("WordPiece", LoadBroken(dir, j => j["model"]!["type"] = "WordPiece").Message);
        Assert.Contains("BertNormalizer", LoadBroken(dir, j => j["normalizer"] = new JsonObject { ["type"] = "BertNormalizer" }).Message);
        Assert.Contains("WordPiece", LoadBroken(dir, j => j["decoder"] = new JsonObject { ["type"] = "WordPiece" }).Message);
        Assert.Contains("Unknown", LoadBroken(dir, j => j["post_processor"] = new JsonObject { ["type"] = "Unknown" }).Message);
        Assert.Contains("dropout", LoadBroken(dir, j => j["model"]!["dropout"] = 0.1).Message);
        Assert.Contains("continuing_subword_prefix", LoadBroken(dir, j => j["model"]!["continuing_subword_prefix"] = "##").Message);
    }

    [Fact]
    public void TokenizerJson_BadVocabAndMerges_AreNamed()
    {
        using var dir = TestPaths.TempDir();
        Assert.Contains("'hello'", LoadBroken(dir, j => j["model"]!["vocab"]!["hello"] = "seven").Message);
        Assert.Contains("merge 0", LoadBroken(dir, j => ((JsonArray)j["model"]!["merges"]!)[0] = "a b c").Message);
        Assert.Contains("not in the vocabulary", LoadBroken(dir, j => ((JsonArray)j["model"]!["merges"]!)[0] = new JsonArray("zzzq", "qqqz")).Message);
        Assert.Contains("id", LoadBroken(dir, j => ((JsonObject)((JsonArray)j["added_tokens"]!)[0]!).Remove("id")).Message);
        Assert.Contains("[NOPE]", LoadBroken(dir, j =>
            ((JsonArray)j["post_processor"]!["single"]!).Add(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "[NOPE]", ["type_id"] = 0 } })).Message);
    }

    [Fact]
    public void VocabFiles_MissingOrMalformed_AreNamed()
    {
        using var dir = TestPaths.TempDir();
        var e1 = Assert.Throws<FileNotFoundException>(() => DebertaTokenizer.FromPretrained(dir.Path));
        Assert.Contains("vocab.json", e1.Message);

        File.WriteAllText(dir["vocab.json"], "{\"a\": 0, \"b\": 1, \"ab\": 2}");
        Assert.Contains("merges.txt", Assert.Throws<FileNotFoundException>(() => DebertaTokenizer.FromPretrained(dir.Path)).Message);

        File.WriteAllText(dir["merges.txt"], "#version: 0.2\na b\na b c\n");
        var e2 = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path));
        Assert.Contains("merges.txt", e2.Message);
        Assert.Contains("line 3", e2.Message);

        File.WriteAllText(dir["merges.txt"], "#version: 0.2\na b\n");
        File.WriteAllText(dir["vocab.json"], "[1, 2]");
        Assert.Contains("vocab.json", Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path)).Message);
        File.WriteAllText(dir["vocab.json"], "{\"a\": 1.5}");
        Assert.Contains("'a'", Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path)).Message);
        File.WriteAllText(dir["vocab.json"], "{\"a\": 0, \"b\": 0}");
        Assert.Contains("id 0", Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path)).Message);

        File.WriteAllText(dir["vocab.json"], "{\"a\": 0, \"b\": 1, \"ab\": 2}");
        File.WriteAllText(dir["tokenizer_config.json"], "{\"mask_token\": 5}");
        Assert.Contains("mask_token", Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path)).Message);
    }

    [Fact]
    public void TinyVocabulary_SlowTokenizer_MergesAndUnknowns()
    {
        // A toy vocabulary built here: the unknown id stands in for characters outside it. Provenance: derived by hand
        // from the BPE rules (the one merge a+b, [UNK] for c), not from a Hugging Face run.
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["vocab.json"], "{\"[UNK]\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"[CLS]\": 4, \"[SEP]\": 5}");
        File.WriteAllText(dir["merges.txt"], "#version: 0.2\na b\n");
        var tok = DebertaTokenizer.FromPretrained(dir.Path);
        var enc = tok.Encode("abab");
        Assert.Equal([4, 3, 3, 5], enc.Ids);
        Assert.Equal([(0, 0), (0, 2), (2, 4), (0, 0)], enc.Offsets);
        Assert.Equal([4, 3, 0, 5], tok.Encode("abc").Ids);
    }

    [Fact]
    public void TinyVocabulary_SlowTokenizer_UsesTheConfiguredUnknownToken()
    {
        // transformers' slow tokenizer maps a piece outside the vocabulary to encoder.get(self.unk_token)
        // (_convert_token_to_id), self.unk_token being tokenizer_config.json's unk_token. Provenance: derived by hand
        // from that rule and the toy vocabulary (c is outside it), not from a Hugging Face run.
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["vocab.json"], "{\"<unk>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"[CLS]\": 4, \"[SEP]\": 5}");
        File.WriteAllText(dir["merges.txt"], "#version: 0.2\na b\n");
        File.WriteAllText(dir["tokenizer_config.json"], "{\"unk_token\": \"<unk>\"}");
        var tok = DebertaTokenizer.FromPretrained(dir.Path);
        Assert.Equal("<unk>", tok.UnkToken);
        Assert.Equal(0, tok.UnkTokenId);
        var enc = tok.Encode("abc");
        Assert.Equal([4, 3, 0, 5], enc.Ids);
        Assert.Equal(["[CLS]", "ab", "<unk>", "[SEP]"], enc.Tokens);
        Assert.Equal(["ab", "<unk>"], tok.Tokenize("abc"));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("-0.5")]
    [InlineData("-1e400")]
    public void TokenizerConfig_NegativeModelMaxLength_IsRefusedNamingTheFileAndKey(string value)
    {
        using var dir = TestPaths.TempDir();
        File.Copy(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json"), dir["tokenizer.json"]);
        File.WriteAllText(dir["tokenizer_config.json"], $"{{\"model_max_length\": {value}}}");
        var e = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizerBase.FromPretrained(dir.Path));
        Assert.Contains("tokenizer_config.json", e.FilePath);
        Assert.Contains("model_max_length", e.Message);
        Assert.Contains(value, e.Message);
        // A huge one is no limit, as before (transformers' VERY_LARGE_INTEGER).
        File.WriteAllText(dir["tokenizer_config.json"], "{\"model_max_length\": 1e400}");
        Assert.Null(DebertaTokenizerBase.FromPretrained(dir.Path).ModelMaxLength);
    }

    [Theory]
    [InlineData(2147483647)]
    [InlineData(5_000_000)]
    [InlineData(-3)]
    public void FixedAddedTokenIds_OutsideTheVocabularyLimit_AreRefusedNamingTheFileKeyAndValue(int id)
    {
        // An id of int.MaxValue would make the next free id (one past the largest) overflow to int.MinValue.
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["vocab.json"], "{\"[UNK]\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"[CLS]\": 4, \"[SEP]\": 5}");
        File.WriteAllText(dir["merges.txt"], "#version: 0.2\na b\n");
        File.WriteAllText(dir["tokenizer_config.json"], $"{{\"added_tokens_decoder\": {{\"{id}\": {{\"content\": \"<big>\", \"special\": true}}}}}}");
        var e = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path));
        Assert.Contains("tokenizer_config.json", e.FilePath);
        Assert.Contains("added_tokens_decoder", e.Message);
        Assert.Contains(id.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);

        File.Delete(dir["tokenizer_config.json"]);
        File.WriteAllText(dir["added_tokens.json"], $"{{\"<big>\": {id}}}");
        e = Assert.Throws<TokenizerFormatException>(() => DebertaTokenizer.FromPretrained(dir.Path));
        Assert.Contains("added_tokens.json", e.FilePath);
        Assert.Contains("'<big>'", e.Message);
        Assert.Contains(id.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void FixedAddedTokenId_JustBelowTheLimit_IsKept()
    {
        // added_tokens.json maps a token to its id (transformers' slow tokenizer keeps it as given).
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["vocab.json"], "{\"[UNK]\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"[CLS]\": 4, \"[SEP]\": 5}");
        File.WriteAllText(dir["merges.txt"], "#version: 0.2\na b\n");
        File.WriteAllText(dir["added_tokens.json"], "{\"<big>\": 4999999}");
        var tok = DebertaTokenizer.FromPretrained(dir.Path);
        Assert.Equal(4_999_999, tok.ConvertTokensToIds("<big>"));
        Assert.Equal("<big>", tok.ConvertIdsToTokens(4_999_999));
        Assert.All(tok.AllSpecialIds, x => Assert.InRange(x, 0, int.MaxValue));
    }

    private static Dictionary<string, byte[]> Snapshot(string dir) =>
        Directory.GetFiles(dir).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

    private static string[] Entries(string dir) =>
        [.. Directory.GetFileSystemEntries(dir).Select(e => Path.GetFileName(e)!).Order(StringComparer.Ordinal)];

    /// <summary>
    /// A save that fails (here: a file's name is taken by a folder) throws, leaves every file it did not get to as it
    /// was, every file it wrote complete, and no temporary file of any name behind.
    /// </summary>
    [Theory]
    [InlineData("fast", "tokenizer.json")]              // the first file of a fast save
    [InlineData("fast", "special_tokens_map.json")]     // the last one, after tokenizer.json and tokenizer_config.json
    [InlineData("slow", "vocab.json")]
    [InlineData("slow", "merges.txt")]
    public void SavePretrained_NeverLeavesPartialFiles(string kind, string blocked)
    {
        string vocabFiles = TestPaths.Fixture("tokenizer", "vocab-files");
        DebertaTokenizerBase Make(bool prefixSpace) => kind == "fast"
            ? TokenizerFixtures.Fast(prefixSpace ? "prefix1" : "prefix0")
            : new DebertaTokenizer(Path.Combine(vocabFiles, "vocab.json"), Path.Combine(vocabFiles, "merges.txt"), addPrefixSpace: prefixSpace);
        DebertaTokenizerBase Old() => Make(false);
        DebertaTokenizerBase New() => Make(true);
        // What each save writes when nothing goes wrong; the two differ in every file we compare.
        using var oldDir = TestPaths.TempDir();
        using var newDir = TestPaths.TempDir();
        Old().SavePretrained(oldDir.Path);
        New().SavePretrained(newDir.Path);
        var before = Snapshot(oldDir.Path);
        var complete = Snapshot(newDir.Path);
        Assert.Contains(blocked, before.Keys);
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), complete.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(before, kv => !kv.Value.AsSpan().SequenceEqual(complete[kv.Key]));

        using var dir = TestPaths.TempDir();
        Old().SavePretrained(dir.Path);
        File.Delete(dir[blocked]);
        Directory.CreateDirectory(dir[blocked]);
        var entries = Entries(dir.Path);
        var e = Record.Exception(() => New().SavePretrained(dir.Path));
        Assert.True(e is IOException or UnauthorizedAccessException, $"expected an I/O error, got {e?.ToString() ?? "none"}");

        Assert.Equal(entries, Entries(dir.Path));                         // no temporary files left, nothing else created
        Assert.True(Directory.Exists(dir[blocked]));
        Assert.Empty(Directory.GetFileSystemEntries(dir[blocked]));
        int untouched = 0;
        foreach (var (name, bytes) in Snapshot(dir.Path))
        {
            bool same = bytes.AsSpan().SequenceEqual(before[name]);
            Assert.True(same || bytes.AsSpan().SequenceEqual(complete[name]), $"{name} is neither the previous file nor the complete new one");
            if (same) untouched++;
        }
        // Files the failed save never reached keep their previous content.
        if (blocked is "tokenizer.json" or "vocab.json") Assert.Equal(before.Count - 1, untouched);
    }
}
