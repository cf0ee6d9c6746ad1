using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using CassaFS.Cql.Protocol;

namespace CassaFS.Cql;

/// <summary>
/// A connection to a Cassandra cluster: prepares and executes statements, pages results, and routes requests
/// round-robin over the live nodes. Thread-safe; create one per process and share it.
/// </summary>
public sealed class CqlSession : IAsyncDisposable
{
    private readonly CqlSessionOptions _options;
    private readonly CancellationTokenSource _closing = new();
    private readonly ConcurrentDictionary<string, Task<PreparedStatement>> _prepared = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PreparedStatement> _preparedById = new(StringComparer.Ordinal);
    private Host[] _hosts;
    private int _roundRobin;
    private long _lastTimestamp;

    private CqlSession(CqlSessionOptions options)
    {
        _options = options;
        _hosts = Array.Empty<Host>();
    }

    /// <summary>Connects to the first reachable contact point, discovers its peers, and returns a ready session.</summary>
    /// <exception cref="CqlNoHostAvailableException">No contact point could be reached; it names each host tried and why.</exception>
    public static async Task<CqlSession> ConnectAsync(CqlSessionOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ContactPoints.Count == 0) throw new ArgumentException("give at least one contact point (\"host:port\")", nameof(options));
        if (options.MaxProtocolVersion is < 3 or > 4) throw new ArgumentException("protocol versions 3 and 4 are supported", nameof(options));
        var endpoints = new List<IPEndPoint>();
        foreach (var contact in options.ContactPoints) endpoints.AddRange(await ResolveAsync(contact, options.DefaultPort, ct).ConfigureAwait(false));
        var session = new CqlSession(options);
        session._hosts = endpoints.Distinct().Select(session.NewHost).ToArray();
        var errors = new Dictionary<string, Exception>();
        foreach (var host in session._hosts)
        {
            try
            {
                var connection = await host.AcquireAsync(options.ConnectionsPerHost, ct).ConfigureAwait(false);
                if (options.DiscoverPeers) await session.DiscoverPeersAsync(connection, ct).ConfigureAwait(false);
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
    public IReadOnlyList<CqlHostState> Hosts => Volatile.Read(ref _hosts).Select(h => h.State).ToList();

    /// <summary>Protocol version spoken with the first host that negotiated one.</summary>
    public int ProtocolVersion => Volatile.Read(ref _hosts).Select(h => h.ProtocolVersion).FirstOrDefault(v => v is not null) ?? 0;

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
    public async Task<bool> WaitForSchemaAgreementAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + (timeout ?? _options.SchemaAgreementTimeout);
        while (true)
        {
            if ((await LiveSchemaVersionsAsync(ct).ConfigureAwait(false)).Count <= 1) return true;
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The schema versions in play: every host this session sends requests to, asked for its own (a coordinator's
    /// gossip view can lag: a node that has just rejoined shows no version there yet, though it already takes
    /// requests), and the versions one of them knows for its peers (nodes this session may not talk to still
    /// receive the replicas of its writes).
    /// </summary>
    private async Task<HashSet<Guid>> LiveSchemaVersionsAsync(CancellationToken ct)
    {
        var local = new SimpleStatement("SELECT schema_version FROM system.local WHERE key='local'").WithConsistency(Consistency.One);
        var peers = new SimpleStatement("SELECT peer, rpc_address, schema_version FROM system.peers").WithConsistency(Consistency.One);
        var hosts = Volatile.Read(ref _hosts);
        var versions = new HashSet<Guid>();
        var peersRead = false;
        foreach (var host in hosts.Where(h => h.IsUp))
        {
            try
            {
                if ((await ExecuteOnAsync(host.Name, local, ct).ConfigureAwait(false)).FirstOrDefault()?.Get<Guid?>(0) is { } version) versions.Add(version);
                if (peersRead) continue;
                foreach (var peer in await ExecuteOnAsync(host.Name, peers, ct).ConfigureAwait(false))
                {
                    if (peer.Get<Guid?>("schema_version") is not { } peerVersion) continue;
                    var address = RpcAddress(peer);
                    if (hosts.FirstOrDefault(h => h.Endpoint.Address.Equals(address)) is { IsUp: false }) continue;
                    versions.Add(peerVersion);
                }
                peersRead = true;
            }
            catch (CqlException)
            {
                // A host that is up but cannot say its version may not have the change yet: no agreement until it
                // answers (or is marked down, and gets no requests until it is back).
                if (host.IsUp) versions.Add(Guid.Empty);
            }
        }
        return versions;
    }

    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        await _closing.CancelAsync().ConfigureAwait(false);
        foreach (var h in Volatile.Read(ref _hosts)) await h.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
    }

    // ---------------------------------------------------------------- routing and retries

    private IEnumerable<Host> QueryPlan()
    {
        var hosts = Volatile.Read(ref _hosts);
        var start = (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)hosts.Length);
        for (var i = 0; i < hosts.Length; i++)
        {
            var h = hosts[(start + i) % hosts.Length];
            if (h.IsUp) yield return h;
        }
        // Hosts marked down come last: when every live one failed, one of them may be back already.
        for (var i = 0; i < hosts.Length; i++)
        {
            var h = hosts[(start + i) % hosts.Length];
            if (!h.IsUp) yield return h;
        }
    }

    private async Task<RowSet> ExecuteWithPlanAsync(Statement statement, byte[]? pagingState, int? fetchSize, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_closing.IsCancellationRequested, this);
        Dictionary<string, Exception>? errors = null;
        foreach (var host in QueryPlan())
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

    private async Task<RowSet> ExecuteOnAsync(string hostName, Statement statement, CancellationToken ct)
    {
        var host = Volatile.Read(ref _hosts).FirstOrDefault(h => h.Name == hostName);
        if (host is null) return await ExecuteAsync(statement, ct).ConfigureAwait(false);
        var connection = await host.AcquireAsync(_options.ConnectionsPerHost, ct).ConfigureAwait(false);
        return await ExecuteOnConnectionAsync(connection, statement, statement.PagingState, statement.FetchSize, ct).ConfigureAwait(false);
    }

    private async Task<RowSet> ExecuteOnConnectionAsync(Connection connection, Statement statement, byte[]? pagingState, int? fetchSize, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var request = BuildRequest(statement, pagingState, fetchSize);
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
        if (Interlocked.Exchange(ref _unavailableLevel, (int)e.Consistency) != (int)e.Consistency)
            _options.AvailabilityChanged?.Invoke(new CqlAvailability(false, e.Consistency, e.Required, e.Alive));
    }

    private void NoteServed(Statement statement)
    {
        var level = Volatile.Read(ref _unavailableLevel);
        if (level < 0) return;
        var consistency = statement.Consistency ?? _options.DefaultConsistency;
        var serial = statement.SerialConsistency ?? _options.DefaultSerialConsistency;
        if ((int)consistency != level && (int)serial != level) return;
        if (Interlocked.CompareExchange(ref _unavailableLevel, -1, level) == level)
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
        foreach (var host in QueryPlan())
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
        var request = new FrameBuilder((cql.Length * 3) + 16) { Opcode = Opcode.Prepare };
        request.WriteLongString(cql);
        var reply = await connection.SendAsync(request, _options.RequestTimeout, ct).ConfigureAwait(false);
        var prepared = Responses.ReadPrepared(reply, connection.Host, cql, _options.Keyspace);
        if (existing is not null)
        {
            existing.Id = prepared.Id;
            prepared = existing;
        }
        _preparedById[Convert.ToHexString(prepared.Id)] = prepared;
        return prepared;
    }

    // ---------------------------------------------------------------- request bodies

    private FrameBuilder BuildRequest(Statement statement, byte[]? pagingState, int? fetchSize)
    {
        switch (statement)
        {
            case SimpleStatement simple:
                {
                    var w = new FrameBuilder(simple.EstimateSize()) { Opcode = Opcode.Query };
                    w.WriteLongString(simple.Cql);
                    WriteParameters(w, statement, pagingState, fetchSize, simple);
                    return w;
                }
            case BoundStatement bound:
                {
                    var w = new FrameBuilder(bound.EstimateSize()) { Opcode = Opcode.Execute };
                    w.WriteShortBytes(bound.Prepared.Id);
                    WriteParameters(w, statement, pagingState, fetchSize, null);
                    return w;
                }
            case BatchStatement batch:
                return BuildBatch(batch);
            default:
                throw new ArgumentException($"unsupported statement type {statement.GetType().Name}");
        }
    }

    private void WriteParameters(FrameBuilder w, Statement statement, byte[]? pagingState, int? fetchSize, SimpleStatement? simple)
    {
        w.WriteShort((ushort)(statement.Consistency ?? _options.DefaultConsistency));
        byte flags = 0x04; // page size, always
        var valueCount = simple is null ? ((BoundStatement)statement).Values.Count : simple.NamedValues?.Count ?? simple.Values.Count;
        if (valueCount > 0) flags |= 0x01;
        if (simple?.NamedValues is not null) flags |= 0x40;
        if (pagingState is not null) flags |= 0x08;
        var serial = statement.SerialConsistency ?? _options.DefaultSerialConsistency;
        if (serial != Consistency.Serial) flags |= 0x10;
        var timestamp = Timestamp(statement);
        if (timestamp is not null) flags |= 0x20;
        w.WriteByte(flags);
        if (valueCount > 0)
        {
            w.WriteShort((ushort)valueCount);
            if (simple?.NamedValues is { } named)
            {
                foreach (var (name, value) in named)
                {
                    w.WriteString(name);
                    CqlCodec.WriteValue(w, value is null ? CqlType.Blob : CqlType.ForClrType(value.GetType()), value);
                }
            }
            else if (simple is not null)
            {
                WriteSimpleValues(w, simple.Values);
            }
            else
            {
                var bound = (BoundStatement)statement;
                var variables = bound.Prepared.Variables;
                for (var i = 0; i < variables.Count; i++) CqlCodec.WriteValue(w, variables[i].Type, bound.Values[i]);
            }
        }
        w.WriteInt(fetchSize ?? _options.DefaultFetchSize);
        if (pagingState is not null) w.WriteBytes(pagingState);
        if (serial != Consistency.Serial) w.WriteShort((ushort)serial);
        if (timestamp is { } ts) w.WriteLong(ts);
    }

    private static void WriteSimpleValues(FrameBuilder w, IReadOnlyList<object?> values)
    {
        foreach (var value in values) CqlCodec.WriteValue(w, value is null ? CqlType.Blob : CqlType.ForClrType(value.GetType()), value);
    }

    private FrameBuilder BuildBatch(BatchStatement batch)
    {
        var w = new FrameBuilder(batch.EstimateSize()) { Opcode = Opcode.Batch };
        w.WriteByte((byte)batch.Type);
        w.WriteShort(checked((ushort)batch.Statements.Count));
        foreach (var s in batch.Statements)
        {
            if (s is SimpleStatement simple)
            {
                w.WriteByte(0);
                w.WriteLongString(simple.Cql);
                w.WriteShort((ushort)simple.Values.Count);
                WriteSimpleValues(w, simple.Values);
            }
            else
            {
                var bound = (BoundStatement)s;
                w.WriteByte(1);
                w.WriteShortBytes(bound.Prepared.Id);
                w.WriteShort((ushort)bound.Values.Count);
                for (var i = 0; i < bound.Values.Count; i++) CqlCodec.WriteValue(w, bound.Prepared.Variables[i].Type, bound.Values[i]);
            }
        }
        w.WriteShort((ushort)(batch.Consistency ?? _options.DefaultConsistency));
        byte flags = 0;
        var serial = batch.SerialConsistency ?? _options.DefaultSerialConsistency;
        if (serial != Consistency.Serial) flags |= 0x10;
        var timestamp = Timestamp(batch);
        if (timestamp is not null) flags |= 0x20;
        w.WriteByte(flags);
        if (serial != Consistency.Serial) w.WriteShort((ushort)serial);
        if (timestamp is { } ts) w.WriteLong(ts);
        return w;
    }

    private long? Timestamp(Statement statement)
    {
        if (statement.Timestamp is { } given) return given;
        if (!_options.ClientTimestamps) return null;
        // Strictly increasing, so two writes from this session in a row never tie (a tie lets the older one win).
        var now = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        while (true)
        {
            var last = Volatile.Read(ref _lastTimestamp);
            var next = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref _lastTimestamp, next, last) == last) return next;
        }
    }

