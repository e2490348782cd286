using System.Text;
using DebertaSharp.IO;
using PureHDF;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.TensorFlow;

/// <summary>The weights of a Keras h5 file, by name below the model (the first component of the saved name dropped).</summary>
/// <param name="Path">The file read.</param>
/// <param name="LayerNames">The root <c>layer_names</c> attribute.</param>
/// <param name="Tensors">Weight name below the model (<c>deberta/embeddings/word_embeddings/weight:0</c>) → tensor (the file's dtype).</param>
/// <param name="SavedNames">The same keys → the saved name as listed in <c>weight_names</c> (model name first).</param>
internal sealed record KerasWeights(string Path, IReadOnlyList<string> LayerNames, Dictionary<string, Tensor> Tensors,
    Dictionary<string, string> SavedNames) : IDisposable
{
    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
        Tensors.Clear();
    }
}

/// <summary>
/// Reads and writes the HDF5 layout of Keras's <c>save_weights</c> (tf-keras 2.x <c>hdf5_format</c>), which
/// transformers 4.x's <c>TFPreTrainedModel.save_pretrained</c> uses for <c>tf_model.h5</c> and reads back in
/// <c>load_tf_weights_from_h5</c>: a root attribute <c>layer_names</c>; per top-level layer a group with the attribute
/// <c>weight_names</c>; each weight a dataset at <c>&lt;layer&gt;/&lt;weight name&gt;</c>, <c>/</c> nesting groups. Lists
/// longer than 64512 bytes are split into <c>name0</c>, <c>name1</c>, ... Everything goes through PureHDF (managed code,
/// no native HDF5), and every failure is a <see cref="CheckpointFormatException"/> naming the file and the weight.
/// </summary>
internal static class KerasH5
{
    /// <summary>tf-keras's HDF5_OBJECT_HEADER_LIMIT: an attribute list larger than this is split.</summary>
    internal const int ObjectHeaderLimit = 64512;

    /// <summary>The keras_version attribute written (tf-keras of the last TF-supporting transformers 4.x releases).</summary>
    internal const string KerasVersion = "2.15.0";

    /// <summary>
    /// The most bytes a weight may need per byte of the file: 1, since tf-keras's save_weights (and <see cref="Write"/>)
    /// stores datasets uncompressed, so a weight never needs more bytes than the whole file holds. A forged dataspace
    /// would otherwise make a small file ask for up to 16 GB (Array.MaxLength elements of float64).
    /// </summary>
    internal const long MaxWeightBytesPerFileByte = 1;

    /// <summary>Reads every weight listed in the file's <c>layer_names</c> / <c>weight_names</c> attributes.</summary>
    /// <exception cref="CheckpointFormatException">The file is not a readable HDF5 file of that layout, or a listed dataset is
    /// missing, not floating point, or unreadable (the message names the file and the weight).</exception>
    public static KerasWeights Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No such h5 file: {path}", path);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var saved = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        long fileLength = new FileInfo(path).Length;
        try
        {
            using var file = Open(path);
            var layerNames = ReadStrings(path, file, "layer_names")
                ?? throw new CheckpointFormatException(path, null,
                    "no 'layer_names' attribute at the root: not a Keras save_weights (tf_model.h5) file");
            foreach (string layer in layerNames)
            {
                current = layer;
                if (!file.LinkExists(layer))
                    throw new CheckpointFormatException(path, layer, $"layer_names lists the layer '{layer}' but the file has no such group");
                var group = file.Group(layer);
                var weightNames = ReadStrings(path, group, "weight_names") ?? [];
                foreach (string name in weightNames)
                {
                    current = name;
                    string below = KerasNames.BelowModel(name);
                    if (tensors.ContainsKey(below)) continue;   // a tied copy (the embeddings again under "cls")
                    if (!group.LinkExists(name))
                        throw new CheckpointFormatException(path, name, $"listed in weight_names of layer '{layer}' but there is no such dataset");
                    tensors[below] = ReadDataset(path, name, group.Dataset(name), fileLength);
                    saved[below] = name;
                }
            }
            return new KerasWeights(path, layerNames, tensors, saved);
        }
        // An OutOfMemoryException here comes from PureHDF reading the file's own structures (a local heap or an attribute
        // claiming more than an array can hold, AFL++ findings afl_local_heap_size_*.bin): dataset payloads are sized and
        // caught in ReadDataset, and a real tf_model.h5's structures are small.
        catch (Exception e) when (e is not CheckpointFormatException and not FileNotFoundException)
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new CheckpointFormatException(path, current,
                $"unreadable HDF5 ({e.GetType().Name}: {e.Message}); the file may be truncated or corrupt", e);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    private static PureHDF.VOL.Native.NativeFile Open(string path)
    {
        var bytes = new byte[8];
        using (var s = File.OpenRead(path))
        {
            if (s.Read(bytes, 0, 8) < 8 || bytes[0] != 0x89 || bytes[1] != (byte)'H' || bytes[2] != (byte)'D' || bytes[3] != (byte)'F')
                throw new CheckpointFormatException(path, null, "not an HDF5 file (no HDF5 signature at the start)");
            CheckHeapSizes(path, s);
        }
        return H5File.OpenRead(path);
    }

