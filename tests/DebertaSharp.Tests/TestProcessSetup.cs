using System.Runtime.CompilerServices;

namespace DebertaSharp.Tests;

/// <summary>Process-wide settings the tests share with the <c>deberta</c> CLI, applied before any test runs.</summary>
internal static class TestProcessSetup
{
    /// <summary>
    /// As the CLI's model commands do before their work: oneMKL chooses its kernels by CPU features on non-Intel CPUs
    /// (<see cref="MklCpuDispatch"/>), so that the parity tests check the kernels the CLI runs. It must precede the
    /// process's first matrix product, hence a module initializer.
    /// </summary>
    [ModuleInitializer]
    internal static void Initialize() => MklCpuDispatch.UseFeatureBasedKernels();
}
