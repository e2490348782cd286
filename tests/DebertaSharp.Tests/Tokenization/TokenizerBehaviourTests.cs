using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>The slow tokenizer, the real deberta-base vocabulary, the documented helpers, save/load and options.</summary>
public class TokenizerBehaviourTests
{
    private static readonly Lazy<DebertaTokenizer> _slow = new(() => DebertaTokenizer.FromPretrained(TestPaths.Fixture("tokenizer", "vocab-files")));

    private static bool HasLiteralSpecial(string text) =>
        new[] { "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]" }.Any(text.Contains);

    [Fact]
    public void SlowTokenizer_OnVocabFiles_GivesTheIdsOfTheV4TemplateBuild()
    {
        var slow = _slow.Value;
        var items = (JsonArray)TokenizerFixtures.Case("v4_template")["items"]!;
        var corpus = TokenizerFixtures.Corpus;
        var errors = new List<string>();
        for (int i = 0; i < items.Count; i++)
        {
            var item = items[i]!;
            string text = (string)item["text"]!;
            string next = (string)corpus[(i + 1) % corpus.Count]!;
            var single = slow.Encode(text);
            if (!TokenizerFixtures.Ints(item["single"]!["input_ids"]).SequenceEqual(single.Ids)) errors.Add($"[{i}] single ids");
            if (!TokenizerFixtures.Ints(item["single"]!["special_tokens_mask"]).SequenceEqual(single.SpecialTokensMask)) errors.Add($"[{i}] single special mask");
            var pair = slow.Encode(text, next);
            var wantPair = item["pair_with_next"]!;
            if (!TokenizerFixtures.Ints(wantPair["input_ids"]).SequenceEqual(pair.Ids)) errors.Add($"[{i}] pair ids");
            if (!TokenizerFixtures.Ints(wantPair["token_type_ids"]).SequenceEqual(pair.TypeIds)) errors.Add($"[{i}] pair type ids");
            if (!TokenizerFixtures.Ints(wantPair["special_tokens_mask"]).SequenceEqual(pair.SpecialTokensMask)) errors.Add($"[{i}] pair special mask");
            if (slow.Decode(single.Ids) != (string)item["decode"]!) errors.Add($"[{i}] decode");
            if (slow.Decode(single.Ids, skipSpecialTokens: true) != (string)item["decode_skip_special"]!) errors.Add($"[{i}] decode skip");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)));
    }

    [Theory]
    [InlineData("slow")]
    [InlineData("fast")]
    public void DocumentedHelpers_BuildTheV4TemplateEncodings(string which)
    {
        DebertaTokenizerBase tok = which == "slow" ? _slow.Value : TokenizerFixtures.Fast("v4_template");
        var items = (JsonArray)TokenizerFixtures.Case("v4_template")["items"]!;
        var corpus = TokenizerFixtures.Corpus;
        var noSpecials = new EncodeOptions { AddSpecialTokens = false };
        var errors = new List<string>();
        for (int i = 0; i < items.Count; i++)
        {
            string text = (string)items[i]!["text"]!;
            string next = (string)corpus[(i + 1) % corpus.Count]!;
            if (next.Length == 0) continue; // transformers treats an empty text_pair as no pair
            var a = tok.Encode(text, null, noSpecials).Ids;
            var b = tok.Encode(next, null, noSpecials).Ids;
            var want = items[i]!["pair_with_next"]!;
            if (!TokenizerFixtures.Ints(want["input_ids"]).SequenceEqual(tok.BuildInputsWithSpecialTokens(a, b))) errors.Add($"[{i}] build_inputs");
            if (!TokenizerFixtures.Ints(want["token_type_ids"]).SequenceEqual(tok.CreateTokenTypeIdsFromSequences(a, b))) errors.Add($"[{i}] token types");
            if (!TokenizerFixtures.Ints(want["special_tokens_mask"]).SequenceEqual(tok.GetSpecialTokensMask(a, b))) errors.Add($"[{i}] special mask");
            var single = items[i]!["single"]!;
            if (!TokenizerFixtures.Ints(single["input_ids"]).SequenceEqual(tok.BuildInputsWithSpecialTokens(a))) errors.Add($"[{i}] build_inputs single");
            if (!HasLiteralSpecial(text))
            {
                var ids = TokenizerFixtures.Ints(single["input_ids"]);
                if (!TokenizerFixtures.Ints(single["special_tokens_mask"]).SequenceEqual(tok.GetSpecialTokensMask(ids, alreadyHasSpecialTokens: true)))
                    errors.Add($"[{i}] special mask (already has special tokens)");
            }
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)));
    }

    [Fact]
    public void DebertaBaseVocabulary_GivesTheHubIds()
    {
        // The slow tokenizer on microsoft/deberta-base's vocab.json + merges.txt gives what Hugging Face's tokenizer on the
        // same vocabulary gave (Fixtures/tokenizer_extra/tokenizer_extra.json, build base_default, texts 0 and 1, made by
        // transformers 5.17 / tokenizers 0.23.2; [1, 31414, 232, 2] and [1, 20920, 232, 2]).
        var tok = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("deberta-base-vocab"));
        Assert.IsType<DebertaTokenizer>(tok);
        var items = (JsonArray)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer_extra", "tokenizer_extra.json")))!["builds"]!["base_default"]!["items"]!;
        foreach (var item in items.Take(2))
        {
            string text = (string)item!["text"]!;
            Assert.True(text is "Hello world" or " Hello world", text);
            var ids = TokenizerFixtures.Ints(item["single"]!["input_ids"]);
            Assert.Equal(ids, tok.Encode(text).Ids);
            Assert.Equal((string)item["decode"]!, tok.Decode(ids));
            Assert.Equal((string)item["decode_skip"]!, tok.Decode(ids, skipSpecialTokens: true));
        }
    }

    [Fact]
    public void FromPretrained_PicksTheFastTokenizerWhenTokenizerJsonExists()
    {
        Assert.IsType<DebertaTokenizerFast>(DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "prefix0")));
        Assert.IsType<DebertaTokenizer>(DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "vocab-files")));
    }

    [Theory]
    [InlineData("prefix1")]
    [InlineData("v4_template")]
    public void FastTokenizer_SavePretrainedRoundTrip_KeepsEncodings(string build)
    {
        var tok = TokenizerFixtures.Fast(build);
        using var dir = TestPaths.TempDir();
        tok.SavePretrained(dir.Path);
        Assert.True(File.Exists(dir["tokenizer.json"]));
        var saved = (JsonObject)JsonNode.Parse(File.ReadAllText(dir["tokenizer.json"]))!;
        var original = (JsonObject)JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", build, "tokenizer.json")))!;
        foreach (var key in new[] { "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder" })
            Assert.True(JsonNode.DeepEquals(original[key], saved[key]), key);
        Assert.True(JsonNode.DeepEquals(original["model"]!["vocab"], saved["model"]!["vocab"]));
        Assert.Equal(((JsonArray)original["model"]!["merges"]!).Count, ((JsonArray)saved["model"]!["merges"]!).Count);

        var back = DebertaTokenizerBase.FromPretrained(dir.Path);
        Assert.IsType<DebertaTokenizerFast>(back);
        foreach (var node in TokenizerFixtures.Corpus)
        {
            string text = (string)node!;
            var a = tok.Encode(text, "pair text");
            var b = back.Encode(text, "pair text");
            Assert.Equal(a.Ids, b.Ids);
            Assert.Equal(a.TypeIds, b.TypeIds);
            Assert.Equal(a.Offsets, b.Offsets);
        }
    }

    [Fact]
    public void SlowTokenizer_SaveRoundTrip_KeepsEncodings()
    {
        var tok = _slow.Value;
        using var dir = TestPaths.TempDir();
        var paths = tok.SaveVocabulary(dir.Path);
        Assert.Equal("#version: 0.2", File.ReadLines(paths[1]).First());
        tok.SavePretrained(dir.Path);
        var back = DebertaTokenizerBase.FromPretrained(dir.Path);
        Assert.IsType<DebertaTokenizer>(back);
        Assert.Equal(tok.Count, back.Count);
        Assert.Equal(tok.MaskTokenId, back.MaskTokenId);
        foreach (var node in TokenizerFixtures.Corpus)
        {
            string text = (string)node!;
            Assert.Equal(tok.Encode(text, "a [MASK] b").Ids, back.Encode(text, "a [MASK] b").Ids);
        }
    }

    [Fact]
    public void SaveVocabulary_ThenFastFromTheSameVocab_AgreeWithTheOriginalBuild()
    {
        // vocab.json + merges.txt written by the fast tokenizer, read by the slow one: same ids as the v4 build.
        var fast = TokenizerFixtures.Fast("v4_template");
        using var dir = TestPaths.TempDir();
        fast.SaveVocabulary(dir.Path);
        var slow = new DebertaTokenizer(dir["vocab.json"], dir["merges.txt"]);
        foreach (var node in TokenizerFixtures.Corpus.Take(60))
            Assert.Equal(fast.Encode((string)node!).Ids, slow.Encode((string)node!).Ids);
    }

    [Fact]
    public void Truncation_WithStride_ReturnsOverflowingPiecesThatOverlap()
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        string text = string.Join(" ", TokenizerFixtures.Corpus.Skip(24).Take(5).Select(n => (string)n!));
        // Provenance: no Hugging Face run; the expectations follow tokenizers' Encoding::truncate (pieces of max_length
        // stepping by max_length - stride), whose published unit tests are in TokenizerOverflowReferenceTests.
        var full = tok.Encode(text, null, new EncodeOptions { AddSpecialTokens = false }).Ids;
        var enc = tok.Encode(text, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 12, Stride = 3, ReturnOverflowingTokens = true });
        Assert.Empty(tok.Encode(text, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 12, Stride = 3 }).Overflowing);
        Assert.Equal(12, enc.Length);
        Assert.Equal(full.Take(10), enc.Ids.Skip(1).Take(10));
        Assert.NotEmpty(enc.Overflowing);
        // Each piece: [CLS] + up to 10 tokens + [SEP]; consecutive pieces overlap by the stride.
        var pieces = new[] { enc }.Concat(enc.Overflowing).Select(e => e.Ids[1..^1]).ToList();
        for (int k = 1; k < pieces.Count; k++)
            Assert.Equal(pieces[k - 1][^3..], pieces[k][..3]);
        var rebuilt = new List<int>(pieces[0]);
        foreach (var p in pieces.Skip(1)) rebuilt.AddRange(p[3..]);
        Assert.Equal(full, rebuilt);
    }

    [Fact]
    public void PairTruncation_OverflowingPieces_CombineLikeTokenizers()
    {
        // tokenizers' Encoding::merge_with: each piece of A with B and with each piece of B, then A with each piece of B.
        // Provenance: the count is derived from that source, not from a Hugging Face run (no fixture has pair overflows;
        // transformers' published pair cases are in TokenizerOverflowReferenceTests).
        var tok = TokenizerFixtures.Fast("prefix0");
        string a = (string)TokenizerFixtures.Corpus[25]!, b = (string)TokenizerFixtures.Corpus[26]!;
        var opts = new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 24, ReturnOverflowingTokens = true };
        var enc = tok.Encode(a, b, opts);
        int lenA = tok.Encode(a, null, new EncodeOptions { AddSpecialTokens = false }).Length;
        int lenB = tok.Encode(b, null, new EncodeOptions { AddSpecialTokens = false }).Length;
        int piecesA = (lenA + 9) / 10, piecesB = (lenB + 9) / 10; // budget 20: 10 tokens each
        Assert.Equal((piecesA - 1) * piecesB + (piecesB - 1), enc.Overflowing.Count);
        foreach (var o in enc.Overflowing)
        {
            Assert.True(o.Length <= 24);
            Assert.Equal(tok.ClsTokenId, o.Ids[0]);
            Assert.Equal(tok.SepTokenId, o.Ids[^1]);
            Assert.Equal(4, o.SpecialTokensMask.Sum());
        }
        Assert.Equal(enc.Ids, tok.Encode(a, b, opts with { ReturnOverflowingTokens = false }).Ids);
    }

    [Fact]
    public void Padding_LeftAndMultipleOf()
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        var right = tok.Encode("Hello world!");
        var left = tok.Encode("Hello world!", null, new EncodeOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 9, PaddingSide = Side.Left });
        Assert.Equal(9, left.Length);
        Assert.Equal(right.Ids, left.Ids[^right.Length..]);
        Assert.All(left.Ids[..(9 - right.Length)], id => Assert.Equal(tok.PadTokenId, id));
        Assert.Equal(Enumerable.Repeat(0, 9 - right.Length).Concat(Enumerable.Repeat(1, right.Length)), left.AttentionMask);
        var batch = tok.EncodeBatch(["a", "Hello world, how are you?"], new EncodeOptions { Padding = PaddingStrategy.Longest, PadToMultipleOf = 8 });
        Assert.All(batch.Encodings, e => Assert.Equal(16, e.Length));
    }

    [Fact]
    public void AddTokens_AreMatchedWholeAndDecoded()
    {
        var tok = DebertaTokenizerFast.FromPretrained(TestPaths.Fixture("tokenizer", "prefix0"));
        int before = tok.Count;
        Assert.Equal(1, tok.AddTokens(["<new_tok>"]));
        Assert.Equal(1, tok.AddSpecialTokens(["<ctrl>"]));
        Assert.Equal(before + 2, tok.Count);
        int newId = tok.ConvertTokensToIds("<new_tok>");
        int ctrlId = tok.ConvertTokensToIds("<ctrl>");
        Assert.Equal(before, newId);
        var enc = tok.Encode("x<new_tok>y <ctrl>");
        Assert.Contains(newId, enc.Ids);
        Assert.Contains(ctrlId, enc.Ids);
        // Provenance: derived, not from a Hugging Face run: tokenizers' decode drops the skipped special <ctrl> and joins
        // the rest through the ByteLevel decoder, so the space before <ctrl> (its own "Ġ" token) stays.
        Assert.Equal("x<new_tok>y ", tok.Decode(enc.Ids, skipSpecialTokens: true));
        Assert.Equal(new string?[] { "[CLS]", "<ctrl>" }, tok.ConvertIdsToTokens([1, ctrlId]));
        Assert.Equal(tok.UnkTokenId, tok.ConvertTokensToIds("definitely-not-a-token"));
    }

    [Fact]
    public void BadText_LoneSurrogate_IsAnArgumentException()
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        var e = Assert.Throws<ArgumentException>(() => tok.Encode("ok \uD800 no"));
        Assert.Contains("surrogate", e.Message);
        Assert.Throws<ArgumentException>(() => _slow.Value.Encode("tail\uDC00"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("\t\n  \r\n")]
    public void EmptyAndWhitespaceText_Encode(string text)
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        var enc = tok.Encode(text);
        Assert.Equal(tok.ClsTokenId, enc.Ids[0]);
        Assert.Equal(tok.SepTokenId, enc.Ids[^1]);
        Assert.Equal(text, tok.Decode(enc.Ids, skipSpecialTokens: true));
        // Whitespace is never dropped: every non-empty text gives tokens between [CLS] and [SEP].
        Assert.True(text.Length == 0 ? enc.Length == 2 : enc.Length > 2, $"{enc.Length} tokens");
    }

    [Fact]
    public void OneMegabyteStrings_EncodeWithoutStackOverflow()
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        string same = new('a', 1 << 20);
        var enc = tok.Encode(same, null, new EncodeOptions { AddSpecialTokens = false });
        Assert.Equal(same, tok.Decode(enc.Ids));
        Assert.Equal((0, 1 << 20), (enc.Offsets[0].Start, enc.Offsets[^1].End));

        var sb = new System.Text.StringBuilder();
        int k = 0;
        while (sb.Length < 1 << 20) sb.Append((string)TokenizerFixtures.Corpus[k++ % TokenizerFixtures.Corpus.Count]!).Append(' ');
        string mixed = sb.ToString();
        var enc2 = tok.Encode(mixed, null, new EncodeOptions { AddSpecialTokens = false });
        Assert.Equal(mixed, tok.Decode(enc2.Ids));
        var lstrip = TokenizerFixtures.Fast("mask_lstrip");
        Assert.Equal(_slow.Value.Encode(mixed).Ids, lstrip.Encode(mixed).Ids);
    }

    [Fact]
    public void Decode_InvalidUtf8_IsReplaced()
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        // The emoji's first byte-level piece alone is an incomplete UTF-8 sequence.
        var ids = tok.Encode("😀", null, new EncodeOptions { AddSpecialTokens = false }).Ids;
        Assert.True(ids.Length > 1);
        // Provenance: derived from tokenizers' ByteLevel decoder (String::from_utf8_lossy), not from a Hugging Face run.
        Assert.Equal("\uFFFD", tok.Decode(ids[..1]));
    }

    [Fact]
    public void SplitIntoWords_SlowTokenizerAddsTheSpaceToEachWord()
    {
        var enc = _slow.Value.Encode(["Hello", "world!"]);
        var fast = TokenizerFixtures.Fast("prefix1").Encode(["Hello", "world!"]);
        Assert.Equal(fast.Ids, enc.Ids);
        Assert.Equal(fast.WordIds, enc.WordIds);
    }
}

