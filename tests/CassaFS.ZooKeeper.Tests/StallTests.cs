using System.Diagnostics;
using System.Text;
using CassaFS.Testing;

namespace CassaFS.ZooKeeper.Tests;

/// <summary>Faults between client and the run's shared server, injected by a proxy (the server itself is untouched).</summary>
public sealed class StallTests
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task A_server_that_stops_answering_is_left_after_two_thirds_of_the_session_timeout()
    {
        var target = await Sessions.FreshChrootAsync("stall");
        var chroot = target[target.IndexOf('/', StringComparison.Ordinal)..];
        await using var proxy = new TcpProxy(await TestServers.ZooKeeperAsync());
        var states = new StateLog();
        await using var zk = await Sessions.ConnectAsync(proxy.ConnectString + chroot, TimeSpan.FromSeconds(3), states.Record);
        await zk.CreateAsync("/n", Bytes("0"));

        proxy.HoldReplies();
        var clock = Stopwatch.StartNew();
        var stalled = zk.SetDataAsync("/n", Bytes("1"));
        var loss = await Assert.ThrowsAsync<ConnectionLossException>(() => Sessions.Within(stalled, 10, "ConnectionLoss on a silent server"));
        // 2/3 of 3 s; generous above, since a loaded CI machine delays timers
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5) && clock.Elapsed < TimeSpan.FromSeconds(8), $"left the silent server after {clock.Elapsed}");
        Assert.Contains("no reply", loss.Message, StringComparison.Ordinal);
        await states.WaitAsync(ConnectionState.Suspended, 1);

        proxy.ReleaseReplies();
        await states.WaitAsync(ConnectionState.Reconnected, 5);
        Assert.Equal("1", Encoding.UTF8.GetString((await zk.GetDataAsync("/n")).Data)); // the "lost" write had been applied
    }

    [Fact]
    public async Task A_request_issued_while_suspended_waits_for_the_reconnect_and_its_wait_can_be_cancelled()
    {
        var target = await Sessions.FreshChrootAsync("stall");
        var chroot = target[target.IndexOf('/', StringComparison.Ordinal)..];
        await using var proxy = new TcpProxy(await TestServers.ZooKeeperAsync());
        var states = new StateLog();
        await using var zk = await Sessions.ConnectAsync(proxy.ConnectString + chroot, TimeSpan.FromSeconds(6), states.Record);
        await zk.CreateAsync("/n", Bytes("0"));

        proxy.Cut();
        await states.WaitAsync(ConnectionState.Suspended, 5);
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => zk.GetDataAsync("/n", ct: cancel.Token));
        var waiting = zk.SetDataAsync("/n", Bytes("after"));
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted);

        proxy.Restore();
        await states.WaitAsync(ConnectionState.Reconnected, 5);
        Assert.Equal(1, (await Sessions.Within(waiting, 5, "the queued request")).Version);
    }
}
