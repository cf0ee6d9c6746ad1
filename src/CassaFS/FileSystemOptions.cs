using System.Text.RegularExpressions;
using CassaFS.Cql;
using CassaFS.Locks;
using Microsoft.Extensions.Logging;

namespace CassaFS;

/// <summary>How to lay out a new filesystem (cassafs format).</summary>
public sealed record FormatOptions
{
    /// <summary>The keyspace that holds the filesystem: letters, digits and '_', starting with a letter, at most 48.</summary>
    public required string Keyspace { get; init; }
    /// <summary>SimpleStrategy with <see cref="ReplicationFactor"/>, or NetworkTopologyStrategy with <see cref="DataCenters"/>.</summary>
    public string ReplicationStrategy { get; init; } = "SimpleStrategy";
    public int ReplicationFactor { get; init; } = 1;
    /// <summary>Replicas per data center for NetworkTopologyStrategy.</summary>
    public IReadOnlyDictionary<string, int> DataCenters { get; init; } = new Dictionary<string, int>();
    /// <summary>Bytes per data block: a power of two from 4 KiB to 4 MiB (default 1 MiB; see the README for the measurement behind it).</summary>
    public int BlockSize { get; init; } = DefaultBlockSize;
    /// <summary>Owner of the root directory.</summary>
    public int RootUid { get; init; }
    public int RootGid { get; init; }
    public int RootMode { get; init; } = 0x1ED; // 0755
    /// <summary>Format over an existing filesystem, destroying it.</summary>
    public bool Force { get; init; }
    /// <summary>Consistency of the root directory and settings written, and of the check for an existing filesystem (QUORUM by default).</summary>
    public Consistency Consistency { get; init; } = Consistency.Quorum;

    public const int DefaultBlockSize = 1024 * 1024;
}

/// <summary>How one client opens a filesystem (<see cref="CassaFileSystem.OpenAsync(CassaFS.Cql.CqlSession, FileSystemOptions, CancellationToken)"/>).</summary>
public sealed record FileSystemOptions
{
    public required string Keyspace { get; init; }
    /// <summary>The lock implementation every multi-row operation uses (ZooKeeper for several clients; local for one).</summary>
    public required ILockProvider Locks { get; init; }
    /// <summary>Consistency for data and metadata reads and writes (QUORUM by default).</summary>
    public Consistency Consistency { get; init; } = Consistency.Quorum;
    /// <summary>Consistency of the Paxos phase of lightweight transactions (SERIAL by default).</summary>
    public Consistency SerialConsistency { get; init; } = Consistency.Serial;
    /// <summary>How long an operation waits for a lock before failing with EAGAIN naming the holder.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// How long a directory's shared lock is kept unused after making or removing a name in it, for the next one
    /// (<see cref="KeptLocks"/>); it goes at once when someone waits for it. Zero takes and lets go one per name.
    /// </summary>
    public TimeSpan KeepDirectoryLocksFor { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Names this client in lock records ("host/pid" by default).</summary>
    public string ClientName { get; init; } = $"{Environment.MachineName}/{Environment.ProcessId}";
    /// <summary>Blocks a file may hold in memory not yet written (write-back), per open file.</summary>
    public int WriteBackBlocks { get; init; } = 16;
    /// <summary>
    /// Bytes a file may hold in memory in ranges written into stored blocks (partial blocks, each stored as one slice
    /// row when the total passes this, or at flush): scattered small writes pile up into few rows.
    /// </summary>
    public long WriteBackSliceBytes { get; init; } = 4L << 20;
    /// <summary>
    /// A writer that finds this many slices in one block (or stored a block's worth of bytes as slices there) compacts
    /// them: it writes the merged block back as a whole and deletes the slices, so reads stay one row and a few slices.
    /// Each compaction rewrites a whole block: at 16, random 4 KiB writes spent more on compaction than on their own
    /// slices (a 1 MiB rewrite per 64 KiB written): one benchmark run each, on a loaded two-core machine, gave about
    /// 420 IOPS at 16 and 640 at 64.
    /// </summary>
    public int CompactAfterSlices { get; init; } = 64;
    /// <summary>Block reads or writes in flight at once per file operation.</summary>
    public int BlocksInFlight { get; init; } = 8;
    /// <summary>Writes in flight at once per open file, slices included (a slice holds only its own bytes, often 4 KiB).</summary>
    public int SlicesInFlight { get; init; } = 64;
    /// <summary>Blocks read ahead when a file is read sequentially.</summary>
    public int ReadAheadBlocks { get; init; } = 4;
    /// <summary>An open writer keeps its inode lock across consecutive writes; it lets go after this long without one.</summary>
    public TimeSpan WriterLockIdle { get; init; } = TimeSpan.FromMilliseconds(200);
    public bool ReadOnly { get; init; }
    /// <summary>
    /// Where the filesystem logs: a warning for each write whose outcome was unknown (a timeout, a lost connection) and
    /// how it was settled; the mount daemon writes these to its log. None by default.
    /// </summary>
    public ILogger? Logger { get; init; }
}

internal static partial class Names
{
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,47}$")]
    private static partial Regex KeyspacePattern();

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex DataCenterPattern();

    /// <summary>Keyspaces go into DDL text (identifiers cannot be bound), so only a strict pattern passes.</summary>
    public static string Keyspace(string keyspace) =>
        KeyspacePattern().IsMatch(keyspace) ? keyspace
            : throw new FileSystemException(Errno.EINVAL, keyspace, "a keyspace name is 1-48 letters, digits or '_', starting with a letter");

    public static string DataCenter(string name) =>
        DataCenterPattern().IsMatch(name) ? name : throw new FileSystemException(Errno.EINVAL, name, "not a valid data center name");

    public const int MaxNameBytes = 255;

    /// <summary>Whether <see cref="Entry"/> passes <paramref name="name"/>.</summary>
    public static bool IsEntry(string name) =>
        !string.IsNullOrEmpty(name) && name is not ("." or "..") && !name.Contains('/', StringComparison.Ordinal) &&
        !name.Contains('\0', StringComparison.Ordinal) && System.Text.Encoding.UTF8.GetByteCount(name) <= MaxNameBytes;

    /// <summary>Checks one path component: not empty, not . or .., no '/' or NUL, at most 255 UTF-8 bytes.</summary>
    public static string Entry(string name)
    {
        if (string.IsNullOrEmpty(name) || name is "." or ".." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
            throw new FileSystemException(Errno.EINVAL, name, "a name may not be empty, '.', '..', or contain '/' or NUL");
        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
            throw new FileSystemException(Errno.ENAMETOOLONG, name[..Math.Min(name.Length, 32)] + "…", $"names are at most {MaxNameBytes} bytes");
        return name;
    }
}