/// <summary>Cases from transformers' own tests (tests/models/deberta/test_tokenization_deberta.py).</summary>
public class TransformersPublishedTests
{
    [Fact]
    public void FullTokenizer_ToyVocabulary()
    {
        // test_full_tokenizer: vocabulary, merges, tokens and ids as written in transformers' test.
        string[] vocab = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "\u0120", "\u0120l", "\u0120n", "\u0120lo", "\u0120low", "er",
            "\u0120lowest", "\u0120newer", "\u0120wider", "[UNK]"];
        using var dir = TestPaths.TempDir();
        var obj = new JsonObject();
        for (int i = 0; i < vocab.Length; i++) obj[vocab[i]] = i;
        File.WriteAllText(dir["vocab.json"], obj.ToJsonString());
        File.WriteAllText(dir["merges.txt"], string.Join("\n", ["#version: 0.2", "\u0120 l", "\u0120l o", "\u0120lo w", "e r", ""]));
        var tok = DebertaTokenizer.FromPretrained(dir.Path);
        var tokens = tok.Tokenize("lower newer");
        Assert.Equal(["l", "o", "w", "er", "\u0120", "n", "e", "w", "er"], tokens);
        Assert.Equal([0, 1, 2, 15, 10, 9, 3, 2, 15, 19], tok.ConvertTokensToIds([.. tokens, tok.UnkToken]));

