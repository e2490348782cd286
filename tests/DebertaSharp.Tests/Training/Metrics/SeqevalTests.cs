using DebertaSharp.Training;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// <see cref="Seqeval"/> against the examples published with seqeval (README, docstrings, tests/test_metrics.py)
/// and with Hugging Face evaluate's seqeval metric (docstring and README).
/// </summary>
public class SeqevalTests
{
    private static string[][] S(params string[][] sentences) => sentences;

    // The classic example of seqeval's README and docstrings, which evaluate's seqeval docstring and README
    // ("Partial match") reuse.
    private static readonly string[][] ClassicTrue = S(["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]);
    private static readonly string[][] ClassicPred = S(["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]);

    // evaluate metrics/seqeval/README.md "Partial match" (and the seqeval.py docstring: overall_f1 0.5, PER f1 1.0):
    // {'MISC': {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'number': 1}, 'PER': {'precision': 1.0, 'recall': 1.0,
    //  'f1': 1.0, 'number': 1}, 'overall_precision': 0.5, 'overall_recall': 0.5, 'overall_f1': 0.5,
    //  'overall_accuracy': 0.8}
    // seqeval README: f1_score(y_true, y_pred) -> 0.50 and classification_report MISC 0.00/0.00/0.00/1, PER
    // 1.00/1.00/1.00/1, micro avg 0.50/0.50/0.50/2; accuracy_score docstring -> 0.80.
    [Fact]
    public void Compute_ClassicExample_MatchesEvaluateAndSeqeval()
    {
        var result = Seqeval.Compute(ClassicPred, ClassicTrue);
        Assert.Equal(0.5, result.OverallPrecision);
        Assert.Equal(0.5, result.OverallRecall);
        Assert.Equal(0.5, result.OverallF1);
        Assert.Equal(0.8, result.OverallAccuracy, 12);
        Assert.Equal(["MISC", "PER"], result.PerType.Keys);
        Assert.Equal(new EntityScores(0.0, 0.0, 0.0, 1), result.PerType["MISC"]);
        Assert.Equal(new EntityScores(1.0, 1.0, 1.0, 1), result.PerType["PER"]);
    }

    // evaluate metrics/seqeval/seqeval.py docstring: print(list(results.keys())) ->
    // ['MISC', 'PER', 'overall_precision', 'overall_recall', 'overall_f1', 'overall_accuracy'], flattened by
    // transformers' run_ner.py (return_entity_level_metrics) as final_results[f"{key}_{n}"] = v.
    [Fact]
    public void ToDictionary_FlattensLikeRunNer()
    {
        var flat = Seqeval.ToDictionary(Seqeval.Compute(ClassicPred, ClassicTrue));
        Assert.Equal(
            [
                "MISC_precision", "MISC_recall", "MISC_f1", "MISC_number",
                "PER_precision", "PER_recall", "PER_f1", "PER_number",
                "overall_precision", "overall_recall", "overall_f1", "overall_accuracy",
            ],
            flat.Keys);
        Assert.Equal(0.0, flat["MISC_f1"]);
        Assert.Equal(1.0, flat["MISC_number"]);
        Assert.Equal(1.0, flat["PER_f1"]);
        Assert.Equal(0.5, flat["overall_f1"]);
        Assert.Equal(0.8, flat["overall_accuracy"], 12);
    }

    // evaluate metrics/seqeval/README.md "Maximal values (full match)": every score 1.0, number 1 for MISC and PER.
    [Fact]
    public void Compute_FullMatch_EvaluateReadme()
    {
        var result = Seqeval.Compute(ClassicPred, ClassicPred);
        Assert.Equal((1.0, 1.0, 1.0, 1.0), (result.OverallPrecision, result.OverallRecall, result.OverallF1, result.OverallAccuracy));
        Assert.Equal(new EntityScores(1.0, 1.0, 1.0, 1), result.PerType["MISC"]);
        Assert.Equal(new EntityScores(1.0, 1.0, 1.0, 1), result.PerType["PER"]);
    }

    // evaluate metrics/seqeval/README.md "Minimal values (no match)": predictions [['O', 'B-MISC', 'I-MISC'],
    // ['B-PER', 'I-PER', 'O']], references [['B-MISC', 'O', 'O'], ['I-PER', '0', 'I-PER']] ->
    // {'MISC': {0.0, 0.0, 0.0, 'number': 1}, 'PER': {0.0, 0.0, 0.0, 'number': 2}, '_': {0.0, 0.0, 0.0, 'number': 1},
    //  'overall_precision': 0.0, 'overall_recall': 0.0, 'overall_f1': 0.0, 'overall_accuracy': 0.0}.
    // The lenient reader: an I- after O starts an entity, the malformed tag '0' is an entity of type '_' that splits
    // the two PER tokens, and '_' sorts after upper-case names.
    [Fact]
    public void Compute_NoMatch_EvaluateReadme()
    {
        var result = Seqeval.Compute(
            S(["O", "B-MISC", "I-MISC"], ["B-PER", "I-PER", "O"]),
            S(["B-MISC", "O", "O"], ["I-PER", "0", "I-PER"]));
        Assert.Equal((0.0, 0.0, 0.0, 0.0), (result.OverallPrecision, result.OverallRecall, result.OverallF1, result.OverallAccuracy));
        Assert.Equal(["MISC", "PER", "_"], result.PerType.Keys);
        Assert.Equal(new EntityScores(0.0, 0.0, 0.0, 1), result.PerType["MISC"]);
        Assert.Equal(new EntityScores(0.0, 0.0, 0.0, 2), result.PerType["PER"]);
        Assert.Equal(new EntityScores(0.0, 0.0, 0.0, 1), result.PerType["_"]);
    }

    // seqeval f1_score / precision_score / recall_score docstrings: y_true = [['O', 'O', 'B-MISC', 'I-MISC',
    // 'B-MISC', 'O', 'O'], ['B-PER', 'I-PER', 'O']], y_pred = [['O', 'O', 'B-MISC', 'I-MISC', 'B-MISC', 'I-MISC', 'O'],
    // ['B-PER', 'I-PER', 'O']] -> micro 0.6666666666666666 for all three, average=None -> array([0.5, 1.]).
    [Fact]
    public void Compute_ScoreDocstringExample()
    {
        var result = Seqeval.Compute(
            S(["O", "O", "B-MISC", "I-MISC", "B-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]),
            S(["O", "O", "B-MISC", "I-MISC", "B-MISC", "O", "O"], ["B-PER", "I-PER", "O"]));
        Assert.Equal(0.6666666666666666, result.OverallF1, 15);
        Assert.Equal(0.6666666666666666, result.OverallPrecision, 15);
        Assert.Equal(0.6666666666666666, result.OverallRecall, 15);
        Assert.Equal((0.5, 0.5, 0.5), (result.PerType["MISC"].Precision, result.PerType["MISC"].Recall, result.PerType["MISC"].F1));
        Assert.Equal((1.0, 1.0, 1.0), (result.PerType["PER"].Precision, result.PerType["PER"].Recall, result.PerType["PER"].F1));
    }

    // seqeval tests/test_metrics.py test_conll_f1score: y_true [['B-ORG', 'I-ORG']], y_pred [['I-ORG', 'I-ORG']]
    // -> f1 1 in the default (conlleval) mode; seqeval README's minimum case: y_true [['B-NP', 'I-NP', 'O']],
    // y_pred [['I-NP', 'I-NP', 'O']] -> NP 1.00 / 1.00 / 1.00, support 1.
    [Fact]
    public void Compute_InsideTagAfterOutside_StartsAnEntity()
    {
        Assert.Equal(1.0, Seqeval.Compute(S(["I-ORG", "I-ORG"]), S(["B-ORG", "I-ORG"])).OverallF1);
        var np = Seqeval.Compute(S(["I-NP", "I-NP", "O"]), S(["B-NP", "I-NP", "O"]));
        Assert.Equal(new EntityScores(1.0, 1.0, 1.0, 1), np.PerType["NP"]);
    }

    // seqeval tests/test_metrics.py test_get_entities: ['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O', 'B-PER',
    // 'I-PER'] -> [('MISC', 3, 5), ('PER', 7, 8)]; get_entities docstring: ['B-PER', 'I-PER', 'O', 'B-LOC'] ->
    // [('PER', 0, 1), ('LOC', 3, 3)].
    [Fact]
    public void GetEntities_SeqevalExamples()
    {
        Assert.Equal([("MISC", 3, 5), ("PER", 7, 8)],
            Seqeval.GetEntities(["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O", "B-PER", "I-PER"]));
        Assert.Equal([("PER", 0, 1), ("LOC", 3, 3)], Seqeval.GetEntities(["B-PER", "I-PER", "O", "B-LOC"]));
    }

    // seqeval tests/test_metrics.py test_get_entities_with_only_IOB: [['O', 'O', 'O', 'B', 'I', 'I', 'O'],
    // ['B', 'I', 'O']] -> [('_', 3, 5), ('_', 8, 9)] (sentences joined with an 'O' after each).
    [Fact]
    public void GetEntities_BareTags_SeqevalTest()
    {
        Assert.Equal([("_", 3, 5), ("_", 8, 9)],
            Seqeval.GetEntities(S(["O", "O", "O", "B", "I", "I", "O"], ["B", "I", "O"])));
    }

    // Edge cases read off seqeval's end_of_chunk / start_of_chunk rules (and confirmed with its get_entities): IOBES S- is a one-token entity and E- ends
    // one; IOE (E- after I-) and a type change inside a run split entities; an entity never spans two sentences.
    [Fact]
    public void GetEntities_OtherSchemesAndBoundaries()
    {
        Assert.Equal([("PER", 0, 0), ("LOC", 1, 3)], Seqeval.GetEntities(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"]));
        Assert.Equal([("ORG", 0, 1), ("ORG", 2, 2)], Seqeval.GetEntities(["I-ORG", "E-ORG", "E-ORG"]));
        Assert.Equal([("PER", 0, 0), ("LOC", 1, 1)], Seqeval.GetEntities(["I-PER", "I-LOC"]));
        Assert.Equal([("PER", 0, 0), ("PER", 2, 2)], Seqeval.GetEntities(S(["I-PER"], ["I-PER"])));
    }

    // All-O: no entity anywhere, so precision, recall and F1 are undefined and seqeval's zero_division "warn"
    // makes them 0 (seqeval tests/test_metrics.py test_undefined_metric_warning); every tag is right.
    [Fact]
    public void Compute_AllOutside_ZeroScoresAndNoTypes()
    {
        var result = Seqeval.Compute(S(["O", "O"], ["O"]), S(["O", "O"], ["O"]));
        Assert.Equal((0.0, 0.0, 0.0, 1.0), (result.OverallPrecision, result.OverallRecall, result.OverallF1, result.OverallAccuracy));
        Assert.Empty(result.PerType);
        Assert.Equal(["overall_precision", "overall_recall", "overall_f1", "overall_accuracy"], Seqeval.ToDictionary(result).Keys);
    }

    // Entities only in the predictions: the type is listed with number 0 (recall undefined -> 0).
    [Fact]
    public void Compute_PredictedOnlyType_HasNumberZero()
    {
        var result = Seqeval.Compute(S(["B-LOC", "O"]), S(["O", "O"]));
        Assert.Equal(new EntityScores(0.0, 0.0, 0.0, 0), result.PerType["LOC"]);
        Assert.Equal(0.5, result.OverallAccuracy);
    }

    // seqeval tests/test_metrics.py test_value_error: ([['O']], [[]]) and ([[]], [['O']]) raise ValueError;
    // accuracy_score over zero tokens divides by zero in Python.
    [Fact]
    public void Compute_InconsistentOrEmptyInput_Throws()
    {
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => Seqeval.Compute(S(Array.Empty<string>()), S(["O"]))).ParamName);
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => Seqeval.Compute(S(["O"]), S(Array.Empty<string>()))).ParamName);
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => Seqeval.Compute(S(["O"]), S(["O"], ["O"]))).ParamName);
        Assert.Throws<ArgumentException>(() => Seqeval.Compute(S(Array.Empty<string>()), S(Array.Empty<string>())));
        Assert.Throws<ArgumentException>(() => Seqeval.Compute(S(), S()));
        Assert.Equal("references", Assert.Throws<ArgumentException>(() => Seqeval.Compute(S(["O"]), S([""]))).ParamName);
    }
}
