using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Training;

/// <summary>
/// AdamW with decoupled weight decay, step for step as torch's <c>torch.optim.AdamW</c> (its single-tensor CPU path):
/// <c>p ← p·(1 − lr·wd)</c>, <c>m ← lerp(m, g, 1 − β1)</c>, <c>v ← β2·v + (1 − β2)·g²</c>,
/// <c>p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)</c>. Parameters are grouped by Hugging Face's rule (no decay
/// for biases and LayerNorm weights, <c>Trainer.get_decay_parameter_names</c>); state is kept per parameter name so
/// that it can be saved and restored with a checkpoint.
/// </summary>
internal sealed class AdamW : IDisposable
{
    private sealed class Slot(string name, Parameter param, bool decay, Tensor? master)
    {
        public string Name { get; } = name;
        public Parameter Param { get; } = param;
        public bool Decay { get; } = decay;
        /// <summary>The fp32 master copy the step updates (bf16 training); null when the parameter itself is updated.</summary>
        public Tensor? Master { get; } = master;
        public Tensor? ExpAvg;
        public Tensor? ExpAvgSq;
        public long Step;
    }

    private readonly List<Slot> _slots;

    /// <param name="parameters">The named parameters to optimise.</param>
    /// <param name="lr">Initial learning rate.</param>
    /// <param name="beta1">β1.</param>
    /// <param name="beta2">β2.</param>
    /// <param name="eps">ε.</param>
    /// <param name="weightDecay">Decoupled weight decay of the decayed group.</param>
    /// <param name="masters">fp32 master weights by name (bf16 training): the step updates them, from fp32 copies of the
    /// gradients, and copies the result into the low-precision parameters.</param>
    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, double lr, double beta1, double beta2, double eps, double weightDecay,
        IReadOnlyDictionary<string, Tensor>? masters = null)
    {
        _slots = [.. parameters.Where(p => p.Param.requires_grad)
            .Select(p => new Slot(p.Name, p.Param, Decays(p.Name), masters?.GetValueOrDefault(p.Name)))];
        LearningRate = lr;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
    }

    /// <summary>The learning rate of the next step (set by the scheduler).</summary>
    public double LearningRate { get; set; }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }

    /// <summary>Names of the parameters that get weight decay.</summary>
    public IEnumerable<string> DecayedNames => _slots.Where(s => s.Decay).Select(s => s.Name);

    /// <summary>
    /// Hugging Face's <c>get_decay_parameter_names</c>: every parameter except those whose name contains <c>bias</c>
    /// (DeBERTa's <c>q_bias</c>/<c>v_bias</c> included) and the weights of LayerNorm modules (DeBERTa's own LayerNorm
    /// class included: the current rule also matches <c>layernorm</c> in the lower-cased name).
    /// </summary>
    public static bool Decays(string name) =>
        !name.Contains("bias", StringComparison.Ordinal) && !name.Contains("layernorm", StringComparison.OrdinalIgnoreCase);

    /// <summary>One optimizer step over every parameter that has a gradient.</summary>
    public void Step()
    {
        using var _ = no_grad();
        foreach (var s in _slots)
        {
            // Each read of .grad makes a new handle: dispose it (the parameter keeps its gradient).
            using var paramGrad = s.Param.grad;
            if (paramGrad is null) continue;
            using var scope = NewDisposeScope();
            var target = s.Master ?? s.Param;
            var grad = s.Master is null ? paramGrad : paramGrad.to(ScalarType.Float32);
            if (s.ExpAvg is null)
            {
                s.ExpAvg = zeros_like(target).DetachFromDisposeScope();
                s.ExpAvgSq = zeros_like(target).DetachFromDisposeScope();
            }
            s.Step++;
            double wd = s.Decay ? WeightDecay : 0.0;
            double biasCorrection1 = 1 - Math.Pow(Beta1, s.Step);
            double biasCorrection2 = 1 - Math.Pow(Beta2, s.Step);
            double stepSize = LearningRate / biasCorrection1;
            if (Fusable(target, grad, s.ExpAvg, s.ExpAvgSq!))
            {
                FusedStep(target, grad, s.ExpAvg, s.ExpAvgSq!, (float)(1 - LearningRate * wd), (float)(1 - Beta1), (float)Beta2,
                    (float)(1 - Beta2), (float)Math.Sqrt(biasCorrection2), (float)Eps, (float)-stepSize);
            }
            else
            {
                if (wd != 0) target.mul_(1 - LearningRate * wd);
                s.ExpAvg.lerp_(grad, 1 - Beta1);
                s.ExpAvgSq!.mul_(Beta2).addcmul_(grad, grad, 1 - Beta2);
                var denom = s.ExpAvgSq.sqrt().div_(Math.Sqrt(biasCorrection2)).add_(Eps);
                target.addcdiv_(s.ExpAvg, denom, -stepSize);
            }
            if (s.Master is not null) s.Param.copy_(s.Master);
        }
    }

    /// <summary>Tests: take the tensor-op path everywhere (to compare it with the fused one).</summary>
    internal bool DisableFusion { get; set; }

    private bool Fusable(params Tensor[] tensors) => !DisableFusion &&
        tensors.All(t => t.dtype == ScalarType.Float32 && t.device_type == DeviceType.CPU && t.is_contiguous())
        && tensors.All(t => t.numel() == tensors[0].numel());

    /// <summary>
    /// The step above in one pass over memory, element by element with the float32 roundings of torch's CPU kernels
    /// (checked op by op against LibTorch): <c>mul_</c> by the decay factor, <c>lerp_</c> (<c>fma(w, g − m, m)</c> for
    /// w &lt; 0.5), <c>mul_</c> and <c>addcmul_</c> (<c>fma(c·g, g, v)</c>), <c>sqrt</c>, <c>div</c>, <c>add</c>,
    /// <c>addcdiv_</c> (<c>p + (s·m)/d</c>). The one difference: this square root is correctly rounded, LibTorch's
    /// vectorised one is within 1 ulp of it. Eight tensor passes (and a temporary) become one.
    /// </summary>
    private static unsafe void FusedStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, float decay, float w,
        float beta2, float oneMinusBeta2, float biasCorrection2Sqrt, float eps, float negStepSize)
    {
        long n = param.numel();
        fixed (byte* pp = param.bytes, gp = grad.bytes, mp = expAvg.bytes, vp = expAvgSq.bytes)
        {
            nint P = (nint)pp, G = (nint)gp, M = (nint)mp, V = (nint)vp;
            // As many workers as torch's intra-op pool (the thread count the rest of the step runs with).
            int chunks = (int)Math.Clamp(n / (1 << 16), 1, Math.Max(1, torch.get_num_threads()));
            Parallel.For(0, chunks, c =>
            {
                float* p = (float*)P, g = (float*)G, m = (float*)M, v = (float*)V;
                long start = n * c / chunks, end = n * (c + 1) / chunks;
                bool small = Math.Abs(w) < 0.5f;
                for (long i = start; i < end; i++)
                {
                    float gi = g[i];
                    float pi = decay == 1f ? p[i] : p[i] * decay;
                    float mi = m[i];
                    mi = small ? MathF.FusedMultiplyAdd(w, gi - mi, mi) : MathF.FusedMultiplyAdd(w - 1f, gi - mi, gi);
                    float vi = MathF.FusedMultiplyAdd(oneMinusBeta2 * gi, gi, v[i] * beta2);
                    float denom = MathF.Sqrt(vi) / biasCorrection2Sqrt + eps;
                    p[i] = pi + negStepSize * mi / denom;
                    m[i] = mi;
                    v[i] = vi;
                }
            });
        }
    }

    /// <summary>Sets every gradient to None (torch's <c>zero_grad(set_to_none=True)</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var s in _slots)
        {
            var g = s.Param.grad;
            if (g is not null)
            {
                s.Param.grad = null;
                g.Dispose();
            }
        }
    }

    /// <summary>The state tensors by name (<c>exp_avg.NAME</c>, <c>exp_avg_sq.NAME</c>) and the step counts.</summary>
    public (Dictionary<string, Tensor> Tensors, Dictionary<string, long> Steps) StateDict()
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var steps = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var s in _slots)
        {
            if (s.ExpAvg is null) continue;
            tensors["exp_avg." + s.Name] = s.ExpAvg;
            tensors["exp_avg_sq." + s.Name] = s.ExpAvgSq!;
            steps[s.Name] = s.Step;
        }
        return (tensors, steps);
    }

    /// <summary>Restores a state saved by <see cref="StateDict"/>; copies the tensors.</summary>
    /// <exception cref="InvalidDataException">A parameter's state is missing or mis-shaped.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, long> steps, string source)
    {
        foreach (var s in _slots)
        {
            if (!steps.TryGetValue(s.Name, out long step)) { s.ExpAvg?.Dispose(); s.ExpAvgSq?.Dispose(); s.ExpAvg = s.ExpAvgSq = null; s.Step = 0; continue; }
            if (!tensors.TryGetValue("exp_avg." + s.Name, out var m) || !tensors.TryGetValue("exp_avg_sq." + s.Name, out var v))
                throw new InvalidDataException($"{source}: optimizer state of '{s.Name}' is missing");
            if (!m.shape.SequenceEqual(s.Param.shape) || !v.shape.SequenceEqual(s.Param.shape))
                throw new InvalidDataException($"{source}: optimizer state of '{s.Name}' has shape [{string.Join(", ", m.shape)}], the parameter [{string.Join(", ", s.Param.shape)}]");
            s.ExpAvg?.Dispose();
            s.ExpAvgSq?.Dispose();
            var dtype = (s.Master ?? s.Param).dtype;
            s.ExpAvg = m.to(dtype).clone().DetachFromDisposeScope();
            s.ExpAvgSq = v.to(dtype).clone().DetachFromDisposeScope();
            s.Step = step;
        }
    }

    public void Dispose()
    {
        foreach (var s in _slots)
        {
            s.ExpAvg?.Dispose();
            s.ExpAvgSq?.Dispose();
            s.ExpAvg = s.ExpAvgSq = null;
        }
    }
}

