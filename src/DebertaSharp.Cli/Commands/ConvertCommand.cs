using System.CommandLine;
using static TorchSharp.torch;
using DebertaSharp.Serialization;
using DebertaSharp.TensorFlow;

namespace DebertaSharp.Cli;

/// <summary>
/// <c>deberta convert --model DIR --to pt|tf --output DIR [--head ...]</c>: rewrites a checkpoint as PyTorch weights
/// (<c>model.safetensors</c>) or as a TensorFlow checkpoint (<c>tf_model.h5</c> in Keras's layout), with config.json.
/// </summary>
internal static class ConvertCommand
{
    private static readonly string[] Heads = ["auto", "base", "masked-lm", "sequence-classification", "token-classification", "question-answering"];

    /// <summary>The <c>convert</c> command: its options and its action.</summary>
    internal static Command Build()
    {
        var model = Opt.Required<string>("--model",
            "Checkpoint folder: config.json plus tf_model.h5, model.safetensors (sharded or not) or pytorch_model.bin.").WithHelpName("DIR");
        var to = Opt.Choice("--to", "pt: write model.safetensors from tf_model.h5 (or the PyTorch weights); tf: write tf_model.h5 from the " +
            "PyTorch weights (or tf_model.h5).", ["pt", "tf"]);
        to.Required = true;
        var output = Opt.Required<string>("--output", "Folder to write (created if needed): the weights file and config.json, each " +
            "replaced only once completely written.").WithHelpName("DIR");
        var head = Opt.Choice("--head", "Model class; auto takes it from config.json \"architectures\".", Heads, "auto");
        var dtype = Opt.Choice("--dtype", "Weights' dtype in the written file (--to pt; as model.to(dtype).save_pretrained): auto keeps " +
            "the checkpoint's. --to tf writes float32 (TF models run in float32 only).", ["auto", "float32", "float16", "bfloat16"], "auto");
        var command = new Command("convert",
            "Converts a checkpoint between the PyTorch and the TensorFlow (Keras h5) formats.\n\n" +
            "--to tf writes tf_model.h5 with the names, shapes, dtypes and attributes that transformers 4.x's TFDeberta* " +
            "save_pretrained writes; --to pt writes model.safetensors as DebertaPreTrainedModel.SavePretrained does.")
        {
            model, to, output, head, dtype,
        };
        CliApp.SetAction(command, (parseResult, cancellationToken) => Run(
            parseResult.GetRequiredValue(model), parseResult.GetValue(to)!, parseResult.GetRequiredValue(output), parseResult.GetValue(head),
            parseResult.GetValue(dtype)!, parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error));
        return command;
    }

    private static int Run(string modelDir, string to, string outputDir, string? headName, string dtypeName, TextWriter stdout, TextWriter stderr)
    {
        ScalarType? dtype = Opt.Dtype(dtypeName);   // null: auto, the checkpoint's
        if (to == "tf" && dtype is not (null or ScalarType.Float32))
            throw new CliUsageException($"--dtype {dtypeName}: --to tf writes float32 weights only (TF models run in float32)");
        DebertaHead? head = ForwardCommand.ParseHead(headName);
        if (File.Exists(modelDir)) throw new IOException($"--model: '{modelDir}' is a file, not a checkpoint folder");
        if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"--model: folder '{modelDir}' does not exist");
        if (File.Exists(outputDir)) throw new IOException($"--output: '{outputDir}' is a file, not a folder");
        var options = new PretrainedLoadOptions { Log = message => stderr.WriteLine($"deberta convert: {message}") };
        bool hasPt = CheckpointFiles.Find(modelDir) is not null;
        bool hasTf = File.Exists(Path.Combine(modelDir, "tf_model.h5"));
        if (to == "tf")
        {
            using var model = TFDebertaPreTrainedModel.FromPretrained(modelDir, fromPt: hasPt, head: head, options: options);
            model.SavePretrained(outputDir);
            stdout.WriteLine($"{model.GetType().Name}: wrote {Path.Combine(outputDir, "tf_model.h5")} ({model.WeightNames.Count} weights) and config.json");
        }
        else
        {
            using var model = DebertaPreTrainedModel.FromPretrained(modelDir, dtype, head: head ?? TFDebertaPreTrainedModel.HeadFromArchitectures(
                DebertaConfig.FromFile(Path.Combine(modelDir, "config.json")).Architectures),
                options: options with { FromTf = hasTf });
            model.SavePretrained(outputDir);
            stdout.WriteLine($"{model.GetType().Name}: wrote {Path.Combine(outputDir, "model.safetensors")} ({model.LoadReport?.ModelDtype.ToString().ToLowerInvariant()}) and config.json");
        }
        return 0;
    }
}
