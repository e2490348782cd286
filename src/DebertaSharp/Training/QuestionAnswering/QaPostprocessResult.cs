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
