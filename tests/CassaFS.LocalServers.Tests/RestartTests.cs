using System.Net.Sockets;
using System.Text;
using CassaFS.Testing;

namespace CassaFS.LocalServers.Tests;

/// <summary>A standalone ZooKeeper server of this class's own, which its tests stop, kill and restart.</summary>
public sealed class RestartableServer() : OwnZooKeeperServer("zk-restart");

public sealed class RestartTests(RestartableServer fixture) : IClassFixture<RestartableServer>
{
    [Fact]
    public async Task A_server_restarted_after_a_stop_or_a_kill_serves_from_its_new_process_each_time()
    {
        var server = fixture.Server;
        await server.StartAsync(TimeSpan.FromSeconds(60));
        for (var round = 0; round < 3; round++)
        {
            var before = server.Pid;
            if (round % 2 == 0) await server.StopAsync();
            else server.Kill();
            // Stopped means gone: nothing answers, and the port is free for the next process at once.
            Assert.False(server.IsRunning);
            Assert.Null(await server.ModeAsync());

            await server.StartAsync(TimeSpan.FromSeconds(60));
            Assert.True(server.IsRunning);
            Assert.NotEqual(before, server.Pid);
            Assert.Equal("standalone", await server.ModeAsync());
        }
    }

    [Fact]
    public async Task A_start_on_a_port_another_process_answers_is_refused_rather_than_reported_as_serving()
    {
        // A stranger that answers the readiness probe on the server's port: without the check, the start would take
        // its "Mode: standalone" for our server's, while our JVM failed to bind and exited.
        var server = fixture.Server;
        await server.StartAsync(TimeSpan.FromSeconds(60));
        server.Kill();
        using var stranger = new TcpListener(server.ClientEndpoint);
        stranger.Start();
        using var stop = new CancellationTokenSource();
        var answering = AnswerSrvrAsync(stranger, stop.Token);
        try
        {
            Assert.Equal("standalone", await server.ModeAsync()); // the stranger does answer the probe
            var e = await Assert.ThrowsAsync<LocalServersException>(() => server.StartAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(server.ConnectString, e.Message, StringComparison.Ordinal);
            Assert.False(server.IsRunning);
        }
        finally
        {
            await stop.CancelAsync();
            stranger.Stop();
            await answering;
        }
        await server.StartAsync(TimeSpan.FromSeconds(60));
        Assert.True(server.IsRunning);
    }

    [Fact]
    public async Task A_server_that_exits_during_start_up_is_reported_exited_with_its_exit_code()
    {
        var server = fixture.Server;
        await server.StartAsync(TimeSpan.FromSeconds(60));
        await server.StopAsync();
        var cfg = Path.Combine(server.StateDirectory, "zoo.cfg");
        var good = await File.ReadAllTextAsync(cfg);
        await File.WriteAllTextAsync(cfg, good.Replace("clientPort=", "clientPort=not-a-port", StringComparison.Ordinal));
        try
        {
            var e = await Assert.ThrowsAsync<LocalServersException>(() => server.StartAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("exited during start-up (exit code", e.Message, StringComparison.Ordinal);
            Assert.False(server.IsRunning);
        }
        finally
        {
            await File.WriteAllTextAsync(cfg, good);
        }
        await server.StartAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("standalone", await server.ModeAsync());
    }

    private static async Task AnswerSrvrAsync(TcpListener listener, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync(ct);
                var stream = client.GetStream();
                await stream.ReadExactlyAsync(new byte[4], ct); // "srvr"
                await stream.WriteAsync(Encoding.ASCII.GetBytes("Zookeeper version: stranger\nMode: standalone\n"), ct);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // stopped
        }
        catch (InvalidOperationException) when (ct.IsCancellationRequested)
        {
            // stopped between two accepts: the listener says it is no longer listening before it looks at the token
        }
    }
}
