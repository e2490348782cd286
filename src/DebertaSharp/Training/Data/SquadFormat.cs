using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// Reads question-answering data into the flat rows <c>run_qa.py</c> works on (the columns of Hugging Face's
/// <c>squad</c> / <c>squad_v2</c> data sets): the official nested SQuAD v1.1 / v2.0 JSON, or flat records.
/// </summary>
internal static class SquadFormat
{
    private static readonly ColumnSet Columns = new(["id", "title", "context", "question", "answers"]);

    public static DataTable Load(string path)
    {
        DataFileChecks.Require(path);
        RecordSet records = JsonRecords.Read(path, null, trackedDepth: 6, out IReadOnlyDictionary<JsonObject, int> objectLines);
        var keys = new ColumnSet(records.Columns);
        var rows = new List<DataRow>();
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        bool nested = keys.Index.ContainsKey("paragraphs"); // articles of the official format; flat records have no such key
        for (int r = 0; r < records.Count; r++)
        {
            int line = records.Lines[r];
            JsonNode?[] values = records.Values[r];
            if (values.Length < keys.Names.Count)
            {
                Array.Resize(ref values, keys.Names.Count);
            }
            var record = new RowValues(keys, values);
            if (nested)
            {
                // data[] = {title, paragraphs[] = {context, qas[] = {id, question, answers[] = {text, answer_start}, is_impossible?}}}
                string title = OptionalString(path, line, record, "title");
                foreach (JsonNode? paragraph in RequiredArray(path, line, record, "paragraphs"))
                {
                    int paragraphLine = LineOf(paragraph, objectLines, line);
                    if (paragraph is not JsonObject p)
                    {
                        throw new TrainingDataException(path, paragraphLine, "paragraphs", "each paragraph must be an object");
                    }
                    Dictionary<string, JsonNode?> paragraphFields = p.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                    string context = RequiredString(path, paragraphLine, paragraphFields, "context");
                    foreach (JsonNode? qa in RequiredArray(path, paragraphLine, paragraphFields, "qas"))
                    {
                        int qaLine = LineOf(qa, objectLines, paragraphLine);
                        if (qa is not JsonObject q)
                        {
                            throw new TrainingDataException(path, qaLine, "qas", "each question must be an object");
                        }
                        IReadOnlyDictionary<string, JsonNode?> fields = q.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                        rows.Add(Row(path, qaLine, fields, title, context, ids));
                    }
                }
            }
            else
            {
                rows.Add(Row(path, line, record, OptionalString(path, line, record, "title"), RequiredString(path, line, record, "context"), ids));
            }
        }
        if (rows.Count == 0)
        {
            throw DataFileChecks.NoExamples(path, "no questions");
        }
        var types = new Dictionary<string, DataColumnType>(StringComparer.Ordinal)
        {
            ["id"] = DataColumnType.String,
            ["title"] = DataColumnType.String,
            ["context"] = DataColumnType.String,
            ["question"] = DataColumnType.String,
            ["answers"] = DataColumnType.Object,
        };
        return new DataTable(path, Columns.Names, rows, types);
    }

    private static DataRow Row(string path, int line, IReadOnlyDictionary<string, JsonNode?> fields, string title, string context, Dictionary<string, int> ids)
    {
        string id = fields.GetValueOrDefault("id") switch
        {
            JsonValue v when v.GetValue<object>() is string s => s,
            JsonValue v when v.GetValue<object>() is long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new TrainingDataException(path, line, "id", "each question needs an \"id\" (a string)"),
        };
        if (!ids.TryAdd(id, line))
        {
            throw new TrainingDataException(path, line, "id", $"question id '{id}' appears twice (first on line {ids[id]})");
        }
        string question = RequiredString(path, line, fields, "question");
        var texts = new JsonArray();
        var starts = new JsonArray();
        bool impossible = fields.GetValueOrDefault("is_impossible") is JsonValue flag && flag.GetValue<object>() is true;
        if (!impossible)
        {
            foreach ((JsonNode? text, JsonNode? start) in Answers(path, line, id, fields.GetValueOrDefault("answers")))
            {
                if (text is not JsonValue tv || tv.GetValue<object>() is not string answer)
                {
                    throw new TrainingDataException(path, line, "answers", $"question '{id}': each answer's text must be a string");
                }
                if (start is not JsonValue sv || sv.GetValue<object>() is not long offset)
                {
                    throw new TrainingDataException(path, line, "answers", $"question '{id}': answer_start must be an integer, found {JsonRecords.Text(start)}");
                }
                CheckSpan(path, line, id, context, answer, offset);
                texts.Add(answer);
                starts.Add(offset);
            }
        }
        var answers = new JsonObject { ["text"] = texts, ["answer_start"] = starts };
        return new DataRow(line, new RowValues(Columns, [id, title, context, question, answers]));
    }

