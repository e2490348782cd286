using System.CommandLine;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Cli;

/// <summary>
/// <c>deberta forward --model DIR --inputs IN.safetensors --output OUT.safetensors [--output-hidden-states]
/// [--output-attentions] [--head auto|base|masked-lm|sequence-classification|token-classification|question-answering]
/// [--dtype float32|float16|bfloat16] [--framework pt|tf]</c>: runs a checkpoint on the <c>input.*</c> tensors of a safetensors file and
/// writes <c>output.&lt;field&gt;</c> tensors (fp32) named as Hugging Face's output fields.
/// </summary>
internal static class ForwardCommand
{
    private static readonly string[] Heads = ["auto", "base", "masked-lm", "sequence-classification", "token-classification", "question-answering"];
    private static readonly string[] DTypes = ["float32", "float16", "bfloat16"];
    private static readonly string[] KnownInputs =
        ["input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds", "labels", "start_positions", "end_positions"];

    /// <summary>The <c>forward</c> command: its options and its action.</summary>
    internal static Command Build()
    {
        var model = Opt.Required<string>("--model",
            "Checkpoint folder: config.json plus model.safetensors, sharded safetensors (model.safetensors.index.json) " +
            "or pytorch_model.bin; when several are present the choice is Hugging Face's (safetensors first).").WithHelpName("DIR");
        var inputs = Opt.Required<string>("--inputs",
            "Safetensors file with the input.* tensors: input.input_ids, input.attention_mask, input.token_type_ids, " +
            "input.position_ids, input.inputs_embeds, input.labels, input.start_positions, input.end_positions (ids and " +
            "masks int64; labels int64 or float). Other tensors are ignored; an unknown input.* name is an error.").WithHelpName("IN.safetensors");
        var output = Opt.Required<string>("--output",
            "Safetensors file to write: output.<field> in fp32 (last_hidden_state, logits, start_logits, end_logits, loss, " +
            "hidden_states.<i>, attentions.<i>). Replaced only when the whole file has been written.").WithHelpName("OUT.safetensors");
        var hiddenStates = Opt.Flag("--output-hidden-states", "Also write output.hidden_states.<i> (the embedding output first).");
        var attentions = Opt.Flag("--output-attentions", "Also write output.attentions.<i>.");
        var head = Opt.Choice("--head", "Model class; auto takes it from config.json \"architectures\" (the base model when it " +
            "is absent or empty; an error when it names no DeBERTa class).", Heads, "auto");
        var dtype = Opt.Choice("--dtype", "Compute dtype (the weights are cast to it); outputs are always written as fp32.", DTypes, "float32");
        var framework = Opt.Choice("--framework", "pt: the PyTorch classes (DebertaModel, ...); tf: the TF classes (TFDebertaModel, ...: " +
            "tf_model.h5, Keras semantics, float32). Default: tf when the folder holds tf_model.h5 and no PyTorch weights, else pt.",
            ["pt", "tf"]);

        var command = new Command("forward",
            "Runs a checkpoint on the input.* tensors of a safetensors file and writes its outputs.\n\n" +
            "Loads the checkpoint in DIR, runs it in evaluation mode on the tensors of IN.safetensors and writes " +
            "OUT.safetensors with output.<field> in fp32, named as Hugging Face's output fields. The model class comes " +
            "from config.json \"architectures\" unless --head says otherwise.")
        {
            model, inputs, output, hiddenStates, attentions, head, dtype, framework,
        };
        CliApp.SetAction(command, (parseResult, cancellationToken) => Run(
            parseResult.GetRequiredValue(model), parseResult.GetRequiredValue(inputs), parseResult.GetRequiredValue(output),
            parseResult.GetValue(hiddenStates), parseResult.GetValue(attentions), parseResult.GetValue(head), parseResult.GetValue(dtype),
            parseResult.GetValue(framework), parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static int Run(string modelDir, string inputsPath, string outputPath, bool outputHiddenStates, bool outputAttentions,
        string? headName, string? dtypeName, string? frameworkName, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        DebertaHead? head = ParseHead(headName);
        ScalarType dtype = Opt.Dtype(dtypeName) ?? ScalarType.Float32;
        if (File.Exists(modelDir)) throw new IOException($"--model: '{modelDir}' is a file, not a checkpoint folder");
        if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"--model: folder '{modelDir}' does not exist");
        CliFiles.CheckInputFile("--inputs", inputsPath);
        CliFiles.CheckOutputFile("--output", outputPath);

        bool tf = frameworkName == "tf" || frameworkName is null && TensorFlow.TFForward.OnlyTensorFlowWeights(modelDir);
        if (tf && dtype != ScalarType.Float32) throw new ArgumentException("--framework tf runs in float32 (Keras's default); --dtype must be float32");

        using var scope = torch.NewDisposeScope();
        var tensors = SafeTensors.Load(inputsPath);
        var inputs = ReadInputs(tensors, inputsPath, dtype, outputHiddenStates, outputAttentions);
        cancellationToken.ThrowIfCancellationRequested();

        if (tf) return TensorFlow.TFForward.Run(modelDir, inputs, inputsPath, outputPath, head, stdout, stderr, cancellationToken);
        using var model = Load(modelDir, dtype, head, stderr);
        model.eval();
        cancellationToken.ThrowIfCancellationRequested();
        WarnIgnoredTargets(inputs, model.Head, model.GetType().Name, stderr);
        ModelOutput output;
        using (torch.no_grad())
        {
            try
            {
                output = model.Forward(inputs);
            }
            catch (ArgumentException e)
            {
                // The model names the input (input_ids, labels, ...); add the file it came from.
                throw new ArgumentException($"{inputsPath}: {e.Message}", e);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        return WriteOutputs(output, outputPath, "pt", model.GetType().Name, stdout);
    }

    /// <summary>The <c>--head</c> value as a head; null for <c>auto</c> (the config's architecture).</summary>
    internal static DebertaHead? ParseHead(string? headName) => headName switch
    {
        null or "auto" => null,
        "base" => DebertaHead.Base,
        "masked-lm" => DebertaHead.MaskedLM,
        "sequence-classification" => DebertaHead.SequenceClassification,
        "token-classification" => DebertaHead.TokenClassification,
        _ => DebertaHead.QuestionAnswering,
    };

    /// <summary>Targets the chosen head computes no loss from are ignored, and said so (Hugging Face's classes refuse them).</summary>
    internal static void WarnIgnoredTargets(DebertaInputs inputs, DebertaHead head, string className, TextWriter stderr)
    {
        bool qa = head == DebertaHead.QuestionAnswering;
        if (inputs.Labels is not null && (head == DebertaHead.Base || qa))
            stderr.WriteLine($"deberta forward: input.labels ignored: {className} computes no loss from labels");
        if ((inputs.StartPositions is not null || inputs.EndPositions is not null) && !qa)
            stderr.WriteLine($"deberta forward: input.start_positions/end_positions ignored: {className} is not a question-answering model");
    }

    /// <summary>Writes every output as <c>output.&lt;name&gt;</c> in float32 to <paramref name="outputPath"/> (atomically), metadata <c>format</c> = <paramref name="format"/>.</summary>
    internal static int WriteOutputs(ModelOutput output, string outputPath, string format, string className, TextWriter stdout)
    {
        var named = output.NamedTensors()
            .Select(kv => new KeyValuePair<string, Tensor>("output." + kv.Key, kv.Value.detach().to(ScalarType.Float32).contiguous()))
            .ToList();
        SafeTensors.Save(outputPath, named, new Dictionary<string, string> { ["format"] = format });
        stdout.WriteLine($"{className}: wrote {named.Count} tensors to {outputPath}");
        return 0;
    }

    private static DebertaPreTrainedModel Load(string modelDir, ScalarType dtype, DebertaHead? head, TextWriter stderr)
    {
        try
        {
            return DebertaPreTrainedModel.FromPretrained(modelDir, dtype: dtype, head: head,
                options: new PretrainedLoadOptions { Log = message => stderr.WriteLine($"deberta forward: {message}") });
        }
        catch (DebertaConfigException e) when (head is null && e.Key == "architectures" && e.Detail.EndsWith(DebertaPreTrainedModel.ArchitecturesHint, StringComparison.Ordinal))
        {
            // --head auto and an architectures list naming no DeBERTa class: say which flag picks the class.
            throw new DebertaConfigException(e.Key,
                e.Detail[..^DebertaPreTrainedModel.ArchitecturesHint.Length] + $"; choose the model class with --head ({string.Join(", ", Heads.Skip(1))})",
                e.FilePath, e);
        }
    }

    private static DebertaInputs ReadInputs(Dictionary<string, Tensor> file, string path, ScalarType dtype, bool hidden, bool attentions)
    {
        Tensor? Get(string name) => file.TryGetValue("input." + name, out var t) ? t : null;
        foreach (string key in file.Keys.Where(k => k.StartsWith("input.", StringComparison.Ordinal)))
        {
            if (Array.IndexOf(KnownInputs, key["input.".Length..]) < 0)
                throw new ArgumentException($"{path}: unknown input tensor '{key}' (known: {string.Join(", ", KnownInputs.Select(k => "input." + k))})");
        }
        Tensor? ids = Get("input_ids"), embeds = Get("inputs_embeds");
        if (ids is null && embeds is null)
            throw new ArgumentException($"{path}: has neither input.input_ids nor input.inputs_embeds");
        foreach (string name in new[] { "input_ids", "attention_mask", "token_type_ids", "position_ids", "start_positions", "end_positions" })
        {
            var t = Get(name);
            if (t is not null && t.dtype != ScalarType.Int64)
                throw new ArgumentException($"{path}: input.{name} must be int64, not {t.dtype}");
        }
        var labels = Get("labels");
        if (labels is not null && labels.dtype != ScalarType.Int64 && !labels.is_floating_point())
            throw new ArgumentException($"{path}: input.labels must be int64 or floating point, not {labels.dtype}");
        if (embeds is not null && !embeds.is_floating_point())
            throw new ArgumentException($"{path}: input.inputs_embeds must be floating point, not {embeds.dtype}");
        return new DebertaInputs
        {
            InputIds = ids,
            AttentionMask = Get("attention_mask"),
            TokenTypeIds = Get("token_type_ids"),
            PositionIds = Get("position_ids"),
            InputsEmbeds = embeds?.to(dtype),
            Labels = labels,
            StartPositions = Get("start_positions"),
            EndPositions = Get("end_positions"),
            OutputHiddenStates = hidden,
            OutputAttentions = attentions,
        };
    }
}
