using System.Net;
using System.Net.Sockets;

namespace CassaFS.Testing;

/// <summary>
/// A loopback TCP forwarder in front of a real server, so a test can cut one client off (drop its connections and
/// refuse new ones), hold the server's replies, or (given how requests are framed) count and drop single requests,
/// while the server and other clients carry on.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly RequestFraming? _framing;
    private readonly List<Socket> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private volatile bool _cut;
    private volatile bool _hold;
    private int _requests;

    /// <param name="target">"host:port" of the server.</param>
    /// <param name="framing">How the client's requests are delimited; with it the proxy forwards whole requests one by one.</param>
    public TcpProxy(string target, RequestFraming? framing = null)
    {
        var colon = target.LastIndexOf(':');
        _host = target[..colon];
        _port = int.Parse(target[(colon + 1)..]);
        _framing = framing;
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string ConnectString => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Whole requests forwarded to the server so far (counted only with a <see cref="RequestFraming"/>).</summary>
    public int RequestsForwarded => Volatile.Read(ref _requests);

    /// <summary>Decides per request (its header and body) whether it reaches the server; a dropped one is never answered.</summary>
    public Func<ReadOnlyMemory<byte>, bool>? Forward { get; set; }

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
            _ = _framing is null ? PumpAsync(client, server, replies: false) : PumpRequestsAsync(client, server, _framing);
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

    /// <summary>Forwards the client's bytes one whole request at a time, asking <see cref="Forward"/> about each.</summary>
    private async Task PumpRequestsAsync(Socket from, Socket to, RequestFraming framing)
    {
        var buffer = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                var n = await from.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                if (n == 0) break;
                filled += n;
                var start = 0;
                while (filled - start >= framing.HeaderLength)
                {
                    var length = framing.HeaderLength + framing.BodyLength(buffer.AsSpan(start, framing.HeaderLength));
                    if (filled - start < length)
                    {
                        if (length > buffer.Length) Array.Resize(ref buffer, length + filled);
                        break;
                    }
                    var request = buffer.AsMemory(start, length);
                    if (Forward?.Invoke(request) != false)
                    {
                        await to.SendAsync(request, SocketFlags.None);
                        Interlocked.Increment(ref _requests);
                    }
                    start += length;
                }
                buffer.AsSpan(start, filled - start).CopyTo(buffer);
                filled -= start;
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

/// <summary>How a protocol delimits requests: a fixed-size header that says how long the body after it is.</summary>
public sealed record RequestFraming(int HeaderLength, RequestFraming.BodyLengthReader BodyLength)
{
    public delegate int BodyLengthReader(ReadOnlySpan<byte> header);

    /// <summary>The CQL native protocol (v3 and v4): a 9-byte header ending in the body length, big-endian.</summary>
    public static RequestFraming Cql { get; } = new(9, header => System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[5..]));
}
