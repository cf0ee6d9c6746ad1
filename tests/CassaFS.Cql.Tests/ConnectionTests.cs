using System.Diagnostics;
using System.Text;
using CassaFS.Testing;

namespace CassaFS.Cql.Tests;

/// <summary>
/// A connection's heartbeat, its cap on requests in flight and its per-request deadlines, seen through a proxy in
/// front of the shared Cassandra that can hold the server's replies or swallow single requests.
/// </summary>
[Collection(SharedClusterGroup.Name)]
public sealed class ConnectionTests(SharedCluster cluster)
{
    private const string Unanswered = "SELECT key FROM system.local WHERE key = 'never answered'";

    private static async Task<CqlSession> ConnectAsync(TcpProxy proxy, CapturedLog log, Action<CqlSessionOptions> configure)
    {
        var options = new CqlSessionOptions
        {
            ContactPoints = { proxy.ConnectString }, DiscoverPeers = false, DefaultConsistency = Consistency.One, Logger = log,
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };
        configure(options);
        return await CqlSession.ConnectAsync(options);
    }

    /// <summary>A proxy that forwards every request but <see cref="Unanswered"/>, which the server so never sees.</summary>
    private TcpProxy ProxyDroppingUnanswered()
    {
        var proxy = new TcpProxy(cluster.ContactPoint, RequestFraming.Cql);
        var marker = Encoding.UTF8.GetBytes(Unanswered);
        proxy.Forward = frame => frame.Span.IndexOf(marker) < 0;
        return proxy;
    }

