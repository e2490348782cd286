using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// The state of a run, saved as <c>trainer_state.json</c> in each checkpoint and in the output folder (Hugging Face's
/// <c>TrainerState</c>, same field names; written as <c>json.dumps(asdict(state), indent=2, sort_keys=True)</c>).
/// </summary>
public sealed class TrainerState
{
    /// <summary><c>global_step</c>: optimizer steps taken.</summary>
    public int GlobalStep { get; set; }
    /// <summary><c>epoch</c>: fractional epoch reached (null before training).</summary>
    public double? Epoch { get; set; }
    /// <summary><c>max_steps</c>: optimizer steps of the whole run.</summary>
    public int MaxSteps { get; set; }
    /// <summary><c>num_train_epochs</c>.</summary>
    public int NumTrainEpochs { get; set; }
    /// <summary><c>logging_steps</c> (resolved from a ratio).</summary>
    public int LoggingSteps { get; set; } = 500;
    /// <summary><c>eval_steps</c> (resolved from a ratio).</summary>
    public int EvalSteps { get; set; } = 500;
    /// <summary><c>save_steps</c> (resolved from a ratio).</summary>
    public int SaveSteps { get; set; } = 500;
    /// <summary><c>train_batch_size</c>: the per-device training batch size.</summary>
    public int TrainBatchSize { get; set; }
    /// <summary><c>total_flos</c>: Hugging Face's estimate, 6 · tokens · non-embedding parameters, summed over training.</summary>
    public double TotalFlos { get; set; }
    /// <summary><c>best_metric</c>: the best value of <c>metric_for_best_model</c> so far.</summary>
    public double? BestMetric { get; set; }
    /// <summary><c>best_model_checkpoint</c>: the checkpoint folder that holds it.</summary>
    public string? BestModelCheckpoint { get; set; }
    /// <summary><c>best_global_step</c>: the step of <see cref="BestMetric"/>.</summary>
    public int? BestGlobalStep { get; set; }
    /// <summary><c>log_history</c>: every log entry (training logs, evaluations, the final summary), each with <c>step</c>.</summary>
    public List<JsonObject> LogHistory { get; } = [];

    /// <summary>The early-stopping callback's counter (kept so that a resumed run stops where the original would).</summary>
    public int EarlyStoppingPatienceCounter { get; set; }

    /// <summary>Serialises the state as Hugging Face writes <c>trainer_state.json</c>.</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["best_metric"] = BestMetric is double b ? JsonValue.Create(b) : null,
            ["best_global_step"] = BestGlobalStep,
            ["best_model_checkpoint"] = BestModelCheckpoint,
            ["epoch"] = Epoch is double e ? JsonValue.Create(e) : null,
            ["eval_steps"] = EvalSteps,
            ["global_step"] = GlobalStep,
            ["is_hyper_param_search"] = false,
            ["is_local_process_zero"] = true,
            ["is_world_process_zero"] = true,
            ["log_history"] = new JsonArray([.. LogHistory.Select(x => x.DeepClone())]),
            ["logging_steps"] = LoggingSteps,
            ["max_steps"] = MaxSteps,
            ["num_input_tokens_seen"] = 0,
            ["num_train_epochs"] = NumTrainEpochs,
            ["save_steps"] = SaveSteps,
            ["stateful_callbacks"] = new JsonObject
            {
                ["EarlyStoppingCallback"] = new JsonObject { ["early_stopping_patience_counter"] = EarlyStoppingPatienceCounter },
            },
            ["total_flos"] = TotalFlos,
            ["train_batch_size"] = TrainBatchSize,
            ["trial_name"] = null,
            ["trial_params"] = null,
        };
        return PythonJson.Serialize(o, indent: 2, sortKeys: true) + "\n";
    }

    /// <summary>Reads a <c>trainer_state.json</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not a trainer state; the message names it and the field.</exception>
    public static TrainerState Load(string path)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: not a JSON object");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a valid trainer_state.json: {e.Message}", e);
        }
        T Get<T>(string key, T fallback)
        {
            try { return o[key] is { } n ? n.GetValue<T>() : fallback; }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: field '{key}' has the wrong type", e);
            }
        }
        var s = new TrainerState
        {
            GlobalStep = Get("global_step", -1),
            MaxSteps = Get("max_steps", 0),
            NumTrainEpochs = Get("num_train_epochs", 0),
            LoggingSteps = Get("logging_steps", 500),
            EvalSteps = Get("eval_steps", 500),
            SaveSteps = Get("save_steps", 500),
            TrainBatchSize = Get("train_batch_size", 0),
            TotalFlos = o["total_flos"] is { } f ? f.GetValue<double>() : 0,
            Epoch = o["epoch"] is { } ep ? ep.GetValue<double>() : null,
            BestMetric = o["best_metric"] is { } bm ? bm.GetValue<double>() : null,
            BestModelCheckpoint = o["best_model_checkpoint"]?.GetValue<string>(),
            BestGlobalStep = o["best_global_step"] is { } bg ? bg.GetValue<int>() : null,
        };
        if (s.GlobalStep < 0) throw new InvalidDataException($"{path}: field 'global_step' is missing");
        if (o["stateful_callbacks"]?["EarlyStoppingCallback"]?["early_stopping_patience_counter"] is { } pc)
            s.EarlyStoppingPatienceCounter = pc.GetValue<int>();
        if (o["log_history"] is JsonArray history)
            foreach (var entry in history)
                s.LogHistory.Add(entry?.DeepClone().AsObject() ?? throw new InvalidDataException($"{path}: a log_history entry is null"));
        return s;
    }
}

