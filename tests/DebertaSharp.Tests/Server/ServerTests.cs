using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using DebertaSharp.Server;
using DebertaSharp.Tests.Pipelines;

namespace DebertaSharp.Tests.Server;

/// <summary>
/// <c>deberta serve</c>'s <see cref="InferenceServer"/>, in process on 127.0.0.1 with an ephemeral port, over the fixture
/// pipeline models: answers equal <see cref="Pipeline.Run"/> and the Hugging Face fixtures; batching, limits, errors.
/// </summary>
public class ServerTests
{
    private static readonly JsonNode Expected = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("pipelines_expected_public.json")))!;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static string ModelDir(string model) => TestPaths.Fixture("pipeline_models", model);
    private static string TokenizerDir => TestPaths.Fixture("tokenizer", "v4_template");

    private static async Task<InferenceServer> Start(string task, string model, Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions { Task = task, ModelDir = ModelDir(model), TokenizerDir = TokenizerDir, Host = "127.0.0.1", Port = 0 };
        if (configure is not null) options = configure(options);
        var server = await InferenceServer.StartAsync(options);
        Assert.Equal("127.0.0.1", server.Address.Host);
        return server;
    }

    private static HttpClient Client(InferenceServer server) =>
        new(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = server.Address, Timeout = Timeout };

    private static async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> Post(HttpClient client, string body, CancellationToken ct = default)
    {
        var response = await client.PostAsync("/", new StringContent(body, Encoding.UTF8, "application/json"), ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    private static string Body(JsonNode inputs, JsonObject? parameters = null)
    {
        var o = new JsonObject { ["inputs"] = inputs.DeepClone() };
        if (parameters is not null) o["parameters"] = parameters.DeepClone();
        return o.ToJsonString();
    }

    private static JsonNode? Direct(Pipeline p, JsonNode inputs, JsonObject? parameters = null) =>
        PipelineFixtureTests.Printed(p.Run(inputs.DeepClone(), (JsonObject?)parameters?.DeepClone()));

    [Theory]
    [InlineData("fill-mask", "masked_lm", "fill_mask", "fill_mask_top5", "{\"top_k\":5}")]
    [InlineData("text-classification", "sequence_classification", "classify", "text_classification", null)]
    [InlineData("text-classification", "sequence_classification", "classify", "text_classification_all_scores", "{\"top_k\":null}")]
    [InlineData("token-classification", "token_classification", "ner", "token_classification_simple", "{\"aggregation_strategy\":\"simple\"}")]
    public async Task PostAnswersAsPipelineRunAndHuggingFace(string task, string model, string texts, string expectedKey, string? parametersJson)
    {
        var parameters = parametersJson is null ? null : JsonNode.Parse(parametersJson)!.AsObject();
        var inputs = Expected["texts"]![texts]!.AsArray();
        var expected = Expected[expectedKey]!.AsArray();
        using var pipeline = PipelineFactory.Create(task, ModelDir(model), TokenizerDir);
        await using var server = await Start(task, model);
        await server.Ready.WaitAsync(Timeout);
        using var client = Client(server);
        for (int i = 0; i < Math.Min(3, inputs.Count); i++)
        {
            var (status, body, response) = await Post(client, Body(inputs[i]!, parameters));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(Direct(pipeline, inputs[i]!, parameters)!.ToJsonString(), body!.ToJsonString());
            PipelineFixtureTests.AssertSame(expected[i], body, $"{expectedKey}[{i}]");
        }
        // A list: the list of values.
        var (listStatus, list, _) = await Post(client, Body(inputs, parameters));
        Assert.Equal(HttpStatusCode.OK, listStatus);
        Assert.Equal(Direct(pipeline, inputs, parameters)!.ToJsonString(), list!.ToJsonString());
        PipelineFixtureTests.AssertSame(expected, list, expectedKey + "(list)");
    }

    [Fact]
    public async Task ConcurrentRequestsAreBatchedAndEachGetsItsOwnAnswer()
    {
        var texts = Expected["texts"]!["classify"]!.AsArray();
        var expected = Expected["text_classification"]!.AsArray();
        await using var server = await Start("text-classification", "sequence_classification", o => o with { MaxBatchDelayMs = 20, MaxBatchSize = 16 });
        await server.Ready.WaitAsync(Timeout);
        using var client = Client(server);
        var single = new List<JsonNode?>();
        foreach (var t in texts) single.Add((await Post(client, Body(t!))).Body);
        Assert.Equal(expected.Count, texts.Count);

        using var cts = new CancellationTokenSource(Timeout);
        var clients = Enumerable.Range(0, 16).Select(c => Task.Run(async () =>
        {
            for (int r = 0; r < 8; r++)
            {
                int k = (c + r) % texts.Count;
                var (status, body, _) = await Post(client, Body(texts[k]!), cts.Token);
                Assert.Equal(HttpStatusCode.OK, status);
                // Hugging Face's answer for this text, whatever batch it was padded into (and the same as alone).
                PipelineFixtureTests.AssertSame(expected[k], body, $"client {c} request {r}");
                PipelineFixtureTests.AssertSame(single[k], body, $"client {c} request {r} (alone)");
            }
        }, cts.Token)).ToArray();
        await Task.WhenAll(clients).WaitAsync(Timeout);

        string metrics = await client.GetStringAsync("/metrics");
        double sum = Metric(metrics, "deberta_batch_size_sum"), count = Metric(metrics, "deberta_batch_size_count");
        Assert.True(sum / count > 1, $"mean batch size {sum / count}\n{metrics}");
        Assert.Equal(16 * 8 + texts.Count, Metric(metrics, "deberta_requests_total{code=\"200\"}"));
        Assert.Equal(0, Metric(metrics, "deberta_request_errors_total"));
        Assert.Equal(16 * 8 + texts.Count, Metric(metrics, "deberta_request_duration_seconds_count"));
        Assert.Equal(0, Metric(metrics, "deberta_queue_depth"));
    }

    internal static double Metric(string text, string name)
    {
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(name + " ", StringComparison.Ordinal)) return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
        throw new Xunit.Sdk.XunitException($"no metric {name} in\n{text}");
    }

    [Fact]
    public void A_Bad_Host_Is_A_Usage_Error_Before_Anything_Loads()
    {
        var (code, stdout, stderr) = DebertaSharp.Tests.Cli.ForwardCommandTests.RunInProcess(
            ["serve", "--model", ModelDir("sequence_classification"), "--tokenizer", TokenizerDir, "--task", "text-classification", "--host", "my host"]);
        Assert.True(code == 2, $"exit {code}: {stderr}");
        Assert.Contains("host must be an IP address, localhost or *, not 'my host'", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public async Task BadRequestsAnswer400NamingTheField()
    {
        await using var server = await Start("fill-mask", "masked_lm", o => o with { MaxBatchDelayMs = 0 });
        await server.Ready.WaitAsync(Timeout);
        using var client = Client(server);
        string text = Expected["texts"]!["fill_mask"]![0]!.GetValue<string>();
        (string Body, string Field)[] cases =
        [
            ("{\"inputs\": \"x\"", "body"),
            ("[1, 2]", "body"),
            ("{\"parameters\": {}}", "inputs"),
            ("{\"inputs\": 3}", "inputs"),
            ("{\"inputs\": \"a\", \"extra\": 1}", "extra"),
            ("{\"inputs\": \"a [MASK]\", \"parameters\": [1]}", "parameters"),
            (Body(text, new JsonObject { ["bogus"] = 1 }), "bogus"),
            (Body(text, new JsonObject { ["top_k"] = "many" }), "top_k"),
            (Body(new JsonArray(text, 5)), "inputs"),
        ];
        // An item of a list is named by its index.
        var (_, itemAnswer, _) = await Post(client, Body(new JsonArray(text, text, 5)));
        Assert.StartsWith("inputs[2]: ", itemAnswer!["error"]!.GetValue<string>());
        foreach (var (body, field) in cases)
        {
            var (status, answer, response) = await Post(client, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{body}: {status} {answer?.ToJsonString()}");
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.False(string.IsNullOrEmpty(answer!["error"]!.GetValue<string>()));
            Assert.True(answer["field"]?.GetValue<string>()?.Contains(field, StringComparison.Ordinal) == true, $"{body}: {answer.ToJsonString()}");
        }
        // The server still answers after the errors.
        Assert.Equal(HttpStatusCode.OK, (await Post(client, Body(text))).Status);
    }

    [Fact]
    public async Task OversizedBodyOrTextAnswers413()
    {
        await using var server = await Start("fill-mask", "masked_lm", o => o with { MaxBodyBytes = 2000, MaxInputChars = 100 });
        await server.Ready.WaitAsync(Timeout);
        using var client = Client(server);
        var (status, answer, _) = await Post(client, Body(new string('a', 5000) + " [MASK]"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.NotNull(answer?["error"]);
        (status, answer, _) = await Post(client, Body(new JsonArray(new string('a', 60) + " [MASK]", new string('b', 60) + " [MASK]")));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("inputs", answer!["field"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await Post(client, Body("Paris is the [MASK] of France."))).Status);
    }

    [Fact]
    public async Task FullQueueAnswers503WithRetryAfterAndDisconnectCancelsQueuedWork()
    {
        using var entered = new SemaphoreSlim(0);
        using var gate = new ManualResetEventSlim(false);
        await using var server = await Start("text-classification", "sequence_classification", o => o with
        {
            MaxQueue = 1, MaxBatchSize = 1, MaxBatchDelayMs = 0,
            BeforeBatch = () => { entered.Release(); gate.Wait(Timeout); },
        });
        await server.Ready.WaitAsync(Timeout);
        using var client = Client(server);
        try
        {
            var first = Post(client, Body("first"));
            Assert.True(await entered.WaitAsync(Timeout), "the first request never reached the worker");
            // A queued request whose client goes away leaves the queue.
            using (var cts = new CancellationTokenSource())
            {
                var gone = Post(client, Body("gone"), cts.Token);
                await WaitUntil(() => server.QueueDepth == 1);
                cts.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
                await WaitUntil(() => server.QueueDepth == 0);
            }
            var second = Post(client, Body("second"));
            await WaitUntil(() => server.QueueDepth == 1);
            var (status, answer, response) = await Post(client, Body("third"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.True(response.Headers.RetryAfter is not null, "no Retry-After");
            Assert.NotNull(answer?["error"]);
            gate.Set();
            Assert.Equal(HttpStatusCode.OK, (await first.WaitAsync(Timeout)).Status);
            Assert.Equal(HttpStatusCode.OK, (await second.WaitAsync(Timeout)).Status);
        }
        finally
        {
            gate.Set();
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task HealthIs503UntilLoadedAndInfoDescribesTheModel()
    {
        using var gate = new ManualResetEventSlim(false);
        await using var server = await Start("text-classification", "sequence_classification", o => o with
        {
            Loader = () => { gate.Wait(Timeout); return PipelineFactory.Create(o.Task, o.ModelDir, o.TokenizerDir); },
        });
        using var client = Client(server);
        try
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health")).StatusCode);
            var (status, _, response) = await Post(client, Body("hello"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.NotNull(response.Headers.RetryAfter);
        }
        finally
        {
            gate.Set();
        }
        await server.Ready.WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        var info = JsonNode.Parse(await client.GetStringAsync("/info"))!;
        Assert.Equal("text-classification", info["task"]!.GetValue<string>());
        Assert.Equal(Path.GetFullPath(ModelDir("sequence_classification")), info["model"]!.GetValue<string>());
        Assert.Equal("{\"0\":\"NEG\",\"1\":\"NEU\",\"2\":\"POS\"}", info["labels"]!.ToJsonString());
        Assert.Equal("float32", info["dtype"]!.GetValue<string>());
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("# TYPE deberta_request_duration_seconds histogram", metrics);
        Assert.Contains("deberta_requests_total{code=\"503\"} 1", metrics);
    }
}
