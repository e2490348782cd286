using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Serialization;

/// <summary>TensorBytes: chunked byte access, as used for tensors over 1 GiB.</summary>
public class TensorBytesTests
{
    [Theory]
    [InlineData(1L << 30)]
    [InlineData(12)]
    [InlineData(5)]
    [InlineData(1)]
    public void ChunksCoverTheTensorInOrderAndAliasItsMemory(long maxChunk)
    {
        using var t = torch.empty(new long[] { 3, 5 }, ScalarType.Float32);
        var offsets = new List<long>();
        TensorBytes.ForEachChunk(t, (chunk, offset) =>
        {
            offsets.Add(offset);
            Assert.Equal(0, chunk.Length % 4);
            for (int i = 0; i < chunk.Length; i += 4)
                BitConverter.TryWriteBytes(chunk[i..], (float)((offset + i) / 4));
        }, maxChunk);
        Assert.Equal(Enumerable.Range(0, 15).Select(i => (float)i), t.data<float>().ToArray());
        Assert.Equal(0, offsets[0]);
        if (maxChunk < 60) Assert.True(offsets.Count > 1);
        var copy = new byte[60];
        TensorBytes.ForEachChunk(t, (chunk, offset) => chunk.CopyTo(copy.AsSpan((int)offset)), maxChunk);
        Assert.Equal(t.bytes.ToArray(), copy);
    }

    [Fact]
    public void RefusesNonContiguousTensors()
    {
        using var t = torch.ones(3, 4);
        using var tt = t.t();
        Assert.Throws<ArgumentException>(() => TensorBytes.ForEachChunk(tt, (_, _) => { }));
        using var empty = torch.empty(0, 4);
        int calls = 0;
        TensorBytes.ForEachChunk(empty, (_, _) => calls++);
        Assert.Equal(0, calls);
    }
}