        // test_token_type_ids: tokenizer("Hello", "World") on the same files (special_tokens_map: unk_token only).
        File.WriteAllText(dir["special_tokens_map.json"], "{\"unk_token\": \"[UNK]\"}");
        var withMap = DebertaTokenizer.FromPretrained(dir.Path);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], withMap.Encode("Hello", "World").TypeIds);
    }

    [Fact]
    public void SequenceBuilders_DebertaBase()
    {
        // test_sequence_builders: build_inputs_with_special_tokens equals encode with special tokens.
        var tok = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("deberta-base-vocab"));
        var noSpecials = new EncodeOptions { AddSpecialTokens = false };
        var text = tok.Encode("sequence builders", null, noSpecials).Ids;
        var text2 = tok.Encode("multi-sequence build", null, noSpecials).Ids;
        Assert.Equal(tok.Encode("sequence builders").Ids, tok.BuildInputsWithSpecialTokens(text));
        Assert.Equal(tok.Encode("sequence builders", "multi-sequence build").Ids, tok.BuildInputsWithSpecialTokens(text, text2));
    }

    [Fact]
    public void TokenizerIntegration_DebertaBase()
    {
        // test_tokenizer_integration on microsoft/deberta-base with padding=True.
        var tok = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("deberta-base-vocab"));
        string[] sequences =
        [
            "ALBERT: A Lite BERT for Self-supervised Learning of Language Representations",
            "ALBERT incorporates two parameter reduction techniques",
            "The first one is a factorized embedding parameterization. By decomposing the large vocabulary"
            + " embedding matrix into two small matrices, we separate the size of the hidden layers from the size of"
            + " vocabulary embedding.",
        ];
        var enc = tok.EncodeBatch(sequences, new EncodeOptions { Padding = PaddingStrategy.Longest });
        int[][] expected =
        [
            [1, 2118, 11126, 565, 35, 83, 25191, 163, 18854, 13, 12156, 12, 16101, 25376, 13807, 9, 22205, 27893, 1635, 2],
            [1, 2118, 11126, 565, 24536, 80, 43797, 4878, 7373, 2],
            [1, 133, 78, 65, 16, 10, 3724, 1538, 33183, 11303, 43797, 1938, 4, 870, 24165, 29105, 5, 739, 32644, 33183, 11303, 36173, 88, 80, 650, 7821, 45940, 6, 52, 2559, 5, 1836, 9, 5, 7397, 13171, 31, 5, 1836, 9, 32644, 33183, 11303, 4, 2],
        ];
        for (int i = 0; i < 3; i++)
        {
            var want = expected[i].Concat(Enumerable.Repeat(0, 45 - expected[i].Length)).ToArray();
            Assert.Equal(want, enc[i].Ids);
            Assert.Equal(Enumerable.Repeat(1, expected[i].Length).Concat(Enumerable.Repeat(0, 45 - expected[i].Length)), enc[i].AttentionMask);
            Assert.All(enc[i].TypeIds, t => Assert.Equal(0, t));
            Assert.Equal(sequences[i], tok.Decode(enc[i].Ids, skipSpecialTokens: true));
        }
    }
}

