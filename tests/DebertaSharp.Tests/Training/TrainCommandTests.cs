using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Tests.Cli;
using DebertaSharp.Tests.Modeling;
using DebertaSharp.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Training;

/// <summary><c>deberta train</c>: Hugging Face's trace through the command line, its flags, bad input, and resuming after a kill.</summary>
[Collection(GlobalRngCollection.Name)]
public sealed class TrainCommandTests(ITestOutputHelper log)
{
    /// <summary>Fixtures/training's batch as pre-tokenized JSON lines (input_ids, attention_mask, label), unpadded.</summary>
    internal static string WriteTraceJsonl(string path)
    {
        using var w = new StreamWriter(path);
        foreach (var f in TrainerTests.TraceFeatures())
            w.WriteLine(JsonSerializer.Serialize(new { input_ids = f.InputIds, attention_mask = f.AttentionMask, label = f.Label }));
        return path;
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => ForwardCommandTests.RunInProcess(["train", .. args]);

    [Theory]
    [InlineData("jsonl")]         // pre-tokenized JSON lines, unpadded
    [InlineData("safetensors")]   // the fixture's own batch file (input.* tensors, padded with an attention mask)
    public void Deberta_Train_Reproduces_The_Hugging_Face_Trace_On_Pre_Tokenized_Data(string format)
    {
        using var tmp = TestPaths.TempDir();
        string data = format == "jsonl" ? WriteTraceJsonl(tmp["trace.jsonl"]) : TestPaths.Fixture("training", "batch.safetensors");
        string output = tmp["out"];
        // The same recipe as trace.json, as a run_glue.py command line (snake_case flags; one kebab-case alias).
        var (code, stdout, stderr) = Run("text-classification", "--model_name_or_path", TestPaths.Fixture("training", "initial"),
            "--train_file", data, "--do_train", "--output_dir", output, "--learning_rate", "5e-3", "--weight_decay", "0.01",
            "--warmup_steps", "2", "--max_steps", "6", "--per-device-train-batch-size", "4", "--logging_steps", "1", "--save_strategy", "no",
            "--report_to", "none", "--overwrite_cache");
        log.WriteLine(stdout);
        Assert.True(code == 0, stderr);
        Assert.Contains("--report_to ignored", stderr);
        // Plain JSON log lines when the output is redirected.
        var lines = stdout.Split('\n').Where(l => l.StartsWith("{\"loss\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, lines.Count);
        Assert.All(lines, l => Assert.Contains("\"grad_norm\": ", l));
        var state = TrainerState.Load(Path.Combine(output, "trainer_state.json"));
        using var model = DebertaPreTrainedModel.FromPretrained(output);
        TrainerTests.AssertMatchesTrace(state.LogHistory, model, log);
        foreach (string f in new[] { "config.json", "model.safetensors", "train_results.json", "all_results.json", "trainer_state.json" })
            Assert.True(File.Exists(Path.Combine(output, f)), f);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "train_results.json")))!;
        Assert.Equal(4.0, (double)results["train_samples"]!);
    }

