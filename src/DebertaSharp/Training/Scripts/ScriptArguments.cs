namespace DebertaSharp.Training;

/// <summary>The four fine-tuning scripts of Hugging Face's examples that <see cref="FineTuning"/> reproduces.</summary>
public enum FineTuningTask
{
    /// <summary><c>text-classification</c> (run_glue.py): sequence classification or regression.</summary>
    TextClassification,
    /// <summary><c>token-classification</c> (run_ner.py).</summary>
    TokenClassification,
    /// <summary><c>masked-lm</c> (run_mlm.py).</summary>
    MaskedLM,
    /// <summary><c>question-answering</c> (run_qa.py with utils_qa.py).</summary>
    QuestionAnswering,
}

/// <summary>
/// The scripts' <c>ModelArguments</c> and <c>DataTrainingArguments</c> (Hugging Face's names; a null default means the
/// script's own default for the task, e.g. <c>max_seq_length</c> 128 for text classification, 384 for question answering).
/// </summary>
public sealed record ScriptArguments
{
    /// <summary><c>model_name_or_path</c>: a checkpoint folder to fine-tune; null with <see cref="ConfigName"/> trains from scratch.</summary>
    public string? ModelNameOrPath { get; init; }
    /// <summary><c>config_name</c>: a config.json (or a folder holding one) for a model built from scratch, or to override the checkpoint's.</summary>
    public string? ConfigName { get; init; }
    /// <summary><c>tokenizer_name</c>: the tokenizer folder; null uses <see cref="ModelNameOrPath"/>.</summary>
    public string? TokenizerName { get; init; }
    /// <summary><c>train_file</c>.</summary>
    public string? TrainFile { get; init; }
    /// <summary><c>validation_file</c>.</summary>
    public string? ValidationFile { get; init; }
    /// <summary><c>test_file</c> (used by <c>do_predict</c>).</summary>
    public string? TestFile { get; init; }
    /// <summary><c>max_seq_length</c>; null: 128 (text), the tokenizer's limit (tokens; masked LM capped at 1024), 384 (QA).</summary>
    public int? MaxSeqLength { get; init; }
    /// <summary><c>pad_to_max_length</c>; null: true for text classification and QA (the scripts' defaults), false otherwise.</summary>
    public bool? PadToMaxLength { get; init; }
    /// <summary><c>max_train_samples</c>: keep the first N training examples.</summary>
    public int? MaxTrainSamples { get; init; }
    /// <summary><c>max_eval_samples</c>.</summary>
    public int? MaxEvalSamples { get; init; }
    /// <summary><c>max_predict_samples</c>.</summary>
    public int? MaxPredictSamples { get; init; }

    /// <summary><c>task_name</c> (text classification): a GLUE task, which decides the metrics (and the predictions file name).</summary>
    public string? TaskName { get; init; }

    /// <summary><c>text_column_name</c> (token classification; masked LM): null uses <c>tokens</c> (or the first column) / <c>text</c>.</summary>
    public string? TextColumnName { get; init; }
    /// <summary><c>label_column_name</c> (token classification): null uses <c>ner_tags</c> (or the second column).</summary>
    public string? LabelColumnName { get; init; }
    /// <summary><c>label_all_tokens</c> (token classification): label every sub-token (B- mapped to I-), not only the first.</summary>
    public bool LabelAllTokens { get; init; }
    /// <summary><c>return_entity_level_metrics</c> (token classification): per entity type metrics beside the overall ones.</summary>
    public bool ReturnEntityLevelMetrics { get; init; }

    /// <summary><c>line_by_line</c> (masked LM): one example per non-empty line instead of blocks of <c>max_seq_length</c>.</summary>
    public bool LineByLine { get; init; }
    /// <summary><c>mlm_probability</c> (masked LM, 0.15).</summary>
    public double MlmProbability { get; init; } = 0.15;
    /// <summary><c>validation_split_percentage</c> (masked LM, 5): the share of the training file used for validation when no validation file is given.</summary>
    public int ValidationSplitPercentage { get; init; } = 5;

    /// <summary><c>doc_stride</c> (QA, 128).</summary>
    public int DocStride { get; init; } = 128;
    /// <summary><c>n_best_size</c> (QA, 20).</summary>
    public int NBestSize { get; init; } = 20;
    /// <summary><c>max_answer_length</c> (QA, 30).</summary>
    public int MaxAnswerLength { get; init; } = 30;
    /// <summary><c>version_2_with_negative</c> (QA): SQuAD v2, questions may have no answer.</summary>
    public bool Version2WithNegative { get; init; }
    /// <summary><c>null_score_diff_threshold</c> (QA v2, 0).</summary>
    public double NullScoreDiffThreshold { get; init; }
}

/// <summary>What a fine-tuning run produced.</summary>
/// <param name="TrainMetrics">The <c>train_*</c> metrics (null without <c>do_train</c>).</param>
/// <param name="EvalMetrics">The <c>eval_*</c> metrics (null without <c>do_eval</c>).</param>
/// <param name="PredictMetrics">The <c>predict_*</c> metrics (null without <c>do_predict</c>, or when the test file has no labels).</param>
/// <param name="FilesWritten">Result files written to <c>output_dir</c> (predictions and results files).</param>
public sealed record FineTuningResult(
    IReadOnlyDictionary<string, double>? TrainMetrics,
    IReadOnlyDictionary<string, double>? EvalMetrics,
    IReadOnlyDictionary<string, double>? PredictMetrics,
    IReadOnlyList<string> FilesWritten);
