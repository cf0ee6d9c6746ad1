using System.Globalization;
using System.Numerics;

namespace CassaFS.LocalServers;

/// <summary>
/// A set of local servers with one lifetime and one run folder: a test run, a demo. Disposing it stops every
/// server and deletes their data (logs are kept); if the owner dies instead, the next run reaps what it left.
/// </summary>
public sealed class LocalRun : IAsyncDisposable
{
    private readonly List<CassandraNode> _cassandra = new();
    private readonly List<ZooKeeperServer> _zookeeper = new();
    private readonly Action<string>? _log;
    private int _disposed;

    private LocalRun(string directory, Action<string>? log)
    {
        Directory = directory;
        _log = log;
        // An owner that exits without disposing (a test process torn down by its runner, Ctrl+C) must not leave
        // servers behind, and has no time for a graceful stop: kill them. A SIGKILLed owner is left to the reaper.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Abandon();
    }

    /// <summary>The run folder: one sub-folder per server with its configuration, state and logs.</summary>
    public string Directory { get; }

    public IReadOnlyList<CassandraNode> CassandraNodes => _cassandra;
    public IReadOnlyList<ZooKeeperServer> ZooKeeperServers => _zookeeper;

    /// <summary>Keep the servers' data on dispose (for a post-mortem of a failed run).</summary>
    public bool KeepData { get; set; }

    /// <summary>Creates a run folder (after reaping orphaned runs) and checks Java is there.</summary>
    public static async Task<LocalRun> CreateAsync(string purpose, Action<string>? log = null, CancellationToken ct = default)
    {
        await Prerequisites.EnsureJavaAsync(log, ct).ConfigureAwait(false);
        return new LocalRun(RunRegistry.CreateRun(purpose, log), log);
    }

    /// <summary>One Cassandra node on free ports of 127.0.0.1, started and answering CQL.</summary>
    public async Task<CassandraNode> StartCassandraAsync(CassandraNodeOptions? options = null, CancellationToken ct = default)
    {
        var distribution = await CassandraDistribution.EnsureAsync(_log, ct).ConfigureAwait(false);
        var node = AddCassandra($"cassandra{_cassandra.Count + 1}", distribution, options ?? CassandraNodeOptions.OnFreePorts());
        await node.StartAsync(ct: ct).ConfigureAwait(false);
        _log?.Invoke($"Cassandra {node.Name} answers CQL on {node.ContactPoint} after {node.StartupTime.TotalSeconds:F1} s");
        return node;
    }

    /// <summary>
    /// A ring of <paramref name="count"/> nodes on 127.0.0.1..count sharing one port set and evenly spaced tokens;
    /// returns once every node answers CQL (gossip may take a few seconds more to show every peer).
    /// </summary>
    public async Task<IReadOnlyList<CassandraNode>> StartCassandraRingAsync(int count, bool passwordAuthentication = false, CancellationToken ct = default)
    {
        var distribution = await CassandraDistribution.EnsureAsync(_log, ct).ConfigureAwait(false);
        var addresses = Enumerable.Range(1, count).Select(Loopback.Node).ToArray();
        var p = Loopback.FreePorts(4, addresses);
        var cluster = $"CassaFS ring {Guid.NewGuid().ToString("N")[..8]}";
        var nodes = new List<CassandraNode>();
        for (var i = 0; i < count; i++)
        {
            var token = (BigInteger)long.MinValue + (BigInteger.Pow(2, 64) / count) * i;
            nodes.Add(AddCassandra($"ring{i + 1}", distribution, new CassandraNodeOptions
            {
                Address = addresses[i], NativePort = p[0], StoragePort = p[1], SslStoragePort = p[2], RpcPort = p[3],
                ClusterName = cluster, Seeds = new[] { addresses[0] }, InitialToken = token.ToString(CultureInfo.InvariantCulture),
                PasswordAuthentication = passwordAuthentication,
            }));
        }
        await nodes[0].StartAsync(ct: ct).ConfigureAwait(false);
        await Task.WhenAll(nodes.Skip(1).Select(n => n.StartAsync(ct: ct))).ConfigureAwait(false);
        foreach (var n in nodes) _log?.Invoke($"Cassandra {n.Name} answers CQL on {n.ContactPoint} after {n.StartupTime.TotalSeconds:F1} s");
        return nodes;
    }

