using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

/// <summary>
/// Base of the task pipelines (Hugging Face's <c>Pipeline</c>): a model and its tokenizer answering one task. Inputs
/// and outputs are Hugging Face's JSON shapes (the Inference API's <c>inputs</c> / <c>parameters</c>), so that the
/// library, <c>deberta pipeline</c> and <c>deberta serve</c> give the same values; each task's class also has typed
/// methods.
/// </summary>
public abstract class Pipeline : IDisposable
{
    /// <summary>Creates the pipeline over a loaded model and tokenizer (owned by the pipeline from then on).</summary>
    /// <param name="model">The model, in evaluation mode.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    private protected Pipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        Model = model;
        Tokenizer = tokenizer;
        model.eval();
    }

    /// <summary>Hugging Face's task name (<c>fill-mask</c>, <c>text-classification</c>, ...).</summary>
    public abstract string Task { get; }

    /// <summary>The model.</summary>
    public DebertaPreTrainedModel Model { get; }

    /// <summary>The tokenizer.</summary>
    public DebertaTokenizerBase Tokenizer { get; }

    /// <summary>
    /// Runs the pipeline as Hugging Face's <c>pipeline(inputs, **parameters)</c>: one input gives its value, a JSON
    /// array of inputs the array of values, in input order.
    /// </summary>
    /// <param name="inputs">A string, an array, or the task's input object.</param>
    /// <param name="parameters">Hugging Face's parameter names and values (<c>{"top_k": 5}</c>); null for the defaults.</param>
    /// <exception cref="ArgumentException">An input or parameter is of the wrong type or value; the message names it.</exception>
    public abstract JsonNode? Run(JsonNode inputs, JsonObject? parameters = null);

    /// <summary>Loads a checkpoint and builds the pipeline of <paramref name="task"/> (see <see cref="PipelineFactory.Create"/>).</summary>
    /// <param name="task">The task name (<c>fill-mask</c>, <c>text-classification</c>, ...).</param>
    /// <param name="modelDir">The checkpoint folder.</param>
    /// <param name="tokenizerDir">The tokenizer folder; null for <paramref name="modelDir"/>.</param>
    public static Pipeline Create(string task, string modelDir, string? tokenizerDir = null) =>
        PipelineFactory.Create(task, modelDir, tokenizerDir);

    /// <summary>Releases the model.</summary>
    public void Dispose()
    {
        Model.Dispose();
        GC.SuppressFinalize(this);
    }
}
