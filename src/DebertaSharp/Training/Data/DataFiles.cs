using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// Reads the data files of Hugging Face's example scripts (<c>run_glue.py</c>, <c>run_ner.py</c>, <c>run_mlm.py</c>,
/// <c>run_qa.py</c>), which load them with <c>datasets.load_dataset("csv" | "json" | "text", data_files=...)</c>,
/// into a <see cref="DataTable"/> with the same columns, rows and column types.
/// </summary>
/// <remarks>
/// Every reader: throws <see cref="FileNotFoundException"/> for a missing file and a <see cref="TrainingDataException"/>
/// for a directory, a file without examples, bytes that are not UTF-8 (naming the line) or a malformed record (naming
/// the line and, where it applies, the column); accepts a UTF-8 byte-order mark; reads <c>\n</c>, <c>\r\n</c> and
/// <c>\r</c> line ends.
/// </remarks>
public static class DataFiles
{
    /// <summary>
    /// Reads <paramref name="path"/> with the reader its extension names: <c>.csv</c> (<see cref="LoadCsv"/>),
    /// <c>.tsv</c> (<see cref="LoadCsv"/> with a tab), <c>.json</c> / <c>.jsonl</c> (<see cref="LoadJson"/>),
    /// <c>.txt</c> (<see cref="LoadText"/>) or <c>.conll</c> (<see cref="LoadConll"/>).
    /// </summary>
    /// <param name="path">The data file.</param>
    /// <param name="jsonField">For JSON, the top-level key that holds the records (<c>datasets</c>' <c>field</c>); must be null for other formats.</param>
    /// <exception cref="ArgumentException">The extension is none of those, or <paramref name="jsonField"/> is given for a non-JSON file.</exception>
    public static DataTable Load(string path, string? jsonField = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (jsonField is not null && extension is not (".json" or ".jsonl"))
        {
            throw new ArgumentException($"A JSON field ('{jsonField}') was given for '{path}', which is not a .json or .jsonl file.", nameof(jsonField));
        }
        return extension switch
        {
            ".csv" => LoadCsv(path),
            ".tsv" => LoadCsv(path, '\t'),
            ".json" or ".jsonl" => LoadJson(path, jsonField),
            ".txt" => LoadText(path),
            ".conll" => LoadConll(path),
            _ => throw new ArgumentException(
                $"Cannot tell the format of '{path}' from its extension '{extension}'; use .csv, .tsv, .json, .jsonl, .txt or .conll (or call a Load* method directly).",
                nameof(path)),
        };
    }

    /// <summary>
    /// Reads a CSV (or, with <c>'\t'</c>, TSV) file as <c>pandas.read_csv</c> with default options does (what
    /// <c>datasets</c>' csv builder calls): a header row naming the columns; RFC 4180 quoting (delimiters, doubled
    /// quotes and line breaks inside quoted fields; a row's <see cref="DataRow.Line"/> is where it starts); blank lines
    /// skipped; each column typed over all its cells (<see cref="DataColumnType"/>: ints → Integer, numbers → Float,
    /// True/False → Bool, anything else String; empty and pandas' other NA cells are null).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="delimiter">The field separator.</param>
    /// <exception cref="TrainingDataException">A row has a different number of fields than the header (naming its line), a quote is never closed, or there is no row under the header.</exception>
    public static DataTable LoadCsv(string path, char delimiter = ',') => CsvFormat.Load(path, delimiter);

    /// <summary>
    /// Reads JSON records as <c>datasets</c>' json builder does: JSON lines (one object per non-blank line; columns
    /// are the union of the keys in first-seen order, a key a record lacks is null), or one JSON document — an array
    /// of objects, or an object whose <paramref name="field"/> holds them (an array of objects or an object of
    /// equal-length arrays). Without a field, an object whose <c>"data"</c> is an array of objects is read as those
    /// records. Numbers are <see cref="long"/> when integral, else <see cref="double"/>; each column's type is
    /// inferred over all its values (<see cref="DataColumnType"/>).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="field">The top-level key that holds the records, or null.</param>
    /// <exception cref="TrainingDataException">A line is not valid JSON or not an object (naming the line and the JSON error), the document has no such field, or there are no records.</exception>
    public static DataTable LoadJson(string path, string? field = null)
    {
        DataFileChecks.Require(path);
        return DataTable.FromRecords(path, JsonRecords.Read(path, field, trackedDepth: 2, out _));
    }

