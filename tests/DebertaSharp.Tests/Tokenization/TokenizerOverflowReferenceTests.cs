using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Tokenization;

/// <summary>
/// Truncation with a stride and overflowing tokens against published reference cases: the unit tests of tokenizers'
/// <c>Encoding::truncate</c> (tokenizers/src/tokenizer/encoding.rs: <c>truncate</c>, <c>truncate_left</c>,
/// <c>truncate_overflow_with_stride</c>) and the fast-tokenizer branches of transformers'
/// <c>test_maximum_encoding_length_single_input</c> / <c>test_maximum_encoding_length_pair_input</c>
/// (tests/test_tokenization_common.py). The published cases use abstract ids (1, 2, 3, ...); here each is a word of
/// the fixture vocabulary that is one token, so token i of the published case is word i.
/// </summary>
public class TokenizerOverflowReferenceTests
{
    private static readonly EncodeOptions NoSpecials = new() { AddSpecialTokens = false };

    /// <summary>"a b c d e ...": one token per word in the fixture vocabulary.</summary>
    private static (DebertaTokenizerFast Tok, string Text, Encoding Full) Words(int n)
    {
        var tok = TokenizerFixtures.Fast("prefix0");
        string text = string.Join(" ", "abcdefghijklmnop".Take(n).Select(c => c.ToString()));
        var full = tok.Encode(text, null, NoSpecials);
        Assert.Equal(n, full.Length);   // one token per word, so the published indices carry over
        return (tok, text, full);
    }

    private static EncodeOptions Truncate(int maxLength, int stride, Side side = Side.Right) => NoSpecials with
    {
        Truncation = TruncationStrategy.LongestFirst, MaxLength = maxLength, Stride = stride, ReturnOverflowingTokens = true, TruncationSide = side,
    };

    private static void AssertPiece(Encoding full, Encoding piece, params int[] positions)
    {
        Assert.Equal(positions.Select(p => full.Ids[p]), piece.Ids);
        Assert.Equal(positions.Select(p => full.Offsets[p]), piece.Offsets);
        Assert.Equal(positions.Select(p => full.WordIds[p]), piece.WordIds);
        Assert.All(piece.AttentionMask, m => Assert.Equal(1, m));
        Assert.All(piece.SpecialTokensMask, m => Assert.Equal(0, m));
    }

    [Fact]
    public void Tokenizers_Truncate()
    {
        // encoding.rs `truncate`: [1, 2, 3] truncate(2, stride 0, Right) -> [1, 2], overflowing [[3]].
        var (tok, text, full) = Words(3);
        var enc = tok.Encode(text, null, Truncate(2, 0));
        AssertPiece(full, enc, 0, 1);
        AssertPiece(full, Assert.Single(enc.Overflowing), 2);
    }

    [Fact]
    public void Tokenizers_TruncateLeft()
    {
        // encoding.rs `truncate_left`: [1, 2, 3] truncate(2, stride 0, Left) -> [2, 3], overflowing [[1]].
        var (tok, text, full) = Words(3);
        var enc = tok.Encode(text, null, Truncate(2, 0, Side.Left));
        AssertPiece(full, enc, 1, 2);
        AssertPiece(full, Assert.Single(enc.Overflowing), 0);
    }

    [Fact]
    public void Tokenizers_TruncateOverflowWithStride()
    {
        // encoding.rs `truncate_overflow_with_stride`: [1, 2, 3, 4, 5] truncate(4, stride 2, Right) -> [1, 2, 3, 4],
        // overflowing [[3, 4, 5]] (with the offsets and words of those tokens).
        var (tok, text, full) = Words(5);
        var enc = tok.Encode(text, null, Truncate(4, 2));
        AssertPiece(full, enc, 0, 1, 2, 3);
        AssertPiece(full, Assert.Single(enc.Overflowing), 2, 3, 4);
    }

    [Fact]
    public void Transformers_MaximumEncodingLengthSingleInput()
    {
        // Fast branch: max_length = len - 2, stride 2, add_special_tokens False -> exactly two pieces,
        // sequence[:-2] and sequence[-(2 + stride):].
        const int stride = 2;
        var tok = TokenizerFixtures.Fast("prefix0");
        string seq0 = "This is a sentence to be encoded.";
        var sequence = tok.Encode(seq0, null, NoSpecials).Ids;
        var enc = tok.Encode(seq0, null, NoSpecials with
        {
            MaxLength = sequence.Length - 2, Stride = stride, Truncation = TruncationStrategy.LongestFirst, ReturnOverflowingTokens = true,
        });
        Assert.Equal(sequence[..^2], enc.Ids);
        var overflow = Assert.Single(enc.Overflowing);
        Assert.Equal(2 + stride, overflow.Length);
        Assert.Equal(sequence[^(2 + stride)..], overflow.Ids);
    }

    [Theory]
    [InlineData("longest_first")]
    [InlineData("only_first")]
    [InlineData("only_second")]
    public void Transformers_MaximumEncodingLengthPairInput(string strategy)
    {
        // Fast branch: max_length = len(pair) - 2, stride 2, add_special_tokens False -> two pieces: the pair with the
        // truncated sequence (the longer one for longest_first) less its last 2 tokens, then the pair with that
        // sequence's last 2 + stride tokens.
        const int stride = 2;
        var tok = TokenizerFixtures.Fast("prefix0");
        string seq0 = "This is a sentence to be encoded.", seq1 = "This is another sentence to be encoded, with a few more words.";
        var seq0Tokens = tok.Encode(seq0, null, NoSpecials).Ids;
        var seq1Tokens = tok.Encode(seq1, null, NoSpecials).Ids;
        Assert.True(Math.Abs(seq0Tokens.Length - seq1Tokens.Length) > 2 && seq0Tokens.Length > 2 + stride, "the published test's preconditions");
        var sequence = tok.Encode(seq0, seq1, NoSpecials).Ids;
        Assert.Equal(seq0Tokens.Concat(seq1Tokens), sequence);

        int[] truncatedFirst = [.. seq0Tokens[..^2], .. seq1Tokens];
        int[] truncatedSecond = [.. seq0Tokens, .. seq1Tokens[..^2]];
        int[] overflowFirst = [.. seq0Tokens[^(2 + stride)..], .. seq1Tokens];
        int[] overflowSecond = [.. seq0Tokens, .. seq1Tokens[^(2 + stride)..]];
        bool firstIsLonger = seq0Tokens.Length > seq1Tokens.Length;
        var (truncated, overflowing) = strategy switch
        {
            "only_first" => (truncatedFirst, overflowFirst),
            "only_second" => (truncatedSecond, overflowSecond),
            _ => firstIsLonger ? (truncatedFirst, overflowFirst) : (truncatedSecond, overflowSecond),
        };

        var enc = tok.Encode(seq0, seq1, NoSpecials with
        {
            MaxLength = sequence.Length - 2, Stride = stride, ReturnOverflowingTokens = true,
            Truncation = strategy switch
            {
                "only_first" => TruncationStrategy.OnlyFirst,
                "only_second" => TruncationStrategy.OnlySecond,
                _ => TruncationStrategy.LongestFirst,
            },
        });
        Assert.Equal(sequence.Length - 2, enc.Length);
        Assert.Equal(truncated, enc.Ids);
        var overflow = Assert.Single(enc.Overflowing);
        Assert.Equal(overflowing, overflow.Ids);
    }
}
