using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>One example read from a data file.</summary>
/// <param name="Line">The 1-based line of the file where the example starts (for CoNLL, the sentence's first token line).</param>
/// <param name="Values">
/// Column → value, holding every column of the table in the table's column order (a key the record lacked is null).
/// The CLR type inside each <see cref="JsonValue"/> follows the column's <see cref="DataColumnType"/>.
/// </param>
public sealed record DataRow(int Line, IReadOnlyDictionary<string, JsonNode?> Values);

/// <summary>
/// The type of a column, inferred over the whole column as Arrow infers it when <c>datasets</c> loads the file
/// (from pandas' dtypes for CSV). <c>run_glue</c> decides on regression when the label column is <see cref="Float"/>
/// and sorts <see cref="String"/> labels, so the rules matter.
/// </summary>
public enum DataColumnType
{
    /// <summary>Only integers and no missing value: each value is a <see cref="JsonValue"/> holding a <see cref="long"/> (read it with <c>GetValue&lt;long&gt;()</c>).</summary>
    Integer,

    /// <summary>Numbers, at least one not an integer, or integers with missing values (pandas' float64): a <see cref="double"/>, or null for NaN / missing.</summary>
    Float,

    /// <summary>Only booleans (CSV: <c>True</c>/<c>False</c> and the other spellings pandas accepts): a <see cref="bool"/>, or null when missing.</summary>
    Bool,

    /// <summary>Text, or a mixture of kinds that includes text: a <see cref="string"/>, or null when missing (a CSV cell keeps its text as written).</summary>
    String,

    /// <summary>JSON arrays (CoNLL's <c>tokens</c> and <c>ner_tags</c>): a <see cref="JsonArray"/>, or null.</summary>
    List,

    /// <summary>JSON objects (SQuAD's <c>answers</c>): a <see cref="JsonObject"/>, or null.</summary>
    Object,

    /// <summary>Every value is missing (null).</summary>
    Null,
}

/// <summary>The examples of one data file, read by <see cref="DataFiles"/>: named columns and typed rows.</summary>
public sealed class DataTable
{
    private readonly Dictionary<string, DataColumnType> _types;

    internal DataTable(string path, IReadOnlyList<string> columns, IReadOnlyList<DataRow> rows, Dictionary<string, DataColumnType> types)
    {
        Path = path;
        Columns = columns;
        Rows = rows;
        _types = types;
    }

    /// <summary>The same table with other rows (a split of this one).</summary>
    internal DataTable WithRows(IReadOnlyList<DataRow> rows) => new(Path, Columns, rows, _types);

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The column names, in the order of the file (CSV header; JSON keys in first-seen order).</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>The examples, in file order.</summary>
    public IReadOnlyList<DataRow> Rows { get; }

    /// <summary>The inferred type of <paramref name="column"/>.</summary>
    /// <exception cref="TrainingDataException">The file has no such column (the message lists those it has).</exception>
    public DataColumnType TypeOf(string column)
    {
        ArgumentNullException.ThrowIfNull(column);
        if (_types.TryGetValue(column, out DataColumnType type))
        {
            return type;
        }
        throw new TrainingDataException(Path, null, column, $"no such column; the file has {string.Join(", ", Columns.Select(c => $"'{c}'"))}");
    }

    /// <summary>
    /// Builds a table from JSON records: columns are the union of the keys in first-seen order, each column's type is
    /// inferred over all its values (<see cref="InferAndNormalize"/>) and every row gets every column.
    /// </summary>
    internal static DataTable FromRecords(string path, RecordSet records)
    {
        if (records.Count == 0)
        {
            throw DataFileChecks.NoExamples(path);
        }
        var columns = new ColumnSet(records.Columns);
        int width = columns.Names.Count;
        var types = new Dictionary<string, DataColumnType>(StringComparer.Ordinal);
        var rowValues = new JsonNode?[records.Count][];
        for (int r = 0; r < records.Count; r++)
        {
            JsonNode?[] values = records.Values[r];
            if (values.Length < width)
            {
                Array.Resize(ref values, width); // keys first seen after this record: null
            }
            rowValues[r] = values;
        }
        var column = new JsonNode?[records.Count];
        for (int c = 0; c < width; c++)
        {
            for (int r = 0; r < column.Length; r++)
            {
                column[r] = rowValues[r][c];
            }
            types[columns.Names[c]] = InferAndNormalize(column);
            for (int r = 0; r < column.Length; r++)
            {
                rowValues[r][c] = column[r];
            }
        }
        var rows = new DataRow[records.Count];
        for (int r = 0; r < rows.Length; r++)
        {
            rows[r] = new DataRow(records.Lines[r], new RowValues(columns, rowValues[r]));
        }
        return new DataTable(path, columns.Names, rows, types);
    }

