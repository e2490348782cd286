using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>JSON as Python's <c>json.dumps</c> writes it: ASCII-escaped strings, <c>repr</c> floats, optional indents and sorted keys.</summary>
internal static class PythonJson
{
    private const string Indent = "    ";

    /// <summary>A dict: <c>{}</c> when empty, else one <c>"key": value</c> per line.</summary>
    public static void Object<T>(StringBuilder sb, int level, IEnumerable<KeyValuePair<string, T>> items, Action<StringBuilder, int, T> value)
    {
        bool first = true;
        foreach (var (k, v) in items)
        {
            sb.Append(first ? "{\n" : ",\n");
            first = false;
            for (int i = 0; i <= level; i++) sb.Append(Indent);
            String(sb, k);
            sb.Append(": ");
            value(sb, level + 1, v);
        }
        if (first) { sb.Append("{}"); return; }
        sb.Append('\n');
        for (int i = 0; i < level; i++) sb.Append(Indent);
        sb.Append('}');
    }

    /// <summary>A list: <c>[]</c> when empty, else one item per line.</summary>
    public static void Array<T>(StringBuilder sb, int level, IEnumerable<T> items, Action<StringBuilder, int, T> value)
    {
        bool first = true;
        foreach (var v in items)
        {
            sb.Append(first ? "[\n" : ",\n");
            first = false;
            for (int i = 0; i <= level; i++) sb.Append(Indent);
            value(sb, level + 1, v);
        }
        if (first) { sb.Append("[]"); return; }
        sb.Append('\n');
        for (int i = 0; i < level; i++) sb.Append(Indent);
        sb.Append(']');
    }

    /// <summary>
    /// A string as <c>json.dumps</c> with <c>ensure_ascii=True</c>: short escapes for <c>\" \\ \b \f \n \r \t</c>,
    /// <c>\uXXXX</c> (lower-case hex) for everything else outside space..tilde. With <paramref name="ensureAscii"/> false,
    /// serde_json's escaping (what safetensors headers hold): the same, but only control characters as <c>\u00XX</c>,
    /// every other character verbatim.
    /// </summary>
    public static void String(StringBuilder sb, string s, bool ensureAscii = true)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    // UTF-16 code units are what Python writes for code points above U+FFFF (a surrogate pair).
                    if (c < ' ' || (ensureAscii && c > '~')) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>
    /// Python's <c>float.__repr__</c> (what <c>json.dumps</c> writes): the shortest digits that round-trip, positional
    /// for decimal exponents -4 through 15 (with <c>.0</c> when integral), else <c>d.ddde±XX</c>; <c>NaN</c>,
    /// <c>Infinity</c>, <c>-Infinity</c>.
    /// </summary>
    public static string Float(double v)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsPositiveInfinity(v)) return "Infinity";
        if (double.IsNegativeInfinity(v)) return "-Infinity";
        string r = v.ToString("R", CultureInfo.InvariantCulture); // shortest round-trip digits (.NET Core 3.0+)
        bool negative = r.StartsWith('-');
        if (negative) r = r[1..];
        int exp = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp = int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        int dot = r.IndexOf('.');
        string digits = dot < 0 ? r : r[..dot] + r[(dot + 1)..];
        int decpt = (dot < 0 ? r.Length : dot) + exp; // value = 0.digits * 10^decpt
        int lead = 0;
        while (lead < digits.Length && digits[lead] == '0') lead++;
        digits = digits[lead..].TrimEnd('0');
        decpt -= lead;
        string sign = negative ? "-" : "";
        if (digits.Length == 0) return sign + "0.0";
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) return sign + "0." + new string('0', -decpt) + digits;
            if (decpt >= digits.Length) return sign + digits + new string('0', decpt - digits.Length) + ".0";
            return sign + digits[..decpt] + "." + digits[decpt..];
        }
        int x = decpt - 1;
        string mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        return sign + mantissa + "e" + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
    }
    /// <summary>Serialises <paramref name="node"/> with <paramref name="indent"/> spaces per level (0: Python's compact separators <c>", "</c> and <c>": "</c>).</summary>
    public static string Serialize(JsonNode? node, int indent = 2, bool sortKeys = false)
    {
        var sb = new StringBuilder();
        Write(sb, node, indent, sortKeys, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, JsonNode? node, int indent, bool sortKeys, int depth)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
            {
                if (o.Count == 0) { sb.Append("{}"); break; }
                sb.Append('{');
                var items = sortKeys ? o.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList() : o.ToList();
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(indent > 0 ? "," : ", ");
                    NewLine(sb, indent, depth + 1);
                    String(sb, items[i].Key);
                    sb.Append(": ");
                    Write(sb, items[i].Value, indent, sortKeys, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append('}');
                break;
            }
            case JsonArray a:
            {
                if (a.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(indent > 0 ? "," : ", ");
                    NewLine(sb, indent, depth + 1);
                    Write(sb, a[i], indent, sortKeys, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append(']');
                break;
            }
            case JsonValue v:
                WriteValue(sb, v);
                break;
        }
    }

    private static void WriteValue(StringBuilder sb, JsonValue v)
    {
        if (v.TryGetValue(out JsonElement el))
        {
            if (el.ValueKind == JsonValueKind.String) String(sb, el.GetString()!);
            else sb.Append(el.GetRawText());   // numbers as they were read (1.0 stays 1.0)
            return;
        }
        if (v.TryGetValue(out double d)) { sb.Append(Float(d)); return; }
        if (v.TryGetValue(out float f)) { sb.Append(Float(f)); return; }
        if (v.TryGetValue(out string? s)) { String(sb, s!); return; }
        if (v.TryGetValue(out bool b)) { sb.Append(b ? "true" : "false"); return; }
        sb.Append(v.ToJsonString());   // integers
    }

    private static void NewLine(StringBuilder sb, int indent, int depth)
    {
        if (indent <= 0) return;
        sb.Append('\n').Append(' ', indent * depth);
    }

    /// <summary>A JSON string as <c>json.dumps</c> writes it (<c>ensure_ascii=True</c>).</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        String(sb, s);
        return sb.ToString();
    }
}
