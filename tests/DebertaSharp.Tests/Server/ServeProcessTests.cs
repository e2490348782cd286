using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DebertaSharp.Pipelines;
using DebertaSharp.Tests.Pipelines;

namespace DebertaSharp.Tests.Server;

/// <summary>
/// The built <c>deberta serve</c> program as a deployment runs it: a child process on an ephemeral loopback port, its
/// answers equal to Hugging Face's fixture values, and SIGTERM (what Kubernetes sends) draining the requests in flight
/// before a clean exit 0.
/// </summary>
public sealed partial class ServeProcessTests
{
    private static readonly JsonNode Expected = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("pipelines_expected_public.json")))!;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex Listening();

    /// <summary>A running <c>deberta serve</c> child process and the lines it printed.</summary>
    private sealed class ServeProcess : IDisposable
    {
        private readonly Process _p;
        private readonly StringBuilder _stdout = new(), _stderr = new();
        private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ServeProcess(params string[] args)
        {
            string dll = Path.Combine(AppContext.BaseDirectory, "deberta.dll");
            Assert.True(File.Exists(dll), dll);
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            psi.ArgumentList.Add("serve");
            foreach (string a in args) psi.ArgumentList.Add(a);
            _p = new Process { StartInfo = psi };
            _p.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (_stdout) _stdout.AppendLine(e.Data);
                if (Listening().Match(e.Data) is { Success: true } m) _address.TrySetResult(new Uri(m.Groups[1].Value));
                if (e.Data.Contains("ready", StringComparison.Ordinal)) _ready.TrySetResult();
            };
            _p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
            _p.Start();
            _p.BeginOutputReadLine();
            _p.BeginErrorReadLine();
        }

        public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

        public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

        public Process Process => _p;

        /// <summary>The server's address once it printed that it is loaded and ready.</summary>
        public async Task<Uri> ReadyAsync()
        {
            var exited = _p.WaitForExitAsync();
            var first = await Task.WhenAny(Task.WhenAll(_address.Task, _ready.Task), exited).WaitAsync(Timeout);
            Assert.True(first != exited, $"deberta serve exited with {(_p.HasExited ? _p.ExitCode : -1)} before it was ready:\n{Stdout}\n{Stderr}");
            return await _address.Task;
        }

        /// <summary>Sends SIGTERM, as <c>kill</c> (and Kubernetes) does.</summary>
        public void Terminate()
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
            kill.WaitForExit();
            Assert.Equal(0, kill.ExitCode);
        }

        public void Dispose()
        {
            if (!_p.HasExited) _p.Kill(entireProcessTree: true);
            _p.Dispose();
        }
    }

    private static async Task<double> Metric(HttpClient client, string name) =>
        ServerTests.Metric(await client.GetStringAsync("/metrics"), name);

    [Fact]
    public async Task SigtermDrainsRequestsInFlightThenExitsZero()
    {
        var texts = Expected["texts"]!["classify"]!.AsArray();
        var expected = Expected["text_classification"]!.AsArray();
        // A long batching delay keeps the requests queued (in flight) when SIGTERM arrives.
        using var serve = new ServeProcess("--model", TestPaths.Fixture("pipeline_models", "sequence_classification"),
            "--tokenizer", TestPaths.Fixture("tokenizer", "v4_template"), "--task", "text-classification",
            "--port", "0", "--max_batch_delay_ms", "4000", "--max_batch_size", "64");
        var address = await serve.ReadyAsync();
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = address, Timeout = Timeout };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);

        var posts = texts.Select(t => client.PostAsync("/", new StringContent(new JsonObject { ["inputs"] = t!.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json"))).ToList();
        var clock = Stopwatch.StartNew();
        while (await Metric(client, "deberta_queue_depth") < texts.Count)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3.5), "the requests did not all reach the queue before its batch was due");
            await Task.Delay(10);
        }
        serve.Terminate();

        for (int i = 0; i < posts.Count; i++)
        {
            using var response = await posts[i].WaitAsync(Timeout);
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"request {i} during shutdown: {(int)response.StatusCode} {body}");
            PipelineFixtureTests.AssertSame(expected[i], JsonNode.Parse(body), $"text_classification[{i}] answered while draining");
        }
        await serve.Process.WaitForExitAsync().WaitAsync(Timeout);
        Assert.True(serve.Process.ExitCode == 0, $"exit code {serve.Process.ExitCode}\n{serve.Stdout}\n{serve.Stderr}");
        Assert.Contains("stopping (draining requests in flight)", serve.Stdout);
        Assert.Contains("stopped", serve.Stdout);
        // Once stopped, nothing listens any more.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync("/health"));
    }

    [Fact]
    public async Task Bfloat16ServerReportsItsDtypeAndKeepsTheFixtureLabels()
    {
        var texts = Expected["texts"]!["classify"]!.AsArray();
        var expected = Expected["text_classification"]!.AsArray();
        using var serve = new ServeProcess("--model", TestPaths.Fixture("pipeline_models", "sequence_classification"),
            "--tokenizer", TestPaths.Fixture("tokenizer", "v4_template"), "--task", "text-classification", "--port", "0", "--dtype", "bfloat16");
        var address = await serve.ReadyAsync();
        // On a CPU without bf16 instructions it says so once, before "ready", and serves anyway.
        Assert.Equal(CpuFeatures.HasBf16 ? 0 : 1, serve.Stdout.Split('\n').Count(l => l.Contains(CpuFeatures.Bf16EmulatedNotice, StringComparison.Ordinal)));
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = address, Timeout = Timeout };
        var info = JsonNode.Parse(await client.GetStringAsync("/info"))!;
        Assert.Equal("bfloat16", info["dtype"]!.GetValue<string>());
        using var response = await client.PostAsync("/", new StringContent(new JsonObject { ["inputs"] = texts.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var got = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(expected.Count, got.Count);
        double maxDiff = 0;
        for (int i = 0; i < got.Count; i++)
        {
            // The label stays Hugging Face's fp32 one; the score moves by what bf16 weights cost (measured on this
            // near-uniform tiny model: at most 9e-6, so 1e-4 is the bound), and it does move: the weights are bf16.
            Assert.Equal(expected[i]![0]!["label"]!.GetValue<string>(), got[i]![0]!["label"]!.GetValue<string>());
            double diff = Math.Abs(got[i]![0]!["score"]!.GetValue<double>() - expected[i]![0]!["score"]!.GetValue<double>());
            Assert.InRange(diff, 0, 1e-4);
            maxDiff = Math.Max(maxDiff, diff);
        }
        Assert.True(maxDiff > 1e-7, "bfloat16 answers equal the float32 ones to 1e-7: the weights were not cast");
        serve.Terminate();
        await serve.Process.WaitForExitAsync().WaitAsync(Timeout);
        Assert.Equal(0, serve.Process.ExitCode);
    }
}
