using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace CassaFS.Cql.Protocol;

/// <summary>A response frame: its header fields and its body (which rows keep alive).</summary>
internal readonly record struct Frame(byte Version, byte Flags, byte Opcode, byte[] Body, int Length);

/// <summary>Native protocol opcodes.</summary>
internal static class Opcode
{
    public const byte Error = 0x00, Startup = 0x01, Ready = 0x02, Authenticate = 0x03, Options = 0x05, Supported = 0x06,
        Query = 0x07, Result = 0x08, Prepare = 0x09, Execute = 0x0A, Register = 0x0B, Event = 0x0C, Batch = 0x0D,
        AuthChallenge = 0x0E, AuthResponse = 0x0F, AuthSuccess = 0x10;
}

/// <summary>How a connection bounds and watches its requests (from <see cref="CqlSessionOptions"/>).</summary>
/// <param name="MaxRequests">Requests in flight at once; further callers wait for a free stream.</param>
/// <param name="HeartbeatInterval">After this long with nothing received, an OPTIONS request checks the server is there; zero for never.</param>
/// <param name="HeartbeatTimeout">How long the heartbeat waits for its answer before the connection is closed as dead.</param>
/// <param name="Logger">Where the connection says it closed, and why.</param>
internal sealed record ConnectionSettings(int MaxRequests, TimeSpan HeartbeatInterval, Func<TimeSpan> HeartbeatTimeout, ILogger Logger)
{
    /// <summary>The most a connection allows: every stream id but 0 (never used) and one kept for the heartbeat.</summary>
    public const int MaxRequestsLimit = 32766;

    public static ConnectionSettings For(CqlSessionOptions options, ILogger logger) =>
        new(options.MaxRequestsPerConnection, options.HeartbeatInterval, () => options.RequestTimeout, logger);
}

/// <summary>
/// One TCP (or TLS) connection multiplexing requests by stream id, at most <see cref="ConnectionSettings.MaxRequests"/>
/// at once (a caller past that waits for a free stream, within its own deadline). A writer loop coalesces frames
/// into few socket writes; a reader loop hands each reply to the request waiting on its stream id. Each request has
/// its own deadline timer; one that times out keeps its stream id reserved until its late reply arrives (or the
/// connection closes), so a late reply can never be taken for the answer to a newer request. A connection on which
/// nothing has arrived for <see cref="ConnectionSettings.HeartbeatInterval"/> sends OPTIONS on a stream of its own;
/// no answer within <see cref="ConnectionSettings.HeartbeatTimeout"/> closes it, as a dead peer would.
/// </summary>
internal sealed class Connection : IAsyncDisposable
{
    private const int StageSize = 64 * 1024;

    private sealed class Pending(Connection connection, TimeSpan timeout, bool heartbeat)
    {
        public readonly TaskCompletionSource<Frame> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TimeSpan Timeout = timeout;
        public readonly bool Heartbeat = heartbeat;
        public Timer? Deadline;
        public int Abandoned;

        /// <summary>The deadline fired: fail the caller, keep the stream id until the late reply or the close.</summary>
        public void Expire()
        {
            if (Completion.Task.IsCompleted || Interlocked.Exchange(ref Abandoned, 1) != 0) return;
            if (!Heartbeat) CqlLog.RequestTimedOut(connection._logger, connection.Host, Timeout.TotalMilliseconds);
            Completion.TrySetException(new CqlClientTimeoutException(connection.Host, Timeout));
        }
    }

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly Pending?[] _pending;
    private readonly Stack<short> _freeIds = new();
    private readonly SemaphoreSlim _slots;
    private readonly Channel<(byte[] Buffer, int Length)> _outgoing =
        Channel.CreateUnbounded<(byte[], int)>(new UnboundedChannelOptions { SingleReader = false });
    private readonly byte[] _stage = new byte[StageSize];
    private int _writerActive;
    private readonly Timer? _heartbeat;
    private int _heartbeatInFlight;
    private long _lastReceived;
    private readonly CancellationTokenSource _closing = new();
    private int _closed;
    private Exception? _closeReason;

