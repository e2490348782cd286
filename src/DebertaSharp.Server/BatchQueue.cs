using System.Diagnostics;
using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;

namespace DebertaSharp.Server;

/// <summary>One request waiting for its batch: its inputs (a list, or one input), its parameters and its answer.</summary>
internal sealed class WorkItem(JsonNode inputs, JsonObject? parameters)
{
    /// <summary>The request's <c>inputs</c> as given.</summary>
    public JsonNode Inputs { get; } = inputs;

    /// <summary>The request's <c>parameters</c>.</summary>
    public JsonObject? Parameters { get; } = parameters;

    /// <summary>Requests with equal keys (their parameters) may share a batch.</summary>
    public string Key { get; } = parameters?.ToJsonString() ?? "{}";

    /// <summary>The inputs one by one.</summary>
    public IReadOnlyList<JsonNode?> Items { get; } = inputs is JsonArray a ? [.. a] : [inputs];

    /// <summary>When it was queued (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();

    /// <summary>The answer: what <see cref="Pipeline.Run"/> gives for <see cref="Inputs"/>.</summary>
    public TaskCompletionSource<JsonNode?> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal LinkedListNode<WorkItem>? Node;
}

/// <summary>
/// Dynamic batching: requests with the same parameters are queued and run together through one
/// <see cref="Pipeline.Run"/> of the concatenated inputs (up to <c>maxBatchSize</c> inputs in one forward pass, the first
/// request waiting at most <c>maxBatchDelayMs</c> for others, counted from when the worker is free if the requests it
/// just answered would still fit), each request getting its slice. One worker runs the batches in turn.
/// </summary>
internal sealed class BatchQueue : IDisposable
{
    private readonly Pipeline _pipeline;
    private readonly int _maxBatchSize, _maxQueue;
    private readonly long _delayTicks;
    private readonly ServerMetrics _metrics;
    private readonly Action? _beforeBatch;
    private readonly LinkedList<WorkItem> _pending = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _worker;
    private long _freeSince;        // when the last pipeline run ended (Stopwatch ticks); worker thread only
    private int _lastBatchInputs;   // how many inputs it had

    public BatchQueue(Pipeline pipeline, int maxBatchSize, int maxBatchDelayMs, int maxQueue, ServerMetrics metrics, Action? beforeBatch)
    {
        _pipeline = pipeline;
        _maxBatchSize = maxBatchSize;
        _maxQueue = maxQueue;
        _delayTicks = maxBatchDelayMs * Stopwatch.Frequency / 1000;
        _metrics = metrics;
        _beforeBatch = beforeBatch;
        _worker = new Thread(Work) { IsBackground = true, Name = "deberta-serve-batcher" };
        _worker.Start();
    }

    /// <summary>Requests waiting for a batch.</summary>
    public int Depth
    {
        get { lock (_pending) return _pending.Count; }
    }

    /// <summary>
    /// Queues <paramref name="item"/>; false when the queue is full. <paramref name="cancel"/> takes it out again (until
    /// <paramref name="registration"/>, for the caller to dispose once answered, is disposed).
    /// </summary>
    public bool TryEnqueue(WorkItem item, CancellationToken cancel, out CancellationTokenRegistration registration)
    {
        registration = default;
        lock (_pending)
        {
            if (_pending.Count >= _maxQueue) return false;
            item.Node = _pending.AddLast(item);
        }
        registration = cancel.Register(() =>
        {
            lock (_pending)
            {
                if (item.Node?.List is not null) _pending.Remove(item.Node);
            }
            item.Answer.TrySetCanceled(cancel);
        });
        _signal.Release();
        return true;
    }

