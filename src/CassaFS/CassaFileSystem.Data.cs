using CassaFS.Locks;

namespace CassaFS;

public sealed partial class CassaFileSystem
{
    /// <summary>open(2) of an existing inode: permission checks by the access mode; O_TRUNC truncates.</summary>
    public Task<FileHandle> OpenAsync(Guid id, OpenFlags flags, Caller caller, CancellationToken ct = default) => OpenInodeAsync(id, flags, caller, ct);

    /// <summary>open(2) with O_CREAT: creates a regular file, or opens the existing one (EEXIST with O_EXCL).</summary>
    public async Task<(FileHandle Handle, Inode Inode)> CreateAsync(Guid parent, string name, int mode, OpenFlags flags, Caller caller, CancellationToken ct = default)
    {
        Inode inode;
        try
        {
            inode = await CreateNodeAsync(parent, name, FileType.Regular, mode, 0, null, caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST && !flags.HasFlag(OpenFlags.Exclusive))
        {
            inode = await LookupAsync(parent, name, caller, ct).ConfigureAwait(false);
            var opened = await OpenInodeAsync(inode.Id, flags, caller, ct).ConfigureAwait(false);
            return (opened, await GetAttrAsync(inode.Id, ct).ConfigureAwait(false));
        }
        // The creator may write the file it just made whatever mode it gave it (open(2) with O_CREAT).
        var handle = Track(inode.Id, flags, caller);
        try
        {
            await HoldAsync(handle.File, ct).ConfigureAwait(false);
        }
        catch
        {
            await ReleaseAsync(handle, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return (handle, inode);
    }

    /// <summary>Takes the handle (and, for this client's first, the file's hold) before reading the inode, so an unlink elsewhere either sees the hold or happened before this open.</summary>
    private async Task<FileHandle> OpenInodeAsync(Guid id, OpenFlags flags, Caller caller, CancellationToken ct)
    {
        var subject = id.ToString();
        var handle = Track(id, flags, caller);
        try
        {
            var first = await HoldAsync(handle.File, ct).ConfigureAwait(false);
            var inode = await LoadAsync(id, subject, ct).ConfigureAwait(false);
            // Its last name went before this client held it: the open comes after the unlink, so the file is gone for it.
            if (first && inode.Nlink == 0 && inode.Type == FileType.Regular) throw new FileSystemException(Errno.ENOENT, subject, "its last name was removed");
            if (inode.Type == FileType.Symlink) throw new FileSystemException(Errno.ELOOP, subject, "open follows no symbolic link here: resolve it first");
            var access = flags & OpenFlags.AccessModeMask;
            var wantsWrite = access is OpenFlags.WriteOnly or OpenFlags.ReadWrite || flags.HasFlag(OpenFlags.Truncate);
            if (inode.IsDirectory && wantsWrite) throw new FileSystemException(Errno.EISDIR, subject);
            if (wantsWrite) ThrowIfReadOnly(subject);
            var want = (access is OpenFlags.ReadOnly or OpenFlags.ReadWrite ? AccessMode.Read : 0) | (wantsWrite ? AccessMode.Write : 0);
            Permissions.Demand(inode, caller, want, subject);
            if (flags.HasFlag(OpenFlags.Truncate) && inode.Type == FileType.Regular && access != OpenFlags.ReadOnly)
                await TruncateAsync(inode.Id, 0, caller, handle, ct).ConfigureAwait(false);
            return handle;
        }
        catch
        {
            await ReleaseAsync(handle, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private FileHandle Track(Guid id, OpenFlags flags, Caller caller)
    {
        while (true)
        {
            var file = _open.GetOrAdd(id, i => new OpenFile(i, BlockSize));
            lock (file)
            {
                if (file.Handles < 0) continue; // being retired by the last release: take a fresh one
                file.Handles++;
            }
            return new FileHandle(Interlocked.Increment(ref _nextHandle), file, flags, caller);
        }
    }

    /// <summary>
    /// This client's hold on an open file (<see cref="LockKey.ForOpenFile"/>, shared), taken by its first handle and
    /// let go at its last close: another client's unlink purges the file only while nobody holds it. True when this
    /// call took it.
    /// </summary>
    private async Task<bool> HoldAsync(OpenFile file, CancellationToken ct)
    {
        Task<ILockHandle> hold;
        bool first;
        lock (file)
        {
            first = file.Hold is null;
            hold = file.Hold ??= _locks.AcquireAsync(new LockRequest(LockKey.ForOpenFile(file.Id), LockMode.Read)
            {
                Purpose = $"open by {_options.ClientName}",
                Timeout = _options.LockTimeout,
            }, CancellationToken.None).AsTask();
        }
        try
        {
            await hold.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (LockTimeoutException e)
        {
            throw new FileSystemException(Errno.EAGAIN, file.Id.ToString(), e.Message, e);
        }
        return first;
    }

    /// <summary>Lets go of this client's hold on a file at its last close (a hold that failed to come has nothing to release).</summary>
    private static async Task ReleaseHoldAsync(OpenFile file)
    {
        var hold = file.Hold;
        file.Hold = null;
        if (hold is null) return;
        ILockHandle handle;
        try
        {
            handle = await hold.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return;
        }
        await handle.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>read(2): reads at <paramref name="offset"/>; holes and the ends of short blocks read as zeros. Returns the byte count (0 at end of file).</summary>
    public async ValueTask<int> ReadAsync(FileHandle handle, long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        if (!handle.CanRead || handle.Released) throw new FileSystemException(Errno.EBADF, handle.Inode.ToString(), "not open for reading");
        if (offset < 0) throw new FileSystemException(Errno.EINVAL, handle.Inode.ToString(), "negative offset");
        var file = handle.File;
        if (file.WriterLock is null && !file.MetadataDirty && file.Dirty.Count == 0)
        {
            // Nothing of this client's is buffered: read what is stored without the gate, so that the kernel's
            // parallel read-ahead requests overlap instead of queueing behind each other.
            var generation = file.CacheGeneration;
            // The inode is loaded on every read (its size may have moved in another client); the blocks the last
            // size seen says this read wants are fetched meanwhile, so that the two round trips overlap.
            var sizeSeen = file.SizeSeenByReads;
            if (sizeSeen > offset) StartFetches(file, WindowOf(file, offset, (int)Math.Min(buffer.Length, sizeSeen - offset), sizeSeen), generation, buffered: false);
            var inode = await LoadForReadAsync(handle, ct).ConfigureAwait(false);
            // Another client wrote since the blocks were fetched (NFS's rule: a changed size or mtime makes the cached
            // data stale), so `tail -f` and Get-Content -Wait see what it appended.
            var change = (inode.Mtime, inode.Ctime);
            if (file.ChangeSeenByReads is { } seen && (seen != change || inode.Size != sizeSeen))
            {
                file.DropReadCache();
                generation = file.CacheGeneration;
            }
            file.ChangeSeenByReads = change;
            file.SizeSeenByReads = inode.Size;
            return await CopyOutAsync(file, offset, buffer, inode.Size, generation, buffered: false, ct).ConfigureAwait(false);
        }
        await file.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var size = file.WriterLock is not null || file.MetadataDirty ? file.Size : (await LoadForReadAsync(handle, ct).ConfigureAwait(false)).Size;
            return await CopyOutAsync(file, offset, buffer, size, file.CacheGeneration, buffered: true, ct).ConfigureAwait(false);
        }
        finally
        {
            file.Gate.Release();
        }
    }

    private async Task<Inode> LoadForReadAsync(FileHandle handle, CancellationToken ct)
    {
        var inode = await LoadAsync(handle.Inode, handle.Inode.ToString(), ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, handle.Inode.ToString());
        if (!handle.AtimeConsidered)
        {
            handle.AtimeConsidered = true;
            await UpdateAtimeAsync(inode, ct).ConfigureAwait(false);
        }
        return inode;
    }

    /// <summary>The blocks a read wants, and those it reads ahead when it continues the file's sequential reading.</summary>
    private readonly record struct ReadWindow(long First, long Last, long LastWanted, bool Sequential);

    /// <summary>
    /// A read counts as sequential when it starts at most <see cref="MountOptions.ReadAheadBlocks"/> blocks
    /// behind, or right after, where the reading got to: the kernel sends its read-ahead requests in parallel and
    /// they may be served out of order; one that looks random would waste the read-ahead already under way.
    /// </summary>
    private ReadWindow WindowOf(OpenFile file, long offset, int count, long size)
    {
        var first = offset / BlockSize;
        var last = (offset + count - 1) / BlockSize;
        var reached = file.LastReadBlock;
        var sequential = first <= reached + 1 && first >= reached - _options.ReadAheadBlocks;
        var lastWanted = sequential ? Math.Min(Math.Max(last, reached) + _options.ReadAheadBlocks, (size - 1) / BlockSize) : last;
        return new ReadWindow(first, last, lastWanted, sequential);
    }

    private Task<ReadOnlyMemory<byte>?>?[] StartFetches(OpenFile file, ReadWindow window, long generation, bool buffered)
    {
        var fetches = new Task<ReadOnlyMemory<byte>?>?[window.Last - window.First + 1];
        for (var index = window.First; index <= window.LastWanted; index++)
        {
            if (buffered && file.Dirty.ContainsKey(index)) continue;
            var fetch = FetchBlock(file, index, generation);
            if (index <= window.Last) fetches[index - window.First] = fetch;
        }
        return fetches;
    }

    /// <summary>Copies the file's bytes into <paramref name="buffer"/>: this client's buffered blocks when <paramref name="buffered"/>, else stored ones, fetched in parallel with read-ahead when reading sequentially.</summary>
    private async ValueTask<int> CopyOutAsync(OpenFile file, long offset, Memory<byte> buffer, long size, long generation, bool buffered, CancellationToken ct)
    {
        if (offset >= size || buffer.Length == 0) return 0;
        var count = (int)Math.Min(buffer.Length, size - offset);
        var window = WindowOf(file, offset, count, size);
        var (first, last) = (window.First, window.Last);
        // A full block leaves the buffer as soon as its write starts: until that write lands, storage still holds
        // the old bytes, so this client's reads wait for its writes in flight (read-your-writes).
        if (buffered)
            while (file.InFlight.Count > 0) await AwaitOldestWriteAsync(file).ConfigureAwait(false);
        var fetches = StartFetches(file, window, generation, buffered);
        for (var index = first; index <= last; index++)
        {
            var blockStart = index * BlockSize;
            var from = (int)Math.Max(0, offset - blockStart);
            var to = (int)Math.Min(BlockSize, offset + count - blockStart);
            var destination = buffer.Slice((int)(blockStart + from - offset), to - from);
            ReadOnlyMemory<byte> data;
            if (buffered && file.Dirty.TryGetValue(index, out var dirty)) data = dirty.Buffer.AsMemory(0, dirty.Length);
            else data = await fetches[index - first]!.WaitAsync(ct).ConfigureAwait(false) ?? ReadOnlyMemory<byte>.Empty;
            var available = Math.Max(0, Math.Min(to, data.Length) - from);
            if (available > 0) data.Span.Slice(from, available).CopyTo(destination.Span);
            destination.Span[available..].Clear();
        }
        var reached = window.Sequential ? Math.Max(file.LastReadBlock, last) : last;
        file.LastReadBlock = reached;
        var keep = _options.ReadAheadBlocks;
        if (file.ReadCache.Count > (keep * 2) + 2)
            foreach (var stale in file.ReadCache.Keys.Where(k => k < reached - keep || k > reached + keep)) file.ReadCache.TryRemove(stale, out _);
        return count;
    }

    /// <summary>
    /// The block's fetch of this cache generation, started now if there is none or the last one failed (fetches are
    /// shared by concurrent readers, so they outlive any one reader's cancellation).
    /// </summary>
    private Task<ReadOnlyMemory<byte>?> FetchBlock(OpenFile file, long index, long generation) =>
        file.ReadCache.AddOrUpdate(index,
            i => (generation, _store.ReadBlockAsync(file.Id, i, CancellationToken.None)),
            (i, cached) => cached.Generation == generation && !cached.Fetch.IsFaulted
                ? cached
                : (generation, _store.ReadBlockAsync(file.Id, i, CancellationToken.None))).Fetch;

    /// <summary>relatime, Linux's default: a read moves atime only when it is not newer than mtime/ctime or is a day old.</summary>
    private async Task UpdateAtimeAsync(Inode inode, CancellationToken ct)
    {
        if (_options.ReadOnly) return;
        var now = Timespec.Now;
        var dayOld = now.TotalNanoseconds - inode.Atime.TotalNanoseconds > 86_400_000_000_000L;
        if (inode.Atime <= inode.Mtime || inode.Atime <= inode.Ctime || dayOld)
            await TouchAsync(inode with { Atime = now }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// write(2). Data goes into this client's write-back buffer; full blocks are stored at once (up to
    /// <see cref="MountOptions.BlocksInFlight"/> in flight), partial ones when they fill up or at flush. The
    /// writer keeps the inode lock across consecutive writes. An error storing a block is reported by the next
    /// write, flush or fsync, as POSIX write-back does.
    /// </summary>
    public async ValueTask<int> WriteAsync(FileHandle handle, long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        if (!handle.CanWrite || handle.Released) throw new FileSystemException(Errno.EBADF, handle.Inode.ToString(), "not open for writing");
        ThrowIfReadOnly(handle.Inode.ToString());
        if (offset < 0) throw new FileSystemException(Errno.EINVAL, handle.Inode.ToString(), "negative offset");
        var file = handle.File;
        await file.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowWriteBackError(file);
            await EnsureWriterAsync(file, ct).ConfigureAwait(false);
            if (handle.Flags.HasFlag(OpenFlags.Append)) offset = file.Size;
            var end = offset + data.Length;
            if (end > MaxFileSize) throw new FileSystemException(Errno.EFBIG, file.Id.ToString(), $"files are at most {MaxFileSize} bytes");
            if (data.IsEmpty) return 0;
            file.DropReadCache();
            var committedSize = file.Inode!.Size;
            long? stamp = null; // one for every block this call stores: each is stored at most once per call
            for (var index = offset / BlockSize; index * BlockSize < end; index++)
            {
                var blockStart = index * BlockSize;
                var from = (int)Math.Max(0, offset - blockStart);
                var to = (int)Math.Min(BlockSize, end - blockStart);
                if (!file.Dirty.TryGetValue(index, out var block))
                {
                    block = new DirtyBlock(BlockSize);
                    file.Dirty[index] = block;
                    // A partial write inside stored data must keep the bytes around it: read the block once.
                    var coversStored = from == 0 && to >= Math.Min(BlockSize, committedSize - blockStart);
                    if (!coversStored && blockStart < committedSize && file.Allocated!.Contains(index))
                    {
                        // A full block leaves the buffer as soon as its write starts; until that write lands, storage
                        // still holds the older bytes, and a read-modify-write on them would undo it.
                        while (file.InFlight.Any(w => w.Index == index)) await AwaitOldestWriteAsync(file).ConfigureAwait(false);
                        var stored = await _store.ReadBlockAsync(file.Id, index, ct).ConfigureAwait(false);
                        if (stored is { } bytes)
                        {
                            bytes.Span.CopyTo(block.Buffer);
                            block.Length = bytes.Length;
                        }
                    }
                }
                if (from > block.Length) block.Buffer.AsSpan(block.Length, from - block.Length).Clear();
                data.Span.Slice((int)(blockStart + from - offset), to - from).CopyTo(block.Buffer.AsSpan(from));
                block.Length = Math.Max(block.Length, to);
                if (block.Length == BlockSize) await StartBlockWriteAsync(file, index, stamp ??= file.Stamps!.Next(), ct).ConfigureAwait(false);
            }
            var now = Timespec.Now;
            file.Size = Math.Max(file.Size, end);
            file.Inode = file.Inode with { Mtime = now, Ctime = now, Mode = Permissions.ModeAfterWrite(file.Inode, handle.Caller) };
            file.MetadataDirty = true;
            file.LastWrite = DateTime.UtcNow;
            if (file.Dirty.Count > _options.WriteBackBlocks)
                foreach (var index in file.Dirty.Keys.Order().Take(file.Dirty.Count - _options.WriteBackBlocks).ToList())
                    await StartBlockWriteAsync(file, index, stamp ??= file.Stamps!.Next(), ct).ConfigureAwait(false);
            return data.Length;
        }
        finally
        {
            file.Gate.Release();
        }
    }

    /// <summary>
    /// Takes the inode lock for a burst of writes and loads what the writer needs (the inode, which blocks exist).
    /// Leaves stamps for one operation and the flush after it; a holding that has fewer commits and takes the lock again.
    /// </summary>
    private async Task EnsureWriterAsync(OpenFile file, CancellationToken ct)
    {
        if (file.WriterLock is { AllHeld: true })
        {
            if (file.Stamps!.Left > BlockStamps.PerOperation) return;
            await FlushFileAsync(file, ct).ConfigureAwait(false);
            await ReleaseWriterLockAsync(file).ConfigureAwait(false);
        }
        else if (file.WriterLock is not null)
        {
            // The lock went (suspended or lost) with changes pending: they cannot be committed safely.
            var hadChanges = file.MetadataDirty || file.Dirty.Count > 0;
            await ReleaseWriterLockAsync(file).ConfigureAwait(false);
            DropBuffers(file);
            if (hadChanges) throw new FileSystemException(Errno.EIO, file.Id.ToString(), "the file's lock was lost with writes not yet stored; they are discarded");
        }
        file.WriterLock = await LockAsync(new[] { (LockKey.ForInode(file.Id), LockMode.Write) }, $"write {file.Id}", ct).ConfigureAwait(false);
        file.Stamps = new BlockStamps(file.WriterLock.TokenFor(LockKey.ForInode(file.Id)));
        var inode = await LoadAsync(file.Id, file.Id.ToString(), ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, file.Id.ToString());
        file.Inode = inode;
        file.Size = inode.Size;
        file.DropReadCache();
        var allocated = new HashSet<long>();
        await foreach (var index in _store.BlockIndexesAsync(file.Id, 0, ct).ConfigureAwait(false)) allocated.Add(index);
        file.Allocated = allocated;
        // Blocks beyond the size are left by a crash during truncate: remove them before the file grows over them.
        var beyond = allocated.Where(i => i * BlockSize >= inode.Size).ToList();
        if (beyond.Count > 0)
        {
            var stamp = file.Stamps.Next();
            await Task.WhenAll(beyond.Select(i => _store.DeleteBlockAsync(file.Id, i, stamp, ct))).ConfigureAwait(false);
            await Task.WhenAll(beyond.Select(i => _store.DeleteBlockIndexAsync(file.Id, i, stamp, ct))).ConfigureAwait(false);
            allocated.ExceptWith(beyond);
            file.MetadataDirty = true;
        }
    }

    /// <summary>Starts storing one buffered block (its index row first, so every stored block is indexed), waiting if too many are in flight.</summary>
    private async Task StartBlockWriteAsync(OpenFile file, long index, long stamp, CancellationToken ct)
    {
        if (!file.Dirty.Remove(index, out var block)) return;
        file.WriterLock!.ThrowIfLost(file.Id.ToString());
        var isNew = file.Allocated!.Add(index);
        var write = WriteBlockAsync(file.Id, index, block, isNew, stamp, ct);
        file.InFlight.Add((index, write));
        while (file.InFlight.Count >= _options.BlocksInFlight) await AwaitOldestWriteAsync(file).ConfigureAwait(false);
    }

    private async Task WriteBlockAsync(Guid id, long index, DirtyBlock block, bool isNew, long stamp, CancellationToken ct)
    {
        try
        {
            if (isNew) await _store.AddBlockIndexAsync(id, index, stamp, ct).ConfigureAwait(false);
            await _store.WriteBlockAsync(id, index, block.Buffer.AsMemory(0, block.Length), stamp, ct).ConfigureAwait(false);
        }
        finally
        {
            block.Dispose();
        }
    }

    private static async Task AwaitOldestWriteAsync(OpenFile file)
    {
        var (_, write) = file.InFlight[0];
        file.InFlight.RemoveAt(0);
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            file.WriteBackError ??= e;
        }
    }

    private static void ThrowWriteBackError(OpenFile file)
    {
        if (file.WriteBackError is not { } error) return;
        file.WriteBackError = null;
        throw error as FileSystemException ?? new FileSystemException(Errno.EIO, file.Id.ToString(), "storing written data failed: " + error.Message, error);
    }

    /// <summary>Stores every buffered block, waits for those in flight, then commits size, block count and times (fenced).</summary>
    private async Task FlushFileAsync(OpenFile file, CancellationToken ct)
    {
        if (file.WriterLock is null)
        {
            ThrowWriteBackError(file);
            return;
        }
        if (file.Dirty.Count > 0)
        {
            var stamp = file.Stamps!.Next();
            foreach (var index in file.Dirty.Keys.Order().ToList()) await StartBlockWriteAsync(file, index, stamp, ct).ConfigureAwait(false);
        }
        while (file.InFlight.Count > 0) await AwaitOldestWriteAsync(file).ConfigureAwait(false);
        ThrowWriteBackError(file);
        if (!file.MetadataDirty) return;
        var pending = file.Inode!;
        var size = file.Size;
        var blocks = file.Allocated!.Count;
        Inode committed;
        try
        {
            committed = await CommitAsync(file.WriterLock, file.Id, file.Id.ToString(), stored => stored with
            {
                Size = size,
                Blocks = blocks,
                Mtime = pending.Mtime,
                Ctime = pending.Ctime,
                Mode = pending.Mode,
            }, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.ESTALE)
        {
            // A later holder has committed: this holding is over, and what it buffered cannot be stored.
            DropBuffers(file);
            await ReleaseWriterLockAsync(file).ConfigureAwait(false);
            throw;
        }
        await _store.AddUsageAsync(blocks - file.Inode!.Blocks, 0, ct).ConfigureAwait(false);
        file.Inode = committed;
        file.MetadataDirty = false;
    }

    private static async Task ReleaseWriterLockAsync(OpenFile file)
    {
        var held = file.WriterLock;
        file.WriterLock = null;
        file.Stamps = null;
        file.Allocated = null;
        if (held is not null) await held.DisposeAsync().ConfigureAwait(false);
    }

    private static void DropBuffers(OpenFile file)
    {
        foreach (var block in file.Dirty.Values) block.Dispose();
        file.Dirty.Clear();
        file.InFlight.Clear();
        file.MetadataDirty = false;
        file.DropReadCache();
    }

    /// <summary>flush (close of one descriptor): stores what this client buffered and commits the metadata.</summary>
    public Task FlushAsync(FileHandle handle, CancellationToken ct = default) => WithGateAsync(handle.File, f => FlushFileAsync(f, ct), ct);

    /// <summary>fsync(2): after it returns, the data written so far survives this client's crash.</summary>
    public Task FsyncAsync(FileHandle handle, CancellationToken ct = default) => FlushAsync(handle, ct);

    /// <summary>release (last close of a handle): flushes, lets go of the writer lock, and purges a file unlinked while open.</summary>
    public async Task ReleaseAsync(FileHandle handle, CancellationToken ct = default)
    {
        if (handle.Released) return;
        handle.Released = true;
        var file = handle.File;
        await file.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            try
            {
                await FlushFileAsync(file, ct).ConfigureAwait(false);
            }
            finally
            {
                bool last;
                lock (file)
                {
                    file.Handles--;
                    last = file.Handles == 0;
                    if (last) file.Handles = -1;
                }
                if (last)
                {
                    await ReleaseWriterLockAsync(file).ConfigureAwait(false);
                    _open.TryRemove(new KeyValuePair<Guid, OpenFile>(file.Id, file));
                    // Its last name may have gone (here or on another client) while it was open: the last holder purges it.
                    await ReleaseHoldAsync(file).ConfigureAwait(false);
                    if (await _store.GetInodeAsync(file.Id, ct).ConfigureAwait(false) is { Nlink: 0 } inode)
                        await PurgeUnlessOpenAsync(inode, ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            file.Gate.Release();
        }
    }

    /// <summary>
    /// truncate(2): growing adds a hole (nothing stored); shrinking cuts the boundary block first (so its tail reads
    /// as zeros if the file grows again), commits the new size, then deletes the blocks beyond it.
    /// </summary>
    private async Task TruncateAsync(Guid id, long size, Caller caller, FileHandle? handle, CancellationToken ct)
    {
        if (size < 0) throw new FileSystemException(Errno.EINVAL, id.ToString(), "negative size");
        if (size > MaxFileSize) throw new FileSystemException(Errno.EFBIG, id.ToString(), $"files are at most {MaxFileSize} bytes");
        var inode = await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, id.ToString());
        if (inode.Type != FileType.Regular) throw new FileSystemException(Errno.EINVAL, id.ToString(), "only regular files have a size to set");
        if (handle is null || !handle.CanWrite && !handle.Flags.HasFlag(OpenFlags.Truncate))
            Permissions.Demand(inode, caller, AccessMode.Write, id.ToString());

        var temporary = handle is null ? Track(inode.Id, OpenFlags.WriteOnly, caller) : null;
        var file = (handle ?? temporary)!.File;
        try
        {
            await WithGateAsync(file, async f =>
            {
                await EnsureWriterAsync(f, ct).ConfigureAwait(false);
                await FlushFileAsync(f, ct).ConfigureAwait(false);
                var old = f.Inode!;
                var keepBlocks = (size + BlockSize - 1) / BlockSize;
                var boundary = size / BlockSize;
                var cut = (int)(size % BlockSize);
                var stamp = f.Stamps!.Next();
                if (size < old.Size && cut != 0 && f.Allocated!.Contains(boundary))
                {
                    var stored = await _store.ReadBlockAsync(f.Id, boundary, ct).ConfigureAwait(false);
                    if (stored is { } bytes && bytes.Length > cut)
                        await _store.WriteBlockAsync(f.Id, boundary, bytes[..cut], stamp, ct).ConfigureAwait(false);
                }
                var allocated = f.Allocated!;
                var doomed = allocated.Where(i => i >= keepBlocks).Order().ToList();
                var now = Timespec.Now;
                var blocksLeft = allocated.Count - doomed.Count;
                f.Inode = await CommitAsync(f.WriterLock!, f.Id, f.Id.ToString(), stored => stored with
                {
                    Size = size,
                    Blocks = blocksLeft,
                    Mtime = size != old.Size || handle is not null ? now : stored.Mtime,
                    Ctime = size != old.Size || handle is not null ? now : stored.Ctime,
                    Mode = Permissions.ModeAfterWrite(stored, caller),
                }, ct).ConfigureAwait(false);
                f.Size = size;
                foreach (var chunk in doomed.Chunk(_options.BlocksInFlight))
                {
                    await Task.WhenAll(chunk.Select(i => _store.DeleteBlockAsync(f.Id, i, stamp, ct))).ConfigureAwait(false);
                    await Task.WhenAll(chunk.Select(i => _store.DeleteBlockIndexAsync(f.Id, i, stamp, ct))).ConfigureAwait(false);
                }
                allocated.ExceptWith(doomed);
                f.DropReadCache();
                if (doomed.Count > 0) await _store.AddUsageAsync(-doomed.Count, 0, ct).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            if (temporary is not null) await ReleaseAsync(temporary, ct).ConfigureAwait(false);
        }
    }

    private static async Task WithGateAsync(OpenFile file, Func<OpenFile, Task> action, CancellationToken ct)
    {
        await file.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await action(file).ConfigureAwait(false);
        }
        finally
        {
            file.Gate.Release();
        }
    }

    /// <summary>A writer that has gone quiet stores its buffer and lets go of the inode lock, so other clients can write.</summary>
    private async Task ReleaseIdleWritersAsync()
    {
        var period = TimeSpan.FromTicks(Math.Max(_options.WriterLockIdle.Ticks / 2, TimeSpan.FromMilliseconds(20).Ticks));
        using var timer = new PeriodicTimer(period);
        while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
        {
            foreach (var file in _open.Values)
            {
                if (file.WriterLock is null || DateTime.UtcNow - file.LastWrite < _options.WriterLockIdle) continue;
                if (!await file.Gate.WaitAsync(0).ConfigureAwait(false)) continue;
                try
                {
                    if (file.WriterLock is null || DateTime.UtcNow - file.LastWrite < _options.WriterLockIdle) continue;
                    try
                    {
                        await FlushFileAsync(file, _closing.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        file.WriteBackError ??= e;
                    }
                    await ReleaseWriterLockAsync(file).ConfigureAwait(false);
                }
                finally
                {
                    file.Gate.Release();
                }
            }
        }
    }
}
