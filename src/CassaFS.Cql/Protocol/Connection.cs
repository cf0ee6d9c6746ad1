using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Threading.Channels;

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

/// <summary>
/// One TCP (or TLS) connection multiplexing up to 32767 requests by stream id. A writer loop coalesces frames into
/// few socket writes; a reader loop hands each reply to the request waiting on its stream id. A request that times
/// out keeps its stream id reserved until its late reply arrives (or the connection closes), so a late reply can
/// never be taken for the answer to a newer request.
/// </summary>
internal sealed class Connection : IAsyncDisposable
{
    private const int MaxStreams = 32768;
    private const int StageSize = 64 * 1024;

    private sealed class Pending
    {
        public readonly TaskCompletionSource<Frame> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Deadline;
        public TimeSpan Timeout;
        public int Abandoned;
    }

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly Pending?[] _pending = new Pending?[MaxStreams];
    private readonly Stack<short> _freeIds = new();
    private readonly SemaphoreSlim _idsAvailable = new(MaxStreams - 1, MaxStreams - 1);
    private readonly Channel<(byte[] Buffer, int Length)> _outgoing =
        Channel.CreateUnbounded<(byte[], int)>(new UnboundedChannelOptions { SingleReader = false });
    private readonly byte[] _stage = new byte[StageSize];
    private int _writerActive;
    private readonly Timer _timeoutScan;
    private readonly CancellationTokenSource _closing = new();
    private int _highestId;
    private int _closed;
    private Exception? _closeReason;

    private Connection(Socket socket, Stream stream, string host, byte version)
    {
        _socket = socket;
        _stream = stream;
        Host = host;
        Version = version;
        for (var id = MaxStreams - 1; id >= 1; id--) _freeIds.Push((short)id);
        _timeoutScan = new Timer(_ => ExpireTimedOut(), null, 50, 50);
        _ = Task.Run(ReadLoopAsync);
    }

    public string Host { get; }
    public byte Version { get; }
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Requests in flight (including timed-out ones whose stream id is still reserved).</summary>
    public int InFlight => MaxStreams - 1 - _idsAvailable.CurrentCount;

    /// <summary>Raised once when the connection closes for any reason.</summary>
    public event Action<Connection, Exception?>? Closed;

    public static async Task<Connection> OpenAsync(IPEndPoint endpoint, byte version, TimeSpan connectTimeout,
        SslClientAuthenticationOptions? tls, CancellationToken ct)
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
        return new Connection(socket, stream, host, version);
    }

    /// <summary>Sends a request frame (taking ownership of its buffer) and waits for the reply.</summary>
    public async Task<Frame> SendAsync(FrameBuilder request, TimeSpan timeout, CancellationToken ct)
    {
        Pending pending;
        short id;
        try
        {
            if (IsClosed) throw ClosedError(mayHaveBeenApplied: false);
            await _idsAvailable.WaitAsync(ct).ConfigureAwait(false);
            pending = new Pending { Timeout = timeout, Deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency) };
            lock (_freeIds)
            {
                id = _freeIds.Pop();
                _pending[id] = pending;
                if (id > _highestId) _highestId = id;
            }
            request.SetHeader(Version, id);
            var length = request.Length;
            if (!_outgoing.Writer.TryWrite((request.Detach(), length)))
            {
                Free(id);
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

    private void Free(short id)
    {
        lock (_freeIds)
        {
            _pending[id] = null;
            _freeIds.Push(id);
        }
        _idsAvailable.Release();
    }

    private void ExpireTimedOut()
    {
        var now = Stopwatch.GetTimestamp();
        int highest;
        lock (_freeIds) highest = _highestId;
        for (var id = 1; id <= highest; id++)
        {
            var p = Volatile.Read(ref _pending[id]);
            if (p is null || p.Deadline > now || Volatile.Read(ref p.Abandoned) != 0) continue;
            if (Interlocked.Exchange(ref p.Abandoned, 1) == 0)
                p.Completion.TrySetException(new CqlClientTimeoutException(Host, p.Timeout));
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
        var input = new BufferedReader(_stream);
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
                if (stream <= 0) continue; // events (stream -1) are not subscribed to; stream 0 is never used
                Pending? p;
                lock (_freeIds) p = _pending[stream];
                if (p is null) continue;
                Free(stream);
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
        _timeoutScan.Dispose();
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
        for (var id = 1; id < MaxStreams; id++)
        {
            Pending? p;
            lock (_freeIds)
            {
                p = _pending[id];
                if (p is null) continue;
                _pending[id] = null;
            }
            p.Completion.TrySetException(ClosedError(mayHaveBeenApplied: true));
        }
    }

    public ValueTask DisposeAsync()
    {
        Close(new ObjectDisposedException("the session closed this connection"));
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads the socket in large chunks so small frames do not each cost a system call.</summary>
    private sealed class BufferedReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[256 * 1024];
        private int _start;
        private int _end;

        public async ValueTask ReadExactlyAsync(Memory<byte> destination, CancellationToken ct)
        {
            while (destination.Length > 0)
            {
                if (_start == _end)
                {
                    if (destination.Length >= _buffer.Length)
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
    }
}
