using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>
/// Activations by Hugging Face name. Mirrors transformers' <c>activations.ACT2FN</c> (the parameter-free entries;
/// <c>prelu</c> and <c>xielu</c> carry weights and are not supported).
/// </summary>
internal static class Activations
{
    private static readonly Dictionary<string, Func<Tensor, Tensor>> s_table = new(StringComparer.Ordinal)
    {
        // GELUActivation: exact erf form.
        ["gelu"] = x => nn.functional.gelu(x),
        ["gelu_python"] = x => x * 0.5 * (1.0 + special.erf(x / Math.Sqrt(2.0))),
        // ClippedGELUActivation(-10, 10).
        ["gelu_10"] = x => nn.functional.gelu(x).clip(-10.0, 10.0),
        // NewGELUActivation (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
        ["gelu_new"] = NewGelu,
        ["gelu_accurate"] = NewGelu,
        // FastGELUActivation: 0.5 x (1 + tanh(0.7978845608 x (1 + 0.044715 x^2))).
        ["gelu_fast"] = x => 0.5 * x * (1.0 + (x * 0.7978845608 * (1.0 + 0.044715 * x * x)).tanh()),
        // PytorchGELUTanh: torch's tanh approximation.
        ["gelu_pytorch_tanh"] = x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        // QuickGELUActivation: x sigmoid(1.702 x).
        ["quick_gelu"] = x => x * (1.702 * x).sigmoid(),
        // LaplaceActivation(mu=0.707107, sigma=0.282095).
        ["laplace"] = x => 0.5 * (1.0 + special.erf((x - 0.707107) / (0.282095 * Math.Sqrt(2.0)))),
        ["leaky_relu"] = x => nn.functional.leaky_relu(x, 0.01),
        ["linear"] = x => x.alias(),
        ["mish"] = x => nn.functional.mish(x),
        ["relu"] = x => nn.functional.relu(x),
        // ReLUSquaredActivation.
        ["relu2"] = x => nn.functional.relu(x).square(),
        ["relu6"] = x => nn.functional.relu6(x),
        ["sigmoid"] = x => x.sigmoid(),
        ["silu"] = x => nn.functional.silu(x),
        ["swish"] = x => nn.functional.silu(x),
        ["tanh"] = x => x.tanh(),
    };

    private static Tensor NewGelu(Tensor x) =>
        0.5 * x * (1.0 + (Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x.pow(3.0))).tanh());

    /// <summary>The supported names.</summary>
    public static IEnumerable<string> Names => s_table.Keys;

    /// <summary>Whether <paramref name="name"/> is a supported activation.</summary>
    public static bool IsKnown(string? name) => name is not null && s_table.ContainsKey(name);

    /// <summary>The activation called <paramref name="name"/>.</summary>
    /// <exception cref="DebertaConfigException">Unknown name.</exception>
    public static Func<Tensor, Tensor> Get(string name, string key = "hidden_act") =>
        s_table.TryGetValue(name, out var f)
            ? f
            : throw new DebertaConfigException(key, $"unknown activation '{name}' (known: {string.Join(", ", Names)})");
}
