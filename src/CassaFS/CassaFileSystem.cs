using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;
using CassaFS.Cql;
using CassaFS.Locks;

namespace CassaFS;

/// <summary>
/// A CassaFS filesystem opened by one client: the POSIX operations every face (FUSE, PowerShell, CLI) calls, by
/// inode id. The rules (EEXIST, ENOTEMPTY, nlink, sticky bit, permissions, times) live here and nowhere else.
/// <para>Concurrency: names are created and removed by lightweight transactions, so racing clients see one
/// winner. Operations touching several rows take locks from <see cref="FileSystemOptions.Locks"/> in one global order.
/// Inode changes are compare-and-set on a fence column carrying the lock's fencing token, so a client whose lock
/// was lost cannot overwrite a newer holder's change.</para>
/// <para>Crash safety: every operation orders its writes so that a client dying between any two leaves at worst
/// garbage (an inode no name points to, blocks beyond a file's size, a wrong link count) that <see cref="Fsck"/>
/// finds, never a name pointing nowhere that a reader could trip over.</para>
/// </summary>
public sealed partial class CassaFileSystem : IAsyncDisposable
{
    /// <summary>The largest file CassaFS stores: 1 PiB.</summary>
    public const long MaxFileSize = 1L << 50;

    /// <summary>The longest symbolic link target, in bytes (PATH_MAX - 1).</summary>
    public const int MaxSymlinkLength = 4095;

    private const int FencedRetries = 8;

    private readonly IFileSystemStore _store;
    private readonly FileSystemOptions _options;
    private readonly ILockProvider _locks;
    private readonly KeptLocks? _kept;
    private readonly ConcurrentDictionary<Guid, OpenFile> _open = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _idleReleaser;
    private readonly ChangeFeed _feed;
    private long _nextHandle;

    private CassaFileSystem(IFileSystemStore store, FileSystemOptions options, int blockSize, IReadOnlyDictionary<string, string> meta)
    {
        _store = store;
        _options = options;
        _locks = options.Locks;
        if (options.KeepDirectoryLocksFor > TimeSpan.Zero) _kept = new KeptLocks(options.Locks, options.KeepDirectoryLocksFor);
        BlockSize = blockSize;
        Settings = meta;
        _idleReleaser = Task.Run(ReleaseIdleWritersAsync);
        _feed = new ChangeFeed(store, options.Logger);
    }

    /// <summary>
    /// Awaits <paramref name="onChange"/> for every entry or inode another client changes from now on, about one
    /// <paramref name="interval"/> after it did (a change whose notice was lost is not reported). For caches a face
    /// keeps, such as the kernel's behind a mount; dispose the result to stop.
    /// </summary>
    public IAsyncDisposable WatchChanges(Func<NamespaceChange, ValueTask> onChange, TimeSpan interval) => _feed.Watch(onChange, interval);

    /// <summary>Bytes per data block, fixed at format time.</summary>
    public int BlockSize { get; }

    /// <summary>The filesystem's stored settings (schema version, block size, creation time).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; }

    public FileSystemOptions Options => _options;

    internal IFileSystemStore Store => _store;

    /// <summary>
    /// Opens the filesystem in <see cref="FileSystemOptions.Keyspace"/> for this client (a FUSE mount, a PowerShell drive
    /// and the CLI's admin commands each open one); fails clearly when it is missing or of another schema version.
    /// </summary>
    public static async Task<CassaFileSystem> OpenAsync(CqlSession session, FileSystemOptions options, CancellationToken ct = default)
    {
        var meta = await Schema.ReadMetaAsync(session, options.Keyspace, options.Consistency, ct).ConfigureAwait(false)
                   ?? throw new FileSystemException(Errno.ENOENT, options.Keyspace, "no CassaFS filesystem in this keyspace; create one with 'cassafs format'");
        if (meta["schema_version"] != Schema.Version.ToString(CultureInfo.InvariantCulture))
            throw new FileSystemException(Errno.EINVAL, options.Keyspace,
                $"the filesystem has schema version {meta["schema_version"]} but this CassaFS reads version {Schema.Version}; use a matching CassaFS");
        var blockSize = int.Parse(meta["block_size"], CultureInfo.InvariantCulture);
        var store = await CassandraStore.PrepareAsync(session, options.Keyspace, options.Consistency, options.SerialConsistency, options.Logger, ct).ConfigureAwait(false);
        return new CassaFileSystem(store, options, blockSize, meta);
    }

