using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>FromPretrained accepts the floating-point model dtypes only, and says so before reading any weights.</summary>
public sealed class LoadDtypeTests
{
    [Theory]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.ComplexFloat32)]
    [InlineData(ScalarType.Bool)]
    public void Non_Floating_Dtype_Is_Rejected_Naming_It(ScalarType dtype)
    {
        string dir = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => DebertaPreTrainedModel.FromPretrained(dir, dtype));
        Assert.Equal("dtype", e.ParamName);
        Assert.Contains(dtype.ToString(), e.Message);
    }
}
