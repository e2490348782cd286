using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace DebertaSharp.Tests.Serialization;

/// <summary>Writes pickle opcodes by hand, to build small torch checkpoints (and hostile ones) in the tests.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _s = new();

    public PickleBuilder Op(char c) { _s.WriteByte((byte)c); return this; }
    public PickleBuilder Op(byte b) { _s.WriteByte(b); return this; }
    public PickleBuilder Proto(int p) => Op(0x80).Op((byte)p);
    public PickleBuilder Global(string module, string name) { Op('c'); Raw(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); return this; }
    public PickleBuilder Str(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        Op('X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
        Raw(n.ToArray()).Raw(b);
        return this;
    }
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op('K').Op((byte)v);
        if (v is < int.MinValue or > int.MaxValue)
        {
            // LONG1: 8 bytes, little-endian two's complement.
            Op(0x8a).Op(8);
            Span<byte> l = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(l, v);
            return Raw(l.ToArray());
        }
        Op('J');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, checked((int)v));
        return Raw(n.ToArray());
    }
    public PickleBuilder Tuple(params long[] values) { Op('('); foreach (long v in values) Int(v); return Op('t'); }
    public PickleBuilder Raw(byte[] b) { _s.Write(b); return this; }
    public byte[] Bytes => _s.ToArray();

    /// <summary>Emits `key: _rebuild_tensor_v2(('storage', torch.&lt;type&gt;, storageKey, 'cpu', numel), offset, size, stride, False, OrderedDict())`.</summary>
    public PickleBuilder Tensor(string key, string storageType, string storageKey, long numel, long offset, long[] size, long[] stride)
    {
        Str(key);
        Global("torch._utils", "_rebuild_tensor_v2");
        Op('(');
        Op('(').Str("storage").Global("torch", storageType).Str(storageKey).Str("cpu").Int(numel).Op('t').Op('Q');
        Int(offset).Tuple(size).Tuple(stride).Op(0x89);
        Global("collections", "OrderedDict").Op(')').Op('R');
        Op('t').Op('R');
        return this;
    }

    /// <summary>A torch.save zip archive with the given data.pkl and storages.</summary>
    public static void WriteZip(string path, byte[] dataPkl, IEnumerable<(string Key, byte[] Bytes)> storages, string archive = "archive")
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] content)
        {
            var e = zip.CreateEntry(archive + "/" + name, CompressionLevel.NoCompression);
            using var s = e.Open();
            s.Write(content);
        }
        Add("data.pkl", dataPkl);
        Add("byteorder", Encoding.ASCII.GetBytes("little"));
        foreach (var (k, b) in storages) Add("data/" + k, b);
        Add("version", Encoding.ASCII.GetBytes("3\n"));
    }
}