    private static async Task EventuallyAsync(Func<bool> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > within) Assert.Fail($"{what} did not happen within {within.TotalSeconds:0.#} s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task The_heartbeat_closes_an_idle_connection_whose_server_stopped_answering_and_the_host_comes_back_once_it_answers()
    {
        await using var proxy = new TcpProxy(cluster.ContactPoint);
        var log = new CapturedLog();
        await using var session = await ConnectAsync(proxy, log, o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
            o.RequestTimeout = TimeSpan.FromSeconds(1);
            o.ConnectTimeout = TimeSpan.FromSeconds(1);
        });
        await session.ExecuteAsync("SELECT key FROM system.local");
        // Idle and answered: the heartbeats go out and come back, and the connection stays.
        await Task.Delay(1200);
        Assert.True(Assert.Single(session.Hosts).IsUp, log.Text);
        Assert.Equal(1, session.Hosts[0].OpenConnections);

        // The server stops answering, and no request is made: only the heartbeat can notice.
        proxy.HoldReplies();
        var held = Stopwatch.StartNew();
        await EventuallyAsync(() => !session.Hosts[0].IsUp, TimeSpan.FromSeconds(5), "marking the silent host down");
        Assert.InRange(held.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.Contains(log.Lines, l => l.Contains("did not answer a heartbeat", StringComparison.Ordinal));

        proxy.ReleaseReplies();
        await EventuallyAsync(() => session.Hosts[0].IsUp, TimeSpan.FromSeconds(15), "reconnecting once the server answers");
        Assert.Single(await session.ExecuteAsync("SELECT key FROM system.local"));
    }

    [Fact]
    public async Task Requests_past_the_in_flight_cap_wait_for_a_free_stream_and_then_succeed()
    {
        await using var proxy = new TcpProxy(cluster.ContactPoint, RequestFraming.Cql);
        // The shared node's prepared-statement cache is small (a 256th of its heap) and the other suites fill it, so
        // an EXECUTE may come back UNPREPARED; the client then prepares again and sends that EXECUTE once more.
        int executes = 0, prepares = 0;
        proxy.Forward = frame =>
        {
            if (frame.Span[4] == OpcodeExecute) Interlocked.Increment(ref executes);
            if (frame.Span[4] == OpcodePrepare) Interlocked.Increment(ref prepares);
            return true;
        };
        await using var session = await ConnectAsync(proxy, new CapturedLog(), o => o.MaxRequestsPerConnection = 2);
        var query = await session.PrepareAsync("SELECT key FROM system.local");
        var before = proxy.RequestsForwarded;
        var preparesBefore = Volatile.Read(ref prepares);

        proxy.HoldReplies();
        var requests = Enumerable.Range(0, 6).Select(_ => session.ExecuteAsync(query.Bind())).ToList();
        await EventuallyAsync(() => proxy.RequestsForwarded - before >= 2, TimeSpan.FromSeconds(5), "two requests sent");
        await Task.Delay(500);
        Assert.Equal(2, proxy.RequestsForwarded - before);
        Assert.All(requests, r => Assert.False(r.IsCompleted));

        proxy.ReleaseReplies();
        foreach (var rows in await Task.WhenAll(requests)) Assert.Single(rows);
        Assert.Equal(6 + (Volatile.Read(ref prepares) - preparesBefore), Volatile.Read(ref executes));
    }

    private const byte OpcodePrepare = 0x09, OpcodeExecute = 0x0A;

    [Fact]
    public async Task A_request_the_server_never_answers_times_out_on_its_own_deadline_while_the_others_on_its_connection_go_on()
    {
        await using var proxy = ProxyDroppingUnanswered();
        var timeout = TimeSpan.FromSeconds(2);
        await using var session = await ConnectAsync(proxy, new CapturedLog(), o => o.RequestTimeout = timeout);

        var clock = Stopwatch.StartNew();
        var lost = session.ExecuteAsync(Unanswered);
        for (var i = 0; i < 20; i++) Assert.Single(await session.ExecuteAsync("SELECT key FROM system.local"));
        Assert.False(lost.IsCompleted, $"the unanswered request ended after {clock.Elapsed}: {lost.Exception}");
        var e = await Assert.ThrowsAsync<CqlClientTimeoutException>(() => lost);
        Assert.InRange(clock.Elapsed, timeout - TimeSpan.FromMilliseconds(100), timeout + TimeSpan.FromSeconds(2));
        Assert.Equal(timeout, e.Timeout);
        Assert.Equal(1, Assert.Single(session.Hosts).OpenConnections);
        Assert.Single(await session.ExecuteAsync("SELECT key FROM system.local"));
    }

    [Fact]
    public async Task Waiting_for_a_free_stream_counts_against_the_deadline_and_a_request_that_never_got_one_was_not_sent()
    {
        await using var proxy = ProxyDroppingUnanswered();
        var timeout = TimeSpan.FromSeconds(1);
        await using var session = await ConnectAsync(proxy, new CapturedLog(), o =>
        {
            o.RequestTimeout = timeout;
            o.MaxRequestsPerConnection = 1;
        });
        var before = proxy.RequestsForwarded;

        // The unanswered request holds the only stream (past its timeout too: its late reply could still come).
        var lost = session.ExecuteAsync(Unanswered);
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<CqlNoHostAvailableException>(() => session.ExecuteAsync("SELECT key FROM system.local"));
        Assert.InRange(clock.Elapsed, timeout - TimeSpan.FromMilliseconds(100), timeout + TimeSpan.FromSeconds(2));
        var busy = Assert.IsType<CqlConnectionException>(Assert.Single(e.Errors).Value);
        Assert.False(busy.MayHaveBeenApplied);
        Assert.Contains("streams stayed busy", busy.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CqlClientTimeoutException>(() => lost);
        Assert.Equal(0, proxy.RequestsForwarded - before);
    }

    [Fact]
    public async Task Replies_of_every_size_arrive_whole_and_a_small_one_after_a_large_one_is_not_held_back()
    {
        // A large reply asks the kernel to hold its wake-up until much of it has arrived (SO_RCVLOWAT); the next,
        // small reply must wake the reader at once all the same.
        await cluster.Session.ExecuteAsync("CREATE TABLE IF NOT EXISTS sized (id int PRIMARY KEY, data blob)");
        await using var session = await CqlSession.ConnectAsync(new CqlSessionOptions
        {
            ContactPoints = { cluster.ContactPoint }, Keyspace = cluster.Keyspace, DefaultConsistency = Consistency.One,
            RequestTimeout = TimeSpan.FromSeconds(5),
        });
        var insert = await session.PrepareAsync("INSERT INTO sized (id, data) VALUES (?, ?)");
        var select = await session.PrepareAsync("SELECT data FROM sized WHERE id = ?");
        var sizes = new[] { 1, 9, 20 << 10, 70 << 10, 256 << 10, 300 << 10, 1 << 20, (3 << 20) / 2 };
        var blobs = sizes.Select((size, i) =>
        {
            var blob = new byte[size];
            new Random(i).NextBytes(blob);
            return blob;
        }).ToArray();
        for (var i = 0; i < blobs.Length; i++) await session.ExecuteAsync(insert.Bind(i, blobs[i]));

        for (var round = 0; round < 3; round++)
        {
            for (var i = blobs.Length - 1; i >= 0; i--)
            {
                foreach (var id in new[] { i, 0 })
                {
                    var clock = Stopwatch.StartNew();
                    var row = Assert.Single(await session.ExecuteAsync(select.Bind(id)));
                    Assert.Equal(blobs[id], row.Get<byte[]>(0));
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"reading {sizes[id]} bytes took {clock.Elapsed}");
                }
            }
        }
        var all = await Task.WhenAll(Enumerable.Range(0, 64).Select(k => session.ExecuteAsync(select.Bind(k % blobs.Length))));
        for (var k = 0; k < all.Length; k++) Assert.Equal(blobs[k % blobs.Length], Assert.Single(all[k]).Get<byte[]>(0));
    }
}
