using System.Buffers;
using System.Runtime.CompilerServices;
using CassaFS.Locks;

namespace CassaFS;

public sealed partial class CassaFileSystem
{
    /// <summary>The version this client's use of the open file <paramref name="id"/> agrees with (<see cref="FileHandle.CoherentVersion"/>); null when not open here.</summary>
    public InodeVersion? CoherentVersion(Guid id) => _open.TryGetValue(id, out var file) ? file.Coherent : null;

    /// <summary>open(2) of an existing inode: permission checks by the access mode; O_TRUNC truncates.</summary>
    public Task<FileHandle> OpenAsync(Guid id, OpenFlags flags, Caller caller, CancellationToken ct = default) => OpenInodeAsync(id, flags, caller, ct);

    /// <summary>open(2) with O_CREAT: creates a regular file, or opens the existing one (EEXIST with O_EXCL).</summary>
    public async Task<(FileHandle Handle, Inode Inode)> CreateAsync(Guid parent, string name, int mode, OpenFlags flags, Caller caller, CancellationToken ct = default)
    {
        // The creator may write the file it just made whatever mode it gave it (open(2) with O_CREAT). Its hold is
        // needed only once another client could remove its name: while this client keeps the directory's lock, none
        // can (a name moved or linked elsewhere takes the hold first), so the hold is taken only if the file is still
        // open when that lock goes, and a file closed before that (tar, touch, git's objects) never takes one.
        // Otherwise it is taken beside the create (its id is new: nobody else can know it yet), not after.
        var handle = Track(Guid.NewGuid(), flags, caller);
        Task<bool>? hold = null;
        void Locked(LockSet locks)
        {
            var file = handle.File;
            file.HoldDeferred = locks.BeforeLetGo(parent, file, () => HoldAsync(file, CancellationToken.None, ifOpen: true));
            if (file.HoldDeferred is null) hold = HoldAsync(file, ct);
        }
        // A creator that will write takes the new file's writer lock beside the create: its first write then waits for
        // no lock and reads nothing (the inode is the one it made, with no blocks). The id is new, so nobody can have
        // asked for that lock yet (a fresh request: one ZooKeeper transaction). Straight to the lock set, not
        // LockAsync: no writer of this client can hold a lock on an id just made.
        var writer = (flags & OpenFlags.AccessModeMask) is OpenFlags.WriteOnly or OpenFlags.ReadWrite
            ? LockSet.AcquireAsync(_locks, new[] { (LockKey.ForInode(handle.Inode), LockMode.Write) }, $"write {handle.Inode} by {_options.ClientName}", _options.LockTimeout, CancellationToken.None, fresh: true)
            : null;
        Inode inode;
        try
        {
            inode = await CreateNodeAsync(parent, name, FileType.Regular, mode, 0, null, caller, ct, handle.Inode, Locked).ConfigureAwait(false);
            if (hold is not null) await hold.ConfigureAwait(false);
            if (await WriterOrNothingAsync(writer).ConfigureAwait(false) is { } locks) await ArmWriterAsync(handle.File, locks, inode, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST && !flags.HasFlag(OpenFlags.Exclusive))
        {
            Forget(hold);
            await DiscardAsync(writer).ConfigureAwait(false);
            await ReleaseAsync(handle, CancellationToken.None).ConfigureAwait(false);
            inode = await LookupAsync(parent, name, caller, ct).ConfigureAwait(false);
            var opened = await OpenInodeAsync(inode.Id, flags, caller, ct).ConfigureAwait(false);
            return (opened, await GetAttrAsync(inode.Id, ct).ConfigureAwait(false));
        }
        catch
        {
            Forget(hold);
            if (handle.File.WriterLock is null) await DiscardAsync(writer).ConfigureAwait(false); // else the release lets go
            await ReleaseAsync(handle, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        handle.File.NoteOpened(inode);
        handle.OpenedVersion = inode.Version;
        return (handle, inode);
    }

    /// <summary>What <see cref="EnsureWriterAsync"/> would find for a file this client has just made, under the lock it took beside the create.</summary>
    private static Task ArmWriterAsync(OpenFile file, LockSet locks, Inode inode, CancellationToken ct) => file.GatedAsync(() =>
    {
        file.WriterLock = locks;
        file.Stamps = new BlockStamps(locks.TokenFor(LockKey.ForInode(file.Id)));
        file.NoteLoaded(inode);
        file.Inode = inode;
        file.Size = inode.Size;
        file.Allocated = new HashSet<long>();
        file.LastWrite = DateTime.UtcNow; // idle from now: let go after WriterLockIdle unless a write comes
        return Task.CompletedTask;
    }, ct);

    /// <summary>The writer lock taken beside a create, or nothing when it could not be had: the first write takes it then, as after any open.</summary>
    private static async Task<LockSet?> WriterOrNothingAsync(Task<LockSet>? writer)
    {
        if (writer is null) return null;
        try
        {
            return await writer.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null; // a head start only: the create happened, and failing it now would say otherwise
        }
    }

    /// <summary>Lets go of the writer lock taken for a create that did not happen (if it was had at all).</summary>
    private static async Task DiscardAsync(Task<LockSet>? writer)
    {
        if (await WriterOrNothingAsync(writer).ConfigureAwait(false) is { } locks) await locks.DisposeAsync().ConfigureAwait(false);
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
            // Its last name is gone. Before this client held it, the open came after the unlink. While it is held
            // here, an open that did not come through a descriptor (/proc/self/fd) came by a name the kernel here
            // still caches, which only another client can have removed: on a local disk that name is gone.
            if (inode.Nlink == 0 && inode.Type == FileType.Regular && (first || !handle.File.UnlinkedHere))
                throw new FileSystemException(Errno.ENOENT, subject, "its last name was removed");
            handle.File.NoteOpened(inode);
            handle.OpenedVersion = inode.Version;
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
            var file = _open.GetOrAdd(id, i => new OpenFile(i, BlockSize, _store, _options));
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
    private async Task<bool> HoldAsync(OpenFile file, CancellationToken ct, bool ifOpen = false)
    {
        Task<ILockHandle> hold;
        bool first;
        Action? deferred;
        lock (file)
        {
            if (ifOpen && file.Handles <= 0) return false; // closed meanwhile: nothing to hold
            deferred = file.HoldDeferred;
            first = file.Hold is null && deferred is null;
            file.HoldDeferred = null;
            hold = file.Hold ??= _locks.AcquireAsync(new LockRequest(LockKey.ForOpenFile(file.Id), LockMode.Read)
            {
                Purpose = $"open by {_options.ClientName}",
                Timeout = _options.LockTimeout,
            }, CancellationToken.None).AsTask();
        }
        deferred?.Invoke(); // taken now: the directory's lock need not take it when it goes
        try
        {
            await hold.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (LockTimeoutException e)
        {
            throw LockSet.Busy(file.Id.ToString(), e);
        }
        return first;
    }

    /// <summary>Takes the hold a file this client created put off, before its name can leave the directory whose kept lock covered it.</summary>
    private async Task HoldIfDeferredAsync(Guid id, CancellationToken ct)
    {
        if (_open.TryGetValue(id, out var file) && file.HoldDeferred is not null) await HoldAsync(file, ct, ifOpen: true).ConfigureAwait(false);
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
        if (file.WriterLock is null && !file.MetadataDirty && !file.HasBuffered)
        {
            // Nothing of this client's is buffered: read what is stored without the gate, so that the kernel's
            // parallel read-ahead requests overlap instead of queueing behind each other. The inode is loaded on
            // every read (its size may have moved in another client); the blocks are fetched meanwhile.
            var generation = file.CacheGeneration;
            file.PrefetchStored(offset, buffer.Length, generation);
            var inode = await LoadForReadAsync(handle, ct).ConfigureAwait(false);
            generation = file.NoteStoredInode(inode, generation);
            return await file.CopyOutAsync(offset, buffer, inode.Size, generation, buffered: false, ct).ConfigureAwait(false);
        }
        return await file.GatedAsync(async () =>
        {
            var size = file.WriterLock is not null || file.MetadataDirty ? file.Size : (await LoadForReadAsync(handle, ct).ConfigureAwait(false)).Size;
            return await file.CopyOutAsync(offset, buffer, size, file.CacheGeneration, buffered: true, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    private async Task<Inode> LoadForReadAsync(FileHandle handle, CancellationToken ct)
    {
        var inode = await LoadAsync(handle.Inode, handle.Inode.ToString(), ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, handle.Inode.ToString());
        handle.File.NoteLoaded(inode);
        if (!handle.AtimeConsidered)
        {
            handle.AtimeConsidered = true;
            await UpdateAtimeAsync(inode, ct).ConfigureAwait(false);
        }
        return inode;
    }

    /// <summary>relatime, Linux's default: a read moves atime only when it is not newer than mtime/ctime or is a day old.</summary>
    private async Task UpdateAtimeAsync(Inode inode, CancellationToken ct)
    {
        if (_options.ReadOnly) return;
        var now = Timespec.Now;
        var dayOld = now.TotalNanoseconds - inode.Atime.TotalNanoseconds > 86_400_000_000_000L;
        if (inode.Atime <= inode.Mtime || inode.Atime <= inode.Ctime || dayOld)
            await _store.TouchAsync(inode.Id, new TouchedTimes(Atime: now), ct).ConfigureAwait(false); // no notice: no cache holds atime dear
    }

    /// <summary>
    /// write(2). Data goes into this client's write-back buffer; full blocks are stored at once (up to
    /// <see cref="FileSystemOptions.BlocksInFlight"/> in flight), partial ones when they fill up, leave the buffer or
    /// at flush (a range within stored data as a slice, up to <see cref="FileSystemOptions.SlicesInFlight"/>). The
    /// writer keeps the inode lock across consecutive writes. An error storing a block is reported by the next
    /// write, flush or fsync, as POSIX write-back does.
    /// </summary>
    public ValueTask<int> WriteAsync(FileHandle handle, long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default) =>
        WriteAsync(handle, offset, data, owner: null, ct);

    /// <summary>
    /// write(2) of bytes this call owns (a face's pooled receive buffer): a write of exactly one whole block keeps
    /// <paramref name="data"/>'s array as that block instead of copying it; <paramref name="data"/> is disposed once
    /// nothing uses it, whatever happens.
    /// </summary>
    public async ValueTask<int> WriteAsync(FileHandle handle, long offset, IMemoryOwner<byte> data, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var kept = new StrongBox<IMemoryOwner<byte>?>(data);
        try
        {
            return await WriteAsync(handle, offset, data.Memory, kept, ct).ConfigureAwait(false);
        }
        finally
        {
            kept.Value?.Dispose();
        }
    }

    /// <summary>write(2); <paramref name="owner"/> holds the owner of <paramref name="data"/>, if any, emptied when a block took it over.</summary>
    private async ValueTask<int> WriteAsync(FileHandle handle, long offset, ReadOnlyMemory<byte> data, StrongBox<IMemoryOwner<byte>?>? owner, CancellationToken ct)
    {
        if (!handle.CanWrite || handle.Released) throw new FileSystemException(Errno.EBADF, handle.Inode.ToString(), "not open for writing");
        ThrowIfReadOnly(handle.Inode.ToString());
        if (offset < 0) throw new FileSystemException(Errno.EINVAL, handle.Inode.ToString(), "negative offset");
        var file = handle.File;
        return await file.GatedAsync(async () =>
        {
            file.ThrowWriteBackError();
            await EnsureWriterAsync(file, ct).ConfigureAwait(false);
            if (handle.Flags.HasFlag(OpenFlags.Append)) offset = file.Size;
            if (offset + data.Length > MaxFileSize) throw new FileSystemException(Errno.EFBIG, file.Id.ToString(), $"files are at most {MaxFileSize} bytes");
            if (data.IsEmpty) return 0;
            await file.BufferWriteAsync(offset, data, owner, ct).ConfigureAwait(false);
            var now = Timespec.Now;
            file.Inode = file.Inode! with { Mtime = now, Ctime = now, Mode = Permissions.ModeAfterWrite(file.Inode, handle.Caller) };
            return data.Length;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes the inode lock for a burst of writes and loads what the writer needs (the inode, which blocks exist).
    /// Leaves stamps for one operation and the flush after it; a holding that has fewer commits and takes the lock again.
    /// </summary>
    private async Task EnsureWriterAsync(OpenFile file, CancellationToken ct)
    {
        if (file.WriterLock is { AllHeld: true })
        {
            if (file.Stamps!.Left >= BlockStamps.PerOperation) return;
            await FlushFileAsync(file, ct).ConfigureAwait(false);
            await file.ReleaseWriterLockAsync().ConfigureAwait(false);
        }
        else if (file.WriterLock is not null)
        {
            // The lock went (suspended or lost) with changes pending: they cannot be committed safely.
            var hadChanges = file.MetadataDirty || file.HasBuffered;
            await file.ReleaseWriterLockAsync().ConfigureAwait(false);
            file.DropBuffers();
            if (hadChanges) throw new FileSystemException(Errno.EIO, file.Id.ToString(), "the file's lock was lost with writes not yet stored; they are discarded");
        }
        file.WriterLock = await LockAsync(new[] { (LockKey.ForInode(file.Id), LockMode.Write) }, $"write {file.Id}", ct).ConfigureAwait(false);
        file.Stamps = new BlockStamps(file.WriterLock.TokenFor(LockKey.ForInode(file.Id)));
        var inode = await LoadAsync(file.Id, file.Id.ToString(), ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, file.Id.ToString());
        file.NoteLoaded(inode);
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

    /// <summary>Stores every buffered block, waits for those in flight, then commits size, block count and times (fenced).</summary>
    private async Task FlushFileAsync(OpenFile file, CancellationToken ct)
    {
        if (file.WriterLock is null)
        {
            file.ThrowWriteBackError();
            return;
        }
        Inode committed;
        var blocks = 0;
        try
        {
            if (!file.MetadataDirty)
            {
                await file.StoreBufferedAsync(ct).ConfigureAwait(false);
                return;
            }
            // The data and the metadata that covers it go out together (a flush answers once both are stored; one
            // that fails stored perhaps either, as any failed write-back may): one round of waiting, not two.
            var pending = file.Inode!;
            var size = file.Size;
            var attributes = file.AttributesSet;
            blocks = file.BlocksOnceStored;
            var storing = file.StoreBufferedAsync(ct);
            var committing = CommitAsync(file.WriterLock, file.Id, file.Id.ToString(), stored => stored with
            {
                Size = size,
                Blocks = blocks,
                Mtime = pending.Mtime,
                Ctime = pending.Ctime,
                Mode = pending.Mode,
                Uid = attributes ? pending.Uid : stored.Uid,
                Gid = attributes ? pending.Gid : stored.Gid,
                Atime = attributes ? pending.Atime : stored.Atime,
            }, ct);
            try
            {
                await storing.ConfigureAwait(false);
            }
            finally
            {
                committed = await committing.ConfigureAwait(false); // a failed store throws after the commit is settled
            }
        }
        catch (FileSystemException e) when (e.Errno == Errno.ESTALE)
        {
            // A later holder has committed: this holding is over, and what it buffered cannot be stored.
            file.DropBuffers();
            await file.ReleaseWriterLockAsync().ConfigureAwait(false);
            throw;
        }
        catch
        {
            // What was written may or may not be stored: whatever a face cached of it is no longer known good.
            file.Coherent = null;
            throw;
        }
        await _store.AddUsageAsync(blocks - file.Inode!.Blocks, 0, ct).ConfigureAwait(false);
        file.NoteCommitted(committed);
        file.Inode = committed;
        file.MetadataDirty = false;
        file.AttributesSet = false;
    }

    /// <summary>flush (close of one descriptor): stores what this client buffered and commits the metadata.</summary>
    public Task FlushAsync(FileHandle handle, CancellationToken ct = default) => handle.File.GatedAsync(() => FlushFileAsync(handle.File, ct), ct);

    /// <summary>fsync(2): after it returns, the data written so far survives this client's crash.</summary>
    public Task FsyncAsync(FileHandle handle, CancellationToken ct = default) => FlushAsync(handle, ct);

    /// <summary>release (last close of a handle): flushes, lets go of the writer lock, and purges a file unlinked while open.</summary>
    public async Task ReleaseAsync(FileHandle handle, CancellationToken ct = default)
    {
        if (handle.Released) return;
        handle.Released = true;
        var file = handle.File;
        await file.GatedAsync(async () =>
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
                    // A file whose hold was put off and never taken was never removable by another client (see
                    // CreateAsync): only this client's own unlink can have taken its last name.
                    var onlyHere = file.HoldDeferred is not null;
                    file.HoldDeferred?.Invoke();
                    await file.ReleaseWriterLockAsync().ConfigureAwait(false);
                    _open.TryRemove(new KeyValuePair<Guid, OpenFile>(file.Id, file));
                    // Its last name may have gone (here or on another client) while it was open: the last holder purges it.
                    await ReleaseHoldAsync(file).ConfigureAwait(false);
                    if ((!onlyHere || file.UnlinkedHere) && await _store.GetInodeAsync(file.Id, ct).ConfigureAwait(false) is { Nlink: 0 } inode)
                        await PurgeUnlessOpenAsync(inode, ct).ConfigureAwait(false);
                }
            }
        }, ct).ConfigureAwait(false);
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
            await file.GatedAsync(async () =>
            {
                await EnsureWriterAsync(file, ct).ConfigureAwait(false);
                await FlushFileAsync(file, ct).ConfigureAwait(false);
                var old = file.Inode!;
                var keepBlocks = (size + BlockSize - 1) / BlockSize;
                var boundary = size / BlockSize;
                var cut = (int)(size % BlockSize);
                var stamp = file.Stamps!.Next();
                if (size < old.Size && cut != 0 && file.Allocated!.Contains(boundary))
                {
                    var stored = await _store.ReadBlockAsync(file.Id, boundary, ct).ConfigureAwait(false);
                    if (stored is { } bytes && bytes.Length > cut)
                        await _store.WriteBlockAsync(file.Id, boundary, bytes[..cut], stamp, ct).ConfigureAwait(false);
                }
                var allocated = file.Allocated!;
                var doomed = allocated.Where(i => i >= keepBlocks).Order().ToList();
                var now = Timespec.Now;
                var blocksLeft = allocated.Count - doomed.Count;
                file.Inode = await CommitAsync(file.WriterLock!, file.Id, file.Id.ToString(), stored => stored with
                {
                    Size = size,
                    Blocks = blocksLeft,
                    Mtime = size != old.Size || handle is not null ? now : stored.Mtime,
                    Ctime = size != old.Size || handle is not null ? now : stored.Ctime,
                    Mode = Permissions.ModeAfterWrite(stored, caller),
                }, ct).ConfigureAwait(false);
                file.NoteCommitted(file.Inode);
                file.Size = size;
                foreach (var chunk in doomed.Chunk(_options.BlocksInFlight))
                {
                    await Task.WhenAll(chunk.Select(i => _store.DeleteBlockAsync(file.Id, i, stamp, ct))).ConfigureAwait(false);
                    await Task.WhenAll(chunk.Select(i => _store.DeleteBlockIndexAsync(file.Id, i, stamp, ct))).ConfigureAwait(false);
                }
                allocated.ExceptWith(doomed);
                file.DropReadCache();
                if (doomed.Count > 0) await _store.AddUsageAsync(-doomed.Count, 0, ct).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            if (temporary is not null) await ReleaseAsync(temporary, ct).ConfigureAwait(false);
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
                if (!file.IsIdleWriter) continue;
                await file.TryGatedAsync(async () =>
                {
                    if (!file.IsIdleWriter) return;
                    try
                    {
                        await FlushFileAsync(file, _closing.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        file.NoteWriteBackError(e);
                    }
                    await file.ReleaseWriterLockAsync().ConfigureAwait(false);
                }).ConfigureAwait(false);
            }
        }
    }
}