/// <summary>JSON as Python's <c>json.dumps</c> writes it: floats in <c>repr</c> form (<c>1e-05</c>, <c>3.0</c>), optional sorted keys.</summary>
internal static class PythonJson
{
    /// <summary>Python's <c>repr(float)</c> (and <c>json.dumps</c>'s NaN / Infinity literals).</summary>
    public static string Float(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsInfinity(value)) return value > 0 ? "Infinity" : "-Infinity";
        string s = value.ToString("R", CultureInfo.InvariantCulture);
        int e = s.IndexOf('E');
        if (e >= 0)
        {
            // .NET "1E-05" / "1.5E+20" → Python "1e-05" / "1.5e+20" (exponent at least two digits).
            string mantissa = s[..e], exp = s[(e + 1)..];
            char sign = exp[0] == '-' ? '-' : '+';
            string digits = exp.TrimStart('+', '-');
            if (digits.Length < 2) digits = "0" + digits;
            return mantissa + "e" + sign + digits;
        }
        // Python switches to exponent form at 1e16 and below 1e-4.
        double a = Math.Abs(value);
        if (a != 0 && (a >= 1e16 || a < 1e-4))
        {
            string r = value.ToString("E16", CultureInfo.InvariantCulture);
            // Shortest round-trip digits in exponent form.
            for (int p = 0; p <= 16; p++)
            {
                string c = value.ToString("E" + p, CultureInfo.InvariantCulture);
                if (double.Parse(c, CultureInfo.InvariantCulture) == value) { r = c; break; }
            }
            int ei = r.IndexOf('E');
            string m = r[..ei].Contains('.') ? r[..ei].TrimEnd('0').TrimEnd('.') : r[..ei];
            int expo = int.Parse(r[(ei + 1)..], CultureInfo.InvariantCulture);
            return m + "e" + (expo < 0 ? "-" : "+") + Math.Abs(expo).ToString("00", CultureInfo.InvariantCulture);
        }
        if (!s.Contains('.')) s += ".0";
        return s;
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
                    sb.Append(Quote(items[i].Key)).Append(": ");
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
            if (el.ValueKind == JsonValueKind.String) sb.Append(Quote(el.GetString()!));
            else sb.Append(el.GetRawText());   // numbers as they were read (1.0 stays 1.0)
            return;
        }
        if (v.TryGetValue(out double d)) { sb.Append(Float(d)); return; }
        if (v.TryGetValue(out float f)) { sb.Append(Float(f)); return; }
        if (v.TryGetValue(out string? s)) { sb.Append(Quote(s!)); return; }
        if (v.TryGetValue(out bool b)) { sb.Append(b ? "true" : "false"); return; }
        sb.Append(v.ToJsonString());   // integers
    }

    private static void NewLine(StringBuilder sb, int indent, int depth)
    {
        if (indent <= 0) return;
        sb.Append('\n').Append(' ', indent * depth);
    }

    /// <summary>A JSON string as <c>json.dumps</c> writes it with its default <c>ensure_ascii=True</c>.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
