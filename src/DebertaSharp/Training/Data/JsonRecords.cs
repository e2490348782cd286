using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// Builds <see cref="JsonNode"/> trees with <see cref="Utf8JsonReader"/>, holding plain CLR values (an integer that
/// fits as <see cref="long"/>, any other number as <see cref="double"/>, <see cref="string"/>, <see cref="bool"/>) so
/// that column types can be inferred like Arrow does, and remembering the line each object starts on.
/// Duplicate keys keep the last value in the first key's place, as Python's <c>json</c> does.
/// </summary>
internal sealed class JsonTreeBuilder
{
    private readonly ReadOnlyMemory<byte> _text;
    private readonly int _trackedDepth;
    private int _lineCursor;
    private int _line = 1;

    /// <summary>A builder for one document (<paramref name="text"/>: validated UTF-8).</summary>
    /// <param name="text">The document.</param>
    /// <param name="trackedDepth">The deepest nesting (0: the root) whose objects get their line in <see cref="ObjectLines"/>; -1 for none.</param>
    public JsonTreeBuilder(ReadOnlyMemory<byte> text, int trackedDepth)
    {
        _text = text;
        _trackedDepth = trackedDepth;
    }

    /// <summary>The 1-based line each object (down to the tracked depth) starts on.</summary>
    public Dictionary<JsonObject, int> ObjectLines { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Reads the single JSON value of the text; throws <see cref="JsonException"/> when it is not exactly one valid value.</summary>
    public JsonNode? ReadDocument()
    {
        var reader = new Utf8JsonReader(_text.Span, new JsonReaderOptions { MaxDepth = 256 });
        if (!reader.Read())
        {
            throw new JsonException("The input does not contain any JSON tokens.");
        }
        JsonNode? root = ReadValue(ref reader, 0);
        if (reader.Read())
        {
            throw new JsonException($"'{(char)_text.Span[(int)reader.TokenStartIndex]}' is invalid after a single JSON value. Expected end of data.");
        }
        return root;
    }

    /// <summary>
    /// Reads one line of a JSON lines file into <paramref name="records"/> when it holds a JSON object (returning
    /// true); otherwise returns false with the kind of value found in <paramref name="kind"/>.
    /// </summary>
    public static bool ReadRecordLine(ReadOnlySpan<byte> line, int lineNumber, RecordSet records, out JsonValueKind kind)
    {
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 256 });
        if (!reader.Read())
        {
            throw new JsonException("The input does not contain any JSON tokens.");
        }
        var builder = new JsonTreeBuilder(ReadOnlyMemory<byte>.Empty, -1);
        kind = JsonValueKind.Object;
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                reader.Read();
                records.Set(key, builder.ReadValue(ref reader, 1));
            }
        }
        else
        {
            kind = builder.ReadValue(ref reader, 0)?.GetValueKind() ?? JsonValueKind.Null;
        }
        if (reader.Read())
        {
            throw new JsonException("Only one JSON value may be on a line of a JSON lines file.");
        }
        if (kind == JsonValueKind.Object)
        {
            records.EndRecord(lineNumber);
        }
        return kind == JsonValueKind.Object;
    }

    private JsonNode? ReadValue(ref Utf8JsonReader reader, int depth)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var obj = new JsonObject();
                if (depth <= _trackedDepth)
                {
                    ObjectLines[obj] = LineAt(reader.TokenStartIndex);
                }
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    string key = reader.GetString()!;
                    reader.Read();
                    obj[key] = ReadValue(ref reader, depth + 1);
                }
                return obj;
            }
            case JsonTokenType.StartArray:
            {
                var items = new JsonArray();
                bool anyLong = false, anyDouble = false;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    JsonNode? item = ReadValue(ref reader, depth + 1);
                    if (item is JsonValue v)
                    {
                        object o = v.GetValue<object>();
                        anyLong |= o is long;
                        anyDouble |= o is double;
                    }
                    items.Add(item);
                }
                if (anyLong && anyDouble)
                {
                    // Arrow reads [1, 2.5] as list<double>; keep one number type per list likewise.
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (items[i] is JsonValue v && v.GetValue<object>() is long l)
                        {
                            items[i] = JsonValue.Create((double)l);
                        }
                    }
                }
                return items;
            }
            case JsonTokenType.String:
                return JsonValue.Create(reader.GetString()!);
            case JsonTokenType.Number:
                return reader.TryGetInt64(out long integer) ? JsonValue.Create(integer) : JsonValue.Create(reader.GetDouble());
            case JsonTokenType.True:
                return JsonValue.Create(true);
            case JsonTokenType.False:
                return JsonValue.Create(false);
            case JsonTokenType.Null:
                return null;
            default:
                throw new JsonException($"Unexpected JSON token {reader.TokenType}.");
        }
    }

    private int LineAt(long offset)
    {
        ReadOnlySpan<byte> span = _text.Span;
        int target = (int)offset;
        if (target > _lineCursor)
        {
            _line += span[_lineCursor..target].Count((byte)'\n');
            _lineCursor = target;
        }
        return _line;
    }
}

