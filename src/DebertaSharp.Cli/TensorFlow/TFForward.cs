using DebertaSharp.Serialization;
using DebertaSharp.TensorFlow;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Cli.TensorFlow;

/// <summary><c>deberta forward --framework tf</c>: the TFDeberta* classes on the same inputs and outputs as the PyTorch path.</summary>
internal static class TFForward
{
    /// <summary>True when <paramref name="dir"/> holds tf_model.h5 and no PyTorch weights.</summary>
    public static bool OnlyTensorFlowWeights(string dir) =>
        Directory.Exists(dir) && File.Exists(Path.Combine(dir, "tf_model.h5")) && CheckpointFiles.Find(dir) is null;

    public static int Run(string modelDir, DebertaInputs inputs, string inputsPath, string outputPath, DebertaHead? head,
        TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var options = new PretrainedLoadOptions { Log = message => stderr.WriteLine($"deberta forward: {message}") };
        using var model = TFDebertaPreTrainedModel.FromPretrained(modelDir, fromPt: null, head: head, options: options);
        cancellationToken.ThrowIfCancellationRequested();
        string className = model.GetType().Name;
        ForwardCommand.WarnIgnoredTargets(inputs, model.Head, className, stderr);
        ModelOutput output;
        using (no_grad())
        {
            try
            {
                output = model.Call(inputs, training: false);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{inputsPath}: {e.Message}", e);
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        return ForwardCommand.WriteOutputs(output, outputPath, "tf", className, stdout);
    }
}
