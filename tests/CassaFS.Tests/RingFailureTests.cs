using System.Diagnostics;
using System.Security.Cryptography;
using CassaFS.Cql;
using CassaFS.LocalServers;
using CassaFS.Locks;
using CassaFS.Testing;
using CassaFS.ZooKeeper;

namespace CassaFS.Tests;

/// <summary>A three-node ring (RF 3, QUORUM) this class owns, so its tests may kill and restart nodes.</summary>
public sealed class RingFixture : IAsyncLifetime
{
    private LocalRun? _run;

    public IReadOnlyList<CassandraNode> Nodes { get; private set; } = [];
    public string ZooKeeper { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _run = await TestServers.OwnRunAsync("fs-ring");
        Nodes = await _run.StartCassandraRingAsync(3); // batch commit log, as every local node
        var zk = await TestServers.ZooKeeperAsync();
        var chroot = TestNames.Chroot("ring");
        await using (var root = await ZooKeeperClient.ConnectAsync(zk))
            await root.EnsurePathAsync(chroot);
        ZooKeeper = zk + chroot;
    }

    public async Task DisposeAsync()
    {
        if (_run is not null) await _run.DisposeAsync();
    }

    public async Task EnsureAllRunningAsync()
    {
        foreach (var node in Nodes.Where(n => !n.IsRunning)) await node.StartAsync();
    }

    /// <summary>A client of a fresh RF 3 filesystem on the ring, knowing every node.</summary>
    public async Task<(CqlSession Session, ZooKeeperClient Zk, CassaFileSystem Fs)> MountFreshAsync(string keyspace)
    {
        var options = new CqlSessionOptions { RequestTimeout = TimeSpan.FromSeconds(12), SchemaAgreementTimeout = TimeSpan.FromSeconds(60) };
        foreach (var node in Nodes) options.ContactPoints.Add(node.ContactPoint);
        var session = await CqlSession.ConnectAsync(options);
        await Schema.FormatAsync(session, new FormatOptions { Keyspace = keyspace, ReplicationFactor = 3, BlockSize = 64 * 1024 });
        var zk = await ZooKeeperClient.ConnectAsync(ZooKeeper);
        var fs = await CassaFileSystem.OpenAsync(session, new FileSystemOptions { Keyspace = keyspace, Locks = new ZooKeeperLockProvider(zk) });
        return (session, zk, fs);
    }
}

[CollectionDefinition(Name)]
public sealed class RingGroup : ICollectionFixture<RingFixture>
{
    public const string Name = "fs ring";
}

