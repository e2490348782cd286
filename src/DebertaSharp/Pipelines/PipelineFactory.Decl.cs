using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

// TEMPORARY (branch h-pipe2 only): declares the partial method so this branch builds on its own; dropped at merge,
// where the other PipelineFactory part declares it.
/// <summary>Creates pipelines by task name.</summary>
public static partial class PipelineFactory
{
    private static partial Pipeline? CreateOther(string task, DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer);
}