    /// <summary>The (text, answer_start) pairs of SQuAD's list of objects or Hugging Face's object of two lists.</summary>
    private static IEnumerable<(JsonNode?, JsonNode?)> Answers(string path, int line, string id, JsonNode? answers)
    {
        switch (answers)
        {
            case null:
                yield break;
            case JsonArray list:
                foreach (JsonNode? answer in list)
                {
                    if (answer is not JsonObject a)
                    {
                        throw new TrainingDataException(path, line, "answers", $"question '{id}': each answer must be an object {{\"text\", \"answer_start\"}}");
                    }
                    yield return (a["text"], a["answer_start"]);
                }
                break;
            case JsonObject columns when columns["text"] is JsonArray texts && columns["answer_start"] is JsonArray starts:
                if (texts.Count != starts.Count)
                {
                    throw new TrainingDataException(path, line, "answers", $"question '{id}': {texts.Count} answer texts but {starts.Count} answer_start values");
                }
                for (int i = 0; i < texts.Count; i++)
                {
                    yield return (texts[i], starts[i]);
                }
                break;
            default:
                throw new TrainingDataException(path, line, "answers",
                    $"question '{id}': answers must be {{\"text\": [...], \"answer_start\": [...]}} or a list of {{\"text\", \"answer_start\"}}");
        }
    }

    /// <summary>
    /// Checks that <paramref name="answer"/> is found at <paramref name="start"/> in the context. Offsets count Unicode
    /// code points, as Python's <c>str</c> indexing (and so SQuAD and <c>run_qa.py</c>) does, not UTF-16 units.
    /// </summary>
    private static void CheckSpan(string path, int line, string id, string context, string answer, long start)
    {
        int length = CodePoints(context);
        int answerLength = CodePoints(answer);
        if (start < 0 || start + answerLength > length)
        {
            throw new TrainingDataException(path, line, "answers",
                $"question '{id}': answer_start {start} with an answer of {answerLength} characters is outside the context ({length} characters)");
        }
        int from = Utf16Index(context, (int)start);
        int to = Utf16Index(context, (int)start + answerLength);
        string found = context[from..to];
        if (!string.Equals(found, answer, StringComparison.Ordinal))
        {
            throw new TrainingDataException(path, line, "answers",
                $"question '{id}': the context at answer_start {start} reads \"{found}\", not the answer text \"{answer}\"");
        }
    }

    private static int CodePoints(string s)
    {
        int surrogates = 0;
        foreach (char c in s)
        {
            surrogates += char.IsHighSurrogate(c) ? 1 : 0;
        }
        return s.Length - surrogates;
    }

    private static int Utf16Index(string s, int codePoint)
    {
        int index = 0;
        for (int n = 0; n < codePoint && index < s.Length; n++)
        {
            index += char.IsHighSurrogate(s[index]) && index + 1 < s.Length ? 2 : 1;
        }
        return index;
    }

    private static int LineOf(JsonNode? node, IReadOnlyDictionary<JsonObject, int> lines, int fallback)
        => node is JsonObject o && lines.TryGetValue(o, out int line) ? line : fallback;

    private static string RequiredString(string path, int line, IReadOnlyDictionary<string, JsonNode?> fields, string key)
        => fields.GetValueOrDefault(key) is JsonValue v && v.GetValue<object>() is string s
            ? s
            : throw new TrainingDataException(path, line, key, $"\"{key}\" must be a string, found {JsonRecords.Text(fields.GetValueOrDefault(key))}");

    private static string OptionalString(string path, int line, IReadOnlyDictionary<string, JsonNode?> fields, string key)
        => fields.GetValueOrDefault(key) is null ? "" : RequiredString(path, line, fields, key);

    private static JsonArray RequiredArray(string path, int line, IReadOnlyDictionary<string, JsonNode?> fields, string key)
        => fields.GetValueOrDefault(key) as JsonArray
            ?? throw new TrainingDataException(path, line, key, $"\"{key}\" must be an array");
}
