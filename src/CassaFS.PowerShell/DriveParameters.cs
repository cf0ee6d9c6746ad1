using CassaFS.Client;
using CassaFS.Cql;

namespace CassaFS.PowerShell;

/// <summary>What New-PSDrive -PSProvider CassaFS takes: the servers, the keyspace and how to lock.</summary>
public sealed record DriveParameters
{
    /// <summary>Cassandra hosts, each "host" or "host:port".</summary>
    public IReadOnlyList<string> ContactPoints { get; init; } = ["127.0.0.1"];
    public int Port { get; init; } = 9042;
    public string Keyspace { get; init; } = "cassafs";
    /// <summary>ZooKeeper connect string, chroot allowed ("zk1:2181,zk2:2181/cassafs").</summary>
    public string ZooKeeper { get; init; } = "127.0.0.1:2181";
    public string? UserName { get; init; }
    public string? Password { get; init; }
    public Consistency Consistency { get; init; } = Consistency.Quorum;
    /// <summary>zookeeper, lwt, bakery or local.</summary>
    public string LockMode { get; init; } = "zookeeper";
    /// <summary>Bakery lock mode: this client's participant index; null claims a free one.</summary>
    public int? BakeryParticipant { get; init; }
    /// <summary>Bakery lock mode: how many participants there are (the same for every client).</summary>
    public int BakeryParticipants { get; init; } = 8;
    /// <summary>How long a content writer or reader waits for another client's lock on the file.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long connecting may take before the drive fails naming the server.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The settings every face connects with.</summary>
    public ClientSettings ToClientSettings() => new()
    {
        ContactPoints = ContactPoints,
        Port = Port,
        Keyspace = Keyspace,
        ZooKeeper = ZooKeeper,
        UserName = UserName,
        Password = Password,
        Consistency = Consistency,
        LockMode = ClientSettings.ParseLockMode(LockMode),
        BakeryParticipant = BakeryParticipant,
        BakeryParticipants = BakeryParticipants,
        ConnectTimeout = ConnectTimeout,
    };

    /// <summary>Parses a lock mode as users type it, in any case.</summary>
    public static string ParseLockMode(string value) => ClientSettings.Name(ClientSettings.ParseLockMode(value));

    /// <summary>Parses a consistency level ("quorum", "LOCAL_QUORUM", "LocalQuorum").</summary>
    public static Consistency ParseConsistency(string value) => ClientSettings.ParseConsistency(value);

    public override string ToString() =>
        $"keyspace {Keyspace} on Cassandra {string.Join(",", ContactPoints)} (port {Port}), locks {LockMode}" + (LockMode == "zookeeper" ? $" via ZooKeeper {ZooKeeper}" : "");
}