    private void Work()
    {
        while (true)
        {
            List<WorkItem>? batch = null;
            long wait = -1;
            lock (_pending)
            {
                if (_pending.First is { } first)
                {
                    int same = 0;
                    foreach (var w in _pending) if (w.Key == first.Value.Key) same += w.Items.Count;
                    // The first request waits at most the delay for others to join. When the requests just answered
                    // would fit beside those waiting, they are probably on their way back (closed-loop clients): the
                    // wait then counts from when the worker became free, so that they join this batch instead of
                    // forming a half batch of their own, alternating two half batches.
                    long start = first.Value.EnqueuedAt;
                    if (same + _lastBatchInputs <= _maxBatchSize) start = Math.Max(start, _freeSince);
                    long due = start + _delayTicks - Stopwatch.GetTimestamp();
                    if (same >= _maxBatchSize || due <= 0 || _stop.IsCancellationRequested) batch = Take(first.Value.Key);
                    else wait = due;
                }
            }
            if (batch is not null)
            {
                Run(batch);
                _lastBatchInputs = batch.Sum(w => w.Items.Count);
                _freeSince = Stopwatch.GetTimestamp();
                continue;
            }
            if (_stop.IsCancellationRequested) return;
            try
            {
                var timeout = wait < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromTicks(Math.Max(1, wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
                _signal.Wait(timeout, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                // Drain what is left, then stop.
            }
        }
    }

    /// <summary>Takes the requests of <paramref name="key"/> in queue order while they fit (the first one always).</summary>
    private List<WorkItem> Take(string key)
    {
        var batch = new List<WorkItem>();
        int inputs = 0;
        for (var node = _pending.First; node is not null;)
        {
            var next = node.Next;
            var w = node.Value;
            if (w.Key == key && (batch.Count == 0 || inputs + w.Items.Count <= _maxBatchSize))
            {
                _pending.Remove(node);
                batch.Add(w);
                inputs += w.Items.Count;
                if (inputs >= _maxBatchSize) break;
            }
            node = next;
        }
        return batch;
    }

    private void Run(List<WorkItem> batch)
    {
        batch.RemoveAll(w => w.Answer.Task.IsCompleted);
        if (batch.Count == 0) return;
        try
        {
            _beforeBatch?.Invoke();
        }
        catch (Exception e)
        {
            foreach (var w in batch) w.Answer.TrySetException(e);
            return;
        }
        if (batch.Count == 1)
        {
            RunOne(batch[0]);
            return;
        }
        var all = new JsonArray();
        foreach (var w in batch) foreach (var x in w.Items) all.Add(x?.DeepClone());
        List<JsonNode?> values;
        long started = Stopwatch.GetTimestamp();
        try
        {
            var result = _pipeline.Run(all, RunParameters(batch[0])) as JsonArray;
            _metrics.Batch(all.Count, Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (result is null || result.Count != all.Count) throw new InvalidOperationException("the pipeline gave no value per input");
            values = [.. result];
            result.Clear();
        }
        catch (Exception)
        {
            // Some request's input is bad: run each request alone, so that only that one gets the error.
            foreach (var w in batch) RunOne(w);
            return;
        }
        int at = 0;
        foreach (var w in batch)
        {
            var slice = values.GetRange(at, w.Items.Count);
            at += w.Items.Count;
            w.Answer.TrySetResult(w.Inputs is JsonArray ? new JsonArray([.. slice]) : slice[0]);
        }
    }

    /// <summary>
    /// The request's parameters for <see cref="Pipeline.Run"/>, with <c>batch_size</c> set to <c>max_batch_size</c> unless
    /// the request gave one: the inputs gathered into one batch then go through one forward pass (the pipelines' own
    /// default, 8 per pass, would split them).
    /// </summary>
    private JsonObject RunParameters(WorkItem w)
    {
        var parameters = (JsonObject?)w.Parameters?.DeepClone() ?? [];
        if (!parameters.ContainsKey("batch_size")) parameters["batch_size"] = _maxBatchSize;
        return parameters;
    }

    private void RunOne(WorkItem w)
    {
        if (w.Answer.Task.IsCompleted) return;
        long started = Stopwatch.GetTimestamp();
        try
        {
            var value = _pipeline.Run(w.Inputs.DeepClone(), RunParameters(w));
            _metrics.Batch(w.Items.Count, Stopwatch.GetElapsedTime(started).TotalSeconds);
            w.Answer.TrySetResult(value);
        }
        catch (Exception e)
        {
            _metrics.Batch(w.Items.Count, Stopwatch.GetElapsedTime(started).TotalSeconds);
            w.Answer.TrySetException(e);
        }
    }

    /// <summary>Runs what is queued, then stops the worker.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _worker.Join();
        _signal.Dispose();
        _stop.Dispose();
    }
}
