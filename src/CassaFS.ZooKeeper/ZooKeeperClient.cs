using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

// The log arguments are a hex id and an exception message, on rare state changes, behind IsEnabled.
#pragma warning disable CA1873

namespace CassaFS.ZooKeeper;

/// <summary>A node's data and metadata.</summary>
public sealed record NodeData(byte[] Data, Stat Stat);

/// <summary>A node's children (names, not paths) and its metadata.</summary>
public sealed record NodeChildren(IReadOnlyList<string> Children, Stat Stat);

/// <summary>A node's ACL and its metadata.</summary>
public sealed record NodeAcl(IReadOnlyList<Acl> Acl, Stat Stat);

/// <summary>
/// A ZooKeeper session over the jute wire protocol: one connection at a time to one server of the connect
/// string, resumed on another server (same session) when the connection breaks, until the session expires.
/// </summary>
public sealed partial class ZooKeeperClient : IAsyncDisposable
{
    private readonly ConnectString _target;
    private readonly ZooKeeperClientOptions _options;
    private readonly (string Host, int Port)[] _servers;
    private readonly WatchRegistry _watches = new();
    private readonly EventQueue _events;
    private readonly List<AuthEntry> _auth = new();
    private readonly object _gate = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly ILogger? _log;
    private ConnectionState _state = ConnectionState.Suspended;
    private Connection? _connection;
    private TaskCompletionSource<Connection> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastZxid;
    private int _xid;
    private int _nextServer;
    private long _sessionId;
    private byte[] _password;
    private int _timeoutMs;
    private bool _closed;
    private Task? _sessionLoop;

    private ZooKeeperClient(ConnectString target, ZooKeeperClientOptions options)
    {
        _target = target;
        _options = options;
        _log = options.Logger;
        _servers = target.Servers.ToArray();
        if (options.ShuffleServers) Random.Shared.Shuffle(_servers);
        _sessionId = options.SessionId;
        _password = options.SessionPassword.ToArray();
        if (_password.Length == 0) _password = new byte[16];
        _events = new EventQueue(options.Logger);
    }

    /// <summary>Raised, in order with watch callbacks and off the I/O loop, when the connection or session state changes.</summary>
    public event EventHandler<ConnectionStateChangedEventArgs>? StateChanged;

    public ConnectionState State
    {
        get
        {
            lock (_gate) return _state;
        }
    }

    public long SessionId => Interlocked.Read(ref _sessionId);

    /// <summary>The session's password; with <see cref="SessionId"/> it lets another client resume the session.</summary>
    public ReadOnlyMemory<byte> SessionPassword
    {
        get
        {
            lock (_gate) return _password.ToArray();
        }
    }

    /// <summary>The timeout the server granted (it clamps the one asked for).</summary>
    public TimeSpan SessionTimeout => TimeSpan.FromMilliseconds(Volatile.Read(ref _timeoutMs));

    /// <summary>"host:port" of the server currently connected, or null while not connected.</summary>
    public string? ConnectedServer
    {
        get
        {
            lock (_gate) return _state is ConnectionState.Connected or ConnectionState.Reconnected ? _connection?.Server : null;
        }
    }

    /// <summary>The chroot of the connect string, or null.</summary>
    public string? Chroot => _target.Chroot;

    /// <summary>The highest transaction id this client has seen.</summary>
    public long LastZxid => Interlocked.Read(ref _lastZxid);

