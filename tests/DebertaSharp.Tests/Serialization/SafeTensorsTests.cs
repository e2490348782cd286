using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using static DebertaSharp.Tests.Serialization.SerializationTestUtil;

namespace DebertaSharp.Tests.Serialization;

/// <summary>SafeTensors.Load / Save against the fixture files written by the Python safetensors library.</summary>
public class SafeTensorsTests
{
    private static string Fp32 => TestPaths.Fixture("formats", "safetensors_fp32", "model.safetensors");
    private static string Fp16 => TestPaths.Fixture("formats", "safetensors_fp16", "model.safetensors");
    private static string Bf16 => TestPaths.Fixture("formats", "safetensors_bf16", "model.safetensors");

    [Fact]
    public void LoadsFp32FixtureWithTheReferenceKeysAndShapes()
    {
        // formats/ is a DebertaForMaskedLM of the rel_c2p_p2c variant: same names and shapes as the model fixture.
        var reference = ReadShapes(TestPaths.Fixture("models", "rel_c2p_p2c", "masked_lm", "state_dict_keys.json"));
        using var sd = new Owned(SafeTensors.Load(Fp32));
        var tied = new[] { "cls.predictions.decoder.weight", "cls.predictions.decoder.bias" };
        Assert.Equal(reference.Keys.Except(tied).OrderBy(k => k, StringComparer.Ordinal), sd.Dict.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in sd.Dict)
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.Equal(reference[k], t.shape);
            Assert.Equal(DeviceType.CPU, t.device_type);
        }
    }

    [Fact]
    public void Fp32ValuesMatchTheRawFileBytes()
    {
        // Independent decoding of one tensor straight from the file bytes.
        byte[] file = File.ReadAllBytes(Fp32);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        using var doc = JsonDocument.Parse(file.AsMemory(8, (int)n));
        const string key = "deberta.embeddings.word_embeddings.weight";
        var entry = doc.RootElement.GetProperty(key);
        long begin = entry.GetProperty("data_offsets")[0].GetInt64();
        long end = entry.GetProperty("data_offsets")[1].GetInt64();
        var expected = new float[(end - begin) / 4];
        for (int i = 0; i < expected.Length; i++)
            expected[i] = BitConverter.ToSingle(file, (int)(8 + n + begin + 4 * i));
        using var sd = new Owned(SafeTensors.Load(Fp32));
        Assert.Equal(expected, sd[key].data<float>().ToArray());
        Assert.Contains(expected, v => v != 0);
    }

    [Theory]
    [InlineData("fp16", ScalarType.Float16, 1e-3)]
    [InlineData("bf16", ScalarType.BFloat16, 8e-3)]
    public void HalfPrecisionFixturesKeepTheirDtypeAndRoundTheFp32Values(string name, ScalarType dtype, double relTol)
    {
        using var fp32 = new Owned(SafeTensors.Load(Fp32));
        using var half = new Owned(SafeTensors.Load(name == "fp16" ? Fp16 : Bf16));
        Assert.Equal(fp32.Dict.Keys.OrderBy(k => k), half.Dict.Keys.OrderBy(k => k));
        foreach (var (k, h) in half.Dict)
        {
            Assert.Equal(dtype, h.dtype);
            var f = fp32[k];
            Assert.Equal(f.shape, h.shape);
            // The half checkpoint is the fp32 one converted with round-to-nearest: converting again must give the same bits.
            using var rounded = f.to_type(dtype);
            Assert.True(SameValues(rounded, h), $"{k}: not the {dtype} rounding of the fp32 weights");
            using var back = h.to_type(ScalarType.Float32);
            Assert.True(back.allclose(f, rtol: relTol, atol: 1e-6), k);
        }
    }

    [Fact]
    public void MetadataIsReadable()
    {
        var meta = SafeTensors.LoadMetadata(Fp32);
        Assert.Equal("pt", meta["format"]);
        Assert.Single(meta);
        Assert.Empty(SafeTensors.LoadMetadata(TestPaths.Fixture("gradients", "expected.safetensors")));
    }

    [Fact]
    public void MixedDtypeFixtureLoads()
    {
        using var sd = new Owned(SafeTensors.Load(TestPaths.Fixture("formats", "expected_fp32.safetensors")));
        var ids = sd["input.input_ids"];
        Assert.Equal(ScalarType.Int64, ids.dtype);
        Assert.All(ids.data<long>().ToArray(), v => Assert.InRange(v, 0, 127));
        var mask = sd["input.attention_mask"];
        Assert.All(mask.data<long>().ToArray(), v => Assert.True(v is 0 or 1));
    }

    [Theory]
    [InlineData("formats/safetensors_fp32/model.safetensors")]
    [InlineData("formats/safetensors_fp16/model.safetensors")]
    [InlineData("formats/safetensors_bf16/model.safetensors")]
    [InlineData("formats/safetensors_sharded/model-00003-of-00007.safetensors")]
    [InlineData("models/rel_c2p_clamped/masked_lm/model.safetensors")]
    [InlineData("gradients/expected.safetensors")]
    [InlineData("formats/expected_fp32.safetensors")]
    public void SavingALoadedFixtureReproducesTheFileByteForByte(string relative)
    {
        string source = TestPaths.Fixture(relative.Split('/'));
        using var sd = new Owned(SafeTensors.Load(source));
        var meta = SafeTensors.LoadMetadata(source);
        using var tmp = TestPaths.TempDir();
        string target = tmp["copy.safetensors"];
        // Insertion order must not matter: the writer orders like the reference library.
        SafeTensors.Save(target, sd.Dict.Reverse(), meta.ToDictionary());
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(target));
    }

    [Fact]
    public void RoundTripKeepsEveryDtypeAndMakesViewsContiguous()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = torch.randn(3, 4),
            ["f16"] = torch.randn(5).to_type(ScalarType.Float16),
            ["bf16"] = torch.randn(2, 2, 2).to_type(ScalarType.BFloat16),
            ["f64"] = torch.randn(4, dtype: ScalarType.Float64),
            ["i64"] = torch.arange(-3, 3, dtype: ScalarType.Int64),
            ["i32"] = torch.arange(-6, 6, dtype: ScalarType.Int32).reshape(3, 4),
            ["i16"] = torch.arange(-2, 2, dtype: ScalarType.Int16),
            ["i8"] = torch.arange(-2, 3, dtype: ScalarType.Int8),
            ["u8"] = torch.arange(0, 250, 50, dtype: ScalarType.Byte),
            ["bool"] = torch.tensor(new[] { true, false, true }),
            ["scalar"] = torch.tensor(2.5f),
            ["empty"] = torch.empty(0, 3),
            ["transposed"] = torch.arange(12, dtype: ScalarType.Float32).reshape(3, 4).t(),
            ["narrowed"] = torch.arange(20, dtype: ScalarType.Float32).reshape(4, 5).narrow(1, 1, 3),
        };
        try
        {
            Assert.False(tensors["transposed"].is_contiguous());
            using var tmp = TestPaths.TempDir();
            string path = tmp["rt.safetensors"];
            SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "a \"quoted\"\nline é" });
            using var loaded = new Owned(SafeTensors.Load(path));
            Assert.Equal(tensors.Count, loaded.Dict.Count);
            foreach (var (k, t) in tensors) AssertSameTensor(t, loaded[k], k);
            var meta = SafeTensors.LoadMetadata(path);
            Assert.Equal("a \"quoted\"\nline é", meta["note"]);

            byte[] file = File.ReadAllBytes(path);
            long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
            Assert.Equal(0, n % 8);
            string header = Encoding.UTF8.GetString(file, 8, (int)n);
            Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\",\"note\":", header);
            Assert.EndsWith("}", header.TrimEnd(' '));
            // Order of the reference writer: by dtype (I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL), then key.
            using var doc = JsonDocument.Parse(header);
            var order = doc.RootElement.EnumerateObject().Select(p => p.Name).Skip(1).ToArray();
            Assert.Equal(new[] { "i64", "f64", "empty", "f32", "narrowed", "scalar", "transposed", "i32", "bf16", "f16", "i16", "i8", "u8", "bool" }, order);
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [Fact]
    public void NullMetadataWritesFormatPtAndEmptyMetadataWritesNone()
    {
        using var t = torch.ones(2);
        using var tmp = TestPaths.TempDir();
        SafeTensors.Save(tmp["a.safetensors"], [new("x", t)]);
        Assert.Equal("pt", SafeTensors.LoadMetadata(tmp["a.safetensors"])["format"]);
        SafeTensors.Save(tmp["b.safetensors"], [new("x", t)], new Dictionary<string, string>());
        byte[] file = File.ReadAllBytes(tmp["b.safetensors"]);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ", Encoding.UTF8.GetString(file, 8, n));
        Assert.Equal(8 + n + 8, file.Length);
    }

    [Fact]
    public void SaveRejectsDuplicateReservedAndUnsupported()
    {
        using var t = torch.ones(2);
        using var c = torch.ones(2, dtype: ScalarType.ComplexFloat32);
        using var tmp = TestPaths.TempDir();
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(tmp["a"], [new("x", t), new("x", t)]));
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(tmp["a"], [new("__metadata__", t)]));
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(tmp["a"], [new("complex", c)]));
        Assert.Contains("complex", e.Message);
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void FailedSaveLeavesTheOldFileIntact()
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["model.safetensors"];
        File.Copy(Fp32, path);
        byte[] before = File.ReadAllBytes(path);

        // A tensor whose bytes cannot be read (meta device): refused naming its key, before anything is written.
        using var good = torch.ones(1000);
        using var meta = torch.empty(new long[] { 4 }, ScalarType.Float32, new Device(DeviceType.META));
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new("a", good), new("b", meta)]));
        Assert.Contains("'b'", e.Message);
        Assert.Contains("meta", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));

        // Failure while the tensors are enumerated.
        static IEnumerable<KeyValuePair<string, Tensor>> Throwing(Tensor t)
        {
            yield return new("a", t);
            throw new InvalidOperationException("boom");
        }
        Assert.Throws<InvalidOperationException>(() => SafeTensors.Save(path, Throwing(good)));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(tmp.Path));

        // And a successful save replaces it.
        SafeTensors.Save(path, [new("a", good)]);
        using var sd = new Owned(SafeTensors.Load(path));
        Assert.Equal(new[] { "a" }, sd.Dict.Keys);
    }

    // ---- corrupt files ----

    private static (byte[] File, long HeaderLength, string Header) ReadFixture()
    {
        byte[] file = File.ReadAllBytes(Fp32);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (file, n, Encoding.UTF8.GetString(file, 8, (int)n));
    }

    private static byte[] WithHeader(string header, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        data.CopyTo(result, 8 + h.Length);
        return result;
    }

    private static CheckpointFormatException LoadCorrupt(byte[] bytes, string name = "bad.safetensors")
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp[name];
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.FilePath);
        return e;
    }

    [Fact]
    public void TruncatedFileNamesTheLastTensor()
    {
        var (file, _, _) = ReadFixture();
        var e = LoadCorrupt(file[..^100]);
        // The last tensor in the data section of this file.
        Assert.Contains("deberta.encoder.rel_embeddings.weight", e.Message);
        Assert.Equal("deberta.encoder.rel_embeddings.weight", e.Key);
    }

    [Fact]
    public void TrailingBytesAreRejected()
    {
        var (file, _, _) = ReadFixture();
        LoadCorrupt([.. file, 1, 2, 3]);
    }

    [Fact]
    public void TooShortOrHugeHeaderLengthIsRejected()
    {
        LoadCorrupt([1, 2, 3]);
        var (file, _, _) = ReadFixture();
        var huge = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(huge, ulong.MaxValue);
        Assert.Contains("header length", LoadCorrupt(huge).Message);
        var past = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(past, (ulong)file.Length);
        Assert.Contains("header length", LoadCorrupt(past).Message);
    }

    [Fact]
    public void BadJsonIsRejected()
    {
        var (file, n, header) = ReadFixture();
        byte[] data = file[(int)(8 + n)..];
        LoadCorrupt(WithHeader(header.Replace("\"shape\"", "shape"), data));
        LoadCorrupt(WithHeader("[1,2,3]", []));
        LoadCorrupt(WithHeader("not json at all", []));
    }

    [Fact]
    public void UnknownDtypeNamesTheTensor()
    {
        var e = LoadCorrupt(WithHeader("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", [0]));
        Assert.Equal("w", e.Key);
        Assert.Contains("Q4", e.Message);
    }

    [Fact]
    public void OffsetsNotMatchingTheShapeNameTheTensor()
    {
        var e = LoadCorrupt(WithHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]));
        Assert.Equal("w", e.Key);
        Assert.Contains("needs 12", e.Message);
    }

    [Fact]
    public void OverlappingOrOutOfBoundsOffsetsNameTheTensor()
    {
        var overlap = LoadCorrupt(WithHeader(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]));
        Assert.Equal("b", overlap.Key);
        Assert.Contains("overlap", overlap.Message);
        var outside = LoadCorrupt(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]));
        Assert.Equal("a", outside.Key);
        var gap = LoadCorrupt(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]));
        Assert.Equal("a", gap.Key);
        var huge = LoadCorrupt(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", new byte[16]));
        Assert.Equal("a", huge.Key);
        var negative = LoadCorrupt(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]));
        Assert.Equal("a", negative.Key);
    }

    [Fact]
    public void DuplicateKeysAreRejected()
    {
        var e = LoadCorrupt(WithHeader(
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]));
        Assert.Equal("a", e.Key);
    }

    [Fact]
    public void LoadedTensorsSurviveTheCallersDisposeScope()
    {
        Dictionary<string, Tensor> sd;
        using (torch.NewDisposeScope())
        {
            sd = SafeTensors.Load(Fp32);
        }
        try
        {
            Assert.All(sd.Values, t => Assert.False(t.IsInvalid));
            Assert.True(sd["cls.predictions.bias"].numel() == 128);
        }
        finally
        {
            DisposeAll(sd);
        }
    }
}
