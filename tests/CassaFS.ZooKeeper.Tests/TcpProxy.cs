using System.Net;
using System.Net.Sockets;

namespace CassaFS.ZooKeeper.Tests;

/// <summary>
/// A loopback TCP forwarder in front of a real server, so a test can cut one client off (drop its connections and
/// refuse new ones) while the server and other clients carry on.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly List<Socket> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private volatile bool _cut;
    private volatile bool _hold;

    public TcpProxy(string target)
    {
        var colon = target.LastIndexOf(':');
        _host = target[..colon];
        _port = int.Parse(target[(colon + 1)..]);
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string ConnectString => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Drops every forwarded connection; new ones are closed as soon as they arrive.</summary>
    public void Cut()
    {
        _cut = true;
        lock (_open)
        {
            foreach (var s in _open) s.Dispose();
            _open.Clear();
        }
    }

    public void Restore() => _cut = false;

    /// <summary>Requests still reach the server, but its replies wait in the proxy: they are "in flight".</summary>
    public void HoldReplies() => _hold = true;

    public void ReleaseReplies() => _hold = false;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            if (_cut)
            {
                client.Dispose();
                continue;
            }
            var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await server.ConnectAsync(_host, _port);
            }
            catch (SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }
            lock (_open)
            {
                _open.Add(client);
                _open.Add(server);
            }
            _ = PumpAsync(client, server, replies: false);
            _ = PumpAsync(server, client, replies: true);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool replies)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0) break;
                while (replies && _hold && !_cut) await Task.Delay(10);
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
            }
        }
        catch (Exception)
        {
            // either side gone
        }
        from.Dispose();
        to.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Cut();
        return ValueTask.CompletedTask;
    }
}