/// <summary>Issue 16 §3 and §4: node failures under a filesystem at QUORUM.</summary>
[Collection(RingGroup.Name)]
public sealed class RingFailureTests(RingFixture ring, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task With_one_node_killed_no_file_operation_waits_on_it()
    {
        // Before: counter updates (statfs usage) stalled 5 s, four times over 22 s, while the coordinators still chose the
        // dead node as counter leader.
        await ring.EnsureAllRunningAsync();
        var (session, zk, fs) = await ring.MountFreshAsync(TestNames.Keyspace("stall"));
        try
        {
            var dir = await fs.MkdirAsync(Inode.RootId, "d", 0x1FF, Root);
            await fs.WriteFileAsync(dir.Id, "warm", [1]);
            // The same work with every node up sets the bar: on a busy machine any operation may take a second,
            // while one that waits on the dead node takes a request timeout (5 s and more before the fix).
            var (healthy, healthyWhat) = await SlowestOperationAsync(fs, dir.Id, "up", TimeSpan.FromSeconds(8));
            ring.Nodes[1].Kill();
            var (slowest, slowestWhat) = await SlowestOperationAsync(fs, dir.Id, "down", TimeSpan.FromSeconds(25));
            var bar = TimeSpan.FromMilliseconds(Math.Clamp(2 * healthy.TotalMilliseconds, 2000, 4500));
            output.WriteLine($"slowest operation with every node up {healthy.TotalMilliseconds:F0} ms ({healthyWhat}), with one killed {slowest.TotalMilliseconds:F0} ms ({slowestWhat})");
            Assert.True(slowest < bar, $"an operation waited on the dead node: {slowestWhat} took {slowest.TotalMilliseconds:F0} ms " +
                                       $"(with every node up the slowest, {healthyWhat}, took {healthy.TotalMilliseconds:F0} ms; the bar was {bar.TotalMilliseconds:F0} ms)");
        }
        finally
        {
            await fs.DisposeAsync();
            await zk.DisposeAsync();
            await session.DisposeAsync();
            await ring.EnsureAllRunningAsync();
        }
    }

    /// <summary>Reads at QUORUM every half second until <paramref name="done"/> (at most 60 s); whether it came.</summary>
    private static async Task<bool> ProbeUntilAsync(CqlSession probe, string keyspace, Func<bool> done)
    {
        var clock = Stopwatch.StartNew();
        while (!done() && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                await probe.ExecuteAsync(new SimpleStatement($"SELECT id FROM {keyspace}.inodes LIMIT 1").WithConsistency(Consistency.Quorum));
            }
            catch (CqlException)
            {
                // Timeouts until the failure detector convicts the dead nodes; Unavailable after.
            }
            if (!done()) await Task.Delay(500);
        }
        return done();
    }

    /// <summary>Creates, reads, makes directories and unlinks for <paramref name="duration"/>; the slowest operation after the first round.</summary>
    private static async Task<(TimeSpan Slowest, string What)> SlowestOperationAsync(CassaFileSystem fs, Guid dir, string prefix, TimeSpan duration)
    {
        var slowest = TimeSpan.Zero;
        var slowestWhat = "";
        var clock = Stopwatch.StartNew();
        var data = RandomNumberGenerator.GetBytes(10_000);
        for (var i = 0; clock.Elapsed < duration; i++)
        {
            var name = $"{prefix}{i}";
            foreach (var (what, op) in new (string, Func<Task>)[]
                     {
                         ("create+write", async () => await fs.WriteFileAsync(dir, name, data)),
                         ("read", async () => Assert.Equal(data, await fs.ReadFileAsync((await fs.LookupAsync(dir, name, Root)).Id))),
                         ("mkdir", async () => await fs.MkdirAsync(dir, "d" + name, 0x1FF, Root)),
                         ("unlink", async () => await fs.UnlinkAsync(dir, name, Root)),
                     })
            {
                var one = Stopwatch.StartNew();
                await op();
                if (i > 0 && one.Elapsed > slowest) (slowest, slowestWhat) = (one.Elapsed, $"{what} #{i} at {clock.Elapsed.TotalSeconds:F1} s");
            }
        }
        return (slowest, slowestWhat);
    }

    [Fact]
    public async Task Fsynced_files_survive_two_node_kills_and_read_back_right_at_once()
    {
        // Before: with commitlog_sync periodic, files fsync'd in the last seconds before quorum was lost read back
        // missing or wrong (28 + 47 of 203) for 60-120 s after the restarts.
        await ring.EnsureAllRunningAsync();
        var keyspace = TestNames.Keyspace("durable");
        var (session, zk, fs) = await ring.MountFreshAsync(keyspace);
        var availability = new System.Collections.Concurrent.ConcurrentQueue<CqlAvailability>();
        var probeOptions = new CqlSessionOptions { RequestTimeout = TimeSpan.FromSeconds(5), AvailabilityChanged = availability.Enqueue };
        foreach (var node in ring.Nodes) probeOptions.ContactPoints.Add(node.ContactPoint);
        await using var probe = await CqlSession.ConnectAsync(probeOptions);
        var acknowledged = new Dictionary<string, byte[]>();
        Guid dir;
        try
        {
            dir = (await fs.MkdirAsync(Inode.RootId, "d", 0x1FF, Root)).Id;
            ring.Nodes[0].Kill();
            var clock = Stopwatch.StartNew();
            // 8 s of writes, and at least 30 files however busy the machine is (19 in 8 s once, on two cores).
            for (var i = 0; clock.Elapsed < TimeSpan.FromSeconds(8) || (acknowledged.Count < 30 && clock.Elapsed < TimeSpan.FromSeconds(60)); i++)
            {
                var data = RandomNumberGenerator.GetBytes(1000 + (i * 37 % 70_000));
                var (h, _) = await fs.CreateAsync(dir, $"f{i}", 0x1A4, OpenFlags.WriteOnly, Root);
                await fs.WriteAsync(h, 0, data);
                await fs.FsyncAsync(h);
                await fs.ReleaseAsync(h);
                acknowledged[$"f{i}"] = data;
            }
            ring.Nodes[2].Kill(); // quorum lost: nothing more is acknowledged
        }
        finally
        {
            await fs.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { });
            await zk.DisposeAsync();
            await session.DisposeAsync();
        }
        // The session tells when the quorum is gone (the live node answers Unavailable once gossip has convicted the
        // other two) and when it is back: the mount daemon logs both.
        Assert.True(await ProbeUntilAsync(probe, keyspace, () => !availability.IsEmpty), "no Unavailable answer within 60 s of losing two of three nodes");
        await ring.Nodes[0].StartAsync();
        await ring.Nodes[2].StartAsync();
        Assert.True(await ProbeUntilAsync(probe, keyspace, () => availability.Count >= 2), "QUORUM was not reported served again after the restarts");
        var told = availability.ToArray();
        Assert.Equal((false, Consistency.Quorum, 2, 1), (told[0].IsAvailable, told[0].Consistency, told[0].Required, told[0].Alive));
        Assert.Equal((true, Consistency.Quorum), (told[1].IsAvailable, told[1].Consistency));

        var options = new CqlSessionOptions { RequestTimeout = TimeSpan.FromSeconds(12) };
        foreach (var node in ring.Nodes) options.ContactPoints.Add(node.ContactPoint);
        await using var reader = await CqlSession.ConnectAsync(options);
        await using var zk2 = await ZooKeeperClient.ConnectAsync(ring.ZooKeeper);
        // One coordinator serving QUORUM again does not mean every one does yet: a node just restarted may not have
        // heard that its peer is back, and answers Unavailable until gossip tells it (seen in a clean-clone run).
        CassaFileSystem? opened = null;
        for (var attempt = 0; opened is null; attempt++)
        {
            try
            {
                opened = await CassaFileSystem.OpenAsync(reader, new FileSystemOptions { Keyspace = keyspace, Locks = new ZooKeeperLockProvider(zk2) });
            }
            catch (CqlUnavailableException) when (attempt < 60)
            {
                await Task.Delay(500);
            }
        }
        await using var check = opened;
        int missing = 0, wrong = 0;
        foreach (var (name, data) in acknowledged)
        {
            try
            {
                var read = await check.ReadFileAsync((await check.LookupAsync(dir, name, Root)).Id);
                if (!data.AsSpan().SequenceEqual(read)) wrong++;
            }
            catch (FileSystemException e) when (e.Errno == Errno.ENOENT)
            {
                missing++;
            }
        }
        output.WriteLine($"fsync'd {acknowledged.Count} files with one node down; after two kills and restarts {missing} missing, {wrong} wrong");
        Assert.True(acknowledged.Count >= 20, $"only {acknowledged.Count} files were written with one node down");
        Assert.True(missing == 0 && wrong == 0, $"of {acknowledged.Count} fsync'd files, {missing} missing and {wrong} wrong right after the restarts");
    }
}
