using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace CassaFS.ZooKeeper;

/// <summary>Turns a reply body (or its error code) into the caller's result; runs on the I/O loop, so it may register watches.</summary>
internal delegate T ReplyParser<T>(ref JuteReader reader, ErrorCode error);

/// <summary>A request written to a connection and waiting for its reply.</summary>
internal abstract class PendingRequest(OpCode op, string? path)
{
    public int Xid { get; set; }
    public OpCode Op { get; } = op;
    public string? Path { get; } = path;

    public abstract void Complete(ref JuteReader reader, ErrorCode error);
    public abstract void Fail(Exception error);
}

internal sealed class PendingRequest<T>(OpCode op, string? path, ReplyParser<T> parse) : PendingRequest(op, path)
{
    private readonly TaskCompletionSource<T> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<T> Task => _reply.Task;

    public override void Complete(ref JuteReader reader, ErrorCode error)
    {
        try
        {
            _reply.TrySetResult(parse(ref reader, error));
        }
#pragma warning disable CA1031 // The parser's exception is the caller's result.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _reply.TrySetException(e);
        }
    }

    public override void Fail(Exception error) => _reply.TrySetException(error);
}

/// <summary>Credentials added with AddAuthAsync; replayed on every new connection of the session.</summary>
internal sealed record AuthEntry(string Scheme, byte[] Auth);

/// <summary>The server's answer to a ConnectRequest.</summary>
internal sealed record Handshake(int TimeoutMs, long SessionId, byte[] Password)
{
    /// <summary>A zero timeout is how a server says the session it was asked to resume has expired.</summary>
    public bool Expired => TimeoutMs <= 0;
}