    [Fact]
    public void An_Eval_Strategy_Without_Do_Eval_Evaluates_As_In_Hugging_Face()
    {
        // TrainingArguments.__post_init__ sets do_eval when eval_strategy is not "no": run_glue.py then loads the
        // validation file, evaluates during training and after it.
        using var tmp = TestPaths.TempDir();
        string data = WriteTraceJsonl(tmp["trace.jsonl"]);
        string output = tmp["out"];
        var (code, stdout, stderr) = Run("text-classification", "--model_name_or_path", TestPaths.Fixture("training", "initial"),
            "--train_file", data, "--validation_file", data, "--do_train", "--output_dir", output, "--max_steps", "4",
            "--per_device_train_batch_size", "4", "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "no");
        log.WriteLine(stdout);
        Assert.True(code == 0, stderr);
        var state = TrainerState.Load(Path.Combine(output, "trainer_state.json"));
        Assert.Equal([2, 4], state.LogHistory.Where(h => h.ContainsKey("eval_loss")).Select(h => (int)h["step"]!));
        Assert.True(File.Exists(Path.Combine(output, "eval_results.json")), "no eval_results.json");
        var args = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training_args.json")))!;
        Assert.True((bool)args["do_eval"]!);
        Assert.True(new TrainingArguments { OutputDir = "x", EvalStrategy = IntervalStrategy.Epoch }.DoEval);
        Assert.False(new TrainingArguments { OutputDir = "x" }.DoEval);
    }

    [Fact]
    public void Help_Lists_Hugging_Face_Flags_And_Bad_Flags_Are_Usage_Errors()
    {
        var (code, stdout, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (string flag in new[] { "--learning_rate", "--per_device_train_batch_size", "--gradient_accumulation_steps", "--lr_scheduler_type",
                     "--eval_strategy", "--save_total_limit", "--load_best_model_at_end", "--early_stopping_patience", "--resume_from_checkpoint",
                     "--label_all_tokens", "--line_by_line", "--doc_stride", "--version_2_with_negative", "--max_seq_length" })
            Assert.Contains(flag, stdout);
        using var tmp = TestPaths.TempDir();
        (code, _, var err) = Run("text-classification", "--output_dir", tmp.Path, "--learning_rate", "fast");
        Assert.Equal(2, code);
        Assert.Contains("--learning_rate", err);
        (code, _, err) = Run("text-classification", "--output_dir", tmp.Path, "--lr_scheduler_type", "exponential");
        Assert.Equal(2, code);
        Assert.Contains("--lr_scheduler_type", err);
        (code, _, err) = Run("summarization", "--output_dir", tmp.Path);
        Assert.Equal(2, code);
        Assert.Contains("task", err);
        (code, _, err) = Run("text-classification", "--output_dir", tmp.Path, "--do_train", "--model_name_or_path", TestPaths.Fixture("training", "initial"),
            "--train_file", WriteTraceJsonl(tmp["t.jsonl"]), "--load_best_model_at_end");
        Assert.Equal(2, code);
        Assert.Contains("load_best_model_at_end", err);
    }

    /// <summary>A small sentiment slice as JSON lines (the first <paramref name="count"/> lines of the real data set).</summary>
    internal static string SentimentSlice(string path, int count, int skip = 0)
    {
        File.WriteAllLines(path, File.ReadLines(TestPaths.Fixture("datasets", "sentiment", "imdb_yelp.jsonl")).Skip(skip).Take(count));
        return path;
    }

    /// <summary>A tiny config on the deberta-base vocabulary (hidden 32, one layer) for from-scratch runs.</summary>
    internal static string TinyConfig(string dir, int maxPositions = 128)
    {
        Directory.CreateDirectory(dir);
        var node = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("configs", "deberta-tiny", "config.json")))!.AsObject();
        node["hidden_size"] = 32;
        node["intermediate_size"] = 64;
        node["num_hidden_layers"] = 1;
        node["num_attention_heads"] = 2;
        node["max_position_embeddings"] = maxPositions;
        File.WriteAllText(Path.Combine(dir, "config.json"), node.ToJsonString());
        return dir;
    }

    private static string[] Scratch(string task, TempDir tmp, string output, params string[] more) =>
        [task, "--config_name", TinyConfig(tmp["cfg"]), "--tokenizer_name", TestPaths.Fixture("deberta-base-vocab"), "--output_dir", output, .. more];

