using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>Split / Sequence pre-tokenizers and the hand-written GPT-2 splitter.</summary>
public class PreTokenizerTests
{
    [Theory]
    // The examples of tokenizers' SplitDelimiterBehavior documentation.
    [InlineData("Removed", "the|final|countdown")]
    [InlineData("Isolated", "the|-|final|-|-|countdown")]
    [InlineData("MergedWithPrevious", "the-|final-|-|countdown")]
    [InlineData("MergedWithNext", "the|-final|-|-countdown")]
    [InlineData("Contiguous", "the|-|final|--|countdown")]
    public void Split_Behaviours_FollowTokenizers(string behavior, string expected)
    {
        const string text = "the-final--countdown";
        var step = new SplitStep(new Regex("-"), behavior, invert: false);
        Assert.Equal(expected, string.Join("|", step.Split(text).Select(r => text[r.Item1..r.Item2])));
    }

    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    [Fact]
    public void HandWrittenSplitter_AgreesWithTheRegularExpression()
    {
        var re = new Regex(Gpt2Pattern);
        var texts = TokenizerFixtures.Corpus.Select(n => (string)n!).Concat(
            ["a  b", "x \t\n y", "it's 'tis 'S 'll'", "   ", " ", "\n", "a\u00A0b", "1 22 333", "𝐀𝐁 𝟙𝟚 x", "  !!  ??"]);
        foreach (var text in texts)
        {
            var want = re.Matches(text).Select(m => m.Value).ToList();
            var got = new List<string>();
            for (int i = 0; i < text.Length;)
            {
                int n = Gpt2Splitter.NextLength(text, i);
                got.Add(text.Substring(i, n));
                i += n;
            }
            Assert.Equal(want, got);
        }
    }

    [Fact]
    public void SequenceOfSplitAndByteLevel_EqualsTheByteLevelRegex()
    {
        // tokenizer.json with Sequence[Split(GPT-2 pattern, Isolated), ByteLevel(use_regex=false)]: the same pieces as
        // ByteLevel(use_regex=true), so the prefix0 expectations apply.
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json")))!;
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Gpt2Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
        };
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        var tok = new DebertaTokenizerFast(dir["tokenizer.json"]);
        var items = (JsonArray)TokenizerFixtures.Case("prefix0")["items"]!;
        foreach (var item in items)
        {
            var enc = tok.Encode((string)item!["text"]!);
            Assert.Equal(TokenizerFixtures.Ints(item["single"]!["input_ids"]), enc.Ids);
            Assert.Equal(TokenizerFixtures.Offsets(item["single"]!["offset_mapping"]), enc.Offsets);
        }
    }

    [Fact]
    public void UnsupportedSplitPattern_IsNamed()
    {
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json")))!;
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = "a(" }, ["behavior"] = "Isolated" };
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        var e = Assert.Throws<TokenizerFormatException>(() => new DebertaTokenizerFast(dir["tokenizer.json"]));
        Assert.Contains("a(", e.Message);
    }
}

/// <summary>The BPE model's other options: byte fallback, fused unknowns, no pre-tokenizer, no decoder.</summary>
public class BpeOptionTests
{
    private static DebertaTokenizerFast ByteFallbackTokenizer(TempDir dir)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = b;
        foreach (var t in new[] { "[UNK]", "a", "b", "ab", "c", "abc" }) vocab[t] = vocab.Count;
        var json = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = new JsonArray(), ["normalizer"] = null, ["pre_tokenizer"] = null,
            ["post_processor"] = null, ["decoder"] = null,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "[UNK]", ["fuse_unk"] = true, ["byte_fallback"] = true, ["vocab"] = vocab,
                ["merges"] = new JsonArray("a b", "ab c"),
            },
        };
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        return new DebertaTokenizerFast(dir["tokenizer.json"]);
    }

    [Fact]
    public void ByteFallback_ManyFallbackCharsThenKnownOnes()
    {
        using var dir = TestPaths.TempDir();
        var tok = ByteFallbackTokenizer(dir);
        var one = tok.Encode("中").Ids;
        var abc = tok.Encode("abc").Ids;
        Assert.Equal(3, one.Length); // three UTF-8 bytes
        Assert.Single(abc);
        string text = string.Concat(Enumerable.Repeat("中", 200)) + "abc";
        var enc = tok.Encode(text);
        Assert.Equal(Enumerable.Repeat(one, 200).SelectMany(x => x).Concat(abc), enc.Ids);
        Assert.Equal((0, 1), enc.Offsets[0]);
        Assert.Equal((0, 1), enc.Offsets[2]);
        Assert.Equal((200, 203), enc.Offsets[^1]);
    }
}

/// <summary>Normalizers in tokenizer.json.</summary>
public class NormalizerTests
{
    private static DebertaTokenizerFast WithNormalizer(TempDir dir, string normalizerJson)
    {
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json")))!;
        json["normalizer"] = JsonNode.Parse(normalizerJson);
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        return new DebertaTokenizerFast(dir["tokenizer.json"]);
    }

