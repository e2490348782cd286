using System.Diagnostics;
using DebertaSharp.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DebertaSharp.Extensions;

/// <summary>
/// Registers DebertaSharp pipelines in a <see cref="IServiceCollection"/>: one singleton per model, loaded on first
/// resolution and disposed with the container. Loading is reported to the container's <see cref="ILoggerFactory"/>
/// when it has one (category <c>DebertaSharp.Pipelines</c>).
/// </summary>
public static class DebertaServiceCollectionExtensions
{
    /// <summary>Registers the pipeline of <paramref name="task"/> over a checkpoint folder as a singleton <see cref="Pipeline"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="task">The task name, as <see cref="Pipeline.Create"/> takes it (<c>fill-mask</c>, <c>text-classification</c>, ...).</param>
    /// <param name="modelDir">The checkpoint folder.</param>
    /// <param name="tokenizerDir">The tokenizer folder; null for <paramref name="modelDir"/>.</param>
    /// <param name="serviceKey">Registers a keyed service (resolve with <c>[FromKeyedServices(key)]</c> or
    /// <c>GetRequiredKeyedService</c>), for several models in one container; null for the unkeyed <see cref="Pipeline"/>.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddDebertaPipeline(this IServiceCollection services, string task, string modelDir,
        string? tokenizerDir = null, object? serviceKey = null) =>
        services.AddDebertaPipeline<Pipeline>(task, modelDir, tokenizerDir, serviceKey);

    /// <summary>
    /// Registers the pipeline of <paramref name="task"/> as a singleton of its class <typeparamref name="TPipeline"/>
    /// (<see cref="FillMaskPipeline"/>, ...), and as <see cref="Pipeline"/> (the same instance).
    /// </summary>
    /// <typeparam name="TPipeline">The pipeline class of the task.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="task">The task name.</param>
    /// <param name="modelDir">The checkpoint folder.</param>
    /// <param name="tokenizerDir">The tokenizer folder; null for <paramref name="modelDir"/>.</param>
    /// <param name="serviceKey">Registers keyed services; null for unkeyed ones.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">On resolution: the task's pipeline is not a <typeparamref name="TPipeline"/>.</exception>
    public static IServiceCollection AddDebertaPipeline<TPipeline>(this IServiceCollection services, string task, string modelDir,
        string? tokenizerDir = null, object? serviceKey = null) where TPipeline : Pipeline
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(task);
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        TPipeline Load(IServiceProvider sp)
        {
            var logger = sp.GetService<ILoggerFactory>()?.CreateLogger("DebertaSharp.Pipelines") ?? NullLogger.Instance;
            var watch = Stopwatch.StartNew();
            var pipeline = Pipeline.Create(task, modelDir, tokenizerDir);
            if (pipeline is not TPipeline typed)
            {
                string actual = pipeline.GetType().Name;
                pipeline.Dispose();
                throw new InvalidOperationException($"the {task} pipeline is a {actual}, not a {typeof(TPipeline).Name}");
            }
            if (pipeline.Model.LoadReport is { } report)
                foreach (string line in report.Messages) logger.LogDebug("{ModelDir}: {Decision}", modelDir, line);
            logger.LogInformation("Loaded the {Task} pipeline ({Pipeline}) from {ModelDir} in {Milliseconds} ms", task,
                pipeline.GetType().Name, modelDir, watch.ElapsedMilliseconds);
            return typed;
        }
        if (serviceKey is null)
        {
            services.AddSingleton(Load);
            if (typeof(TPipeline) != typeof(Pipeline)) services.AddSingleton<Pipeline>(sp => sp.GetRequiredService<TPipeline>());
        }
        else
        {
            services.AddKeyedSingleton<TPipeline>(serviceKey, (sp, _) => Load(sp));
            if (typeof(TPipeline) != typeof(Pipeline))
                services.AddKeyedSingleton<Pipeline>(serviceKey, (sp, key) => sp.GetRequiredKeyedService<TPipeline>(key));
        }
        return services;
    }
}
