using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;
using DebertaSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Pipelines;

/// <summary>One answer of the question-answering pipeline (a dict of transformers 4.x's <c>QuestionAnsweringPipeline</c>).</summary>
/// <param name="Score">
/// The probability of the span: the product of the start probability of its first token and the end probability of its
/// last token (softmaxes over the context tokens and <c>[CLS]</c> of its window), a float32 as numpy computes it. For
/// the null answer, the smallest <c>[CLS]</c> start × end probability over the windows.
/// </param>
/// <param name="Start">Where the answer starts in the context, in Unicode code points (a Python <c>str</c> index).</param>
/// <param name="End">Where it ends (exclusive), in code points.</param>
/// <param name="Answer">The answer text, <c>context[start:end]</c>; empty for the null answer.</param>
public sealed record QuestionAnsweringAnswer(float Score, int Start, int End, string Answer);

/// <summary>Parameters of the question-answering pipeline, named and defaulted as transformers 4.x's.</summary>
public sealed record QuestionAnsweringOptions
{
    /// <summary>How many answers to return (<c>top_k</c>, at least 1); fewer when there are not enough candidate spans.</summary>
    public int TopK { get; init; } = 1;

    /// <summary>Tokens of overlap between the windows of a long context (<c>doc_stride</c>); null: min(max_seq_len / 2, 128).</summary>
    public int? DocStride { get; init; }

    /// <summary>The longest answer, in tokens (<c>max_answer_len</c>, at least 1).</summary>
    public int MaxAnswerLen { get; init; } = 15;

    /// <summary>The length of each window, question and special tokens included (<c>max_seq_len</c>); null: min(model_max_length, 384).</summary>
    public int? MaxSeqLen { get; init; }

    /// <summary>
    /// <c>max_question_len</c> (64). Accepted for compatibility; as in transformers 4.x with a fast tokenizer it has no
    /// effect (only the slow-tokenizer path used it).
    /// </summary>
    public int MaxQuestionLen { get; init; } = 64;

    /// <summary>Whether the null answer (score: the smallest <c>[CLS]</c> probability product over the windows) competes (<c>handle_impossible_answer</c>).</summary>
    public bool HandleImpossibleAnswer { get; init; }

    /// <summary>Whether the span is widened to whole words with the tokenizer's word ids (<c>align_to_words</c>).</summary>
    public bool AlignToWords { get; init; } = true;

    /// <summary>How many windows go through the model together (padded to the longest of the batch).</summary>
    public int BatchSize { get; init; } = 8;
}

/// <summary>
/// Extractive question answering (transformers 4.x's <c>question-answering</c> pipeline, removed in 5.x): the context
/// is split into windows of <c>max_seq_len</c> tokens overlapping by <c>doc_stride</c> (truncation <c>only_second</c>
/// with overflowing tokens), the model's start and end logits of each window are softmaxed over the context tokens
/// (and <c>[CLS]</c>), and the spans with the highest start × end probability, at most <c>max_answer_len</c> tokens
/// long, are the answers. Thread-safe: calls share no mutable state.
/// </summary>
public sealed class QuestionAnsweringPipeline : Pipeline
{
    private static readonly string[] s_known =
        ["top_k", "topk", "doc_stride", "max_answer_len", "max_seq_len", "max_question_len", "handle_impossible_answer", "align_to_words", "padding", "batch_size"];

