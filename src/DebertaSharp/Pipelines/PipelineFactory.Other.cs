using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

public static partial class PipelineFactory
{
    // Placeholder: question-answering and zero-shot-classification replace this file.
    private static partial Pipeline? CreateOther(string task, DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer) => null;
}