    /// <summary>One standalone ZooKeeper server on a free port of 127.0.0.1.</summary>
    public async Task<ZooKeeperServer> StartZooKeeperAsync(int tickTimeMs = 2000, CancellationToken ct = default)
    {
        await Prerequisites.EnsureZooKeeperAsync(_log, ct).ConfigureAwait(false);
        var server = AddZooKeeper($"zookeeper{_zookeeper.Count + 1}", new ZooKeeperServerOptions
        {
            ClientPort = Loopback.FreePorts(1)[0], TickTimeMs = tickTimeMs,
        });
        await server.StartAsync(ct: ct).ConfigureAwait(false);
        _log?.Invoke($"ZooKeeper {server.Name} serves on {server.ConnectString} after {server.StartupTime.TotalSeconds:F1} s");
        return server;
    }

    /// <summary>An ensemble of <paramref name="count"/> servers on 127.0.0.1..count; returns once each reports leader or follower.</summary>
    public async Task<IReadOnlyList<ZooKeeperServer>> StartZooKeeperEnsembleAsync(int count = 3, int tickTimeMs = 2000, CancellationToken ct = default)
    {
        await Prerequisites.EnsureZooKeeperAsync(_log, ct).ConfigureAwait(false);
        var addresses = Enumerable.Range(1, count).Select(Loopback.Node).ToArray();
        var p = Loopback.FreePorts(3, addresses);
        var members = Enumerable.Range(1, count).Select(id => (id, addresses[id - 1], p[1], p[2])).ToArray();
        var servers = members.Select(m => AddZooKeeper($"ensemble{m.id}", new ZooKeeperServerOptions
        {
            ServerId = m.id, Address = m.Item2, ClientPort = p[0], TickTimeMs = tickTimeMs, Ensemble = members,
        })).ToList();
        foreach (var s in servers) s.Launch();
        await Task.WhenAll(servers.Select(s => s.WaitServingAsync(ct: ct))).ConfigureAwait(false);
        _log?.Invoke($"ZooKeeper ensemble of {count} serves on {string.Join(',', servers.Select(s => s.ConnectString))}");
        return servers;
    }

    private CassandraNode AddCassandra(string name, CassandraDistribution distribution, CassandraNodeOptions options)
    {
        var node = new CassandraNode(name, Path.Combine(Directory, name), distribution, options);
        lock (_cassandra) _cassandra.Add(node);
        return node;
    }

    private ZooKeeperServer AddZooKeeper(string name, ZooKeeperServerOptions options)
    {
        var server = new ZooKeeperServer(name, Path.Combine(Directory, name), options);
        lock (_zookeeper) _zookeeper.Add(server);
        return server;
    }

    /// <summary>Kills every server at once and deletes their data: for an owner that is exiting.</summary>
    public void Abandon()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        foreach (var n in _cassandra) n.Kill();
        foreach (var z in _zookeeper) z.Kill();
        if (!KeepData) RunRegistry.DeleteData(Directory);
    }

    /// <summary>Stops every server (SIGTERM, then SIGKILL) and deletes their data unless <see cref="KeepData"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await Task.WhenAll(_cassandra.Select(n => n.StopAsync(TimeSpan.FromSeconds(15)))
            .Concat(_zookeeper.Select(z => z.StopAsync(TimeSpan.FromSeconds(5))))).ConfigureAwait(false);
        if (!KeepData) RunRegistry.DeleteData(Directory);
    }
}