/// <summary>
/// Finds the records of a JSON data file the way <c>datasets</c>' json builder does: JSON lines (one object per
/// line), or one JSON document — an array of objects (an array of scalars gives one column <c>text</c>), or an
/// object whose <c>field</c> holds the records (an array of objects, or an object of equal-length columns).
/// </summary>
internal static class JsonRecords
{
    /// <summary>The records of <paramref name="path"/>, with the line each starts on.</summary>
    /// <param name="path">The file (already checked).</param>
    /// <param name="field">The key of the top-level object holding the records; null for JSON lines, a top-level array,
    /// or an object whose <c>data</c> key is an array of objects (the layout of Hugging Face's SQuAD files).</param>
    /// <param name="trackedDepth">In one JSON document, the deepest nesting whose objects' lines are wanted (records lie at 1 or 2).</param>
    /// <param name="objectLines">The start line of those objects (none for JSON lines, where each record's line is known).</param>
    public static RecordSet Read(string path, string? field, int trackedDepth, out IReadOnlyDictionary<JsonObject, int> objectLines)
    {
        objectLines = new Dictionary<JsonObject, int>();
        if (field is null && !StartsAsDocument(path))
        {
            RecordSet lines = ReadLines(path);
            // One object on one line whose "data" holds the records: json.dump's output of {"data": [...]}.
            int data = lines.Columns.IndexOf("data");
            if (lines.Count == 1 && data >= 0 && IsArrayOfObjects(lines.Values[0][data]))
            {
                return Records(path, (JsonArray)lines.Values[0][data]!, new Dictionary<JsonObject, int>(), lines.Lines[0]);
            }
            return lines;
        }
        ReadOnlyMemory<byte> text = Utf8Text.ReadAll(path);
        var builder = new JsonTreeBuilder(text, trackedDepth);
        JsonNode? root;
        try
        {
            root = builder.ReadDocument();
        }
        catch (JsonException e)
        {
            string hint = field is null ? "" : $" (with a field, '{field}', the file must be one JSON document)";
            throw new TrainingDataException(path, (int)(e.LineNumber ?? 0) + 1, null, "invalid JSON: " + JsonError(e) + hint);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new TrainingDataException(path, null, null, "invalid JSON: " + e.Message, e);
        }
        objectLines = builder.ObjectLines;
        JsonNode? records = root;
        if (field is not null)
        {
            if (root is not JsonObject top || !top.TryGetPropertyValue(field, out records))
            {
                string keys = root is JsonObject o ? string.Join(", ", o.Select(p => $"'{p.Key}'")) : "none (the document is not an object)";
                throw new TrainingDataException(path, null, field, $"the JSON document has no field '{field}'; its top-level keys are {keys}");
            }
        }
        else if (root is JsonObject top)
        {
            if (!top.TryGetPropertyValue("data", out records) || records is not JsonArray)
            {
                throw new TrainingDataException(path, 1, null,
                    $"the JSON document is one object with keys {string.Join(", ", top.Select(p => $"'{p.Key}'"))}; pass the field that holds the records (or write one JSON object per line)");
            }
        }
        switch (records)
        {
            case JsonArray array:
                return Records(path, array, builder.ObjectLines, 1);
            case JsonObject columns when field is not null:
                return Columnar(path, columns, field);
            default:
                throw new TrainingDataException(path, null, field, $"expected an array of records, found {records?.GetValueKind().ToString() ?? "null"}");
        }
    }

    private static bool IsArrayOfObjects(JsonNode? node) => node is JsonArray a && a.Count > 0 && a.All(x => x is JsonObject);

