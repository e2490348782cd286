namespace DebertaSharp.Tokenization;

/// <summary>Mutable encoding used while encoding; mirrors tokenizers' <c>Encoding</c> operations (truncate, merge, pad).</summary>
internal sealed class EncodingBuilder
{
    public List<int> Ids;
    public List<int> TypeIds;
    public List<string> Tokens;
    public List<(int, int)> Offsets;
    public List<int> Special;
    public List<int> Attention;
    public List<int?> Words;
    public List<int?> Seq;
    public List<EncodingBuilder> Overflowing = [];

    /// <summary>
    /// Indices (ascending) of the added tokens matched in the text, or null when there are none. Set while a sequence is
    /// encoded and read before it is truncated or post-processed (slices and merges do not carry it).
    /// </summary>
    public List<int>? AddedTokenIndices;

    public EncodingBuilder(int capacity = 16)
    {
        Ids = new(capacity); TypeIds = new(capacity); Tokens = new(capacity); Offsets = new(capacity);
        Special = new(capacity); Attention = new(capacity); Words = new(capacity); Seq = new(capacity);
    }

    // One finished builder per thread is kept for the next text: its lists were half of the encoder's allocations
    // (the final arrays of ToEncoding are the other half), and allocation bandwidth is what limited the parallel batch.
    [ThreadStatic] private static EncodingBuilder? t_spare;
    private const int MaxSpareCapacity = 1 << 16;

    /// <summary>A cleared builder: this thread's spare when there is one, else a new one of <paramref name="capacity"/>.</summary>
    public static EncodingBuilder Rent(int capacity)
    {
        var b = t_spare;
        if (b is null) return new EncodingBuilder(capacity);
        t_spare = null;
        return b;
    }

    /// <summary>
    /// Gives <paramref name="b"/> back for reuse once it has been turned into an <see cref="Encoding"/> (whose arrays are
    /// copies) and nothing else refers to it or its lists; builders with overflowing pieces or large lists are dropped.
    /// </summary>
    public static void Return(EncodingBuilder b)
    {
        if (b.Overflowing.Count != 0 || b.Ids.Capacity > MaxSpareCapacity) return;
        b.Ids.Clear(); b.TypeIds.Clear(); b.Tokens.Clear(); b.Offsets.Clear();
        b.Special.Clear(); b.Attention.Clear(); b.Words.Clear(); b.Seq.Clear();
        b.AddedTokenIndices = null;
        t_spare = b;
    }

    public int Count => Ids.Count;

    public void Add(int id, int typeId, string token, (int, int) offsets, int special, int? word, int? seq)
    {
        Ids.Add(id); TypeIds.Add(typeId); Tokens.Add(token); Offsets.Add(offsets);
        Special.Add(special); Attention.Add(1); Words.Add(word); Seq.Add(seq);
    }

    /// <summary>Appends an added token matched in the text (a pre-token of its own that the model did not tokenize).</summary>
    public void AddMatchedAddedToken(int id, int typeId, string token, (int, int) offsets, int? word, int? seq)
    {
        (AddedTokenIndices ??= []).Add(Ids.Count);
        Add(id, typeId, token, offsets, 0, word, seq);
    }

    /// <summary>Whether token <paramref name="index"/> is an added token matched in the text (see <see cref="AddedTokenIndices"/>).</summary>
    public bool IsMatchedAddedToken(int index) => AddedTokenIndices is { } a && a.BinarySearch(index) >= 0;

    /// <summary>Inserts a special token at <paramref name="index"/>.</summary>
    public void Insert(int index, int id, int typeId, string token)
    {
        Ids.Insert(index, id); TypeIds.Insert(index, typeId); Tokens.Insert(index, token); Offsets.Insert(index, (0, 0));
        Special.Insert(index, 1); Attention.Insert(index, 1); Words.Insert(index, null); Seq.Insert(index, null);
    }

    /// <summary>Appends every token of <paramref name="other"/> (not its overflowing pieces).</summary>
    public void AppendAll(EncodingBuilder other)
    {
        Ids.AddRange(other.Ids); TypeIds.AddRange(other.TypeIds); Tokens.AddRange(other.Tokens); Offsets.AddRange(other.Offsets);
        Special.AddRange(other.Special); Attention.AddRange(other.Attention); Words.AddRange(other.Words); Seq.AddRange(other.Seq);
    }

    public EncodingBuilder Slice(int start, int stop)
    {
        var e = new EncodingBuilder(stop - start);
        e.Ids.AddRange(Ids.GetRange(start, stop - start));
        e.TypeIds.AddRange(TypeIds.GetRange(start, stop - start));
        e.Tokens.AddRange(Tokens.GetRange(start, stop - start));
        e.Offsets.AddRange(Offsets.GetRange(start, stop - start));
        e.Special.AddRange(Special.GetRange(start, stop - start));
        e.Attention.AddRange(Attention.GetRange(start, stop - start));
        e.Words.AddRange(Words.GetRange(start, stop - start));
        e.Seq.AddRange(Seq.GetRange(start, stop - start));
        return e;
    }

    public EncodingBuilder Clone()
    {
        var e = Slice(0, Count);
        foreach (var o in Overflowing) e.Overflowing.Add(o.Clone());
        return e;
    }

