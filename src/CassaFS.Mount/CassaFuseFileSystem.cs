using System.Collections.Concurrent;
using CassaFS.Fuse;
using CassaFS.Locks;
using FsErrno = CassaFS.Errno;
using FuseChanges = CassaFS.Fuse.AttributeChanges;
using FsChanges = CassaFS.AttributeChanges;

namespace CassaFS.Mount;

/// <summary>
/// Serves a <see cref="CassaFileSystem"/> to the kernel through FUSE: node ids map to inode UUIDs
/// (<see cref="NodeTable"/>), FUSE file handles to <see cref="FileHandle"/>s, readdir offsets to name cookies,
/// request credentials to <see cref="Caller"/>s, <see cref="FileSystemException"/> errnos to FUSE errnos, and
/// flock / fcntl locks to the domain's <see cref="FileLocks"/>.
/// </summary>
public sealed class CassaFuseFileSystem : FuseFileSystem
{
    private const int DotEntries = 2;

    private readonly CassaFileSystem _fs;
    private readonly NodeTable _nodes = new();
    private readonly ConcurrentDictionary<ulong, FileHandle> _files = new();
    private readonly ConcurrentDictionary<ulong, DirectoryCursor> _directories = new();
    private long _nextDirectoryHandle;

    /// <param name="fileSystem">The mounted filesystem; the caller keeps ownership.</param>
    /// <param name="advisoryLocks">Where flock and fcntl locks go; null leaves them to the kernel (local to this machine).</param>
    public CassaFuseFileSystem(CassaFileSystem fileSystem, FileLocks? advisoryLocks)
    {
        _fs = fileSystem ?? throw new ArgumentNullException(nameof(fileSystem));
        Locks = advisoryLocks;
    }

    /// <summary>The advisory lock table (null when locks are left to the kernel).</summary>
    public FileLocks? Locks { get; }

    /// <summary>Node ids the kernel currently holds.</summary>
    public NodeTable Nodes => _nodes;

    /// <summary>Files open through the mount right now.</summary>
    public int OpenFiles => _files.Count;

    /// <summary>Told of failures that are not filesystem errors (lost servers, bugs): the kernel got EIO.</summary>
    public Action<Exception>? OnUnexpectedError { get; init; }

    // ------------------------------------------------------------------------------------------------ mapping

    private Guid InodeOf(ulong ino) =>
        _nodes.TryGetInode(ino, out var id) ? id : throw new FuseException(Fuse.Errno.ESTALE, $"node {ino} is not known (forgotten)");

    private static Caller CallerOf(FuseRequestContext ctx)
    {
        // Root passes every check, so its groups are never needed (and reading them costs a /proc read).
        if (ctx.Uid == 0) return new Caller(0, (int)ctx.Gid, Array.Empty<int>());
        var groups = ctx.GetSupplementaryGroups();
        return new Caller((int)ctx.Uid, (int)ctx.Gid, Array.ConvertAll(groups, g => (int)g));
    }

    private InodeAttributes Attributes(Inode inode, ulong ino) => new()
    {
        Ino = ino,
        Mode = (uint)inode.StMode,
        LinkCount = (uint)Math.Min(inode.Nlink, uint.MaxValue),
        Uid = (uint)inode.Uid,
        Gid = (uint)inode.Gid,
        RDev = (ulong)inode.Rdev,
        Size = inode.Size,
        Blocks = inode.StBlocks(_fs.BlockSize),
        BlockSize = _fs.BlockSize,
        AccessTime = new FuseTime(inode.Atime.Seconds, inode.Atime.Nanoseconds),
        ModificationTime = new FuseTime(inode.Mtime.Seconds, inode.Mtime.Nanoseconds),
        ChangeTime = new FuseTime(inode.Ctime.Seconds, inode.Ctime.Nanoseconds),
    };

    /// <summary>An entry reply: counts one kernel lookup of the inode, found as <paramref name="name"/> in <paramref name="parent"/>.</summary>
    private FuseEntry Entry(Inode inode, ulong parent, string name)
    {
        var ino = _nodes.Remember(inode.Id, parent, name);
        return new FuseEntry(Attributes(inode, ino), (ulong)inode.Generation);
    }

    private static Fuse.Errno Map(FsErrno errno) => (Fuse.Errno)(int)errno;

