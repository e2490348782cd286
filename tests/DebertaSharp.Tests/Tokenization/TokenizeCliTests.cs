using System.Text.Json.Nodes;
using DebertaSharp.Cli;

namespace DebertaSharp.Tests.Tokenization;

/// <summary><c>deberta tokenize</c> against tokenizer_expected_public.json.</summary>
public class TokenizeCliTests
{
    private static (int Rc, List<JsonObject> Lines, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = CliApp.Run(["tokenize", .. args], stdout, stderr);
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
        return (rc, lines, stderr.ToString());
    }

    private static string WriteInput(TempDir dir, JsonNode array)
    {
        string path = dir["input.json"];
        File.WriteAllText(path, array.ToJsonString());
        return path;
    }

    private static void Same(List<string> errors, string where, JsonNode? expected, JsonObject actual, params string[] fields)
    {
        foreach (var f in fields)
            if (!JsonNode.DeepEquals(expected![f], actual[f]))
                errors.Add($"{where}.{f}: expected {expected[f]?.ToJsonString()} got {actual[f]?.ToJsonString()}");
    }

    private static readonly string[] AllFields = ["input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping"];

    [Theory]
    [MemberData(nameof(TokenizerFixtureTests.Builds), MemberType = typeof(TokenizerFixtureTests))]
    public void Texts_MatchHuggingFace(string build)
    {
        using var dir = TestPaths.TempDir();
        var items = (JsonArray)TokenizerFixtures.Case(build)["items"]!;
        string input = WriteInput(dir, new JsonArray([.. items.Select(i => i!["text"]!.DeepClone())]));
        var (rc, lines, err) = Run("--tokenizer", TestPaths.Fixture("tokenizer", build), "--input", input);
        Assert.True(rc == 0, err);
        Assert.Equal(items.Count, lines.Count);
        var errors = new List<string>();
        for (int i = 0; i < items.Count; i++)
        {
            Same(errors, $"[{i}]", items[i]!["single"], lines[i], AllFields);
            if (!JsonNode.DeepEquals(items[i]!["convert_ids_to_tokens"], lines[i]["tokens"])) errors.Add($"[{i}].tokens");
            if (lines[i].ContainsKey("word_ids")) errors.Add($"[{i}] word_ids without --split-into-words");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)));
    }

    [Theory]
    [MemberData(nameof(TokenizerFixtureTests.Builds), MemberType = typeof(TokenizerFixtureTests))]
    public void PairsTruncationAndPadding_MatchHuggingFace(string build)
    {
        using var dir = TestPaths.TempDir();
        var items = (JsonArray)TokenizerFixtures.Case(build)["items"]!;
        var corpus = TokenizerFixtures.Corpus;
        // Every text with the next, none skipped: the last is paired with the empty first text (an empty text_pair is no pair).
        var idx = Enumerable.Range(0, items.Count).ToList();
        Assert.Equal("", (string)corpus[0]!);
        string pairs = WriteInput(dir, new JsonArray([.. idx.Select(i => new JsonArray((string)corpus[i]!, (string)corpus[(i + 1) % corpus.Count]!))]));
        string tok = TestPaths.Fixture("tokenizer", build);
        var errors = new List<string>();

        var (rc, lines, err) = Run("--tokenizer", tok, "--input", pairs, "--pairs");
        Assert.True(rc == 0, err);
        for (int k = 0; k < idx.Count; k++) Same(errors, $"pair[{idx[k]}]", items[idx[k]]!["pair_with_next"], lines[k], AllFields);

        (rc, lines, err) = Run("--tokenizer", tok, "--input", pairs, "--pairs", "--max-length", "24");
        Assert.True(rc == 0, err);
        for (int k = 0; k < idx.Count; k++) Same(errors, $"longest_first[{idx[k]}]", items[idx[k]]!["pair_truncated_longest_first_24"], lines[k], AllFields);

        string singles = WriteInput(dir, new JsonArray([.. items.Select(i => i!["text"]!.DeepClone())]));
        (rc, lines, err) = Run("--tokenizer", tok, "--input", singles, "--padding", "max_length", "--max-length", "32", "--truncation", "longest_first");
        Assert.True(rc == 0, err);
        for (int i = 0; i < items.Count; i++) Same(errors, $"padded[{i}]", items[i]!["single_padded_max_length_32"], lines[i], AllFields);

        string first8 = WriteInput(dir, new JsonArray([.. corpus.Take(8).Select(t => t!.DeepClone())]));
        (rc, lines, err) = Run("--tokenizer", tok, "--input", first8, "--padding", "longest", "--max-length", "20", "--truncation", "longest_first");
        Assert.True(rc == 0, err);
        var batch = TokenizerFixtures.Case(build)["batch_first8_padded_trunc20"]!;
        for (int i = 0; i < 8; i++)
            foreach (var f in new[] { "input_ids", "token_type_ids", "attention_mask", "special_tokens_mask" })
                if (!JsonNode.DeepEquals(batch[f]![i], lines[i][f])) errors.Add($"batch[{i}].{f}");
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)));
    }

    [Fact]
    public void EmptyTextPair_IsNoPair_AsTheLibrarysEncode()
    {
        // Issue 13, item 4: ["x", ""] gave [1, 91, 2, 2] with type ids 0,0,0,1; Hugging Face 5.17's tokenizer("x", "") gives [1, 91, 2].
        using var dir = TestPaths.TempDir();
        string tok = TestPaths.Fixture("tokenizer", "v4_template");
        var lib = TokenizerFixtures.Fast("v4_template");
        string input = WriteInput(dir, new JsonArray(new JsonArray("x", ""), new JsonArray("x", "y z")));
        var (rc, lines, err) = Run("--tokenizer", tok, "--input", input, "--pairs", "--padding", "longest");
        Assert.True(rc == 0, err);
        Assert.Equal("[1,91,2,0,0,0]", lines[0]["input_ids"]!.ToJsonString());
        Assert.Equal("[1,1,1,0,0,0]", lines[0]["attention_mask"]!.ToJsonString());
        Assert.Equal(lib.Encode("x", "").Ids, lines[0]["input_ids"]!.AsArray().Take(3).Select(n => (int)n!));
        Assert.Equal(lib.Encode("x", "").TypeIds, lines[0]["token_type_ids"]!.AsArray().Take(3).Select(n => (int)n!));
        Assert.Equal(lib.Encode("x", "y z").Ids, lines[1]["input_ids"]!.AsArray().Select(n => (int)n!));

        input = WriteInput(dir, new JsonArray(new JsonArray(new JsonArray("x"), new JsonArray())));
        (rc, lines, err) = Run("--tokenizer", TestPaths.Fixture("tokenizer", "prefix1"), "--input", input, "--pairs", "--split-into-words");
        Assert.True(rc == 0, err);
        Assert.Equal(TokenizerFixtures.Fast("prefix1").Encode(["x"], []).Ids, lines[0]["input_ids"]!.AsArray().Select(n => (int)n!));
        Assert.Equal("[null,0,null]", lines[0]["word_ids"]!.ToJsonString());
    }

    [Fact]
    public void SplitIntoWords_MatchesHuggingFace()
    {
        using var dir = TestPaths.TempDir();
        var cases = ((JsonArray)TokenizerFixtures.Case("prefix1")["items"]!).Select(i => i!["split_into_words"]).OfType<JsonObject>().ToList();
        string input = WriteInput(dir, new JsonArray([.. cases.Select(c => c["words"]!.DeepClone())]));
        var (rc, lines, err) = Run("--tokenizer", TestPaths.Fixture("tokenizer", "prefix1"), "--input", input, "--split-into-words");
        Assert.True(rc == 0, err);
        var errors = new List<string>();
        for (int i = 0; i < cases.Count; i++) Same(errors, $"[{i}]", cases[i], lines[i], "input_ids", "word_ids", "offset_mapping");
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)));
    }

    [Fact]
    public void DebertaBaseVocabulary_WithoutTokenizerJson_UsesTheSlowTokenizer()
    {
        using var dir = TestPaths.TempDir();
        string input = WriteInput(dir, new JsonArray("Hello world", " Hello world"));
        var (rc, lines, err) = Run("--tokenizer", TestPaths.Fixture("deberta-base-vocab"), "--input", input);
        Assert.True(rc == 0, err);
        Assert.Equal("[1,31414,232,2]", lines[0]["input_ids"]!.ToJsonString());
        Assert.Equal("[1,20920,232,2]", lines[1]["input_ids"]!.ToJsonString());
    }

    [Fact]
    public void BadInputs_AreErrorsThatNameTheProblem()
    {
        using var dir = TestPaths.TempDir();
        string tok = TestPaths.Fixture("tokenizer", "prefix0");
        string bad = dir["bad.json"];
        File.WriteAllBytes(bad, [(byte)'[', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)']']);
        var (rc, lines, err) = Run("--tokenizer", tok, "--input", bad);
        Assert.Equal(1, rc);
        Assert.Empty(lines);
        Assert.Contains("bad.json", err);

        File.WriteAllText(bad, "[\"ok\", \"\\ud800\"]");
        (rc, lines, err) = Run("--tokenizer", tok, "--input", bad);
        Assert.Equal(1, rc);
        Assert.Empty(lines);

        File.WriteAllText(bad, "{\"text\": \"x\"}");
        (rc, _, err) = Run("--tokenizer", tok, "--input", bad);
        Assert.Equal(1, rc);
        Assert.Contains("array", err);

        File.WriteAllText(bad, "[\"a\"]");
        (rc, _, err) = Run("--tokenizer", tok, "--input", bad, "--pairs");
        Assert.Equal(1, rc);
        Assert.Contains("element 0", err);

        (rc, _, err) = Run("--tokenizer", tok, "--input", bad, "--truncation", "sideways");
        Assert.Equal(2, rc);
        Assert.Contains("--truncation", err);
        (rc, _, _) = Run("--tokenizer", tok);
        Assert.Equal(2, rc);
        (rc, _, err) = Run("--tokenizer", dir["missing"], "--input", bad);
        Assert.Equal(1, rc);
        Assert.Contains("missing", err);
    }

    [Fact]
    public void EmptyAndWhitespaceTexts_Work()
    {
        using var dir = TestPaths.TempDir();
        string input = WriteInput(dir, new JsonArray("", " ", "\n\t "));
        var (rc, lines, err) = Run("--tokenizer", TestPaths.Fixture("tokenizer", "prefix0"), "--input", input, "--no-special-tokens");
        Assert.True(rc == 0, err);
        Assert.Equal("[]", lines[0]["input_ids"]!.ToJsonString());
        Assert.Equal(3, lines.Count);
    }
}
