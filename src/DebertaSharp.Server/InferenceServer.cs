using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DebertaSharp.Server;

/// <summary>
/// <c>deberta serve</c>: a Kestrel HTTP server over one pipeline. <c>POST /</c> takes Hugging Face's Inference API body
/// <c>{"inputs": ..., "parameters": {...}}</c> and answers what <see cref="Pipeline.Run"/> gives, with dynamic
/// batching of concurrent requests; <c>GET /health</c>, <c>GET /info</c> and <c>GET /metrics</c> (Prometheus).
/// Start it with <see cref="StartAsync"/>; the model loads in the background (<see cref="Ready"/>).
/// </summary>
public sealed class InferenceServer : IAsyncDisposable
{
    private readonly ServerOptions _options;
    private readonly WebApplication _app;
    private readonly ServerMetrics _metrics = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Pipeline? _pipeline;
    private volatile BatchQueue? _queue;
    private int _disposed;

    private InferenceServer(ServerOptions options, WebApplication app)
    {
        _options = options;
        _app = app;
    }

    /// <summary>The address the server listens on (with the bound port when <see cref="ServerOptions.Port"/> is 0).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Completes when the model is loaded and requests are answered; faults when loading failed.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Requests waiting for a batch.</summary>
    public int QueueDepth => _queue?.Depth ?? 0;

    /// <summary>Mean inputs per pipeline run so far.</summary>
    internal double MeanBatchSize => _metrics.MeanBatchSize;

