namespace CassaFS.Fuse;

/// <summary>A timestamp as the kernel carries it: seconds and nanoseconds since the Unix epoch.</summary>
public readonly record struct FuseTime(long Seconds, long Nanoseconds)
{
    public static FuseTime FromDateTimeOffset(DateTimeOffset t)
    {
        long ticks = t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        if (rem < 0)
        {
            seconds--;
            rem += TimeSpan.TicksPerSecond;
        }
        return new FuseTime(seconds, rem * 100);
    }

    public static FuseTime Now => FromDateTimeOffset(DateTimeOffset.UtcNow);

    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.UnixEpoch.AddTicks((Seconds * TimeSpan.TicksPerSecond) + (Nanoseconds / 100));
}

/// <summary>The attributes of an inode (struct stat in managed terms).</summary>
public readonly record struct InodeAttributes
{
    /// <summary>The FUSE node id (st_ino); the adapter maps it to its own inode identity.</summary>
    public ulong Ino { get; init; }

    /// <summary>File type and permission bits (S_IFREG | 0644 ...).</summary>
    public uint Mode { get; init; }

    public uint LinkCount { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public ulong RDev { get; init; }
    public long Size { get; init; }

    /// <summary>Number of 512-byte blocks allocated.</summary>
    public long Blocks { get; init; }

    public int BlockSize { get; init; }
    public FuseTime AccessTime { get; init; }
    public FuseTime ModificationTime { get; init; }
    public FuseTime ChangeTime { get; init; }
}

/// <summary>A directory entry as replied to lookup/mknod/mkdir/symlink/link/create (struct fuse_entry_param).</summary>
public readonly record struct FuseEntry
{
    public FuseEntry(InodeAttributes attributes, ulong generation = 0)
    {
        Ino = attributes.Ino;
        Generation = generation;
        Attributes = attributes;
    }

    /// <summary>The node id; 0 in a lookup reply means a negative entry the kernel caches for the entry timeout.</summary>
    public ulong Ino { get; init; }

    public ulong Generation { get; init; }
    public InodeAttributes Attributes { get; init; }

    /// <summary>Seconds the kernel may cache the attributes; null takes the mount's <see cref="FuseMountOptions.AttributeTimeout"/>.</summary>
    public double? AttributeTimeout { get; init; }

    /// <summary>Seconds the kernel may cache the name; null takes the mount's <see cref="FuseMountOptions.EntryTimeout"/>.</summary>
    public double? EntryTimeout { get; init; }
}

/// <summary>Which attributes a setattr changes (FUSE_SET_ATTR_* bits).</summary>
[Flags]
public enum AttributeFields
{
    None = 0,
    Mode = 1 << 0,
    Uid = 1 << 1,
    Gid = 1 << 2,
    Size = 1 << 3,
    AccessTime = 1 << 4,
    ModificationTime = 1 << 5,
    /// <summary>Set atime to the current time (utimensat UTIME_NOW).</summary>
    AccessTimeNow = 1 << 7,
    /// <summary>Set mtime to the current time (utimensat UTIME_NOW).</summary>
    ModificationTimeNow = 1 << 8,
    ChangeTime = 1 << 10,
}

/// <summary>A setattr request: only the members named in <see cref="Fields"/> carry values.</summary>
public readonly record struct AttributeChanges
{
    public AttributeFields Fields { get; init; }
    public uint Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public long Size { get; init; }
    public FuseTime AccessTime { get; init; }
    public FuseTime ModificationTime { get; init; }
    public FuseTime ChangeTime { get; init; }

    /// <summary>The open file's handle when the change came through ftruncate/fchmod..., else null.</summary>
    public ulong? FileHandle { get; init; }

    public bool Has(AttributeFields field) => (Fields & field) != 0;
}

/// <summary>What open/opendir/create answer: the handle later calls carry, and page-cache hints.</summary>
public readonly record struct FuseOpenedFile
{
    public FuseOpenedFile(ulong handle) => Handle = handle;

    public ulong Handle { get; init; }

    /// <summary>Bypass the page cache for this open file.</summary>
    public bool DirectIo { get; init; }

    /// <summary>Keep cached data from earlier opens (the file did not change behind the kernel's back).</summary>
    public bool KeepCache { get; init; }

    public bool NonSeekable { get; init; }

    /// <summary>For opendir: let the kernel cache the listing.</summary>
    public bool CacheDirectory { get; init; }
}

/// <summary>An open file as later calls (release, flush, locks) describe it.</summary>
public readonly record struct FuseFileHandle
{
    /// <summary>The handle open/create returned.</summary>
    public ulong Handle { get; init; }

    /// <summary>The open(2) flags.</summary>
    public int Flags { get; init; }

    /// <summary>The lock owner (for flush, locks and release with <see cref="FlockRelease"/>).</summary>
    public ulong LockOwner { get; init; }

    /// <summary>On release: the flock locks held by <see cref="LockOwner"/> must be dropped.</summary>
    public bool FlockRelease { get; init; }
}

/// <summary>statvfs figures a statfs reply carries.</summary>
public readonly record struct FileSystemStatistics
{
    public ulong BlockSize { get; init; }
    public ulong FragmentSize { get; init; }
    public ulong Blocks { get; init; }
    public ulong BlocksFree { get; init; }
    public ulong BlocksAvailable { get; init; }
    public ulong Files { get; init; }
    public ulong FilesFree { get; init; }
    public ulong FilesAvailable { get; init; }
    public ulong MaxNameLength { get; init; }
}

/// <summary>Lock types of a POSIX byte-range lock (F_RDLCK, F_WRLCK, F_UNLCK).</summary>
public enum PosixLockType : short
{
    Read = 0,
    Write = 1,
    Unlock = 2,
}

/// <summary>A POSIX byte-range lock (struct flock, always SEEK_SET-relative here); Length 0 means to end of file.</summary>
public readonly record struct PosixLock(PosixLockType Type, long Start, long Length, int Pid);

/// <summary>flock(2) operations as libfuse passes them.</summary>
[Flags]
public enum FlockOperation
{
    Shared = 1,
    Exclusive = 2,
    NonBlocking = 4,
    Unlock = 8,
}

/// <summary>renameat2 flags.</summary>
[Flags]
public enum RenameMode : uint
{
    None = 0,
    /// <summary>Fail with EEXIST rather than replace the target.</summary>
    NoReplace = 1,
    /// <summary>Atomically swap source and target; both must exist.</summary>
    Exchange = 2,
}

/// <summary>setxattr flags.</summary>
[Flags]
public enum XAttrCondition
{
    None = 0,
    /// <summary>Fail with EEXIST if the attribute exists.</summary>
    Create = 1,
    /// <summary>Fail with ENODATA if the attribute does not exist.</summary>
    Replace = 2,
}

/// <summary>A handler's answer: a value, or an errno (implicitly converted from either).</summary>
public readonly struct FuseResult<T>
{
    private FuseResult(T value, Errno error)
    {
        Value = value;
        Error = error;
    }

    public T Value { get; }

    /// <summary><see cref="Errno.Success"/> when <see cref="Value"/> holds the answer.</summary>
    public Errno Error { get; }

    public bool IsSuccess => Error == Errno.Success;

#pragma warning disable CA2225 // The named alternatives are FuseResult.Ok and FuseResult.Fail.
    public static implicit operator FuseResult<T>(T value) => new(value, Errno.Success);

    public static implicit operator FuseResult<T>(Errno error) =>
        error == Errno.Success ? throw new ArgumentException("A failure needs a non-zero errno.", nameof(error)) : new(default!, error);
#pragma warning restore CA2225
}

/// <summary>Named constructors of <see cref="FuseResult{T}"/>.</summary>
public static class FuseResult
{
    public static FuseResult<T> Ok<T>(T value) => value;

    public static FuseResult<T> Fail<T>(Errno error) => error;
}
