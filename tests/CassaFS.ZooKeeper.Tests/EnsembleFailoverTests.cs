using System.Text;
using CassaFS.LocalServers;
using CassaFS.Testing;

namespace CassaFS.ZooKeeper.Tests;

/// <summary>A three-server ensemble this class may kill servers of.</summary>
public sealed class EnsembleFixture : IAsyncLifetime
{
    private LocalRun? _run;

    public IReadOnlyList<ZooKeeperServer> Servers { get; private set; } = Array.Empty<ZooKeeperServer>();
    public string ConnectString => string.Join(',', Servers.Select(s => s.ConnectString));

    public async Task InitializeAsync()
    {
        _run = await TestServers.OwnRunAsync("zk-ensemble");
        Servers = await _run.StartZooKeeperEnsembleAsync(3);
    }

    /// <summary>Restarts any member a test killed, so the next test finds three (every member is launched before any waits).</summary>
    public Task HealAsync() => Task.WhenAll(Servers.Select(s => s.StartAsync(TimeSpan.FromSeconds(90))));

    public async Task DisposeAsync()
    {
        if (_run is not null) await _run.DisposeAsync();
    }
}

public sealed class EnsembleFailoverTests(EnsembleFixture ensemble) : IClassFixture<EnsembleFixture>
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Killing_the_connected_server_keeps_the_session_its_ephemeral_node_and_its_watch()
    {
        await ensemble.HealAsync();
        var target = await Sessions.FreshChrootAsync("failover", ensemble.ConnectString);
        var states = new StateLog();
        await using var zk = await Sessions.ConnectAsync(target, TimeSpan.FromSeconds(10), states.Record);
        await using var other = await Sessions.ConnectAsync(target);
        var session = zk.SessionId;
        await zk.CreateAsync("/held", Bytes("mine"), CreateMode.EphemeralSequential);
        await zk.CreateAsync("/watched", Bytes("0"));
        var fired = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.GetDataAsync("/watched", e => fired.TrySetResult(e));
        await zk.AddAuthAsync("digest", "owner:pw");
        await zk.CreateAsync("/guarded", Bytes("g"), CreateMode.Persistent, Acl.CreatorAll);

        var connected = zk.ConnectedServer;
        var victim = ensemble.Servers.Single(s => s.ConnectString == connected);
        victim.Kill();

        await states.WaitAsync(ConnectionState.Suspended, 10);
        var issuedWhileSuspended = zk.GetDataAsync("/watched");
        await states.WaitAsync(ConnectionState.Reconnected, 20);
        Assert.Equal(new[] { ConnectionState.Connected, ConnectionState.Suspended, ConnectionState.Reconnected }, states.Seen.Take(3));
        Assert.Equal("0", Encoding.UTF8.GetString((await Sessions.Within(issuedWhileSuspended, 10, "a request issued while suspended")).Data));
        Assert.Equal(session, zk.SessionId);
        Assert.NotEqual(connected, zk.ConnectedServer);
        var held = Assert.Single((await zk.GetChildrenAsync("/")).Children, c => c.StartsWith("held", StringComparison.Ordinal));
        Assert.Equal(session, (await other.ExistsAsync("/" + held))!.EphemeralOwner);

        Assert.Equal("g", Encoding.UTF8.GetString((await zk.GetDataAsync("/guarded")).Data)); // credentials replayed on the new server
        await Assert.ThrowsAsync<NoAuthException>(() => other.GetDataAsync("/guarded"));

        Assert.False(fired.Task.IsCompleted);
        await other.SetDataAsync("/watched", Bytes("1"));
        var e = await Sessions.Within(fired.Task, 10, "the watch set before the failover");
        Assert.Equal(new WatchedEvent(WatchEventType.NodeDataChanged, KeeperState.SyncConnected, "/watched"), e);
    }

    [Fact]
    public async Task Killing_the_leader_the_client_is_connected_to_keeps_the_session_through_the_election()
    {
        await ensemble.HealAsync();
        var modes = await Task.WhenAll(ensemble.Servers.Select(s => s.ModeAsync()));
        var leader = ensemble.Servers[Array.IndexOf(modes, "leader")];
        var leaderFirst = string.Join(',', ensemble.Servers.OrderBy(s => s == leader ? 0 : 1).Select(s => s.ConnectString));
        var chroot = (await Sessions.FreshChrootAsync("election", ensemble.ConnectString))[ensemble.ConnectString.Length..];
        var states = new StateLog();
        await using var zk = await ZooKeeperClient.ConnectAsync(leaderFirst + chroot, new ZooKeeperClientOptions
        {
            SessionTimeout = TimeSpan.FromSeconds(15), ShuffleServers = false, StateChanged = states.Record,
        });
        Assert.Equal(leader.ConnectString, zk.ConnectedServer);
        var session = zk.SessionId;
        var (node, created) = await zk.CreateWithStatAsync("/member-", Bytes("m"), CreateMode.EphemeralSequential);
        var fired = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.GetChildrenAsync("/", e => fired.TrySetResult(e));

        leader.Kill();
        await states.WaitAsync(ConnectionState.Reconnected, 30);
        Assert.Equal(session, zk.SessionId);
        var stat = await zk.ExistsAsync(node);
        Assert.NotNull(stat);
        Assert.Equal(created.CreatedZxid, stat.CreatedZxid);
        await zk.CreateAsync("/another", Bytes("a"));
        Assert.Equal(WatchEventType.NodeChildrenChanged, (await Sessions.Within(fired.Task, 10, "child watch across the election")).Type);
    }

    [Fact]
    public async Task A_change_made_while_disconnected_fires_the_watch_after_reconnecting()
    {
        await ensemble.HealAsync();
        var target = await Sessions.FreshChrootAsync("failover", ensemble.ConnectString);
        var states = new StateLog();
        var timeline = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var zk = await Sessions.ConnectAsync(target, TimeSpan.FromSeconds(10), s => { timeline.Enqueue(s.ToString()); states.Record(s); });
        await zk.CreateAsync("/doomed", Bytes("0"));
        var fired = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.ExistsAsync("/doomed", e => { timeline.Enqueue(e.Type.ToString()); fired.TrySetResult(e); });

        var connected = zk.ConnectedServer;
        var survivors = string.Join(',', ensemble.Servers.Where(s => s.ConnectString != connected).Select(s => s.ConnectString));
        await using var other = await Sessions.ConnectAsync(survivors + target[target.IndexOf('/', StringComparison.Ordinal)..]);
        ensemble.Servers.Single(s => s.ConnectString == connected).Kill();
        await states.WaitAsync(ConnectionState.Suspended, 10);
        // Quite likely before the client is back; SetWatches must report it either way. If the killed server was the
        // leader, the survivors drop their clients while they elect a new one: a delete is idempotent, so retry it.
        await DeleteSurelyAsync(other, "/doomed");

        var e = await Sessions.Within(fired.Task, 20, "the watch on a node deleted during the failover");
        Assert.Equal(new WatchedEvent(WatchEventType.NodeDeleted, KeeperState.SyncConnected, "/doomed"), e);
        await states.WaitAsync(ConnectionState.Reconnected, 20);
        // state changes and watch events share one ordered queue: the session is back before its events arrive
        Assert.Equal(new[] { "Connected", "Suspended", "Reconnected", "NodeDeleted" }, timeline.ToArray());
    }

    [Fact]
    public async Task A_request_in_flight_when_its_server_dies_fails_with_ConnectionLoss_though_it_was_applied()
    {
        await ensemble.HealAsync();
        var chroot = (await Sessions.FreshChrootAsync("failover", ensemble.ConnectString))[ensemble.ConnectString.Length..];
        var proxies = ensemble.Servers.Select(s => new TcpProxy(s.ConnectString)).ToList();
        try
        {
            var states = new StateLog();
            await using var zk = await Sessions.ConnectAsync(string.Join(',', proxies.Select(p => p.ConnectString)) + chroot, TimeSpan.FromSeconds(10), states.Record);
            await zk.CreateAsync("/busy", Bytes("before"));
            var proxy = proxies.Single(p => p.ConnectString == zk.ConnectedServer);
            var victim = ensemble.Servers[proxies.IndexOf(proxy)];

            proxy.HoldReplies();
            var inFlight = zk.SetDataAsync("/busy", Bytes("applied"));
            await Task.Delay(500); // the server has it and answers, but the answer never arrives
            Assert.False(inFlight.IsCompleted);
            victim.Kill();
            proxy.Cut(); // what the kill does to the client's TCP connection, without the proxy in between

            var loss = await Assert.ThrowsAsync<ConnectionLossException>(() => Sessions.Within(inFlight, 10, "ConnectionLoss"));
            Assert.Equal("/busy", loss.Path);
            Assert.Contains("may or may not have been applied", loss.Message, StringComparison.Ordinal);

            await states.WaitAsync(ConnectionState.Reconnected, 20);
            Assert.Equal("applied", Encoding.UTF8.GetString((await zk.GetDataAsync("/busy")).Data));
        }
        finally
        {
            foreach (var p in proxies) await p.DisposeAsync();
        }
    }

    private static async Task DeleteSurelyAsync(ZooKeeperClient client, string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await client.DeleteAsync(path);
                return;
            }
            catch (NoNodeException) when (attempt > 0)
            {
                return; // an earlier attempt whose reply was lost had deleted it
            }
            catch (ConnectionLossException) when (attempt < 10)
            {
                await Task.Delay(200);
            }
        }
    }
}
