using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Serialization;

/// <summary>Receives one chunk of a tensor's bytes.</summary>
internal delegate void ByteChunkAction(Span<byte> chunk, long byteOffset);

/// <summary>Byte-level access to the memory of contiguous CPU tensors, in chunks small enough for a <see cref="Span{T}"/>.</summary>
internal static class TensorBytes
{
    /// <summary>Largest chunk handed out at once (1 GiB), well under <see cref="int.MaxValue"/>.</summary>
    internal const long MaxChunkBytes = 1L << 30;

    /// <summary>Size in bytes of one element of <paramref name="type"/>, or 0 for types this project does not store.</summary>
    internal static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 => 8,
        _ => 0,
    };

    /// <summary>
    /// Calls <paramref name="action"/> on consecutive spans that together cover the memory of <paramref name="tensor"/>,
    /// which must be a contiguous CPU tensor. The spans alias the tensor's memory: writing to them writes the tensor.
    /// </summary>
    /// <param name="tensor">A contiguous CPU tensor.</param>
    /// <param name="action">Called with each chunk and its byte offset in the tensor.</param>
    /// <param name="maxChunkBytes">Largest chunk (rounded down to whole elements, at least one).</param>
    internal static void ForEachChunk(Tensor tensor, ByteChunkAction action, long maxChunkBytes = MaxChunkBytes)
    {
        if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
        {
            throw new ArgumentException("Byte access needs a contiguous CPU tensor.", nameof(tensor));
        }
        long count = tensor.numel();
        if (count == 0)
        {
            return;
        }
        long elementSize = tensor.element_size();
        long total = checked(count * elementSize);
        if (total <= maxChunkBytes)
        {
            action(tensor.bytes, 0);
            return;
        }
        long perChunk = Math.Max(1, maxChunkBytes / elementSize);
        using Tensor flat = tensor.reshape(count);
        for (long start = 0; start < count; start += perChunk)
        {
            long n = Math.Min(perChunk, count - start);
            using Tensor part = flat.narrow(0, start, n);
            action(part.bytes, start * elementSize);
        }
    }
}
