using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>
/// Cases the fixture corpus does not reach, with expectations derived by hand from the reference sources
/// (tokenizers 0.23's <c>tokenize_with_limit</c> and <c>truncate_encodings</c>) and the fixture vocabulary.
/// </summary>
public class TokenizerEdgeCaseTests
{
    // v4_template: [MASK] strips the space on its left; pair template [CLS] A [SEP] B [SEP] (3 specials).
    // Ids in the fixture vocabulary: a 68, Ġb 279, Ġd 292, Ġe 308, x 91, Ġy 335, Ġt 260, Ġs 268, [MASK] 50261.
    private const string MaskText = "a b c d e [MASK] f g h";      // a Ġb Ġc Ġd Ġe " [MASK]" Ġf Ġg Ġh
    private const string MaskTextLeft = "g h [MASK] a b c d e";    // g Ġh " [MASK]" Ġa Ġb Ġc Ġd Ġe
    private const string Other = "x y z w v u t s";                // 8 one-token pre-tokens

    [Fact]
    public void PairTruncation_LimitReachedOnAnAddedToken_KeepsTheNextPreToken()
    {
        // max_length 6: each sequence is tokenized until it holds 6 tokens, the check coming only after a pre-token the
        // model tokenized. A: a..Ġe (5), [MASK] (6, an added token: no check), Ġf (7) -> 7 tokens; B: 6 tokens.
        // longest_first on a budget of 6 - 3 = 3 with lengths (7, 6): the shorter (B) keeps 1, the longer (A) 2.
        var tok = TokenizerFixtures.Fast("v4_template");
        var e = tok.Encode(MaskText, Other, new EncodeOptions { MaxLength = 6, Truncation = TruncationStrategy.LongestFirst });
        // Provenance: derived by hand as above (no Hugging Face run); the ids are the fixture vocabulary's listed above.
        Assert.Equal([1, 68, 279, 2, 91, 2], e.Ids);
        Assert.Equal([0, 0, 0, 0, 1, 1], e.TypeIds);
    }

    [Fact]
    public void PairTruncation_LimitReachedOnAnAddedToken_LeftSide()
    {
        // From the end: Ġe Ġd Ġc Ġb Ġa (5), [MASK] (6, no check), Ġh (7) -> A has 7, B 6; A keeps its last 2, B its last 1.
        var tok = TokenizerFixtures.Fast("v4_template");
        var e = tok.Encode(MaskTextLeft, Other, new EncodeOptions { MaxLength = 6, Truncation = TruncationStrategy.LongestFirst, TruncationSide = Side.Left });
        // Provenance: derived by hand (no Hugging Face run); ids from the fixture vocabulary listed above.
        Assert.Equal([1, 292, 308, 2, 268, 2], e.Ids);
    }

    [Fact]
    public void SingleWordAddedToken_MarksAndAstralLettersAreWordCharacters()
    {
        // tokenizers' test_single_word_is_unicode_correct: single_word uses the regex \w, which takes combining marks
        // (U+0330 after U+25CC), so the third <mask> is inside a word and not matched; punctuation is not word.
        var tok = DebertaTokenizerFast.FromPretrained(TestPaths.Fixture("tokenizer", "prefix0"));
        tok.AddTokens([new AddedToken("<mask>", SingleWord: true)]);
        int mask = tok.ConvertTokensToIds("<mask>");
        var noSpecials = new EncodeOptions { AddSpecialTokens = false };
        Assert.Equal(2, tok.Encode("<mask>, <mask>- \u25CC\u0330<mask>", null, noSpecials).Ids.Count(id => id == mask));
        // A letter outside the BMP (U+1D400, a surrogate pair) is a word character too.
        Assert.DoesNotContain(mask, tok.Encode("\U0001D400<mask>", null, noSpecials).Ids);
        Assert.DoesNotContain(mask, tok.Encode("<mask>\U0001D400", null, noSpecials).Ids);
        Assert.Contains(mask, tok.Encode("\U0001F600<mask>", null, noSpecials).Ids); // an emoji is not
    }