    /// <summary>Creates the pipeline over a question-answering model and its tokenizer.</summary>
    /// <param name="model">A <see cref="DebertaForQuestionAnswering"/>.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <exception cref="ArgumentException">The model has no question-answering head.</exception>
    public QuestionAnsweringPipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer) : base(model, tokenizer)
    {
        if (model is not DebertaForQuestionAnswering)
            throw new ArgumentException($"question-answering needs a DebertaForQuestionAnswering model, got {model.GetType().Name}", nameof(model));
    }

    /// <inheritdoc/>
    public override string Task => "question-answering";

    /// <summary>
    /// Answers <paramref name="question"/> from <paramref name="context"/>: the best answers, best first (at most
    /// <see cref="QuestionAnsweringOptions.TopK"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The question or context is empty, or an option is out of range.</exception>
    public IReadOnlyList<QuestionAnsweringAnswer> Answer(string question, string context, QuestionAnsweringOptions? options = null) =>
        Answer([(question, context)], options)[0];

    /// <summary>Answers several question/context pairs (windows batched together); one list of answers per pair, in order.</summary>
    /// <exception cref="ArgumentException">A question or context is empty, or an option is out of range.</exception>
    public IReadOnlyList<IReadOnlyList<QuestionAnsweringAnswer>> Answer(IReadOnlyList<(string Question, string Context)> inputs, QuestionAnsweringOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var o = options ?? new QuestionAnsweringOptions();
        if (o.TopK < 1) throw new ArgumentException($"top_k parameter should be >= 1 (got {o.TopK})", "top_k");
        if (o.MaxAnswerLen < 1) throw new ArgumentException($"max_answer_len parameter should be >= 1 (got {o.MaxAnswerLen})", "max_answer_len");
        if (o.BatchSize < 1) throw new ArgumentException($"batch_size must be >= 1 (got {o.BatchSize})", "batch_size");
        int maxSeqLen = o.MaxSeqLen ?? Math.Min(Tokenizer.ModelMaxLength ?? int.MaxValue, 384);
        if (maxSeqLen < 1) throw new ArgumentException($"max_seq_len must be >= 1 (got {maxSeqLen})", "max_seq_len");
        int docStride = o.DocStride ?? Math.Min(maxSeqLen / 2, 128);
        if (docStride < 0) throw new ArgumentException($"doc_stride must be >= 0 (got {docStride})", "doc_stride");
        if (docStride > maxSeqLen) throw new ArgumentException($"`doc_stride` ({docStride}) is larger than `max_seq_len` ({maxSeqLen})", "doc_stride");

        // Windows of every input: (input index, encoding).
        bool questionFirst = Tokenizer.PaddingSide == Side.Right;
        var encodeOptions = new EncodeOptions
        {
            Truncation = questionFirst ? TruncationStrategy.OnlySecond : TruncationStrategy.OnlyFirst,
            MaxLength = maxSeqLen,
            Stride = docStride,
            ReturnOverflowingTokens = true,
        };
        var windows = new List<(int Input, Encoding Enc)>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var (q, c) = inputs[i];
            CheckText(q, "question");
            CheckText(c, "context");
            Encoding enc;
            try
            {
                // A batch of one keeps the pair a pair, as the tokenizer call of transformers' pipeline.
                enc = Tokenizer.EncodeBatch([questionFirst ? (q, c) : (c, q)], encodeOptions)[0];
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"input {i}: the question and context cannot be split into windows of max_seq_len {maxSeqLen} with doc_stride {docStride}: {e.Message}", "max_seq_len", e);
            }
            windows.Add((i, enc));
            foreach (var ov in enc.Overflowing) windows.Add((i, ov));
        }

        var logits = RunModel([.. windows.Select(w => w.Enc)], o.BatchSize);

        // Post-processing per input, windows in order (as the chunk pipeline's postprocess).
        var results = new IReadOnlyList<QuestionAnsweringAnswer>[inputs.Count];
        int sequenceIndex = questionFirst ? 1 : 0;
        int clsId = Tokenizer.ClsTokenId;
        for (int i = 0; i < inputs.Count; i++)
        {
            string context = inputs[i].Context;
            float minNullScore = 1000000f;
            // postprocess: answers by text; a span whose text equals (case-insensitively) an earlier answer's adds its
            // score to that answer, which keeps its first start and end (get_answer, transformers 4.57).
            var answers = new List<(double Score, int Start, int End, string Text, string Key)>();
            // With align_to_words each window is asked for top_k * 2 + 10 spans, as several may give the same words.
            int preTopK = o.AlignToWords ? o.TopK * 2 + 10 : o.TopK;
            for (int w = 0; w < windows.Count; w++)
            {
                if (windows[w].Input != i) continue;
                var enc = windows[w].Enc;
                int n = enc.Length;
                // p_mask: 1 (true) for tokens that cannot be in the answer: all but the context; [CLS] stays unmasked.
                var desired = new bool[n];
                for (int t = 0; t < n; t++)
                {
                    bool pMask = questionFirst && enc.SequenceIds[t] != 1;
                    if (enc.Ids[t] == clsId) pMask = false;
                    desired[t] = !pMask && enc.AttentionMask[t] == 1;
                }
                var spans = SelectStartsEnds(logits[w].Start, logits[w].End, desired, preTopK, o.HandleImpossibleAnswer, o.MaxAnswerLen, ref minNullScore);
                foreach (var (s, e, score) in spans)
                {
                    var (cs, ce) = CharSpan(enc, s, e, sequenceIndex, o.AlignToWords);
                    string text = PySlice(context, cs, ce);
                    string key = DebertaSharp.Training.PythonText.Lower(text);
                    int same = answers.FindIndex(a => a.Key == key);
                    if (same >= 0) answers[same] = answers[same] with { Score = answers[same].Score + score };
                    else answers.Add((score, cs, ce, text, key));
                }
            }
            if (o.HandleImpossibleAnswer) answers.Add((minNullScore, 0, 0, "", ""));
            // Python's sorted(reverse=True) is stable: equal scores keep their order.
            results[i] = [.. answers.OrderByDescending(a => a.Score).Take(o.TopK).Select(a => new QuestionAnsweringAnswer((float)a.Score, a.Start, a.End, a.Text))];
        }
        return results;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// <paramref name="inputs"/>: a <c>{"question", "context"}</c> object, or an array of them (an array of values
    /// back). Each value is Hugging Face's: the answer object when there is exactly one answer, else the array of
    /// answers. Parameters: <c>top_k</c>, <c>doc_stride</c>, <c>max_answer_len</c>, <c>max_seq_len</c>,
    /// <c>max_question_len</c>, <c>handle_impossible_answer</c>, <c>align_to_words</c>, <c>batch_size</c>.
    /// </remarks>
    public override JsonNode? Run(JsonNode inputs, JsonObject? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var options = ParseOptions(parameters);
        if (inputs is JsonArray array)
        {
            var pairs = array.Select((item, k) => ParseInput(item, $"inputs[{k}]")).ToList();
            var all = Answer(pairs, options);
            var result = new JsonArray();
            foreach (var answers in all) result.Add(ToJson(answers));
            return result;
        }
        var (q, c) = ParseInput(inputs, "inputs");
        return ToJson(Answer(q, c, options));
    }

    /// <summary>Hugging Face's value for one input's answers: the single answer as an object, otherwise an array.</summary>
    internal static JsonNode ToJson(IReadOnlyList<QuestionAnsweringAnswer> answers)
    {
        static JsonObject One(QuestionAnsweringAnswer a) => new()
        {
            ["score"] = a.Score,
            ["start"] = a.Start,
            ["end"] = a.End,
            ["answer"] = a.Answer,
        };
        if (answers.Count == 1) return One(answers[0]);
        var arr = new JsonArray();
        foreach (var a in answers) arr.Add(One(a));
        return arr;
    }

    private static QuestionAnsweringOptions ParseOptions(JsonObject? p)
    {
        PipelineBatching.CheckKnown(p, s_known);
        var o = new QuestionAnsweringOptions();
        int? topK = PipelineBatching.GetInt(p, "top_k") ?? PipelineBatching.GetInt(p, "topk");
        if (topK is int k) o = o with { TopK = k };
        if (PipelineBatching.GetInt(p, "doc_stride") is int ds) o = o with { DocStride = ds };
        if (PipelineBatching.GetInt(p, "max_answer_len") is int mal) o = o with { MaxAnswerLen = mal };
        if (PipelineBatching.GetInt(p, "max_seq_len") is int msl) o = o with { MaxSeqLen = msl };
        if (PipelineBatching.GetInt(p, "max_question_len") is int mql) o = o with { MaxQuestionLen = mql };
        if (PipelineBatching.GetBool(p, "handle_impossible_answer") is bool h) o = o with { HandleImpossibleAnswer = h };
        if (PipelineBatching.GetBool(p, "align_to_words") is bool a) o = o with { AlignToWords = a };
        if (PipelineBatching.GetInt(p, "batch_size") is int bs) o = o with { BatchSize = bs };
        if (PipelineBatching.GetString(p, "padding") is string pad && pad is not ("do_not_pad" or "longest"))
            throw new ArgumentException($"parameter 'padding' must be do_not_pad or longest, got '{pad}'", "padding");
        return o;
    }

    private static (string Question, string Context) ParseInput(JsonNode? node, string what)
    {
        if (node is not JsonObject obj)
            throw new ArgumentException($"{what} must be an object {{\"question\": ..., \"context\": ...}}, got {(node is null ? "null" : node.ToJsonString())}", what);
        foreach (var (key, _) in obj)
            if (key is not ("question" or "context"))
                throw new ArgumentException($"{what}: unknown key '{key}' (expected question and context)", $"{what}.{key}");
        string q = Field(obj, "question", what), c = Field(obj, "context", what);
        return (q, c);

        static string Field(JsonObject obj, string key, string what)
        {
            if (!obj.TryGetPropertyValue(key, out var v))
                throw new ArgumentException($"{what}: you need to provide a dictionary with keys {{question:..., context:...}} ('{key}' is missing)", $"{what}.{key}");
            if (v is null) throw new ArgumentException($"{what}: `{key}` cannot be None", $"{what}.{key}");
            return PipelineBatching.AsString(v, $"{what}.{key}");
        }
    }

    private static void CheckText(string? text, string name)
    {
        if (text is null) throw new ArgumentException($"`{name}` cannot be None", name);
        if (text.Length == 0) throw new ArgumentException($"`{name}` cannot be empty", name);
    }

    /// <summary>The start and end logits (float32) of each window, forwarded in batches of windows sorted by length.</summary>
    private (float[] Start, float[] End)[] RunModel(IReadOnlyList<Encoding> encodings, int batchSize) =>
        PipelineBatching.Run(Model, Tokenizer, encodings, batchSize, (output, r, e) =>
        {
            var qa = (QuestionAnsweringModelOutput)output;
            return (PipelineBatching.ToFloats(qa.StartLogits[r])[..e.Length], PipelineBatching.ToFloats(qa.EndLogits[r])[..e.Length]);
        });

    /// <summary>
    /// transformers' <c>select_starts_ends</c> and <c>decode_spans</c> for one window: tokens not
    /// <paramref name="desired"/> get logit -10000, start and end are softmaxed (exp(x - max), normalised) in float32,
    /// the null score is updated from token 0, token 0 is zeroed, and the <paramref name="topK"/> best spans of the
    /// start × end outer product's band (end ≥ start, length ≤ <paramref name="maxAnswerLen"/>) whose ends are both
    /// desired are returned best first.
    /// </summary>
    internal static List<(int Start, int End, float Score)> SelectStartsEnds(float[] startLogits, float[] endLogits, bool[] desired,
        int topK, bool handleImpossibleAnswer, int maxAnswerLen, ref float minNullScore)
    {
        int n = startLogits.Length;
        var ps = Softmax(startLogits, desired);
        var pe = Softmax(endLogits, desired);
        if (handleImpossibleAnswer) minNullScore = Math.Min(minNullScore, ps[0] * pe[0]);
        ps[0] = 0f;
        pe[0] = 0f;

        // Candidates: np.tril(np.triu(outer), max_answer_len - 1); only the band can be non-zero.
        var positive = new List<(long Flat, float Score)>();
        for (int s = 0; s < n; s++)
            for (int e = s; e < n && e - s <= maxAnswerLen - 1; e++)
            {
                float score = ps[s] * pe[e];
                if (score > 0f) positive.Add(((long)s * n + e, score));
            }
        // The top k of the flattened candidates by decreasing score; ties in flat order (a stable sort of -scores).
        long total = (long)n * n;
        int k = (int)Math.Min(topK, total);
        var top = positive.OrderByDescending(x => x.Score).ThenBy(x => x.Flat).Take(k).Select(x => x.Flat).ToList();
        if (top.Count < k)
        {
            // Not enough positive spans: zero-score cells follow in flat order (np.argmax / argsort picks zeros then).
            var taken = new HashSet<long>(top);
            for (long f = 0; f < total && top.Count < k; f++)
                if (!taken.Contains(f)) top.Add(f);
        }
        var spans = new List<(int, int, float)>(top.Count);
        foreach (long f in top)
        {
            int s = (int)(f / n), e = (int)(f % n);
            if (!desired[s] || !desired[e]) continue;
            float score = e >= s && e - s <= maxAnswerLen - 1 ? ps[s] * pe[e] : 0f;
            spans.Add((s, e, score));
        }
        return spans;
    }

    private static float[] Softmax(float[] logits, bool[] desired)
    {
        int n = logits.Length;
        var x = new float[n];
        float max = float.NegativeInfinity;
        for (int t = 0; t < n; t++)
        {
            x[t] = desired[t] ? logits[t] : -10000f;
            if (x[t] > max) max = x[t];
        }
        float sum = 0f;
        for (int t = 0; t < n; t++)
        {
            x[t] = MathF.Exp(x[t] - max);
            sum += x[t];
        }
        for (int t = 0; t < n; t++) x[t] /= sum;
        return x;
    }

    /// <summary>
    /// transformers' <c>get_indices</c>: with <paramref name="alignToWords"/>, the characters of the words of tokens
    /// <paramref name="s"/> and <paramref name="e"/> (<c>token_to_word</c>, <c>word_to_chars</c> in the context's
    /// sequence); without it, or when a token has no word, the tokens' own offsets. In code points of the context.
    /// </summary>
    internal static (int Start, int End) CharSpan(Encoding enc, int s, int e, int sequenceIndex, bool alignToWords)
    {
        if (alignToWords && enc.WordIds[s] is int ws && enc.WordIds[e] is int we
            && WordToChars(enc, ws, sequenceIndex) is { } a && WordToChars(enc, we, sequenceIndex) is { } b)
            return (a.Start, b.End);
        return (enc.Offsets[s].Start, enc.Offsets[e].End);
    }

    private static (int Start, int End)? WordToChars(Encoding enc, int word, int sequenceIndex)
    {
        int first = -1, last = -1;
        for (int t = 0; t < enc.Length; t++)
        {
            if (enc.SequenceIds[t] != sequenceIndex || enc.WordIds[t] != word) continue;
            if (first < 0) first = t;
            last = t;
        }
        return first < 0 ? null : (enc.Offsets[first].Start, enc.Offsets[last].End);
    }

    /// <summary>Python's <c>text[start:end]</c> with code-point indices (clamped; empty when start ≥ end).</summary>
    internal static string PySlice(string text, int start, int end)
    {
        int len = TextIndex.CodePointLength(text);
        start = Math.Clamp(start, 0, len);
        end = Math.Clamp(end, 0, len);
        if (start >= end) return "";
        int a = TextIndex.CodePointToUtf16(text, start), b = TextIndex.CodePointToUtf16(text, end);
        return text[a..b];
    }
}
