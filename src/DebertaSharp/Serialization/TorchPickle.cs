using System.Text;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Serialization;

/// <summary>
/// Loads <c>torch.save</c> checkpoints (<c>pytorch_model.bin</c>) without Python: the zip format of torch ≥ 1.6
/// (<c>&lt;archive&gt;/data.pkl</c> plus one <c>&lt;archive&gt;/data/&lt;key&gt;</c> entry per storage) and the legacy format
/// (magic number, protocol and sys_info pickles, the object pickle, the storage key list, then each storage as an
/// 8-byte element count and its raw bytes). Unpickling is data-only: only the globals needed to rebuild tensors and
/// plain containers are allowed; anything else is refused with a <see cref="CheckpointFormatException"/>.
/// </summary>
internal static class TorchPickle
{
    private static readonly BigInteger LegacyMagicNumber = BigInteger.Parse("119547037146038801333356", System.Globalization.CultureInfo.InvariantCulture);
    private const long LegacyProtocolVersion = 1001;

    /// <summary>The most tensors (and the most storages) one checkpoint may declare: the safetensors limit
    /// (<see cref="SafeTensors.MaxTensorCount"/>), for the same reason (each costs a native allocation).</summary>
    internal const int MaxTensorCount = SafeTensors.MaxTensorCount;

    /// <summary>
    /// The most a zip entry may claim to expand to, per byte stored: deflate's own ceiling (about 1032:1), so an entry
    /// claiming more is corrupt. torch.save stores its entries uncompressed (ratio 1); the bound keeps a small archive
    /// from asking for gigabytes through a forged uncompressed size.
    /// </summary>
    internal const long MaxZipExpansion = 1032;

