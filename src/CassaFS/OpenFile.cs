using System.Buffers;
using System.Collections.Concurrent;

namespace CassaFS;

/// <summary>A handle on an open file, as returned by open and create.</summary>
public sealed class FileHandle
{
    internal FileHandle(long id, OpenFile file, OpenFlags flags, Caller caller)
    {
        Id = id;
        File = file;
        Flags = flags;
        Caller = caller;
    }

    /// <summary>A number unique within this mount (the FUSE face hands it to the kernel).</summary>
    public long Id { get; }

    public Guid Inode => File.Id;

    public OpenFlags Flags { get; }

    internal OpenFile File { get; }

    internal Caller Caller { get; }

    internal bool CanRead => (Flags & OpenFlags.AccessModeMask) is OpenFlags.ReadOnly or OpenFlags.ReadWrite;

    internal bool CanWrite => (Flags & OpenFlags.AccessModeMask) is OpenFlags.WriteOnly or OpenFlags.ReadWrite;

    internal bool Released { get; set; }

    /// <summary>Whether this handle's reads have had their atime considered (relatime: once per handle).</summary>
    internal bool AtimeConsidered { get; set; }
}

/// <summary>
/// One open inode in this client, shared by all its handles: the write-back buffer (blocks written but not yet
/// stored), the block writes in flight, and the inode lock a writer keeps across a burst of writes (taking the
/// lock per block would cost a lock round trip per block). Everything here is guarded by <see cref="Gate"/>.
/// </summary>
internal sealed class OpenFile
{
    public OpenFile(Guid id, int blockSize)
    {
        Id = id;
        BlockSize = blockSize;
    }

    public Guid Id { get; }
    public int BlockSize { get; }
    public SemaphoreSlim Gate { get; } = new(1, 1);
    public int Handles { get; set; }

    /// <summary>The inode as this writer last committed or loaded it under its lock.</summary>
    public Inode? Inode { get; set; }

    /// <summary>The file size including buffered writes.</summary>
    public long Size { get; set; }

    /// <summary>Metadata changed by writes (size, mtime, mode) not yet committed.</summary>
    public bool MetadataDirty { get; set; }

    /// <summary>Blocks that exist in storage (loaded when the writer lock is taken).</summary>
    public HashSet<long>? Allocated { get; set; }

    /// <summary>The inode lock held across a burst of writes, or null.</summary>
    public LockSet? WriterLock { get; set; }

    /// <summary>The block stamps of this holding of <see cref="WriterLock"/> (from its fencing token).</summary>
    public BlockStamps? Stamps { get; set; }

    public DateTime LastWrite { get; set; }

    /// <summary>This client's hold on the open file (<see cref="CassaFS.Locks.LockKey.ForOpenFile"/>), taken by the first handle.</summary>
    public Task<CassaFS.Locks.ILockHandle>? Hold { get; set; }

    public Dictionary<long, DirtyBlock> Dirty { get; } = new();

    public List<(long Index, Task Write)> InFlight { get; } = new();

    /// <summary>The first error of a write-back that failed, reported at the next write, flush or fsync (as POSIX does).</summary>
    public Exception? WriteBackError { get; set; }

    /// <summary>
    /// Block fetches done or in flight (read-ahead), shared by concurrent readers. Each is tagged with the cache
    /// generation it was started in; a write moves the generation on, so a fetch that raced a write is never served
    /// after it.
    /// </summary>
    public ConcurrentDictionary<long, (long Generation, Task<ReadOnlyMemory<byte>?> Fetch)> ReadCache { get; } = new();

    private long _cacheGeneration;

    public long CacheGeneration => Interlocked.Read(ref _cacheGeneration);

    /// <summary>Forgets every fetched block: this client is changing the file.</summary>
    public void DropReadCache()
    {
        Interlocked.Increment(ref _cacheGeneration);
        ReadCache.Clear();
    }

    /// <summary>The highest block sequential reading has reached (-1 before any: a first read at 0 reads ahead).</summary>
    public long LastReadBlock { get; set; } = -1;

    /// <summary>The size the last read of stored data found, -1 before any.</summary>
    public long SizeSeenByReads { get; set; } = -1;

    /// <summary>The mtime and ctime the last read of stored data found: when another client changes the file, its cached blocks are stale.</summary>
    public (Timespec Mtime, Timespec Ctime)? ChangeSeenByReads { get; set; }
}

/// <summary>A block being assembled in memory: a pooled buffer of the block size and how much of it is valid.</summary>
internal sealed class DirtyBlock : IDisposable
{
    public DirtyBlock(int blockSize) => Buffer = ArrayPool<byte>.Shared.Rent(blockSize);

    public byte[] Buffer { get; private set; }

    /// <summary>Bytes from the start of the block that hold data (the rest of the file's block reads as zeros).</summary>
    public int Length { get; set; }

    public void Dispose()
    {
        if (Buffer.Length == 0) return;
        ArrayPool<byte>.Shared.Return(Buffer);
        Buffer = Array.Empty<byte>();
    }
}
