using DebertaSharp.Extensions;
using DebertaSharp.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DebertaSharp.Tests.Extensions;

/// <summary><c>services.AddDebertaPipeline(...)</c> on a real <see cref="ServiceCollection"/>.</summary>
public class DependencyInjectionTests
{
    private static readonly string Model = TestPaths.Fixture("pipeline_models", "masked_lm");
    private static readonly string Tokenizer = TestPaths.Fixture("tokenizer", "v4_template");
    private const string Text = "The capital of France is [MASK].";

    [Fact]
    public void A_Pipeline_Is_One_Singleton_Loaded_On_First_Use_Logged_And_Disposed_With_The_Container()
    {
        var logs = new CapturingLogger();
        var services = new ServiceCollection().AddSingleton<ILoggerFactory>(logs);
        services.AddDebertaPipeline<FillMaskPipeline>("fill-mask", Model, Tokenizer);
        Assert.Empty(logs.Entries);   // nothing loaded at registration
        FillMaskPipeline typed;
        using (var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }))
        {
            typed = provider.GetRequiredService<FillMaskPipeline>();
            Assert.Same(typed, provider.GetRequiredService<FillMaskPipeline>());
            Assert.Same(typed, provider.GetRequiredService<Pipeline>());
            using var direct = (FillMaskPipeline)Pipeline.Create("fill-mask", Model, Tokenizer);
            Assert.Equal(direct.Predict(Text).SelectMany(p => p), typed.Predict(Text).SelectMany(p => p));
            var loaded = Assert.Single(logs.Entries, e => e.Level == LogLevel.Information);
            Assert.Equal("DebertaSharp.Pipelines", loaded.Category);
            Assert.Contains("fill-mask", loaded.Message);
            Assert.Contains(Model, loaded.Message);
            Assert.Contains(logs.Entries, e => e.Level == LogLevel.Debug && e.Message.Contains("read ", StringComparison.Ordinal));
        }
        Assert.Empty(typed.Model.parameters());   // the container disposed the pipeline, and with it the model
    }

    [Fact]
    public void Keyed_Registrations_Give_One_Pipeline_Per_Model()
    {
        var services = new ServiceCollection();
        services.AddDebertaPipeline("fill-mask", Model, Tokenizer, serviceKey: "a");
        services.AddDebertaPipeline<FillMaskPipeline>("fill-mask", Model, Tokenizer, serviceKey: "b");
        using var provider = services.BuildServiceProvider();
        var a = provider.GetRequiredKeyedService<Pipeline>("a");
        var b = provider.GetRequiredKeyedService<Pipeline>("b");
        Assert.NotSame(a, b);
        Assert.Same(a, provider.GetRequiredKeyedService<Pipeline>("a"));
        Assert.Same(b, provider.GetRequiredKeyedService<FillMaskPipeline>("b"));
        Assert.Null(provider.GetService<Pipeline>());   // no unkeyed registration; no logger factory needed either
        Assert.Equal("fill-mask", a.Task);
    }

    [Fact]
    public void A_Task_Whose_Pipeline_Is_Another_Class_Fails_On_Resolution()
    {
        var services = new ServiceCollection().AddDebertaPipeline<TextClassificationPipeline>("fill-mask", Model, Tokenizer);
        using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<TextClassificationPipeline>());
        Assert.Contains("FillMaskPipeline", e.Message);
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddDebertaPipeline("", Model));
    }
}