/// <summary>
/// The learning-rate schedules of Hugging Face's <c>optimization.py</c> (<c>get_scheduler</c>): a multiplier of the
/// initial learning rate for each step, as torch's <c>LambdaLR</c> applies it (step 0 uses the multiplier of 0).
/// </summary>
public static class LearningRateSchedules
{
    /// <summary>The multiplier of the initial learning rate at <paramref name="step"/>.</summary>
    /// <param name="type">The schedule.</param>
    /// <param name="step">Optimizer steps taken so far.</param>
    /// <param name="warmupSteps">Warmup steps.</param>
    /// <param name="totalSteps">Total optimizer steps of the run.</param>
    /// <param name="initialLearningRate">The initial learning rate (the polynomial schedule needs it).</param>
    public static double Multiplier(SchedulerType type, int step, int warmupSteps, int totalSteps, double initialLearningRate)
    {
        // get_constant_schedule_with_warmup / get_linear_schedule_with_warmup / ...: the shared warmup branch.
        if (type != SchedulerType.Constant && step < warmupSteps)
            return step / (double)Math.Max(1, warmupSteps);
        switch (type)
        {
            case SchedulerType.Constant:
            case SchedulerType.ConstantWithWarmup:
                return 1.0;
            case SchedulerType.Linear:
                return Math.Max(0.0, (totalSteps - step) / (double)Math.Max(1, totalSteps - warmupSteps));
            case SchedulerType.Cosine:
            {
                // num_cycles = 0.5: half a cosine from 1 to 0.
                double progress = (step - warmupSteps) / (double)Math.Max(1, totalSteps - warmupSteps);
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * 0.5 * 2.0 * progress)));
            }
            default:
            {
                // get_polynomial_decay_schedule_with_warmup(lr_end=1e-7, power=1.0).
                const double lrEnd = 1e-7, power = 1.0;
                if (step > totalSteps) return lrEnd / initialLearningRate;
                double range = initialLearningRate - lrEnd;
                int decaySteps = totalSteps - warmupSteps;
                double pctRemaining = 1 - (step - warmupSteps) / (double)decaySteps;
                double decay = range * Math.Pow(pctRemaining, power) + lrEnd;
                return decay / initialLearningRate;
            }
        }
    }

    /// <summary>The learning rate used by optimizer step <paramref name="step"/> (0-based).</summary>
    public static double LearningRate(SchedulerType type, double initialLearningRate, int step, int warmupSteps, int totalSteps) =>
        initialLearningRate * Multiplier(type, step, warmupSteps, totalSteps, initialLearningRate);
}