    /// <summary>
    /// The most bytes a local heap (signature <c>HEAP</c>) or global heap collection (<c>GCOL</c>) may declare, per byte
    /// of the file: 1. PureHDF allocates a heap's declared size before reading it, so a forged size made a file of a few
    /// kilobytes ask for up to 2 GB (AFL++ findings afl_local_heap_size_*.bin claimed more than an array can hold; one
    /// below that limit would have been allocated). h5py's heaps are a few hundred bytes to a few kilobytes.
    /// </summary>
    internal const long MaxHeapBytesPerFileByte = 1;

    /// <summary>The heap headers <see cref="CheckHeapSizes"/> looks for: signature and version byte.</summary>
    private static readonly (byte[] Signature, byte Version)[] HeapSignatures = [("HEAP"u8.ToArray(), 0), ("GCOL"u8.ToArray(), 1)];

    /// <summary>
    /// Finds every local heap and global heap collection header in the file (signature, version 0 / 1 and three zero
    /// reserved bytes: 2^-64 odds per offset of a false match in weight data) and refuses one that declares more bytes
    /// than the file holds (<see cref="MaxHeapBytesPerFileByte"/>), before PureHDF sees the file. One pass over the file
    /// in 1 MB blocks.
    /// </summary>
    internal static void CheckHeapSizes(string path, Stream s)
    {
        long fileLength = s.Length;
        // Superblock: the size of lengths is byte 14 for versions 0 and 1, byte 10 for versions 2 and 3.
        var head = new byte[16];
        s.Position = 0;
        if (s.ReadAtLeast(head, 16, throwOnEndOfStream: false) < 16) return;   // PureHDF reports the truncated superblock
        int lengthSize = head[8] <= 1 ? head[14] : head[10];
        if (lengthSize is not (2 or 4 or 8)) return;                              // ditto for an invalid one
        int headerBytes = 8 + lengthSize;                                         // signature, version, reserved, size
        const int block = 1 << 20;
        var buffer = new byte[block + 16];
        long start = 0;                                                           // file offset of buffer[0]
        int kept = 0;                                                             // bytes carried over from the last block
        s.Position = 0;
        while (true)
        {
            int read = s.ReadAtLeast(buffer.AsSpan(kept, block), block, throwOnEndOfStream: false);
            int n = kept + read;
            if (n < headerBytes) return;
            var span = buffer.AsSpan(0, n);
            foreach (var (signature, version) in HeapSignatures)
            {
                for (int at = span.IndexOf(signature); at >= 0 && at <= n - headerBytes;)
                {
                    var h = span.Slice(at, headerBytes);
                    if (h[4] == version && h[5] == 0 && h[6] == 0 && h[7] == 0)
                    {
                        ulong size = 0;
                        for (int i = lengthSize - 1; i >= 0; i--) size = (size << 8) | h[8 + i];
                        if (size > (ulong)(fileLength * MaxHeapBytesPerFileByte))
                            throw new CheckpointFormatException(path, null,
                                $"the {(version == 0 ? "local heap" : "global heap collection")} at byte {start + at} declares {size} bytes, more than the {fileLength}-byte file holds (limit KerasH5.MaxHeapBytesPerFileByte = {MaxHeapBytesPerFileByte}); the file is corrupt");
                    }
                    int next = span[(at + 1)..].IndexOf(signature);
                    at = next < 0 ? -1 : at + 1 + next;
                }
            }
            if (read < block) return;
            // Keep the last headerBytes - 1 bytes: a header may straddle two blocks.
            kept = headerBytes - 1;
            buffer.AsSpan(n - kept, kept).CopyTo(buffer);
            start += n - kept;
        }
    }

