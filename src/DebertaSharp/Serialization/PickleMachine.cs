using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace DebertaSharp.Serialization;

/// <summary>
/// A Python tuple produced by the unpickler (structural equality, so it can be a dictionary key). The unpickler interns
/// the tuples it builds (<see cref="PickleMachine"/>), so equal nested tuples are the same object: equality compares
/// nested tuples by reference and the hash is computed once, which keeps both linear in the tuple's own length however
/// the pickle shares sub-tuples (a chain of tuples each holding the previous one twice would otherwise take 2^depth steps).
/// </summary>
internal sealed class PyTuple : IEquatable<PyTuple>
{
    /// <summary>The empty tuple.</summary>
    internal static readonly PyTuple Empty = new([]);

    private readonly int _hash;

    /// <summary>Creates a tuple of <paramref name="items"/> (nested tuples should be interned ones).</summary>
    internal PyTuple(object?[] items)
    {
        Items = items;
        var h = new HashCode();
        int depth = 0;
        foreach (object? o in items)
        {
            h.Add(o);
            if (o is PyTuple t && t.Depth > depth)
            {
                depth = t.Depth;
            }
        }
        _hash = h.ToHashCode();
        Depth = 1 + depth;
    }

    /// <summary>The elements.</summary>
    internal object?[] Items { get; }

    /// <summary>Nesting depth of tuples in tuples (1 for a tuple of scalars); bounded by the unpickler so that
    /// descriptions, which recurse, stay small.</summary>
    internal int Depth { get; }

    /// <summary>Number of elements.</summary>
    internal int Count => Items.Length;

    /// <summary>Element <paramref name="i"/>.</summary>
    internal object? this[int i] => Items[i];

    /// <inheritdoc/>
    public bool Equals(PyTuple? other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }
        if (other is null || _hash != other._hash || Items.Length != other.Items.Length)
        {
            return false;
        }
        for (int i = 0; i < Items.Length; i++)
        {
            object? a = Items[i], b = other.Items[i];
            bool same = a is PyTuple || b is PyTuple ? ReferenceEquals(a, b) : Equals(a, b);
            if (!same)
            {
                return false;
            }
        }
        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as PyTuple);

    /// <inheritdoc/>
    public override int GetHashCode() => _hash;

    /// <inheritdoc/>
    public override string ToString() => Describe(2);

    /// <summary>The tuple's elements, nested tuples described <paramref name="levels"/> deep (deeper ones by size only).</summary>
    internal string Describe(int levels) =>
        levels <= 0 || Count > 8
            ? $"tuple of {Count}"
            : "(" + string.Join(", ", Items.Select(i => i is PyTuple t ? t.Describe(levels - 1) : PickleMachine.Describe(i))) + ")";
}

/// <summary>A Python dict (or OrderedDict) produced by the unpickler; keeps insertion order.</summary>
internal sealed class PyDict
{
    /// <summary>The entries, in insertion order.</summary>
    internal OrderedDictionary<object, object?> Items { get; } = new();

    /// <summary>State applied by BUILD (for an OrderedDict from torch.save: its <c>_metadata</c>), kept but unused.</summary>
    internal object? State { get; set; }
}

/// <summary>A Python global (<c>module.name</c>) that the host has allowed.</summary>
/// <param name="Module">The module.</param>
/// <param name="Name">The qualified name in the module.</param>
internal sealed record PyGlobal(string Module, string Name)
{
    /// <inheritdoc/>
    public override string ToString() => Module + "." + Name;
}

/// <summary>What an unpickling is allowed to do: resolve globals, load persistent ids, call and build objects.</summary>
internal interface IPickleHost
{
    /// <summary>Returns the object for global <paramref name="module"/>.<paramref name="name"/>, or throws when it is not allowed.</summary>
    object ResolveGlobal(string module, string name);

    /// <summary>Resolves a persistent id (BINPERSID), or throws when persistent ids are not expected.</summary>
    object? PersistentLoad(object? pid);

    /// <summary>Applies <paramref name="callable"/> (a resolved global) to <paramref name="args"/> (REDUCE).</summary>
    object? Call(object? callable, PyTuple args);

    /// <summary>Applies <paramref name="state"/> to <paramref name="target"/> (BUILD).</summary>
    void Build(object? target, object? state);
}