    /// <summary>
    /// Reads a text file as <c>datasets</c>' text builder does: one row per line in the single column <c>"text"</c>,
    /// without its line break; empty lines are kept as <c>""</c> (<c>run_mlm.py</c> drops them itself). As Python's
    /// <c>str.splitlines</c> there, the other Unicode line separators (<c>\v</c>, <c>\f</c>, <c>\x1c</c>–<c>\x1e</c>,
    /// <c>\x85</c>, U+2028, U+2029) end a row too.
    /// </summary>
    /// <param name="path">The file.</param>
    public static DataTable LoadText(string path)
    {
        DataFileChecks.Require(path);
        var rows = new List<DataRow>();
        using (var reader = new Utf8LineReader(path))
        {
            while (reader.ReadLine(out string terminator) is string line)
            {
                int start = 0;
                while (true)
                {
                    int end = line.AsSpan(start).IndexOfAny(ExtraLineBreaks);
                    if (end < 0)
                    {
                        // splitlines gives no empty piece after a final separator at the very end of the text.
                        if (start < line.Length || start == 0 || terminator.Length > 0)
                        {
                            rows.Add(TextRow(reader.LineNumber, line[start..]));
                        }
                        break;
                    }
                    rows.Add(TextRow(reader.LineNumber, line.Substring(start, end)));
                    start += end + 1;
                }
            }
        }
        if (rows.Count == 0)
        {
            throw DataFileChecks.NoExamples(path, "the file is empty");
        }
        return new DataTable(path, TextColumns.Names, rows, new Dictionary<string, DataColumnType> { ["text"] = DataColumnType.String });
    }

    // str.splitlines' separators beyond \n, \r and \r\n, which the line reader handles.
    private const string ExtraLineBreaks = "\v\f\x1c\x1d\x1e\x85\u2028\u2029";

    private static readonly ColumnSet TextColumns = new(["text"]);

    private static readonly ColumnSet ConllColumns = new(["tokens", "ner_tags"]);

    private static DataRow TextRow(int line, string text) => new(line, new RowValues(TextColumns, [JsonValue.Create(text)]));

    /// <summary>
    /// Reads CoNLL token-per-line data (CoNLL-2003 style) into the columns <c>run_ner.py</c> reads: <c>"tokens"</c>
    /// and <c>"ner_tags"</c>, both lists of strings, one row per sentence. A line is <c>token TAG</c>, or
    /// tab-separated columns when it has a tab (token first, tag last; columns between, such as POS tags, are
    /// ignored); a blank line ends a sentence; <c>-DOCSTART-</c> lines are skipped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="TrainingDataException">A line has a token but no tag (naming the line), or there is no sentence.</exception>
    public static DataTable LoadConll(string path)
    {
        DataFileChecks.Require(path);
        var rows = new List<DataRow>();
        var tokens = new JsonArray();
        var tags = new JsonArray();
        int sentenceLine = 0;
        void EndSentence()
        {
            if (tokens.Count > 0)
            {
                rows.Add(new DataRow(sentenceLine, new RowValues(ConllColumns, [tokens, tags])));
                tokens = [];
                tags = [];
            }
        }
        using (var reader = new Utf8LineReader(path))
        {
            while (reader.ReadLine() is string line)
            {
                string trimmed = line.Trim();
                if (trimmed.Length == 0 || trimmed.StartsWith("-DOCSTART-", StringComparison.Ordinal))
                {
                    EndSentence();
                    continue;
                }
                string[] fields = line.Contains('\t')
                    ? [.. line.Split('\t').Select(f => f.Trim()).Where(f => f.Length > 0)]
                    : trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 2)
                {
                    throw new TrainingDataException(path, reader.LineNumber, null, $"expected a token and its tag separated by a space or a tab, found \"{trimmed}\"");
                }
                if (tokens.Count == 0)
                {
                    sentenceLine = reader.LineNumber;
                }
                tokens.Add(fields[0]);
                tags.Add(fields[^1]);
            }
        }
        EndSentence();
        if (rows.Count == 0)
        {
            throw DataFileChecks.NoExamples(path, "no sentences");
        }
        return new DataTable(path, ConllColumns.Names, rows,
            new Dictionary<string, DataColumnType> { ["tokens"] = DataColumnType.List, ["ner_tags"] = DataColumnType.List });
    }

    /// <summary>
    /// Reads question-answering data into the flat rows <c>run_qa.py</c> uses, columns <c>id</c>, <c>title</c>,
    /// <c>context</c>, <c>question</c> and <c>answers</c> (<c>{"text": [...], "answer_start": [...]}</c>), from either
    /// the official nested SQuAD v1.1 / v2.0 JSON (<c>data[].paragraphs[].qas[]</c>; a v2 <c>is_impossible</c>
    /// question gets empty answers) or Hugging Face's flat records (JSON lines, an array, or <c>{"data": [...]}</c>).
    /// <c>answer_start</c> counts Unicode code points, as Python does.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="TrainingDataException">
    /// An answer's <c>answer_start</c> is not an integer within the context, the context at that offset is not the
    /// answer text, a question id repeats, or a required key is missing (each naming the question id or the line).
    /// </exception>
    public static DataTable LoadSquad(string path) => SquadFormat.Load(path);
}
