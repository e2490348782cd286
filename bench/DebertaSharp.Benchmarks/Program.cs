using DebertaSharp.Benchmarks;

// dotnet run -c Release --project bench/DebertaSharp.Benchmarks -- forward --shapes 1x128,8x128,32x128,1x512
// dotnet run -c Release --project bench/DebertaSharp.Benchmarks -- tokenize
// dotnet run -c Release --project bench/DebertaSharp.Benchmarks -- train --shapes 8x128
// dotnet run -c Release --project bench/DebertaSharp.Benchmarks -- serve
return args.Length > 0 ? args[0] switch
{
    "forward" => ForwardBenchmark.Run(args[1..]),
    "tokenize" => TokenizeBenchmark.Run(args[1..]),
    "train" => TrainBenchmark.Run(args[1..]),
    "serve" => ServeBenchmark.Run(args[1..]),
    _ => Usage(),
} : Usage();

static int Usage()
{
    Console.Error.WriteLine("usage: DebertaSharp.Benchmarks forward [--shapes BxS,...] | tokenize | train [--shapes BxS,...] [--repeats N] | serve [--seconds N] [--clients 1,8,32]");
    return 2;
}
