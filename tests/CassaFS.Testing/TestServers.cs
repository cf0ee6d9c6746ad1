using CassaFS.LocalServers;

namespace CassaFS.Testing;

/// <summary>
/// The real servers a test run talks to. The test command starts one Cassandra and one ZooKeeper per run and
/// passes them in CASSAFS_TEST_CASSANDRA / CASSAFS_TEST_ZOOKEEPER ("host:port"); a developer can point those at
/// servers already running. When unset (a lone `dotnet test`), the first test to ask starts them for the process.
/// Tests isolate by keyspace (<see cref="TestNames.Keyspace"/>) and chroot (<see cref="TestNames.Chroot"/>).
/// Tests that stop, kill or restart servers take their own with <see cref="OwnRunAsync"/>.
/// </summary>
public static class TestServers
{
    public const string CassandraVariable = "CASSAFS_TEST_CASSANDRA";
    public const string ZooKeeperVariable = "CASSAFS_TEST_ZOOKEEPER";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static LocalRun? _shared;
    private static string? _cassandra;
    private static string? _zookeeper;

    /// <summary>"host:port" of the run's Cassandra native transport.</summary>
    public static async Task<string> CassandraAsync()
    {
        var configured = Environment.GetEnvironmentVariable(CassandraVariable);
        if (!string.IsNullOrWhiteSpace(configured)) return configured.Trim();
        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_cassandra is null)
            {
                var run = await SharedRunAsync().ConfigureAwait(false);
                _cassandra = (await run.StartCassandraAsync().ConfigureAwait(false)).ContactPoint;
            }
            return _cassandra;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>"host:port" of the run's ZooKeeper server.</summary>
    public static async Task<string> ZooKeeperAsync()
    {
        var configured = Environment.GetEnvironmentVariable(ZooKeeperVariable);
        if (!string.IsNullOrWhiteSpace(configured)) return configured.Trim();
        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_zookeeper is null)
            {
                var run = await SharedRunAsync().ConfigureAwait(false);
                _zookeeper = (await run.StartZooKeeperAsync().ConfigureAwait(false)).ConnectString;
            }
            return _zookeeper;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>A run of servers owned by one test (or test class) that may stop, kill and restart them.</summary>
    public static Task<LocalRun> OwnRunAsync(string purpose) => LocalRun.CreateAsync(purpose, Console.WriteLine);

    private static async Task<LocalRun> SharedRunAsync() =>
        _shared ??= await LocalRun.CreateAsync("tests", Console.WriteLine).ConfigureAwait(false);
}

/// <summary>Unique names so that tests sharing one server never see each other's data.</summary>
public static class TestNames
{
    /// <summary>A fresh keyspace name such as <c>t_cql_1a2b3c4d5e</c> (lower case, at most 48 characters).</summary>
    public static string Keyspace(string prefix) => $"t_{prefix.ToLowerInvariant()}_{Guid.NewGuid().ToString("N")[..10]}";

    /// <summary>A fresh ZooKeeper chroot such as <c>/t-locks-1a2b3c4d5e</c>.</summary>
    public static string Chroot(string prefix) => $"/t-{prefix.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..10]}";
}
