using CassaFS.Testing;

namespace CassaFS.Cql.Tests;

[Collection(OwnRingGroup.Name)]
public sealed class RingTests(OwnRing ring)
{
    private async Task<CqlSession> ConnectAllAsync(string? keyspace = null, Action<CqlHostState>? stateChanged = null)
    {
        CqlSession? session = null;
        // Gossip may need a moment after start-up before system.peers lists every node.
        await OwnRing.EventuallyAsync(async () =>
        {
            if (session is not null) await session.DisposeAsync();
            session = await CqlSession.ConnectAsync(new CqlSessionOptions
            {
                ContactPoints = { ring.Nodes[0].ContactPoint }, Keyspace = keyspace, RequestTimeout = TimeSpan.FromSeconds(10),
                // Three fresh nodes on a machine running the whole suite can take longer than the default 10 s to
                // agree on a new keyspace; DDL waits for agreement, and the next statement may go to any node.
                SchemaAgreementTimeout = TimeSpan.FromSeconds(60),
                HostStateChanged = stateChanged,
            });
            return session.Hosts.Count == 3;
        }, 60, "discovering three nodes");
        return session!;
    }

    [Fact]
    public async Task One_contact_point_discovers_every_peer_and_requests_spread_over_them()
    {
        await ring.EnsureAllRunningAsync();
        await using var session = await ConnectAllAsync();
        Assert.Equal(ring.Nodes.Select(n => n.ContactPoint).Order(), session.Hosts.Select(h => h.Endpoint.ToString()).Order());
        var coordinators = new HashSet<string>();
        for (var i = 0; i < 12; i++) coordinators.Add((await session.ExecuteAsync("SELECT key FROM system.local")).Host);
        Assert.Equal(3, coordinators.Count);
    }

    [Fact]
    public async Task Queries_keep_working_with_one_node_stopped_and_the_client_reconnects_when_it_returns()
    {
        await ring.EnsureAllRunningAsync();
        var keyspace = TestNames.Keyspace("ring");
        var changes = new System.Collections.Concurrent.ConcurrentQueue<CqlHostState>();
        await using var session = await ConnectAllAsync(stateChanged: changes.Enqueue);
        await session.ExecuteAsync($"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 3}}");
        await session.ExecuteAsync($"CREATE TABLE {keyspace}.kv (k int PRIMARY KEY, v int)");
        var write = await session.PrepareAsync($"INSERT INTO {keyspace}.kv (k, v) VALUES (?, ?)");
        var read = await session.PrepareAsync($"SELECT v FROM {keyspace}.kv WHERE k = ?");
        for (var k = 0; k < 30; k++) await session.ExecuteAsync(write.Bind(k, k).WithConsistency(Consistency.Quorum));

        var stopped = ring.Nodes[2];
        await stopped.StopAsync();
        await OwnRing.EventuallyAsync(() => Task.FromResult(session.Hosts.Any(h => h.Endpoint.ToString() == stopped.ContactPoint && !h.IsUp)), 20, "marking the stopped node down");
        foreach (var level in new[] { Consistency.One, Consistency.Quorum })
        {
            for (var k = 0; k < 30; k++)
            {
                await session.ExecuteAsync(write.Bind(k, k + 100).WithConsistency(level).AsIdempotent());
                var row = Assert.Single(await session.ExecuteAsync(read.Bind(k).WithConsistency(Consistency.Quorum).AsIdempotent()));
                Assert.Equal(k + 100, row.Get<int>(0));
            }
        }

        await OwnRing.StartAsync(stopped);
        await OwnRing.EventuallyAsync(() => Task.FromResult(session.Hosts.All(h => h.IsUp)), 40, "reconnecting to the restarted node");
        // The session said so each time (the mount daemon logs these): down once, then up.
        var told = changes.Where(c => c.Endpoint.ToString() == stopped.ContactPoint).Select(c => c.IsUp).ToList();
        Assert.Contains(false, told);
        Assert.True(told[^1], $"the last change told for {stopped.ContactPoint} was not 'up': {string.Join(",", told)}");
        var coordinators = new HashSet<string>();
        for (var i = 0; i < 12; i++) coordinators.Add((await session.ExecuteAsync(read.Bind(1).AsIdempotent())).Host);
        Assert.Contains(stopped.ContactPoint, coordinators);
        await session.ExecuteAsync($"DROP KEYSPACE {keyspace}");
    }
}