/// <summary>
/// A minimal, data-only pickle virtual machine for the subset of protocols 2-5 that <c>torch.save</c> writes.
/// It never executes code: every global, call and BUILD goes through an <see cref="IPickleHost"/> that allows only
/// what it knows. Opcodes that could construct arbitrary objects (INST, OBJ, NEWOBJ, EXT*) are refused.
/// </summary>
internal sealed class PickleMachine
{
    /// <summary>Longest argument line of the text opcodes (GLOBAL module and name, INT, PUT, GET): dotted Python names
    /// and decimal numbers are far shorter.</summary>
    internal const int MaxLineLength = 4096;

    /// <summary>Deepest nesting of tuples accepted (torch state dicts need 3).</summary>
    internal const int MaxTupleDepth = 64;

    /// <summary>
    /// The most values the unpickler's stack may hold at once. Python's pickler writes list and dict items in batches
    /// of 1,000 (APPENDS, SETITEMS), so a torch.save pickle holds a few thousand at most; a million bounds a hostile
    /// pickle of DUP opcodes (8 bytes of references per input byte) to a few MB.
    /// </summary>
    internal const int MaxStackSize = 1_000_000;

    /// <summary>
    /// The most MARKs open at once. Python's pickler opens at most one per container being written and recurses per
    /// nested container, stopping at its recursion limit (1,000 by default); ten times that is generous.
    /// </summary>
    internal const int MaxMarkDepth = 10_000;

    /// <summary>
    /// The most memo entries. torch.save memoizes each object once, about ten per tensor in a state dict (key, storage
    /// reference, size and stride tuples...): four million covers 400,000 tensors, four times the tensor limit.
    /// </summary>
    internal const int MaxMemoEntries = 4_000_000;

    /// <summary>
    /// The most values one pickle may create or place in containers (pushes plus list and dict insertions). A state dict
    /// needs about 30 per tensor; 20 million bounds the references a small pickle can make the reader hold (APPEND of a
    /// memoized value costs 2 bytes of input) to a few hundred MB, however large the file.
    /// </summary>
    internal const int MaxValues = 20_000_000;

    private readonly Stream _stream;
    private readonly string _path;
    private readonly IPickleHost _host;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly Dictionary<PyTuple, PyTuple> _tuples = [];
    private long _values;

    /// <summary>Creates an unpickler reading from <paramref name="stream"/>'s current position.</summary>
    /// <param name="stream">The data; left just after the STOP opcode.</param>
    /// <param name="path">The file name, for error messages.</param>
    /// <param name="host">What the pickle may resolve and call.</param>
    /// <exception cref="ArgumentException">The stream cannot seek (its length bounds every string the pickle declares).</exception>
    internal PickleMachine(Stream stream, string path, IPickleHost host)
    {
        if (!stream.CanSeek)
        {
            throw new ArgumentException("the unpickler needs a seekable stream: its length bounds the strings a pickle may declare.", nameof(stream));
        }
        _stream = stream;
        _path = path;
        _host = host;
    }

    /// <summary>Short description of an unpickled value, for error messages.</summary>
    internal static string Describe(object? o) => o switch
    {
        null => "None",
        string s => "'" + (s.Length > 60 ? s[..60] + "…" : s) + "'",
        bool b => b ? "True" : "False",
        long or BigInteger or double => Convert.ToString(o, CultureInfo.InvariantCulture)!,
        PyTuple t => t.ToString(),
        PyDict d => $"dict of {d.Items.Count}",
        List<object?> l => $"list of {l.Count}",
        byte[] b => $"bytes of {b.Length}",
        _ => o.ToString() ?? o.GetType().Name,
    };