    /// <summary>
    /// Establishes a session with one server of <paramref name="connectString"/> (<c>host:port,host:port/chroot</c>),
    /// trying each until <see cref="ZooKeeperClientOptions.ConnectTimeout"/>; throws <see cref="ZooKeeperUnreachableException"/>
    /// naming every server tried.
    /// </summary>
    public static async Task<ZooKeeperClient> ConnectAsync(string connectString, ZooKeeperClientOptions? options = null, CancellationToken ct = default)
    {
        var client = new ZooKeeperClient(ConnectString.Parse(connectString), options ?? new ZooKeeperClientOptions());
        try
        {
            await client.EstablishAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return client;
    }

    private async Task EstablishAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var limit = _options.ConnectTimeout;
        var failures = new Dictionary<string, List<string>>();
        Exception? last = null;
        while (true)
        {
            for (var i = 0; i < _servers.Length; i++)
            {
                var remaining = limit - clock.Elapsed;
                if (remaining <= TimeSpan.Zero) throw Unreachable(failures, last, limit);
                var server = _servers[_nextServer++ % _servers.Length];
                try
                {
                    var (connection, handshake) = await Connection.OpenAsync(server, LastZxid, (int)_options.SessionTimeout.TotalMilliseconds,
                        _sessionId, _password, Min(remaining, PerServerLimit((int)_options.SessionTimeout.TotalMilliseconds)),
                        this, _options.MaxFrameBytes, ct).ConfigureAwait(false);
                    if (connection is null)
                        throw new SessionExpiredException(_sessionId, $"ZooKeeper session 0x{_sessionId:x} has expired; it cannot be resumed. Connect without SessionId to start a new one.");
                    Adopt(handshake);
                    connection.Start();
                    lock (_gate)
                    {
                        _connection = connection;
                        _state = ConnectionState.Connected;
                        _ready.TrySetResult(connection);
                    }
                    if (_log is not null && _log.IsEnabled(LogLevel.Information)) ClientLog.Established(_log, Hex(handshake.SessionId), connection.Server, handshake.TimeoutMs);
                    Announce(ConnectionState.Connected, connection.Server);
                    _sessionLoop = Task.Run(() => KeepSessionAsync(connection), CancellationToken.None);
                    return;
                }
                catch (Exception e) when (e is not SessionExpiredException && !ct.IsCancellationRequested)
                {
                    last = e;
                    var key = $"{server.Host}:{server.Port}";
                    if (!failures.TryGetValue(key, out var seen)) failures[key] = seen = new List<string>();
                    if (seen.Count < 3 && !seen.Contains(e.Message)) seen.Add(e.Message);
                }
            }
            var pause = Min(limit - clock.Elapsed, TimeSpan.FromMilliseconds(Random.Shared.Next(50, 200)));
            if (pause > TimeSpan.Zero) await Task.Delay(pause, ct).ConfigureAwait(false);
        }
    }

    private ZooKeeperUnreachableException Unreachable(Dictionary<string, List<string>> failures, Exception? last, TimeSpan limit)
    {
        var tried = _servers.Select(s => $"{s.Host}:{s.Port}").ToList();
        var details = string.Join("; ", tried.Select(t => failures.TryGetValue(t, out var why) ? $"{t}: {string.Join(" / ", why)}" : $"{t}: not tried"));
        return new ZooKeeperUnreachableException(tried,
            $"Could not establish a ZooKeeper session with any of {string.Join(", ", tried)} within {limit.TotalSeconds:F1} s ({details}). " +
            "Check that the servers run and the connect string is right.", last);
    }

    /// <summary>A server that accepts but never answers may hold only its share of the session timeout, as in ZooKeeper's own client.</summary>
    private TimeSpan PerServerLimit(int sessionTimeoutMs) => TimeSpan.FromMilliseconds(Math.Max(500, sessionTimeoutMs / _servers.Length));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private void Adopt(Handshake handshake)
    {
        lock (_gate)
        {
            _password = handshake.Password;
            Interlocked.Exchange(ref _sessionId, handshake.SessionId);
            Volatile.Write(ref _timeoutMs, handshake.TimeoutMs);
        }
    }

