namespace DebertaSharp.Tests.Training;

/// <summary>
/// Tests whose results depend on torch's global generator (model initialisation, dropout, masked-LM masking, as in
/// Hugging Face): they run alone, after the parallel tests, so that no other test draws from the generator meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "torch global generator";
}
