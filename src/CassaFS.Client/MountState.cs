using System.Text.Json;

namespace CassaFS.Client;

/// <summary>What a running mount is: the daemon records it while it serves, `cassafs status` and Get-CassaMount show it.</summary>
/// <remarks>
/// One record for both faces because it is one contract: the CLI's mount daemon writes it to its state file and
/// `cassafs status --json` prints it, and the PowerShell face reads that JSON back (it runs the CLI rather than
/// reference it). Both go through <see cref="Json"/>, so a field renamed here is renamed on both sides at once.
/// </remarks>
public sealed record MountState
{
    public required string MountPoint { get; init; }

    /// <summary>The daemon's process id; 0 where it is not known (a view made before the daemon's state could be read).</summary>
    public required int Pid { get; init; }

    public required string Keyspace { get; init; }

    /// <summary>The Cassandra hosts as the daemon's face names them ("10.0.0.1:9042, 10.0.0.2:9042").</summary>
    public required string Cassandra { get; init; }

    /// <summary>The ZooKeeper connect string (zookeeper lock mode), else null.</summary>
    public string? ZooKeeper { get; init; }

    /// <summary>The lock mode as users type it ("zookeeper").</summary>
    public required string LockMode { get; init; }

    public bool ReadOnly { get; init; }

    public DateTimeOffset Since { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>
    /// How mount states and statuses are written and read: camelCase, indented; read in any case, since a state file
    /// is a file people open and may edit.
    /// </summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
    };
}

/// <summary>A CassaFS mount on this machine: the kernel's view (its mount table) joined with the daemon's <see cref="MountState"/>.</summary>
/// <param name="MountPoint">Where it is mounted (or was, for a stale state file).</param>
/// <param name="Source">The mount's source in the kernel's table ("cassafs:myfs"); empty when the kernel has no such mount.</param>
/// <param name="Mounted">The kernel has the mount.</param>
/// <param name="DaemonAlive">The daemon named in the state still runs.</param>
/// <param name="State">What the daemon recorded; null when there is no state file.</param>
public sealed record MountStatus(string MountPoint, string Source, bool Mounted, bool DaemonAlive, MountState? State)
{
    /// <summary>`cassafs status --json`'s text for these mounts.</summary>
    public static string ToJson(IReadOnlyList<MountStatus> mounts) => JsonSerializer.Serialize(mounts, MountState.Json);

    /// <summary>Reads `cassafs status --json`'s text back.</summary>
    /// <exception cref="JsonException">The text is not such a list.</exception>
    public static IReadOnlyList<MountStatus> ParseList(string json) =>
        JsonSerializer.Deserialize<List<MountStatus>>(json, MountState.Json) ?? throw new JsonException("`cassafs status --json` printed null, not a list of mounts");
}