/// <summary>
/// One TCP connection of a session. Requests are written in order under one lock and enter a FIFO at the moment
/// they are written; the server answers in the same order, so each reply matches the FIFO's head. When the
/// connection breaks every request still in the FIFO fails with ConnectionLoss: it may or may not have applied.
/// </summary>
#pragma warning disable CA1001 // The socket, gate and token live until Abort; nothing is left to dispose after it.
internal sealed class Connection
#pragma warning restore CA1001
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly BufferedStream _incoming;
    private readonly ZooKeeperClient _client;
    private readonly int _maxFrame;
    private readonly object _gate = new();
    private readonly Queue<PendingRequest> _pending = new();
    private readonly Queue<(AuthEntry Entry, TaskCompletionSource? Waiter)> _auth = new();
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<Exception> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _broken;
    private long _lastReceived;
    private long _lastSent;

    private Connection(Socket socket, NetworkStream stream, string server, Handshake handshake, ZooKeeperClient client, int maxFrame)
    {
        _socket = socket;
        _stream = stream;
        // Replies are read through a buffer: a frame's length and body (and often the next frames) in one receive.
        _incoming = new BufferedStream(stream, 64 * 1024);
        Server = server;
        Handshake = handshake;
        _client = client;
        _maxFrame = maxFrame;
        _lastReceived = _lastSent = Environment.TickCount64;
    }

    public string Server { get; }
    public Handshake Handshake { get; }

    /// <summary>Completes with the cause once the connection is broken or closed.</summary>
    public Task<Exception> Ended => _ended.Task;

    /// <summary>Environment.TickCount64 when the last frame arrived: the server knew the session was alive then.</summary>
    public long LastReceived => Volatile.Read(ref _lastReceived);

    /// <summary>Opens a TCP connection and performs the session handshake; returns the connection unstarted.</summary>
    public static async Task<(Connection? Connection, Handshake Handshake)> OpenAsync(
        (string Host, int Port) server, long lastZxid, int timeoutMs, long sessionId, byte[] password,
        TimeSpan limit, ZooKeeperClient client, int maxFrame, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        NetworkStream? stream = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(limit);
        try
        {
            await socket.ConnectAsync(server.Host, server.Port, timeout.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            using (var w = new JuteWriter())
            {
                w.WriteInt(0); // protocol version
                w.WriteLong(lastZxid);
                w.WriteInt(timeoutMs);
                w.WriteLong(sessionId);
                w.WriteBuffer(password);
                w.WriteBool(false); // read-only sessions are not asked for
                await stream.WriteAsync(w.Frame(), timeout.Token).ConfigureAwait(false);
            }
            var lengthBytes = new byte[4];
            await stream.ReadExactlyAsync(lengthBytes, timeout.Token).ConfigureAwait(false);
            var length = BinaryPrimitives.ReadInt32BigEndian(lengthBytes);
            if (length is < 20 or > 4096) throw new InvalidDataException($"ZooKeeper server {server.Host}:{server.Port} sent a connect response of {length} bytes; is it a ZooKeeper server?");
            var body = new byte[length];
            await stream.ReadExactlyAsync(body, timeout.Token).ConfigureAwait(false);
            var handshake = ParseHandshake(body);
            if (handshake.Expired)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                return (null, handshake);
            }
            return (new Connection(socket, stream, $"{server.Host}:{server.Port}", handshake, client, maxFrame), handshake);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Close(socket, stream);
            throw new TimeoutException($"no session handshake with {server.Host}:{server.Port} within {limit.TotalMilliseconds:F0} ms");
        }
        catch
        {
            Close(socket, stream);
            throw;
        }
    }

    private static Handshake ParseHandshake(byte[] body)
    {
        var r = new JuteReader(body);
        r.ReadInt(); // protocol version
        var timeoutMs = r.ReadInt();
        var sessionId = r.ReadLong();
        var password = r.ReadBuffer();
        return new Handshake(timeoutMs, sessionId, password);
    }

    private static void Close(Socket socket, NetworkStream? stream)
    {
        stream?.Dispose();
        socket.Dispose();
    }

    /// <summary>Starts reading replies and pinging.</summary>
    public void Start()
    {
        _ = Task.Run(ReadLoopAsync);
        _ = Task.Run(PingLoopAsync);
    }

    /// <summary>Writes a request and queues it for its reply; false when the connection broke before it was written (nothing reached the server).</summary>
    public async Task<bool> SendAsync(PendingRequest request, JuteWriter frame)
    {
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                if (_broken) return false;
                request.Xid = _client.NextXid();
                frame.PatchInt(0, request.Xid);
                _pending.Enqueue(request);
            }
            await WriteAsync(frame).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Writes an auth packet; its reply (xid -4) completes <paramref name="waiter"/>.</summary>
    public async Task<bool> SendAuthAsync(AuthEntry entry, TaskCompletionSource? waiter)
    {
        using var frame = new JuteWriter();
        frame.WriteInt(Xids.Auth);
        frame.WriteInt((int)OpCode.Auth);
        frame.WriteInt(0); // auth type
        frame.WriteString(entry.Scheme);
        frame.WriteBuffer(entry.Auth);
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                if (_broken) return false;
                _auth.Enqueue((entry, waiter));
            }
            await WriteAsync(frame).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Writes a frame that expects no tracked reply (ping, SetWatches).</summary>
    public async Task<bool> SendUntrackedAsync(JuteWriter frame)
    {
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                if (_broken) return false;
            }
            await WriteAsync(frame).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private async Task WriteAsync(JuteWriter frame)
    {
        try
        {
            // Never cancelled half-way: a partial frame would corrupt the stream. A stuck write ends when the
            // watchdog aborts the connection and disposes the socket.
            await _stream.WriteAsync(frame.Frame()).ConfigureAwait(false);
            Volatile.Write(ref _lastSent, Environment.TickCount64);
        }
#pragma warning disable CA1031 // Any write failure breaks the connection; the requests in flight learn it as ConnectionLoss.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Abort(e);
        }
    }

    /// <summary>Breaks the connection: fails every request in flight with ConnectionLoss and tells the client.</summary>
    public void Abort(Exception cause)
    {
        List<PendingRequest> inFlight;
        List<(AuthEntry, TaskCompletionSource?)> auth;
        lock (_gate)
        {
            if (_broken) return;
            _broken = true;
            inFlight = _pending.ToList();
            _pending.Clear();
            auth = _auth.ToList();
            _auth.Clear();
        }
        _stop.Cancel();
        _stream.Dispose();
        _socket.Dispose();
        // The client learns first, so that a caller retrying on ConnectionLoss already waits for the next connection.
        _client.OnConnectionBroken(this, cause);
        foreach (var p in inFlight)
        {
            var where = p.Path is null ? p.Op.ToString() : $"{p.Op} {p.Path}";
            p.Fail(new ConnectionLossException(p.Path,
                $"{where}: the connection to ZooKeeper server {Server} broke ({cause.Message}) before the reply arrived; " +
                "the operation may or may not have been applied. Read the state back (or retry if it is idempotent).", cause));
        }
        foreach (var (_, waiter) in auth)
            waiter?.TrySetException(new ConnectionLossException(null, $"AddAuth: the connection to {Server} broke before the server answered.", cause));
        _ended.TrySetResult(cause);
    }

    private async Task ReadLoopAsync()
    {
        var lengthBytes = new byte[4];
        try
        {
            while (true)
            {
                await _incoming.ReadExactlyAsync(lengthBytes, _stop.Token).ConfigureAwait(false);
                var length = BinaryPrimitives.ReadInt32BigEndian(lengthBytes);
                if (length < 16 || length > _maxFrame)
                    throw new InvalidDataException($"ZooKeeper server {Server} sent a frame of {length} bytes (limit {_maxFrame}).");
                var buffer = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    await _incoming.ReadExactlyAsync(buffer.AsMemory(0, length), _stop.Token).ConfigureAwait(false);
                    Volatile.Write(ref _lastReceived, Environment.TickCount64);
                    Dispatch(buffer.AsSpan(0, length));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (EndOfStreamException)
        {
            Abort(new IOException($"server {Server} closed the connection"));
        }
#pragma warning disable CA1031 // Whatever ends the read loop breaks the connection.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Abort(e);
        }
    }

    private void Dispatch(ReadOnlySpan<byte> frame)
    {
        var r = new JuteReader(frame);
        var xid = r.ReadInt();
        var zxid = r.ReadLong();
        var error = (ErrorCode)r.ReadInt();
        switch (xid)
        {
            case Xids.Ping:
            case Xids.SetWatches:
                return;
            case Xids.Notification:
                var type = r.ReadInt();
                var state = r.ReadInt();
                var path = r.ReadString();
                _client.OnNotification((WatchEventType)type, (KeeperState)state, path);
                return;
            case Xids.Auth:
                (AuthEntry Entry, TaskCompletionSource? Waiter) auth;
                lock (_gate)
                {
                    if (!_auth.TryDequeue(out auth)) return;
                }
                if (error == ErrorCode.Ok) auth.Waiter?.TrySetResult();
                else
                {
                    _client.ForgetAuth(auth.Entry);
                    auth.Waiter?.TrySetException(new AuthFailedException($"AddAuth {auth.Entry.Scheme}: the server rejected the credentials ({error}); they are not replayed on later connections."));
                }
                return;
        }
        PendingRequest? request;
        lock (_gate)
        {
            _pending.TryDequeue(out request);
        }
        if (request is null || request.Xid != xid)
        {
            var e = new InvalidDataException($"ZooKeeper server {Server} answered xid {xid} while xid {request?.Xid} was next; the connection is out of step.");
            request?.Fail(new ConnectionLossException(request.Path, e.Message, e));
            throw e;
        }
        if (zxid > 0) _client.ObserveZxid(zxid);
        request.Complete(ref r, error);
    }

    private async Task PingLoopAsync()
    {
        var timeoutMs = Handshake.TimeoutMs;
        var readTimeout = timeoutMs * 2 / 3;
        var pingEvery = timeoutMs / 3;
        var tick = Math.Clamp(timeoutMs / 10, 20, 1000);
        using var ping = new JuteWriter(16);
        ping.WriteInt(Xids.Ping);
        ping.WriteInt((int)OpCode.Ping);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(tick, _stop.Token).ConfigureAwait(false);
                var now = Environment.TickCount64;
                var silent = now - Volatile.Read(ref _lastReceived);
                if (silent > readTimeout)
                {
                    Abort(new TimeoutException($"no reply from {Server} for {silent} ms (limit {readTimeout} ms, 2/3 of the session timeout)"));
                    return;
                }
                if (now - Volatile.Read(ref _lastSent) >= pingEvery)
                    await SendUntrackedAsync(ping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the connection ended
        }
    }
}
