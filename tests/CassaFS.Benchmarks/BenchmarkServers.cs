using System.Globalization;
using CassaFS.LocalServers;

namespace CassaFS.Benchmarks;

/// <summary>The servers a benchmark measures against: those named by CASSAFS_TEST_CASSANDRA / CASSAFS_TEST_ZOOKEEPER, else local ones started for the run.</summary>
internal sealed class BenchmarkServers : IAsyncDisposable
{
    private LocalRun? _run;

    public string Cassandra { get; private set; } = "";
    public string ZooKeeper { get; private set; } = "";

    public static async Task<BenchmarkServers> StartAsync(string purpose, CancellationToken ct)
    {
        var servers = new BenchmarkServers
        {
            Cassandra = Environment.GetEnvironmentVariable("CASSAFS_TEST_CASSANDRA") ?? "",
            ZooKeeper = Environment.GetEnvironmentVariable("CASSAFS_TEST_ZOOKEEPER") ?? "",
        };
        if (servers.Cassandra.Length == 0 || servers.ZooKeeper.Length == 0)
        {
            servers._run = await LocalRun.CreateAsync(purpose, Console.WriteLine, ct);
            // 1 MiB blocks with eight in flight need more than the test nodes' 256 MB heap.
            servers.Cassandra = (await servers._run.StartCassandraAsync(CassandraNodeOptions.OnFreePorts() with { HeapMegabytes = 1024 }, ct)).ContactPoint;
            servers.ZooKeeper = (await servers._run.StartZooKeeperAsync(ct: ct)).ConnectString;
        }
        return servers;
    }

    public async ValueTask DisposeAsync()
    {
        if (_run is not null) await _run.DisposeAsync();
    }
}

/// <summary>Reading a suite's "--name value" options.</summary>
internal static class BenchmarkOptions
{
    public static int Int(string[] args, string name, int fallback) =>
        Text(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public static string? Text(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
