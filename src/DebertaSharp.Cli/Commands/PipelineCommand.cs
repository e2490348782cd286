using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Cli;

/// <summary>
/// <c>deberta pipeline &lt;task&gt; --model DIR [--tokenizer DIR] (--input FILE.json | TEXT...) [task parameters]</c>:
/// Hugging Face's <c>pipeline(task)(inputs, **parameters)</c>, one JSON line per input holding the value Hugging Face
/// returns for that input.
/// </summary>
internal static class PipelineCommand
{
    /// <summary>The <c>pipeline</c> command.</summary>
    internal static Command Build()
    {
        var task = Opt.ChoiceArgument("task", "The task", PipelineFactory.Tasks);
        var texts = new Argument<string[]>("TEXT") { Description = "Input texts (or use --input).", Arity = ArgumentArity.ZeroOrMore };
        var model = Opt.Required<string>("--model", "Checkpoint folder (config.json + weights) with the task's head.").WithHelpName("DIR");
        var tokenizer = Opt.Create<string>("--tokenizer", "Tokenizer folder; defaults to --model.").WithHelpName("DIR");
        var input = Opt.Create<string>("--input", "A JSON array of inputs: strings; {\"text\", \"text_pair\"} objects for text-classification; {\"question\", \"context\"} objects for question-answering.").WithHelpName("FILE.json");
        var topK = Opt.Create<string>("--top_k", "How many results: fill-mask (5), text-classification (the best label; all for every label), question-answering (1).").WithHelpName("N|all");
        var targets = Opt.Create<string>("--targets", "fill-mask: restrict the proposals to these words (split at commas only: a leading space is kept and selects the word-initial BPE token, as \" Paris\" in Python).").WithHelpName("A,B");
        var function = Opt.Choice("--function_to_apply", "text-classification: the score function (default from the model's problem type and labels).", ["softmax", "sigmoid", "none"]);
        var aggregation = Opt.Choice("--aggregation_strategy", "token-classification: how sub-word predictions are grouped.", ["none", "simple", "first", "average", "max"]);
        var ignoreLabels = Opt.Create<string>("--ignore_labels", "token-classification: labels left out of the output (default O).").WithHelpName("L,...");
        var stride = Opt.Create<int?>("--stride", "token-classification: overlap of the windows a long text is split into (0 or more).").WithHelpName("N");
        var docStride = Opt.Create<int?>("--doc_stride", "question-answering: overlap of the context windows (0 or more).").WithHelpName("N");
        var maxAnswerLen = Opt.PositiveInt("--max_answer_len", "question-answering: the longest answer in tokens (15).");
        var maxSeqLen = Opt.PositiveInt("--max_seq_len", "question-answering: tokens per window (384).");
        var impossible = Opt.Flag("--handle_impossible_answer", "question-answering: the empty answer may win.");
        var candidates = Opt.Create<string>("--candidate_labels", "zero-shot-classification: the labels to choose from (comma-separated).").WithHelpName("A,B");
        var template = Opt.Create<string>("--hypothesis_template", "zero-shot-classification: the hypothesis (\"This example is {}.\").").WithHelpName("T");
        var multiLabel = Opt.Flag("--multi_label", "zero-shot-classification: score each label on its own.");
        var batchSize = Opt.PositiveInt("--batch_size", "Inputs per forward pass (8).");
        var dtype = Opt.Choice("--dtype", "Compute dtype: the weights are cast to it on load, whatever the checkpoint stores (float16 too).", ["float32", "bfloat16"], "float32");

        var command = new Command("pipeline",
            "Runs a Hugging Face pipeline (fill-mask, classification, NER, question answering, zero-shot, features).\n\n" +
            "Prints one JSON line per input, in input order, holding the value Hugging Face's pipeline returns for that " +
            "input (same keys and nesting; scores as float32 values). Parameters keep Hugging Face's names. Inputs run " +
            "in chunks of 16 batches, each printed when done; Ctrl-C stops between chunks (exit 130).")
        {
            task, texts, model, tokenizer, input, topK, targets, function, aggregation, ignoreLabels, stride, docStride, maxAnswerLen,
            maxSeqLen, impossible, candidates, template, multiLabel, batchSize, dtype,
        };
        CliApp.SetAction(command, (p, ct) =>
        {
            string kind = p.GetRequiredValue(task);
            string[] args = p.GetValue(texts) ?? [];
            string? inputFile = p.GetValue(input);
            if ((inputFile is null) == (args.Length == 0))
                throw new CliUsageException("give either --input FILE.json or input texts, not both and not neither");
            var inputs = inputFile is null ? new JsonArray([.. args.Select(a => (JsonNode?)JsonValue.Create(a))]) : ReadInputs(inputFile);

            // Only the parameters given are passed: a pipeline refuses those its task does not have, naming them.
            var parameters = new JsonObject();
            if (p.GetValue(stride) is < 0 || p.GetValue(docStride) is < 0)
                throw new CliUsageException("--stride and --doc_stride must be 0 or more");
            if (p.GetValue(topK) is "all" && kind is not ("text-classification" or "sentiment-analysis"))
                throw new CliUsageException("--top_k all is for text-classification; give a number");
            if (p.GetValue(topK) is { } k)
                parameters["top_k"] = k == "all" ? null
                    : int.TryParse(k, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 ? n
                    : throw new CliUsageException($"--top_k must be a positive integer or all, not '{k}'");
            if (p.GetValue(targets) is { } t) parameters["targets"] = List(t, trim: false);
            if (p.GetValue(function) is { } f) parameters["function_to_apply"] = f;
            if (p.GetValue(aggregation) is { } a) parameters["aggregation_strategy"] = a;
            if (p.GetValue(ignoreLabels) is { } il) parameters["ignore_labels"] = List(il);
            if (p.GetValue(stride) is int st) parameters["stride"] = st;
            if (p.GetValue(docStride) is int ds) parameters["doc_stride"] = ds;
            if (p.GetValue(maxAnswerLen) is int mal) parameters["max_answer_len"] = mal;
            if (p.GetValue(maxSeqLen) is int msl) parameters["max_seq_len"] = msl;
            if (p.GetValue(impossible)) parameters["handle_impossible_answer"] = true;
            if (p.GetValue(candidates) is { } cl) parameters["candidate_labels"] = List(cl);
            if (p.GetValue(template) is { } tp) parameters["hypothesis_template"] = tp;
            if (p.GetValue(multiLabel)) parameters["multi_label"] = true;
            if (p.GetValue(batchSize) is int bs) parameters["batch_size"] = bs;

            string modelDir = p.GetRequiredValue(model);
            if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"--model: folder '{modelDir}' does not exist");
            var computeDtype = Opt.Dtype(p.GetValue(dtype)) ?? ScalarType.Float32;
            using var pipeline = PipelineFactory.Create(kind, modelDir, p.GetValue(tokenizer), computeDtype);
            if (computeDtype == ScalarType.BFloat16 && !CpuFeatures.HasBf16) p.InvocationConfiguration.Error.WriteLine($"deberta pipeline: {CpuFeatures.Bf16EmulatedNotice}");
            // The inputs go through in chunks of ChunkBatches batches: each chunk's lines are printed when it is done, and
            // Ctrl-C stops before the next chunk (the lines printed so far are complete).
            var stdout = p.InvocationConfiguration.Output;
            int chunk = ChunkBatches * (p.GetValue(batchSize) ?? PipelineBatching.DefaultBatchSize);
            for (int start = 0; start < inputs.Count; start += chunk)
            {
                ct.ThrowIfCancellationRequested();
                var part = new JsonArray([.. inputs.Skip(start).Take(chunk).Select(x => x?.DeepClone())]);
                var results = pipeline.Run(part, parameters) as JsonArray
                    ?? throw new InvalidOperationException("the pipeline returned no list for a list of inputs");
                foreach (var r in results) stdout.WriteLine(r?.ToJsonString() ?? "null");
                stdout.Flush();
            }
            return 0;
        });
        return command;
    }

    /// <summary>Batches per chunk of inputs (see the command's action).</summary>
    internal const int ChunkBatches = 16;

    /// <summary>
    /// A comma-separated flag as a list, empty items dropped. Labels are stripped (zero-shot's own
    /// <c>label.strip() for label in labels.split(",")</c>); fill-mask targets are not, since " Paris" and "Paris" are
    /// different BPE tokens.
    /// </summary>
    private static JsonArray List(string commaSeparated, bool trim = true) =>
        new([.. commaSeparated.Split(',').Select(x => trim ? x.Trim() : x).Where(x => x.Trim().Length > 0).Select(x => (JsonNode?)JsonValue.Create(x))]);

    private static JsonArray ReadInputs(string path)
    {
        if (Directory.Exists(path)) throw new CliUsageException($"--input: '{path}' is a folder, not a file");
        if (!File.Exists(path)) throw new FileNotFoundException($"--input: file '{path}' does not exist", path);
        try
        {
            return JsonNode.Parse(File.ReadAllBytes(path).AsSpan().TrimStart("\uFEFF"u8).ToArray()) as JsonArray
                ?? throw new InvalidDataException($"--input {path}: expected a JSON array of inputs");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"--input {path}: not valid JSON: {e.Message}", e);
        }
    }
}