    private static Tensor ReadDataset(string path, string name, IH5Dataset ds, long fileLength)
    {
        var type = ds.Type;
        ulong[] dims = ds.Space.Dimensions;
        long[] shape = dims.Select(d => checked((long)d)).ToArray();
        if (type.Class != H5DataTypeClass.FloatingPoint || type.Size is not (2 or 4 or 8))
            throw new CheckpointFormatException(path, name,
                $"dtype {type.Class} of {type.Size} byte(s); a Keras weight is floating point (float16, float32 or float64)");
        // A corrupt header can claim any size: refuse what no array can hold, and name the weight if the memory runs out.
        long count = 1;
        foreach (long d in shape) count = d == 0 ? 0 : (count > Array.MaxLength / Math.Max(d, 1) ? long.MaxValue : count * d);
        if (count > Array.MaxLength)
            throw new CheckpointFormatException(path, name, $"shape [{string.Join(", ", shape)}] claims more elements than a weight can have; the file is corrupt");
        if (count > fileLength * MaxWeightBytesPerFileByte / type.Size)
            throw new CheckpointFormatException(path, name,
                $"shape [{string.Join(", ", shape)}] of {type.Size}-byte floats needs {count * type.Size} bytes, more than the {fileLength}-byte file holds (limit KerasH5.MaxWeightBytesPerFileByte = {MaxWeightBytesPerFileByte}); the file is corrupt");
        try
        {
            return type.Size switch
            {
                4 => torch.tensor(ds.Read<float[]>(), shape),
                8 => torch.tensor(ds.Read<double[]>(), shape),
                _ => torch.tensor(ds.Read<Half[]>().Select(h => (float)h).ToArray(), shape).to(ScalarType.Float16),
            };
        }
        catch (OutOfMemoryException e)
        {
            throw new CheckpointFormatException(path, name, $"shape [{string.Join(", ", shape)}] ({count} elements) does not fit in memory", e);
        }
    }

    /// <summary>Keras's load_attributes_from_hdf5_group: <paramref name="name"/>, else name0, name1, ... concatenated; null when absent.</summary>
    internal static List<string>? ReadStrings(string path, IH5Object obj, string name)
    {
        long fileLength = new FileInfo(path).Length;
        if (obj.AttributeExists(name)) return ReadStringAttribute(path, obj.Attribute(name), fileLength);
        if (!obj.AttributeExists(name + "0")) return null;
        var all = new List<string>();
        for (int i = 0; obj.AttributeExists(name + i); i++)
            all.AddRange(ReadStringAttribute(path, obj.Attribute(name + i), fileLength));
        return all;
    }

    // Every name of a list takes at least one byte of the file, so a list claiming more names than the file has bytes is
    // corrupt (the count saturates instead of wrapping around).
    private static List<string> ReadStringAttribute(string path, IH5Attribute attribute, long fileLength)
    {
        ulong count = attribute.Space.Dimensions.Aggregate(1UL, (a, d) => d == 0 ? 0 : a > ulong.MaxValue / d ? ulong.MaxValue : a * d);
        if (count > (ulong)fileLength)
            throw new CheckpointFormatException(path, attribute.Name,
                $"attribute '{attribute.Name}' claims {count} names, more than the {fileLength}-byte file can hold; the file is corrupt");
        if (attribute.Type.Class is not (H5DataTypeClass.String or H5DataTypeClass.VariableLength))
        {
            // h5py stores an empty list (a layer without weights) as an empty float64 array.
            if (count == 0 || attribute.Space.Rank > 0 && attribute.Space.Dimensions.Contains(0UL)) return [];
            throw new CheckpointFormatException(path, attribute.Name, $"attribute '{attribute.Name}' is {attribute.Type.Class}, not a list of names");
        }
        if (attribute.Space.Rank == 0) return [attribute.Read<string>()];
        return attribute.Read<string[]>().Select(s => s.TrimEnd('\0')).ToList();
    }