    /// <summary>The errno each of the filesystem's failures answers with (the binding turns a handler's exception into its reply).</summary>
    public override Fuse.Errno? ErrnoFor(Exception exception) => exception switch
    {
        FileSystemException fse => Map(fse.Errno),
        FuseException fe => fe.Errno,
        OperationCanceledException => Fuse.Errno.EINTR,
        LockTimeoutException => Fuse.Errno.ETIMEDOUT,
        LockLostException => Fuse.Errno.ESTALE,
        _ => Unexpected(exception),
    };

    private Fuse.Errno Unexpected(Exception e)
    {
        OnUnexpectedError?.Invoke(e);
        return Fuse.Errno.EIO;
    }

    private static OpenFlags OpenFlagsOf(int flags) =>
        (OpenFlags)(flags & (int)(OpenFlags.AccessModeMask | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.Truncate | OpenFlags.Append));

    private FileHandle HandleOf(ulong fh) =>
        _files.TryGetValue(fh, out var h) ? h : throw new FuseException(Fuse.Errno.EBADF, $"file handle {fh} is not open");

    // ------------------------------------------------------------------------------------------------ other clients' changes

    /// <summary>How often the mount reads what other clients changed (a change shows here about this long after it).</summary>
    public static readonly TimeSpan ChangePoll = TimeSpan.FromMilliseconds(250);

    private IAsyncDisposable? _watch;

    /// <summary>From the mount on, other clients' changes drop what the kernel caches of them, so it may cache for long.</summary>
    public override void OnMounted() => _watch = _fs.WatchChanges(OnChanged, ChangePoll);

    /// <summary>
    /// Another client changed a name (the kernel forgets it and the directory's attributes) or an inode (its
    /// attributes go; a file's cached pages too when the stored version is no longer theirs: the notice may be of a
    /// change this mount has read already). Runs on the watcher's task, outside every request, as invalidations must.
    /// </summary>
    private async ValueTask OnChanged(NamespaceChange change)
    {
        if (Mount is not { } mount || !_nodes.TryGetId(change.Inode, out var node)) return;
        if (change.Name is { } name)
        {
            if (await EntryStillStoredAsync(node, change.Inode, name).ConfigureAwait(false)) mount.InvalidateAttributes(node);
            else mount.InvalidateEntry(node, name);
            return;
        }
        mount.InvalidateAttributes(node);
        if (_nodes.CachedVersion(node) is null) return;
        try
        {
            NoteStored(node, await _fs.GetAttrAsync(change.Inode).ConfigureAwait(false));
        }
        catch (FileSystemException)
        {
            _nodes.NoteCached(node, null); // gone, or unreadable now: the next open reads afresh
        }
    }

    /// <summary>
    /// Whether the kernel's entry for <paramref name="name"/> already leads to the inode stored under it. A notice is
    /// read a poll or more after its change (seconds on a busy machine), so this mount may have looked the name up
    /// since; dropping that entry would cost more than a lookup: FUSE evicts an inode with its last entry, and the
    /// file's cached pages with it. Notices go out only once their change is stored, so a later change brings its own.
    /// </summary>
    private async ValueTask<bool> EntryStillStoredAsync(ulong dir, Guid dirId, string name)
    {
        if (_nodes.Child(dir, name) is not { } known) return false;
        try
        {
            return (await _fs.LookupAsync(dirId, name, Caller.Root).ConfigureAwait(false)).Id == known;
        }
        catch (FileSystemException)
        {
            return false; // gone, or unreadable now: the kernel looks again
        }
    }

    // ------------------------------------------------------------------------------------------------ attributes and names

    public override void Forget(ulong ino, ulong lookupCount) => _nodes.Forget(ino, lookupCount);

    public override async ValueTask<FuseResult<FuseEntry>> LookupAsync(FuseRequestContext context, ulong parent, string name)
    {
        Inode inode;
        try
        {
            inode = await _fs.LookupAsync(InodeOf(parent), name, CallerOf(context)).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == FsErrno.ENOENT)
        {
            _nodes.Unnamed(parent, name); // the kernel now keeps the name as absent: a notice must not take it for current
            throw;
        }
        NoteStored(_nodes.Peek(inode.Id), inode);
        return Entry(inode, parent, name);
    }

