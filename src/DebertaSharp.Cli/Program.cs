using DebertaSharp;
using DebertaSharp.Cli;

// Large activations stay in the C heap between forwards instead of being mapped and zeroed afresh each time.
NativeAllocator.RetainFreedMemory();
return CliApp.Run(args, Console.Out, Console.Error, handleProcessTermination: true, CancellationToken.None);