    /// <summary>A filesystem over another implementation of the storage contract (the contract tests' in-memory store).</summary>
    internal static CassaFileSystem Open(IFileSystemStore store, FileSystemOptions options, int blockSize) =>
        new(store, options, blockSize, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["block_size"] = blockSize.ToString(CultureInfo.InvariantCulture),
            ["schema_version"] = Schema.Version.ToString(CultureInfo.InvariantCulture),
        });

    // ------------------------------------------------------------------ attributes

    /// <summary>stat(2) by inode.</summary>
    public async Task<Inode> GetAttrAsync(Guid id, CancellationToken ct = default)
    {
        var inode = await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false);
        return WithOpenState(inode);
    }

    /// <summary>Looks a name up in a directory (search permission on the directory required).</summary>
    public async Task<Inode> LookupAsync(Guid parent, string name, Caller caller, CancellationToken ct = default)
    {
        // Under this client's kept lock on the directory, what it knows of the name answers without reading the name.
        // A name found absent under this client's kept lock on the directory is remembered there (look), for a create that follows.
        var (known, look) = _kept is not null && Names.IsEntry(name) ? _kept.Peek(LockKey.ForInode(parent), name) : default;
        if (known is { Known: true, Directory: { } keptDirectory })
        {
            Permissions.Demand(keptDirectory, caller, AccessMode.Execute, name);
            if (known.Entry is null) throw new FileSystemException(Errno.ENOENT, name);
            return WithOpenState(await _store.GetInodeAsync(known.Entry.Inode, ct).ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, name));
        }
        // The entry is read beside the directory (one round trip, not two); the errors keep their order.
        var early = Names.IsEntry(name) ? _store.GetEntryAsync(parent, name, ct) : null;
        Inode dir;
        try
        {
            dir = await LoadDirectoryAsync(parent, ct).ConfigureAwait(false);
            Permissions.Demand(dir, caller, AccessMode.Execute, name);
        }
        catch
        {
            Forget(early);
            throw;
        }
        if (name == ".") return WithOpenState(dir);
        if (name == "..") return WithOpenState(await LoadAsync(dir.Parent, "..", ct).ConfigureAwait(false));
        Names.Entry(name);
        var entry = await early!.ConfigureAwait(false);
        if (entry is null)
        {
            if (look is { } seen) KeptLocks.NoteAbsent(seen, name);
            throw new FileSystemException(Errno.ENOENT, name);
        }
        // An entry whose inode is gone is garbage of a crash (fsck removes it): it reads as absent.
        var inode = await _store.GetInodeAsync(entry.Inode, ct).ConfigureAwait(false)
                    ?? throw new FileSystemException(Errno.ENOENT, name);
        return WithOpenState(inode);
    }

    /// <summary>Lets a read started alongside an operation that failed end unobserved.</summary>
    private static void Forget(Task? started) => started?.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <summary>access(2): throws EACCES when the caller may not.</summary>
    public async Task AccessAsync(Guid id, AccessMode mode, Caller caller, CancellationToken ct = default)
    {
        var inode = await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false);
        Permissions.Demand(inode, caller, mode, id.ToString());
    }

    /// <summary>chmod, chown, utimens and truncate, with POSIX's rules on who may do which.</summary>
    public async Task<Inode> SetAttrAsync(Guid id, AttributeChanges changes, Caller caller, FileHandle? handle = null, CancellationToken ct = default)
    {
        ThrowIfReadOnly(id.ToString());
        if (changes.Size is { } size)
        {
            // The kernel's truncate of a set-id file by a non-owner comes with the mode that clears the bits; the
            // truncate clears them itself, after which that mode would no longer read as only clearing them.
            if (changes.Mode is { } mode && Permissions.IsPrivilegeKill(await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false), mode & ModeBits.Permissions, caller))
                changes = changes with { Mode = null };
            await TruncateAsync(id, size, caller, handle, ct).ConfigureAwait(false);
            if (changes with { Size = null } == new AttributeChanges()) return await GetAttrAsync(id, ct).ConfigureAwait(false);
        }
        if (await TryApplyToWriterAsync(id, changes with { Size = null }, caller, ct).ConfigureAwait(false) is { } pending) return pending;
        await using var locks = await LockAsync(new[] { (LockKey.ForInode(id), LockMode.Write) }, "setattr", ct).ConfigureAwait(false);
        return await CommitAsync(locks, id, id.ToString(), inode => ApplyAttributes(inode, changes with { Size = null }, caller), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A file this client is writing has its inode lock already: chmod, chown and utimens on it join the writer's
    /// pending inode and go with its commit (at flush, fsync, close, or when the idle writer lets go), as its size and
    /// times do. tar sets all three on every file it writes, each of which would otherwise cost the writer's commit,
    /// a lock of its own and a fenced commit. Null when nobody here holds the file's writer lock.
    /// </summary>
    private async Task<Inode?> TryApplyToWriterAsync(Guid id, AttributeChanges changes, Caller caller, CancellationToken ct)
    {
        if (!_open.TryGetValue(id, out var file)) return null;
        return await file.GatedAsync(() =>
        {
            if (file.WriterLock is not { AllHeld: true } || file.Inode is null) return ValueTask.FromResult<Inode?>(null);
            file.Inode = ApplyAttributes(file.Inode, changes, caller);
            file.MetadataDirty = true;
            file.AttributesSet = true;
            return ValueTask.FromResult<Inode?>(file.Inode with { Size = file.Size });
        }, ct).ConfigureAwait(false);
    }

    private static Inode ApplyAttributes(Inode inode, AttributeChanges c, Caller caller)
    {
        var subject = inode.Id.ToString();
        var now = Timespec.Now;
        var result = inode;
        if (c.Mode is { } mode)
        {
            mode &= ModeBits.Permissions;
            if (!Permissions.IsPrivilegeKill(inode, mode, caller)) Permissions.DemandOwner(inode, caller, subject);
            // An unprivileged owner outside the file's group cannot keep set-gid (chmod(2)).
            if (!caller.IsRoot && !caller.InGroup(inode.Gid) && inode.Type != FileType.Directory) mode &= ~ModeBits.SetGid;
            result = result with { Mode = mode, Ctime = now };
        }
        if (c.Uid is not null || c.Gid is not null)
        {
            var uid = c.Uid ?? inode.Uid;
            var gid = c.Gid ?? inode.Gid;
            if (uid != inode.Uid && !caller.IsRoot)
                throw new FileSystemException(Errno.EPERM, subject, "only root may change a file's owner");
            if (gid != inode.Gid && !caller.IsRoot && (caller.Uid != inode.Uid || !caller.InGroup(gid)))
                throw new FileSystemException(Errno.EPERM, subject, "the owner may only change the group to one of their own groups");
            var newMode = result.Mode;
            if ((uid != inode.Uid || gid != inode.Gid) && inode.Type != FileType.Directory)
            {
                // chown clears set-uid and set-gid (the latter only where group execute makes it meaningful).
                newMode &= ~ModeBits.SetUid;
                if ((newMode & ModeBits.GroupExecute) != 0) newMode &= ~ModeBits.SetGid;
            }
            result = result with { Uid = uid, Gid = gid, Mode = newMode, Ctime = now };
        }
        if (c.Atime is not null || c.Mtime is not null)
        {
            var explicitTime = c.Atime is { SetToNow: false } || c.Mtime is { SetToNow: false };
            if (explicitTime) Permissions.DemandOwner(inode, caller, subject);
            else if (!caller.IsRoot && caller.Uid != inode.Uid && !Permissions.Allows(inode, caller, AccessMode.Write))
                throw new FileSystemException(Errno.EACCES, subject, "setting times to now needs ownership or write permission");
            result = result with
            {
                Atime = c.Atime is { } a ? a.SetToNow ? now : a.Value!.Value : result.Atime,
                Mtime = c.Mtime is { } m ? m.SetToNow ? now : m.Value!.Value : result.Mtime,
                Ctime = now,
            };
        }
        if (c.Ctime is { } ctime) result = result with { Ctime = ctime };
        return result;
    }

    /// <summary>statfs(2). Cassandra has no fixed capacity: the totals are nominal, the used figures counted.</summary>
    public async Task<FileSystemStats> StatFsAsync(CancellationToken ct = default)
    {
        var (blocks, inodes) = await _store.UsageAsync(ct).ConfigureAwait(false);
        var total = MaxFileSize / BlockSize;
        blocks = Math.Clamp(blocks, 0, total);
        return new FileSystemStats(BlockSize, total, total - blocks, blocks, Math.Max(inodes, 1), long.MaxValue / 2, Names.MaxNameBytes);
    }

    // ------------------------------------------------------------------ extended attributes

    public async Task<byte[]> GetXAttrAsync(Guid id, string name, Caller caller, CancellationToken ct = default)
    {
        RefuseSystemNamespace(name);
        var (answered, value) = await TryXAttrOfWriterAsync(id, name, caller, ct).ConfigureAwait(false);
        if (!answered)
        {
            var inode = await LoadAsync(id, name, ct).ConfigureAwait(false);
            DemandXAttrAccess(inode, name, caller, AccessMode.Read);
            value = (await _store.GetXAttrAsync(id, name, ct).ConfigureAwait(false))?.ToArray();
        }
        return value ?? throw new FileSystemException(Errno.ENODATA, name);
    }

    /// <summary>
    /// Answers from memory while this client writes the file under its inode lock, which every change of attributes
    /// needs: the kernel asks for security.capability before each write (to drop it, as a write must), and that
    /// cost two reads from Cassandra per write. The first ask of a holding reads the store; not answered (the store is
    /// asked as usual) when nobody here holds the file's writer lock.
    /// </summary>
    private async Task<(bool Answered, byte[]? Value)> TryXAttrOfWriterAsync(Guid id, string name, Caller caller, CancellationToken ct)
    {
        if (!_open.TryGetValue(id, out var file)) return (false, null);
        return await file.GatedAsync(async () =>
        {
            if (file.WriterLock is not { AllHeld: true } || file.Inode is null) return (false, null);
            DemandXAttrAccess(file.Inode, name, caller, AccessMode.Read);
            if (!file.XAttrsUnderLock.TryGetValue(name, out var value))
                file.XAttrsUnderLock[name] = value = (await _store.GetXAttrAsync(id, name, ct).ConfigureAwait(false))?.ToArray();
            return (true, value);
        }, ct).ConfigureAwait(false);
    }

    public async Task SetXAttrAsync(Guid id, string name, ReadOnlyMemory<byte> value, XAttrFlags flags, Caller caller, CancellationToken ct = default)
    {
        ThrowIfReadOnly(name);
        ValidateXAttrName(name);
        if (value.Length > 64 * 1024) throw new FileSystemException(Errno.ERANGE, name, "extended attribute values are at most 64 KiB");
        await using var locks = await LockAsync(new[] { (LockKey.ForInode(id), LockMode.Write) }, "setxattr", ct).ConfigureAwait(false);
        var inode = await LoadAsync(id, name, ct).ConfigureAwait(false);
        DemandXAttrAccess(inode, name, caller, AccessMode.Write);
        if (flags != XAttrFlags.Either)
        {
            var exists = await _store.GetXAttrAsync(id, name, ct).ConfigureAwait(false) is not null;
            if (flags == XAttrFlags.Create && exists) throw new FileSystemException(Errno.EEXIST, name, "the attribute exists");
            if (flags == XAttrFlags.Replace && !exists) throw new FileSystemException(Errno.ENODATA, name);
        }
        await _store.SetXAttrAsync(id, name, value, ct).ConfigureAwait(false);
        await TouchAsync(id, new TouchedTimes(Ctime: Timespec.Now), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> ListXAttrAsync(Guid id, Caller caller, CancellationToken ct = default)
    {
        await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false); // ENOENT for an inode that is gone
        var names = await _store.ListXAttrsAsync(id, ct).ConfigureAwait(false);
        return names.Where(n => XAttrVisible(n, caller)).ToList();
    }

    public async Task RemoveXAttrAsync(Guid id, string name, Caller caller, CancellationToken ct = default)
    {
        ThrowIfReadOnly(name);
        await using var locks = await LockAsync(new[] { (LockKey.ForInode(id), LockMode.Write) }, "removexattr", ct).ConfigureAwait(false);
        var inode = await LoadAsync(id, name, ct).ConfigureAwait(false);
        DemandXAttrAccess(inode, name, caller, AccessMode.Write);
        if (await _store.GetXAttrAsync(id, name, ct).ConfigureAwait(false) is null) throw new FileSystemException(Errno.ENODATA, name);
        await _store.RemoveXAttrAsync(id, name, ct).ConfigureAwait(false);
        await TouchAsync(id, new TouchedTimes(Ctime: Timespec.Now), ct).ConfigureAwait(false);
    }

    private static void ValidateXAttrName(string name)
    {
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) > 255)
            throw new FileSystemException(Errno.ERANGE, name, "an attribute name is 1-255 bytes");
        RefuseSystemNamespace(name);
        if (!(name.StartsWith("user.", StringComparison.Ordinal) || name.StartsWith("trusted.", StringComparison.Ordinal) ||
              name.StartsWith("security.", StringComparison.Ordinal)))
            throw new FileSystemException(Errno.EOPNOTSUPP, name, "attribute names start with user., trusted. or security.");
    }

    /// <summary>
    /// system.* attributes are the kernel's views of other state (POSIX ACLs above all); CassaFS has no ACLs, and
    /// keeping them as plain data would leave the mode bits they stand for unchanged (cp -a would lose modes).
    /// EOPNOTSUPP makes tools fall back to chmod, as on any filesystem without ACLs.
    /// </summary>
    private static void RefuseSystemNamespace(string name)
    {
        if (name.StartsWith("system.", StringComparison.Ordinal))
            throw new FileSystemException(Errno.EOPNOTSUPP, name, "POSIX ACLs and other system.* attributes are not supported");
    }

    private static bool XAttrVisible(string name, Caller caller) =>
        !name.StartsWith("trusted.", StringComparison.Ordinal) || caller.IsRoot;

    private static void DemandXAttrAccess(Inode inode, string name, Caller caller, AccessMode mode)
    {
        if (name.StartsWith("trusted.", StringComparison.Ordinal) && !caller.IsRoot)
            throw new FileSystemException(mode == AccessMode.Read ? Errno.ENODATA : Errno.EPERM, name, "trusted.* attributes are root's");
        if (name.StartsWith("user.", StringComparison.Ordinal) && inode.Type is not (FileType.Regular or FileType.Directory))
            throw new FileSystemException(Errno.EPERM, name, "user.* attributes exist only on files and directories");
        Permissions.Demand(inode, caller, mode, name);
    }

    // ------------------------------------------------------------------ shared machinery

    internal async Task<Inode> LoadAsync(Guid id, string subject, CancellationToken ct) =>
        await _store.GetInodeAsync(id, ct).ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, subject);

    internal async Task<Inode> LoadDirectoryAsync(Guid id, CancellationToken ct)
    {
        var inode = await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false);
        return inode.IsDirectory ? inode : throw new FileSystemException(Errno.ENOTDIR, id.ToString());
    }

    /// <summary>
    /// Takes <paramref name="keys"/> for one operation. <paramref name="directories"/> (each of them among the keys, in
    /// exclusive mode) are the directories whose names the operation makes, removes or moves: their locks may be kept
    /// from the last such operation here, and are kept for the next (<see cref="KeptLocks"/>).
    /// </summary>
    private async Task<LockSet> LockAsync(IEnumerable<(LockKey Key, LockMode Mode)> keys, string purpose, CancellationToken ct, params Guid[] directories)
    {
        var wanted = keys.ToList();
        await YieldWritersAsync(wanted.Select(k => k.Key).ToHashSet(), ct).ConfigureAwait(false);
        var keep = _kept is not null && directories.Length > 0 ? directories.Select(LockKey.ForInode).ToHashSet() : null;
        return await LockSet.AcquireAsync(_locks, wanted, $"{purpose} by {_options.ClientName}", _options.LockTimeout, ct, _kept, keep).ConfigureAwait(false);
    }

    /// <summary>
    /// A writer here keeps its inode lock across a burst of writes; another operation of this same client on that
    /// inode (chmod or utimens of an open file, unlink of it) would otherwise wait for its own writer to go idle.
    /// The writer stores what it buffered and lets go; its next write takes the lock again.
    /// </summary>
    private async Task YieldWritersAsync(HashSet<LockKey> keys, CancellationToken ct)
    {
        foreach (var file in _open.Values)
        {
            if (file.WriterLock is null || !keys.Contains(LockKey.ForInode(file.Id))) continue;
            await file.GatedAsync(async () =>
            {
                if (file.WriterLock is null) return;
                await FlushFileAsync(file, ct).ConfigureAwait(false);
                await file.ReleaseWriterLockAsync().ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the inode, applies <paramref name="change"/> and writes it back if nobody committed in between (the
    /// fence still holds what was read), with this operation's fencing token. Tokens grow with every grant, so a
    /// stored fence larger than ours means a later holder has committed: our lock was lost, and we get ESTALE. A
    /// compare-and-set that fails on a smaller fence means a stale holder slipped a change in first: read again
    /// and redo the change on top of it.
    /// </summary>
    internal async Task<Inode> CommitAsync(LockSet locks, Guid id, string subject, Func<Inode, Inode> change, CancellationToken ct, Inode? read = null)
    {
        var token = locks.TokenFor(LockKey.ForInode(id));
        for (var attempt = 0; attempt < FencedRetries; attempt++)
        {
            locks.ThrowIfLost(subject);
            // The first try may start from the inode as the operation read it under this lock.
            var before = attempt == 0 && read is not null ? read : await LoadAsync(id, subject, ct).ConfigureAwait(false);
            if (before.Fence > token) throw StaleHolder(subject);
            var after = change(before) with { Fence = token };
            var outcome = await _store.CommitInodeAsync(after, before.Fence, ct).ConfigureAwait(false);
            if (outcome.Result == FencedCommitResult.Applied)
            {
                _feed.Changed(id);
                return after;
            }
            if (outcome.Result == FencedCommitResult.Gone) throw new FileSystemException(Errno.ENOENT, subject);
            if (outcome.StoredFence > token) throw StaleHolder(subject);
        }
        throw new FileSystemException(Errno.EAGAIN, subject, "the inode kept changing under a held lock; retry");
    }

    private static FileSystemException StaleHolder(string subject) =>
        new(Errno.ESTALE, subject, "another client took the lock on this inode after ours was lost; the change was not made");

    /// <summary>
    /// Sets an inode's link count to <paramref name="count"/> of the stored one, under the inode's exclusive lock: a
    /// plain write stamped from that grant (<see cref="IFileSystemStore.SetLinksAsync"/>), so a late write of a holder
    /// whose lock was lost loses to every later holder's, as for names; no Paxos round. <paramref name="read"/> is the
    /// inode as read under this lock, if the operation has it (nobody else changes a link count without the lock).
    /// </summary>
    internal async Task<Inode> LinksAsync(LockSet locks, Guid id, string subject, Func<long, long> count, CancellationToken ct, Inode? read = null)
    {
        locks.ThrowIfLost(subject);
        var before = read ?? await LoadAsync(id, subject, ct).ConfigureAwait(false);
        var after = before with { Nlink = count(before.Nlink) };
        await _store.SetLinksAsync(id, after.Nlink, locks.Stamp(id), ct).ConfigureAwait(false);
        _feed.Changed(id);
        return after;
    }

    /// <summary>Sets the times named (plain writes: the last writer wins, which is right for times).</summary>
    internal async Task TouchAsync(Guid id, TouchedTimes times, CancellationToken ct)
    {
        await _store.TouchAsync(id, times, ct).ConfigureAwait(false);
        _feed.Changed(id);
    }

    // Names change through these, under the directory's exclusive lock (which makes reading a name and then writing
    // it atomic: every writer of names holds it) and stamped from that grant, so that other clients hear of every
    // change and a late write of a holder whose lock was lost loses to every later holder's.

    internal Task WriteEntryAsync(LockSet locks, Guid dir, DirectoryEntry entry, CancellationToken ct) =>
        WriteNamesAsync(locks, dir, [(entry.Name, entry)], stamp => _store.WriteEntryAsync(dir, entry, stamp, ct));

    internal Task RemoveEntryAsync(LockSet locks, Guid dir, string name, CancellationToken ct) =>
        WriteNamesAsync(locks, dir, [(name, null)], stamp => _store.RemoveEntryAsync(dir, name, stamp, ct));

    /// <summary>A rename within one directory: the new name and the old one's removal in one write.</summary>
    internal Task MoveEntryAsync(LockSet locks, Guid dir, string oldName, DirectoryEntry entry, CancellationToken ct) =>
        WriteNamesAsync(locks, dir, [(entry.Name, entry), (oldName, null)], stamp => _store.MoveEntryAsync(dir, oldName, entry, stamp, ct));

    /// <summary>One write of names (each with what it makes the name, null for a removal), stamped from the directory's grant and announced.</summary>
    private async Task WriteNamesAsync(LockSet locks, Guid dir, IReadOnlyList<(string Name, DirectoryEntry? Now)> names, Func<long, Task> store)
    {
        locks.ThrowIfLost(names[0].Name);
        var stamp = locks.Stamp(dir);
        await locks.WritingNamesAsync(dir, names, () => store(stamp)).ConfigureAwait(false);
        foreach (var (name, _) in names) _feed.Changed(dir, name);
    }

    /// <summary>fsck's repair of a name: removed under its directory's lock if it still points at <paramref name="inode"/>.</summary>
    internal async Task RemoveEntryIfAsync(Guid dir, string name, Guid inode, CancellationToken ct)
    {
        await using var locks = await LockAsync(new[] { (LockKey.ForInode(dir), LockMode.Write) }, $"fsck {name}", ct).ConfigureAwait(false);
        if ((await _store.GetEntryAsync(dir, name, ct).ConfigureAwait(false))?.Inode == inode)
            await RemoveEntryAsync(locks, dir, name, ct).ConfigureAwait(false);
    }

    private async Task TouchDirectoryAsync(Guid dir, CancellationToken ct)
    {
        await TouchAsync(dir, TouchedTimes.Modified(Timespec.Now), ct).ConfigureAwait(false); // a directory that went stays gone
    }

    private void ThrowIfReadOnly(string subject)
    {
        if (_options.ReadOnly) throw new FileSystemException(Errno.EROFS, subject, "mounted read-only");
    }

    /// <summary>Sizes of files open here include writes still in this client's buffer.</summary>
    private Inode WithOpenState(Inode inode)
    {
        if (!_open.TryGetValue(inode.Id, out var file) || file.Inode is null) return inode;
        if (!file.MetadataDirty) return inode;
        var pending = file.Inode;
        var overlaid = inode with { Size = file.Size, Mtime = pending.Mtime, Ctime = pending.Ctime, Mode = pending.Mode };
        return file.AttributesSet ? overlaid with { Uid = pending.Uid, Gid = pending.Gid, Atime = pending.Atime } : overlaid;
    }

    /// <summary>Stores what every open file buffered and lets go of its lock; one file that cannot be stored does not keep the others from it (its error is thrown after).</summary>
    public async ValueTask DisposeAsync()
    {
        Exception? first = null;
        foreach (var file in _open.Values)
        {
            await file.GatedAsync(async () =>
            {
                try
                {
                    await FlushFileAsync(file, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    first ??= e;
                }
                finally
                {
                    await file.ReleaseWriterLockAsync().ConfigureAwait(false);
                }
            }, CancellationToken.None).ConfigureAwait(false);
        }
        await RemovalsSettledAsync().ConfigureAwait(false);
        await _store.FlushUsageAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _feed.FlushAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            await _idleReleaser.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _closing.Dispose();
        if (_kept is not null) await _kept.DisposeAsync().ConfigureAwait(false);
        if (first is not null) ExceptionDispatchInfo.Throw(first);
    }
}
