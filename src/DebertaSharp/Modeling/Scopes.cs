using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>Dispose-scope helpers.</summary>
internal static class Scopes
{
    /// <summary>
    /// Moves the distinct tensors that <paramref name="scope"/> owns to its outer scope (tensors owned elsewhere, such
    /// as the caller's inputs or ones already moved, stay where they are; a tensor is never lifted twice).
    /// </summary>
    public static void MoveOut(DisposeScope scope, IEnumerable<Tensor?> tensors)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var list = new List<IDisposable>();
        foreach (var t in tensors)
            if (t is not null && seen.Add(t) && scope.Contains(t)) list.Add(t);
        scope.MoveToOuter(list);
    }

    /// <summary>Moves every tensor of <paramref name="output"/> that <paramref name="scope"/> owns out of it.</summary>
    public static T MoveOut<T>(DisposeScope scope, T output) where T : ModelOutput
    {
        MoveOut(scope, output.NamedTensors().Select(kv => kv.Value));
        return output;
    }
}