    private Connection(Socket socket, Stream stream, string host, byte version, ConnectionSettings settings)
    {
        _socket = socket;
        _stream = stream;
        _settings = settings;
        _logger = settings.Logger;
        Host = host;
        Version = version;
        // One id more than the cap, so the heartbeat always finds one even when callers hold every other.
        _pending = new Pending?[settings.MaxRequests + 2];
        for (var id = settings.MaxRequests + 1; id >= 1; id--) _freeIds.Push((short)id);
        _slots = new SemaphoreSlim(settings.MaxRequests, settings.MaxRequests);
        _lastReceived = Stopwatch.GetTimestamp();
        if (settings.HeartbeatInterval > TimeSpan.Zero)
            _heartbeat = new Timer(static c => ((Connection)c!).HeartbeatIfIdle(), this, settings.HeartbeatInterval, settings.HeartbeatInterval);
        _ = Task.Run(ReadLoopAsync);
    }

    public string Host { get; }
    public byte Version { get; }
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Requests in flight (including timed-out ones whose stream id is still reserved).</summary>
    public int InFlight => _settings.MaxRequests - _slots.CurrentCount;

    /// <summary>Raised once when the connection closes for any reason.</summary>
    public event Action<Connection, Exception?>? Closed;

    public static async Task<Connection> OpenAsync(IPEndPoint endpoint, byte version, TimeSpan connectTimeout,
        SslClientAuthenticationOptions? tls, ConnectionSettings settings, CancellationToken ct)
    {
        var host = endpoint.ToString();
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true, ReceiveBufferSize = 1 << 20, SendBufferSize = 1 << 20,
        };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(connectTimeout);
        Stream stream;
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(tls, timeout.Token).ConfigureAwait(false);
                stream = ssl;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
        {
            socket.Dispose();
            if (ct.IsCancellationRequested) throw;
            var why = e is OperationCanceledException ? $"connect timed out after {connectTimeout.TotalMilliseconds:0} ms" : e.Message;
            throw new CqlConnectionException(host, why, mayHaveBeenApplied: false, e);
        }
        return new Connection(socket, stream, host, version, settings);
    }

    /// <summary>
    /// Sends a request frame (taking ownership of its buffer) and waits for the reply, at most <paramref name="timeout"/>
    /// in all: waiting for a free stream counts, and a request that found none in that time was never sent.
    /// </summary>
    public Task<Frame> SendAsync(FrameBuilder request, TimeSpan timeout, CancellationToken ct) => SendAsync(request, timeout, heartbeat: false, ct);

    private async Task<Frame> SendAsync(FrameBuilder request, TimeSpan timeout, bool heartbeat, CancellationToken ct)
    {
        Pending pending;
        try
        {
            if (IsClosed) throw ClosedError(mayHaveBeenApplied: false);
            // A request cancelled before it starts is never sent.
            ct.ThrowIfCancellationRequested();
            var remaining = timeout;
            if (!heartbeat && !_slots.Wait(0, CancellationToken.None))
            {
                var waited = Stopwatch.GetTimestamp();
                if (!await _slots.WaitAsync(timeout, ct).ConfigureAwait(false))
                {
                    throw new CqlConnectionException(Host,
                        $"all {_settings.MaxRequests} streams stayed busy for {timeout.TotalMilliseconds:0} ms (the request was not sent)", mayHaveBeenApplied: false);
                }
                remaining = timeout - Stopwatch.GetElapsedTime(waited);
                if (remaining < TimeSpan.FromMilliseconds(1)) remaining = TimeSpan.FromMilliseconds(1);
            }
            pending = new Pending(this, timeout, heartbeat);
            short id;
            lock (_freeIds)
            {
                id = _freeIds.Pop();
                _pending[id] = pending;
            }
            pending.Deadline = new Timer(static p => ((Pending)p!).Expire(), pending, remaining, System.Threading.Timeout.InfiniteTimeSpan);
            request.SetHeader(Version, id);
            var length = request.Length;
            if (!_outgoing.Writer.TryWrite((request.Detach(), length)))
            {
                Free(id, pending);
                throw ClosedError(mayHaveBeenApplied: false);
            }
            // The first sender to find no write in progress writes itself (no thread hop); others leave their frame
            // to it, so frames queued meanwhile go out together.
            if (Interlocked.CompareExchange(ref _writerActive, 1, 0) == 0) _ = DrainAsync();
        }
        finally
        {
            request.Release();
        }
        if (IsClosed) FailAll();
        if (!ct.CanBeCanceled) return await pending.Completion.Task.ConfigureAwait(false);
        using (ct.Register(static state =>
        {
            var p = (Pending)state!;
            if (Interlocked.Exchange(ref p.Abandoned, 1) == 0) p.Completion.TrySetCanceled();
        }, pending))
        {
            return await pending.Completion.Task.ConfigureAwait(false);
        }
    }

    private void Free(short id, Pending pending)
    {
        pending.Deadline?.Dispose();
        lock (_freeIds)
        {
            _pending[id] = null;
            _freeIds.Push(id);
        }
        if (!pending.Heartbeat) _slots.Release();
    }

    /// <summary>Runs on the heartbeat timer: sends OPTIONS when nothing has arrived for a whole interval and none is out yet.</summary>
    private void HeartbeatIfIdle()
    {
        if (IsClosed || Stopwatch.GetElapsedTime(Volatile.Read(ref _lastReceived)) < _settings.HeartbeatInterval) return;
        if (Interlocked.Exchange(ref _heartbeatInFlight, 1) != 0) return;
        _ = HeartbeatAsync();
    }

    private async Task HeartbeatAsync()
    {
        var timeout = _settings.HeartbeatTimeout();
        try
        {
            // Any answer, an error included, shows the server is there.
            await SendAsync(Requests.Options(), timeout, heartbeat: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CqlClientTimeoutException)
        {
            CqlLog.HeartbeatUnanswered(_logger, Host, timeout.TotalMilliseconds);
            Close(new TimeoutException($"no answer to a heartbeat within {timeout.TotalMilliseconds:0} ms"));
        }
        catch (CqlConnectionException)
        {
            // Closed meanwhile, for a reason of its own.
        }
        finally
        {
            Volatile.Write(ref _heartbeatInFlight, 0);
        }
    }

    /// <summary>Writes queued frames until the queue is empty; only the holder of <see cref="_writerActive"/> runs it.</summary>
    private async Task DrainAsync()
    {
        var reader = _outgoing.Reader;
        try
        {
            while (true)
            {
                var staged = 0;
                while (reader.TryRead(out var frame))
                {
                    try
                    {
                        if (frame.Length > StageSize - staged && staged > 0)
                        {
                            await _stream.WriteAsync(_stage.AsMemory(0, staged)).ConfigureAwait(false);
                            staged = 0;
                        }
                        if (frame.Length >= StageSize / 2)
                        {
                            await _stream.WriteAsync(frame.Buffer.AsMemory(0, frame.Length)).ConfigureAwait(false);
                        }
                        else
                        {
                            frame.Buffer.AsSpan(0, frame.Length).CopyTo(_stage.AsSpan(staged));
                            staged += frame.Length;
                        }
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(frame.Buffer);
                    }
                }
                if (staged > 0) await _stream.WriteAsync(_stage.AsMemory(0, staged)).ConfigureAwait(false);
                Interlocked.Exchange(ref _writerActive, 0); // a full fence, so the peek below cannot run before the release
                // A frame queued after the last TryRead but before the release found the flag still set: take it.
                if (!reader.TryPeek(out _) || Interlocked.CompareExchange(ref _writerActive, 1, 0) != 0) return;
            }
        }
        catch (Exception e)
        {
            Close(e);
            while (reader.TryRead(out var frame)) ArrayPool<byte>.Shared.Return(frame.Buffer);
        }
    }

    private async Task ReadLoopAsync()
    {
        // Over TLS the stream buffers decrypted bytes of its own, so the socket cannot be told how many are still to come.
        var input = new BufferedReader(_stream, _stream is SslStream ? null : _socket);
        var header = new byte[FrameBuilder.HeaderLength];
        try
        {
            while (true)
            {
                await input.ReadExactlyAsync(header, _closing.Token).ConfigureAwait(false);
                var version = header[0];
                if ((version & 0x80) == 0 || (version & 0x7F) != Version)
                    throw new CqlProtocolException($"unexpected frame version 0x{version:x2} (this connection speaks v{Version})", Host);
                var flags = header[1];
                var stream = BinaryPrimitives.ReadInt16BigEndian(header.AsSpan(2));
                var opcode = header[4];
                var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5));
                if (length < 0 || length > 256 * 1024 * 1024)
                    throw new CqlProtocolException($"frame body length {length} out of range", Host);
                var body = length == 0 ? Array.Empty<byte>() : GC.AllocateUninitializedArray<byte>(length);
                await input.ReadExactlyAsync(body, _closing.Token).ConfigureAwait(false);
                Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
                if (stream <= 0 || stream >= _pending.Length) continue; // events (stream -1) are not subscribed to; stream 0 is never used
                Pending? p;
                lock (_freeIds) p = _pending[stream];
                if (p is null) continue;
                Free(stream, p);
                p.Completion.TrySetResult(new Frame(version, flags, opcode, body, length));
            }
        }
        catch (Exception e)
        {
            Close(e is EndOfStreamException ? new IOException("the server closed the connection") : e);
        }
    }

    private CqlConnectionException ClosedError(bool mayHaveBeenApplied)
    {
        var reason = _closeReason?.Message ?? "closed";
        return new CqlConnectionException(Host, $"connection closed ({reason})", mayHaveBeenApplied, _closeReason);
    }

    private void Close(Exception? reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _closeReason = reason;
        _outgoing.Writer.TryComplete();
        if (Interlocked.CompareExchange(ref _writerActive, 1, 0) == 0)
        {
            while (_outgoing.Reader.TryRead(out var frame)) ArrayPool<byte>.Shared.Return(frame.Buffer);
        }
        _closing.Cancel();
        _heartbeat?.Dispose();
        if (reason is not ObjectDisposedException) CqlLog.ConnectionLost(_logger, Host, reason?.Message ?? "closed");
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        _stream.Dispose();
        FailAll();
        Closed?.Invoke(this, reason);
    }

    private void FailAll()
    {
        for (var id = 1; id < _pending.Length; id++)
        {
            Pending? p;
            lock (_freeIds)
            {
                p = _pending[id];
                if (p is null) continue;
                _pending[id] = null;
            }
            p.Deadline?.Dispose();
            p.Completion.TrySetException(ClosedError(mayHaveBeenApplied: true));
        }
    }

    public ValueTask DisposeAsync()
    {
        Close(new ObjectDisposedException("the session closed this connection"));
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads the socket in large chunks so small frames do not each cost a system call.</summary>
    /// <param name="stream">The connection's stream (the socket's, or TLS over it).</param>
    /// <param name="socket">The plain TCP socket under <paramref name="stream"/>, for SO_RCVLOWAT; null over TLS.</param>
    private sealed class BufferedReader(Stream stream, Socket? socket)
    {
        // The most one read asks the kernel to gather before waking it: an eighth of the 2 MiB receive buffer that
        // the 1 MiB SO_RCVBUF gives, so the receive window stays open while it fills. Asking for a whole MiB let
        // the window close with 32 large replies streaming in, and the server then waited on this reader.
        private const int MaxLowWater = 256 * 1024;
        // Below this a reply is a segment or two: waking at once costs no more than a system call to say otherwise.
        private const int LowWaterFrom = 16 * 1024;
        private readonly byte[] _buffer = new byte[256 * 1024];
        private int _start;
        private int _end;
        private int _lowWater = 1;

        public async ValueTask ReadExactlyAsync(Memory<byte> destination, CancellationToken ct)
        {
            while (destination.Length > 0)
            {
                if (_start == _end)
                {
                    // Nothing is buffered, so every byte still missing from this frame is yet to reach the socket: the
                    // kernel can hold the wake-up until much of it has arrived. That is one wake-up (and thread-pool
                    // dispatch) per reply, or per half MiB, instead of one per 64 KiB loopback segment, and under CPU
                    // contention those wake-ups are most of the cost of a large reply.
                    SetLowWater(destination.Length >= LowWaterFrom ? Math.Min(destination.Length, MaxLowWater) : 1);
                    if (destination.Length >= _buffer.Length / 4)
                    {
                        // Large bodies go straight into their own array.
                        var direct = await stream.ReadAsync(destination, ct).ConfigureAwait(false);
                        if (direct == 0) throw new EndOfStreamException();
                        destination = destination[direct..];
                        continue;
                    }
                    _start = 0;
                    _end = await stream.ReadAsync(_buffer, ct).ConfigureAwait(false);
                    if (_end == 0) throw new EndOfStreamException();
                }
                var n = Math.Min(_end - _start, destination.Length);
                _buffer.AsMemory(_start, n).CopyTo(destination);
                _start += n;
                destination = destination[n..];
            }
        }

        /// <summary>SO_RCVLOWAT: how many bytes must be waiting before a read wakes; only where the platform has it.</summary>
        private void SetLowWater(int bytes)
        {
            if (socket is null || bytes == _lowWater) return;
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReceiveLowWater, bytes);
                _lowWater = bytes;
            }
            catch (SocketException)
            {
                socket = null;
            }
        }
    }
}