    [Fact]
    public void Lowercase_MapsLikeRustsCharToLowercase()
    {
        using var dir = TestPaths.TempDir();
        var tok = WithNormalizer(dir, """{"type":"Lowercase"}""");
        var plain = TokenizerFixtures.Fast("prefix0");
        Assert.Equal(plain.Encode("hello world i\u0307stanbul").Ids, tok.Encode("HeLLo WORLD \u0130stanbul").Ids);
        var enc = tok.Encode("ABC def");
        Assert.Equal(plain.Encode("abc def").Offsets, enc.Offsets);
    }

    [Fact]
    public void Nfkc_WorksWhereTheProcessCanNormalize_ElseIsANamedError()
    {
        using var dir = TestPaths.TempDir();
        if (UnicodeNormalizer.Available(System.Text.NormalizationForm.FormKC))
        {
            var tok = WithNormalizer(dir, """{"type":"NFKC"}""");
            Assert.Equal(TokenizerFixtures.Fast("prefix0").Encode("12 A").Ids, tok.Encode("\uFF11\uFF12 \uFF21").Ids);
            // Half-width KA + half-width voiced sound mark: compatibility forms U+30AB U+3099, composed to GA U+30AC.
            // U+FF9E is a modifier letter, not a combining mark, so it must still be normalized with the KA.
            var ga = tok.Encode("\uFF76\uFF9E", null, new EncodeOptions { AddSpecialTokens = false });
            Assert.Equal(TokenizerFixtures.Fast("prefix0").Encode("\u30AC", null, new EncodeOptions { AddSpecialTokens = false }).Ids, ga.Ids);
            Assert.All(ga.Offsets, o => Assert.Equal((0, 2), o));
        }
        else
        {
            var e = Assert.Throws<TokenizerFormatException>(() => WithNormalizer(dir, """{"type":"NFKC"}"""));
            Assert.Contains("NFKC", e.Message);
        }
    }

    [Fact]
    public void Nfc_ComposesHangulJamo()
    {
        // Conjoining jamo are letters (not combining marks) yet compose: L U+1100 + V U+1161 + T U+11A8 is
        // U+AC00 + (0 * 21 + 0) * 28 + 1 = U+AC01 by Unicode's Hangul composition.
        // Unicode normalization comes from ICU; the test machines (Debian 12, libicu72) have it and the projects leave
        // InvariantGlobalization off, so this must run here. Without ICU an NFC tokenizer is a load error instead
        // (Nfc_WithoutIcu_IsALoadErrorNamingTheNormalizer).
        Assert.False(AppContext.TryGetSwitch("System.Globalization.Invariant", out bool invariant) && invariant, "the test process runs in invariant globalization mode");
        Assert.True(UnicodeNormalizer.Available(System.Text.NormalizationForm.FormC), "Unicode normalization (ICU) is unavailable in the test process");
        using var dir = TestPaths.TempDir();
        var tok = WithNormalizer(dir, """{"type":"NFC"}""");
        var noSpecials = new EncodeOptions { AddSpecialTokens = false };
        var enc = tok.Encode("x \u1100\u1161\u11A8", null, noSpecials);
        Assert.Equal(TokenizerFixtures.Fast("prefix0").Encode("x \uAC01", null, noSpecials).Ids, enc.Ids);
        Assert.Equal((1, 5), (enc.Offsets[1].Start, enc.Offsets[^1].End));
    }

    /// <summary>The same tokenizer in a process without ICU (invariant globalization mode, as set by the runtime's own
    /// switch): loading it is an error naming the file and the normalizer, not a tokenizer that silently skips NFC.</summary>
    [Fact]
    public async Task Nfc_WithoutIcu_IsALoadErrorNamingTheNormalizer()
    {
        using var dir = TestPaths.TempDir();
        WithNormalizer(dir, """{"type":"NFC"}""");
        File.WriteAllText(dir["input.json"], "[\"x \u1100\u1161\u11A8\"]");
        string dll = Path.Combine(AppContext.BaseDirectory, "deberta.dll");
        Assert.True(File.Exists(dll), dll);
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { dll, "tokenize", "--tokenizer", dir.Path, "--input", dir["input.json"] }) psi.ArgumentList.Add(arg);
        psi.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        using var p = System.Diagnostics.Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdoutTask = p.StandardOutput.ReadToEndAsync(timeout.Token);
        string stderr = await p.StandardError.ReadToEndAsync(timeout.Token);
        string stdout = await stdoutTask;
        await p.WaitForExitAsync(timeout.Token);
        Assert.True(p.ExitCode == 1, $"exit {p.ExitCode}: {stderr} {stdout}");
        Assert.Contains("normalizer 'NFC' needs Unicode normalization", stderr);
        Assert.Contains(dir["tokenizer.json"], stderr);
        Assert.Equal("", stdout);
    }
}
