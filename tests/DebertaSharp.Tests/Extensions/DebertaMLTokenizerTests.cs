using System.Buffers;
using System.Text.Json.Nodes;
using DebertaSharp.Extensions;
using DebertaSharp.Tests.Tokenization;
using Microsoft.ML.Tokenizers;

namespace DebertaSharp.Tests.Extensions;

/// <summary>The Microsoft.ML.Tokenizers adapter against Hugging Face's cases (tokenizer_expected_public.json).</summary>
public class DebertaMLTokenizerTests
{
    public static TheoryData<string> Builds => new(TokenizerFixtures.Builds);

    /// <summary>Hugging Face's code-point offsets as UTF-16 indices, computed independently of the adapter.</summary>
    private static (int, int) Utf16(string text, (int Start, int End) cp)
    {
        int Index(int codePoints)
        {
            int i = 0;
            for (int k = 0; k < codePoints && i < text.Length; k++) i += char.IsSurrogatePair(text, i) ? 2 : 1;
            return i;
        }
        return (Index(cp.Start), Index(cp.End));
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void Ids_Offsets_Counts_And_Decoding_Match_Hugging_Face(string build)
    {
        var ours = TokenizerFixtures.Fast(build);
        Tokenizer ml = new DebertaMLTokenizer(ours);
        var bare = new DebertaMLTokenizer(ours, new DebertaMLTokenizerOptions { AddSpecialTokens = false });
        var skip = new DebertaMLTokenizer(ours, new DebertaMLTokenizerOptions { SkipSpecialTokens = true });
        var items = (JsonArray)TokenizerFixtures.Case(build)["items"]!;
        int surrogates = 0;
        foreach (JsonObject item in items.Cast<JsonObject>())
        {
            string text = (string)item["text"]!;
            var single = (JsonObject)item["single"]!;
            int[] ids = TokenizerFixtures.Ints(single["input_ids"]);
            int[] special = TokenizerFixtures.Ints(single["special_tokens_mask"]);
            var offsets = TokenizerFixtures.Offsets(single["offset_mapping"]);

            var tokens = ml.EncodeToTokens(text, out string? normalized);
            Assert.Null(normalized);
            Assert.Equal(ids, tokens.Select(t => t.Id));
            Assert.Equal(ours.Encode(text).Tokens, tokens.Select(t => t.Value));
            Assert.Equal(offsets.Select(o => Utf16(text, o)), tokens.Select(t => (t.Offset.Start.Value, t.Offset.End.Value)));
            Assert.Equal(ids, ml.EncodeToIds(text));
            Assert.Equal(ids, ml.EncodeToIds(text.AsSpan()));
            Assert.Equal(ids.Length, ml.CountTokens(text));
            Assert.Equal(ids.Where((_, i) => special[i] == 0), bare.EncodeToIds(text));
            Assert.Equal((string)item["decode"]!, ml.Decode(ids));
            Assert.Equal((string)item["decode_skip_special"]!, skip.Decode(ids));
            if (text.Any(char.IsSurrogate)) surrogates++;
        }
        Assert.True(surrogates > 0, "the corpus has no text outside the BMP: the offset conversion is untested");
    }

    [Fact]
    public void Max_Token_Count_Keeps_The_First_Tokens_And_Says_How_Far_They_Reach()
    {
        var ml = new DebertaMLTokenizer(TokenizerFixtures.Fast("v4_template"), new DebertaMLTokenizerOptions { AddSpecialTokens = false });
        const string text = "The quick brown fox jumps over the lazy dog.";
        var all = ml.EncodeToTokens(text, out _);
        Assert.True(all.Count > 4);
        var ids = ml.EncodeToIds(text, 3, out _, out int consumed);
        Assert.Equal(all.Take(3).Select(t => t.Id), ids);
        Assert.Equal(all[2].Offset.End.Value, consumed);
        Assert.Equal(all.Count, ml.EncodeToIds(text, 1000, out _, out consumed).Count);
        Assert.Equal(text.Length, consumed);
        Assert.Equal(all[2].Offset.End.Value, ml.GetIndexByTokenCount(text, 3, out _, out int count));
        Assert.Equal(3, count);
        Assert.Equal(all[^3].Offset.Start.Value, ml.GetIndexByTokenCountFromEnd(text, 3, out _, out count));
        Assert.Equal(3, count);
    }

    [Fact]
    public void A_Token_Limit_Never_Cuts_A_Character_Apart_And_Special_Tokens_Count_But_Reach_Nothing()
    {
        // "😀" is several byte-level tokens, each spanning the emoji (code point 3): a limit inside it keeps it
        // whole or not at all. Expected values from the encoding's own offsets (code points; UTF-16 adds one after the emoji).
        var tok = TokenizerFixtures.Fast("v4_template");
        const string text = "ab 😀 cd";
        static int Utf16(int codePoint) => codePoint <= 3 ? codePoint : codePoint + 1;
        var plain = tok.Encode(text, options: new DebertaSharp.Tokenization.EncodeOptions { AddSpecialTokens = false });
        static bool CoversEmoji((int Start, int End) o) => o.Start <= 3 && o.End > 3;
        int emojiFirst = Array.FindIndex(plain.Offsets, CoversEmoji), emojiLast = Array.FindLastIndex(plain.Offsets, CoversEmoji);
        Assert.True(emojiFirst >= 0 && emojiLast > emojiFirst, "the emoji is not split in this vocabulary: the test needs a split character");
        var ml = new DebertaMLTokenizer(tok, new DebertaMLTokenizerOptions { AddSpecialTokens = false });
        int reachBefore = Utf16(plain.Offsets.Take(emojiFirst).Select(o => o.End).DefaultIfEmpty(0).Max());
        var ids = ml.EncodeToIds(text, emojiFirst + 1, out _, out int consumed);
        Assert.Equal(plain.Ids.Take(emojiFirst), ids);
        Assert.Equal(reachBefore, consumed);
        Assert.Equal(reachBefore, ml.GetIndexByTokenCount(text, emojiFirst + 1, out _, out int count));
        Assert.Equal(emojiFirst, count);
        // From the end, a limit reaching into the emoji keeps only the tokens after it.
        int fromEnd = ml.GetIndexByTokenCountFromEnd(text, plain.Length - emojiFirst - 1, out _, out count);
        Assert.Equal(plain.Length - emojiLast - 1, count);
        Assert.Equal(Utf16(plain.Offsets[emojiLast + 1].Start), fromEnd);

        // With [CLS] ... [SEP]: they count as tokens, their empty offsets reach nothing.
        var withSpecials = new DebertaMLTokenizer(tok);
        int all = withSpecials.CountTokens(text);
        Assert.Equal(plain.Length + 2, all);
        Assert.Equal(text.Length, withSpecials.GetIndexByTokenCount(text, all, out _, out count));
        Assert.Equal(0, withSpecials.GetIndexByTokenCount(text, 1, out _, out count));   // [CLS] alone
        Assert.Equal(1, count);
        Assert.Equal(text.Length, withSpecials.GetIndexByTokenCountFromEnd(text, 1, out _, out count));   // [SEP] alone
        Assert.Equal(1, count);
        Assert.Equal(Utf16(plain.Offsets[^1].Start), withSpecials.GetIndexByTokenCountFromEnd(text, 2, out _, out _));   // " cd", then [SEP]
    }

    [Fact]
    public void Decode_Into_A_Span_Writes_What_Fits()
    {
        var ml = new DebertaMLTokenizer(TokenizerFixtures.Fast("v4_template"), new DebertaMLTokenizerOptions { AddSpecialTokens = false });
        const string text = "Hello world, again";
        var ids = ml.EncodeToIds(text);
        Span<char> big = stackalloc char[64];
        Assert.Equal(OperationStatus.Done, ml.Decode(ids, big, out int used, out int written));
        Assert.Equal(ids.Count, used);
        Assert.Equal(text, big[..written].ToString());
        Span<char> small = stackalloc char[8];
        Assert.Equal(OperationStatus.DestinationTooSmall, ml.Decode(ids, small, out used, out written));
        Assert.InRange(used, 1, ids.Count - 1);
        Assert.Equal(ml.Decode(ids.Take(used)), small[..written].ToString());
        Assert.StartsWith(small[..written].ToString(), text, StringComparison.Ordinal);
    }
}
