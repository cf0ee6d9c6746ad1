using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using CassaFS.Cql.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CassaFS.Cql;

/// <summary>
/// A connection to a Cassandra cluster: prepares and executes statements, pages results, and routes requests
/// round-robin over the live nodes. Thread-safe; create one per process and share it.
/// </summary>
public sealed class CqlSession : IAsyncDisposable
{
    private readonly CqlSessionOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closing = new();
    private readonly ConcurrentDictionary<string, Task<PreparedStatement>> _prepared = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PreparedStatement> _preparedById = new(StringComparer.Ordinal);
    private readonly WriteClock _clock = new();
    private readonly ConnectionSettings _connectionSettings;
    private readonly Topology _topology;

    private CqlSession(CqlSessionOptions options)
    {
        _options = options;
        _logger = options.Logger ?? NullLogger.Instance;
        _connectionSettings = ConnectionSettings.For(options, _logger);
        _topology = new Topology(options, _logger,
            (host, ct) => Handshake.OpenAsync(host, _options, _connectionSettings, ct), ExecuteOnAsync, _closing.Token);
    }

    /// <summary>Connects to the first reachable contact point, discovers its peers, and returns a ready session.</summary>
    /// <exception cref="CqlNoHostAvailableException">No contact point could be reached; it names each host tried and why.</exception>
    public static async Task<CqlSession> ConnectAsync(CqlSessionOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ContactPoints.Count == 0) throw new ArgumentException("give at least one contact point (\"host:port\")", nameof(options));
        if (options.MaxProtocolVersion is < 3 or > 4) throw new ArgumentException("protocol versions 3 and 4 are supported", nameof(options));
        if (options.MaxRequestsPerConnection is < 1 or > ConnectionSettings.MaxRequestsLimit)
            throw new ArgumentException($"MaxRequestsPerConnection must be between 1 and {ConnectionSettings.MaxRequestsLimit}", nameof(options));
        if (options.HeartbeatInterval < TimeSpan.Zero) throw new ArgumentException("HeartbeatInterval cannot be negative (zero turns it off)", nameof(options));
        var session = new CqlSession(options);
        await session._topology.AddContactPointsAsync(ct).ConfigureAwait(false);
        var errors = new Dictionary<string, Exception>();
        foreach (var host in session._topology.Hosts)
        {
            try
            {
                await host.AcquireAsync(options.ConnectionsPerHost, ct).ConfigureAwait(false);
                if (options.DiscoverPeers) await session._topology.DiscoverPeersAsync(host, ct).ConfigureAwait(false);
                return session;
            }
            catch (CqlException e) when (e is CqlConnectionException or CqlClientTimeoutException or CqlProtocolException)
            {
                errors[host.Name] = e;
                host.MarkDown();
            }
            catch (CqlException)
            {
                await session.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        await session.DisposeAsync().ConfigureAwait(false);
        throw new CqlNoHostAvailableException(errors);
    }

    /// <summary>The nodes this session knows, with their state.</summary>
    public IReadOnlyList<CqlHostState> Hosts => _topology.Hosts.Select(h => h.State).ToList();

    /// <summary>Protocol version spoken with the first host that negotiated one.</summary>
    public int ProtocolVersion => _topology.Hosts.Select(h => h.ProtocolVersion).FirstOrDefault(v => v is not null) ?? 0;

    public CqlSessionOptions Options => _options;

    // ---------------------------------------------------------------- public API

    /// <summary>Prepares a statement once per session (cached by text) and returns it ready to bind.</summary>
    public async Task<PreparedStatement> PrepareAsync(string cql, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(cql);
        var task = _prepared.GetOrAdd(cql, text => PrepareAnywhereAsync(text, _closing.Token));
        try
        {
            return await task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch when (task.IsFaulted || task.IsCanceled)
        {
            // A failed preparation is not cached: the next call tries again.
            _prepared.TryRemove(new KeyValuePair<string, Task<PreparedStatement>>(cql, task));
            throw;
        }
    }

    /// <summary>Executes a statement and returns its result (one page of rows at most).</summary>
    public Task<RowSet> ExecuteAsync(Statement statement, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(statement);
        return ExecuteWithPlanAsync(statement, statement.PagingState, statement.FetchSize, ct);
    }

    /// <summary>Executes a CQL string with positional values.</summary>
    public Task<RowSet> ExecuteAsync(string cql, params object?[] values) => ExecuteAsync(new SimpleStatement(cql, values));

    /// <summary>Every row of a query, fetched page by page (<paramref name="fetchSize"/> rows at a time) as the caller reads.</summary>
    public async IAsyncEnumerable<Row> QueryAsync(Statement statement, int? fetchSize = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(statement);
        if (fetchSize is < 1) throw new ArgumentOutOfRangeException(nameof(fetchSize), "a page holds at least one row");
        fetchSize ??= statement.FetchSize;
        var pagingState = statement.PagingState;
        do
        {
            var page = await ExecuteWithPlanAsync(statement, pagingState, fetchSize, ct).ConfigureAwait(false);
            for (var i = 0; i < page.Count; i++) yield return page[i];
            pagingState = page.PagingState;
        }
        while (pagingState is not null);
    }

    /// <summary>Executes a conditional statement (IF ...) and says whether it applied, with the current row when not.</summary>
    public async Task<LwtResult> ExecuteConditionalAsync(Statement statement, CancellationToken ct = default)
    {
        var rows = await ExecuteAsync(statement, ct).ConfigureAwait(false);
        if (rows.Kind != ResultKind.Rows || rows.Count == 0 || !rows.Columns.Contains("[applied]"))
            throw new InvalidOperationException("the statement is not a lightweight transaction: its result has no [applied] column; add an IF clause");
        var row = rows[0];
        var applied = row.Get<bool>("[applied]");
        return new LwtResult(applied, applied || row.Columns.Count == 1 ? null : row);
    }

    /// <summary>
    /// Waits until every node this session sees up reports the same schema version (after CREATE/ALTER/DROP).
    /// Returns false if they still disagree after <paramref name="timeout"/>.
    /// </summary>
    public Task<bool> WaitForSchemaAgreementAsync(TimeSpan? timeout = null, CancellationToken ct = default) =>
        _topology.WaitForSchemaAgreementAsync(timeout ?? _options.SchemaAgreementTimeout, ct);

    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        await _closing.CancelAsync().ConfigureAwait(false);
        await _topology.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
    }

    // ---------------------------------------------------------------- routing and retries

    private async Task<RowSet> ExecuteWithPlanAsync(Statement statement, byte[]? pagingState, int? fetchSize, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_closing.IsCancellationRequested, this);
        Dictionary<string, Exception>? errors = null;
        foreach (var host in _topology.QueryPlan())
        {
            Connection connection;
            try
            {
                connection = await host.AcquireAsync(_options.ConnectionsPerHost, ct).ConfigureAwait(false);
            }
            catch (CqlException e) when (e is CqlConnectionException or CqlProtocolException or CqlClientTimeoutException)
            {
                (errors ??= new())[host.Name] = e;
                host.MarkDown();
                continue;
            }
            try
            {
                return await ExecuteOnConnectionAsync(connection, statement, pagingState, fetchSize, ct).ConfigureAwait(false);
            }
            catch (CqlException e) when (CanTryNextHost(e, statement))
            {
                (errors ??= new())[host.Name] = e;
            }
        }
        throw new CqlNoHostAvailableException(errors ?? new Dictionary<string, Exception>());
    }

