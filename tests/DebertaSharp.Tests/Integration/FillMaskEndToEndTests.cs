using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Integration;

/// <summary>
/// The README's library example end to end: the fast tokenizer and a masked-LM checkpoint on the same vocabulary
/// (Fixtures/pipeline_models/masked_lm with the v4_template tokenizer) give the top-5 tokens and scores that Hugging
/// Face's fill-mask pipeline gave (Fixtures/pipelines_expected_public.json).
/// </summary>
public class FillMaskEndToEndTests
{
    [Fact]
    public void TopFiveMatchesHuggingFacesFillMaskPipeline()
    {
        var expected = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("pipelines_expected_public.json")))!;
        var texts = expected["texts"]!["fill_mask"]!.AsArray();
        var tops = expected["fill_mask_top5"]!.AsArray();

        // As in README.md:
        var tokenizer = DebertaTokenizerBase.FromPretrained(TestPaths.Fixture("tokenizer", "v4_template"));
        using var model = DebertaForMaskedLM.FromPretrained(TestPaths.Fixture("pipeline_models", "masked_lm"));
        model.eval();
        for (int t = 0; t < texts.Count; t++)
        {
            var enc = tokenizer.Encode((string)texts[t]!);
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var ids = torch.tensor(enc.Ids.Select(i => (long)i).ToArray(), new long[] { 1, enc.Ids.Length });
            var output = model.Forward(ids);                                     // MaskedLMOutput: Logits [1, L, vocab]
            int maskAt = Array.IndexOf(enc.Ids, tokenizer.MaskTokenId);
            Assert.True(maskAt >= 0, "no [MASK] in the encoding");
            var probs = output.Logits[0, maskAt].softmax(-1);                    // [vocab]
            var (values, indices) = probs.topk(5);
            var want = tops[t]!.AsArray();
            for (int k = 0; k < 5; k++)
            {
                Assert.Equal((long)want[k]!["token"]!, indices[k].item<long>());
                double ws = (double)want[k]!["score"]!, gs = values[k].item<float>();
                Assert.True(Math.Abs(ws - gs) <= 1e-4 * Math.Abs(ws) + 1e-9, $"text {t} rank {k}: score {gs} vs {ws}");
                Assert.Equal((string)want[k]!["token_str"]!, tokenizer.Decode([(int)indices[k].item<long>()]));
            }
        }
    }
}
