using System.Text;
using System.Text.Json.Nodes;

namespace DebertaSharp.Tests.Training;

/// <summary>Small helpers for the data-file reader tests.</summary>
internal static class DataTestFiles
{
    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark and returns the path.</summary>
    public static string Write(TempDir tmp, string name, string text)
    {
        string path = tmp[name];
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
        return path;
    }

    /// <summary>The value of a row's cell as compact JSON ("null" for null).</summary>
    public static string Json(JsonNode? node) => node?.ToJsonString() ?? "null";

    /// <summary>A cell's CLR value, as held by the <see cref="JsonValue"/>.</summary>
    public static object? Clr(JsonNode? node) => node?.AsValue().GetValue<object>();
}
