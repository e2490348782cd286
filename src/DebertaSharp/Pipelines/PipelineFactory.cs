using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

/// <summary>
/// Builds a pipeline from a task name and a checkpoint folder (Hugging Face's <c>pipeline(task, model=..., tokenizer=...)</c>).
/// Tasks other than the four here are answered by <c>CreateOther</c>, implemented in another file of this partial class.
/// </summary>
public static partial class PipelineFactory
{
    /// <summary>Loads the model (with the task's head) and the tokenizer, and builds the task's pipeline.</summary>
    /// <param name="task"><c>fill-mask</c>, <c>text-classification</c> (or <c>sentiment-analysis</c>),
    /// <c>token-classification</c> (or <c>ner</c>), <c>feature-extraction</c>, or a task of <c>CreateOther</c>.</param>
    /// <param name="modelDir">The checkpoint folder.</param>
    /// <param name="tokenizerDir">The tokenizer folder; null for <paramref name="modelDir"/>.</param>
    /// <exception cref="ArgumentException">Unknown task.</exception>
    public static Pipeline Create(string task, string modelDir, string? tokenizerDir = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(modelDir);
        DebertaHead? head = task switch
        {
            "fill-mask" => DebertaHead.MaskedLM,
            "text-classification" or "sentiment-analysis" => DebertaHead.SequenceClassification,
            "token-classification" or "ner" => DebertaHead.TokenClassification,
            "feature-extraction" => DebertaHead.Base,
            _ => null,
        };
        var tokenizer = DebertaTokenizerBase.FromPretrained(tokenizerDir ?? modelDir);
        var model = DebertaPreTrainedModel.FromPretrained(modelDir, head: head);
        try
        {
            return task switch
            {
                "fill-mask" => new FillMaskPipeline(model, tokenizer),
                "text-classification" or "sentiment-analysis" => new TextClassificationPipeline(model, tokenizer),
                "token-classification" or "ner" => new TokenClassificationPipeline(model, tokenizer),
                "feature-extraction" => new FeatureExtractionPipeline(model, tokenizer),
                _ => CreateOther(task, model, tokenizer)
                     ?? throw new ArgumentException($"unknown task \"{task}\"", nameof(task)),
            };
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Builds the pipeline of a task not handled above (model loaded with the head its config names), or null.</summary>
    private static partial Pipeline? CreateOther(string task, DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer);
}
