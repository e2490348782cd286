using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Pipelines;

/// <summary>
/// Reads the JSON <c>parameters</c> of the question-answering and zero-shot pipelines: each reader names the field in
/// its <see cref="ArgumentException"/>, so that the CLI and the server can report it.
/// </summary>
internal static class OtherTaskParameters
{
    /// <summary>Fails on a parameter the task does not know.</summary>
    public static void RejectUnknown(JsonObject? parameters, string task, IReadOnlyCollection<string> known)
    {
        if (parameters is null) return;
        foreach (var (key, _) in parameters)
            if (!known.Contains(key))
                throw new ArgumentException($"unknown parameter '{key}' for {task} (known: {string.Join(", ", known)})", key);
    }

    /// <summary>An integer parameter (a JSON number with an integral value), or null when absent or JSON null.</summary>
    public static int? Int(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            if (v.TryGetValue<int>(out int i)) return i;
            if (v.TryGetValue<double>(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue) return (int)d;
        }
        throw new ArgumentException($"parameter '{name}' must be an integer, got {node.ToJsonString()}", name);
    }

    /// <summary>A boolean parameter, or null when absent or JSON null.</summary>
    public static bool? Bool(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw new ArgumentException($"parameter '{name}' must be true or false, got {node.ToJsonString()}", name);
    }

    /// <summary>A string parameter, or null when absent or JSON null.</summary>
    public static string? String(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new ArgumentException($"parameter '{name}' must be a string, got {node.ToJsonString()}", name);
    }

    /// <summary>The string value of <paramref name="node"/>, failing with a message naming <paramref name="what"/>.</summary>
    public static string AsString(JsonNode? node, string what)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new ArgumentException($"{what} must be a string, got {(node is null ? "null" : node.ToJsonString())}", what);
    }
}