    [Fact]
    public void Bad_Input_Is_Reported_Before_Training_And_Writes_Nothing()
    {
        using var tmp = TestPaths.TempDir();
        string good = SentimentSlice(tmp["good.jsonl"], 20);
        void Expect(string because, string[] args, params string[] inMessage)
        {
            string output = tmp["out-" + Guid.NewGuid().ToString("N")[..6]];
            var (code, _, err) = Run(Scratch("text-classification", tmp, output, args));
            log.WriteLine($"{because}: exit {code}: {err.Trim()}");
            Assert.True(code is 1 or 2, $"{because}: exit {code}");
            foreach (string s in inMessage) Assert.Contains(s, err);
            Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(), $"{because}: files were written");
        }
        File.WriteAllText(tmp["nolabel.jsonl"], "{\"sentence\": \"a\"}\n{\"sentence\": \"b\"}\n");
        Expect("missing column", ["--train_file", tmp["nolabel.jsonl"], "--do_train"], "nolabel.jsonl", "'label'");
        File.WriteAllText(tmp["unseen.jsonl"], "{\"sentence\": \"a\", \"label\": 7}\n");
        Expect("unseen label", ["--train_file", good, "--validation_file", tmp["unseen.jsonl"], "--do_train", "--do_eval"], "unseen.jsonl:1", "'7'");
        File.WriteAllText(tmp["scores.jsonl"], "{\"sentence\": \"a\", \"label\": 0.5}\n{\"sentence\": \"b\", \"label\": 1.5}\n");
        File.WriteAllText(tmp["word_score.jsonl"], "{\"sentence\": \"a\", \"label\": \"pos\"}\n{\"sentence\": \"b\", \"label\": \"neg\"}\n");
        Expect("a word among regression labels", ["--train_file", tmp["scores.jsonl"], "--validation_file", tmp["word_score.jsonl"], "--do_train", "--do_eval"], "word_score.jsonl:1", "\"pos\"");
        File.WriteAllText(tmp["empty.jsonl"], "");
        Expect("empty file", ["--train_file", tmp["empty.jsonl"], "--do_train"], "empty.jsonl");
        File.WriteAllText(tmp["broken.jsonl"], "{\"sentence\": \"a\", \"label\": 0}\n{\"sentence\": \"b\", \"label\": \n");
        Expect("malformed line", ["--train_file", tmp["broken.jsonl"], "--do_train"], "broken.jsonl", "2");
        Expect("missing file", ["--train_file", tmp["nope.jsonl"], "--do_train"], "nope.jsonl");
        Expect("max_seq_length above the model's", ["--train_file", good, "--do_train", "--max_seq_length", "512"], "max_seq_length", "128");
        Expect("nothing to do", ["--train_file", good], "do_train");

        // An output folder holding a previous run, without --overwrite_output_dir or --resume_from_checkpoint.
        string previous = tmp["previous"];
        Directory.CreateDirectory(previous);
        File.WriteAllText(Path.Combine(previous, "model.safetensors"), "a good model");
        var (c2, _, e2) = Run(Scratch("text-classification", tmp, previous, "--train_file", good, "--do_train"));
        Assert.Equal(1, c2);
        Assert.Contains("overwrite_output_dir", e2);
        Assert.Equal("a good model", File.ReadAllText(Path.Combine(previous, "model.safetensors")));

        // question-answering: an answer that is not in its context.
        File.WriteAllText(tmp["bad_squad.json"], """{"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [{"id": "q1", "question": "Where?", "answers": [{"text": "Germany", "answer_start": 12}]}]}]}]}""");
        string qaOut = tmp["qa-out"];
        var (c3, _, e3) = Run(Scratch("question-answering", tmp, qaOut, "--train_file", tmp["bad_squad.json"], "--do_train", "--max_seq_length", "64", "--doc_stride", "16"));
        log.WriteLine(e3);
        Assert.Equal(1, c3);
        Assert.Contains("bad_squad.json", e3);
        Assert.Contains("q1", e3);
        Assert.False(Directory.Exists(qaOut));

