using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace DebertaSharp.Tokenization;

/// <summary>
/// Byte-pair-encoding model: a vocabulary, ranked merges keyed by a pair of symbol ids, and a bounded,
/// thread-safe word cache. Works on "model-level" text (for byte-level BPE: the byte-mapped characters).
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Largest word (in model chars) kept in the cache, as in Hugging Face tokenizers.</summary>
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    // Symbols: ids below VocabCount are real tokens; above are merge products absent from the vocabulary
    // (only the slow tokenizer's string-based BPE can produce them; they become the unknown token).
    private readonly List<string> _symbols;
    private readonly Dictionary<string, int> _extraSymbols = new(StringComparer.Ordinal);
    private readonly Dictionary<long, long> _merges = new(PairComparer.Instance);
    private readonly int[] _charToSymbol = new int[0x200];
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private int _cacheCount;
    private readonly Lazy<int[]> _byteFallbackIds;

    /// <summary>The (pair of token strings) merges in rank order, as loaded.</summary>
    public List<(string Left, string Right)> MergeList { get; } = [];

    /// <summary>Number of real vocabulary entries (ids 0..VocabCount-1 may have gaps filled by null).</summary>
    public int VocabCount { get; }

    /// <summary>Id of the unknown token, or -1.</summary>
    public int UnkId { get; }

    /// <summary>The unknown token string, or null.</summary>
    public string? UnkToken { get; }

    /// <summary>Merge consecutive unknown tokens into one.</summary>
    public bool FuseUnk { get; init; }

    /// <summary>Use &lt;0xXX&gt; tokens for characters missing from the vocabulary.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>Return a word found whole in the vocabulary without merging.</summary>
    public bool IgnoreMerges { get; init; }

    /// <summary>Capacity of the word cache (0 disables it).</summary>
    public int CacheCapacity { get; init; } = 50_000;

    /// <summary>The vocabulary (token to id).</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>Builds a model. <paramref name="strictMerges"/>: merge tokens must be in the vocabulary (tokenizer.json rules).</summary>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string? unkToken, bool strictMerges, string source)
    {
        _vocab = vocab;
        _vocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _byteFallbackIds = new Lazy<int[]>(ByteFallbackTable);
        int max = -1;
        foreach (var (tok, id) in vocab)
        {
            if (id < 0) throw new TokenizerFormatException(source, $"vocabulary entry '{tok}' has a negative id {id}");
            if (id > max) max = id;
        }
        VocabCount = max + 1;
        _symbols = new List<string>(new string[VocabCount]);
        foreach (var (tok, id) in vocab)
        {
            if (_symbols[id] is not null)
                throw new TokenizerFormatException(source, $"vocabulary id {id} is used by both '{_symbols[id]}' and '{tok}'");
            _symbols[id] = tok;
        }
        Array.Fill(_charToSymbol, -1);
        for (int c = 0; c < 0x200; c++)
        {
            if (char.IsSurrogate((char)c)) continue;
            if (_vocabLookup.TryGetValue([(char)c], out int id)) _charToSymbol[c] = id;
        }
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            int ia = SymbolFor(a, strictMerges, source, rank);
            int ib = SymbolFor(b, strictMerges, source, rank);
            int merged = SymbolFor(a + b, strictMerges, source, rank);
            long key = PairKey(ia, ib);
            // First occurrence wins (the lowest rank), as in both reference implementations.
            _merges.TryAdd(key, ((long)rank << 32) | (uint)merged);
            MergeList.Add((a, b));
        }
        if (unkToken is not null)
        {
            UnkToken = unkToken;
            UnkId = vocab.TryGetValue(unkToken, out int u) ? u : -1;
        }
        else UnkId = -1;
    }

    private int SymbolFor(string token, bool strict, string source, int rank)
    {
        if (_vocab.TryGetValue(token, out int id)) return id;
        if (strict)
            throw new TokenizerFormatException(source, $"merge {rank} uses '{token}', which is not in the vocabulary");
        if (_extraSymbols.TryGetValue(token, out id)) return id;
        id = _symbols.Count;
        _symbols.Add(token);
        _extraSymbols[token] = id;
        return id;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long PairKey(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>The token of a real vocabulary id, or null.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)VocabCount ? _symbols[id] : null;

    /// <summary>The id of a vocabulary token, or -1.</summary>
    public int TokenToId(ReadOnlySpan<char> token) => _vocabLookup.TryGetValue(token, out int id) ? id : -1;

    /// <summary>
    /// Encodes one word. The result holds pairs (token id, length in model chars), flattened; it may be shared
    /// (from the cache) and must not be modified.
    /// </summary>
    public int[] EncodeWord(ReadOnlySpan<char> word)
    {
        if (word.Length <= MaxCachedWordLength && CacheCapacity > 0)
        {
            if (_cacheLookup.TryGetValue(word, out var hit)) return hit;
            int[] r = EncodeUncached(word);
            if (Volatile.Read(ref _cacheCount) < CacheCapacity && _cacheLookup.TryAdd(word, r))
                Interlocked.Increment(ref _cacheCount);
            return r;
        }
        return EncodeUncached(word);
    }

    private struct Symbol
    {
        public int Id;
        public int Prev;
        public int Next;
        public int Len;
        public bool Dead;
    }

    private int[] ByteFallbackTable()
    {
        var t = new int[256];
        for (int b = 0; b < 256; b++) t[b] = TokenToId($"<0x{b:X2}>");
        return t;
    }

    private int[] EncodeUncached(ReadOnlySpan<char> word)
    {
        if (IgnoreMerges && _vocabLookup.TryGetValue(word, out int whole)) return [whole, word.Length];

        // 1. Initial symbols: one per code point (or per byte-fallback token).
        Symbol[] rented = ArrayPool<Symbol>.Shared.Rent(word.Length + 1);
        int n = 0;
        try
        {
            Span<Symbol> syms = rented;
            int i = 0;
            while (i < word.Length)
            {
                char c = word[i];
                int clen = char.IsHighSurrogate(c) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
                int id = c < 0x200 ? _charToSymbol[c] : -1;
                if (id < 0 && (c >= 0x200 || clen == 2)) id = TokenToId(word.Slice(i, clen));
                if (id < 0 && _extraSymbols.Count > 0)
                {
                    // Slow-tokenizer mode: an unknown char still takes part in merges.
                    if (_extraSymbols.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(word.Slice(i, clen), out int x)) id = x;
                }
                if (id < 0)
                {
                    if (ByteFallback && TryByteFallback(word.Slice(i, clen), ref syms, ref n, ref rented)) { i += clen; continue; }
                    if (UnkId >= 0)
                    {
                        if (FuseUnk && n > 0 && syms[n - 1].Id == UnkId) { syms[n - 1].Len += clen; i += clen; continue; }
                        id = UnkId;
                    }
                    else { i += clen; continue; } // dropped, as Hugging Face does without an unknown token
                }
                if (n >= syms.Length) Grow(ref rented, ref syms, n); // byte fallback can outgrow the first estimate
                syms[n] = new Symbol { Id = id, Prev = n - 1, Next = n + 1, Len = clen };
                n++;
                i += clen;
            }
            if (n == 0) return [];
            syms[n - 1].Next = -1;

            // 2. Merges: lowest rank first, then leftmost, via a binary heap (as tokenizers' Word::merge_all).
            if (n > 1) MergeAll(syms[..n]);

            int count = 0;
            for (int k = 0; k < n; k++) if (!syms[k].Dead) count++;
            var result = new int[count * 2];
            int o = 0;
            for (int k = 0; k < n; k++)
            {
                if (syms[k].Dead) continue;
                int id = syms[k].Id;
                if (id >= VocabCount || _symbols[id] is null) id = UnkId; // slow-mode product outside the vocabulary
                result[o++] = id;
                result[o++] = syms[k].Len;
            }
            if (UnkId < 0 && Array.IndexOf(result, -1) >= 0) result = DropMissing(result);
            return result;
        }
        finally
        {
            ArrayPool<Symbol>.Shared.Return(rented);
        }
    }

    private static int[] DropMissing(int[] pairs)
    {
        var list = new List<int>(pairs.Length);
        for (int k = 0; k < pairs.Length; k += 2)
            if (pairs[k] >= 0) { list.Add(pairs[k]); list.Add(pairs[k + 1]); }
        return [.. list];
    }

    private bool TryByteFallback(ReadOnlySpan<char> ch, ref Span<Symbol> syms, ref int n, ref Symbol[] rented)
    {
        Span<byte> bytes = stackalloc byte[4];
        int blen = System.Text.Encoding.UTF8.GetBytes(ch, bytes);
        Span<int> ids = stackalloc int[4];
        for (int b = 0; b < blen; b++)
        {
            int id = _byteFallbackIds.Value[bytes[b]];
            if (id < 0) return false;
            ids[b] = id;
        }
        if (n + blen >= syms.Length) Grow(ref rented, ref syms, n);
        for (int b = 0; b < blen; b++)
        {
            // The last byte token carries the char's length, so offsets stay on the char.
            syms[n] = new Symbol { Id = ids[b], Prev = n - 1, Next = n + 1, Len = b == blen - 1 ? ch.Length : 0 };
            n++;
        }
        return true;
    }

    private static void Grow(ref Symbol[] rented, ref Span<Symbol> syms, int n)
    {
        var bigger = ArrayPool<Symbol>.Shared.Rent(rented.Length * 2 + 8);
        rented.AsSpan(0, n).CopyTo(bigger);
        ArrayPool<Symbol>.Shared.Return(rented);
        rented = bigger;
        syms = rented;
    }

    private struct Merge
    {
        public long Key; // rank << 32 | pos
        public int NewId;
    }

    private void MergeAll(Span<Symbol> syms)
    {
        int n = syms.Length;
        Merge[] heapArr = ArrayPool<Merge>.Shared.Rent(Math.Max(4, n * 2));
        int count = 0;
        try
        {
            for (int p = 0; p + 1 < n; p++)
            {
                if (_merges.TryGetValue(PairKey(syms[p].Id, syms[p + 1].Id), out long m))
                    Push(ref heapArr, ref count, new Merge { Key = (m & ~0xFFFFFFFFL) | (uint)p, NewId = (int)m });
            }
            while (count > 0)
            {
                Merge top = Pop(heapArr, ref count);
                int pos = (int)(top.Key & 0xFFFFFFFF);
                ref Symbol cur = ref syms[pos];
                if (cur.Dead || cur.Next == -1) continue;
                int nextPos = cur.Next;
                Symbol right = syms[nextPos];
                if (!_merges.TryGetValue(PairKey(cur.Id, right.Id), out long now) || (int)now != top.NewId) continue;
                cur.Id = top.NewId;
                cur.Len += right.Len;
                cur.Next = right.Next;
                syms[nextPos].Dead = true;
                if (right.Next >= 0 && right.Next < n) syms[right.Next].Prev = pos;
                if (cur.Prev >= 0)
                {
                    if (_merges.TryGetValue(PairKey(syms[cur.Prev].Id, cur.Id), out long pm))
                        Push(ref heapArr, ref count, new Merge { Key = (pm & ~0xFFFFFFFFL) | (uint)cur.Prev, NewId = (int)pm });
                }
                if (cur.Next >= 0 && cur.Next < n)
                {
                    if (_merges.TryGetValue(PairKey(cur.Id, syms[cur.Next].Id), out long nm))
                        Push(ref heapArr, ref count, new Merge { Key = (nm & ~0xFFFFFFFFL) | (uint)pos, NewId = (int)nm });
                }
            }
        }
        finally
        {
            ArrayPool<Merge>.Shared.Return(heapArr);
        }
    }

    private static void Push(ref Merge[] heap, ref int count, Merge item)
    {
        if (count == heap.Length)
        {
            var bigger = ArrayPool<Merge>.Shared.Rent(heap.Length * 2);
            heap.AsSpan(0, count).CopyTo(bigger);
            ArrayPool<Merge>.Shared.Return(heap);
            heap = bigger;
        }
        int i = count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (heap[parent].Key <= item.Key) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = item;
    }

    private static Merge Pop(Merge[] heap, ref int count)
    {
        Merge top = heap[0];
        Merge last = heap[--count];
        int i = 0;
        while (true)
        {
            int l = 2 * i + 1;
            if (l >= count) break;
            int r = l + 1;
            int c = r < count && heap[r].Key < heap[l].Key ? r : l;
            if (heap[c].Key >= last.Key) break;
            heap[i] = heap[c];
            i = c;
        }
        if (count > 0) heap[i] = last;
        return top;
    }
}

/// <summary>Hashes a pair key well: <c>long.GetHashCode</c> (high ^ low) collides heavily for pairs of small ids.</summary>
internal sealed class PairComparer : IEqualityComparer<long>
{
    public static readonly PairComparer Instance = new();

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
}