    [Fact]
    public void LStripRStripAddedToken_UnicodeSpaces_DoNotOverlap()
    {
        // tokenizers' test_lstrip_unicode_space: the splits are "hi", " <mask> ", "there", "\t<mask>\t", "<mask>\u2000"
        // (the third <mask> cannot take back the tab the second one already took).
        var tok = DebertaTokenizerFast.FromPretrained(TestPaths.Fixture("tokenizer", "prefix0"));
        tok.AddTokens([new AddedToken("<mask>", SingleWord: true, LStrip: true, RStrip: true)]);
        int mask = tok.ConvertTokensToIds("<mask>");
        var e = tok.Encode("Hi <mask> there\t<mask>\t<mask>\u2000", null, new EncodeOptions { AddSpecialTokens = false });
        var at = Enumerable.Range(0, e.Length).Where(i => e.Ids[i] == mask).ToArray();
        Assert.Equal([" <mask> ", "\t<mask>\t", "<mask>\u2000"], at.Select(i => e.Tokens[i]));
        Assert.Equal([(2, 10), (15, 23), (23, 30)], at.Select(i => e.Offsets[i]));
    }

    [Fact]
    public void AddedTokens_OptionsUseCases_WithALowercaseNormalizer()
    {
        // tokenizers' options_use_cases: "[CLS] My name is Anthony [SEP]" splits into "[CLS]", " my " (lstrip and
        // rstrip, matched in the normalized text), "name", " is anthony " (no "ony": single_word), "[SEP]".
        using var dir = TestPaths.TempDir();
        var json = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json")))!;
        json["normalizer"] = System.Text.Json.Nodes.JsonNode.Parse("""{"type":"Lowercase"}""");
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        var tok = new DebertaTokenizerFast(dir["tokenizer.json"]);
        tok.AddTokens([new AddedToken("my", LStrip: true, RStrip: true, Normalized: true), new AddedToken("name", Normalized: true),
            new AddedToken("ony", SingleWord: true, Normalized: true)]);
        // ("ony" is also in the vocabulary, so its id alone cannot tell a match from BPE output.)
        var added = new[] { "[CLS]", "my", "name", "[SEP]" }.Select(tok.ConvertTokensToIds).ToHashSet();
        var e = tok.Encode("[CLS] My name is Anthony [SEP]", null, new EncodeOptions { AddSpecialTokens = false });
        var at = Enumerable.Range(0, e.Length).Where(i => added.Contains(e.Ids[i])).ToArray();
        Assert.Equal(["[CLS]", " my ", "name", "[SEP]"], at.Select(i => e.Tokens[i]));
        Assert.Equal([(0, 5), (5, 9), (9, 13), (25, 30)], at.Select(i => e.Offsets[i]));
        Assert.Equal(TokenizerFixtures.Fast("prefix0").Tokenize(" is anthony "), e.Tokens[(at[2] + 1)..at[3]]);
    }