    /// <summary>Only errors that prove the request was not applied, or idempotent statements, move on to another host.</summary>
    private static bool CanTryNextHost(CqlException e, Statement statement) => e switch
    {
        CqlConnectionException c => !c.MayHaveBeenApplied || statement.IsIdempotent,
        CqlClientTimeoutException => statement.IsIdempotent,
        CqlOverloadedException or CqlBootstrappingException => true,
        _ => false,
    };

    /// <summary>Runs a statement on one given host (the system tables the topology reads differ from node to node).</summary>
    private async Task<RowSet> ExecuteOnAsync(Host host, Statement statement, CancellationToken ct)
    {
        var connection = await host.AcquireAsync(_options.ConnectionsPerHost, ct).ConfigureAwait(false);
        return await ExecuteOnConnectionAsync(connection, statement, statement.PagingState, statement.FetchSize, ct).ConfigureAwait(false);
    }

    private async Task<RowSet> ExecuteOnConnectionAsync(Connection connection, Statement statement, byte[]? pagingState, int? fetchSize, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var request = Requests.Statement(statement, pagingState, fetchSize, _options, _clock);
            Frame reply;
            try
            {
                reply = await connection.SendAsync(request, _options.RequestTimeout, ct).ConfigureAwait(false);
                RowSet result;
                try
                {
                    result = Responses.ReadResult(reply, connection.Host);
                }
                catch (CqlUnavailableException e)
                {
                    NoteUnavailable(e);
                    throw;
                }
                NoteServed(statement);
                if (result.SchemaChange is not null && _options.WaitForSchemaAgreementAfterDdl)
                    await WaitForSchemaAgreementAsync(null, ct).ConfigureAwait(false);
                return result;
            }
            catch (CqlUnpreparedException e) when (attempt == 0)
            {
                // The host forgot the statement (it restarted, or never saw it): prepare it there and try again.
                var prepared = FindPrepared(statement, e.StatementId)
                    ?? throw new CqlProtocolException($"the server does not know prepared statement {Convert.ToHexString(e.StatementId)} and this session never prepared it", connection.Host);
                await PrepareOnAsync(connection, prepared.Cql, prepared, ct).ConfigureAwait(false);
            }
        }
    }

    // The level the cluster last answered Unavailable for, or -1 while every level asked for was served.
    private int _unavailableLevel = -1;

    private void NoteUnavailable(CqlUnavailableException e)
    {
        if (Interlocked.Exchange(ref _unavailableLevel, (int)e.Consistency) == (int)e.Consistency) return;
        CqlLog.Unavailable(_logger, e.Consistency, e.Required, e.Alive);
        _options.AvailabilityChanged?.Invoke(new CqlAvailability(false, e.Consistency, e.Required, e.Alive));
    }

    private void NoteServed(Statement statement)
    {
        var level = Volatile.Read(ref _unavailableLevel);
        if (level < 0) return;
        var consistency = statement.Consistency ?? _options.DefaultConsistency;
        var serial = statement.SerialConsistency ?? _options.DefaultSerialConsistency;
        if ((int)consistency != level && (int)serial != level) return;
        if (Interlocked.CompareExchange(ref _unavailableLevel, -1, level) != level) return;
        CqlLog.AvailableAgain(_logger, (Consistency)level);
        _options.AvailabilityChanged?.Invoke(new CqlAvailability(true, (Consistency)level, 0, 0));
    }

    private PreparedStatement? FindPrepared(Statement statement, byte[] id)
    {
        if (statement is BoundStatement b && b.Prepared.Id.AsSpan().SequenceEqual(id)) return b.Prepared;
        if (statement is BatchStatement batch)
        {
            foreach (var s in batch.Statements)
                if (s is BoundStatement bs && bs.Prepared.Id.AsSpan().SequenceEqual(id)) return bs.Prepared;
        }
        return _preparedById.GetValueOrDefault(Convert.ToHexString(id));
    }

    private async Task<PreparedStatement> PrepareAnywhereAsync(string cql, CancellationToken ct)
    {
        Dictionary<string, Exception>? errors = null;
        foreach (var host in _topology.QueryPlan())
        {
            try
            {
                var connection = await host.AcquireAsync(_options.ConnectionsPerHost, ct).ConfigureAwait(false);
                return await PrepareOnAsync(connection, cql, null, ct).ConfigureAwait(false);
            }
            catch (CqlException e) when (e is CqlConnectionException or CqlClientTimeoutException or CqlOverloadedException or CqlBootstrappingException)
            {
                (errors ??= new())[host.Name] = e;
                if (e is CqlConnectionException) host.MarkDown();
            }
        }
        throw new CqlNoHostAvailableException(errors ?? new Dictionary<string, Exception>());
    }

    private async Task<PreparedStatement> PrepareOnAsync(Connection connection, string cql, PreparedStatement? existing, CancellationToken ct)
    {
        var reply = await connection.SendAsync(Requests.Prepare(cql), _options.RequestTimeout, ct).ConfigureAwait(false);
        var prepared = Responses.ReadPrepared(reply, connection.Host, cql, _options.Keyspace);
        if (existing is not null)
        {
            existing.Id = prepared.Id;
            prepared = existing;
        }
        _preparedById[Convert.ToHexString(prepared.Id)] = prepared;
        return prepared;
    }
}
