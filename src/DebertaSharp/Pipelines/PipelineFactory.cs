using DebertaSharp.Tokenization;
using TorchSharp;

namespace DebertaSharp.Pipelines;

/// <summary>
/// Builds a pipeline from a task name and a checkpoint folder (Hugging Face's <c>pipeline(task, model=..., tokenizer=...,
/// torch_dtype=...)</c>).
/// </summary>
public static class PipelineFactory
{
    /// <summary>The task names <see cref="Create"/> accepts (Hugging Face's, with its aliases <c>sentiment-analysis</c> and <c>ner</c>).</summary>
    public static IReadOnlyList<string> Tasks { get; } =
        ["fill-mask", "text-classification", "sentiment-analysis", "token-classification", "ner", "question-answering", "zero-shot-classification", "feature-extraction"];

    /// <summary>Loads the model (with the task's head) and the tokenizer, and builds the task's pipeline.</summary>
    /// <param name="task"><c>fill-mask</c>, <c>text-classification</c> (or <c>sentiment-analysis</c>),
    /// <c>token-classification</c> (or <c>ner</c>), <c>question-answering</c>, <c>zero-shot-classification</c> or
    /// <c>feature-extraction</c>.</param>
    /// <param name="modelDir">The checkpoint folder.</param>
    /// <param name="tokenizerDir">The tokenizer folder; null for <paramref name="modelDir"/>.</param>
    /// <param name="dtype">The weights' dtype (e.g. <see cref="torch.ScalarType.BFloat16"/>); null for the checkpoint's
    /// float32. Scores are computed from the logits cast to float32, as Hugging Face's pipelines do.</param>
    /// <exception cref="ArgumentException">Unknown task.</exception>
    public static Pipeline Create(string task, string modelDir, string? tokenizerDir = null, torch.ScalarType? dtype = null)
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
        if (!Tasks.Contains(task)) throw new ArgumentException($"unknown task \"{task}\"", nameof(task));
        // question-answering and zero-shot-classification load the head the config names (null here).
        var tokenizer = DebertaTokenizerBase.FromPretrained(tokenizerDir ?? modelDir);
        var model = DebertaPreTrainedModel.FromPretrained(modelDir, dtype, head: head);
        try
        {
            return task switch
            {
                "fill-mask" => new FillMaskPipeline(model, tokenizer),
                "text-classification" or "sentiment-analysis" => new TextClassificationPipeline(model, tokenizer),
                "token-classification" or "ner" => new TokenClassificationPipeline(model, tokenizer),
                "feature-extraction" => new FeatureExtractionPipeline(model, tokenizer),
                "question-answering" => new QuestionAnsweringPipeline(model, tokenizer),
                _ => new ZeroShotClassificationPipeline(model, tokenizer),
            };
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
