using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DebertaSharp.Training;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Serialization;

/// <summary>The description of one tensor in a safetensors header.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="Dtype">The safetensors dtype name (<c>F32</c>, <c>BF16</c>, ...).</param>
/// <param name="ScalarType">The matching TorchSharp element type.</param>
/// <param name="Shape">The tensor's shape.</param>
/// <param name="Begin">Start of its bytes, relative to the data section.</param>
/// <param name="End">End (exclusive) of its bytes, relative to the data section.</param>
internal sealed record SafeTensorInfo(string Name, string Dtype, ScalarType ScalarType, long[] Shape, long Begin, long End);

/// <summary>A parsed safetensors header.</summary>
/// <param name="Tensors">The tensors, in header order.</param>
/// <param name="Metadata">The <c>__metadata__</c> strings (empty when absent).</param>
/// <param name="DataStart">File offset of the data section (8 + header length).</param>
internal sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header mapping each key to <c>dtype</c>, <c>shape</c> and <c>data_offsets</c> (plus an
/// optional <c>__metadata__</c> map of strings), then the raw little-endian tensor bytes.
/// </summary>
internal static class SafeTensors
{
    /// <summary>The largest header accepted, as in the reference implementation (100 MB).</summary>
    internal const long MaxHeaderBytes = 100_000_000;

    /// <summary>
    /// Deepest JSON nesting accepted in the header. A valid header nests three levels (root, tensor entry, shape or
    /// offsets array); 16 leaves room and keeps the parser's recursion small.
    /// </summary>
    internal const int MaxHeaderJsonDepth = 16;

    /// <summary>
    /// The most tensors one file may declare. Every tensor costs a native allocation even when empty, so a 100 MB header
    /// of zero-sized entries (about two million) would otherwise take seconds and native memory for nothing; real shards
    /// hold hundreds to a few thousand tensors (deberta-v2-xxlarge: under 600), so 100,000 leaves two orders of margin.
    /// </summary>
    internal const int MaxTensorCount = 100_000;

    /// <summary>
    /// The most dimensions a tensor may have: numpy's limit (NPY_MAXDIMS, 64 since numpy 2), far above the 1 to 4 of
    /// model weights; it keeps a header from asking for a shape array of millions of dimensions.
    /// </summary>
    internal const int MaxTensorRank = 64;

    private const string MetadataKey = "__metadata__";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // Dtypes with their element size and their rank in the reference writer's ordering (its Dtype enum order:
    // tensors are laid out by descending rank, then by name).
    private static readonly (string Name, ScalarType Type, int Size, int Rank)[] Dtypes =
    [
        ("BOOL", ScalarType.Bool, 1, 0),
        ("U8", ScalarType.Byte, 1, 1),
        ("I8", ScalarType.Int8, 1, 2),
        ("I16", ScalarType.Int16, 2, 3),
        ("F16", ScalarType.Float16, 2, 4),
        ("BF16", ScalarType.BFloat16, 2, 5),
        ("I32", ScalarType.Int32, 4, 6),
        ("F32", ScalarType.Float32, 4, 7),
        ("F64", ScalarType.Float64, 8, 8),
        ("I64", ScalarType.Int64, 8, 9),
    ];

    /// <summary>Loads every tensor of a safetensors file onto the CPU, with the file's dtypes and shapes.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <returns>Key → tensor, in header order. The caller owns (and disposes) the tensors.</returns>
    /// <exception cref="CheckpointFormatException">The file is malformed or truncated.</exception>
    internal static Dictionary<string, Tensor> Load(string path)
    {
        EnsureLittleEndian();
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        SafeTensorsHeader header = ReadHeader(handle, path);
        var result = new Dictionary<string, Tensor>(header.Tensors.Count, StringComparer.Ordinal);
        try
        {
            foreach (SafeTensorInfo info in header.Tensors)
            {
                Tensor tensor = torch.empty(info.Shape, info.ScalarType, torch.CPU);
                tensor.DetachFromDisposeScope();
                result.Add(info.Name, tensor);
                long fileOffset = header.DataStart + info.Begin;
                TensorBytes.ForEachChunk(tensor, (chunk, offset) => ReadExactly(handle, chunk, fileOffset + offset, path, info.Name));
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

    /// <summary>Reads the <c>__metadata__</c> map of a safetensors file (empty when the file has none).</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <exception cref="CheckpointFormatException">The header is malformed.</exception>
    internal static IReadOnlyDictionary<string, string> LoadMetadata(string path) => ReadHeader(path).Metadata;

    /// <summary>Parses and validates the header of a safetensors file without reading tensor data.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <exception cref="CheckpointFormatException">The header is malformed or inconsistent with the file's size.</exception>
    internal static SafeTensorsHeader ReadHeader(string path)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ReadHeader(handle, path);
    }

    /// <summary>
    /// Writes tensors as a safetensors file the way the reference Python/Rust library does: compact JSON header with
    /// <c>__metadata__</c> first, tensors ordered by dtype (wider first, in the library's order) then by key, the
    /// header padded with spaces to a multiple of 8 bytes. A regular file is written to a temporary file in the same
    /// folder and renamed over <paramref name="path"/> only when complete (see <see cref="IO.SafeFile"/>: links are
    /// written through, devices and FIFOs directly, the replaced file's mode is kept).
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="tensors">Key → tensor; any device, any layout (written contiguous, on the CPU).</param>
    /// <param name="metadata">The <c>__metadata__</c> strings; null writes <c>{"format":"pt"}</c> as
    /// <c>save_pretrained</c> does, an empty map writes no <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentException">A key is duplicated or reserved, a dtype cannot be stored, or a tensor is on
    /// the meta device (no data).</exception>
    internal static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        EnsureLittleEndian();
        metadata ??= new Dictionary<string, string> { ["format"] = "pt" };

        var entries = new List<(string Name, byte[] Utf8Name, Tensor Tensor, int DtypeIndex, long[] Shape, long Bytes)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string name, Tensor tensor) in tensors)
        {
            ArgumentNullException.ThrowIfNull(name, nameof(tensors));
            if (tensor is null)
            {
                throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            }
            if (name == MetadataKey)
            {
                throw new ArgumentException($"'{MetadataKey}' is reserved and cannot be a tensor key.", nameof(tensors));
            }
            if (!seen.Add(name))
            {
                throw new ArgumentException($"Tensor key '{name}' appears twice.", nameof(tensors));
            }
            if (tensor.device_type == DeviceType.META)
            {
                // A meta tensor has a shape but no data: copying it to the CPU fails natively, mid-write.
                throw new ArgumentException($"Tensor '{name}' is on the meta device and has no data to write.", nameof(tensors));
            }
            int dtypeIndex = Array.FindIndex(Dtypes, d => d.Type == tensor.dtype);
            if (dtypeIndex < 0)
            {
                throw new ArgumentException($"Tensor '{name}' has dtype {tensor.dtype}, which safetensors files written here cannot hold.", nameof(tensors));
            }
            byte[] utf8;
            try
            {
                utf8 = StrictUtf8.GetBytes(name);
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException($"Tensor key '{name}' is not valid Unicode.", nameof(tensors), e);
            }
            long[] shape = tensor.shape;
            long bytes = checked(tensor.numel() * Dtypes[dtypeIndex].Size);
            entries.Add((name, utf8, tensor, dtypeIndex, shape, bytes));
        }
        entries.Sort((a, b) =>
        {
            int c = Dtypes[b.DtypeIndex].Rank.CompareTo(Dtypes[a.DtypeIndex].Rank);
            return c != 0 ? c : a.Utf8Name.AsSpan().SequenceCompareTo(b.Utf8Name);
        });

        // Header.
        var json = new StringBuilder();
        json.Append('{');
        bool first = true;
        if (metadata.Count > 0)
        {
            json.Append('"').Append(MetadataKey).Append("\":{");
            bool firstMeta = true;
            foreach (var kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!firstMeta)
                {
                    json.Append(',');
                }
                firstMeta = false;
                PythonJson.String(json, kv.Key, ensureAscii: false);
                json.Append(':');
                PythonJson.String(json, kv.Value ?? throw new ArgumentException($"Metadata value for '{kv.Key}' is null.", nameof(metadata)), ensureAscii: false);
            }
            json.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (var e in entries)
        {
            if (!first)
            {
                json.Append(',');
            }
            first = false;
            PythonJson.String(json, e.Name, ensureAscii: false);
            json.Append(":{\"dtype\":\"").Append(Dtypes[e.DtypeIndex].Name).Append("\",\"shape\":[");
            json.AppendJoin(',', e.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
            json.Append("],\"data_offsets\":[").Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',');
            offset = checked(offset + e.Bytes);
            json.Append(offset.ToString(CultureInfo.InvariantCulture)).Append("]}");
        }
        json.Append('}');
        byte[] headerBytes = StrictUtf8.GetBytes(json.ToString());
        int padded = (headerBytes.Length + 7) / 8 * 8;

        IO.SafeFile.Write(path, stream =>
        {
            Span<byte> lengthBytes = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)padded);
            stream.Write(lengthBytes);
            stream.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++)
            {
                stream.WriteByte((byte)' ');
            }
            foreach (var e in entries)
            {
                WriteTensor(stream, e.Tensor);
            }
        }, flushToDisk: true);
    }

    private static void WriteTensor(Stream stream, Tensor tensor)
    {
        Tensor cpu = tensor.device_type == DeviceType.CPU ? tensor : tensor.cpu();
        Tensor contiguous = cpu.is_contiguous() ? cpu : cpu.contiguous();
        try
        {
            TensorBytes.ForEachChunk(contiguous, (chunk, _) => stream.Write(chunk));
        }
        finally
        {
            if (!ReferenceEquals(contiguous, cpu))
            {
                contiguous.Dispose();
            }
            if (!ReferenceEquals(cpu, tensor))
            {
                cpu.Dispose();
            }
        }
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Checkpoint files store little-endian data; big-endian hosts are not supported.");
        }
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long fileOffset, string path, string? key)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(handle, buffer, fileOffset);
            if (n <= 0)
            {
                throw new CheckpointFormatException(path, key, $"unexpected end of file at byte {fileOffset}.");
            }
            buffer = buffer[n..];
            fileOffset += n;
        }
    }

    private static SafeTensorsHeader ReadHeader(SafeFileHandle handle, string path)
    {
        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
        {
            throw new CheckpointFormatException(path, null, $"the file has {fileLength} bytes, fewer than the 8-byte header length.");
        }
        Span<byte> lengthBytes = stackalloc byte[8];
        ReadExactly(handle, lengthBytes, 0, path, null);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
        {
            throw new CheckpointFormatException(path, null, $"header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes (not a safetensors file?).");
        }
        if ((long)headerLength > fileLength - 8)
        {
            throw new CheckpointFormatException(path, null, $"header length {headerLength} runs past the end of the {fileLength}-byte file (truncated?).");
        }
        if (headerLength < 2)
        {
            throw new CheckpointFormatException(path, null, $"header length {headerLength} is too small for a JSON object.");
        }
        byte[] headerBytes = new byte[headerLength];
        ReadExactly(handle, headerBytes, 8, path, null);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        return ParseHeader(headerBytes, dataStart, dataLength, path);
    }

    private static SafeTensorsHeader ParseHeader(byte[] headerBytes, long dataStart, long dataLength, string path)
    {
        if (headerBytes[0] != (byte)'{')
        {
            throw new CheckpointFormatException(path, null, "the header does not start with '{' (not a safetensors file?).");
        }
        try
        {
            StrictUtf8.GetCharCount(headerBytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(path, null, "the header is not valid UTF-8.", e);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = MaxHeaderJsonDepth });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"the header is not valid JSON (nesting limit {MaxHeaderJsonDepth}): " + e.Message, e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException(path, null, "the header is not a JSON object.");
            }
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!names.Add(name))
                {
                    throw new CheckpointFormatException(path, name, "the key appears twice in the header.");
                }
                if (name == MetadataKey)
                {
                    ReadMetadata(property.Value, metadata, path);
                    continue;
                }
                if (tensors.Count == MaxTensorCount)
                {
                    throw new CheckpointFormatException(path, name,
                        $"the header declares more than {MaxTensorCount} tensors (limit SafeTensors.MaxTensorCount); no real checkpoint shard has that many.");
                }
                tensors.Add(ParseTensorEntry(name, property.Value, path));
            }
            ValidateLayout(tensors, dataLength, path);
            return new SafeTensorsHeader(tensors, metadata, dataStart);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException(path, MetadataKey, "must be a JSON object of strings.");
        }
        foreach (JsonProperty p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
            {
                throw new CheckpointFormatException(path, MetadataKey, $"entry '{p.Name}' is not a string.");
            }
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
            {
                throw new CheckpointFormatException(path, MetadataKey, $"entry '{p.Name}' appears twice.");
            }
        }
    }

    private static SafeTensorInfo ParseTensorEntry(string name, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException(path, name, "the header entry is not a JSON object.");
        }
        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new CheckpointFormatException(path, name, "the header entry has no string 'dtype'.");
        }
        string dtype = dtypeElement.GetString()!;
        int dtypeIndex = Array.FindIndex(Dtypes, d => d.Name == dtype);
        if (dtypeIndex < 0)
        {
            throw new CheckpointFormatException(path, name, $"unknown or unsupported dtype '{dtype}' (supported: {string.Join(", ", Dtypes.Select(d => d.Name))}).");
        }
        if (!value.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new CheckpointFormatException(path, name, "the header entry has no 'shape' array.");
        }
        int rank = shapeElement.GetArrayLength();
        if (rank > MaxTensorRank)
        {
            throw new CheckpointFormatException(path, name, $"the shape has {rank} dimensions, more than the limit of {MaxTensorRank} (SafeTensors.MaxTensorRank).");
        }
        var shape = new long[rank];
        long elements = 1;
        int i = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
            {
                throw new CheckpointFormatException(path, name, $"shape entry {i} is not a non-negative integer.");
            }
            shape[i++] = d;
            try
            {
                elements = checked(elements * d);
            }
            catch (OverflowException e)
            {
                throw new CheckpointFormatException(path, name, "the shape's element count overflows.", e);
            }
        }
        if (!value.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new CheckpointFormatException(path, name, "the header entry has no 'data_offsets' pair.");
        }
        long begin = ReadOffset(offsetsElement[0], name, path);
        long end = ReadOffset(offsetsElement[1], name, path);
        if (end < begin)
        {
            throw new CheckpointFormatException(path, name, $"data_offsets [{begin}, {end}] end before they begin.");
        }
        long expected;
        try
        {
            expected = checked(elements * Dtypes[dtypeIndex].Size);
        }
        catch (OverflowException e)
        {
            throw new CheckpointFormatException(path, name, "the tensor's byte size overflows.", e);
        }
        if (end - begin != expected)
        {
            throw new CheckpointFormatException(path, name,
                $"data_offsets [{begin}, {end}] span {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {expected}.");
        }
        return new SafeTensorInfo(name, dtype, Dtypes[dtypeIndex].Type, shape, begin, end);
    }

    private static long ReadOffset(JsonElement element, string name, string path)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long v) || v < 0)
        {
            throw new CheckpointFormatException(path, name, "data_offsets must be non-negative integers.");
        }
        return v;
    }

    // The reference implementation requires the tensors to tile the data section exactly: no overlap, no gap, no
    // bytes missing (truncation) and none left over.
    private static void ValidateLayout(List<SafeTensorInfo> tensors, long dataLength, string path)
    {
        var byOffset = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
        long position = 0;
        SafeTensorInfo? previous = null;
        foreach (SafeTensorInfo t in byOffset)
        {
            if (t.Begin < position)
            {
                throw new CheckpointFormatException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End}].");
            }
            if (t.Begin > position)
            {
                throw new CheckpointFormatException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] leave a gap of {t.Begin - position} bytes before the tensor.");
            }
            if (t.End > dataLength)
            {
                throw new CheckpointFormatException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] run past the end of the data section ({dataLength} bytes): the file is truncated or the offsets are wrong.");
            }
            position = t.End;
            previous = t;
        }
        if (position != dataLength)
        {
            throw new CheckpointFormatException(path, previous?.Name,
                $"the data section has {dataLength} bytes but the tensors cover {position}: {dataLength - position} unaccounted bytes.");
        }
    }
}
