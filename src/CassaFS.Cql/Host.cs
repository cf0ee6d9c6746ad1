using System.Net;
using CassaFS.Cql.Protocol;
using Microsoft.Extensions.Logging;

namespace CassaFS.Cql;

/// <summary>What the session knows about one node: whether it is up, and the protocol version it speaks.</summary>
public sealed record CqlHostState(IPEndPoint Endpoint, bool IsUp, int? ProtocolVersion, int OpenConnections);

/// <summary>
/// Whether requests at <paramref name="Consistency"/> can be served: false when a node answered Unavailable
/// (<paramref name="Required"/> replicas needed, <paramref name="Alive"/> alive), true when one at that level succeeded again.
/// </summary>
public sealed record CqlAvailability(bool IsAvailable, Consistency Consistency, int Required, int Alive);

/// <summary>
/// One node and its pool of connections. A host whose connection fails is marked down and retried in the
/// background with exponential backoff; requests go to it again once a connection opens.
/// </summary>
internal sealed class Host : IAsyncDisposable
{
    private readonly Func<Host, CancellationToken, Task<Connection>> _open;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private Connection[] _pool = Array.Empty<Connection>();
    private int _roundRobin;
    private int _reconnecting;
    private volatile bool _isUp = true;

    public Host(IPEndPoint endpoint, Func<Host, CancellationToken, Task<Connection>> open, ILogger logger)
    {
        Endpoint = endpoint;
        Name = endpoint.ToString();
        _open = open;
        _logger = logger;
    }

    public IPEndPoint Endpoint { get; }
    public string Name { get; }
    public bool IsUp => _isUp;

    /// <summary>Negotiated once, then reused for every connection to this host.</summary>
    public byte? ProtocolVersion { get; set; }

    public CqlHostState State => new(Endpoint, _isUp, ProtocolVersion, Volatile.Read(ref _pool).Count(c => !c.IsClosed));

    /// <summary>The least busy open connection, opening the pool when it is empty.</summary>
    public ValueTask<Connection> AcquireAsync(int poolSize, CancellationToken ct)
    {
        var pool = Volatile.Read(ref _pool);
        if (pool.Length > 0)
        {
            var start = (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)pool.Length);
            Connection? best = null;
            for (var i = 0; i < pool.Length; i++)
            {
                var c = pool[(start + i) % pool.Length];
                if (c.IsClosed) continue;
                if (best is null || c.InFlight < best.InFlight) best = c;
            }
            if (best is not null) return ValueTask.FromResult(best);
        }
        return new ValueTask<Connection>(FillPoolAsync(poolSize, ct));
    }

    private async Task<Connection> FillPoolAsync(int poolSize, CancellationToken ct)
    {
        await _openGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var live = Volatile.Read(ref _pool).Where(c => !c.IsClosed).ToList();
            try
            {
                while (live.Count < poolSize) live.Add(await OpenAsync(ct).ConfigureAwait(false));
            }
            catch (CqlException) when (live.Count > 0)
            {
                // A partial pool still serves; the missing connections are opened on a later request.
            }
            Volatile.Write(ref _pool, live.ToArray());
            return live.MinBy(c => c.InFlight)!;
        }
        finally
        {
            _openGate.Release();
        }
    }

    private async Task<Connection> OpenAsync(CancellationToken ct)
    {
        var connection = await _open(this, ct).ConfigureAwait(false);
        connection.Closed += OnConnectionClosed;
        if (connection.IsClosed) throw new CqlConnectionException(Name, "closed right after opening", mayHaveBeenApplied: false);
        SetUp(true);
        return connection;
    }

    private void OnConnectionClosed(Connection connection, Exception? reason)
    {
        if (reason is ObjectDisposedException) return;
        MarkDown();
    }

    /// <summary>Stops routing requests here and starts reconnecting in the background.</summary>
    public void MarkDown()
    {
        SetUp(false);
        StartReconnecting();
    }

    /// <summary>Told of each change between up and down (the session's <see cref="CqlSessionOptions.HostStateChanged"/>).</summary>
    public Action<CqlHostState>? StateChanged { get; init; }

    private void SetUp(bool up)
    {
        var was = _isUp;
        _isUp = up;
        if (was == up) return;
        if (up) CqlLog.HostUp(_logger, Name);
        else CqlLog.HostDown(_logger, Name);
        try
        {
            StateChanged?.Invoke(State);
        }
#pragma warning disable CA1031 // a logging callback must not break routing
        catch (Exception e)
#pragma warning restore CA1031
        {
            CqlLog.CallbackFailed(_logger, e);
        }
    }

    public Func<TimeSpan>? BaseDelay { get; init; }
    public Func<TimeSpan>? MaxDelay { get; init; }
    public CancellationToken SessionClosing { get; init; }
    public int PoolSize { get; init; } = 1;

    private void StartReconnecting()
    {
        if (Interlocked.Exchange(ref _reconnecting, 1) != 0) return;
        _ = Task.Run(async () =>
        {
            var delay = BaseDelay?.Invoke() ?? TimeSpan.FromMilliseconds(500);
            var max = MaxDelay?.Invoke() ?? TimeSpan.FromSeconds(10);
            try
            {
                while (!SessionClosing.IsCancellationRequested)
                {
                    await Task.Delay(delay, SessionClosing).ConfigureAwait(false);
                    if (Volatile.Read(ref _pool).Any(c => !c.IsClosed) && _isUp) break;
                    try
                    {
                        await FillPoolAsync(PoolSize, SessionClosing).ConfigureAwait(false);
                        SetUp(true);
                        break;
                    }
                    catch (CqlException e)
                    {
                        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, max.Ticks));
                        CqlLog.ReconnectFailed(_logger, Name, e.Message, delay.TotalMilliseconds);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                // The session is closing.
            }
            finally
            {
                Volatile.Write(ref _reconnecting, 0);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in Interlocked.Exchange(ref _pool, Array.Empty<Connection>())) await c.DisposeAsync().ConfigureAwait(false);
        _openGate.Dispose();
    }
}
