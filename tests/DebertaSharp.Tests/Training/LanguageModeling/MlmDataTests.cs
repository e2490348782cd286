using DebertaSharp.Tokenization;
using DebertaSharp.Training;

namespace DebertaSharp.Tests.Training;

/// <summary><see cref="MlmData"/>: run_mlm's group_texts, line_by_line and grouped tokenization, max_seq_length.</summary>
public sealed class MlmDataTests
{
    private static DebertaTokenizerBase NewTokenizer() => DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "vocab-files"));

    private static readonly Lazy<DebertaTokenizerBase> _tokenizer = new(NewTokenizer);

    private static DebertaTokenizerBase Tokenizer => _tokenizer.Value;

    [Fact]
    public void GroupTexts_Worked_Example()
    {
        int[][] seqs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]];
        // One map batch (1000 >= 3): chain -> [1..9], 9 // 4 * 4 = 8 tokens kept -> [1,2,3,4], [5,6,7,8]; 9 dropped.
        Assert.Equal([[1, 2, 3, 4], [5, 6, 7, 8]], MlmData.GroupTexts(seqs, 4));
        // Map batches of 2 sequences: [1,2,3,4,5] -> 5 // 4 * 4 = 4 -> [1,2,3,4] (5 dropped);
        // [6,7,8,9] -> [6,7,8,9]. The remainder is dropped per batch, as run_mlm's map(batched=True) does.
        Assert.Equal([[1, 2, 3, 4], [6, 7, 8, 9]], MlmData.GroupTexts(seqs, 4, batchSize: 2));
        // Map batches of 1: [1,2,3] -> 3 // 4 = 0 blocks; [4,5] -> none; [6,7,8,9] -> one block.
        Assert.Equal([[6, 7, 8, 9]], MlmData.GroupTexts(seqs, 4, batchSize: 1));
        // A batch shorter than a block yields nothing (4.40 drops it rather than keeping a short block).
        Assert.Empty(MlmData.GroupTexts([[1, 2]], 4));
        Assert.Empty(MlmData.GroupTexts(Array.Empty<int[]>(), 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => MlmData.GroupTexts(seqs, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => MlmData.GroupTexts(seqs, 4, 0));
    }

    [Fact]
    public void GroupTexts_Keeps_Columns_Aligned()
    {
        MlmExample[] examples =
        [
            new([1, 10, 11, 2], [1, 1, 1, 1], [1, 0, 0, 1]),
            new([1, 12, 2], [1, 1, 1], [1, 0, 1]),
        ];
        // chain: ids [1,10,11,2,1,12,2], special [1,0,0,1,1,0,1]; 7 // 3 * 3 = 6 -> two blocks, the last 2 dropped.
        var blocks = MlmData.GroupTexts(examples, 3);
        Assert.Equal(2, blocks.Count);
        Assert.Equal([1, 10, 11], blocks[0].InputIds);
        Assert.Equal([2, 1, 12], blocks[1].InputIds);
        Assert.Equal([1, 1, 1], blocks[1].AttentionMask!);
        Assert.Equal([1, 0, 0], blocks[0].SpecialTokensMask!);
        Assert.Equal([1, 1, 0], blocks[1].SpecialTokensMask!);
        var idsOnly = MlmData.GroupTexts([new MlmExample([1, 2, 3])], 3);
        Assert.Null(idsOnly[0].AttentionMask);
        Assert.Null(idsOnly[0].SpecialTokensMask);
        Assert.Throws<ArgumentException>(() => MlmData.GroupTexts([examples[0], new MlmExample([1, 2])], 3));
    }

    [Fact]
    public void TokenizeAndGroup_Concatenates_Every_Text_And_Cuts_Blocks()
    {
        string[] sentences = MlmCollatorTests.Sentences;
        int[][] ids = MlmCollatorTests.ExampleIds; // 14 + 19 + 19 + 38 = 90 tokens
        var all = ids.SelectMany(x => x).ToArray();
        var blocks = MlmData.TokenizeAndGroup(Tokenizer, sentences, maxSeqLength: 16);
        Assert.Equal(90 / 16, blocks.Count); // 5 blocks, 10 tokens dropped
        for (int i = 0; i < blocks.Count; i++)
        {
            Assert.Equal(all.Skip(16 * i).Take(16), blocks[i].InputIds);
            Assert.All(blocks[i].AttentionMask!, x => Assert.Equal(1, x));
            // [CLS] (1) and [SEP] (2) inside the block are the special tokens.
            Assert.Equal(blocks[i].InputIds.Select(x => x is 1 or 2 ? 1 : 0), blocks[i].SpecialTokensMask!);
        }
        // No truncation in this path, and an empty text still gives [CLS] [SEP].
        var one = MlmData.TokenizeAndGroup(Tokenizer, ["", sentences[3]], maxSeqLength: 40);
        Assert.Equal([1, 2, .. ids[3]], one.Single().InputIds);
        // Default max_seq_length: model_max_length is unbounded here -> 1024, more than the 90 tokens -> no block.
        Assert.Empty(MlmData.TokenizeAndGroup(Tokenizer, sentences));
    }

    [Fact]
    public void LineByLine_Skips_Blank_Lines_And_Truncates()
    {
        string[] sentences = MlmCollatorTests.Sentences;
        int[][] ids = MlmCollatorTests.ExampleIds;
        string[] lines = ["", sentences[0], "   ", "\t\u3000\n", sentences[1], "\u001f", sentences[2], sentences[3], " "];
        var examples = MlmData.TokenizeLineByLine(Tokenizer, lines);
        Assert.Equal(ids, examples.Select(e => e.InputIds));
        for (int i = 0; i < 4; i++)
        {
            int n = ids[i].Length;
            Assert.Equal([1, .. Enumerable.Repeat(0, n - 2), 1], examples[i].SpecialTokensMask!);
            Assert.All(examples[i].AttentionMask!, x => Assert.Equal(1, x));
        }

        // truncation=True, max_length=8: 6 tokens of the text then [SEP].
        var truncated = MlmData.TokenizeLineByLine(Tokenizer, lines, maxSeqLength: 8);
        for (int i = 0; i < 4; i++)
            Assert.Equal([.. ids[i].Take(7), 2], truncated[i].InputIds);

        // --pad_to_max_length: pad to 20 (padding is special, unattended); the 38-token line is truncated.
        var padded = MlmData.TokenizeLineByLine(Tokenizer, lines, maxSeqLength: 20, padToMaxLength: true);
        Assert.All(padded, e => Assert.Equal(20, e.InputIds.Length));
        Assert.Equal([.. ids[0], .. Enumerable.Repeat(0, 6)], padded[0].InputIds);
        Assert.Equal([.. Enumerable.Repeat(1, 14), .. Enumerable.Repeat(0, 6)], padded[0].AttentionMask!);
        Assert.Equal([1, .. Enumerable.Repeat(0, 12), .. Enumerable.Repeat(1, 7)], padded[0].SpecialTokensMask!);

        Assert.Empty(MlmData.TokenizeLineByLine(Tokenizer, ["", "  "]));
    }

    [Fact]
    public void MaxSeqLength_As_Run_Mlm()
    {
        var tok = NewTokenizer();
        Assert.Null(tok.ModelMaxLength);
        Assert.Equal(1024, MlmData.ResolveMaxSeqLength(tok, null));
        Assert.Equal(4096, MlmData.ResolveMaxSeqLength(tok, 4096));
        tok.ModelMaxLength = 512;
        Assert.Equal(512, MlmData.ResolveMaxSeqLength(tok, null));
        Assert.Equal(128, MlmData.ResolveMaxSeqLength(tok, 128));
        Assert.Equal(512, MlmData.ResolveMaxSeqLength(tok, 1000));
        tok.ModelMaxLength = 2048;
        Assert.Equal(1024, MlmData.ResolveMaxSeqLength(tok, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => MlmData.ResolveMaxSeqLength(tok, 0));
    }

    [Theory]
    [InlineData(" \t\n\r\v\f", true)]
    [InlineData("\u001c\u001d\u001e\u001f\u0085\u00a0\u2028\u3000", true)]
    [InlineData("\u200b", false)] // zero-width space: not whitespace in Python or .NET
    [InlineData(" a ", false)]
    public void IsPythonSpace_Matches_Python(string s, bool expected) => Assert.Equal(expected, MlmData.IsPythonSpace(s));
}
