using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

public static partial class PipelineFactory
{
    /// <summary>The question-answering and zero-shot-classification pipelines; null for the other tasks.</summary>
    private static partial Pipeline? CreateOther(string task, DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer) => task switch
    {
        "question-answering" => new QuestionAnsweringPipeline(model, tokenizer),
        "zero-shot-classification" => new ZeroShotClassificationPipeline(model, tokenizer),
        _ => null,
    };
}
