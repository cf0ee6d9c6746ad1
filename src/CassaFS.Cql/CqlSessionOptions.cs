using System.Net.Security;
using Microsoft.Extensions.Logging;

namespace CassaFS.Cql;

/// <summary>User name and password for Cassandra's PasswordAuthenticator (sent with SASL PLAIN).</summary>
public sealed record CqlCredentials(string UserName, string Password)
{
    /// <summary>Never prints the password.</summary>
    public override string ToString() => $"CqlCredentials {{ UserName = {UserName} }}";
}

/// <summary>How to reach the cluster and the defaults every statement inherits.</summary>
public sealed class CqlSessionOptions
{
    /// <summary>"host:port" or "host" (port <see cref="DefaultPort"/>); other nodes are discovered from system.peers.</summary>
    public IList<string> ContactPoints { get; } = new List<string>();

    public int DefaultPort { get; set; } = 9042;

    /// <summary>Told when a node goes down (its connections dropped; requests go to the others) or comes back; must not block.</summary>
    public Action<CqlHostState>? HostStateChanged { get; set; }

    /// <summary>
    /// Told when the cluster first answers Unavailable (too few replicas alive for a consistency level: a quorum lost)
    /// and when a request at that level succeeds again; must not block.
    /// </summary>
    public Action<CqlAvailability>? AvailabilityChanged { get; set; }

    /// <summary>Keyspace every connection switches to (USE) when it opens; null for none.</summary>
    public string? Keyspace { get; set; }

    public CqlCredentials? Credentials { get; set; }

    public Consistency DefaultConsistency { get; set; } = Consistency.Quorum;
    public Consistency DefaultSerialConsistency { get; set; } = Consistency.Serial;

    /// <summary>How long one attempt waits for its answer before failing with an unknown-outcome timeout.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(12);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Rows per page when a statement does not say.</summary>
    public int DefaultFetchSize { get; set; } = 5000;

    /// <summary>Connections kept open to each host; each multiplexes thousands of requests.</summary>
    public int ConnectionsPerHost { get; set; } = 1;

    /// <summary>Add the nodes listed in system.peers to the contact points.</summary>
    public bool DiscoverPeers { get; set; } = true;

    /// <summary>Stamp writes with a client-side, strictly increasing microsecond timestamp.</summary>
    public bool ClientTimestamps { get; set; } = true;

    /// <summary>After a DDL statement, wait until every live node reports the same schema version.</summary>
    public bool WaitForSchemaAgreementAfterDdl { get; set; } = true;

    public TimeSpan SchemaAgreementTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First and largest pause between attempts to reconnect to a host marked down.</summary>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Highest protocol version to try; the client falls back to v3 per host when the server refuses it.</summary>
    public int MaxProtocolVersion { get; set; } = 4;

    /// <summary>
    /// Requests one connection carries at once; a caller past that waits for one to finish (within its
    /// <see cref="RequestTimeout"/>) instead of failing. At most 32766.
    /// </summary>
    public int MaxRequestsPerConnection { get; set; } = 2048;

    /// <summary>
    /// After this long with nothing received on a connection, it sends an OPTIONS request; no answer within
    /// <see cref="RequestTimeout"/> closes the connection (its host is then marked down and reconnected). Zero turns it off.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where the client logs connections, hosts going down and up, heartbeats and timeouts; nothing when null. Never passwords.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>TLS settings; null for plain TCP.</summary>
    public SslClientAuthenticationOptions? Tls { get; set; }
}
