using DebertaSharp.Pipelines;
using TorchSharp;

namespace DebertaSharp.Server;

/// <summary>Settings of an <see cref="InferenceServer"/> (the flags of <c>deberta serve</c>).</summary>
public sealed record ServerOptions
{
    /// <summary>The checkpoint folder.</summary>
    public required string ModelDir { get; init; }

    /// <summary>The pipeline task (<c>fill-mask</c>, <c>text-classification</c>, ...).</summary>
    public required string Task { get; init; }

    /// <summary>The tokenizer folder; null for <see cref="ModelDir"/>.</summary>
    public string? TokenizerDir { get; init; }

    /// <summary>The weights' dtype (<see cref="torch.ScalarType.BFloat16"/>); null for float32.</summary>
    public torch.ScalarType? Dtype { get; init; }

    /// <summary>The address to listen on (an IP address, <c>localhost</c>, or <c>*</c> / <c>0.0.0.0</c> for all).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The TCP port; 0 for an ephemeral one (see <see cref="InferenceServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The most inputs run together through one <see cref="Pipeline.Run"/>.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>How long the first queued request waits for others to join its batch, in milliseconds.</summary>
    public int MaxBatchDelayMs { get; init; } = 5;

    /// <summary>The most requests waiting for a batch; more are answered 503 with <c>Retry-After</c>.</summary>
    public int MaxQueue { get; init; } = 256;

    /// <summary>The most characters of text in one request's inputs (413 above); null for no limit.</summary>
    public int? MaxInputChars { get; init; }

    /// <summary>Kestrel's <c>MaxRequestBodySize</c>, in bytes (413 above).</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Test hook: builds the pipeline instead of <see cref="PipelineFactory.Create"/>.</summary>
    internal Func<Pipeline>? Loader { get; init; }

    /// <summary>Test hook: runs on the batch worker before each pipeline run.</summary>
    internal Action? BeforeBatch { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> for a value out of range, naming it.</summary>
    internal void Validate()
    {
        if (string.IsNullOrEmpty(ModelDir)) throw new ArgumentException("the model folder is required", nameof(ModelDir));
        if (string.IsNullOrEmpty(Task)) throw new ArgumentException("the task is required", nameof(Task));
        if (Dtype is not (null or torch.ScalarType.Float32 or torch.ScalarType.BFloat16))
            throw new ArgumentException($"dtype must be float32 or bfloat16, not {Dtype}", nameof(Dtype));
        if (Host is not ("*" or "0.0.0.0" or "localhost") && !System.Net.IPAddress.TryParse(Host, out _))
            throw new ArgumentException($"host must be an IP address, localhost or *, not '{Host}'", nameof(Host));
        if (Port is < 0 or > 65535) throw new ArgumentException($"port must be 0..65535, not {Port}", nameof(Port));
        if (MaxBatchSize < 1) throw new ArgumentException($"max_batch_size must be positive, not {MaxBatchSize}", nameof(MaxBatchSize));
        if (MaxBatchDelayMs < 0) throw new ArgumentException($"max_batch_delay_ms must be 0 or more, not {MaxBatchDelayMs}", nameof(MaxBatchDelayMs));
        if (MaxQueue < 1) throw new ArgumentException($"max_queue must be positive, not {MaxQueue}", nameof(MaxQueue));
        if (MaxInputChars is < 1) throw new ArgumentException($"max_input_chars must be positive, not {MaxInputChars}", nameof(MaxInputChars));
        if (MaxBodyBytes < 1) throw new ArgumentException($"max_body_bytes must be positive, not {MaxBodyBytes}", nameof(MaxBodyBytes));
    }
}