    [Theory]
    [InlineData(4, 8, new[] { 1, 31377, 999, 2, 0, 0, 0, 0 })]
    [InlineData(8, 4, new[] { 1, 31377, 999, 22948, 2322, 279, 1035, 2 })]
    public void TokenizerJson_TruncationAndFixedPadding_KeepTheirOwnLengths(int truncateTo, int padTo, int[] expected)
    {
        // tokenizer.json's truncation.max_length and padding.strategy.Fixed are independent: truncated to one, then padded
        // to the other. Provenance: the commit that added these (1eada9f) records the ids as the Rust tokenizers' on the
        // same file; no generator in tools/ made them and no fixture json holds them, so they are not re-checked against
        // Hugging Face here. The untruncated ids are the first tokens of that text (31377 "hello", 999 "Ġworld", ...).
        using var dir = TestPaths.TempDir();
        var json = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "v4_template", "tokenizer.json")))!;
        json["truncation"] = System.Text.Json.Nodes.JsonNode.Parse($$"""{"direction":"Right","max_length":{{truncateTo}},"strategy":"LongestFirst","stride":0}""");
        json["padding"] = System.Text.Json.Nodes.JsonNode.Parse($$"""{"strategy":{"Fixed":{{padTo}}},"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"}""");
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        var tok = new DebertaTokenizerFast(dir["tokenizer.json"]);
        Assert.Equal(expected, tok.Encode("hello world foo bar baz qux").Ids);
        Assert.Equal(Math.Max(padTo, 3), tok.Encode("hi").Length);

        using var saved = TestPaths.TempDir();
        tok.SavePretrained(saved.Path);
        Assert.Equal(expected, DebertaTokenizerBase.FromPretrained(saved.Path).Encode("hello world foo bar baz qux").Ids);
    }

    /// <summary>The prefix0 build with extra added tokens (JSON objects) and an optional normalizer.</summary>
    private static DebertaTokenizerFast WithAddedTokens(TempDir dir, string? normalizer, params string[] addedTokens)
    {
        var json = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json")))!;
        if (normalizer is not null) json["normalizer"] = System.Text.Json.Nodes.JsonNode.Parse(normalizer);
        var added = (System.Text.Json.Nodes.JsonArray)json["added_tokens"]!;
        foreach (var t in addedTokens) added.Add(System.Text.Json.Nodes.JsonNode.Parse(t));
        File.WriteAllText(dir["tokenizer.json"], json.ToJsonString());
        return new DebertaTokenizerFast(dir["tokenizer.json"]);
    }

    private static readonly EncodeOptions NoSpecials = new() { AddSpecialTokens = false };

    [Fact]
    public void NormalizedAddedToken_IsMatchedInItsNormalizedForm()
    {
        // tokenizers builds the trie of normalized added tokens from their normalized content: under Lowercase, "ZZ"
        // is found in the lower-cased text (as "zz"), whatever the input's case.
        using var dir = TestPaths.TempDir();
        var tok = WithAddedTokens(dir, """{"type":"Lowercase"}""",
            """{"id":50262,"content":"ZZ","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false}""");
        int zz = TokenizerFixtures.Fast("prefix0").ConvertTokensToIds("ZZ");
        Assert.Equal([zz], tok.Encode("ZZ", null, NoSpecials).Ids);
        Assert.Equal([zz], tok.Encode("zZ", null, NoSpecials).Ids);
    }

    [Fact]
    public void NormalizedAddedTokens_AreExtractedAfterTheOthers_EvenWithoutANormalizer()
    {
        // tokenizers takes the non-normalized added tokens out of the raw text first ("ab" here), then the normalized
        // ones from what is left: in " ZZab", single_word "ZZ" fails against "ab" in the raw text, but in the piece
        // " ZZ" it ends the piece and is matched. Ids as the Rust tokenizers gives them: Ġ 224, ZZ, ab.
        using var dir = TestPaths.TempDir();
        var tok = WithAddedTokens(dir, null,
            """{"id":50262,"content":"ab","single_word":false,"lstrip":false,"rstrip":true,"normalized":false,"special":false}""",
            """{"id":50263,"content":"ZZ","single_word":true,"lstrip":false,"rstrip":false,"normalized":true,"special":true}""");
        var plain = TokenizerFixtures.Fast("prefix0");
        Assert.Equal([224, plain.ConvertTokensToIds("ZZ"), plain.ConvertTokensToIds("ab")], tok.Encode(" ZZab", null, NoSpecials).Ids);
    }

    [Fact]
    public void TokenizerJsonAddedToken_InTheVocabulary_TakesTheVocabularyId()
    {
        // tokenizers gives an added token the model's id when its content is in the vocabulary (the file's id only
        // draws a warning).
        using var dir = TestPaths.TempDir();
        var tok = WithAddedTokens(dir, null,
            """{"id":50262,"content":"ab","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false}""");
        int ab = TokenizerFixtures.Fast("prefix0").ConvertTokensToIds("ab");
        Assert.NotEqual(50262, ab);
        Assert.Equal(ab, tok.ConvertTokensToIds("ab"));
        Assert.Equal([ab, ab], tok.Encode("abab", null, NoSpecials).Ids);
    }

    [Theory]
    [InlineData("\u001Chello")]
    [InlineData("\u001Fhello")]
    [InlineData("\u0085hello")]
    public void SlowTokenizer_PrefixSpace_FollowsPythonIsSpace(string text)
    {
        // transformers' Python prepare_for_tokenization adds the prefix space only when not text[0].isspace();
        // str.isspace() is true for U+001C..U+001F and U+0085, so these texts get no prefix space.
        string dir = TestPaths.Fixture("tokenizer", "vocab-files");
        var withPrefix = new DebertaTokenizer(Path.Combine(dir, "vocab.json"), Path.Combine(dir, "merges.txt"), addPrefixSpace: true);
        var without = new DebertaTokenizer(Path.Combine(dir, "vocab.json"), Path.Combine(dir, "merges.txt"));
        Assert.Equal(without.Tokenize(text), withPrefix.Tokenize(text));
        Assert.NotEqual(without.Tokenize("hello"), withPrefix.Tokenize("hello"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NegativeIds_AreRefusedWithTheirIndex_IdsPastTheVocabularyAreSkipped(bool slow)
    {
        DebertaTokenizerBase tok = slow ? DebertaTokenizer.FromPretrained(TestPaths.Fixture("tokenizer", "vocab-files")) : TokenizerFixtures.Fast("v4_template");
        // Hugging Face's fast tokenizer converts ids to Rust's u32: decode([68, -1]) and convert_ids_to_tokens(-1) raise
        // OverflowError ("can't convert negative int to unsigned").
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([68, 279, -1]));
        Assert.Contains("-1", e.Message, StringComparison.Ordinal);
        Assert.Contains("index 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("index 1", Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([68, int.MinValue], skipSpecialTokens: true)).Message, StringComparison.Ordinal);
        Assert.Contains("index 0", Assert.Throws<ArgumentOutOfRangeException>(() => tok.ConvertIdsToTokens([-5, 68])).Message, StringComparison.Ordinal);
        Assert.Contains("-5", Assert.Throws<ArgumentOutOfRangeException>(() => tok.ConvertIdsToTokens(-5)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.BatchDecode([[68], [-1]]));
        // An id with no token: tokenizers' Tokenizer::decode skips it and id_to_token gives None (a 50,265-token vocabulary).
        Assert.Equal("a b", tok.Decode([68, 1_000_000, 279]));
        Assert.Equal(new string?[] { "a", null }, tok.ConvertIdsToTokens([68, 1_000_000]));
        Assert.Null(tok.ConvertIdsToTokens(1_000_000));
    }

    [Theory]
    [InlineData("ignore")]
    [InlineData("strict")]
    public void InvalidUtf8_TheSlowTokenizerFollowsErrors_TheFastOneAlwaysReplaces(string errors)
    {
        // "Ã" is byte 0xC3 in GPT-2's byte table: alone it is an incomplete UTF-8 sequence. Hugging Face's fast
        // tokenizer decodes through tokenizers' ByteLevel decoder (String::from_utf8_lossy: one U+FFFD) whatever
        // tokenizer_config's errors says; the slow one decodes with bytearray.decode("utf-8", errors=errors).
        using var fastDir = TestPaths.TempDir();
        File.Copy(TestPaths.Fixture("tokenizer", "prefix0", "tokenizer.json"), fastDir["tokenizer.json"]);
        File.WriteAllText(fastDir["tokenizer_config.json"], $"{{\"errors\": \"{errors}\"}}");
        var fast = DebertaTokenizerFast.FromPretrained(fastDir.Path);
        Assert.Equal(errors, fast.Errors);
        int lone = fast.ConvertTokensToIds("\u00C3");
        Assert.NotEqual(fast.UnkTokenId, lone);
        Assert.Equal("a\uFFFD", fast.Decode([68, lone]));

        using var slowDir = TestPaths.TempDir();
        foreach (var f in new[] { "vocab.json", "merges.txt" })
            File.Copy(TestPaths.Fixture("tokenizer", "vocab-files", f), slowDir[f]);
        File.WriteAllText(slowDir["tokenizer_config.json"], $"{{\"errors\": \"{errors}\"}}");
        var slow = DebertaTokenizer.FromPretrained(slowDir.Path);
        if (errors == "ignore") Assert.Equal("a", slow.Decode([68, lone]));
        else Assert.Throws<System.Text.DecoderFallbackException>(() => slow.Decode([68, lone]));
    }
}
