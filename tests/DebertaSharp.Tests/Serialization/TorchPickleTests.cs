using System.IO.Compression;
using System.Text;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using static DebertaSharp.Tests.Serialization.SerializationTestUtil;

namespace DebertaSharp.Tests.Serialization;

/// <summary>TorchPickle against the torch.save fixtures (zip and legacy formats) and hand-made pickles.</summary>
public class TorchPickleTests
{
    private static string Fp32 => TestPaths.Fixture("formats", "safetensors_fp32", "model.safetensors");

    [Theory]
    [InlineData("bin_zip")]
    [InlineData("bin_legacy")]
    public void BinFixturesEqualTheSafetensorsFixture(string folder)
    {
        using var reference = new Owned(SafeTensors.Load(Fp32));
        using var bin = new Owned(TorchPickle.Load(TestPaths.Fixture("formats", folder, "pytorch_model.bin")));
        // torch.save(state_dict()) also holds the tied decoder weights that save_pretrained leaves out.
        var tied = new Dictionary<string, string>
        {
            ["cls.predictions.decoder.weight"] = "deberta.embeddings.word_embeddings.weight",
            ["cls.predictions.decoder.bias"] = "cls.predictions.bias",
        };
        Assert.Equal(reference.Dict.Keys.Concat(tied.Keys).OrderBy(k => k, StringComparer.Ordinal),
                     bin.Dict.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in reference.Dict) AssertSameTensor(t, bin[k], k);
        foreach (var (k, source) in tied) AssertSameTensor(reference[source], bin[k], k);
        Assert.All(bin.Dict.Values, t => Assert.True(t.is_contiguous()));
        // The file order of the state dict is kept.
        Assert.Equal("deberta.embeddings.word_embeddings.weight", bin.Dict.Keys.First());
    }