    /// <summary>
    /// Writes <paramref name="layers"/> as Keras's save_weights does: <c>layer_names</c> in model order, <c>backend</c>,
    /// <c>keras_version</c>; the groups, each with <c>weight_names</c> (full names, model name first) and a float32
    /// dataset per weight at the nested path of its name. Atomic (a temporary file renamed over the target).
    /// </summary>
    /// <param name="path">The h5 file.</param>
    /// <param name="modelName">The Keras model name, the first component of every weight name.</param>
    /// <param name="layers">The top-level layers.</param>
    /// <param name="value">The Keras-shaped tensor of a variable.</param>
    public static void Write(string path, string modelName, IReadOnlyList<KerasLayer> layers, Func<KerasVariable, Tensor> value)
    {
        var root = new H5File();
        var strings = new List<string> { "tensorflow", KerasVersion };
        strings.AddRange(layers.Select(l => l.Name));
        strings.AddRange(layers.SelectMany(l => l.Weights).Select(w => modelName + "/" + w.Name));
        // PureHDF writes fixed-length strings of one width per file: the longest name (Keras's width is per list).
        int width = Math.Max(1, strings.Max(s => Encoding.UTF8.GetByteCount(s)));
        SetStrings(root, "layer_names", layers.Select(l => l.Name).ToList(), width);
        root.Attributes["backend"] = "tensorflow";
        root.Attributes["keras_version"] = KerasVersion;

        using (var scope = NewDisposeScope())
        {
            foreach (var layer in layers.OrderBy(l => l.Name, StringComparer.Ordinal))
            {
                var group = new H5Group();
                root[layer.Name] = group;
                var names = layer.Weights.Select(w => modelName + "/" + w.Name).ToList();
                SetStrings(group, "weight_names", names, width);
                foreach (var (w, full) in layer.Weights.Zip(names))
                {
                    var t = value(w).detach().to(ScalarType.Float32).cpu().contiguous();
                    if (!t.shape.SequenceEqual(w.Shape))
                        throw new InvalidOperationException($"{w.Name}: tensor shape [{string.Join(", ", t.shape)}] is not the Keras shape [{string.Join(", ", w.Shape)}]");
                    var parts = full.Split('/');
                    H5Group at = group;
                    foreach (string part in parts[..^1])
                    {
                        if (!at.TryGetValue(part, out var child)) at[part] = child = new H5Group();
                        at = (H5Group)child;
                    }
                    at[parts[^1]] = new H5Dataset(t.data<float>().ToArray(), fileDims: w.Shape.Select(d => (ulong)d).ToArray());
                }
            }
        }
        var options = new H5WriteOptions(DefaultStringLength: width);
        SafeFile.WriteViaPath(path, target => root.Write(target, options));
    }

    /// <summary>Keras's save_attributes_to_hdf5_group: one attribute, or name0..nameN-1 when the list passes the header limit.</summary>
    private static void SetStrings(H5Object obj, string name, List<string> values, int width)
    {
        if (values.Count == 0)
        {
            obj.Attributes[name] = Array.Empty<double>();   // what h5py makes of np.asarray([])
            return;
        }
        foreach (var (suffix, chunk) in SplitForHeader(values, width))
            obj.Attributes[name + suffix] = chunk;
    }

    /// <summary>numpy.array_split into the fewest chunks whose bytes (count × width) fit the object header limit.</summary>
    internal static IEnumerable<(string Suffix, string[] Chunk)> SplitForHeader(List<string> values, int width)
    {
        int chunks = 1;
        while (Sizes(values.Count, chunks).Max() * (long)width > ObjectHeaderLimit) chunks++;
        if (chunks == 1)
        {
            yield return ("", values.ToArray());
            yield break;
        }
        int start = 0, i = 0;
        foreach (int size in Sizes(values.Count, chunks))
        {
            yield return (i.ToString(System.Globalization.CultureInfo.InvariantCulture), values.GetRange(start, size).ToArray());
            start += size;
            i++;
        }
    }

    // numpy.array_split: the first n % k pieces get one element more.
    private static IEnumerable<int> Sizes(int n, int k)
    {
        for (int i = 0; i < k; i++) yield return n / k + (i < n % k ? 1 : 0);
    }
}
