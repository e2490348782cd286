using System.CommandLine;
using DebertaSharp.Pipelines;
using DebertaSharp.Server;

namespace DebertaSharp.Cli;

/// <summary>
/// <c>deberta serve --model DIR --task TASK [--tokenizer DIR] [--host H] [--port N] [batching and limits] [--dtype D]</c>: an HTTP
/// server answering Hugging Face's Inference API (<c>POST /</c>) with the task's pipeline, plus <c>/health</c>,
/// <c>/info</c> and <c>/metrics</c>. Ctrl-C / SIGTERM drain the requests in flight, then exit 0.
/// </summary>
internal static class ServeCommand
{
    /// <summary>The <c>serve</c> command.</summary>
    internal static Command Build()
    {
        var model = Opt.Required<string>("--model", "Checkpoint folder (config.json + weights) with the task's head.").WithHelpName("DIR");
        var task = Opt.Choice("--task", "The pipeline task.", [.. PipelineFactory.Tasks]);
        task.Required = true;
        var tokenizer = Opt.Create<string>("--tokenizer", "Tokenizer folder; defaults to --model.").WithHelpName("DIR");
        var host = Opt.Create("--host", "Address to listen on (an IP address, localhost, or * for all).", "127.0.0.1").WithHelpName("ADDR");
        var port = Opt.Create("--port", "TCP port (0 for any free one).", 8080).WithHelpName("N");
        var maxBatch = Opt.Create("--max_batch_size", "Most inputs run together in one pipeline call.", 32).WithHelpName("N");
        var delay = Opt.Create("--max_batch_delay_ms", "Longest wait of a request for others to join its batch, in ms.", 5).WithHelpName("MS");
        var maxQueue = Opt.Create("--max_queue", "Most requests waiting for a batch; more are answered 503 with Retry-After.", 256).WithHelpName("N");
        var maxChars = Opt.PositiveInt("--max_input_chars", "Most characters of text in one request (413 above; no limit by default).");
        var maxBody = Opt.Create("--max_body_bytes", "Largest request body in bytes (413 above).", 1L << 20).WithHelpName("N");
        var dtype = Opt.Choice("--dtype", "Weights' dtype (bfloat16: faster on CPUs with AMX / avx512_bf16).", ["float32", "bfloat16"], "float32");

        var command = new Command("serve",
            "Serves a pipeline over HTTP (Hugging Face Inference API), with dynamic batching.\n\n" +
            "POST / {\"inputs\": ..., \"parameters\": {...}} answers what `deberta pipeline` prints for those inputs (one " +
            "input: its value; a list: the list of values). GET /health (200 once loaded), /info, /metrics (Prometheus). " +
            "Concurrent requests with the same parameters run as one batch. Ctrl-C or SIGTERM drain requests in flight.")
        {
            model, task, tokenizer, host, port, maxBatch, delay, maxQueue, maxChars, maxBody, dtype,
        };
        CliApp.SetAction(command, (p, ct) =>
        {
            string modelDir = p.GetRequiredValue(model);
            if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"--model: folder '{modelDir}' does not exist");
            var options = new ServerOptions
            {
                ModelDir = modelDir,
                Task = p.GetRequiredValue(task),
                TokenizerDir = p.GetValue(tokenizer),
                Host = p.GetValue(host) ?? "127.0.0.1",
                Port = p.GetValue(port),
                MaxBatchSize = p.GetValue(maxBatch),
                MaxBatchDelayMs = p.GetValue(delay),
                MaxQueue = p.GetValue(maxQueue),
                MaxInputChars = p.GetValue(maxChars),
                MaxBodyBytes = p.GetValue(maxBody),
                Dtype = Opt.Dtype(p.GetValue(dtype)) ?? TorchSharp.torch.ScalarType.Float32,
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message.Split(" (Parameter", 2)[0]);
            }
            return Serve(options, p.InvocationConfiguration.Output, ct).GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>Runs the server until <paramref name="cancellationToken"/> is cancelled, then drains and stops it.</summary>
    internal static async Task<int> Serve(ServerOptions options, TextWriter stdout, CancellationToken cancellationToken)
    {
        await using var server = await InferenceServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
        stdout.WriteLine($"deberta serve: listening on {server.Address} (loading {options.Task} model from {options.ModelDir})");
        await server.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (options.Dtype == TorchSharp.torch.ScalarType.BFloat16 && !CpuFeatures.HasBf16) stdout.WriteLine($"deberta serve: {CpuFeatures.Bf16EmulatedNotice}");
        stdout.WriteLine("deberta serve: model loaded, ready");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stdout.WriteLine("deberta serve: stopping (draining requests in flight)");
        }
        await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
        stdout.WriteLine("deberta serve: stopped");
        return 0;
    }
}