    public override async ValueTask<FuseResult<InodeAttributes>> GetAttributesAsync(FuseRequestContext context, ulong ino, ulong? fileHandle)
    {
        try
        {
            var inode = await _fs.GetAttrAsync(InodeOf(ino)).ConfigureAwait(false);
            NoteStored(ino, inode);
            return Attributes(inode, ino);
        }
        catch (FileSystemException e) when (e.Errno == FsErrno.ENOENT)
        {
            return Fuse.Errno.ESTALE; // removed through another mount: the VFS looks the name up again (see OpenAsync)
        }
    }

    /// <summary>
    /// A getattr or lookup (the kernel asks when its caches time out, so `tail -f`, `stat` and make see this) that finds
    /// a file changed by another mount while the kernel keeps pages of it: they go, as NFS drops them on a changed
    /// mtime. (The kernel's own check, auto_inval_data, runs beside this; see the Mount README.)
    /// Dropped before the reply, so a read that refreshed the size first reads afresh: getattr is no operation the
    /// kernel holds the inode for (libfuse: notify_inval_inode deadlocks only inside setattr, unlink, rename, readdir ...).
    /// </summary>
    private void NoteStored(ulong ino, Inode inode)
    {
        if (inode.Type != FileType.Regular || _nodes.CachedVersion(ino) is not { } cached || cached == inode.Version) return;
        if (_fs.CoherentVersion(inode.Id) == inode.Version)
        {
            _nodes.NoteCached(ino, inode.Version); // this mount's own commit, made while the file is open here
            return;
        }
        _nodes.NoteCached(ino, null);
        ForgetKernelCache(ino);
    }

    public override async ValueTask<FuseResult<InodeAttributes>> SetAttributesAsync(FuseRequestContext context, ulong ino, FuseChanges changes)
    {
        var c = new FsChanges
        {
            Mode = changes.Has(AttributeFields.Mode) ? (int)(changes.Mode & 0xFFF) : null,
            Uid = changes.Has(AttributeFields.Uid) ? (int)changes.Uid : null,
            Gid = changes.Has(AttributeFields.Gid) ? (int)changes.Gid : null,
            Size = changes.Has(AttributeFields.Size) ? changes.Size : null,
            Atime = changes.Has(AttributeFields.AccessTimeNow) ? TimeChange.Now
                : changes.Has(AttributeFields.AccessTime) ? TimeChange.To(Timespec.FromParts(changes.AccessTime.Seconds, changes.AccessTime.Nanoseconds)) : null,
            Mtime = changes.Has(AttributeFields.ModificationTimeNow) ? TimeChange.Now
                : changes.Has(AttributeFields.ModificationTime) ? TimeChange.To(Timespec.FromParts(changes.ModificationTime.Seconds, changes.ModificationTime.Nanoseconds)) : null,
        };
        FileHandle? handle = changes.FileHandle is { } fh && _files.TryGetValue(fh, out var h) ? h : null;
        var inode = await _fs.SetAttrAsync(InodeOf(ino), c, CallerOf(context), handle).ConfigureAwait(false);
        return Attributes(inode, ino);
    }

    public override async ValueTask<FuseResult<string>> ReadLinkAsync(FuseRequestContext context, ulong ino)
    {
        return await _fs.ReadLinkAsync(InodeOf(ino)).ConfigureAwait(false);
    }

    public override async ValueTask<FuseResult<FuseEntry>> MakeNodeAsync(FuseRequestContext context, ulong parent, string name, uint mode, ulong rdev)
    {
        var type = (FileType)(mode & 0xF000);
        if (type == 0) type = FileType.Regular;
        var inode = await _fs.MknodAsync(InodeOf(parent), name, type, (int)(mode & 0xFFF), (long)rdev, CallerOf(context)).ConfigureAwait(false);
        return Entry(inode, parent, name);
    }

    public override async ValueTask<FuseResult<FuseEntry>> MakeDirectoryAsync(FuseRequestContext context, ulong parent, string name, uint mode)
    {
        var inode = await _fs.MkdirAsync(InodeOf(parent), name, (int)(mode & 0xFFF), CallerOf(context)).ConfigureAwait(false);
        return Entry(inode, parent, name);
    }