    /// <summary>Runs the pickle at the stream's position up to STOP and returns the object it built.</summary>
    /// <exception cref="CheckpointFormatException">The pickle is malformed, truncated or uses something not allowed.</exception>
    internal object? Load()
    {
        _stack.Clear();
        _marks.Clear();
        _memo.Clear();
        _tuples.Clear();
        _values = 0;
        while (true)
        {
            long at = _stream.Position;
            int op = _stream.ReadByte();
            if (op < 0)
            {
                throw Error(null, "the pickle ends without a STOP opcode (truncated file?).");
            }
            try
            {
                if (Step((byte)op))
                {
                    if (_stack.Count != 1 || _marks.Count != 0)
                    {
                        throw Error(null, "malformed pickle: STOP with an unbalanced stack.");
                    }
                    object? result = _stack[0];
                    _stack.Clear();
                    _memo.Clear();
                    _tuples.Clear();
                    return result;
                }
            }
            catch (CheckpointFormatException)
            {
                throw;
            }
            catch (Exception e) when (e is EndOfStreamException or InvalidCastException or ArgumentException or OverflowException
                                      or InvalidOperationException or KeyNotFoundException or DecoderFallbackException)
            {
                throw Error(null, $"malformed pickle at byte {at} (opcode 0x{op:x2}): {e.Message}", e);
            }
        }
    }

    private CheckpointFormatException Error(string? key, string detail, Exception? inner = null) => new(_path, key, detail, inner);