    // ---------------------------------------------------------------- connections

    private Host NewHost(IPEndPoint endpoint)
    {
        var host = new Host(endpoint, OpenConnectionAsync);
        Configure(host);
        return host;
    }

    private void Configure(Host host)
    {
        host.BaseDelay = () => _options.ReconnectBaseDelay;
        host.MaxDelay = () => _options.ReconnectMaxDelay;
        host.SessionClosing = _closing.Token;
        host.PoolSize = _options.ConnectionsPerHost;
        host.StateChanged = _options.HostStateChanged;
    }

    /// <summary>Opens and starts one connection, trying v4 then v3 the first time a host is seen.</summary>
    private async Task<Connection> OpenConnectionAsync(Host host, CancellationToken ct)
    {
        var versions = host.ProtocolVersion is { } known ? new[] { known } : _options.MaxProtocolVersion == 4 ? new byte[] { 4, 3 } : new byte[] { 3 };
        for (var i = 0; ; i++)
        {
            var connection = await Connection.OpenAsync(host.Endpoint, versions[i], _options.ConnectTimeout, _options.Tls, ct).ConfigureAwait(false);
            try
            {
                await StartupAsync(connection, ct).ConfigureAwait(false);
                host.ProtocolVersion = versions[i];
                return connection;
            }
            catch (CqlException e) when (i + 1 < versions.Length && e is CqlProtocolException or CqlConnectionException)
            {
                // The server refused this version (Cassandra 2.1 answers v4 with a protocol error): try the next lower one.
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    private async Task StartupAsync(Connection connection, CancellationToken ct)
    {
        // OPTIONS first: a server that refuses this protocol version says so here, and SUPPORTED names the CQL version.
        var supported = await connection.SendAsync(new FrameBuilder(0) { Opcode = Opcode.Options }, _options.ConnectTimeout, ct).ConfigureAwait(false);
        if (supported.Opcode == Opcode.Error) throw Responses.ReadError(supported, connection.Host);
        if (supported.Opcode != Opcode.Supported) throw new CqlProtocolException($"unexpected answer 0x{supported.Opcode:x2} to OPTIONS", connection.Host);
        var options = new FrameReader(supported.Body, 0, supported.Length).ReadStringMultimap();
        var cqlVersion = options.TryGetValue("CQL_VERSION", out var versions) && versions.Count > 0 ? versions.Max(StringComparer.Ordinal)! : "3.0.0";
        var startup = new FrameBuilder(64) { Opcode = Opcode.Startup };
        startup.WriteStringMap(new Dictionary<string, string> { ["CQL_VERSION"] = cqlVersion });
        var reply = await connection.SendAsync(startup, _options.ConnectTimeout, ct).ConfigureAwait(false);
        if (reply.Opcode == Opcode.Authenticate)
        {
            var reader = new FrameReader(reply.Body, 0, reply.Length);
            var authenticator = reader.ReadString();
            var credentials = _options.Credentials
                ?? throw new CqlAuthenticationException($"the server requires authentication ({authenticator}); set CqlSessionOptions.Credentials", connection.Host);
            var token = new FrameBuilder(64) { Opcode = Opcode.AuthResponse };
            var user = System.Text.Encoding.UTF8.GetBytes(credentials.UserName);
            var password = System.Text.Encoding.UTF8.GetBytes(credentials.Password);
            var plain = new byte[user.Length + password.Length + 2];
            user.CopyTo(plain.AsSpan(1));
            password.CopyTo(plain.AsSpan(user.Length + 2));
            token.WriteBytes(plain);
            Array.Clear(plain);
            reply = await connection.SendAsync(token, _options.ConnectTimeout, ct).ConfigureAwait(false);
            if (reply.Opcode == Opcode.Error) throw Responses.ReadError(reply, connection.Host);
            if (reply.Opcode != Opcode.AuthSuccess)
                throw new CqlAuthenticationException($"the server answered the PLAIN login with opcode 0x{reply.Opcode:x2}; only PasswordAuthenticator-style logins are supported", connection.Host);
        }
        else if (reply.Opcode == Opcode.Error)
        {
            throw Responses.ReadError(reply, connection.Host);
        }
        else if (reply.Opcode != Opcode.Ready)
        {
            throw new CqlProtocolException($"unexpected answer 0x{reply.Opcode:x2} to STARTUP", connection.Host);
        }
        if (_options.Keyspace is { } keyspace)
        {
            var use = new FrameBuilder(64) { Opcode = Opcode.Query };
            use.WriteLongString($"USE \"{keyspace.Replace("\"", "\"\"", StringComparison.Ordinal)}\"");
            use.WriteShort((ushort)Consistency.One);
            use.WriteByte(0);
            Responses.ReadResult(await connection.SendAsync(use, _options.ConnectTimeout, ct).ConfigureAwait(false), connection.Host);
        }
    }

    private async Task DiscoverPeersAsync(Connection connection, CancellationToken ct)
    {
        var peers = await ExecuteOnConnectionAsync(connection, new SimpleStatement("SELECT peer, rpc_address FROM system.peers").WithConsistency(Consistency.One), null, null, ct).ConfigureAwait(false);
        var port = (await ResolveAsync(connection.Host, _options.DefaultPort, ct).ConfigureAwait(false))[0].Port;
        var hosts = Volatile.Read(ref _hosts).ToList();
        foreach (var peer in peers)
        {
            var endpoint = new IPEndPoint(RpcAddress(peer), port);
            if (hosts.Any(h => h.Endpoint.Equals(endpoint))) continue;
            hosts.Add(NewHost(endpoint));
        }
        Volatile.Write(ref _hosts, hosts.ToArray());
    }

    private static IPAddress RpcAddress(Row peer)
    {
        var rpc = peer.Get<IPAddress?>("rpc_address");
        return rpc is null || rpc.Equals(IPAddress.Any) || rpc.Equals(IPAddress.IPv6Any) ? peer.Get<IPAddress>("peer") : rpc;
    }

    private static async Task<IPEndPoint[]> ResolveAsync(string contact, int defaultPort, CancellationToken ct)
    {
        if (IPEndPoint.TryParse(contact, out var parsed))
        {
            if (parsed.Port == 0) parsed.Port = defaultPort;
            return new[] { parsed };
        }
        var host = contact;
        var port = defaultPort;
        var colon = contact.LastIndexOf(':');
        if (colon > 0 && int.TryParse(contact.AsSpan(colon + 1), out var p))
        {
            host = contact[..colon];
            port = p;
        }
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
            return addresses.Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6).Select(a => new IPEndPoint(a, port)).ToArray();
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"contact point '{contact}' does not resolve: {e.Message}", e);
        }
    }
}