    private static CheckpointFormatException Refused(byte[] bytes, string name = "pytorch_model.bin")
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp[name];
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchPickle.Load(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    private static CheckpointFormatException RefusedZip(byte[] dataPkl, params (string, byte[])[] storages)
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["pytorch_model.bin"];
        PickleBuilder.WriteZip(path, dataPkl, storages);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchPickle.Load(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void MaliciousPickleIsRefusedWithoutRunningAnything()
    {
        using var tmp = TestPaths.TempDir();
        string marker = tmp["pwned"];
        // The classic payload: os.system("touch <marker>") via GLOBAL + REDUCE, in a zip checkpoint ...
        byte[] payload = new PickleBuilder().Proto(2).Global("os", "system").Op('(').Str("touch " + marker).Op('t').Op('R').Op('.').Bytes;
        var zipErr = RefusedZip(payload);
        Assert.Contains("os.system", zipErr.Message);
        Assert.Equal("os.system", zipErr.Key);
        // ... and as a bare pickle (legacy format position).
        var plain = Refused(payload);
        Assert.Contains("os.system", plain.Message);
        Assert.False(File.Exists(marker));

        // builtins.eval via STACK_GLOBAL (protocol 4) inside an otherwise valid state dict.
        byte[] evil = new PickleBuilder().Proto(4).Global("collections", "OrderedDict").Op(')').Op('R')
            .Str("x").Op(0x8c).Op(8).Raw(Encoding.ASCII.GetBytes("builtins")).Op(0x8c).Op(4).Raw(Encoding.ASCII.GetBytes("eval"))
            .Op(0x93).Op('(').Str("1+1").Op('t').Op('R').Op('s').Op('.').Bytes;
        var evalErr = RefusedZip(evil);
        Assert.Contains("builtins.eval", evalErr.Message);
    }

    [Theory]
    [InlineData("torch._utils", "_rebuild_qtensor")]
    [InlineData("__builtin__", "getattr")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch", "load")]
    public void UnknownGlobalsAreRefused(string module, string name)
    {
        byte[] pkl = new PickleBuilder().Proto(2).Global(module, name).Op('.').Bytes;
        Assert.Contains($"{module}.{name}", RefusedZip(pkl).Message);
    }

    [Fact]
    public void ObjectConstructingOpcodesAreRefused()
    {
        // NEWOBJ on an allowed class must still be refused.
        byte[] pkl = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op(0x81).Op('.').Bytes;
        Assert.Contains("NEWOBJ", RefusedZip(pkl).Message);
        // BUILD on a tensor rebuild function (attribute injection) is refused.
        byte[] build = new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Op('}').Op('b').Op('.').Bytes;
        RefusedZip(build);
    }

    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void StorageOffsetsStridesAndSharedStoragesAreHonoured()
    {
        float[] storage = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();
        byte[] pkl = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op('R').Op('(')
            .Tensor("strided", "FloatStorage", "0", 12, 2, [2, 3], [1, 2])
            .Tensor("whole", "FloatStorage", "0", 12, 0, [3, 4], [4, 1])
            .Tensor("part", "FloatStorage", "0", 12, 4, [4], [1])
            .Tensor("ids", "LongStorage", "1", 3, 0, [3], [1])
            .Tensor("half", "HalfStorage", "2", 2, 0, [2], [1])
            .Tensor("scalar", "FloatStorage", "0", 12, 5, [], [])
            .Op('u').Op('.').Bytes;
        byte[] longs = new long[] { 7, -1, 1L << 40 }.SelectMany(BitConverter.GetBytes).ToArray();
        byte[] halves = [0x00, 0x3c, 0x00, 0xc0]; // 1.0, -2.0
        using var tmp = TestPaths.TempDir();
        string path = tmp["pytorch_model.bin"];
        PickleBuilder.WriteZip(path, pkl, [("0", Floats(storage)), ("1", longs), ("2", halves)], archive: "some_name");
        using var sd = new Owned(TorchPickle.Load(path));
        Assert.Equal(new[] { "strided", "whole", "part", "ids", "half", "scalar" }, sd.Dict.Keys);
        var strided = sd["strided"];
        Assert.True(strided.is_contiguous());
        Assert.Equal(new long[] { 2, 3 }, strided.shape);
        Assert.Equal(new float[] { 2, 4, 6, 3, 5, 7 }, strided.data<float>().ToArray());
        Assert.Equal(storage, sd["whole"].data<float>().ToArray());
        Assert.Equal(new float[] { 4, 5, 6, 7 }, sd["part"].data<float>().ToArray());
        Assert.Equal(new long[] { 7, -1, 1L << 40 }, sd["ids"].data<long>().ToArray());
        Assert.Equal(ScalarType.Float16, sd["half"].dtype);
        using (var f = sd["half"].to_type(ScalarType.Float32)) Assert.Equal(new float[] { 1, -2 }, f.data<float>().ToArray());
        Assert.Empty(sd["scalar"].shape);
        Assert.Equal(5f, sd["scalar"].item<float>());
    }

    [Fact]
    public void ViewsOutsideTheirStorageAreRefusedNamingTheKey()
    {
        byte[] pkl = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op('R').Op('(')
            .Tensor("bad", "FloatStorage", "0", 4, 2, [2, 2], [2, 1])
            .Op('u').Op('.').Bytes;
        var e = RefusedZip(pkl, ("0", Floats(1, 2, 3, 4)));
        Assert.Equal("bad", e.Key);
        Assert.Contains("past its storage", e.Message);
    }

    [Fact]
    public void StorageEntryOfTheWrongSizeOrMissingIsRefused()
    {
        byte[] pkl = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op('R').Op('(')
            .Tensor("w", "FloatStorage", "0", 4, 0, [4], [1])
            .Op('u').Op('.').Bytes;
        Assert.Equal("0", RefusedZip(pkl, ("0", Floats(1, 2, 3))).Key);
        Assert.Contains("missing", RefusedZip(pkl).Message);
    }

    [Fact]
    public void StorageWhoseByteSizeOverflowsIsRefusedNamingTheKey()
    {
        // 2^62 float32 elements: 2^64 bytes, past long.MaxValue (the zip reader compares the byte size with the entry's).
        byte[] pkl = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op('R').Op('(')
            .Tensor("w", "FloatStorage", "0", 1L << 62, 0, [1], [1])
            .Op('u').Op('.').Bytes;
        var e = RefusedZip(pkl, ("0", Floats(1)));
        Assert.Equal("0", e.Key);
        Assert.Contains((1L << 62).ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);

        // The largest count that fits still reaches the entry-size check (and is refused there, naming the same key).
        byte[] fits = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").Op(')').Op('R').Op('(')
            .Tensor("w", "FloatStorage", "0", long.MaxValue / 4, 0, [1], [1])
            .Op('u').Op('.').Bytes;
        var f = RefusedZip(fits, ("0", Floats(1)));
        Assert.Equal("0", f.Key);
        Assert.Contains("bytes but", f.Message);
    }

    [Fact]
    public void TruncatedFilesAreRefused()
    {
        byte[] zip = File.ReadAllBytes(TestPaths.Fixture("formats", "bin_zip", "pytorch_model.bin"));
        Refused(zip[..(zip.Length / 2)]);
        byte[] legacy = File.ReadAllBytes(TestPaths.Fixture("formats", "bin_legacy", "pytorch_model.bin"));
        var e = Refused(legacy[..^100]);
        Assert.NotNull(e.Key); // names the storage that is cut short
        Refused(legacy[..5000]); // inside the object pickle
        Refused(Encoding.ASCII.GetBytes("hello, not a checkpoint"));
    }

    [Fact]
    public void DeeplyNestedTuplesAreRefusedWithoutExhaustingTheStack()
    {
        var b = new PickleBuilder().Proto(2).Op('}').Op(')');
        for (int i = 0; i < 200_000; i++) b.Op(0x85); // TUPLE1 around the previous tuple
        b.Int(1).Op('s').Op('.');
        Assert.Contains("nested", RefusedZip(b.Bytes).Message);
    }

    [Fact]
    public void NonStateDictPayloadsAreRefused()
    {
        byte[] list = new PickleBuilder().Proto(2).Op(']').Op('.').Bytes;
        Assert.Contains("not a state dict", RefusedZip(list).Message);
        byte[] nested = new PickleBuilder().Proto(2).Op('}').Str("state_dict").Op('}').Op('s').Op('.').Bytes;
        Assert.Equal("state_dict", RefusedZip(nested).Key);
    }
}