    /// <summary>
    /// Whether the file is one JSON document rather than JSON lines: it starts with '[' (as <c>datasets</c> checks), or
    /// its first non-blank line is the incomplete start of a value (a pretty-printed object).
    /// </summary>
    private static bool StartsAsDocument(string path)
    {
        using var lines = new Utf8LineReader(path);
        while (lines.TryReadLine(out ReadOnlySpan<byte> line, out _))
        {
            ReadOnlySpan<byte> trimmed = line.TrimStart(" \t"u8);
            if (trimmed.IsEmpty)
            {
                continue;
            }
            if (trimmed[0] == (byte)'[')
            {
                return true;
            }
            var reader = new Utf8JsonReader(trimmed, isFinalBlock: false, default);
            try
            {
                return !reader.Read() || !reader.TrySkip();
            }
            catch (JsonException)
            {
                return false; // malformed: reported as a bad line of JSON lines
            }
        }
        return false;
    }

    private static RecordSet ReadLines(string path)
    {
        var records = new RecordSet();
        using var lines = new Utf8LineReader(path);
        while (lines.TryReadLine(out ReadOnlySpan<byte> line, out _))
        {
            if (line.Trim(" \t"u8).IsEmpty)
            {
                continue;
            }
            bool isObject;
            JsonValueKind kind;
            try
            {
                isObject = JsonTreeBuilder.ReadRecordLine(line, lines.LineNumber, records, out kind);
            }
            catch (JsonException e)
            {
                throw new TrainingDataException(path, lines.LineNumber, null, "invalid JSON: " + JsonError(e));
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                // e.g. an escaped lone surrogate ("\ud800"), which a .NET string cannot hold as text
                throw new TrainingDataException(path, lines.LineNumber, null, "invalid JSON: " + e.Message, e);
            }
            if (!isObject)
            {
                throw new TrainingDataException(path, lines.LineNumber, null, $"expected a JSON object on each line, found {Describe(kind)}");
            }
        }
        return records;
    }

    private static RecordSet Records(string path, JsonArray array, Dictionary<JsonObject, int> objectLines, int defaultLine)
    {
        var records = new RecordSet();
        bool objects = array.Count > 0 && array[0] is JsonObject;
        for (int i = 0; i < array.Count; i++)
        {
            JsonNode? item = array[i];
            if (!objects)
            {
                // datasets turns a list of strings into one column "text".
                if (item is JsonObject or JsonArray)
                {
                    throw new TrainingDataException(path, null, null, $"record {i + 1}: the array mixes scalars and {Describe(item.GetValueKind())}s");
                }
                records.Set("text", item?.DeepClone());
                records.EndRecord(defaultLine);
                continue;
            }
            if (item is not JsonObject obj)
            {
                throw new TrainingDataException(path, null, null, $"record {i + 1} is {Describe(item?.GetValueKind() ?? JsonValueKind.Null)}, not a JSON object");
            }
            foreach (KeyValuePair<string, JsonNode?> property in obj)
            {
                records.Set(property.Key, property.Value);
            }
            obj.Clear(); // detaches the values, so callers may put them into other nodes
            records.EndRecord(objectLines.GetValueOrDefault(obj, defaultLine));
        }
        return records;
    }

    private static RecordSet Columnar(string path, JsonObject columns, string field)
    {
        // {"field": {"a": [...], "b": [...]}}: pandas.read_json of a dict of equal-length lists.
        int count = -1;
        foreach (KeyValuePair<string, JsonNode?> column in columns)
        {
            if (column.Value is not JsonArray values || (count >= 0 && values.Count != count))
            {
                throw new TrainingDataException(path, null, column.Key, $"'{field}' is an object, so each of its keys must hold an array of the same length");
            }
            count = values.Count;
        }
        var records = new RecordSet();
        for (int i = 0; i < Math.Max(count, 0); i++)
        {
            foreach (KeyValuePair<string, JsonNode?> column in columns)
            {
                records.Set(column.Key, ((JsonArray)column.Value!)[i]?.DeepClone());
            }
            records.EndRecord(i + 1);
        }
        return records;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    /// <summary>The reader's message without its "LineNumber: … | BytePositionInLine: …" suffix, with the position in words.</summary>
    internal static string JsonError(JsonException e)
    {
        string message = e.Message;
        int at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (at >= 0)
        {
            message = message[..at];
        }
        return e.BytePositionInLine is long position ? $"{message} (at byte {position + 1} of the line)" : message;
    }

    /// <summary>The text of a record key for messages.</summary>
    internal static string Text(JsonNode? node) => node is null ? "null" : node is JsonValue v && v.GetValue<object>() is string s ? s : node.ToJsonString();
}
