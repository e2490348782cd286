using System.Buffers.Binary;
using System.Text;
using DebertaSharp.Serialization;
using DebertaSharp.TensorFlow;
using PureHDF;

namespace DebertaSharp.Tests.Serialization;

/// <summary>
/// The checkpoint readers' explicit bounds (issue 10, item 3; docs/fuzzing.md, "Limits"): each hostile file is built
/// small, in memory, and must be refused with a <see cref="CheckpointFormatException"/> naming the file and the limit,
/// before the reader allocates what the file asks for.
/// </summary>
public class ReaderLimitsTests
{
    // ---------------- safetensors ----------------

    private static byte[] SafeTensorsFile(string header, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        data.CopyTo(result, 8 + h.Length);
        return result;
    }

    private static CheckpointFormatException Refused(Func<string, object> load, byte[] bytes, string name)
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp[name];
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() =>
        {
            object result = load(path);
            if (result is IDictionary<string, TorchSharp.torch.Tensor> d) SerializationTestUtil.DisposeAll(d);
            if (result is IDisposable disposable) disposable.Dispose();
        });
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        return e;
    }

    private static CheckpointFormatException RefusedSafeTensors(byte[] bytes) => Refused(SafeTensors.Load, bytes, "model.safetensors");

    [Fact]
    public void SafeTensorsWithMoreTensorsThanTheLimitIsRefusedNamingTheLimit()
    {
        var header = new StringBuilder("{");
        for (int i = 0; i <= SafeTensors.MaxTensorCount; i++)
            header.Append(i == 0 ? "" : ",").Append("\"t").Append(i).Append("\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}");
        header.Append('}');
        var e = RefusedSafeTensors(SafeTensorsFile(header.ToString(), []));
        Assert.Equal("t" + SafeTensors.MaxTensorCount, e.Key);
        Assert.Contains("MaxTensorCount", e.Message);
        Assert.Contains(SafeTensors.MaxTensorCount.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void SafeTensorsAtTheTensorCountLimitStillLoads()
    {
        // The limit is the first count refused plus one: exactly MaxTensorCount tensors is fine (and only costs an
        // empty native tensor each, so use a tenth of it here to keep the test fast, with the code path the same).
        var header = new StringBuilder("{");
        for (int i = 0; i < 1000; i++)
            header.Append(i == 0 ? "" : ",").Append("\"t").Append(i).Append("\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}");
        header.Append('}');
        using var tmp = TestPaths.TempDir();
        File.WriteAllBytes(tmp["ok.safetensors"], SafeTensorsFile(header.ToString(), []));
        using var sd = new SerializationTestUtil.Owned(SafeTensors.Load(tmp["ok.safetensors"]));
        Assert.Equal(1000, sd.Dict.Count);
    }

    [Fact]
    public void SafeTensorsShapeOfTooManyDimensionsIsRefusedNamingTheLimit()
    {
        string shape = string.Join(",", Enumerable.Repeat("1", SafeTensors.MaxTensorRank + 1));
        var e = RefusedSafeTensors(SafeTensorsFile($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{shape}],\"data_offsets\":[0,4]}}}}", new byte[4]));
        Assert.Equal("w", e.Key);
        Assert.Contains("MaxTensorRank", e.Message);
        Assert.Contains($"{SafeTensors.MaxTensorRank + 1} dimensions", e.Message);
    }

    [Fact]
    public void SafeTensorsHeaderNestedPastTheDepthLimitIsRefused()
    {
        string deep = new string('[', SafeTensors.MaxHeaderJsonDepth + 4) + new string(']', SafeTensors.MaxHeaderJsonDepth + 4);
        var e = RefusedSafeTensors(SafeTensorsFile($"{{\"__metadata__\":{deep}}}", []));
        Assert.Contains($"nesting limit {SafeTensors.MaxHeaderJsonDepth}", e.Message);
    }

    [Fact]
    public void SafeTensorsTensorLargerThanTheFileIsRefusedBeforeAllocating()
    {
        // 40 GB of float32 declared, 16 bytes present: the offsets check against the data section comes first.
        var e = RefusedSafeTensors(SafeTensorsFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[100000,100000],\"data_offsets\":[0,40000000000]}}", new byte[16]));
        Assert.Equal("w", e.Key);
        Assert.Contains("run past the end of the data section (16 bytes)", e.Message);
    }

    [Fact]
    public void ShardIndexLargerThanTheLimitOrTooDeepIsRefused()
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["model.safetensors.index.json"];
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength(CheckpointFiles.MaxIndexBytes + 1); // sparse
        var big = Assert.Throws<CheckpointFormatException>(() => CheckpointFiles.ReadIndex(path));
        Assert.Equal(path, big.FilePath);
        Assert.Contains("MaxIndexBytes", big.Message);

        int depth = CheckpointFiles.MaxIndexJsonDepth + 6;
        File.WriteAllText(path, $"{{\"metadata\": {new string('[', depth)}{new string(']', depth)}, \"weight_map\": {{}}}}");
        var deep = Assert.Throws<CheckpointFormatException>(() => CheckpointFiles.ReadIndex(path));
        Assert.Contains($"nesting limit {CheckpointFiles.MaxIndexJsonDepth}", deep.Message);
    }

    // ---------------- torch pickle ----------------

    private static CheckpointFormatException RefusedZip(byte[] dataPkl, params (string, byte[])[] storages) =>
        RefusedZipFile(path => PickleBuilder.WriteZip(path, dataPkl, storages));

    private static CheckpointFormatException RefusedZipFile(Action<string> write)
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["pytorch_model.bin"];
        write(path);
        var e = Assert.Throws<CheckpointFormatException>(() => SerializationTestUtil.DisposeAll(TorchPickle.Load(path)));
        Assert.Equal(path, e.FilePath);
        return e;
    }

    private static PickleBuilder StateDict() => new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op('R').Op('(');

    [Fact]
    public void PickleStackPastTheLimitIsRefused()
    {
        var b = new PickleBuilder().Proto(2).Op('N');
        for (int i = 0; i < PickleMachine.MaxStackSize; i++) b.Op('2'); // DUP
        var e = RefusedZip(b.Op('.').Bytes);
        Assert.Contains("MaxStackSize", e.Message);
        Assert.Contains(PickleMachine.MaxStackSize.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void PickleMarksPastTheLimitAreRefused()
    {
        var b = new PickleBuilder().Proto(2);
        for (int i = 0; i <= PickleMachine.MaxMarkDepth; i++) b.Op('(');
        var e = RefusedZip(b.Op('.').Bytes);
        Assert.Contains("MaxMarkDepth", e.Message);
    }

    [Fact]
    public void PickleMemoPastTheLimitIsRefused()
    {
        var b = new PickleBuilder().Proto(4).Op('N');
        for (int i = 0; i <= PickleMachine.MaxMemoEntries; i++) b.Op(0x94); // MEMOIZE
        var e = RefusedZip(b.Op('.').Bytes);
        Assert.Contains("MaxMemoEntries", e.Message);
    }

    [Fact]
    public void PickleCreatingMoreValuesThanTheLimitIsRefused()
    {
        // A list grown by APPENDS in batches: two values per input byte (a DUP pushed, then appended).
        var b = new PickleBuilder().Proto(2).Op(']');
        const int Batch = 500_000;
        for (int k = 0; k <= PickleMachine.MaxValues / (2 * Batch); k++)
        {
            b.Op('(').Op('N');
            for (int i = 1; i < Batch; i++) b.Op('2');
            b.Op('e');
        }
        var e = RefusedZip(b.Op('.').Bytes);
        Assert.Contains("MaxValues", e.Message);
    }

    [Fact]
    public void SharedTupleChainsAreHashedComparedAndDescribedInLinearTime()
    {
        // Two chains of 60 tuples, each holding the previous one twice: 2^60 leaves if walked as a tree. Used as dict
        // keys (hash, then equality with the first chain) and then described in the error: each step was exponential.
        var b = new PickleBuilder().Proto(2).Op('}');
        for (int chain = 0; chain < 2; chain++)
        {
            b.Op('N');
            for (int i = 0; i < 60; i++) b.Op('2').Op(0x86); // DUP, TUPLE2
            b.Op('N').Op('s');
        }
        var e = RefusedZip(b.Op('.').Bytes);
        Assert.Contains("is not a string", e.Message);
        Assert.Contains("tuple of 2", e.Message);
    }

    [Fact]
    public void CheckpointRebuildingMoreTensorsThanTheLimitIsRefused()
    {
        var b = StateDict();
        for (int i = 0; i <= TorchPickle.MaxTensorCount; i++)
        {
            b.Tensor("t" + i, "FloatStorage", "0", 1, 0, [1], [1]);
            if (i % 1000 == 999) b.Op('u').Op('(');
        }
        var e = RefusedZip(b.Op('u').Op('.').Bytes, ("0", new byte[4]));
        Assert.Contains("MaxTensorCount", e.Message);
        Assert.Contains(TorchPickle.MaxTensorCount.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void TensorOfTooManyDimensionsIsRefused()
    {
        long[] ones = Enumerable.Repeat(1L, SafeTensors.MaxTensorRank + 1).ToArray();
        var e = RefusedZip(StateDict().Tensor("w", "FloatStorage", "0", 1, 0, ones, ones).Op('u').Op('.').Bytes, ("0", new byte[4]));
        Assert.Contains("MaxTensorRank", e.Message);
    }

    [Fact]
    public void StrideZeroViewsCannotCopyMoreThanTheFileHolds()
    {
        // Four floats stored, a [1000000, 1000] view of them with strides 0: 4 GB if made contiguous.
        var e = RefusedZip(StateDict().Tensor("w", "FloatStorage", "0", 4, 0, [1_000_000, 1000], [0, 0]).Op('u').Op('.').Bytes, ("0", new byte[16]));
        Assert.Equal("w", e.Key);
        Assert.Contains("file size", e.Message);
        Assert.Contains("1000000000 elements", e.Message);
    }

    [Fact]
    public void ExpandedViewsWithinTheFileSizeStillLoad()
    {
        // A stride-0 view is legitimate (an expanded tensor saved as is) as long as its copy fits in the file's size.
        using var tmp = TestPaths.TempDir();
        string path = tmp["pytorch_model.bin"];
        PickleBuilder.WriteZip(path, StateDict().Tensor("w", "FloatStorage", "0", 1, 0, [3], [0]).Op('u').Op('.').Bytes,
            [("0", BitConverter.GetBytes(2.5f))]);
        using var sd = new SerializationTestUtil.Owned(TorchPickle.Load(path));
        Assert.Equal(new[] { 2.5f, 2.5f, 2.5f }, sd["w"].data<float>().ToArray());
    }

    // Rewrites the uncompressed size in the central directory record of the entry named `name`.
    private static void ForgeUncompressedSize(string path, string name, uint size)
    {
        byte[] zip = File.ReadAllBytes(path);
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        for (int i = 0; i + 46 <= zip.Length; i++)
        {
            if (zip[i] != 'P' || zip[i + 1] != 'K' || zip[i + 2] != 1 || zip[i + 3] != 2) continue;
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + 28));
            if (!zip.AsSpan(i + 46, nameLength).SequenceEqual(nameBytes)) continue;
            BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(i + 24), size);
            File.WriteAllBytes(path, zip);
            return;
        }
        throw new InvalidOperationException($"no central directory record for {name}");
    }

    [Fact]
    public void ZipEntryClaimingMoreThanDeflateCanExpandIsRefusedBeforeAllocating()
    {
        byte[] pkl = StateDict().Tensor("w", "FloatStorage", "0", 4, 0, [4], [1]).Op('u').Op('.').Bytes;
        var storage = RefusedZipFile(path =>
        {
            PickleBuilder.WriteZip(path, pkl, [("0", new byte[16])]);
            ForgeUncompressedSize(path, "archive/data/0", 4_000_000_000);
        });
        Assert.Equal("archive/data/0", storage.Key);
        Assert.Contains("MaxZipExpansion", storage.Message);
        Assert.Contains("4000000000", storage.Message);

        // data.pkl is read into memory whole: a forged size of 1 GB used to be allocated before the read failed.
        var pickle = RefusedZipFile(path =>
        {
            PickleBuilder.WriteZip(path, pkl, [("0", new byte[16])]);
            ForgeUncompressedSize(path, "archive/data.pkl", 1_000_000_000);
        });
        Assert.Equal("archive/data.pkl", pickle.Key);
        Assert.Contains("MaxZipExpansion", pickle.Message);
    }

    // ---------------- Keras h5 ----------------

    [Fact]
    public void H5DatasetLargerThanTheFileIsRefusedBeforeReading()
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["tf_model.h5"];
        var root = new H5File();
        root.Attributes["layer_names"] = new[] { "layer" };
        var group = new H5Group();
        group.Attributes["weight_names"] = new[] { "layer/w:0" };
        var inner = new H5Group();
        inner["w:0"] = new H5Dataset(new float[7 * 13], fileDims: [7, 13]);
        group["layer"] = inner;
        root["layer"] = group;
        root.Write(path);

        // Sanity: the honest file loads.
        using (var ok = KerasH5.Read(path)) Assert.Equal(new long[] { 7, 13 }, ok.Tensors.Single().Value.shape);

        // Forge the dataspace: dimensions 7 x 13 (two 8-byte little-endian lengths) become 30000 x 30000 (3.6 GB).
        byte[] file = File.ReadAllBytes(path);
        byte[] dims = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(dims, 7);
        BinaryPrimitives.WriteUInt64LittleEndian(dims.AsSpan(8), 13);
        int forged = 0;
        for (int i = file.AsSpan().IndexOf(dims); i >= 0; i = file.AsSpan().IndexOf(dims))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(i), 30000);
            BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(i + 8), 30000);
            forged++;
        }
        Assert.True(forged > 0);
        var e = Refused(KerasH5.Read, file, "tf_model.h5");
        Assert.Equal("layer/w:0", e.Key);
        Assert.Contains("MaxWeightBytesPerFileByte", e.Message);
        Assert.Contains("3600000000 bytes", e.Message);
    }

    /// <summary>The local heap (or global heap collection) header at <paramref name="at"/>: its declared size set to
    /// <paramref name="size"/>.</summary>
    private static void ForgeHeapSize(byte[] file, int at, ulong size) => BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(at + 8), size);

    [Theory]
    [InlineData("HEAP", "local heap")]
    [InlineData("GCOL", "global heap collection")]
    public void H5HeapLargerThanTheFileIsRefusedBeforePureHdfAllocatesIt(string signature, string what)
    {
        // A real tf_model.h5 (h5py, transformers 4.x) with one heap's declared size forged to 1.5 GB: below what an array
        // can hold, so PureHDF would allocate it before finding the file too short (AFL++ found the over-the-limit kind).
        byte[] file = File.ReadAllBytes(TestPaths.Fixture("tf_h5", "abs_token_type", "base", "tf_model.h5"));
        int at = file.AsSpan().IndexOf(Encoding.ASCII.GetBytes(signature));
        Assert.True(at > 0, $"no {signature} in the fixture");
        ForgeHeapSize(file, at, 1_500_000_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Refused(KerasH5.Read, file, "tf_model.h5");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "the forged size was allocated");
        Assert.Contains($"the {what} at byte {at} declares 1500000000 bytes", e.Message);
        Assert.Contains("MaxHeapBytesPerFileByte", e.Message);
    }

    [Fact]
    public void H5HeapHeaderAcrossTheScansBlockBoundaryIsFound()
    {
        // CheckHeapSizes reads 1 MB blocks: a forged header whose bytes straddle the first boundary is still seen, and a
        // file of honest heaps (sizes within the file) passes.
        var file = new byte[(1 << 20) + 4096];
        new byte[] { 0x89, (byte)'H', (byte)'D', (byte)'F', 0x0D, 0x0A, 0x1A, 0x0A }.CopyTo(file, 0);
        file[13] = 8; file[14] = 8;                                        // superblock version 0: sizes of offsets, lengths
        void Header(int at, ulong size)
        {
            "HEAP"u8.CopyTo(file.AsSpan(at));
            BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(at + 8), size);
        }
        Header(1000, 88);
        Header((1 << 20) - 6, 88);
        using (var honest = new MemoryStream(file)) KerasH5.CheckHeapSizes("honest.h5", honest);
        Header((1 << 20) - 6, (ulong)file.Length + 1);
        using var forged = new MemoryStream(file);
        var e = Assert.Throws<CheckpointFormatException>(() => KerasH5.CheckHeapSizes("forged.h5", forged));
        Assert.Contains($"the local heap at byte {(1 << 20) - 6} declares {file.Length + 1} bytes", e.Message);
    }
}
