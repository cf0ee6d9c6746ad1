using System.Reflection;

namespace CassaFS.Benchmarks;

/// <summary>One benchmark suite: prints its figures and the ceiling they are compared with, measured in the same run.</summary>
internal interface IBenchmark
{
    /// <summary>The word that selects it on the command line (cql, locks, fs, mount).</summary>
    string Name { get; }
    string Description { get; }
    Task<int> RunAsync(string[] args, CancellationToken ct);
}

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var suites = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
            .OrderBy(b => b.Name, StringComparer.Ordinal)
            .ToList();
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: dotnet run -c Release --project tests/CassaFS.Benchmarks -- <suite> [options]");
            foreach (var s in suites) Console.WriteLine($"  {s.Name,-8} {s.Description}");
            return args.Length == 0 ? 2 : 0;
        }
        var suite = suites.FirstOrDefault(s => s.Name == args[0]);
        if (suite is null)
        {
            Console.Error.WriteLine($"unknown suite '{args[0]}'; choose one of: {string.Join(", ", suites.Select(s => s.Name))}");
            return 2;
        }
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        return await suite.RunAsync(args[1..], cts.Token).ConfigureAwait(false);
    }
}