    public override async ValueTask<Fuse.Errno> UnlinkAsync(FuseRequestContext context, ulong parent, string name)
    {
        await _fs.UnlinkAsync(InodeOf(parent), name, CallerOf(context)).ConfigureAwait(false);
        _nodes.Unnamed(parent, name);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<Fuse.Errno> RemoveDirectoryAsync(FuseRequestContext context, ulong parent, string name)
    {
        await _fs.RmdirAsync(InodeOf(parent), name, CallerOf(context)).ConfigureAwait(false);
        _nodes.Unnamed(parent, name);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<FuseResult<FuseEntry>> SymLinkAsync(FuseRequestContext context, string target, ulong parent, string name)
    {
        var inode = await _fs.SymlinkAsync(InodeOf(parent), name, target, CallerOf(context)).ConfigureAwait(false);
        return Entry(inode, parent, name);
    }

    public override async ValueTask<Fuse.Errno> RenameAsync(FuseRequestContext context, ulong parent, string name, ulong newParent, string newName, RenameMode flags)
    {
        await _fs.RenameAsync(InodeOf(parent), name, InodeOf(newParent), newName, (RenameFlags)(int)flags, CallerOf(context)).ConfigureAwait(false);
        if ((flags & RenameMode.Exchange) != 0) _nodes.Exchanged(parent, name, newParent, newName);
        else _nodes.Renamed(parent, name, newParent, newName);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<FuseResult<FuseEntry>> LinkAsync(FuseRequestContext context, ulong ino, ulong newParent, string newName)
    {
        var inode = await _fs.LinkAsync(InodeOf(ino), InodeOf(newParent), newName, CallerOf(context)).ConfigureAwait(false);
        return Entry(inode, newParent, newName);
    }

    public override async ValueTask<Fuse.Errno> AccessAsync(FuseRequestContext context, ulong ino, int mask)
    {
        await _fs.AccessAsync(InodeOf(ino), (AccessMode)(mask & 7), CallerOf(context)).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<FuseResult<FileSystemStatistics>> GetStatisticsAsync(FuseRequestContext context, ulong ino)
    {
        var s = await _fs.StatFsAsync().ConfigureAwait(false);
        return new FileSystemStatistics
        {
            BlockSize = (ulong)s.BlockSize,
            FragmentSize = (ulong)s.BlockSize,
            Blocks = (ulong)s.TotalBlocks,
            BlocksFree = (ulong)s.FreeBlocks,
            BlocksAvailable = (ulong)s.FreeBlocks,
            Files = (ulong)(s.Files + s.FreeFiles),
            FilesFree = (ulong)s.FreeFiles,
            FilesAvailable = (ulong)s.FreeFiles,
            MaxNameLength = (ulong)s.MaxNameLength,
        };
    }

    // ------------------------------------------------------------------------------------------------ files

    public override async ValueTask<FuseResult<FuseOpenedFile>> OpenAsync(FuseRequestContext context, ulong ino, int flags)
    {
        FileHandle handle;
        try
        {
            handle = await _fs.OpenAsync(InodeOf(ino), OpenFlagsOf(flags), CallerOf(context)).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == FsErrno.ENOENT)
        {
            // The kernel reached a file another mount removed by a name it still had cached: "stale" makes the VFS look
            // the name up again (LOOKUP_REVAL) and then answer as a local disk would (ENOENT, or O_CREAT makes it anew).
            return Fuse.Errno.ESTALE;
        }
        _files[(ulong)handle.Id] = handle;
        return new FuseOpenedFile((ulong)handle.Id) { KeepCache = KeepsCache(ino, handle, (flags & (int)OpenFlags.Truncate) != 0) };
    }

    /// <summary>
    /// Close-to-open without re-reading what did not change: the kernel keeps the file's cached pages at an open only
    /// when the version they agree with is still the one stored (another mount's commit, or any change this mount
    /// could not follow, moves it on), and drops them otherwise. What they agree with next is what this mount's use
    /// of the file agrees with (<see cref="FileHandle.CoherentVersion"/>), noted again at every release.
    /// </summary>
    private bool KeepsCache(ulong ino, FileHandle handle, bool truncated)
    {
        var keep = !truncated && _nodes.CachedVersion(ino) == handle.OpenedVersion;
        _nodes.NoteCached(ino, handle.CoherentVersion);
        return keep;
    }

    public override async ValueTask<FuseResult<(FuseEntry Entry, FuseOpenedFile File)>> CreateAsync(FuseRequestContext context, ulong parent, string name, uint mode, int flags)
    {
        var (handle, inode) = await _fs.CreateAsync(InodeOf(parent), name, (int)(mode & 0xFFF), OpenFlagsOf(flags) | OpenFlags.Create, CallerOf(context)).ConfigureAwait(false);
        _files[(ulong)handle.Id] = handle;
        return (Entry(inode, parent, name), new FuseOpenedFile((ulong)handle.Id));
    }

    public override async ValueTask<FuseResult<int>> ReadAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, Memory<byte> buffer)
    {
        return await _fs.ReadAsync(HandleOf(fileHandle), offset, buffer).ConfigureAwait(false);
    }

    public override async ValueTask<FuseResult<int>> WriteAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, ReadOnlyMemory<byte> data)
    {
        return await _fs.WriteAsync(HandleOf(fileHandle), offset, data).ConfigureAwait(false);
    }

    /// <summary>The kernel's writes: the buffer goes down to the filesystem, which keeps a whole block's array instead of copying it.</summary>
    public override async ValueTask<FuseResult<int>> WriteOwnedAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, FuseWriteBuffer data)
    {
        return await _fs.WriteAsync(HandleOf(fileHandle), offset, data).ConfigureAwait(false);
    }

    public override async ValueTask<Fuse.Errno> FlushAsync(FuseRequestContext context, ulong ino, FuseFileHandle file)
    {
        // close(2) of any descriptor drops the process's fcntl locks on the file (POSIX).
        if (Locks is not null && _nodes.TryGetInode(ino, out var id)) await Locks.ReleaseRangesAsync(id, file.LockOwner).ConfigureAwait(false);
        var handle = HandleOf(file.Handle);
        await NotingCacheAsync(ino, handle, _fs.FlushAsync(handle)).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<Fuse.Errno> SyncAsync(FuseRequestContext context, ulong ino, ulong fileHandle, bool dataOnly)
    {
        var handle = HandleOf(fileHandle);
        await NotingCacheAsync(ino, handle, _fs.FsyncAsync(handle)).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<Fuse.Errno> ReleaseAsync(FuseRequestContext context, ulong ino, FuseFileHandle file)
    {
        if (Locks is not null && _nodes.TryGetInode(ino, out var id))
        {
            if (file.FlockRelease) await Locks.ReleaseFlockAsync(id, file.LockOwner).ConfigureAwait(false);
            await Locks.ReleaseRangesAsync(id, file.LockOwner).ConfigureAwait(false);
        }
        if (Locks is not null) await Locks.ReleaseDescriptionAsync(file.Handle).ConfigureAwait(false);
        if (_files.TryRemove(file.Handle, out var handle)) await NotingCacheAsync(ino, handle, _fs.ReleaseAsync(handle)).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    /// <summary>Awaits a flush, fsync or release (each may commit the file), then notes what the kernel's pages agree with: nothing known, when it failed.</summary>
    private async Task NotingCacheAsync(ulong ino, FileHandle handle, Task committing)
    {
        try
        {
            await committing.ConfigureAwait(false);
        }
        finally
        {
            _nodes.NoteCached(ino, handle.CoherentVersion);
        }
    }

    // ------------------------------------------------------------------------------------------------ directories

    /// <summary>One open directory: readdir offsets handed out so far, each mapped to the name a listing resumes after.</summary>
    private sealed class DirectoryCursor(Guid directory, ulong node)
    {
        public Guid Directory { get; } = directory;
        public ulong Node { get; } = node;
        public object Gate { get; } = new();
        public Dictionary<long, string> NameAt { get; } = new();
        public long NextOffset { get; set; } = DotEntries + 1;
    }

    public override async ValueTask<FuseResult<FuseOpenedFile>> OpenDirectoryAsync(FuseRequestContext context, ulong ino, int flags)
    {
        var id = InodeOf(ino);
        var inode = await _fs.GetAttrAsync(id).ConfigureAwait(false);
        if (!inode.IsDirectory) return Fuse.Errno.ENOTDIR;
        var fh = (ulong)Interlocked.Increment(ref _nextDirectoryHandle);
        _directories[fh] = new DirectoryCursor(id, ino);
        return new FuseOpenedFile(fh);
    }

    public override ValueTask<Fuse.Errno> ReleaseDirectoryAsync(FuseRequestContext context, ulong ino, ulong fileHandle)
    {
        _directories.TryRemove(fileHandle, out _);
        return new(Fuse.Errno.Success);
    }

    public override async ValueTask<Fuse.Errno> ReadDirectoryAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, DirectoryBuffer buffer)
    {
        if (!_directories.TryGetValue(fileHandle, out var cursor)) return Fuse.Errno.EBADF;
        var caller = CallerOf(context);
        if (offset < 1 && !buffer.TryAdd(".", ino, (uint)FileType.Directory, 1)) return Fuse.Errno.Success;
        if (offset < 2)
        {
            var self = await _fs.GetAttrAsync(cursor.Directory).ConfigureAwait(false);
            if (!buffer.TryAdd("..", _nodes.Peek(self.Parent), (uint)FileType.Directory, 2)) return Fuse.Errno.Success;
        }
        string? after = null;
        if (offset > DotEntries)
        {
            lock (cursor.Gate)
            {
                if (!cursor.NameAt.TryGetValue(offset, out after)) return Fuse.Errno.EINVAL;
            }
        }
        var batch = new List<DirectoryEntry>(64);
        await foreach (var entry in _fs.ReadDirectoryAsync(cursor.Directory, caller, after).ConfigureAwait(false))
        {
            batch.Add(entry);
            if (batch.Count == 64)
            {
                if (!await AddAsync(cursor, batch, buffer).ConfigureAwait(false)) return Fuse.Errno.Success;
                batch.Clear();
            }
        }
        await AddAsync(cursor, batch, buffer).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    /// <summary>Adds entries until the reply is full; false when it filled up.</summary>
    private async Task<bool> AddAsync(DirectoryCursor cursor, List<DirectoryEntry> batch, DirectoryBuffer buffer)
    {
        Inode?[]? attributes = null;
        if (buffer.IsPlus && batch.Count > 0)
        {
            // readdirplus answers each name with its attributes: fetch the batch's inodes in parallel.
            attributes = await Task.WhenAll(batch.Select(async e =>
            {
                try
                {
                    return await _fs.GetAttrAsync(e.Inode).ConfigureAwait(false);
                }
                catch (FileSystemException x) when (x.Errno == FsErrno.ENOENT)
                {
                    return null; // removed meanwhile (or garbage of a crash): listed without attributes
                }
            })).ConfigureAwait(false);
        }
        for (int i = 0; i < batch.Count; i++)
        {
            var entry = batch[i];
            long next;
            lock (cursor.Gate)
            {
                next = cursor.NextOffset++;
                cursor.NameAt[next] = entry.Name;
            }
            bool added;
            if (attributes?[i] is { } inode)
            {
                // The kernel counts a lookup for a plus entry only when it fits; count it after TryAdd says so.
                var ino = _nodes.Peek(inode.Id);
                added = buffer.TryAdd(entry.Name, new FuseEntry(Attributes(inode, ino), (ulong)inode.Generation), next);
                if (added) _nodes.Remember(inode.Id, cursor.Node, entry.Name);
            }
            else
            {
                added = buffer.TryAdd(entry.Name, _nodes.Peek(entry.Inode), (uint)entry.Type, next);
            }
            if (!added) return false;
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------ extended attributes

    public override async ValueTask<Fuse.Errno> SetExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name, ReadOnlyMemory<byte> value, XAttrCondition condition)
    {
        var flags = condition.HasFlag(XAttrCondition.Create) ? XAttrFlags.Create : condition.HasFlag(XAttrCondition.Replace) ? XAttrFlags.Replace : XAttrFlags.Either;
        await _fs.SetXAttrAsync(InodeOf(ino), name, value, flags, CallerOf(context)).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    public override async ValueTask<FuseResult<ReadOnlyMemory<byte>>> GetExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name)
    {
        return new ReadOnlyMemory<byte>(await _fs.GetXAttrAsync(InodeOf(ino), name, CallerOf(context)).ConfigureAwait(false));
    }

    public override async ValueTask<FuseResult<IReadOnlyList<string>>> ListExtendedAttributesAsync(FuseRequestContext context, ulong ino)
    {
        var names = await _fs.ListXAttrAsync(InodeOf(ino), CallerOf(context)).ConfigureAwait(false);
        return FuseResult.Ok(names);
    }

    public override async ValueTask<Fuse.Errno> RemoveExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name)
    {
        await _fs.RemoveXAttrAsync(InodeOf(ino), name, CallerOf(context)).ConfigureAwait(false);
        return Fuse.Errno.Success;
    }

    // ------------------------------------------------------------------------------------------------ advisory locks

    public override async ValueTask<Fuse.Errno> FlockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, FlockOperation operation)
    {
        if (Locks is null) return Fuse.Errno.ENOSYS;
        LockMode? mode = operation.HasFlag(FlockOperation.Unlock) ? null : operation.HasFlag(FlockOperation.Exclusive) ? LockMode.Write : LockMode.Read;
        var wait = !operation.HasFlag(FlockOperation.NonBlocking);
        var result = Map(await Locks.FlockAsync(InodeOf(ino), file.LockOwner, mode, wait, _nodes.PathOf(ino), context.Interrupted).ConfigureAwait(false));
        if (result != Fuse.Errno.Success || mode is null || ForgetKernelCache(ino)) return result;
        await Locks.FlockAsync(InodeOf(ino), file.LockOwner, null, false, null, CancellationToken.None).ConfigureAwait(false);
        return Fuse.Errno.EIO;
    }

    public override async ValueTask<FuseResult<PosixLock>> GetLockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, PosixLock probe)
    {
        if (Locks is null) return Fuse.Errno.ENOSYS;
        var answer = await Locks.TestRangeAsync(InodeOf(ino), file.LockOwner, ToRecord(probe), CancellationToken.None).ConfigureAwait(false);
        var type = answer.Type switch
        {
            RecordLockType.Read => PosixLockType.Read,
            RecordLockType.Write => PosixLockType.Write,
            _ => PosixLockType.Unlock,
        };
        return new PosixLock(type, answer.Start, answer.Length, answer.Pid);
    }

    public override async ValueTask<Fuse.Errno> SetLockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, PosixLock lockRange, bool wait)
    {
        if (Locks is null) return Fuse.Errno.ENOSYS;
        var request = ToRecord(lockRange);
        var unlock = request.Type == RecordLockType.Unlock;
        var result = Map(await Locks.SetRangeAsync(InodeOf(ino), file.LockOwner, request, wait, context.Interrupted, unlock ? null : _nodes.PathOf(ino)).ConfigureAwait(false));
        if (result == Fuse.Errno.Success && !unlock) Locks.NoteRangeOwner(file.Handle, InodeOf(ino), file.LockOwner);
        if (result != Fuse.Errno.Success || unlock || ForgetKernelCache(ino)) return result;
        await Locks.SetRangeAsync(InodeOf(ino), file.LockOwner, request with { Type = RecordLockType.Unlock }, false, CancellationToken.None).ConfigureAwait(false);
        return Fuse.Errno.EIO;
    }

    private static RecordLock ToRecord(PosixLock l) => new(l.Type switch
    {
        PosixLockType.Read => RecordLockType.Read,
        PosixLockType.Write => RecordLockType.Write,
        _ => RecordLockType.Unlock,
    }, l.Start, l.Length, l.Pid);

    /// <summary>
    /// A lock that excludes other machines must also give its holder their latest data: once granted, the kernel's
    /// cached pages and attributes of the file go, so the holder's next read (even on a descriptor opened long before)
    /// asks the daemon, which reads what the last holder committed. (The page cache is dropped on open already: no
    /// keep_cache.) Safe inside the lock request: the kernel holds no inode lock for it, and writeback caching is off.
    /// False when the kernel refused: the lock is then given back and the caller gets EIO rather than stale data.
    /// </summary>
    private bool ForgetKernelCache(ulong ino) =>
        Mount is not { } mount || mount.InvalidateData(ino) is Fuse.Errno.Success or Fuse.Errno.ENOENT or Fuse.Errno.ENOTCONN;

    /// <summary>Releases every file still open (unmount while files were open): their data is flushed.</summary>
    public async Task CloseAllAsync()
    {
        if (_watch is not null) await _watch.DisposeAsync().ConfigureAwait(false);
        foreach (var key in _files.Keys.ToList())
        {
            if (_files.TryRemove(key, out var handle)) await _fs.ReleaseAsync(handle).ConfigureAwait(false);
        }
    }
}
