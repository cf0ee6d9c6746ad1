using System.Net;
using System.Net.Sockets;
using CassaFS.Cql.Protocol;
using Microsoft.Extensions.Logging;

namespace CassaFS.Cql;

/// <summary>
/// The nodes a session knows: the contact points, the peers discovered from <c>system.peers</c>, the order in which
/// a request tries them, and whether they agree on the schema.
/// </summary>
internal sealed class Topology : IAsyncDisposable
{
    private readonly CqlSessionOptions _options;
    private readonly CancellationToken _closing;
    private readonly Func<Host, CancellationToken, Task<Connection>> _open;
    private readonly Func<Host, Statement, CancellationToken, Task<RowSet>> _execute;
    private readonly ILogger _logger;
    private Host[] _hosts = Array.Empty<Host>();
    private int _roundRobin;

    /// <param name="options">The session's options (contact points, reconnection delays, pool size).</param>
    /// <param name="logger">The session's logger, handed to each host.</param>
    /// <param name="open">Opens a ready connection to a host.</param>
    /// <param name="execute">Runs a statement on one given host (the system tables differ from node to node).</param>
    /// <param name="closing">Cancelled when the session closes; stops the hosts' reconnection loops.</param>
    public Topology(CqlSessionOptions options, ILogger logger,
        Func<Host, CancellationToken, Task<Connection>> open, Func<Host, Statement, CancellationToken, Task<RowSet>> execute, CancellationToken closing)
    {
        _options = options;
        _logger = logger;
        _closing = closing;
        _open = open;
        _execute = execute;
    }

    public IReadOnlyList<Host> Hosts => Volatile.Read(ref _hosts);

    /// <summary>Resolves the contact points into the first hosts (duplicates removed).</summary>
    public async Task AddContactPointsAsync(CancellationToken ct)
    {
        var endpoints = new List<IPEndPoint>();
        foreach (var contact in _options.ContactPoints) endpoints.AddRange(await ResolveAsync(contact, _options.DefaultPort, ct).ConfigureAwait(false));
        Volatile.Write(ref _hosts, endpoints.Distinct().Select(NewHost).ToArray());
    }

    /// <summary>Live hosts round-robin, then the ones marked down (when every live one failed, one of them may be back).</summary>
    public IEnumerable<Host> QueryPlan()
    {
        var hosts = Volatile.Read(ref _hosts);
        var start = (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)hosts.Length);
        for (var i = 0; i < hosts.Length; i++)
        {
            var h = hosts[(start + i) % hosts.Length];
            if (h.IsUp) yield return h;
        }
        for (var i = 0; i < hosts.Length; i++)
        {
            var h = hosts[(start + i) % hosts.Length];
            if (!h.IsUp) yield return h;
        }
    }

    /// <summary>Adds the nodes that <paramref name="contact"/> lists in system.peers, on the contact's port.</summary>
    public async Task DiscoverPeersAsync(Host contact, CancellationToken ct)
    {
        var peers = await _execute(contact, new SimpleStatement("SELECT peer, rpc_address FROM system.peers").WithConsistency(Consistency.One), ct).ConfigureAwait(false);
        var port = contact.Endpoint.Port;
        var hosts = Volatile.Read(ref _hosts).ToList();
        foreach (var peer in peers)
        {
            var endpoint = new IPEndPoint(RpcAddress(peer), port);
            if (hosts.Any(h => h.Endpoint.Equals(endpoint))) continue;
            var discovered = NewHost(endpoint);
            hosts.Add(discovered);
            CqlLog.PeerDiscovered(_logger, discovered.Name, contact.Name);
        }
        Volatile.Write(ref _hosts, hosts.ToArray());
    }

    /// <summary>Waits until every node this session sees up reports the same schema version; false if not within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForSchemaAgreementAsync(TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var versions = await LiveSchemaVersionsAsync(ct).ConfigureAwait(false);
            if (versions.Count <= 1) return true;
            if (DateTime.UtcNow >= deadline)
            {
                CqlLog.SchemaDisagreement(_logger, versions.Count, timeout.TotalMilliseconds);
                return false;
            }
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
                if ((await _execute(host, local, ct).ConfigureAwait(false)).FirstOrDefault()?.Get<Guid?>(0) is { } version) versions.Add(version);
                if (peersRead) continue;
                foreach (var peer in await _execute(host, peers, ct).ConfigureAwait(false))
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

    private Host NewHost(IPEndPoint endpoint) => new(endpoint, _open, _logger)
    {
        BaseDelay = () => _options.ReconnectBaseDelay,
        MaxDelay = () => _options.ReconnectMaxDelay,
        SessionClosing = _closing,
        PoolSize = _options.ConnectionsPerHost,
        StateChanged = _options.HostStateChanged,
    };

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

    public async ValueTask DisposeAsync()
    {
        foreach (var h in Volatile.Read(ref _hosts)) await h.DisposeAsync().ConfigureAwait(false);
    }
}
