using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

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

    /// <summary>The inode's version as this open found it stored (before an O_TRUNC truncated it).</summary>
    public InodeVersion OpenedVersion { get; internal set; }

    /// <summary>
    /// The version every byte this client read or wrote through the file agrees with, or null when another client
    /// changed the file meanwhile (or it cannot tell). A face that keeps the file's data cached (FUSE's keep_cache) may
    /// keep it at the next open if that open finds this version still stored (<see cref="OpenedVersion"/>).
    /// </summary>
    public InodeVersion? CoherentVersion => File.Coherent;

    /// <summary>Whether this handle's reads have had their atime considered (relatime: once per handle).</summary>
    internal bool AtimeConsidered { get; set; }
}

/// <summary>
/// One open inode in this client, shared by all its handles. It owns the file's data path: the write-back buffer
/// (blocks written but not yet stored), the block writes in flight, the fetched blocks and read-ahead, and the inode
/// lock a writer keeps across a burst of writes (taking the lock per block would cost a lock round trip per block).
/// <see cref="CassaFileSystem"/> keeps the POSIX checks and the fenced commit of the inode.
/// <para>Concurrency. Everything is guarded by the gate (<see cref="GatedAsync"/>), except what the ungated read path
/// touches: the read cache and its generation (concurrent and atomic), and the read-ahead hints
/// (<see cref="LastReadBlock"/>, <see cref="SizeSeenByReads"/>, <see cref="VersionSeenByReads"/>), where a lost update
/// costs at most a fetch. That path also looks at <see cref="WriterLock"/>, <see cref="MetadataDirty"/> and
/// <see cref="HasBuffered"/> to choose it: a writer's first write sets them under the gate before it stores anything,
/// and drops the read cache, so a read that raced it reads what was stored before the write, as it may.</para>
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The gate is a SemaphoreSlim whose wait handle is never asked for: it holds no handle to dispose.")]
internal sealed class OpenFile
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IFileSystemStore _store;
    private readonly FileSystemOptions _options;
    private readonly Dictionary<long, DirtyBlock> _dirty = new();
    private long _partialBytes; // what the partial blocks in _dirty hold
    private readonly List<(long Index, Task Write, bool Slice)> _inFlight = new();
    private Exception? _writeBackError;

    public OpenFile(Guid id, int blockSize, IFileSystemStore store, FileSystemOptions options)
    {
        Id = id;
        BlockSize = blockSize;
        _store = store;
        _options = options;
    }

    public Guid Id { get; }
    public int BlockSize { get; }

    /// <summary>
    /// This client removed the file's last name while it was open here, so the kernel in front of this client knows
    /// the name is gone: an open of it can only come through a descriptor (/proc/self/fd), never a stale name.
    /// </summary>
    public bool UnlinkedHere { get; set; }

    /// <summary>Handles open on it here; -1 once the last release retires it.</summary>
    public int Handles { get; set; }

    /// <summary>
    /// The stored version that every byte this client passed through the file's handles (reads answered, writes
    /// taken) agrees with: set by the first open, moved on by this client's own commits when they started from it,
    /// null for good once the file was seen changed by anyone else. A face may keep what it cached of the file's data
    /// while this is the version stored (<see cref="FileHandle.CoherentVersion"/>).
    /// </summary>
    public InodeVersion? Coherent
    {
        get
        {
            lock (_coherence) return _coherent;
        }
        set
        {
            lock (_coherence) _coherent = value;
        }
    }

    // Guards the version (a multi-word value the ungated read path notes too) and whether an open has set it yet.
    private readonly object _coherence = new();
    private InodeVersion? _coherent;
    private bool _coherenceStarted;

    /// <summary>
    /// Notes the inode an open loaded: the first load of this open file's life starts the coherent version (nothing
    /// has passed through a handle yet; concurrent opens may load in any order), later ones are checked against it.
    /// </summary>
    public void NoteOpened(Inode stored)
    {
        lock (_coherence)
        {
            if (!_coherenceStarted) _coherent = stored.Version;
            else if (_coherent != stored.Version) _coherent = null;
            _coherenceStarted = true;
        }
    }

    /// <summary>Notes an inode of this file as loaded from storage: a version other than the coherent one means another change.</summary>
    public void NoteLoaded(Inode stored)
    {
        lock (_coherence)
        {
            if (_coherent != stored.Version) _coherent = null;
        }
    }

    /// <summary>Notes this client's own commit of <paramref name="committed"/>: coherent still, when it was before.</summary>
    public void NoteCommitted(Inode committed)
    {
        lock (_coherence)
        {
            if (_coherent is not null) _coherent = committed.Version;
        }
    }

    /// <summary>This client's hold on the open file (<see cref="CassaFS.Locks.LockKey.ForOpenFile"/>), taken by the first handle.</summary>
    public Task<CassaFS.Locks.ILockHandle>? Hold { get; set; }

    /// <summary>
    /// Set while the hold of a file this client created is put off until its directory's kept lock goes (see
    /// <see cref="CassaFileSystem"/>'s create): it forgets the file's turn at that lock's let-go.
    /// </summary>
    public Action? HoldDeferred { get; set; }

    // ------------------------------------------------------------------ the gate

    /// <summary>Runs <paramref name="action"/> alone among this file's gated work.</summary>
    public async Task GatedAsync(Func<Task> action, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await action().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc cref="GatedAsync(Func{Task}, CancellationToken)"/>
    public async ValueTask<T> GatedAsync<T>(Func<ValueTask<T>> action, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await action().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Runs <paramref name="action"/> under the gate if nobody holds it now; false when busy.</summary>
    public async Task<bool> TryGatedAsync(Func<Task> action)
    {
        if (!await _gate.WaitAsync(0).ConfigureAwait(false)) return false;
        try
        {
            await action().ConfigureAwait(false);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    // ------------------------------------------------------------------ the writer's holding

    /// <summary>The inode as this writer last committed or loaded it under its lock.</summary>
    public Inode? Inode { get; set; }

    /// <summary>The file size including buffered writes.</summary>
    public long Size { get; set; }

    /// <summary>Metadata changed by writes (size, mtime, mode) not yet committed.</summary>
    public bool MetadataDirty { get; set; }

    /// <summary>chmod, chown or utimens joined the writer's pending inode: its commit carries owner, group and atime too.</summary>
    public bool AttributesSet { get; set; }

    /// <summary>Blocks that exist in storage (loaded when the writer lock is taken).</summary>
    public HashSet<long>? Allocated { get; set; }

    /// <summary>The inode lock held across a burst of writes, or null.</summary>
    public LockSet? WriterLock { get; set; }

    /// <summary>The block stamps of this holding of <see cref="WriterLock"/> (from its fencing token).</summary>
    public BlockStamps? Stamps { get; set; }

    public DateTime LastWrite { get; set; }

    /// <summary>
    /// Extended attributes read while <see cref="WriterLock"/> is held (null for one not set): nobody else can change
    /// them meanwhile, since that takes the same lock, and this client's own changes make the writer let go first.
    /// </summary>
    public Dictionary<string, byte[]?> XAttrsUnderLock { get; } = new(StringComparer.Ordinal);

    /// <summary>Whether this file's writer has held its lock without writing for <see cref="FileSystemOptions.WriterLockIdle"/>.</summary>
    public bool IsIdleWriter => WriterLock is not null && DateTime.UtcNow - LastWrite >= _options.WriterLockIdle;

    /// <summary>Lets go of the writer's lock and what it loaded with it: the blocks read under it are good only while it is held.</summary>
    public async Task ReleaseWriterLockAsync()
    {
        var held = WriterLock;
        WriterLock = null;
        Stamps = null;
        Allocated = null;
        XAttrsUnderLock.Clear();
        DropReadCache();
        _slicesStored.Clear(); // counted per holding: the next one starts afresh
        _compactionsDue.Clear();
        _slicesFound.Clear();
        if (held is not null) await held.DisposeAsync().ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ write-back

    /// <summary>Whether blocks wait in the buffer (not those in flight).</summary>
    public bool HasBuffered => _dirty.Count > 0;

    /// <summary>How many blocks the file has once what is buffered is stored (those stored so far and the buffered ones).</summary>
    public int BlocksOnceStored => Allocated!.Count + _dirty.Keys.Count(i => !Allocated.Contains(i));

    /// <summary>
    /// Puts <paramref name="data"/> at <paramref name="offset"/> into the buffer and starts storing every block it
    /// fills, and the oldest beyond <see cref="FileSystemOptions.WriteBackBlocks"/>. Needs the writer's holding. When
    /// <paramref name="owner"/> holds the owner of <paramref name="data"/> and the write is exactly one whole block not
    /// yet buffered, the block keeps that array (no copy) and <paramref name="owner"/> is emptied.
    /// <para>A partial write into a block that holds stored data never reads that block: the buffer keeps only the
    /// ranges written (<see cref="DirtyBlock.Partial"/>), which are stored as one slice row. Reading the block first cost a
    /// whole block read per small write, and random small writes ran at a few dozen a second (issue 15); storing each
    /// write as a row of its own kept them at Cassandra's rate of rows (about 800 a second here). Partial blocks stay
    /// buffered until their ranges reach <see cref="FileSystemOptions.WriteBackSliceBytes"/> in all.</para>
    /// </summary>
    public async Task BufferWriteAsync(long offset, ReadOnlyMemory<byte> data, System.Runtime.CompilerServices.StrongBox<IMemoryOwner<byte>?>? owner, CancellationToken ct)
    {
        DropReadCache();
        var end = offset + data.Length;
        // What storage may hold: the committed size, or more where this holding stored blocks beyond it.
        var storedSize = Math.Max(Inode!.Size, Size);
        long? stamp = null; // one for every block this call stores: each is stored at most once per call
        for (var index = offset / BlockSize; index * BlockSize < end; index++)
        {
            var blockStart = index * BlockSize;
            var from = (int)Math.Max(0, offset - blockStart);
            var to = (int)Math.Min(BlockSize, end - blockStart);
            if (!_dirty.ContainsKey(index) && from == 0 && to == BlockSize && data.Length == BlockSize && DirtyBlock.Adopt(owner, BlockSize) is { } whole)
            {
                _dirty[index] = whole;
                await StartBlockWriteAsync(index, stamp ??= Stamps!.Next(), ct).ConfigureAwait(false);
                continue;
            }
            // A partial block full of ranges stores them first (this call's stamp) and starts afresh.
            if (_dirty.TryGetValue(index, out var buffered) && !buffered.Takes(from, to))
                await StartBlockWriteAsync(index, stamp ??= Stamps!.Next(), ct).ConfigureAwait(false);
            if (!_dirty.TryGetValue(index, out var block))
            {
                var extent = Allocated!.Contains(index) ? (int)Math.Clamp(storedSize - blockStart, 0, BlockSize) : 0;
                _dirty[index] = block = new DirtyBlock(BlockSize, extent);
            }
            var held = block.PartialBytes;
            block.Write(from, data.Span.Slice((int)(blockStart + from - offset), to - from));
            _partialBytes += block.PartialBytes - held;
            if (block.Length == BlockSize && !block.Partial) await StartBlockWriteAsync(index, stamp ??= Stamps!.Next(), ct).ConfigureAwait(false);
        }
        Size = Math.Max(Size, end);
        MetadataDirty = true;
        LastWrite = DateTime.UtcNow;
        if (_dirty.Count > _options.WriteBackBlocks && _dirty.Where(d => !d.Value.Partial).Select(d => d.Key).ToList() is { } wholeBlocks && wholeBlocks.Count > _options.WriteBackBlocks)
            foreach (var index in wholeBlocks.Order().Take(wholeBlocks.Count - _options.WriteBackBlocks))
                await StartBlockWriteAsync(index, stamp ??= Stamps!.Next(), ct).ConfigureAwait(false);
        if (_partialBytes > _options.WriteBackSliceBytes)
            foreach (var index in _dirty.Where(d => d.Value.Partial).Select(d => d.Key).Order().ToList())
                await StartBlockWriteAsync(index, stamp ??= Stamps!.Next(), ct).ConfigureAwait(false);
        await StartCompactionsAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts storing every buffered block and waits for all in flight, then runs the compactions due (so a file
    /// written by many short holdings gets compacted too); throws the first error any of them met.
    /// </summary>
    public async Task StoreBufferedAsync(CancellationToken ct)
    {
        if (_dirty.Count > 0)
        {
            var stamp = Stamps!.Next();
            foreach (var index in _dirty.Keys.Order().ToList()) await StartBlockWriteAsync(index, stamp, ct).ConfigureAwait(false);
        }
        while (_inFlight.Count > 0) await AwaitOldestWriteAsync().ConfigureAwait(false);
        if (_writeBackError is null) await StartCompactionsAsync(ct).ConfigureAwait(false);
        while (_inFlight.Count > 0) await AwaitOldestWriteAsync().ConfigureAwait(false);
        ThrowWriteBackError();
    }

    /// <summary>
    /// Starts storing one buffered block (its index row first, so every stored block is indexed), waiting if too many
    /// are in flight: a whole block as the block's row, a partial one as a slice.
    /// </summary>
    private async Task StartBlockWriteAsync(long index, long stamp, CancellationToken ct)
    {
        if (!_dirty.Remove(index, out var block)) return;
        _partialBytes -= block.PartialBytes;
        WriterLock!.ThrowIfLost(Id.ToString());
        var isNew = Allocated!.Add(index);
        var countStored = false;
        if (block.Partial)
        {
            // Fetched copies of the block were merged with this range while it was buffered; it is stored now.
            DropReadCache();
            countStored = !isNew && !_slicesStored.ContainsKey(index); // this holding's first slice here: what did earlier ones leave?
            var (count, bytes) = _slicesStored.GetValueOrDefault(index);
            _slicesStored[index] = (count + 1, bytes + block.PartialBytes);
            if (count + 1 >= _options.CompactAfterSlices || bytes + block.PartialBytes >= BlockSize) _compactionsDue.Add(index);
        }
        else
        {
            _slicesStored.Remove(index); // the row supersedes them
            _compactionsDue.Remove(index);
        }
        _inFlight.Add((index, WriteBlockAsync(index, block, isNew, countStored, stamp, ct), block.Partial));
        await BoundInFlightAsync().ConfigureAwait(false);
    }

    private async Task WriteBlockAsync(long index, DirtyBlock block, bool isNew, bool countStored, long stamp, CancellationToken ct)
    {
        // A partial block holds only its ranges' bytes: slices in flight (SlicesInFlight of them) cost those, not a block each.
        var ranges = block.Partial ? block.Ranges : null;
        try
        {
            if (isNew) await _store.AddBlockIndexAsync(Id, index, stamp, ct).ConfigureAwait(false);
            if (ranges is not null)
            {
                await _store.WriteSliceAsync(Id, index, ranges, stamp, ct).ConfigureAwait(false);
                if (countStored) _slicesFound[index] = await _store.CountSlicesAsync(Id, index, _options.CompactAfterSlices, ct).ConfigureAwait(false);
            }
            else await _store.WriteBlockAsync(Id, index, block.Buffer.AsMemory(0, block.Length), stamp, ct).ConfigureAwait(false);
        }
        finally
        {
            block.Dispose();
        }
    }

    /// <summary>
    /// Waits while too many writes are in flight: <see cref="FileSystemOptions.BlocksInFlight"/> whole blocks and
    /// compactions (each moves a block), <see cref="FileSystemOptions.SlicesInFlight"/> in all. Slices are small, and a
    /// random small write costs one slice write's round trip: their throughput is how many are under way at once.
    /// </summary>
    private async Task BoundInFlightAsync()
    {
        while (_inFlight.Count >= _options.SlicesInFlight || _inFlight.Count(w => !w.Slice) >= _options.BlocksInFlight)
            await AwaitOldestWriteAsync().ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ compaction

    /// <summary>
    /// Slices this holding stored into each block since the block's row was last written, and their bytes: a block
    /// is compacted after <see cref="FileSystemOptions.CompactAfterSlices"/> of them or a block's worth of bytes, so a
    /// read never merges more than that.
    /// </summary>
    private readonly Dictionary<long, (int Count, long Bytes)> _slicesStored = new();

    /// <summary>Blocks that reached <see cref="FileSystemOptions.CompactAfterSlices"/>, compacted at the end of the next write or at flush.</summary>
    private readonly HashSet<long> _compactionsDue = new();

    /// <summary>
    /// Slices a block held once this holding stored its first one there (earlier holdings' included), counted by that
    /// write in flight: slices left by many short holdings, each storing a few, add up to a compaction too.
    /// </summary>
    private readonly ConcurrentDictionary<long, int> _slicesFound = new();

    /// <summary>
    /// Compacts the blocks due, in flight, under one stamp taken after every stamp their slices carry. Started only
    /// after the stores of a write call or flush: a store of the same call, stamped below the compaction, would
    /// otherwise lose to it. A write or a flush thus takes two stamps.
    /// </summary>
    private async Task StartCompactionsAsync(CancellationToken ct)
    {
        foreach (var (index, found) in _slicesFound)
        {
            _slicesFound.TryRemove(index, out _);
            // A whole-block write since has superseded them (and will be cleared by the next compaction).
            if (!_slicesStored.TryGetValue(index, out var stored)) continue;
            _slicesStored[index] = stored with { Count = Math.Max(stored.Count, found) };
            if (found >= _options.CompactAfterSlices) _compactionsDue.Add(index);
        }
        if (_compactionsDue.Count == 0) return;
        var stamp = Stamps!.Next();
        foreach (var index in _compactionsDue.Order().ToList())
        {
            _compactionsDue.Remove(index);
            _slicesStored.Remove(index);
            WriterLock!.ThrowIfLost(Id.ToString());
            var earlier = _inFlight.Where(w => w.Index == index).Select(w => w.Write).ToArray();
            _inFlight.Add((index, CompactAsync(index, earlier, stamp, ct), false));
            await BoundInFlightAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes the merged block back as its row at <paramref name="stamp"/>, then deletes the slices it folded in. Once
    /// this block's earlier writes have landed, every slice it has is stamped below <paramref name="stamp"/>: readers
    /// see the old row with its slices, then the new row (which supersedes them), then the row alone. Slices of later
    /// writes carry later stamps: they overlay the new row and survive the delete.
    /// </summary>
    private async Task CompactAsync(long index, Task[] earlier, long stamp, CancellationToken ct)
    {
        await Task.WhenAll(earlier).ConfigureAwait(false);
        if (await _store.ReadBlockAsync(Id, index, ct).ConfigureAwait(false) is not { } merged) return;
        await _store.WriteBlockAsync(Id, index, merged, stamp, ct).ConfigureAwait(false);
        await _store.DeleteFoldedSlicesAsync(Id, index, stamp, ct).ConfigureAwait(false);
    }

    private async Task AwaitOldestWriteAsync()
    {
        var (_, write, _) = _inFlight[0];
        _inFlight.RemoveAt(0);
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _writeBackError ??= e;
            Coherent = null;
        }
    }

    /// <summary>Keeps the first error of a write-back for the next write, flush or fsync to report (as POSIX does).</summary>
    public void NoteWriteBackError(Exception e)
    {
        _writeBackError ??= e;
        Coherent = null;
    }

    /// <summary>Reports (once) the first error of a write-back that failed.</summary>
    public void ThrowWriteBackError()
    {
        if (_writeBackError is not { } error) return;
        _writeBackError = null;
        throw error as FileSystemException ?? new FileSystemException(Errno.EIO, Id.ToString(), "storing written data failed: " + error.Message, error);
    }

    /// <summary>Forgets what was written and not stored (the lock that covered it went).</summary>
    public void DropBuffers()
    {
        foreach (var block in _dirty.Values) block.Dispose();
        _dirty.Clear();
        _partialBytes = 0;
        _inFlight.Clear();
        _slicesStored.Clear();
        _compactionsDue.Clear();
        _slicesFound.Clear();
        MetadataDirty = false;
        AttributesSet = false;
        Coherent = null;
        DropReadCache();
    }

    // ------------------------------------------------------------------ reading

    /// <summary>
    /// Block fetches done or in flight (read-ahead), shared by concurrent readers. Each is tagged with the cache
    /// generation it was started in; a write moves the generation on, so a fetch that raced a write is never served
    /// after it.
    /// </summary>
    private readonly ConcurrentDictionary<long, (long Generation, Task<ReadOnlyMemory<byte>?> Fetch)> _readCache = new();

    /// <summary>The fetches kept now, by block index (read-only: what read-ahead has under way).</summary>
    public IReadOnlyDictionary<long, (long Generation, Task<ReadOnlyMemory<byte>?> Fetch)> ReadCache => _readCache;

    private long _cacheGeneration;

    public long CacheGeneration => Interlocked.Read(ref _cacheGeneration);

    /// <summary>Forgets every fetched block: this client is changing the file, or another client did.</summary>
    public void DropReadCache()
    {
        Interlocked.Increment(ref _cacheGeneration);
        _readCache.Clear();
    }

    /// <summary>The highest block sequential reading has reached (-1 before any: a first read at 0 reads ahead).</summary>
    public long LastReadBlock { get; private set; } = -1;

    /// <summary>The size the last read of stored data found, -1 before any.</summary>
    public long SizeSeenByReads { get; private set; } = -1;

    /// <summary>The version the last read of stored data found: when another client changes the file, its cached blocks are stale.</summary>
    public InodeVersion? VersionSeenByReads { get; private set; }

    /// <summary>
    /// Starts fetching what a read at <paramref name="offset"/> wants by the size the last read saw, before the inode
    /// is read again, so that the two round trips overlap.
    /// </summary>
    public void PrefetchStored(long offset, int count, long generation)
    {
        var sizeSeen = SizeSeenByReads;
        if (sizeSeen > offset) StartFetches(WindowOf(offset, (int)Math.Min(count, sizeSeen - offset), sizeSeen), generation, buffered: false);
    }

    /// <summary>
    /// Notes the inode a read of stored data found; returns the cache generation to read in. Another client wrote
    /// since the blocks were fetched when the version moved (size, mtime or ctime, as NFS's rule has it, and the
    /// fence: a change by another holder that kept all three still moves it), so `tail -f` and Get-Content -Wait see
    /// what it appended.
    /// </summary>
    public long NoteStoredInode(Inode inode, long generation)
    {
        if (VersionSeenByReads != inode.Version) // the first such read too: blocks read under a writer's holding may be there
        {
            DropReadCache();
            generation = CacheGeneration;
        }
        VersionSeenByReads = inode.Version;
        SizeSeenByReads = inode.Size;
        return generation;
    }

    /// <summary>The blocks a read wants, and those it reads ahead when it continues the file's sequential reading.</summary>
    private readonly record struct ReadWindow(long First, long Last, long LastWanted, bool Sequential);

    /// <summary>
    /// A read counts as sequential when it starts at most <see cref="FileSystemOptions.ReadAheadBlocks"/> blocks
    /// behind, or right after, where the reading got to: the kernel sends its read-ahead requests in parallel and
    /// they may be served out of order; one that looks random would waste the read-ahead already under way.
    /// </summary>
    private ReadWindow WindowOf(long offset, int count, long size)
    {
        var first = offset / BlockSize;
        var last = (offset + count - 1) / BlockSize;
        var reached = LastReadBlock;
        var sequential = first <= reached + 1 && first >= reached - _options.ReadAheadBlocks;
        var lastWanted = sequential ? Math.Min(Math.Max(last, reached) + _options.ReadAheadBlocks, (size - 1) / BlockSize) : last;
        return new ReadWindow(first, last, lastWanted, sequential);
    }

    private Task<ReadOnlyMemory<byte>?>?[] StartFetches(ReadWindow window, long generation, bool buffered)
    {
        var fetches = new Task<ReadOnlyMemory<byte>?>?[window.Last - window.First + 1];
        for (var index = window.First; index <= window.LastWanted; index++)
        {
            if (buffered && _dirty.TryGetValue(index, out var dirty) && !dirty.Partial) continue; // a partial one is read merged
            var fetch = FetchBlock(index, generation);
            if (index <= window.Last) fetches[index - window.First] = fetch;
        }
        return fetches;
    }

    /// <summary>
    /// Copies the file's bytes into <paramref name="buffer"/>: this client's buffered blocks when <paramref name="buffered"/>
    /// (under the gate), else stored ones, fetched in parallel with read-ahead when reading sequentially.
    /// </summary>
    public async ValueTask<int> CopyOutAsync(long offset, Memory<byte> buffer, long size, long generation, bool buffered, CancellationToken ct)
    {
        if (offset >= size || buffer.Length == 0) return 0;
        var count = (int)Math.Min(buffer.Length, size - offset);
        var window = WindowOf(offset, count, size);
        var (first, last) = (window.First, window.Last);
        // A full block leaves the buffer as soon as its write starts: until that write lands, storage still holds
        // the old bytes, so this client's reads wait for its writes in flight (read-your-writes).
        if (buffered)
            while (_inFlight.Count > 0) await AwaitOldestWriteAsync().ConfigureAwait(false);
        var fetches = StartFetches(window, generation, buffered);
        for (var index = first; index <= last; index++)
        {
            var blockStart = index * BlockSize;
            var from = (int)Math.Max(0, offset - blockStart);
            var to = (int)Math.Min(BlockSize, offset + count - blockStart);
            var destination = buffer.Slice((int)(blockStart + from - offset), to - from);
            ReadOnlyMemory<byte> data;
            var dirty = buffered ? _dirty.GetValueOrDefault(index) : null;
            if (dirty is { Partial: false }) data = dirty.Buffer.AsMemory(0, dirty.Length);
            else
            {
                var stored = await fetches[index - first]!.WaitAsync(ct).ConfigureAwait(false);
                data = (dirty is null ? stored : Slice.Overlay(stored, long.MinValue, dirty.Overlays)) ?? ReadOnlyMemory<byte>.Empty;
            }
            var available = Math.Max(0, Math.Min(to, data.Length) - from);
            if (available > 0) data.Span.Slice(from, available).CopyTo(destination.Span);
            destination.Span[available..].Clear();
        }
        var reached = window.Sequential ? Math.Max(LastReadBlock, last) : last;
        LastReadBlock = reached;
        var keep = _options.ReadAheadBlocks;
        if (_readCache.Count > (keep * 2) + 2)
            foreach (var stale in _readCache.Keys.Where(k => k < reached - keep || k > reached + keep)) _readCache.TryRemove(stale, out _);
        return count;
    }

    /// <summary>
    /// The block's fetch of this cache generation, started now if there is none or the last one failed (fetches are
    /// shared by concurrent readers, so they outlive any one reader's cancellation).
    /// </summary>
    private Task<ReadOnlyMemory<byte>?> FetchBlock(long index, long generation) =>
        _readCache.AddOrUpdate(index,
            i => (generation, _store.ReadBlockAsync(Id, i, CancellationToken.None)),
            (i, cached) => cached.Generation == generation && !cached.Fetch.IsFaulted
                ? cached
                : (generation, _store.ReadBlockAsync(Id, i, CancellationToken.None))).Fetch;
}

/// <summary>
/// A block being assembled in memory. A whole one is a buffer of at least the block size and how much of it is valid,
/// rented from the pool or the array of a whole-block write whose owner it then keeps and disposes. A block that holds
/// stored data the writes so far do not cover is <see cref="Partial"/>: it keeps only the ranges written (disjoint,
/// each in an array of its own, so memory follows the bytes written), stored together as one slice row.
/// </summary>
internal sealed class DirtyBlock : IDisposable
{
    /// <summary>The most ranges one partial block keeps apart (one slice row's worth).</summary>
    public const int MaxRanges = 64;

    private IMemoryOwner<byte>? _owner;
    private readonly int _blockSize;
    private List<Run>? _runs;

    /// <summary>A block storage may hold data in the first <paramref name="extent"/> bytes of (0: none, so the bytes not written read as zeros).</summary>
    public DirtyBlock(int blockSize, int extent)
    {
        _blockSize = blockSize;
        Extent = extent;
        if (extent > 0)
        {
            Buffer = Array.Empty<byte>();
            _runs = new List<Run>();
        }
        else Buffer = ArrayPool<byte>.Shared.Rent(blockSize);
    }

    private DirtyBlock(byte[] buffer, int length, IMemoryOwner<byte> owner)
    {
        _blockSize = length;
        Buffer = buffer;
        Length = length;
        _owner = owner;
    }

    /// <summary>
    /// A full block made of the array <paramref name="owner"/> holds, when it holds one from index 0 (emptying
    /// <paramref name="owner"/>); null when there is no owner or its memory is not such an array.
    /// </summary>
    public static DirtyBlock? Adopt(System.Runtime.CompilerServices.StrongBox<IMemoryOwner<byte>?>? owner, int blockSize)
    {
        if (owner?.Value is not { } taken || !MemoryMarshal.TryGetArray<byte>(taken.Memory, out var segment) ||
            segment.Offset != 0 || segment.Count != blockSize) return null;
        owner.Value = null;
        return new DirtyBlock(segment.Array!, blockSize, taken);
    }

    /// <summary>A whole block's bytes (empty for a partial one).</summary>
    public byte[] Buffer { get; private set; }

    /// <summary>A whole block's bytes from the start that hold data (the rest of the file's block reads as zeros).</summary>
    public int Length { get; private set; }

    /// <summary>The bytes storage may hold in this block: a range from 0 to at least this knows all of it.</summary>
    private int Extent { get; }

    /// <summary>Only the ranges written are known; the rest of the block is what storage holds.</summary>
    public bool Partial => _runs is not null;

    /// <summary>The bytes a partial block's ranges hold (0 for a whole block).</summary>
    public int PartialBytes { get; private set; }

    /// <summary>A partial block's ranges, in position order (the slice row it is stored as).</summary>
    public IReadOnlyList<BlockRange> Ranges => _runs?.Select(r => new BlockRange(r.Start, r.Data.AsMemory(0, r.Length))).ToList() ?? (IReadOnlyList<BlockRange>)Array.Empty<BlockRange>();

    /// <summary>The known bytes as slices newer than anything stored, to lay over the stored block.</summary>
    public IEnumerable<Slice> Overlays => Slice.Of(long.MaxValue, Ranges);

    /// <summary>Whether a write of [<paramref name="from"/>, <paramref name="to"/>) can join this block (a partial one keeps at most <see cref="MaxRanges"/> apart).</summary>
    public bool Takes(int from, int to) => _runs is null || _runs.Count < MaxRanges || _runs.Exists(r => r.Start <= to && r.End >= from);

    /// <summary>
    /// Copies <paramref name="bytes"/> in at <paramref name="from"/> (which <see cref="Takes"/> must allow). A whole
    /// block's gap before it reads as zeros; a partial block whose ranges come to cover all stored data becomes whole.
    /// </summary>
    public void Write(int from, ReadOnlySpan<byte> bytes)
    {
        if (_runs is null)
        {
            if (from > Length) Buffer.AsSpan(Length, from - Length).Clear();
            bytes.CopyTo(Buffer.AsSpan(from));
            Length = Math.Max(Length, from + bytes.Length);
            return;
        }
        var to = from + bytes.Length;
        // The ranges this one overlaps or touches merge with it into one.
        var first = _runs.FindIndex(r => r.End >= from);
        if (first < 0) first = _runs.Count;
        var last = first;
        while (last < _runs.Count && _runs[last].Start <= to) last++;
        var absorbed = _runs.GetRange(first, last - first);
        var merged = absorbed.Count > 0 ? absorbed[0].Absorb(absorbed, from, bytes, _blockSize) : Run.Of(from, bytes);
        PartialBytes += merged.Length - absorbed.Sum(r => r.Length);
        _runs.RemoveRange(first, absorbed.Count);
        _runs.Insert(first, merged);
        if (_runs is [{ Start: 0 } only] && only.End >= Extent) BecomeWhole(only);
    }

    private void BecomeWhole(Run only)
    {
        Buffer = ArrayPool<byte>.Shared.Rent(_blockSize);
        only.Data.AsSpan(0, only.Length).CopyTo(Buffer);
        Length = only.Length;
        PartialBytes = 0;
        _runs = null;
    }

    public void Dispose()
    {
        if (Buffer.Length == 0) return;
        if (_owner is not null) _owner.Dispose();
        else ArrayPool<byte>.Shared.Return(Buffer);
        _owner = null;
        Buffer = Array.Empty<byte>();
    }

    /// <summary>One range of a partial block: its bytes at the front of an array that grows by doubling, as appends come.</summary>
    private sealed class Run(int start, byte[] data, int length)
    {
        public int Start { get; } = start;
        public byte[] Data { get; } = data;
        public int Length { get; } = length;
        public int End => Start + Length;

        public static Run Of(int from, ReadOnlySpan<byte> bytes) => new(from, bytes.ToArray(), bytes.Length);

        /// <summary>
        /// This run (the first of <paramref name="runs"/>) merged with the others and the write: in place when the
        /// write lands within or just after it and its array has room, else in a new array.
        /// </summary>
        public Run Absorb(List<Run> runs, int from, ReadOnlySpan<byte> bytes, int blockSize)
        {
            var start = Math.Min(Start, from);
            var end = Math.Max(Math.Max(End, runs[^1].End), from + bytes.Length);
            var data = runs.Count == 1 && start == Start && end - start <= Data.Length
                ? Data
                : new byte[Math.Min(blockSize, Math.Max(end - start, start == Start ? 2 * Data.Length : 0))];
            if (!ReferenceEquals(data, Data))
                foreach (var r in runs) r.Data.AsSpan(0, r.Length).CopyTo(data.AsSpan(r.Start - start));
            bytes.CopyTo(data.AsSpan(from - start));
            return new Run(start, data, end - start);
        }
    }
}
