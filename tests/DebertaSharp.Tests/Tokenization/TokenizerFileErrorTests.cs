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
        // A toy vocabulary built here: the unknown id stands in for characters outside it.
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
    public void SavePretrained_NeverLeavesPartialFiles()
    {
        using var dir = TestPaths.TempDir();
        var tok = TokenizerFixtures.Fast("prefix0");
        tok.SavePretrained(dir.Path);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
        Assert.True(File.Exists(dir["tokenizer_config.json"]));
        Assert.True(File.Exists(dir["special_tokens_map.json"]));
    }
}
