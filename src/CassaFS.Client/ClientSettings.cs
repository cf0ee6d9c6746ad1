using CassaFS.Cql;

namespace CassaFS.Client;

/// <summary>The lock service a client takes its locks from.</summary>
public enum LockMode
{
    /// <summary>ZooKeeper's lock recipes (the default): fair, shared reads, a dead client's locks go with its session.</summary>
    ZooKeeper,
    /// <summary>Cassandra lightweight-transaction leases: no ZooKeeper needed; exclusive only, polling.</summary>
    Lwt,
    /// <summary>Lamport's bakery lock on Cassandra: a fixed set of participants, each client one of them.</summary>
    Bakery,
    /// <summary>In this process only: for a single client.</summary>
    Local,
}

/// <summary>How every face (the CLI and its mount daemon, a PowerShell drive) reaches a filesystem's servers.</summary>
public sealed record ClientSettings
{
    /// <summary>Cassandra hosts, each "host" or "host:port".</summary>
    public IReadOnlyList<string> ContactPoints { get; init; } = ["127.0.0.1"];

    /// <summary>The native port of contact points given without one.</summary>
    public int Port { get; init; } = 9042;

    public string Keyspace { get; init; } = "cassafs";

    /// <summary>ZooKeeper connect string, chroot allowed ("zk1:2181,zk2:2181/cassafs"): zookeeper lock mode only.</summary>
    public string ZooKeeper { get; init; } = "127.0.0.1:2181";

    /// <summary>Cassandra user (PasswordAuthenticator); null connects without credentials.</summary>
    public string? UserName { get; init; }

    /// <summary>Cassandra password; never logged, never shown by <see cref="ToString"/>.</summary>
    public string? Password { get; init; }

    /// <summary>The consistency of the filesystem's reads and writes (the lock services choose their own).</summary>
    public Consistency Consistency { get; init; } = Consistency.Quorum;

    public LockMode LockMode { get; init; } = LockMode.ZooKeeper;

    /// <summary>The consistency of the lock services kept in Cassandra (lwt, bakery): one whose reads see every acknowledged write.</summary>
    public Consistency LockConsistency { get; init; } = Consistency.Quorum;

    /// <summary>Bakery lock mode: this client's participant index; null claims a free one.</summary>
    public int? BakeryParticipant { get; init; }

    /// <summary>Bakery lock mode: how many participants there are (the same for every client).</summary>
    public int BakeryParticipants { get; init; } = 8;

    /// <summary>How long connecting to a server may take before it is reported unreachable.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Cassandra as people name it in messages: "h1,h2 (port 9042)".</summary>
    public string CassandraHosts => $"{string.Join(",", ContactPoints)} (port {Port})";

    /// <summary>A lock mode as users type it, in any case ("zookeeper", "LWT").</summary>
    public static LockMode ParseLockMode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Enum.TryParse<LockMode>(value.Trim(), ignoreCase: true, out var mode) && Enum.IsDefined(mode)
            ? mode
            : throw new ArgumentException($"Lock mode '{value}' is not known: use zookeeper, lwt, bakery or local.", nameof(value));
    }

    /// <summary>The lock mode as users type it ("zookeeper").</summary>
    public static string Name(LockMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>A consistency level as users type it ("quorum", "LOCAL_QUORUM", "LocalQuorum").</summary>
    public static Consistency ParseConsistency(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Enum.TryParse<Consistency>(value.Replace("_", "", StringComparison.Ordinal), true, out var c) && Enum.IsDefined(c)
            ? c
            : throw new ArgumentException($"Consistency '{value}' is not known: use one of {string.Join(", ", Enum.GetNames<Consistency>())}.", nameof(value));
    }

    public override string ToString() =>
        $"keyspace {Keyspace} on Cassandra {CassandraHosts}, locks {Name(LockMode)}" + (LockMode == LockMode.ZooKeeper ? $" via ZooKeeper {ZooKeeper}" : "");
}