    // The decimal argument of the text opcodes INT, PUT and GET (fuzzing: long.Parse let a FormatException or an
    // OverflowException escape on a malformed line).
    private long TextInteger(string line, string opcode) =>
        long.TryParse(line, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw Error(null, $"{opcode} needs a decimal integer, not '{(line.Length > 40 ? line[..40] + "..." : line)}'.");

    // Executes one opcode; true on STOP.
    private bool Step(byte op)
    {
        switch (op)
        {
            case 0x80: // PROTO
                int proto = ReadByte();
                if (proto > 5)
                {
                    throw Error(null, $"unsupported pickle protocol {proto}.");
                }
                break;
            case 0x95: // FRAME
                ReadUInt64();
                break;
            case (byte)'.': // STOP
                return true;
            case (byte)'(': // MARK
                if (_marks.Count >= MaxMarkDepth)
                {
                    throw Error(null, $"more than {MaxMarkDepth} MARKs open at once (limit PickleMachine.MaxMarkDepth).");
                }
                _marks.Add(_stack.Count);
                break;
            case (byte)'0': // POP
                Pop();
                break;
            case (byte)'1': // POP_MARK
                PopMark();
                break;
            case (byte)'2': // DUP
                Push(Peek());
                break;
            case (byte)'N':
                Push(null);
                break;
            case 0x88: // NEWTRUE
                Push(true);
                break;
            case 0x89: // NEWFALSE
                Push(false);
                break;
            case (byte)'J': // BININT
                Push((long)ReadInt32());
                break;
            case (byte)'K': // BININT1
                Push((long)ReadByte());
                break;
            case (byte)'M': // BININT2
                Push((long)ReadUInt16());
                break;
            case (byte)'I': // INT (text)
                {
                    string line = ReadLine();
                    Push(line switch
                    {
                        "00" => false,
                        "01" => true,
                        _ => TextInteger(line, "INT"),
                    });
                    break;
                }
            case 0x8a: // LONG1
                Push(ReadLong(ReadByte()));
                break;
            case 0x8b: // LONG4
                {
                    int n = ReadInt32();
                    if (n < 0 || n > 1024)
                    {
                        throw Error(null, $"LONG4 of {n} bytes is not supported.");
                    }
                    Push(ReadLong(n));
                    break;
                }
            case (byte)'G': // BINFLOAT
                {
                    Span<byte> b = stackalloc byte[8];
                    ReadExactly(b);
                    Push(BinaryPrimitives.ReadDoubleBigEndian(b));
                    break;
                }
            case (byte)'X': // BINUNICODE
                Push(ReadUtf8(ReadUInt32()));
                break;
            case 0x8c: // SHORT_BINUNICODE
                Push(ReadUtf8((ulong)ReadByte()));
                break;
            case 0x8d: // BINUNICODE8
                Push(ReadUtf8(ReadUInt64()));
                break;
            case (byte)'U': // SHORT_BINSTRING (Python 2 str)
                Push(Encoding.Latin1.GetString(ReadBytes((ulong)ReadByte())));
                break;
            case (byte)'T': // BINSTRING
                {
                    int n = ReadInt32();
                    if (n < 0)
                    {
                        throw Error(null, "negative BINSTRING length.");
                    }
                    Push(Encoding.Latin1.GetString(ReadBytes((ulong)n)));
                    break;
                }
            case (byte)'C': // SHORT_BINBYTES
                Push(ReadBytes((ulong)ReadByte()));
                break;
            case (byte)'B': // BINBYTES
                Push(ReadBytes(ReadUInt32()));
                break;
            case 0x8e: // BINBYTES8
                Push(ReadBytes(ReadUInt64()));
                break;
            case (byte)')': // EMPTY_TUPLE
                Push(PyTuple.Empty);
                break;
            case (byte)'t': // TUPLE
                Push(Tuple([.. PopMark()]));
                break;
            case 0x85: // TUPLE1
                Push(Tuple([Pop()]));
                break;
            case 0x86: // TUPLE2
                {
                    object? b = Pop(), a = Pop();
                    Push(Tuple([a, b]));
                    break;
                }
            case 0x87: // TUPLE3
                {
                    object? c = Pop(), b = Pop(), a = Pop();
                    Push(Tuple([a, b, c]));
                    break;
                }
            case (byte)']': // EMPTY_LIST
                Push(new List<object?>());
                break;
            case (byte)'l': // LIST
                Push(PopMark());
                break;
            case (byte)'a': // APPEND
                {
                    object? v = Pop();
                    AsList(Peek()).Add(v);
                    CountValues(1);
                    break;
                }
            case (byte)'e': // APPENDS
                {
                    List<object?> items = PopMark();
                    AsList(Peek()).AddRange(items);
                    CountValues(items.Count);
                    break;
                }
            case (byte)'}': // EMPTY_DICT
                Push(new PyDict());
                break;
            case (byte)'d': // DICT
                {
                    List<object?> items = PopMark();
                    var dict = new PyDict();
                    SetItems(dict, items);
                    Push(dict);
                    break;
                }
            case (byte)'s': // SETITEM
                {
                    object? v = Pop(), k = Pop();
                    SetItems(AsDict(Peek()), [k, v]);
                    break;
                }
            case (byte)'u': // SETITEMS
                {
                    List<object?> items = PopMark();
                    SetItems(AsDict(Peek()), items);
                    break;
                }
            case (byte)'q': // BINPUT
                MemoPut(ReadByte());
                break;
            case (byte)'r': // LONG_BINPUT
                MemoPut(ReadUInt32());
                break;
            case 0x94: // MEMOIZE
                MemoPut(_memo.Count);
                break;
            case (byte)'p': // PUT (text)
                MemoPut(TextInteger(ReadLine(), "PUT"));
                break;
            case (byte)'h': // BINGET
                Push(MemoGet(ReadByte()));
                break;
            case (byte)'j': // LONG_BINGET
                Push(MemoGet(ReadUInt32()));
                break;
            case (byte)'g': // GET (text)
                Push(MemoGet(TextInteger(ReadLine(), "GET")));
                break;
            case (byte)'c': // GLOBAL
                {
                    string module = ReadLine();
                    string name = ReadLine();
                    Push(_host.ResolveGlobal(module, name));
                    break;
                }
            case 0x93: // STACK_GLOBAL
                {
                    object? name = Pop(), module = Pop();
                    if (module is not string m || name is not string n)
                    {
                        throw Error(null, "STACK_GLOBAL needs two strings.");
                    }
                    Push(_host.ResolveGlobal(m, n));
                    break;
                }
            case (byte)'R': // REDUCE
                {
                    object? args = Pop(), callable = Pop();
                    if (args is not PyTuple tuple)
                    {
                        throw Error(null, $"REDUCE arguments are {Describe(args)}, not a tuple.");
                    }
                    Push(_host.Call(callable, tuple));
                    break;
                }
            case (byte)'b': // BUILD
                {
                    object? state = Pop();
                    _host.Build(Peek(), state);
                    break;
                }
            case (byte)'Q': // BINPERSID
                Push(_host.PersistentLoad(Pop()));
                break;
            default:
                throw Error(null, $"pickle opcode 0x{op:x2} ('{OpName(op)}') is not allowed in a data-only checkpoint.");
        }
        return false;
    }

    private static string OpName(byte op) => op switch
    {
        (byte)'i' => "INST",
        (byte)'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82 or 0x83 or 0x84 => "EXT",
        (byte)'P' => "PERSID",
        _ => op is >= 0x20 and < 0x7f ? ((char)op).ToString() : "unknown",
    };

    // Interned (see PyTuple): the nested tuples of items are already interned, so looking one up costs its length.
    private PyTuple Tuple(object?[] items)
    {
        if (items.Length == 0)
        {
            return PyTuple.Empty;
        }
        var t = new PyTuple(items);
        if (t.Depth > MaxTupleDepth)
        {
            throw Error(null, $"tuples nested more than {MaxTupleDepth} deep.");
        }
        if (_tuples.TryGetValue(t, out PyTuple? existing))
        {
            return existing;
        }
        _tuples.Add(t, t);
        return t;
    }

    private void MemoPut(long index)
    {
        object? value = Peek();
        if (_memo.Count >= MaxMemoEntries && !_memo.ContainsKey(index))
        {
            throw Error(null, $"the pickle stores more than {MaxMemoEntries} memo entries (limit PickleMachine.MaxMemoEntries).");
        }
        _memo[index] = value;
    }

    private void CountValues(int n)
    {
        _values += n;
        if (_values > MaxValues)
        {
            throw Error(null, $"the pickle creates more than {MaxValues} values (limit PickleMachine.MaxValues); no checkpoint needs that many.");
        }
    }

    private void SetItems(PyDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0)
        {
            throw Error(null, "malformed pickle: odd number of items for a dict.");
        }
        for (int i = 0; i < items.Count; i += 2)
        {
            object key = items[i] switch
            {
                null => throw Error(null, "dict key None is not supported."),
                List<object?> or PyDict => throw Error(null, "unhashable dict key."),
                var k => k,
            };
            dict.Items[key] = items[i + 1];
        }
        CountValues(items.Count / 2);
    }

