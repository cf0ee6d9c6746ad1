using System.Diagnostics;

namespace CassaFS.Cql.Tests;

/// <summary>Restarts, kills and pauses of a node, seen through a session that knows only that node.</summary>
[Collection(OwnRingGroup.Name)]
public sealed class FailureTests(OwnRing ring)
{
    private async Task<CqlSession> ConnectToFirstAsync(TimeSpan requestTimeout)
    {
        await ring.EnsureAllRunningAsync();
        return await CqlSession.ConnectAsync(new CqlSessionOptions
        {
            ContactPoints = { ring.Nodes[0].ContactPoint }, DiscoverPeers = false, DefaultConsistency = Consistency.One,
            RequestTimeout = requestTimeout, ReconnectBaseDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        });
    }

    /// <summary>
    /// Every node holds a replica (RF 3) and the session writes at ONE, so the node the session talks to can answer
    /// alone: right after a restart it accepts CQL before gossip has marked its peers up again.
    /// </summary>
    private static async Task<string> CreateTableAsync(CqlSession session)
    {
        var keyspace = CassaFS.Testing.TestNames.Keyspace("fail");
        await session.ExecuteAsync($"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 3}}");
        await session.ExecuteAsync($"CREATE TABLE {keyspace}.blobs (id int PRIMARY KEY, data blob)");
        return keyspace;
    }

    [Fact]
    public async Task A_prepared_statement_survives_a_server_restart_by_being_prepared_again()
    {
        await using var session = await ConnectToFirstAsync(TimeSpan.FromSeconds(10));
        var keyspace = await CreateTableAsync(session);
        var insert = await session.PrepareAsync($"INSERT INTO {keyspace}.blobs (id, data) VALUES (?, ?)");
        var select = await session.PrepareAsync($"SELECT data FROM {keyspace}.blobs WHERE id = ?");
        await session.ExecuteAsync(insert.Bind(1, new byte[] { 1 }));

        await ring.Nodes[0].StopAsync();
        await OwnRing.StartAsync(ring.Nodes[0]);

        // The restarted server has forgotten both ids; the session prepares them again on its own.
        await session.ExecuteAsync(insert.Bind(2, new byte[] { 2 }).AsIdempotent());
        Assert.Equal(new byte[] { 1 }, Assert.Single(await session.ExecuteAsync(select.Bind(1).AsIdempotent())).Get<byte[]>(0));
        Assert.Equal(new byte[] { 2 }, Assert.Single(await session.ExecuteAsync(select.Bind(2))).Get<byte[]>(0));
    }

    [Fact]
    public async Task A_server_killed_mid_request_fails_every_request_clearly_within_the_timeout()
    {
        var timeout = TimeSpan.FromSeconds(8);
        await using var session = await ConnectToFirstAsync(timeout);
        var keyspace = await CreateTableAsync(session);
        var insert = await session.PrepareAsync($"INSERT INTO {keyspace}.blobs (id, data) VALUES (?, ?)");
        var blob = new byte[256 * 1024];
        using var stop = new CancellationTokenSource();
        var written = 0;
        var writers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await session.ExecuteAsync(insert.Bind((w * 100000) + i, blob));
                Interlocked.Increment(ref written);
            }
        })).ToArray();
        // Kill only once the writers are in full swing (a busy thread pool may start them late).
        await OwnRing.EventuallyAsync(() => Task.FromResult(Volatile.Read(ref written) >= 64), 30, "64 writes before the kill");
        // Paused first, so that requests are surely sent and unanswered when it dies (killed between two requests,
        // every writer could find the node gone before sending, and none would be "in flight").
        OwnRing.Signal(ring.Nodes[0], "STOP");
        await Task.Delay(300);
        var killedAt = Stopwatch.StartNew();
        ring.Nodes[0].Kill();
        var all = Task.WhenAll(writers);
        await Assert.ThrowsAnyAsync<CqlException>(() => all.WaitAsync(timeout + TimeSpan.FromSeconds(5)));
        stop.Cancel();
        Assert.True(killedAt.Elapsed < timeout + TimeSpan.FromSeconds(2), $"requests took {killedAt.Elapsed} to fail");
        var errors = writers.Select(w => w.Exception?.InnerException).ToList();
        Assert.All(errors, e => Assert.True(e is CqlConnectionException or CqlNoHostAvailableException, $"unexpected {e}"));
        Assert.Contains(errors, e => e is CqlConnectionException { MayHaveBeenApplied: true });
        Assert.Contains("may have been applied", errors.OfType<CqlConnectionException>().First().Message, StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<CqlNoHostAvailableException>(() => session.ExecuteAsync(insert.Bind(-1, blob)));
        Assert.Contains(ring.Nodes[0].ContactPoint, e.Message, StringComparison.Ordinal);
        await OwnRing.StartAsync(ring.Nodes[0]);
        await OwnRing.EventuallyAsync(async () =>
        {
            try
            {
                await session.ExecuteAsync(insert.Bind(-2, blob));
                return true;
            }
            catch (CqlNoHostAvailableException)
            {
                return false;
            }
        }, 30, "writing again after the restart");
    }

    [Fact]
    public async Task A_paused_server_gives_an_unknown_outcome_timeout_and_its_late_replies_reach_no_other_request()
    {
        await using var session = await ConnectToFirstAsync(TimeSpan.FromSeconds(1));
        session.Options.RequestTimeout = TimeSpan.FromSeconds(10);
        var keyspace = await CreateTableAsync(session);
        var insert = await session.PrepareAsync($"INSERT INTO {keyspace}.blobs (id, data) VALUES (?, ?)");
        var select = await session.PrepareAsync($"SELECT data FROM {keyspace}.blobs WHERE id = ?");
        // At ALL, so that every replica has every row: reads at ONE below may be served by any of them (at ONE
        // both ways a replica that had not applied a write yet was seen to answer with no row).
        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => session.ExecuteAsync(insert.Bind(i, BitConverter.GetBytes(i)).WithConsistency(Consistency.All))));
        session.Options.RequestTimeout = TimeSpan.FromSeconds(1);
        var node = ring.Nodes[0];
        OwnRing.Signal(node, "STOP");
        try
        {
            var clock = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<CqlClientTimeoutException>(() => session.ExecuteAsync(select.Bind(-1)));
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(3));
            Assert.Contains("may still have been applied", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            OwnRing.Signal(node, "CONT");
        }
        session.Options.RequestTimeout = TimeSpan.FromSeconds(10);
        var results = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => session.ExecuteAsync(select.Bind(i))));
        for (var i = 0; i < results.Length; i++) Assert.Equal(i, BitConverter.ToInt32(Assert.Single(results[i]).Get<byte[]>(0)));
    }
}
