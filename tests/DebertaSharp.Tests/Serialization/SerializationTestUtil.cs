using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Serialization;

/// <summary>Helpers shared by the checkpoint I/O tests.</summary>
internal static class SerializationTestUtil
{
    /// <summary>Disposes every tensor of a state dict.</summary>
    public static void DisposeAll(IDictionary<string, Tensor> dict)
    {
        foreach (var t in dict.Values) t.Dispose();
    }

    /// <summary>A state dict that disposes its tensors.</summary>
    public sealed class Owned(Dictionary<string, Tensor> dict) : IDisposable
    {
        public Dictionary<string, Tensor> Dict { get; } = dict;
        public Tensor this[string key] => Dict[key];
        public void Dispose() => DisposeAll(Dict);
    }

    /// <summary>Exact equality of dtype, shape and values (NaN-free data).</summary>
    public static void AssertSameTensor(Tensor expected, Tensor actual, string key)
    {
        Assert.True(expected.dtype == actual.dtype, $"{key}: dtype {actual.dtype} != {expected.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{key}: shape [{string.Join(",", actual.shape)}] != [{string.Join(",", expected.shape)}]");
        Assert.True(SameValues(expected, actual), $"{key}: values differ");
    }

    /// <summary>True when both tensors have the same shape and elementwise equal values.</summary>
    public static bool SameValues(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.eq(b);
        using var all = eq.all();
        return all.item<bool>();
    }

    /// <summary>Parses a state_dict_keys.json (name → shape).</summary>
    public static Dictionary<string, long[]> ReadShapes(string path)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(path));
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
            result[p.Name] = p.Value.EnumerateArray().Select(e => e.GetInt64()).ToArray();
        return result;
    }
}
