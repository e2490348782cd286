using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// Reads CSV / TSV the way <c>datasets</c>' csv builder does, which is <c>pandas.read_csv</c> with its default
/// options: a header row; RFC 4180 quoting with <c>"</c> (delimiters and line breaks inside quotes, <c>""</c> for a
/// quote); blank lines skipped; duplicate header names renamed <c>a.1</c>, <c>a.2</c> and empty ones
/// <c>Unnamed: i</c>; each column typed over all its cells (see <see cref="DataColumnType"/>); the default NA strings
/// (empty, <c>NA</c>, <c>NaN</c>, <c>null</c>, …) read as missing. Unlike pandas, which pads a short row with NaN, any row
/// whose field count differs from the header's is an error.
/// </summary>
internal static class CsvFormat
{
    // pandas.read_csv's default na_values (pandas/_libs/parsers.pyx, STR_NA_VALUES).
    private static readonly HashSet<string> NaValues = new(StringComparer.Ordinal)
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    };

    // pandas' default true_values / false_values for bool columns.
    private static readonly HashSet<string> TrueValues = new(StringComparer.Ordinal) { "True", "TRUE", "true" };
    private static readonly HashSet<string> FalseValues = new(StringComparer.Ordinal) { "False", "FALSE", "false" };

    public static DataTable Load(string path, char delimiter)
    {
        DataFileChecks.Require(path);
        if (delimiter is '"' or '\r' or '\n')
        {
            throw new ArgumentException($"'{delimiter}' cannot be a CSV delimiter.", nameof(delimiter));
        }
        List<string>? header = null;
        var cells = new List<string[]>();
        var lines = new List<int>();
        var fields = new List<string>();
        var field = new StringBuilder();
        using (var reader = new Utf8LineReader(path))
        {
            while (ReadRecord(reader, delimiter, fields, field, out int line))
            {
                if (header is null)
                {
                    header = [.. fields];
                    continue;
                }
                if (fields.Count != header.Count)
                {
                    throw new TrainingDataException(path, line, null, $"expected {header.Count} fields (as in the header), found {fields.Count}");
                }
                cells.Add([.. fields]);
                lines.Add(line);
            }
        }
        if (header is null)
        {
            throw DataFileChecks.NoExamples(path);
        }
        if (cells.Count == 0)
        {
            throw DataFileChecks.NoExamples(path, "only a header row");
        }
        var columns = new ColumnSet(ColumnNames(header));
        int width = columns.Names.Count;
        var types = new Dictionary<string, DataColumnType>(StringComparer.Ordinal);
        var values = new JsonNode?[cells.Count][];
        for (int r = 0; r < values.Length; r++)
        {
            values[r] = new JsonNode?[width];
        }
        for (int c = 0; c < width; c++)
        {
            types[columns.Names[c]] = TypeColumn(cells, c, values);
        }
        var rows = new DataRow[cells.Count];
        for (int r = 0; r < rows.Length; r++)
        {
            rows[r] = new DataRow(lines[r], new RowValues(columns, values[r]));
        }
        return new DataTable(path, columns.Names, rows, types);
    }

    /// <summary>
    /// The fields of the next record, which may span lines when a quoted field holds line breaks (kept as written);
    /// false at the end of the file. Lines that are empty or only spaces are skipped, as pandas' skip_blank_lines does.
    /// </summary>
    private static bool ReadRecord(Utf8LineReader reader, char delimiter, List<string> fields, StringBuilder field, out int startLine)
    {
        fields.Clear();
        field.Clear();
        startLine = 0;
        string? text;
        string terminator;
        do
        {
            text = reader.ReadLine(out terminator);
            if (text is null)
            {
                return false;
            }
        }
        while (IsBlank(text, delimiter));
        startLine = reader.LineNumber;

        bool inQuotes = false, quoteSeen = false, fieldStart = true;
        while (true)
        {
            foreach (char ch in text)
            {
                if (inQuotes)
                {
                    if (ch == '"')
                    {
                        inQuotes = false;
                        quoteSeen = true;
                    }
                    else
                    {
                        field.Append(ch);
                    }
                }
                else if (ch == '"' && (fieldStart || quoteSeen))
                {
                    // A quote opens a quoted field, or right after a closing quote is the second half of "" (a quote).
                    if (quoteSeen)
                    {
                        field.Append('"');
                    }
                    inQuotes = true;
                    quoteSeen = false;
                    fieldStart = false;
                }
                else if (ch == delimiter)
                {
                    fields.Add(field.ToString());
                    field.Clear();
                    fieldStart = true;
                    quoteSeen = false;
                }
                else
                {
                    // pandas keeps a quote inside an unquoted field, and characters after a closing quote, as text.
                    field.Append(ch);
                    fieldStart = false;
                    quoteSeen = false;
                }
            }
            if (!inQuotes)
            {
                fields.Add(field.ToString());
                return true;
            }
            // A line break inside quotes belongs to the field, as written.
            field.Append(terminator);
            text = reader.ReadLine(out terminator);
            if (text is null)
            {
                throw new TrainingDataException(reader.Path, startLine, null, "a quoted field starting in this record is never closed (missing '\"')");
            }
        }
    }

    private static bool IsBlank(string line, char delimiter)
    {
        foreach (char ch in line)
        {
            if (!(ch == ' ' || (ch == '\t' && delimiter != '\t')))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>pandas' names: an empty header cell is "Unnamed: i"; a repeated name gets ".1", ".2", … (mangle_dupe_cols).</summary>
    private static List<string> ColumnNames(List<string> header)
    {
        var names = new List<string>(header.Count);
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < header.Count; i++)
        {
            string name = header[i].Length == 0 ? $"Unnamed: {i}" : header[i];
            string unique = name;
            for (int k = 1; !used.Add(unique); k++)
            {
                unique = $"{name}.{k}";
            }
            names.Add(unique);
        }
        return names;
    }

    /// <summary>
    /// A column's type and values as pandas infers its dtype: every non-missing cell an integer and none missing →
    /// int64; all numbers (or integers with a missing cell) → float64; all True/False → bool; otherwise object (text).
    /// A column with only missing cells is float64 (all NaN). Missing cells become null.
    /// </summary>
    private static DataColumnType TypeColumn(List<string[]> cells, int c, JsonNode?[][] values)
    {
        bool allInt = true, allNumber = true, allBool = true, anyMissing = false;
        foreach (string[] row in cells)
        {
            string cell = row[c];
            if (NaValues.Contains(cell))
            {
                anyMissing = true;
                continue;
            }
            if (allInt && !TryInteger(cell, out _))
            {
                allInt = false;
            }
            if (allNumber && !allInt && !TryFloat(cell, out _))
            {
                allNumber = false;
            }
            if (allBool && !TrueValues.Contains(cell) && !FalseValues.Contains(cell))
            {
                allBool = false;
            }
        }
        DataColumnType type = allInt && !anyMissing ? DataColumnType.Integer
            : allNumber ? DataColumnType.Float
            : allBool ? DataColumnType.Bool
            : DataColumnType.String;
        for (int r = 0; r < cells.Count; r++)
        {
            string cell = cells[r][c];
            if (NaValues.Contains(cell))
            {
                continue;
            }
            values[r][c] = type switch
            {
                DataColumnType.Integer => JsonValue.Create(TryInteger(cell, out long l) ? l : 0L),
                DataColumnType.Float => TryFloat(cell, out double d) && !double.IsNaN(d) ? JsonValue.Create(d) : null,
                DataColumnType.Bool => JsonValue.Create(TrueValues.Contains(cell)),
                _ => JsonValue.Create(cell),
            };
        }
        return type;
    }

    private static bool TryInteger(string cell, out long value)
        => long.TryParse(cell, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>pandas' float parsing: decimal or exponent notation, and inf / infinity in any case with a sign.</summary>
    private static bool TryFloat(string cell, out double value)
    {
        ReadOnlySpan<char> s = cell.AsSpan().Trim(' ');
        ReadOnlySpan<char> unsigned = s.Length > 0 && s[0] is '+' or '-' ? s[1..] : s;
        if (unsigned.Equals("inf", StringComparison.OrdinalIgnoreCase) || unsigned.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = s[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        // .NET also accepts "NaN" and "Infinity" spellings handled above or as NA; refuse anything without a digit.
        if (!unsigned.ContainsAnyInRange('0', '9'))
        {
            value = 0;
            return false;
        }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }
}