    /// <summary>Waits for each connection to break, then resumes the session on the next server that takes it.</summary>
    private async Task KeepSessionAsync(Connection connection)
    {
        try
        {
            while (true)
            {
                var cause = await connection.Ended.ConfigureAwait(false);
                if (_closing.IsCancellationRequested) return;
                // The connection may have broken before it became current, when Abort could not yet mark it.
                OnConnectionBroken(connection, cause);
                var next = await ResumeAsync(connection.LastReceived).ConfigureAwait(false);
                if (next is null) return;
                connection = next;
            }
        }
#pragma warning disable CA1031 // The session keeper must end in a definite state, never silently.
        catch (Exception e) when (!_closing.IsCancellationRequested)
#pragma warning restore CA1031
        {
            Lose($"the client failed while resuming the session: {e.Message}");
        }
#pragma warning disable CA1031 // Once closing, however the attempt in progress ended is of no interest.
        catch (Exception) when (_closing.IsCancellationRequested)
#pragma warning restore CA1031
        {
            // closing
        }
    }

    /// <summary>
    /// Tries the servers in turn. Gives up, declaring the session Lost, when a server says it expired or when
    /// no server was heard for a whole session timeout: by then the ensemble may have expired it, and a lock
    /// holder must not go on believing it holds its ephemeral nodes.
    /// </summary>
    private async Task<Connection?> ResumeAsync(long lastHeard)
    {
        var deadline = lastHeard + Volatile.Read(ref _timeoutMs);
        var ct = _closing.Token;
        while (true)
        {
            for (var i = 0; i < _servers.Length; i++)
            {
                var remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    Lose($"no ZooKeeper server answered within the session timeout ({Volatile.Read(ref _timeoutMs)} ms)");
                    return null;
                }
                var server = _servers[_nextServer++ % _servers.Length];
                Connection? connection;
                Handshake handshake;
                try
                {
                    (connection, handshake) = await Connection.OpenAsync(server, LastZxid, (int)_options.SessionTimeout.TotalMilliseconds,
                        SessionId, SessionPassword.ToArray(), Min(TimeSpan.FromMilliseconds(remaining), PerServerLimit(Volatile.Read(ref _timeoutMs))),
                        this, _options.MaxFrameBytes, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    if (_log is not null && _log.IsEnabled(LogLevel.Debug)) ClientLog.ServerRefused(_log, Hex(SessionId), $"{server.Host}:{server.Port}", e.Message);
                    continue;
                }
                if (connection is null)
                {
                    Lose($"server {server.Host}:{server.Port} reports the session expired");
                    return null;
                }
                Adopt(handshake);
                lock (_gate)
                {
                    if (_closed)
                    {
                        connection.Abort(new ObjectDisposedException(nameof(ZooKeeperClient)));
                        return null;
                    }
                    _connection = connection;
                    _state = ConnectionState.Reconnected;
                }
                // Announced before SetWatches goes out, so the events it triggers follow Reconnected, as with ZooKeeper's
                // own client; callers' requests wait (on _ready) until credentials and watches are restored.
                Announce(ConnectionState.Reconnected, connection.Server);
                connection.Start();
                if (!await RestoreAsync(connection).ConfigureAwait(false)) return connection; // broke already: the keeper resumes again
                lock (_gate)
                {
                    if (ReferenceEquals(_connection, connection) && _state == ConnectionState.Reconnected) _ready.TrySetResult(connection);
                }
                if (_log is not null && _log.IsEnabled(LogLevel.Information)) ClientLog.Resumed(_log, Hex(SessionId), connection.Server);
                return connection;
            }
            var pause = Math.Min(deadline - Environment.TickCount64, Random.Shared.Next(50, 200));
            if (pause > 0) await Task.Delay((int)pause, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Replays credentials, then re-registers every outstanding watch relative to the last zxid seen, so changes made while disconnected fire them.</summary>
    private async Task<bool> RestoreAsync(Connection connection)
    {
        AuthEntry[] auth;
        lock (_gate) auth = _auth.ToArray();
        foreach (var entry in auth)
            if (!await connection.SendAuthAsync(entry, null).ConfigureAwait(false)) return false;
        if (_watches.Count == 0) return true;
        var (data, exist, child) = _watches.Paths();
        const int budget = 128 * 1024; // the server rejects frames above jute.maxbuffer; stay well below
        var zxid = LastZxid;
        var lists = new[] { data.Select(_target.ToServer).ToList(), exist.Select(_target.ToServer).ToList(), child.Select(_target.ToServer).ToList() };
        var next = new int[3];
        while (next[0] < lists[0].Count || next[1] < lists[1].Count || next[2] < lists[2].Count)
        {
            var batch = new List<string>[3];
            var size = 0;
            for (var k = 0; k < 3; k++)
            {
                batch[k] = new List<string>();
                while (next[k] < lists[k].Count && (size < budget || (batch[0].Count + batch[1].Count + batch[2].Count) == 0))
                {
                    var p = lists[k][next[k]++];
                    batch[k].Add(p);
                    size += 4 + Encoding.UTF8.GetByteCount(p);
                }
            }
            using var frame = new JuteWriter();
            frame.WriteInt(Xids.SetWatches);
            frame.WriteInt((int)OpCode.SetWatches);
            frame.WriteLong(zxid);
            frame.WriteStrings(batch[0]);
            frame.WriteStrings(batch[1]);
            frame.WriteStrings(batch[2]);
            if (!await connection.SendUntrackedAsync(frame).ConfigureAwait(false)) return false;
        }
        return true;
    }

    internal void OnConnectionBroken(Connection connection, Exception cause)
    {
        lock (_gate)
        {
            if (_closed || !ReferenceEquals(_connection, connection) || _state is ConnectionState.Suspended or ConnectionState.Lost or ConnectionState.Closed) return;
            _state = ConnectionState.Suspended;
            // Callers already waiting (the connection broke while restoring) keep waiting on the same signal.
            if (_ready.Task.IsCompleted) _ready = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        if (_log is not null && _log.IsEnabled(LogLevel.Warning)) ClientLog.Suspended(_log, Hex(SessionId), connection.Server, cause.Message);
        Announce(ConnectionState.Suspended, null);
    }

    /// <summary>The session is over: every waiter, caller and watch learns it.</summary>
    private void Lose(string reason)
    {
        TaskCompletionSource<Connection> ready;
        lock (_gate)
        {
            if (_state is ConnectionState.Lost or ConnectionState.Closed) return;
            _state = ConnectionState.Lost;
            _connection = null;
            ready = _ready;
        }
        if (_log is not null && _log.IsEnabled(LogLevel.Warning)) ClientLog.Lost(_log, Hex(SessionId), reason);
        ready.TrySetException(Expired(reason));
        _ = ready.Task.Exception; // observed: waiters get their own exception
        Announce(ConnectionState.Lost, null);
        var e = new WatchedEvent(WatchEventType.None, KeeperState.Expired, null);
        foreach (var w in _watches.TakeAll()) _events.Post(() => w(e));
    }

    private SessionExpiredException Expired(string? reason = null) =>
        new(SessionId, $"ZooKeeper session 0x{SessionId:x} has expired{(reason is null ? "" : $" ({reason})")}: its ephemeral nodes " +
            "(and any locks they stood for) are gone or going, and its watches will not fire. Create a new client and start over.");

    private void Announce(ConnectionState state, string? server)
    {
        var args = new ConnectionStateChangedEventArgs(state, SessionId, server);
        _events.Post(() =>
        {
            _options.StateChanged?.Invoke(state);
            StateChanged?.Invoke(this, args);
        });
    }

    private static string Hex(long sessionId) => $"0x{sessionId:x}";

    internal int NextXid()
    {
        var xid = Interlocked.Increment(ref _xid);
        if (xid > 0) return xid;
        Interlocked.CompareExchange(ref _xid, 1, xid);
        return 1;
    }

    internal void ObserveZxid(long zxid)
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref _lastZxid);
            if (zxid <= seen) return;
        } while (Interlocked.CompareExchange(ref _lastZxid, zxid, seen) != seen);
    }

    internal void OnNotification(WatchEventType type, KeeperState state, string? serverPath)
    {
        if (type == WatchEventType.None || serverPath is null) return; // session states are derived from the connection itself
        var path = _target.ToClient(serverPath);
        var e = new WatchedEvent(type, state, path);
        foreach (var w in _watches.Take(type, path)) _events.Post(() => w(e));
    }

    internal void ForgetAuth(AuthEntry entry)
    {
        lock (_gate) _auth.Remove(entry);
    }

    private ValueTask<Connection> ConnectedAsync(CancellationToken ct)
    {
        Task<Connection> ready;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_state == ConnectionState.Lost) throw Expired();
            ready = _ready.Task;
        }
        return ready.IsCompletedSuccessfully ? new ValueTask<Connection>(ready.Result) : new ValueTask<Connection>(AwaitConnectionAsync(ready, ct));
    }

    private async Task<Connection> AwaitConnectionAsync(Task<Connection> ready, CancellationToken ct)
    {
        try
        {
            return await ready.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (SessionExpiredException)
        {
            throw Expired();
        }
    }

    /// <summary>Sends one request and waits for its reply; a request never written is sent again on the next connection.</summary>
    private async Task<T> SubmitAsync<T>(OpCode op, string? path, Action<JuteWriter> body, ReplyParser<T> parse, CancellationToken ct)
    {
        using var frame = new JuteWriter();
        frame.WriteInt(0); // xid, set when written
        frame.WriteInt((int)op);
        body(frame);
        var request = new PendingRequest<T>(op, path, parse);
        while (true)
        {
            var connection = await ConnectedAsync(ct).ConfigureAwait(false);
            if (await connection.SendAsync(request, frame).ConfigureAwait(false)) break;
            // Not written: wait until the broken connection is no longer the one handed out, then try the next.
            OnConnectionBroken(connection, await connection.Ended.ConfigureAwait(false));
        }
        return ct.CanBeCanceled ? await request.Task.WaitAsync(ct).ConfigureAwait(false) : await request.Task.ConfigureAwait(false);
    }

    /// <summary>Ends the session (its ephemeral nodes go at once) and closes the connection. Outstanding watches fire with state Closed.</summary>
    public async ValueTask DisposeAsync()
    {
        Connection? connection;
        ConnectionState previous;
        TaskCompletionSource<Connection> ready;
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            previous = _state;
            connection = _state is ConnectionState.Connected or ConnectionState.Reconnected ? _connection : null;
            _state = ConnectionState.Closed;
            ready = _ready;
        }
        ready.TrySetException(new ObjectDisposedException(nameof(ZooKeeperClient)));
        _ = ready.Task.Exception;
        if (connection is not null)
        {
            try
            {
                using var frame = new JuteWriter(16);
                frame.WriteInt(0);
                frame.WriteInt((int)OpCode.CloseSession);
                var request = new PendingRequest<bool>(OpCode.CloseSession, null, static (ref JuteReader _, ErrorCode _) => true);
                if (await connection.SendAsync(request, frame).ConfigureAwait(false))
                    await request.Task.WaitAsync(Min(SessionTimeout, TimeSpan.FromSeconds(3))).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Closing is best effort: the server expires the session anyway.
            catch (Exception e)
#pragma warning restore CA1031
            {
                if (_log is not null && _log.IsEnabled(LogLevel.Debug)) ClientLog.CloseUnconfirmed(_log, Hex(SessionId), e.Message);
            }
        }
        _closing.Cancel();
        _connection?.Abort(new ObjectDisposedException(nameof(ZooKeeperClient)));
        if (_sessionLoop is not null)
        {
            try
            {
                await _sessionLoop.ConfigureAwait(false);
            }
#pragma warning disable CA1031 // The session keeper's end is irrelevant once closed.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
        if (previous != ConnectionState.Lost && _sessionId != 0) Announce(ConnectionState.Closed, null);
        var closed = new WatchedEvent(WatchEventType.None, KeeperState.Closed, null);
        foreach (var w in _watches.TakeAll()) _events.Post(() => w(closed));
        await _events.CompleteAsync().ConfigureAwait(false);
        _closing.Dispose();
    }
}