/// <summary>Concurrency and the slow tokenizer's decoding of added tokens.</summary>
public class TokenizerMiscTests
{
    [Fact]
    public void ParallelBatch_EqualsSequentialBatch()
    {
        var tok = TokenizerFixtures.Fast("mask_lstrip");
        var texts = TokenizerFixtures.Corpus.Select(n => (string)n!).ToArray();
        // Padded to the longest (finished after all workers), unpadded and padded to a fixed length (finished on the
        // workers, and in EncodeBatch one text at a time), with overflowing pieces too.
        foreach (var opts in new[]
                 {
                     new EncodeOptions { Padding = PaddingStrategy.Longest, Truncation = TruncationStrategy.LongestFirst, MaxLength = 64 },
                     new EncodeOptions(),
                     new EncodeOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 40, PadToMultipleOf = 16, Truncation = TruncationStrategy.LongestFirst, ReturnOverflowingTokens = true, Stride = 3 },
                 })
        {
            var seq = tok.EncodeBatch(texts, opts);
            var par = tok.EncodeBatchParallel(texts, opts);
            Assert.Equal(texts.Length, par.Encodings.Count);
            for (int i = 0; i < texts.Length; i++)
            {
                Assert.Equal(seq[i].Ids, par[i].Ids);
                Assert.Equal(seq[i].Tokens, par[i].Tokens);
                Assert.Equal(seq[i].TypeIds, par[i].TypeIds);
                Assert.Equal(seq[i].Offsets, par[i].Offsets);
                Assert.Equal(seq[i].AttentionMask, par[i].AttentionMask);
                Assert.Equal(seq[i].SpecialTokensMask, par[i].SpecialTokensMask);
                Assert.Equal(seq[i].WordIds, par[i].WordIds);
                Assert.Equal(seq[i].SequenceIds, par[i].SequenceIds);
                Assert.Equal(seq[i].Overflowing.Select(o => o.Ids), par[i].Overflowing.Select(o => o.Ids));
            }
        }
        // Padded to a fixed length, every encoding has that length whether or not the batch waits for its longest.
        var fixedLength = tok.EncodeBatch(texts, new EncodeOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 40, PadToMultipleOf = 16, Truncation = TruncationStrategy.LongestFirst });
        Assert.All(fixedLength.Encodings, e => Assert.Equal(48, e.Length));
    }

    [Fact]
    public void ParallelBatch_NamesANullText()
    {
        var tok = TokenizerFixtures.Fast("mask_lstrip");
        var ex = Assert.Throws<ArgumentNullException>(() => tok.EncodeBatchParallel(["a", null!, "b"]));
        Assert.Contains("the text of input 1 of the batch is null", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batches_NameTheNullInput()
    {
        var tok = TokenizerFixtures.Fast("mask_lstrip");
        string[] a = ["a"];
        void Names(string what, Action encode)
        {
            var ex = Assert.Throws<ArgumentNullException>(encode);
            Assert.Contains($"the {what} of input 1 of the batch", ex.Message, StringComparison.Ordinal);
        }
        Names("text", () => tok.EncodeBatch(["a", null!]));
        Names("text", () => tok.EncodeBatch([("a", "b"), (null!, "b")]));
        Names("text pair", () => tok.EncodeBatch([("a", "b"), ("a", null!)]));
        Names("words", () => tok.EncodeBatch(new IReadOnlyList<string>[] { a, null! }));
        Names("words", () => tok.EncodeBatch(new (IReadOnlyList<string>, IReadOnlyList<string>)[] { (a, a), (null!, a) }));
        Names("pair words", () => tok.EncodeBatch(new (IReadOnlyList<string>, IReadOnlyList<string>)[] { (a, a), (a, null!) }));
    }

    [Fact]
    public void LargeBatch_KeepsItsArraysOutOfTheYoungGenerations_AndEncodesAsOneText()
    {
        // A batch of at least LargeBatchChars characters is kept whole until it returns: its arrays of value types go to
        // the pinned object heap (reported as the oldest generation at once), which collections do not copy. A small
        // batch's arrays are ordinary young objects.
        var tok = TokenizerFixtures.Fast("mask_lstrip");
        var corpus = TokenizerFixtures.Corpus.Select(n => (string)n!).Where(t => t.Length > 0).ToArray();
        var texts = new List<string>();
        for (int chars = 0, k = 0; chars < DebertaTokenizerBase.LargeBatchChars; k++)
        {
            texts.Add(corpus[k % corpus.Length]);
            chars += texts[^1].Length;
        }
        static IEnumerable<Array> Arrays(Encoding e) => [e.Ids, e.TypeIds, e.Offsets, e.SpecialTokensMask, e.AttentionMask, e.WordIds, e.SequenceIds];
        var opts = new[] { new EncodeOptions(), new EncodeOptions { Padding = PaddingStrategy.Longest } };
        foreach (var o in opts)
        {
            foreach (var batch in new[] { tok.EncodeBatch(texts, o), tok.EncodeBatchParallel(texts, o) })
            {
                Assert.All(batch.Encodings, e => Assert.All(Arrays(e), x => Assert.Equal(GC.MaxGeneration, GC.GetGeneration(x))));
                for (int i = 0; i < texts.Count; i++)
                {
                    var one = tok.Encode(texts[i], null, o with { Padding = o.Padding == PaddingStrategy.Longest ? PaddingStrategy.MaxLength : PaddingStrategy.None, PaddingLength = batch[i].Length });
                    Assert.Equal(one.Ids, batch[i].Ids);
                    Assert.Equal(one.Tokens, batch[i].Tokens);
                    Assert.Equal(one.Offsets, batch[i].Offsets);
                    Assert.Equal(one.AttentionMask, batch[i].AttentionMask);
                    Assert.Equal(one.SpecialTokensMask, batch[i].SpecialTokensMask);
                    Assert.Equal(one.WordIds, batch[i].WordIds);
                    Assert.Equal(one.SequenceIds, batch[i].SequenceIds);
                }
            }
            // One collection can only move a new object from generation 0 to 1, so a small batch's arrays are never in
            // the oldest generation right after it returns.
            var small = tok.EncodeBatch(texts.Take(4).ToList(), o);
            Assert.All(small.Encodings, e => Assert.All(Arrays(e), x => Assert.True(GC.GetGeneration(x) < GC.MaxGeneration)));
            Assert.All(Arrays(tok.Encode(texts[0], null, o)), x => Assert.True(GC.GetGeneration(x) < GC.MaxGeneration));
        }
    }

    [Fact]
    public void ParallelBatch_RefusesTextsWhenSplitIntoWords_AsEncodeBatch()
    {
        var tok = TokenizerFixtures.Fast("mask_lstrip");
        var words = new EncodeOptions { IsSplitIntoWords = true };
        Assert.Contains("IsSplitIntoWords", Assert.Throws<ArgumentException>(() => tok.EncodeBatch(["a b"], words)).Message);
        Assert.Contains("IsSplitIntoWords", Assert.Throws<ArgumentException>(() => tok.EncodeBatchParallel(["a b"], words)).Message);
        Assert.Contains("IsSplitIntoWords", Assert.Throws<ArgumentException>(() =>
            tok.EncodeBatchParallel(["a b"], words with { Padding = PaddingStrategy.Longest })).Message);
        // The same through DefaultOptions (on an instance of its own: TokenizerFixtures.Fast's are shared).
        var fresh = DebertaTokenizerFast.FromPretrained(TestPaths.Fixture("tokenizer", "mask_lstrip"));
        fresh.DefaultOptions = words;
        Assert.Throws<ArgumentException>(() => fresh.EncodeBatch(["a b"]));
        Assert.Throws<ArgumentException>(() => fresh.EncodeBatchParallel(["a b"]));
    }

    [Fact]
    public void SlowTokenizer_DecodesAddedTokensWithSpacesAround()
    {
        var slow = DebertaTokenizer.FromPretrained(TestPaths.Fixture("tokenizer", "vocab-files"));
        slow.AddTokens(["<new_tok>"]);
        var ids = slow.Encode("x<new_tok>y", null, new EncodeOptions { AddSpecialTokens = false }).Ids;
        Assert.Equal(3, ids.Length);
        // Provenance: derived from transformers 4.x PreTrainedTokenizer._decode (added tokens decoded on their own and
        // the pieces joined with spaces_between_special_tokens=True), not from a Hugging Face run.
        Assert.Equal("x <new_tok> y", slow.Decode(ids));
    }
}