        // Post-processing arguments that could only fail at the first evaluation are refused before training.
        File.WriteAllText(tmp["squad.json"], """{"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [{"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]}]}]}]}""");
        foreach (string[] bad in new[] { new[] { "--n_best_size", "-1" }, ["--n_best_size", "0", "--version_2_with_negative"], ["--doc_stride", "-2"] })
        {
            string badOut = tmp["qa-" + Guid.NewGuid().ToString("N")[..6]];
            var (c4, _, e4) = Run(Scratch("question-answering", tmp, badOut, ["--train_file", tmp["squad.json"], "--validation_file", tmp["squad.json"],
                "--do_train", "--do_eval", "--max_seq_length", "64", .. bad[0] == "--doc_stride" ? bad : [.. bad, "--doc_stride", "16"]]));
            log.WriteLine($"{string.Join(' ', bad)}: exit {c4}: {e4.Trim()}");
            Assert.True(c4 is 1 or 2, $"{string.Join(' ', bad)}: exit {c4}");
            Assert.Contains(bad[0][2..], e4);
            Assert.False(Directory.Exists(badOut), $"{string.Join(' ', bad)}: files were written");
        }
    }

    [Theory]
    [InlineData(new string[0], null)]                                  // unset: by the metric's name
    [InlineData(new[] { "--greater_is_better" }, true)]                // a bare flag, as HfArgumentParser takes Optional[bool]
    [InlineData(new[] { "--greater_is_better", "false" }, false)]
    [InlineData(new[] { "--greater_is_better", "True" }, true)]
    public void Greater_Is_Better_Is_An_Optional_Bool_Flag(string[] flag, bool? expected)
    {
        using var tmp = TestPaths.TempDir();
        string output = tmp["out"];
        var (code, _, stderr) = Run(Scratch("text-classification", tmp, output, ["--train_file", SentimentSlice(tmp["train.jsonl"], 8), "--do_train",
            "--max_steps", "1", "--save_strategy", "no", "--metric_for_best_model", "loss", .. flag]));
        Assert.True(code == 0, stderr);
        var args = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training_args.json")))!;
        Assert.Equal(expected, args["greater_is_better"]?.GetValue<bool>());
        var (bad, _, badErr) = Run(Scratch("text-classification", tmp, tmp["out2"], "--train_file", tmp["train.jsonl"], "--do_train", "--greater_is_better", "maybe"));
        Assert.Equal(2, bad);
        Assert.Contains("'maybe'", badErr);
    }

    [Fact]
    public void A_Max_Seq_Length_Above_The_Tokenizer_Limit_Is_Capped_With_A_Warning()
    {
        // run_glue: "The max_seq_length passed (64) is larger than the maximum length for the model (16). Using
        // max_seq_length=16." and min(max_seq_length, model_max_length) from there on.
        using var tmp = TestPaths.TempDir();
        string tok = tmp["tok"];
        Directory.CreateDirectory(tok);
        foreach (string f in new[] { "vocab.json", "merges.txt" }) File.Copy(TestPaths.Fixture("deberta-base-vocab", f), Path.Combine(tok, f));
        File.WriteAllText(Path.Combine(tok, "tokenizer_config.json"), """{"model_max_length": 16}""");
        string output = tmp["out"];
        string[] args = [.. Scratch("text-classification", tmp, output, "--train_file", SentimentSlice(tmp["train.jsonl"], 8), "--do_train",
            "--max_seq_length", "64", "--max_steps", "1", "--save_strategy", "no")];
        args[Array.IndexOf(args, "--tokenizer_name") + 1] = tok;
        var (code, stdout, stderr) = Run(args);
        log.WriteLine(stderr);
        Assert.True(code == 0, stderr);
        Assert.Contains("The max_seq_length passed (64) is larger than the maximum length for the model (16). Using max_seq_length=16.", stdout + stderr);
    }

    [Fact]
    public void A_Killed_Run_Resumed_From_Its_Last_Checkpoint_Ends_As_The_Uninterrupted_One()
    {
        using var tmp = TestPaths.TempDir();
        string train = SentimentSlice(tmp["train.jsonl"], 96);
        string[] Args(string output) => Scratch("text-classification", tmp, output, "--train_file", train, "--do_train",
            "--max_seq_length", "32", "--per_device_train_batch_size", "8", "--num_train_epochs", "8", "--learning_rate", "1e-3",
            "--logging_steps", "3", "--save_steps", "8", "--seed", "5");

        var (code, _, err) = Run(Args(tmp["full"]));
        Assert.True(code == 0, err);

        // The same run as a real process, killed once its second checkpoint exists, then resumed with `latest`.
        string output = tmp["killed"];
        string dll = Path.Combine(AppContext.BaseDirectory, "deberta.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("train");
        foreach (string arg in Args(output)) psi.ArgumentList.Add(arg);
        using (var process = Process.Start(psi)!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var clock = Stopwatch.StartNew();
            while (!Directory.Exists(Path.Combine(output, "checkpoint-16")) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
                Thread.Sleep(20);
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        string? last = Trainer.GetLastCheckpoint(output);
        Assert.NotNull(last);
        int step = int.Parse(Path.GetFileName(last)!["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(step, 16, 95);
        Assert.False(File.Exists(Path.Combine(output, "train_results.json")), "the process finished before it was killed");
        log.WriteLine($"killed after {last}");

        (code, _, err) = Run([.. Args(output), "--resume_from_checkpoint", "latest"]);
        Assert.True(code == 0, err);
        using var a = DebertaPreTrainedModel.FromPretrained(tmp["full"]);
        using var b = DebertaPreTrainedModel.FromPretrained(output);
        foreach (var ((name, p), (_, q)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(p, q) == 0, $"{name} differs after kill and resume");
        static string Losses(string dir) => string.Join(",", TrainerState.Load(Path.Combine(dir, "trainer_state.json")).LogHistory
            .Where(h => h.ContainsKey("loss")).Select(h => $"{h["step"]}:{h["loss"]}:{h["grad_norm"]}:{h["learning_rate"]}:{h["epoch"]}"));
        Assert.Equal(Losses(tmp["full"]), Losses(output));
    }

    /// <summary>
    /// As Hugging Face (<c>self.state.max_steps = max_steps</c> after loading the checkpoint's state), a run may be resumed
    /// with another max_steps: it stops there, and the linear schedule continues towards the new value, i.e. at step k
    /// the learning rate is learning_rate * (new_max_steps - k) / new_max_steps (no warmup).
    /// </summary>
    [Fact]
    public void Resuming_With_Another_Max_Steps_Follows_The_New_Schedule()
    {
        using var tmp = TestPaths.TempDir();
        string train = SentimentSlice(tmp["train.jsonl"], 64);
        string output = tmp["run"];
        string[] Args(int maxSteps) => Scratch("text-classification", tmp, output, "--train_file", train, "--do_train",
            "--max_seq_length", "32", "--per_device_train_batch_size", "8", "--max_steps", maxSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--learning_rate", "1e-3", "--logging_steps", "1", "--save_steps", "4", "--seed", "5");
        var (code, _, err) = Run(Args(8));
        Assert.True(code == 0, err);
        (code, _, err) = Run([.. Args(12), "--resume_from_checkpoint", Path.Combine(output, "checkpoint-4")]);
        Assert.True(code == 0, err);
        Assert.Contains("max_steps 8", err);
        var state = TrainerState.Load(Path.Combine(output, "trainer_state.json"));
        Assert.Equal(12, state.GlobalStep);
        Assert.Equal(12, state.MaxSteps);
        var lrs = state.LogHistory.Where(h => h.ContainsKey("loss")).ToDictionary(h => JsonNumbers.ToInt(h["step"]!),
            h => JsonNumbers.ToDouble(h["learning_rate"]!));
        // Steps 1-4 logged by the first run (schedule of 8; the resumed run keeps the checkpoint's history), 5-12 by the
        // resumed one (schedule of 12). The rate logged at step k is the one after k scheduler steps.
        for (int k = 1; k <= 4; k++) Assert.Equal(1e-3 * (8 - k) / 8, lrs[k], 12);
        for (int k = 5; k <= 12; k++) Assert.Equal(1e-3 * (12 - k) / 12, lrs[k], 12);
    }

    /// <summary>
    /// A float16 checkpoint fine-tunes on float32 weights, as transformers 4.x's scripts (from_pretrained without
    /// torch_dtype) do, and the result is saved in float32.
    /// </summary>
    [Fact]
    public void A_Float16_Checkpoint_Trains_And_Saves_In_Float32()
    {
        using var tmp = TestPaths.TempDir();
        string train = SentimentSlice(tmp["train.jsonl"], 16);
        var (code, _, err) = Run(Scratch("text-classification", tmp, tmp["scratch"], "--train_file", train, "--do_train",
            "--max_seq_length", "32", "--max_steps", "1", "--save_strategy", "no"));
        Assert.True(code == 0, err);
        (code, _, err) = ForwardCommandTests.RunInProcess(["convert", "--model", tmp["scratch"], "--to", "pt", "--dtype", "float16", "--output", tmp["fp16"]]);
        Assert.True(code == 0, err);
        Assert.Contains("\"dtype\": \"float16\"", File.ReadAllText(Path.Combine(tmp["fp16"], "config.json")));
        string output = tmp["run"];
        (code, _, err) = Run("text-classification", "--model_name_or_path", tmp["fp16"], "--tokenizer_name", TestPaths.Fixture("deberta-base-vocab"),
            "--train_file", train, "--do_train", "--max_seq_length", "32", "--per_device_train_batch_size", "8", "--max_steps", "2",
            "--save_strategy", "no", "--output_dir", output);
        Assert.True(code == 0, err);
        var weights = DebertaSharp.Serialization.SafeTensors.Load(Path.Combine(output, "model.safetensors"));
        try
        {
            Assert.All(weights.Values.Where(t => t.is_floating_point()), t => Assert.Equal(TorchSharp.torch.ScalarType.Float32, t.dtype));
        }
        finally { foreach (var t in weights.Values) t.Dispose(); }
        Assert.Contains("\"dtype\": \"float32\"", File.ReadAllText(Path.Combine(output, "config.json")));
    }
}