    private static readonly Dictionary<string, ScalarType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = ScalarType.Float32,
        ["DoubleStorage"] = ScalarType.Float64,
        ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16,
        ["LongStorage"] = ScalarType.Int64,
        ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16,
        ["CharStorage"] = ScalarType.Int8,
        ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
        ["UntypedStorage"] = ScalarType.Byte,
    };

    private static readonly Dictionary<string, ScalarType> DtypeGlobals = new(StringComparer.Ordinal)
    {
        ["float32"] = ScalarType.Float32, ["float"] = ScalarType.Float32,
        ["float64"] = ScalarType.Float64, ["double"] = ScalarType.Float64,
        ["float16"] = ScalarType.Float16, ["half"] = ScalarType.Float16,
        ["bfloat16"] = ScalarType.BFloat16,
        ["int64"] = ScalarType.Int64, ["long"] = ScalarType.Int64,
        ["int32"] = ScalarType.Int32, ["int"] = ScalarType.Int32,
        ["int16"] = ScalarType.Int16, ["short"] = ScalarType.Int16,
        ["int8"] = ScalarType.Int8,
        ["uint8"] = ScalarType.Byte,
        ["bool"] = ScalarType.Bool,
    };

    /// <summary>Loads a <c>torch.save</c> state dict onto the CPU.</summary>
    /// <param name="path">The <c>pytorch_model.bin</c> (zip or legacy format).</param>
    /// <returns>Key → contiguous CPU tensor with the saved dtype and shape, in the file's order. The caller owns them.</returns>
    /// <exception cref="CheckpointFormatException">The file is malformed, truncated, not a state dict, or needs a global
    /// that is not allowed (possibly malicious).</exception>
    internal static Dictionary<string, Tensor> Load(string path)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Checkpoint files store little-endian data; big-endian hosts are not supported.");
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> magic = stackalloc byte[4];
        int got = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        if (got == 4 && magic.SequenceEqual("PK\x03\x04"u8))
        {
            return LoadZip(stream, path);
        }
        if (got >= 2 && magic[0] == 0x80)
        {
            return LoadLegacy(stream, path);
        }
        if (stream.Length > 262)
        {
            Span<byte> ustar = stackalloc byte[5];
            stream.Position = 257;
            stream.ReadExactly(ustar);
            if (ustar.SequenceEqual("ustar"u8))
            {
                throw new CheckpointFormatException(path, null, "this is the tar checkpoint format of torch < 0.4, which is not supported; re-save it with a recent torch.");
            }
        }
        throw new CheckpointFormatException(path, null, "not a torch.save checkpoint (neither a zip archive nor a pickle).");
    }

    // ---------------- zip format ----------------

    private static Dictionary<string, Tensor> LoadZip(FileStream stream, string path)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(path, null, "the zip archive is corrupt or truncated: " + e.Message, e);
        }
        using (zip)
        {
            try
            {
                // The central directory is read on first use of Entries (fuzzing: an entry count that disagrees with
                // the end-of-central-directory record escaped as a raw InvalidDataException).
                _ = zip.Entries.Count;
            }
            catch (InvalidDataException e)
            {
                throw new CheckpointFormatException(path, null, "the zip archive's central directory is corrupt: " + e.Message, e);
            }
            var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                                                 && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length).ToList();
            if (pickles.Count != 1)
            {
                throw new CheckpointFormatException(path, null, pickles.Count == 0
                    ? "the zip archive has no '<archive>/data.pkl' (not a torch.save file; a TorchScript archive?)."
                    : "the zip archive has several '<archive>/data.pkl' entries.");
            }
            string prefix = pickles[0].FullName[..^"data.pkl".Length];
            ZipArchiveEntry? byteOrder = zip.GetEntry(prefix + "byteorder");
            if (byteOrder is not null)
            {
                // "little" or "big": a few bytes are enough, however long the entry claims to be; a corrupt local header
                // or deflate stream is refused naming the entry (OpenEntry, ReadAtMost).
                CheckEntrySize(byteOrder, stream.Length, path);
                var head = new byte[16];
                int read;
                using (Stream s = OpenEntry(byteOrder, path))
                    read = ReadAtMost(s, head, path, byteOrder.FullName);
                string order = Encoding.UTF8.GetString(head, 0, read).Trim();
                if (order != "little")
                {
                    throw new CheckpointFormatException(path, null, $"byteorder is '{order}'; only little-endian checkpoints are supported.");
                }
            }
            CheckEntrySize(pickles[0], stream.Length, path);
            if (pickles[0].Length > int.MaxValue / 2)
            {
                throw new CheckpointFormatException(path, pickles[0].FullName, "data.pkl is implausibly large.");
            }
            var pickleBytes = new MemoryStream(ReadEntry(pickles[0], path));
            var host = new TorchHost(path);
            object? root = new PickleMachine(pickleBytes, path, host).Load();
            var specs = ToStateDict(root, path);
            var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                foreach (StorageRef storage in host.Storages.Values)
                {
                    ZipArchiveEntry entry = zip.GetEntry(prefix + "data/" + storage.Key)
                        ?? throw new CheckpointFormatException(path, storage.Key, $"storage entry '{prefix}data/{storage.Key}' is missing from the archive.");
                    CheckEntrySize(entry, stream.Length, path);
                    long expected = checked(storage.Numel * TensorBytes.ElementSize(storage.Dtype));
                    if (entry.Length != expected)
                    {
                        throw new CheckpointFormatException(path, storage.Key,
                            $"storage entry '{entry.FullName}' has {entry.Length} bytes but {storage.Numel} {storage.Dtype} elements need {expected}.");
                    }
                    Tensor t = NewStorage(storage);
                    storages.Add(storage.Key, t);
                    using Stream data = OpenEntry(entry, path);
                    TensorBytes.ForEachChunk(t, (chunk, _) => ReadExactly(data, chunk, path, storage.Key));
                }
                return Materialize(specs, storages, path, stream.Length);
            }
            finally
            {
                foreach (Tensor t in storages.Values)
                {
                    t.Dispose();
                }
            }
        }
    }

    // An entry's uncompressed size (what the reader allocates) against what the archive can hold: its stored bytes must
    // lie in the file, and deflate cannot expand them more than MaxZipExpansion times.
    private static void CheckEntrySize(ZipArchiveEntry entry, long fileLength, string path)
    {
        if (entry.CompressedLength > fileLength)
        {
            throw new CheckpointFormatException(path, entry.FullName,
                $"the zip entry claims {entry.CompressedLength} stored bytes but the archive has only {fileLength}.");
        }
        if (entry.Length / MaxZipExpansion > entry.CompressedLength)
        {
            throw new CheckpointFormatException(path, entry.FullName,
                $"the zip entry claims {entry.Length} bytes from {entry.CompressedLength} stored, more than the limit of {MaxZipExpansion} per stored byte (TorchPickle.MaxZipExpansion): the archive is corrupt.");
        }
    }

    private static Stream OpenEntry(ZipArchiveEntry entry, string path)
    {
        try
        {
            return entry.Open();
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(path, entry.FullName, "cannot read the zip entry: " + e.Message, e);
        }
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, string path)
    {
        using Stream s = OpenEntry(entry, path);
        var bytes = new byte[entry.Length];
        ReadExactly(s, bytes, path, entry.FullName);
        return bytes;
    }

    /// <summary>Reads up to <paramref name="buffer"/>'s length (fewer at the end of the stream); corrupt data is a
    /// <see cref="CheckpointFormatException"/>, as in <see cref="ReadExactly"/>.</summary>
    private static int ReadAtMost(Stream s, byte[] buffer, string path, string key)
    {
        try
        {
            return s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(path, key, "the data is corrupt: " + e.Message, e);
        }
    }

    private static void ReadExactly(Stream s, Span<byte> buffer, string path, string key)
    {
        try
        {
            s.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointFormatException(path, key, "the data is truncated.", e);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(path, key, "the data is corrupt: " + e.Message, e);
        }
    }

    // ---------------- legacy format ----------------

    private static Dictionary<string, Tensor> LoadLegacy(FileStream stream, string path)
    {
        var plain = new PlainHost(path);
        object? magic = new PickleMachine(stream, path, plain).Load();
        if (!(magic is BigInteger big && big == LegacyMagicNumber))
        {
            throw new CheckpointFormatException(path, null, "the file starts with a pickle but not with torch's magic number (not a torch.save checkpoint).");
        }
        object? protocol = new PickleMachine(stream, path, plain).Load();
        if (protocol is not long p || p != LegacyProtocolVersion)
        {
            throw new CheckpointFormatException(path, null, $"unsupported legacy protocol version {PickleMachine.Describe(protocol)}.");
        }
        object? sysInfo = new PickleMachine(stream, path, plain).Load();
        if (sysInfo is PyDict info && info.Items.TryGetValue("little_endian", out object? le) && le is false)
        {
            throw new CheckpointFormatException(path, null, "the checkpoint was written on a big-endian machine; only little-endian is supported.");
        }
        var host = new TorchHost(path);
        object? root = new PickleMachine(stream, path, host).Load();
        var specs = ToStateDict(root, path);
        object? keyList = new PickleMachine(stream, path, plain).Load();
        if (keyList is not List<object?> keys || keys.Any(k => k is not string))
        {
            throw new CheckpointFormatException(path, null, "the storage key list is not a list of strings.");
        }
        var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            Span<byte> countBytes = stackalloc byte[8];
            foreach (string key in keys.Cast<string>())
            {
                if (!host.Storages.TryGetValue(key, out StorageRef? storage))
                {
                    throw new CheckpointFormatException(path, key, "the storage is listed but no tensor refers to it, so its element type is unknown.");
                }
                if (storages.ContainsKey(key))
                {
                    throw new CheckpointFormatException(path, key, "the storage is listed twice.");
                }
                ReadExactly(stream, countBytes, path, key);
                long count = BinaryPrimitives.ReadInt64LittleEndian(countBytes);
                long elementSize = TensorBytes.ElementSize(storage.Dtype);
                if (count < 0 || count != storage.Numel)
                {
                    throw new CheckpointFormatException(path, key, $"the storage holds {count} elements but the pickle declares {storage.Numel}.");
                }
                if (count > (stream.Length - stream.Position) / elementSize)
                {
                    throw new CheckpointFormatException(path, key, $"the storage's {count} elements run past the end of the file (truncated?).");
                }
                Tensor t = NewStorage(storage);
                storages.Add(key, t);
                TensorBytes.ForEachChunk(t, (chunk, _) => ReadExactly(stream, chunk, path, key));
            }
            foreach (StorageRef s in host.Storages.Values.Where(s => !storages.ContainsKey(s.Key)))
            {
                throw new CheckpointFormatException(path, s.Key, "a tensor refers to this storage but the file does not contain it.");
            }
            return Materialize(specs, storages, path, stream.Length);
        }
        finally
        {
            foreach (Tensor t in storages.Values)
            {
                t.Dispose();
            }
        }
    }

    // ---------------- tensors ----------------

    private static Tensor NewStorage(StorageRef storage)
    {
        Tensor t = torch.empty(storage.Numel, storage.Dtype, torch.CPU);
        t.DetachFromDisposeScope();
        return t;
    }

    private static List<KeyValuePair<string, TensorSpec>> ToStateDict(object? root, string path)
    {
        if (root is not PyDict dict)
        {
            throw new CheckpointFormatException(path, null, $"the checkpoint holds {PickleMachine.Describe(root)}, not a state dict.");
        }
        var result = new List<KeyValuePair<string, TensorSpec>>(dict.Items.Count);
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name)
            {
                throw new CheckpointFormatException(path, null, $"state dict key {PickleMachine.Describe(key)} is not a string.");
            }
            if (value is not TensorSpec spec)
            {
                throw new CheckpointFormatException(path, name, $"the value is {PickleMachine.Describe(value)}, not a tensor (a nested checkpoint, e.g. {{\"state_dict\": ...}}, is not a state dict).");
            }
            result.Add(new(name, spec));
        }
        return result;
    }

    // fileLength bounds the bytes copied out of storages: a checkpoint's tensors are its bytes, but overlapping or
    // stride-0 views (each a few pickle bytes) could otherwise make a small file ask for terabytes.
    private static Dictionary<string, Tensor> Materialize(List<KeyValuePair<string, TensorSpec>> specs, Dictionary<string, Tensor> storages, string path,
        long fileLength)
    {
        var result = new Dictionary<string, Tensor>(specs.Count, StringComparer.Ordinal);
        long copied = 0;
        try
        {
            foreach (var (name, spec) in specs)
            {
                Tensor root = storages[spec.Storage.Key];
                long storageNumel = spec.Storage.Numel;
                long baseOffset = 0;
                if (spec.Storage.View is { } view)
                {
                    baseOffset = view.Offset;
                    storageNumel = view.Size;
                }
                long numel = ValidateView(spec, storageNumel, path, name);
                using Tensor viewed = root.as_strided(spec.Size, spec.Stride, baseOffset + spec.Offset);
                bool shared = viewed.is_contiguous() && numel == root.numel();
                if (!shared)
                {
                    long elementSize = TensorBytes.ElementSize(spec.Storage.Dtype);
                    if (numel > (fileLength - copied) / elementSize)
                    {
                        throw new CheckpointFormatException(path, name,
                            $"the view of {numel} elements would bring the bytes copied out of storages past the {fileLength}-byte file size (overlapping or stride-0 views?).");
                    }
                    copied += numel * elementSize;
                }
                // A view of a whole storage is kept as is (tensors saved sharing a storage, such as tied weights, share
                // it again, as torch.load does); a strided view becomes contiguous; a part of a storage is copied out so
                // that it does not keep the rest alive.
                Tensor t = !viewed.is_contiguous() ? viewed.contiguous()
                    : numel == root.numel() ? viewed.alias()
                    : viewed.clone();
                t.DetachFromDisposeScope();
                if (!result.TryAdd(name, t))
                {
                    t.Dispose();
                    throw new CheckpointFormatException(path, name, "the key appears twice.");
                }
            }
        }
        catch
        {
            foreach (Tensor t in result.Values)
            {
                t.Dispose();
            }
            throw;
        }
        return result;
    }

    // Checks a view against its storage before any native call, so a corrupt file cannot read out of bounds.
    // Returns the view's element count.
    private static long ValidateView(TensorSpec spec, long storageNumel, string path, string name)
    {
        if (spec.Size.Length != spec.Stride.Length)
        {
            throw new CheckpointFormatException(path, name, $"size has {spec.Size.Length} dimensions but stride has {spec.Stride.Length}.");
        }
        if (spec.Offset < 0 || spec.Size.Any(s => s < 0) || spec.Stride.Any(s => s < 0))
        {
            throw new CheckpointFormatException(path, name, "negative size, stride or storage offset.");
        }
        try
        {
            long numel = 1;
            long last = spec.Offset;
            for (int i = 0; i < spec.Size.Length; i++)
            {
                numel = checked(numel * spec.Size[i]);
                if (spec.Size[i] > 0)
                {
                    last = checked(last + (spec.Size[i] - 1) * spec.Stride[i]);
                }
            }
            bool fits = numel == 0 ? spec.Offset <= storageNumel : last < storageNumel;
            if (!fits)
            {
                throw new CheckpointFormatException(path, name,
                    $"the view (offset {spec.Offset}, size [{string.Join(", ", spec.Size)}], stride [{string.Join(", ", spec.Stride)}]) reaches past its storage '{spec.Storage.Key}' of {storageNumel} elements.");
            }
            return numel;
        }
        catch (OverflowException e)
        {
            throw new CheckpointFormatException(path, name, "the view's size overflows.", e);
        }
    }

    /// <summary>A storage referenced by a persistent id.</summary>
    private sealed record StorageRef(string Key, ScalarType Dtype, long Numel, string Location, StorageView? View);

    /// <summary>A legacy storage view: <paramref name="Size"/> elements of the root storage from <paramref name="Offset"/>.</summary>
    private sealed record StorageView(string ViewKey, long Offset, long Size);

    /// <summary>A tensor to cut out of a storage once the storages are read.</summary>
    private sealed record TensorSpec(StorageRef Storage, long Offset, long[] Size, long[] Stride)
    {
        public override string ToString() => $"tensor [{string.Join(", ", Size)}] of {Storage.Dtype}";
    }

    /// <summary>Allows nothing: for the legacy format's magic number, protocol, sys_info and key list pickles.</summary>
    private sealed class PlainHost(string path) : IPickleHost
    {
        public object ResolveGlobal(string module, string name) =>
            throw new CheckpointFormatException(path, $"{module}.{name}", "refusing to load a global in a data-only pickle (possibly malicious file).");

        public object? PersistentLoad(object? pid) =>
            throw new CheckpointFormatException(path, null, "unexpected persistent id in a plain pickle.");

        public object? Call(object? callable, PyTuple args) =>
            throw new CheckpointFormatException(path, null, $"refusing to call {PickleMachine.Describe(callable)} in a data-only pickle.");

        public void Build(object? target, object? state) =>
            throw new CheckpointFormatException(path, null, $"refusing to BUILD {PickleMachine.Describe(target)} in a data-only pickle.");
    }

    /// <summary>The allow-list for state dicts: containers, tensor rebuild functions, storage types and dtypes.</summary>
    private sealed class TorchHost(string path) : IPickleHost
    {
        private static readonly PyGlobal OrderedDict = new("collections", "OrderedDict");
        private static readonly PyGlobal RebuildTensorV2 = new("torch._utils", "_rebuild_tensor_v2");
        private static readonly PyGlobal RebuildTensor = new("torch._utils", "_rebuild_tensor");
        private static readonly PyGlobal RebuildParameter = new("torch._utils", "_rebuild_parameter");
        private static readonly PyGlobal RebuildParameterWithState = new("torch._utils", "_rebuild_parameter_with_state");
        private static readonly PyGlobal RebuildFromTypeV2 = new("torch._tensor", "_rebuild_from_type_v2");
        private static readonly PyGlobal TensorType = new("torch", "Tensor");
        private static readonly PyGlobal ParameterType = new("torch.nn.parameter", "Parameter");

        private int _tensors;

        /// <summary>Storages referenced so far, by key, in order of first reference.</summary>
        public Dictionary<string, StorageRef> Storages { get; } = new(StringComparer.Ordinal);

        public object ResolveGlobal(string module, string name)
        {
            var g = new PyGlobal(module, name);
            if (g == OrderedDict || g == RebuildTensorV2 || g == RebuildTensor || g == RebuildParameter
                || g == RebuildParameterWithState || g == RebuildFromTypeV2 || g == TensorType || g == ParameterType)
            {
                return g;
            }
            if (module is "torch" or "torch.storage" && (StorageTypes.ContainsKey(name) || name == "TypedStorage"))
            {
                return g;
            }
            if (module == "torch" && DtypeGlobals.ContainsKey(name))
            {
                return g;
            }
            throw new CheckpointFormatException(path, $"{module}.{name}",
                "refusing to load this global: only tensors and plain containers are allowed in a checkpoint (the file may be malicious).");
        }

        public object? PersistentLoad(object? pid)
        {
            // ('storage', storage_type, key, location, numel[, view_metadata])
            if (pid is not PyTuple t || t.Count < 5 || t[0] is not "storage")
            {
                throw new CheckpointFormatException(path, null, $"unsupported persistent id {PickleMachine.Describe(pid)}.");
            }
            if (t[1] is not PyGlobal type || !StorageTypes.TryGetValue(type.Name, out ScalarType dtype))
            {
                throw new CheckpointFormatException(path, null, $"unsupported storage type {PickleMachine.Describe(t[1])}.");
            }
            if (t[2] is not string key || t[3] is not string location || t[4] is not long numel || numel < 0)
            {
                throw new CheckpointFormatException(path, null, $"malformed storage reference {PickleMachine.Describe(pid)}.");
            }
            long elementSize = TensorBytes.ElementSize(dtype);
            if (numel > long.MaxValue / elementSize)
            {
                // Its byte size would not fit in 64 bits (the zip reader compares it with the entry's length).
                throw new CheckpointFormatException(path, key, $"the storage declares {numel} {dtype} elements, more bytes than a file can hold.");
            }
            StorageView? view = null;
            if (t.Count > 5 && t[5] is PyTuple v)
            {
                if (v.Count != 3 || v[0] is not string viewKey || v[1] is not long viewOffset || v[2] is not long viewSize
                    || viewOffset < 0 || viewSize < 0 || viewOffset > numel - viewSize)
                {
                    throw new CheckpointFormatException(path, key, $"malformed storage view {PickleMachine.Describe(v)}.");
                }
                view = new StorageView(viewKey, viewOffset, viewSize);
            }
            var storage = new StorageRef(key, dtype, numel, location, null);
            if (Storages.TryGetValue(key, out StorageRef? existing))
            {
                if (existing.Dtype != dtype || existing.Numel != numel)
                {
                    // Same bytes reinterpreted with another element type: not something state dicts do.
                    throw new CheckpointFormatException(path, key, "the storage is referenced with different element types or sizes.");
                }
                storage = existing;
            }
            else
            {
                if (Storages.Count >= MaxTensorCount)
                {
                    throw new CheckpointFormatException(path, key, $"the checkpoint references more than {MaxTensorCount} storages (limit TorchPickle.MaxTensorCount).");
                }
                Storages.Add(key, storage);
            }
            return view is null ? storage : storage with { View = view };
        }

        public object? Call(object? callable, PyTuple args)
        {
            if (callable is not PyGlobal g)
            {
                throw new CheckpointFormatException(path, null, $"refusing to call {PickleMachine.Describe(callable)}.");
            }
            if (g == OrderedDict)
            {
                var dict = new PyDict();
                if (args.Count == 1 && args[0] is List<object?> pairs)
                {
                    foreach (object? pair in pairs)
                    {
                        if (pair is not PyTuple { Count: 2 } kv || kv[0] is null)
                        {
                            throw new CheckpointFormatException(path, null, "malformed OrderedDict items.");
                        }
                        dict.Items[kv[0]!] = kv[1];
                    }
                }
                else if (args.Count != 0)
                {
                    throw new CheckpointFormatException(path, null, $"unexpected OrderedDict arguments {args}.");
                }
                return dict;
            }
            if (g == RebuildTensorV2 || g == RebuildTensor)
            {
                // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
                if (args.Count < 4 || args[0] is not StorageRef storage || args[1] is not long offset)
                {
                    throw new CheckpointFormatException(path, null, $"malformed {g} arguments.");
                }
                if (++_tensors > MaxTensorCount)
                {
                    throw new CheckpointFormatException(path, storage.Key, $"the checkpoint rebuilds more than {MaxTensorCount} tensors (limit TorchPickle.MaxTensorCount).");
                }
                return new TensorSpec(storage, offset, Longs(args[2], g), Longs(args[3], g));
            }
            if (g == RebuildParameter || g == RebuildParameterWithState)
            {
                // (data, requires_grad, backward_hooks[, state])
                return args.Count >= 1 && args[0] is TensorSpec spec
                    ? spec
                    : throw new CheckpointFormatException(path, null, $"malformed {g} arguments.");
            }
            if (g == RebuildFromTypeV2)
            {
                // (func, new_type, args, state): only plain tensors and parameters, without Python state.
                if (args.Count != 4 || args[1] is not PyGlobal newType || (newType != TensorType && newType != ParameterType)
                    || args[2] is not PyTuple innerArgs || !(args[3] is null || (args[3] is PyDict { Items.Count: 0 })))
                {
                    throw new CheckpointFormatException(path, null, $"refusing {g} with arguments {args}.");
                }
                return Call(args[0], innerArgs);
            }
            throw new CheckpointFormatException(path, g.ToString(), "refusing to call this global in a data-only checkpoint.");
        }

        public void Build(object? target, object? state)
        {
            // torch.save'd state dicts carry their `_metadata` (module versions) as OrderedDict state.
            if (target is PyDict dict && state is PyDict or PyTuple or null)
            {
                dict.State = state;
                return;
            }
            throw new CheckpointFormatException(path, null, $"refusing to BUILD {PickleMachine.Describe(target)}.");
        }

        private long[] Longs(object? o, PyGlobal g)
        {
            if (o is PyTuple { Count: > SafeTensors.MaxTensorRank } big)
            {
                throw new CheckpointFormatException(path, null, $"{g} size or stride has {big.Count} dimensions, more than the limit of {SafeTensors.MaxTensorRank} (SafeTensors.MaxTensorRank).");
            }
            if (o is PyTuple t && t.Items.All(x => x is long))
            {
                return t.Items.Select(x => (long)x!).ToArray();
            }
            throw new CheckpointFormatException(path, null, $"malformed {g} size or stride {PickleMachine.Describe(o)}.");
        }
    }
}
