using System.Collections.Concurrent;
using CassaFS.Cql;
using CassaFS.LocalServers;
using CassaFS.Testing;
using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

/// <summary>A 3-server ZooKeeper ensemble of this class's own, so its tests may kill servers.</summary>
public sealed class Ensemble : IAsyncLifetime
{
    private LocalRun _run = null!;
    public IReadOnlyList<ZooKeeperServer> Servers { get; private set; } = Array.Empty<ZooKeeperServer>();
    public string ConnectString => string.Join(',', Servers.Select(s => s.ConnectString));

    public async Task InitializeAsync()
    {
        _run = await TestServers.OwnRunAsync("locks-ensemble");
        Servers = await _run.StartZooKeeperEnsembleAsync(3);
    }

    /// <summary>Brings every server a test killed (<see cref="ZooKeeperServer.Kill"/>: gone when it returns) back and waits until the ensemble has a leader again.</summary>
    public async Task HealAsync()
    {
        // A member still running is left alone; every killed one is launched before any is waited for.
        await Task.WhenAll(Servers.Select(s => s.StartAsync(TimeSpan.FromSeconds(90))));
        await LeaderAsync();
    }

    public async Task<ZooKeeperServer> LeaderAsync()
    {
        for (var i = 0; i < 100; i++)
        {
            foreach (var s in Servers)
                if (await s.ModeAsync() == "leader") return s;
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the ensemble has no leader");
    }

    public async Task DisposeAsync() => await _run.DisposeAsync();
}

[Collection(TestBedGroup.Name)]
public sealed class EnsembleTests(TestBed bed, Ensemble ensemble) : IClassFixture<Ensemble>
{
    [Fact]
    public async Task Killing_the_leader_while_four_clients_contend_keeps_their_sessions_and_never_lets_two_hold()
    {
        var clients = new List<ZooKeeperClient>();
        var sessions = new List<CqlSession>();
        var states = new ConcurrentQueue<ConnectionState>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                clients.Add(await ZooKeeperClient.ConnectAsync(ensemble.ConnectString, new ZooKeeperClientOptions
                {
                    SessionTimeout = TimeSpan.FromSeconds(15), StateChanged = states.Enqueue,
                }));
                sessions.Add(await bed.NewSessionAsync());
            }
            var counter = await Counters.NewAsync(bed.Session);
            var key = LockKey.ForInode(Guid.NewGuid());
            var contending = Contention.CountUnderLockAsync(clients.Select(c => (ILockProvider)new ZooKeeperLockProvider(c)).ToList(), sessions, counter, 150, key);
            await Contention.UntilAsync(async () => await Counters.ReadAsync(bed.Session, counter) >= 100, 30, "contention under way");
            (await ensemble.LeaderAsync()).Kill();
            var most = await Contention.Within(contending, 90, "the contending clients finishing after the leader died");
            Assert.Equal(600, await Counters.ReadAsync(bed.Session, counter));
            Assert.Equal(1, most);
            Assert.All(clients, c => Assert.NotEqual(ConnectionState.Lost, c.State));
            Assert.DoesNotContain(ConnectionState.Lost, states);
            Assert.Contains(ConnectionState.Reconnected, states); // the kill was felt, and survived
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
            foreach (var s in sessions) await s.DisposeAsync();
            await ensemble.HealAsync();
        }
    }

    [Fact]
    public async Task A_holder_whose_server_dies_is_told_Suspended_then_Held_again_on_another_server_of_its_session()
    {
        await using var client = await ZooKeeperClient.ConnectAsync(ensemble.ConnectString, new ZooKeeperClientOptions { SessionTimeout = TimeSpan.FromSeconds(15) });
        await using var provider = new ZooKeeperLockProvider(client);
        try
        {
            var held = await provider.AcquireAsync(new LockRequest(LockKey.ForInode(Guid.NewGuid()), LockMode.Write));
            var seen = new ConcurrentQueue<LockState>();
            var back = new TaskCompletionSource();
            held.StateChanged += (_, s) =>
            {
                seen.Enqueue(s);
                if (s == LockState.Held) back.TrySetResult();
            };
            var server = ensemble.Servers.Single(s => s.ConnectString == client.ConnectedServer);
            server.Kill();
            await Contention.Within(back.Task, 30, "Held again after the client moved to another server");
            Assert.Equal(new[] { LockState.Suspended, LockState.Held }, seen.ToArray());
            Assert.False(held.LostToken.IsCancellationRequested);
            Assert.NotEqual(server.ConnectString, client.ConnectedServer);
            await held.ReleaseAsync();
            Assert.Equal(LockState.Released, held.State);
        }
        finally
        {
            await ensemble.HealAsync();
        }
    }
}
