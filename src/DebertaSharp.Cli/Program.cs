using DebertaSharp.Cli;

return CliApp.Run(args, Console.Out, Console.Error, handleProcessTermination: true, CancellationToken.None);
