using CassaFS.Cql;
using CassaFS.Testing;
using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

/// <summary>The run's shared Cassandra (a fresh keyspace with a counters table) and ZooKeeper (a fresh chroot).</summary>
public sealed class TestBed : IAsyncLifetime
{
    public string Cassandra { get; private set; } = "";
    public string ZooKeeperServers { get; private set; } = "";
    public string Chroot { get; } = TestNames.Chroot("locks");
    public string Keyspace { get; } = TestNames.Keyspace("locks");
    public string ZooKeeper => ZooKeeperServers + Chroot;
    public CqlSession Session { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cassandra = await TestServers.CassandraAsync();
        ZooKeeperServers = await TestServers.ZooKeeperAsync();
        await using (var root = await ZooKeeperClient.ConnectAsync(ZooKeeperServers))
            await root.EnsurePathAsync(Chroot);
        await using (var admin = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { Cassandra } }))
            await admin.ExecuteAsync($"CREATE KEYSPACE {Keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}");
        Session = await NewSessionAsync();
        await Counters.CreateTableAsync(Session);
    }

    public Task<CqlSession> NewSessionAsync() =>
        CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { Cassandra }, Keyspace = Keyspace, DefaultConsistency = Consistency.Quorum });

    public Task<ZooKeeperClient> NewZooKeeperAsync(TimeSpan? sessionTimeout = null, string? connectString = null) =>
        ZooKeeperClient.ConnectAsync(connectString ?? ZooKeeper, new ZooKeeperClientOptions
        {
            SessionTimeout = sessionTimeout ?? TimeSpan.FromSeconds(10),
            ConnectTimeout = TimeSpan.FromSeconds(20),
        });

    public async Task DisposeAsync()
    {
        try
        {
            await Session.ExecuteAsync($"DROP KEYSPACE IF EXISTS {Keyspace}");
            await using var root = await ZooKeeperClient.ConnectAsync(ZooKeeperServers);
            await root.DeleteRecursiveAsync(Chroot);
        }
        finally
        {
            await Session.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TestBedGroup : ICollectionFixture<TestBed>
{
    public const string Name = "lock servers";
}

/// <summary>A shared counter row updated by plain read-modify-write (no LWT): only a working lock keeps its count exact.</summary>
public static class Counters
{
    public static Task CreateTableAsync(CqlSession session) =>
        session.ExecuteAsync("CREATE TABLE IF NOT EXISTS counters (name text PRIMARY KEY, value bigint)");

    public static async Task<string> NewAsync(CqlSession session)
    {
        var name = Guid.NewGuid().ToString("N");
        await session.ExecuteAsync("INSERT INTO counters (name, value) VALUES (?, ?)", name, 0L);
        return name;
    }

    public static async Task<long> ReadAsync(CqlSession session, string name) =>
        (await session.ExecuteAsync("SELECT value FROM counters WHERE name = ?", name))[0].Get<long>(0);

    /// <summary>SELECT value, then UPDATE value = v + 1: two separate statements, so two unlocked clients lose updates.</summary>
    public static async Task IncrementAsync(CqlSession session, string name)
    {
        var select = await session.PrepareAsync("SELECT value FROM counters WHERE name = ?");
        var update = await session.PrepareAsync("UPDATE counters SET value = ? WHERE name = ?");
        var value = (await Retried(() => session.ExecuteAsync(select.Bind(name))))[0].Get<long>(0);
        await Retried(() => session.ExecuteAsync(update.Bind(value + 1, name)));
    }

    /// <summary>
    /// The shared test server is sometimes slow to answer. Both statements may be repeated while the lock is held: the
    /// update writes an absolute value, and a first attempt that lands late carries an older client timestamp, so it loses.
    /// </summary>
    private static async Task<RowSet> Retried(Func<Task<RowSet>> statement)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await statement();
            }
            catch (CqlException e) when (attempt < 4 && e is CqlClientTimeoutException or CqlWriteTimeoutException or CqlReadTimeoutException)
            {
            }
        }
    }
}

/// <summary>Clients contending for one lock, each counting in its own critical sections.</summary>
public static class Contention
{
    /// <summary>Runs <paramref name="sections"/> critical sections per client; returns the most clients ever seen inside at once (in this process).</summary>
    public static async Task<int> CountUnderLockAsync(IReadOnlyList<ILockProvider> clients, IReadOnlyList<CqlSession> sessions, string counter, int sections, LockKey key)
    {
        var inside = 0;
        var most = 0;
        var tasks = clients.Select((provider, i) => Task.Run(async () =>
        {
            for (var n = 0; n < sections; n++)
            {
                try
                {
                    await SectionAsync(provider, i);
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException)
                {
                    throw new InvalidOperationException($"client {i} failed in critical section {n} of {sections}: {e.GetType().Name}: {e.Message}", e);
                }
            }
        })).ToList();
        await Task.WhenAll(tasks);
        return most;

        async Task SectionAsync(ILockProvider provider, int i)
        {
            {
                await using var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = $"count {i}", Timeout = TimeSpan.FromSeconds(60) });
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref most, now);
                await Counters.IncrementAsync(sessions[i], counter);
                Assert.NotEqual(LockState.Lost, held.State);
                Interlocked.Decrement(ref inside);
            }
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    public static async Task<T> Within<T>(Task<T> task, double seconds, string what)
    {
        var done = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(seconds)));
        Assert.True(done == task, $"{what} did not happen within {seconds} s");
        return await task;
    }

    public static async Task Within(Task task, double seconds, string what)
    {
        var done = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(seconds)));
        Assert.True(done == task, $"{what} did not happen within {seconds} s");
        await task;
    }

    /// <summary>Polls until <paramref name="condition"/> holds.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, double seconds, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} did not happen within {seconds} s");
            await Task.Delay(20);
        }
    }
}