    /// <summary>
    /// Infers a JSON column's type over all its values and makes them agree with it: integers mixed with other numbers
    /// become doubles (Arrow's int64 + double → double), and a mixture that Arrow cannot hold in one type
    /// (e.g. numbers and strings, or lists and scalars) becomes <see cref="DataColumnType.String"/> with every
    /// non-string value as its compact JSON text (like <c>datasets</c>' <c>on_mixed_types="use_json"</c>).
    /// </summary>
    internal static DataColumnType InferAndNormalize(JsonNode?[] column)
    {
        bool anyInt = false, anyFloat = false, anyBool = false, anyString = false, anyList = false, anyObject = false;
        foreach (JsonNode? node in column)
        {
            switch (node)
            {
                case null:
                    break;
                case JsonArray:
                    anyList = true;
                    break;
                case JsonObject:
                    anyObject = true;
                    break;
                default:
                    switch (node.AsValue().GetValue<object>())
                    {
                        case long:
                            anyInt = true;
                            break;
                        case double:
                            anyFloat = true;
                            break;
                        case bool:
                            anyBool = true;
                            break;
                        default:
                            anyString = true;
                            break;
                    }
                    break;
            }
        }
        int kinds = (anyInt || anyFloat ? 1 : 0) + (anyBool ? 1 : 0) + (anyString ? 1 : 0) + (anyList ? 1 : 0) + (anyObject ? 1 : 0);
        if (kinds == 0)
        {
            return DataColumnType.Null;
        }
        if (kinds > 1)
        {
            for (int i = 0; i < column.Length; i++)
            {
                if (column[i] is JsonNode node && !(node is JsonValue v && v.GetValue<object>() is string))
                {
                    column[i] = JsonValue.Create(node.ToJsonString());
                }
            }
            return DataColumnType.String;
        }
        if (anyFloat && anyInt)
        {
            for (int i = 0; i < column.Length; i++)
            {
                if (column[i] is JsonValue v && v.GetValue<object>() is long l)
                {
                    column[i] = JsonValue.Create((double)l);
                }
            }
        }
        return anyFloat ? DataColumnType.Float
            : anyInt ? DataColumnType.Integer
            : anyBool ? DataColumnType.Bool
            : anyString ? DataColumnType.String
            : anyList ? DataColumnType.List
            : DataColumnType.Object;
    }
}

/// <summary>Column names and their positions, shared by all the rows of a table.</summary>
internal sealed class ColumnSet
{
    public ColumnSet(IReadOnlyList<string> names)
    {
        Names = [.. names];
        Index = new Dictionary<string, int>(Names.Count, StringComparer.Ordinal);
        for (int i = 0; i < Names.Count; i++)
        {
            Index.Add(Names[i], i);
        }
    }

    /// <summary>The names in order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Name → position.</summary>
    public Dictionary<string, int> Index { get; }
}

/// <summary>
/// One row's values as a read-only dictionary over the table's shared <see cref="ColumnSet"/>: two objects per row
/// instead of a hash table each, which matters for files of a few million rows.
/// </summary>
internal sealed class RowValues : IReadOnlyDictionary<string, JsonNode?>
{
    private readonly ColumnSet _columns;
    private readonly JsonNode?[] _values;

    public RowValues(ColumnSet columns, JsonNode?[] values)
    {
        _columns = columns;
        _values = values;
    }

    public JsonNode? this[string key] => _columns.Index.TryGetValue(key, out int i)
        ? _values[i]
        : throw new KeyNotFoundException($"No column '{key}'; the columns are {string.Join(", ", _columns.Names.Select(c => $"'{c}'"))}.");

    public IEnumerable<string> Keys => _columns.Names;

    public IEnumerable<JsonNode?> Values => _values;

    public int Count => _values.Length;

    public bool ContainsKey(string key) => _columns.Index.ContainsKey(key);

    public bool TryGetValue(string key, out JsonNode? value)
    {
        if (_columns.Index.TryGetValue(key, out int i))
        {
            value = _values[i];
            return true;
        }
        value = null;
        return false;
    }

    public IEnumerator<KeyValuePair<string, JsonNode?>> GetEnumerator()
    {
        for (int i = 0; i < _values.Length; i++)
        {
            yield return new KeyValuePair<string, JsonNode?>(_columns.Names[i], _values[i]);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// Records being read from a JSON file: the union of their keys in first-seen order and, per record, its values by
/// key position (shorter than the final width when later records bring new keys). A key repeated within a record
/// keeps the last value, as Python's <c>json</c> does.
/// </summary>
internal sealed class RecordSet
{
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private JsonNode?[] _current = new JsonNode?[8];
    private int _currentWidth;

    public List<string> Columns { get; } = [];

    public List<JsonNode?[]> Values { get; } = [];

    public List<int> Lines { get; } = [];

    public int Count => Values.Count;

    /// <summary>Sets a value of the record being read.</summary>
    public void Set(string key, JsonNode? value)
    {
        if (!_index.TryGetValue(key, out int i))
        {
            i = Columns.Count;
            _index.Add(key, i);
            Columns.Add(key);
        }
        if (i >= _current.Length)
        {
            Array.Resize(ref _current, Math.Max(_current.Length * 2, i + 1));
        }
        _current[i] = value;
        _currentWidth = Math.Max(_currentWidth, i + 1);
    }

    /// <summary>Ends the record being read, which starts on <paramref name="line"/>.</summary>
    public void EndRecord(int line)
    {
        Values.Add(_current.AsSpan(0, _currentWidth).ToArray());
        Lines.Add(line);
        Array.Clear(_current, 0, _currentWidth);
        _currentWidth = 0;
    }
}