    /// <summary>tokenizers' <c>Encoding::truncate</c>: keep the first (or last) <paramref name="maxLen"/> tokens, the rest as overflowing pieces.</summary>
    public void Truncate(int maxLen, int stride, Side direction)
    {
        int len = Count;
        if (maxLen >= len) return;
        if (maxLen == 0)
        {
            var all = Slice(0, len);
            Clear();
            Overflowing = [all];
            return;
        }
        if (stride >= maxLen)
            throw new ArgumentException($"stride ({stride}) must be strictly less than the truncated length ({maxLen}; the maximum length minus the special tokens)");
        int step = maxLen - stride;
        var ranges = new List<(int, int)>();
        bool end = false;
        if (direction == Side.Right)
        {
            for (int start = 0; start < len && !end; start += step)
            {
                int stop = Math.Min(start + maxLen, len);
                end = stop == len;
                ranges.Add((start, stop));
            }
        }
        else
        {
            for (int s = len - 1; s >= 0 && !end; s -= step)
            {
                int stop = s + 1;
                int start = stop < maxLen ? 0 : stop - maxLen;
                if (start < stop)
                {
                    end = start == 0;
                    ranges.Add((start, stop));
                }
            }
        }
        var parts = ranges.Select(r => Slice(r.Item1, r.Item2)).ToList();
        var first = parts[0];
        Ids = first.Ids; TypeIds = first.TypeIds; Tokens = first.Tokens; Offsets = first.Offsets;
        Special = first.Special; Attention = first.Attention; Words = first.Words; Seq = first.Seq;
        Overflowing = parts.Skip(1).ToList();
    }

    private void Clear()
    {
        Ids = []; TypeIds = []; Tokens = []; Offsets = []; Special = []; Attention = []; Words = []; Seq = [];
    }

    /// <summary>tokenizers' <c>Encoding::merge_with</c> (offsets not shifted), combining overflowing pieces the same way.</summary>
    public void MergeWith(EncodingBuilder pair)
    {
        var overflowings = new List<EncodingBuilder>();
        foreach (var selfO in Overflowing)
        {
            var n = selfO.Clone();
            n.MergeWith(pair.Clone());
            overflowings.Add(n);
            foreach (var otherO in pair.Overflowing)
            {
                var m = selfO.Clone();
                m.MergeWith(otherO.Clone());
                overflowings.Add(m);
            }
        }
        foreach (var otherO in pair.Overflowing)
        {
            var n = Clone();
            n.MergeWith(otherO.Clone());
            overflowings.Add(n);
        }
        Ids.AddRange(pair.Ids); TypeIds.AddRange(pair.TypeIds); Tokens.AddRange(pair.Tokens); Offsets.AddRange(pair.Offsets);
        Special.AddRange(pair.Special); Attention.AddRange(pair.Attention); Words.AddRange(pair.Words); Seq.AddRange(pair.Seq);
        Overflowing = overflowings;
    }

    /// <summary>tokenizers' <c>Encoding::pad</c>.</summary>
    public void Pad(int target, int padId, int padTypeId, string padToken, Side direction)
    {
        foreach (var o in Overflowing) o.Pad(target, padId, padTypeId, padToken, direction);
        int n = target - Count;
        if (n <= 0) return;
        if (direction == Side.Right)
        {
            for (int i = 0; i < n; i++)
            {
                Ids.Add(padId); TypeIds.Add(padTypeId); Tokens.Add(padToken); Offsets.Add((0, 0));
                Special.Add(1); Attention.Add(0); Words.Add(null); Seq.Add(null);
            }
        }
        else
        {
            Ids.InsertRange(0, Enumerable.Repeat(padId, n)); TypeIds.InsertRange(0, Enumerable.Repeat(padTypeId, n));
            Tokens.InsertRange(0, Enumerable.Repeat(padToken, n)); Offsets.InsertRange(0, Enumerable.Repeat((0, 0), n));
            Special.InsertRange(0, Enumerable.Repeat(1, n)); Attention.InsertRange(0, Enumerable.Repeat(0, n));
            Words.InsertRange(0, Enumerable.Repeat<int?>(null, n)); Seq.InsertRange(0, Enumerable.Repeat<int?>(null, n));
        }
    }

    /// <summary>
    /// The finished <see cref="Encoding"/> (and its overflowing pieces). With <paramref name="longLived"/> the arrays of
    /// value types (all but <see cref="Encoding.Tokens"/>, which holds references) go to the pinned object heap: see
    /// <see cref="DebertaTokenizerBase"/>'s batch paths for when and why.
    /// </summary>
    public Encoding ToEncoding(bool longLived = false) => new()
    {
        Ids = Copy(Ids, longLived),
        TypeIds = Copy(TypeIds, longLived),
        Tokens = [.. Tokens],
        Offsets = Copy(Offsets, longLived),
        SpecialTokensMask = Copy(Special, longLived),
        AttentionMask = Copy(Attention, longLived),
        WordIds = Copy(Words, longLived),
        SequenceIds = Copy(Seq, longLived),
        Overflowing = Overflowing.Count == 0 ? [] : Overflowing.Select(o => o.ToEncoding(longLived)).ToArray(),
    };

    /// <summary>
    /// The list's items in a new array that is not zeroed first (every element is written at once), on the pinned object
    /// heap when <paramref name="pinned"/>. <typeparamref name="T"/> holds no references (the pinned heap refuses them).
    /// </summary>
    private static T[] Copy<T>(List<T> list, bool pinned)
    {
        var a = GC.AllocateUninitializedArray<T>(list.Count, pinned);
        list.CopyTo(a);
        return a;
    }
}
