using System.Text;
using CassaFS.Testing;

namespace CassaFS.ZooKeeper.Tests;

/// <summary>A standalone server with a 500 ms tick (sessions from 1 s) that this class may stop.</summary>
public sealed class ShortTickServerFixture() : OwnZooKeeperServer("zk-expiry")
{
    /// <summary>Restarts the server if a test stopped it (a no-op while it serves).</summary>
    public Task EnsureRunningAsync() => Server.StartAsync(TimeSpan.FromSeconds(90));
}

public sealed class SessionExpiryTests(ShortTickServerFixture fixture) : IClassFixture<ShortTickServerFixture>
{
    [Fact]
    public async Task Pings_keep_an_idle_session_alive_well_past_its_timeout()
    {
        await fixture.EnsureRunningAsync();
        var states = new StateLog();
        await using var zk = await Sessions.ConnectAsync(fixture.Server.ConnectString, TimeSpan.FromSeconds(2), states.Record);
        Assert.Equal(TimeSpan.FromSeconds(2), zk.SessionTimeout);
        var path = await zk.CreateAsync($"/idle-{Guid.NewGuid():N}", ReadOnlyMemory<byte>.Empty, CreateMode.Ephemeral);
        await Task.Delay(TimeSpan.FromSeconds(5)); // two and a half session timeouts without a request
        Assert.Equal(zk.SessionId, (await zk.ExistsAsync(path))!.EphemeralOwner);
        // Without pings the client's read timeout (2/3 of the session) would cut the connection about every 1.3 s:
        // three or more suspensions in 5 s. One blip (a machine running the whole suite stalled us or the server past
        // 1.3 s once) still resumes the same session and is allowed.
        Assert.True(states.Seen.SequenceEqual(new[] { ConnectionState.Connected }) ||
                    states.Seen.SequenceEqual(new[] { ConnectionState.Connected, ConnectionState.Suspended, ConnectionState.Reconnected }),
            $"states: {string.Join(", ", states.Seen)}");
    }

    [Fact]
    public async Task A_server_down_longer_than_the_session_timeout_ends_in_Lost_and_SessionExpired()
    {
        await fixture.EnsureRunningAsync();
        var states = new StateLog();
        var zk = await Sessions.ConnectAsync(fixture.Server.ConnectString, TimeSpan.FromSeconds(2), states.Record);
        try
        {
            Assert.Equal(TimeSpan.FromSeconds(2), zk.SessionTimeout);
            var path = await zk.CreateAsync($"/expiry-{Guid.NewGuid():N}", Encoding.UTF8.GetBytes("x"), CreateMode.Ephemeral);
            var watch = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            await zk.GetDataAsync(path, e => watch.TrySetResult(e));

            await fixture.Server.StopAsync();
            await states.WaitAsync(ConnectionState.Suspended, 5);
            var waiting = zk.ExistsAsync(path); // issued while suspended: waits for the session's fate
            await states.WaitAsync(ConnectionState.Lost, 10);
            await fixture.EnsureRunningAsync();

            await Assert.ThrowsAsync<SessionExpiredException>(() => waiting);
            var e = await Assert.ThrowsAsync<SessionExpiredException>(() => zk.ExistsAsync(path));
            Assert.Equal(zk.SessionId, e.SessionId);
            Assert.Contains("new client", e.Message, StringComparison.Ordinal);
            Assert.Equal(new WatchedEvent(WatchEventType.None, KeeperState.Expired, null), await Sessions.Within(watch.Task, 5, "expiry watch"));
            Assert.Equal(ConnectionState.Lost, zk.State);
            Assert.Equal(new[] { ConnectionState.Connected, ConnectionState.Suspended, ConnectionState.Lost }, states.Seen);
        }
        finally
        {
            await zk.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_session_the_server_ended_while_the_client_was_cut_off_is_reported_Lost_on_reconnect()
    {
        await fixture.EnsureRunningAsync();
        await using var proxy = new TcpProxy(fixture.Server.ConnectString);
        var states = new StateLog();
        await using var zk = await Sessions.ConnectAsync(proxy.ConnectString, TimeSpan.FromSeconds(10), states.Record);
        var path = await zk.CreateAsync($"/killed-{Guid.NewGuid():N}", ReadOnlyMemory<byte>.Empty, CreateMode.Ephemeral);

        proxy.Cut();
        await states.WaitAsync(ConnectionState.Suspended, 5);
        // Another client resumes the session by id and password, sees its node, and closes it: the server ends the session.
        var thief = await ZooKeeperClient.ConnectAsync(fixture.Server.ConnectString, new ZooKeeperClientOptions
        {
            SessionId = zk.SessionId, SessionPassword = zk.SessionPassword, SessionTimeout = TimeSpan.FromSeconds(10),
        });
        Assert.Equal(zk.SessionId, thief.SessionId);
        Assert.Equal(zk.SessionId, (await thief.ExistsAsync(path))!.EphemeralOwner);
        await thief.DisposeAsync();
        proxy.Restore();

        await states.WaitAsync(ConnectionState.Lost, 8);
        Assert.Equal(new[] { ConnectionState.Connected, ConnectionState.Suspended, ConnectionState.Lost }, states.Seen);
        await Assert.ThrowsAsync<SessionExpiredException>(() => zk.GetDataAsync(path));
        await using var observer = await Sessions.ConnectAsync(fixture.Server.ConnectString);
        Assert.Null(await observer.ExistsAsync(path));
    }
}
