using System.Globalization;
using System.Text;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Training;

/// <summary>
/// What <see cref="QuestionAnsweringPostprocessing.PostprocessPredictions"/> returns (utils_qa.py's
/// <c>all_predictions</c>, <c>all_nbest_json</c> and <c>scores_diff_json</c>); every dictionary enumerates in example order.
/// </summary>
public sealed class QaPostprocessResult
{
    private readonly OrderedDictionary<string, string> _predictions;
    private readonly OrderedDictionary<string, IReadOnlyList<QaPrediction>> _nbest;
    private readonly OrderedDictionary<string, double>? _nullOdds;

    internal QaPostprocessResult(OrderedDictionary<string, string> predictions, OrderedDictionary<string, IReadOnlyList<QaPrediction>> nbest, OrderedDictionary<string, double>? nullOdds)
    {
        _predictions = predictions;
        _nbest = nbest;
        _nullOdds = nullOdds;
    }

    /// <summary>The answer of each example id (<c>""</c> for a null answer in version 2).</summary>
    public IReadOnlyDictionary<string, string> Predictions => _predictions;

    /// <summary>The n-best answers of each example id, best first.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<QaPrediction>> NBest => _nbest;

    /// <summary>Version 2 only (else null): each example's null score minus its best non-null span's score (<c>score_diff</c>).</summary>
    public IReadOnlyDictionary<string, double>? NullOdds => _nullOdds;

    /// <summary>
    /// Writes <c>{prefix}_predictions.json</c>, <c>{prefix}_nbest_predictions.json</c> and, for version 2,
    /// <c>{prefix}_null_odds.json</c> (no prefix: <c>predictions.json</c>…) into <paramref name="outputDirectory"/>, as
    /// utils_qa.py writes them: <c>json.dumps(indent=4)</c> (ASCII, <c>\uXXXX</c> escapes) and a final newline,
    /// floats as Python prints them. Each file goes through a temporary file and a rename. run_qa.py's prefix is the
    /// stage: <c>eval</c> or <c>predict</c>.
    /// </summary>
    /// <returns>The paths written.</returns>
    public IReadOnlyList<string> WriteFiles(string outputDirectory, string? prefix = "eval")
    {
        ArgumentNullException.ThrowIfNull(outputDirectory);
        if (!Directory.Exists(outputDirectory)) throw new DirectoryNotFoundException($"{outputDirectory} is not a directory.");
        string Name(string n) => Path.Combine(outputDirectory, prefix is null ? n : $"{prefix}_{n}");
        var written = new List<string>();
        void Write(string path, string json)
        {
            FileUtil.WriteAtomic(path, w => { w.Write(json); w.Write('\n'); });
            written.Add(path);
        }
        Write(Name("predictions.json"), PredictionsJson());
        Write(Name("nbest_predictions.json"), NBestJson());
        if (_nullOdds is not null) Write(Name("null_odds.json"), NullOddsJson()!);
        return written;
    }

    /// <summary><c>json.dumps(all_predictions, indent=4)</c>.</summary>
    internal string PredictionsJson()
    {
        var sb = new StringBuilder();
        PythonJson.Object(sb, 0, _predictions, (b, _, v) => PythonJson.String(b, v));
        return sb.ToString();
    }

    /// <summary><c>json.dumps(all_nbest_json, indent=4)</c>: keys in utils_qa.py's order (the fallback's differs).</summary>
    internal string NBestJson()
    {
        var sb = new StringBuilder();
        PythonJson.Object(sb, 0, _nbest, (b, level, list) => PythonJson.Array(b, level, list, (b2, level2, p) =>
        {
            (string, Action<StringBuilder>)[] fields = p.Offsets is null
                ? [("text", x => PythonJson.String(x, p.Text)), ("start_logit", x => x.Append(PythonJson.Float(p.StartLogit))),
                   ("end_logit", x => x.Append(PythonJson.Float(p.EndLogit))), ("probability", x => x.Append(PythonJson.Float(p.Probability)))]
                : [("start_logit", x => x.Append(PythonJson.Float(p.StartLogit))), ("end_logit", x => x.Append(PythonJson.Float(p.EndLogit))),
                   ("text", x => PythonJson.String(x, p.Text)), ("probability", x => x.Append(PythonJson.Float(p.Probability)))];
            PythonJson.Object(b2, level2, fields.Select(f => new KeyValuePair<string, Action<StringBuilder>>(f.Item1, f.Item2)).ToList(), (b3, _, write) => write(b3));
        }));
        return sb.ToString();
    }

    /// <summary><c>json.dumps(scores_diff_json, indent=4)</c>, or null for version 1.</summary>
    internal string? NullOddsJson()
    {
        if (_nullOdds is null) return null;
        var sb = new StringBuilder();
        PythonJson.Object(sb, 0, _nullOdds, (b, _, v) => b.Append(PythonJson.Float(v)));
        return sb.ToString();
    }
}

/// <summary>Python's <c>json.dumps(obj, indent=4)</c> pieces: ASCII-escaped strings, <c>repr</c> floats, 4-space indents.</summary>
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

    /// <summary>A string as <c>json.dumps</c> with <c>ensure_ascii=True</c>: short escapes for <c>\" \\ \b \f \n \r \t</c>, <c>\u00XX</c> (lower-case hex) for everything else outside space..tilde.</summary>
    public static void String(StringBuilder sb, string s)
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
                    if (c < ' ' || c > '~') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
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
}