    private List<object?> AsList(object? o) => o as List<object?> ?? throw Error(null, $"APPEND to {Describe(o)}, which is not a list.");

    private PyDict AsDict(object? o) => o as PyDict ?? throw Error(null, $"SETITEM on {Describe(o)}, which is not a dict.");

    private object? MemoGet(long index) =>
        _memo.TryGetValue(index, out object? v) ? v : throw Error(null, $"malformed pickle: memo entry {index} was never stored.");

    private void Push(object? o)
    {
        if (_stack.Count >= MaxStackSize)
        {
            throw Error(null, $"the pickle's stack grows past {MaxStackSize} values (limit PickleMachine.MaxStackSize).");
        }
        CountValues(1);
        _stack.Add(o);
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor)
        {
            throw Error(null, "malformed pickle: stack underflow.");
        }
        return _stack[^1];
    }

    private object? Pop()
    {
        object? o = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        return o;
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0)
        {
            throw Error(null, "malformed pickle: no MARK on the stack.");
        }
        int mark = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        List<object?> items = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private int ReadByte()
    {
        int b = _stream.ReadByte();
        return b >= 0 ? b : throw new EndOfStreamException("unexpected end of the pickle");
    }

    private void ReadExactly(Span<byte> buffer)
    {
        try
        {
            _stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw Error(null, "the pickle is truncated.", e);
        }
    }

    private ushort ReadUInt16()
    {
        Span<byte> b = stackalloc byte[2];
        ReadExactly(b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    private int ReadInt32()
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(b);
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    private uint ReadUInt32()
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    private ulong ReadUInt64()
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    private object ReadLong(int n)
    {
        byte[] bytes = ReadBytes((ulong)n);
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        // The cast to object matters: with a long and a BigInteger branch the conditional's type is BigInteger, and a
        // value that fits (a storage of 2^31 elements or more, which pickle writes as LONG1) would never be a long.
        return value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;
    }

    private byte[] ReadBytes(ulong length)
    {
        long remaining = _stream.Length - _stream.Position;
        if (length > (ulong)Math.Min(remaining, Array.MaxLength))
        {
            throw Error(null, $"the pickle declares a {length}-byte string but only {remaining} bytes remain (truncated or corrupt).");
        }
        byte[] bytes = new byte[length];
        ReadExactly(bytes);
        return bytes;
    }

    private string ReadUtf8(ulong length) => new UTF8Encoding(false, true).GetString(ReadBytes(length));

    private string ReadLine()
    {
        var sb = new StringBuilder();
        while (true)
        {
            int b = ReadByte();
            if (b == '\n')
            {
                return sb.ToString();
            }
            if (sb.Length >= MaxLineLength)
            {
                throw Error(null, "malformed pickle: text argument too long.");
            }
            sb.Append((char)b);
        }
    }
}
