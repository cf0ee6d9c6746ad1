namespace CassaFS;

/// <summary>The kind of an inode, with its S_IFMT bits.</summary>
public enum FileType
{
    Fifo = 0x1000,
    CharDevice = 0x2000,
    Directory = 0x4000,
    BlockDevice = 0x6000,
    Regular = 0x8000,
    Symlink = 0xA000,
    Socket = 0xC000,
}

/// <summary>Mode bits beyond the nine permission bits.</summary>
public static class ModeBits
{
    public const int SetUid = 0x800;   // 04000
    public const int SetGid = 0x400;   // 02000
    public const int Sticky = 0x200;   // 01000
    public const int Permissions = 0xFFF; // 07777
    public const int GroupExecute = 0x8; // 00010
}

/// <summary>A point in time as POSIX keeps it: nanoseconds since the Unix epoch.</summary>
public readonly record struct Timespec(long TotalNanoseconds) : IComparable<Timespec>
{
    public long Seconds => Math.DivRem(TotalNanoseconds, 1_000_000_000L, out var rem) - (rem < 0 ? 1 : 0);
    public int Nanoseconds => (int)(((TotalNanoseconds % 1_000_000_000L) + 1_000_000_000L) % 1_000_000_000L);

    public static Timespec Now => FromDateTimeOffset(DateTimeOffset.UtcNow);

    public static Timespec FromParts(long seconds, long nanoseconds) => new(checked((seconds * 1_000_000_000L) + nanoseconds));

    public static Timespec FromDateTimeOffset(DateTimeOffset time) => new((time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100);

    public DateTimeOffset ToDateTimeOffset() => DateTimeOffset.UnixEpoch.AddTicks(TotalNanoseconds / 100);

    public int CompareTo(Timespec other) => TotalNanoseconds.CompareTo(other.TotalNanoseconds);

    public static bool operator <(Timespec a, Timespec b) => a.TotalNanoseconds < b.TotalNanoseconds;
    public static bool operator >(Timespec a, Timespec b) => a.TotalNanoseconds > b.TotalNanoseconds;
    public static bool operator <=(Timespec a, Timespec b) => a.TotalNanoseconds <= b.TotalNanoseconds;
    public static bool operator >=(Timespec a, Timespec b) => a.TotalNanoseconds >= b.TotalNanoseconds;

    public override string ToString() => ToDateTimeOffset().ToString("O", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>An inode's stat data. The root directory has the all-zero id.</summary>
public sealed record Inode
{
    /// <summary>The root directory's id: the all-zero UUID.</summary>
    public static readonly Guid RootId = Guid.Empty;

    public required Guid Id { get; init; }
    public required FileType Type { get; init; }
    /// <summary>Permission bits with set-uid, set-gid and sticky (07777).</summary>
    public required int Mode { get; init; }
    public required int Uid { get; init; }
    public required int Gid { get; init; }
    public required long Nlink { get; init; }
    public long Size { get; init; }
    public long Rdev { get; init; }
    public required Timespec Atime { get; init; }
    public required Timespec Mtime { get; init; }
    public required Timespec Ctime { get; init; }
    /// <summary>A symbolic link's target.</summary>
    public string? Target { get; init; }
    public long Generation { get; init; }
    /// <summary>A directory's parent (the root is its own parent); empty for other inodes.</summary>
    public Guid Parent { get; init; }
    /// <summary>Data blocks stored (holes cost nothing).</summary>
    public long Blocks { get; init; }
    /// <summary>The fencing token of the last lock holder that committed a change (compare-and-set guard).</summary>
    public long Fence { get; init; }

    /// <summary>st_mode: type and permission bits.</summary>
    public int StMode => (int)Type | Mode;

    public bool IsDirectory => Type == FileType.Directory;

    /// <summary>st_blocks in 512-byte units for a filesystem of the given block size: allocated blocks only.</summary>
    public long StBlocks(int blockSize) => Blocks * (blockSize / 512);

    /// <summary>What moves whenever the file's data may have changed (see <see cref="InodeVersion"/>).</summary>
    public InodeVersion Version => new(Fence, Size, Mtime, Ctime);
}

/// <summary>
/// A stored state of an inode's data: every data change commits a new size, mtime or ctime, and a change by another
/// lock holder a new fence, so two equal versions saw the same bytes. A face that caches file data (the kernel's page
/// cache behind FUSE) keeps it across opens only while the version it cached stays the stored one.
/// </summary>
public readonly record struct InodeVersion(long Fence, long Size, Timespec Mtime, Timespec Ctime);

/// <summary>
/// The times one touch sets (<see cref="IFileSystemStore.TouchAsync"/>); a null one keeps what is stored. A touch
/// names only what it moves: a reader's atime must not write back the mtime and ctime it loaded, over a writer's.
/// </summary>
public readonly record struct TouchedTimes(Timespec? Atime = null, Timespec? Mtime = null, Timespec? Ctime = null)
{
    /// <summary>mtime and ctime both, as a directory's entries change them.</summary>
    public static TouchedTimes Modified(Timespec now) => new(Mtime: now, Ctime: now);
}

/// <summary>
/// A change another client made, as <see cref="CassaFileSystem.WatchChanges"/> reports it: the entry
/// <see cref="Name"/> of the directory <see cref="Inode"/>, or (<see cref="Name"/> null) the inode's own attributes.
/// </summary>
public readonly record struct NamespaceChange(Guid Inode, string? Name);

/// <summary>One name in a directory.</summary>
public sealed record DirectoryEntry(string Name, Guid Inode, FileType Type);

/// <summary>Who asks: the caller's uid, primary gid and supplementary groups.</summary>
public sealed record Caller(int Uid, int Gid, IReadOnlyList<int> Groups)
{
    public static readonly Caller Root = new(0, 0, Array.Empty<int>());

    public bool IsRoot => Uid == 0;

    public bool InGroup(int gid) => Gid == gid || Groups.Contains(gid);
}

/// <summary>Access bits as access(2) takes them.</summary>
[Flags]
public enum AccessMode
{
    Exists = 0,
    Execute = 1,
    Write = 2,
    Read = 4,
}

/// <summary>rename(2) flags.</summary>
[Flags]
public enum RenameFlags
{
    None = 0,
    NoReplace = 1,
    Exchange = 2,
}

/// <summary>setxattr(2) flags.</summary>
public enum XAttrFlags
{
    Either = 0,
    Create = 1,
    Replace = 2,
}

/// <summary>How a file is opened.</summary>
[Flags]
public enum OpenFlags
{
    ReadOnly = 0,
    WriteOnly = 1,
    ReadWrite = 2,
    AccessModeMask = 3,
    Create = 0x40,
    Exclusive = 0x80,
    Truncate = 0x200,
    Append = 0x400,
}

/// <summary>A time to set with utimens: a value, now, or unchanged.</summary>
public readonly record struct TimeChange(Timespec? Value, bool SetToNow)
{
    public static TimeChange Now => new(null, true);
    public static TimeChange To(Timespec value) => new(value, false);
}

/// <summary>The attributes one setattr call changes; null leaves a field as it is.</summary>
public sealed record AttributeChanges
{
    public int? Mode { get; init; }
    public int? Uid { get; init; }
    public int? Gid { get; init; }
    public long? Size { get; init; }
    public TimeChange? Atime { get; init; }
    public TimeChange? Mtime { get; init; }
    /// <summary>Set ctime explicitly (only the filesystem's own repairs do this).</summary>
    public Timespec? Ctime { get; init; }
}

/// <summary>statfs(2) figures.</summary>
public sealed record FileSystemStats(int BlockSize, long TotalBlocks, long FreeBlocks, long UsedBlocks, long Files, long FreeFiles, int MaxNameLength);
