using System.Globalization;
using System.Text;

namespace DebertaSharp.Server;

/// <summary>The server's counters, written in Prometheus' text exposition format by <see cref="Write"/>.</summary>
internal sealed class ServerMetrics
{
    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly object _lock = new();
    private readonly SortedDictionary<int, long> _requestsByCode = [];
    private long _errors;
    private readonly long[] _latencyCounts = new long[LatencyBuckets.Length];
    private double _latencySum;
    private long _latencyCount;
    private readonly long[] _batchCounts = new long[BatchBuckets.Length];
    private long _batchSum;
    private long _batchCount;
    private double _batchSeconds;

    /// <summary>Records one answered request of <c>POST /</c>.</summary>
    public void Request(int statusCode, double seconds)
    {
        lock (_lock)
        {
            _requestsByCode[statusCode] = _requestsByCode.GetValueOrDefault(statusCode) + 1;
            if (statusCode >= 400) _errors++;
            for (int i = 0; i < LatencyBuckets.Length; i++) if (seconds <= LatencyBuckets[i]) _latencyCounts[i]++;
            _latencySum += seconds;
            _latencyCount++;
        }
    }

    /// <summary>Records one pipeline run of <paramref name="inputs"/> inputs that took <paramref name="seconds"/>.</summary>
    public void Batch(int inputs, double seconds)
    {
        lock (_lock)
        {
            _batchSeconds += seconds;
            for (int i = 0; i < BatchBuckets.Length; i++) if (inputs <= BatchBuckets[i]) _batchCounts[i]++;
            _batchSum += inputs;
            _batchCount++;
        }
    }

    /// <summary>The mean inputs per pipeline run so far (0 before any).</summary>
    public double MeanBatchSize
    {
        get { lock (_lock) return _batchCount == 0 ? 0 : (double)_batchSum / _batchCount; }
    }

    /// <summary>The metrics in Prometheus' text format.</summary>
    public string Write(int queueDepth)
    {
        var sb = new StringBuilder();
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        lock (_lock)
        {
            sb.Append("# HELP deberta_requests_total Inference requests answered, by HTTP status code.\n# TYPE deberta_requests_total counter\n");
            foreach (var (code, n) in _requestsByCode) sb.Append(CultureInfo.InvariantCulture, $"deberta_requests_total{{code=\"{code}\"}} {n}\n");
            sb.Append("# HELP deberta_request_errors_total Inference requests answered with a 4xx or 5xx status.\n# TYPE deberta_request_errors_total counter\n");
            sb.Append(CultureInfo.InvariantCulture, $"deberta_request_errors_total {_errors}\n");
            Histogram(sb, "deberta_request_duration_seconds", "Inference request latency in seconds.", LatencyBuckets, _latencyCounts, F(_latencySum), _latencyCount);
            Histogram(sb, "deberta_batch_size", "Inputs per pipeline run.", BatchBuckets, _batchCounts, _batchSum.ToString(CultureInfo.InvariantCulture), _batchCount);
            sb.Append("# HELP deberta_batch_seconds_total Time spent in pipeline runs, in seconds.\n# TYPE deberta_batch_seconds_total counter\n");
            sb.Append(CultureInfo.InvariantCulture, $"deberta_batch_seconds_total {F(_batchSeconds)}\n");
        }
        sb.Append("# HELP deberta_queue_depth Requests waiting for a batch.\n# TYPE deberta_queue_depth gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"deberta_queue_depth {queueDepth}\n");
        return sb.ToString();
    }

    private static void Histogram(StringBuilder sb, string name, string help, double[] bounds, long[] counts, string sum, long count)
    {
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
        for (int i = 0; i < bounds.Length; i++)
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"{bounds[i].ToString(CultureInfo.InvariantCulture)}\"}} {counts[i]}\n");
        sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n");
    }
}