    /// <summary>Starts listening, then loads the model in the background (<c>/health</c> answers 503 until <see cref="Ready"/>).</summary>
    /// <param name="options">The settings.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public static async Task<InferenceServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (options.Host is "*" or "0.0.0.0") k.ListenAnyIP(options.Port);
            else if (options.Host == "localhost") k.Listen(IPAddress.Loopback, options.Port);
            else if (IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else throw new ArgumentException($"host must be an IP address, localhost or *, not '{options.Host}'", nameof(options));
        });
        var app = builder.Build();
        var server = new InferenceServer(options, app);
        app.MapPost("/", server.HandleInference);
        app.MapGet("/health", server.HandleHealth);
        app.MapGet("/info", server.HandleInfo);
        app.MapGet("/metrics", server.HandleMetrics);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Address = new Uri(address.Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal).Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal));
        _ = Task.Run(server.Load, CancellationToken.None);
        return server;
    }

    private void Load()
    {
        try
        {
            var pipeline = _options.Loader?.Invoke() ?? PipelineFactory.Create(_options.Task, _options.ModelDir, _options.TokenizerDir, _options.Dtype);
            _queue = new BatchQueue(pipeline, _options.MaxBatchSize, _options.MaxBatchDelayMs, _options.MaxQueue, _metrics, _options.BeforeBatch);
            _pipeline = pipeline;
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
        }
    }

    /// <summary>Stops accepting connections and waits for the requests in flight (ASP.NET Core's graceful shutdown).</summary>
    /// <param name="cancellationToken">Ends the wait early.</param>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>Stops the server (draining requests in flight) and releases the model.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await _app.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            try
            {
                await _ready.Task.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Loading failed: nothing to release.
            }
            _queue?.Dispose();
            _pipeline?.Dispose();
        }
    }

    private static Task Json(HttpContext ctx, int status, JsonNode? body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(body?.ToJsonString() ?? "null", ctx.RequestAborted);
    }

    private static JsonObject Error(string message, string? field = null)
    {
        var o = new JsonObject { ["error"] = message };
        if (field is not null) o["field"] = field;
        return o;
    }

    private async Task HandleInference(HttpContext ctx)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await Infer(ctx).ConfigureAwait(false);
        }
        finally
        {
            _metrics.Request(ctx.RequestAborted.IsCancellationRequested && !ctx.Response.HasStarted ? 499 : ctx.Response.StatusCode,
                Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    private async Task Infer(HttpContext ctx)
    {
        var queue = _queue;
        var pipeline = _pipeline;
        if (queue is null || pipeline is null)
        {
            ctx.Response.Headers.RetryAfter = "1";
            await Json(ctx, 503, Error("the model is loading")).ConfigureAwait(false);
            return;
        }
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            await Json(ctx, e.StatusCode, Error(e.StatusCode == 413 ? $"the body is over {_options.MaxBodyBytes} bytes" : e.Message, "body")).ConfigureAwait(false);
            return;
        }
        catch (JsonException e)
        {
            await Json(ctx, 400, Error($"malformed JSON: {e.Message}", "body")).ConfigureAwait(false);
            return;
        }
        if (body is not JsonObject request)
        {
            await Json(ctx, 400, Error("the body must be a JSON object {\"inputs\": ..., \"parameters\": {...}}", "body")).ConfigureAwait(false);
            return;
        }
        foreach (var (key, _) in request)
        {
            if (key is not ("inputs" or "parameters" or "options"))
            {
                await Json(ctx, 400, Error($"unknown field '{key}' (known: inputs, parameters, options)", key)).ConfigureAwait(false);
                return;
            }
        }
        if (request["inputs"] is not { } inputs || inputs.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Object))
        {
            await Json(ctx, 400, Error("'inputs' must be a string, a list or the task's input object", "inputs")).ConfigureAwait(false);
            return;
        }
        JsonObject? parameters = null;
        if (request["parameters"] is { } p)
        {
            if (p is not JsonObject po)
            {
                await Json(ctx, 400, Error("'parameters' must be a JSON object", "parameters")).ConfigureAwait(false);
                return;
            }
            parameters = po;
        }
        if (_options.MaxInputChars is int maxChars && TextLength(inputs) > maxChars)
        {
            await Json(ctx, 413, Error($"the inputs hold more than {maxChars} characters of text", "inputs")).ConfigureAwait(false);
            return;
        }
        if (inputs is JsonArray { Count: 0 })
        {
            await Json(ctx, 200, new JsonArray()).ConfigureAwait(false);
            return;
        }
        request.Remove("inputs");
        request.Remove("parameters");
        var item = new WorkItem(inputs, parameters);
        if (!queue.TryEnqueue(item, ctx.RequestAborted, out var registration))
        {
            ctx.Response.Headers.RetryAfter = "1";
            await Json(ctx, 503, Error($"the queue is full ({_options.MaxQueue} requests)")).ConfigureAwait(false);
            return;
        }
        JsonNode? answer;
        try
        {
            using (registration) answer = await item.Answer.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            return;   // The client is gone.
        }
        catch (ArgumentException e)
        {
            string message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            await Json(ctx, 400, Error(message, e.ParamName)).ConfigureAwait(false);
            return;
        }
        catch (Exception e)
        {
            await Json(ctx, 500, Error($"{e.GetType().Name}: {e.Message}")).ConfigureAwait(false);
            return;
        }
        await Json(ctx, 200, answer).ConfigureAwait(false);
    }

    /// <summary>The characters of all strings in <paramref name="node"/>.</summary>
    private static long TextLength(JsonNode? node) => node switch
    {
        JsonArray a => a.Sum(TextLength),
        JsonObject o => o.Sum(kv => TextLength(kv.Value)),
        JsonValue v when v.TryGetValue<string>(out var s) => s.Length,
        _ => 0,
    };

    private Task HandleHealth(HttpContext ctx) =>
        _pipeline is null
            ? Json(ctx, 503, new JsonObject { ["status"] = _ready.Task.IsFaulted ? "failed" : "loading" })
            : Json(ctx, 200, new JsonObject { ["status"] = "ok" });

    private Task HandleInfo(HttpContext ctx)
    {
        var info = new JsonObject
        {
            ["task"] = _pipeline?.Task ?? _options.Task,
            ["model"] = Path.GetFullPath(_options.ModelDir),
            ["tokenizer"] = Path.GetFullPath(_options.TokenizerDir ?? _options.ModelDir),
            ["loaded"] = _pipeline is not null,
        };
        if (_pipeline is { } p)
        {
            JsonObject? labels = null;
            if (p.Model.Config.Id2Label is { } id2label)
            {
                labels = [];
                foreach (var (id, label) in id2label.OrderBy(kv => int.TryParse(kv.Key, out int n) ? n : int.MaxValue)) labels[id] = label;
            }
            info["labels"] = labels;
            info["dtype"] = p.Model.parameters().FirstOrDefault()?.dtype.ToString().ToLowerInvariant();
        }
        info["max_batch_size"] = _options.MaxBatchSize;
        info["max_batch_delay_ms"] = _options.MaxBatchDelayMs;
        info["max_queue"] = _options.MaxQueue;
        return Json(ctx, 200, info);
    }

    private Task HandleMetrics(HttpContext ctx)
    {
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return ctx.Response.WriteAsync(_metrics.Write(QueueDepth), ctx.RequestAborted);
    }
}
