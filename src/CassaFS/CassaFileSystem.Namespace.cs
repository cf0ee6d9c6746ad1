using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using CassaFS.Locks;

namespace CassaFS;

public sealed partial class CassaFileSystem
{
    /// <summary>mknod(2): a regular file, FIFO, socket or device node.</summary>
    public Task<Inode> MknodAsync(Guid parent, string name, FileType type, int mode, long rdev, Caller caller, CancellationToken ct = default)
    {
        if (type is FileType.Directory or FileType.Symlink)
            throw new FileSystemException(Errno.EINVAL, name, "mknod makes files, FIFOs, sockets and devices; use mkdir or symlink");
        if (type is FileType.CharDevice or FileType.BlockDevice && !caller.IsRoot)
            throw new FileSystemException(Errno.EPERM, name, "only root may make device nodes");
        return CreateNodeAsync(parent, name, type, mode, rdev, null, caller, ct);
    }

    /// <summary>mkdir(2).</summary>
    public Task<Inode> MkdirAsync(Guid parent, string name, int mode, Caller caller, CancellationToken ct = default) =>
        CreateNodeAsync(parent, name, FileType.Directory, mode, 0, null, caller, ct);

    /// <summary>symlink(2): <paramref name="name"/> in <paramref name="parent"/> pointing at <paramref name="target"/>.</summary>
    public Task<Inode> SymlinkAsync(Guid parent, string name, string target, Caller caller, CancellationToken ct = default)
    {
        if (string.IsNullOrEmpty(target)) throw new FileSystemException(Errno.ENOENT, name, "a symbolic link needs a target");
        if (Encoding.UTF8.GetByteCount(target) > MaxSymlinkLength) throw new FileSystemException(Errno.ENAMETOOLONG, name, "the link target is longer than 4095 bytes");
        return CreateNodeAsync(parent, name, FileType.Symlink, 0x1FF, 0, target, caller, ct);
    }

    /// <summary>readlink(2).</summary>
    public async Task<string> ReadLinkAsync(Guid id, CancellationToken ct = default)
    {
        var inode = await LoadAsync(id, id.ToString(), ct).ConfigureAwait(false);
        return inode.Type == FileType.Symlink ? inode.Target ?? "" : throw new FileSystemException(Errno.EINVAL, id.ToString(), "not a symbolic link");
    }

    /// <summary>
    /// Creates a name under the directory's exclusive lock (kept for this client's next names there): the name is
    /// looked up beside the new inode row's write, then written (a plain stamped write: the lock makes the look and the
    /// write one step, so of racing clients exactly one finds the name free), then the directory's link count or
    /// times. A name this client found absent under the same grant (the kernel looks a name up before creating it)
    /// is not read again, and goes out beside the inode's write. Dying in between leaves an inode nothing points to,
    /// or a name whose inode is missing (which reads as absent); fsck removes either.
    /// </summary>
    private async Task<Inode> CreateNodeAsync(Guid parent, string name, FileType type, int mode, long rdev, string? target, Caller caller, CancellationToken ct, Guid? id = null, Action<LockSet>? locked = null)
    {
        ThrowIfReadOnly(name);
        Names.Entry(name);
        var isDirectory = type == FileType.Directory;
        await using var locks = await LockAsync(new[] { (LockKey.ForInode(parent), LockMode.Write) }, $"create {name}", ct, parent).ConfigureAwait(false);
        // The first create under a new grant lists the directory's names beside reading it (if it has few, this
        // client then knows them all until the grant goes: see KeptLocks).
        var listing = locks.ListingWanted(parent) is { } look ? ListNamesAsync(parent, look, ct) : Task.CompletedTask;
        Inode dir;
        try
        {
            dir = await KeptOrLoadDirectoryAsync(locks, parent, ct).ConfigureAwait(false);
        }
        catch
        {
            Forget(listing);
            throw;
        }
        await listing.ConfigureAwait(false);
        if (dir.Nlink == 0) throw new FileSystemException(Errno.ENOENT, name, "the directory has been removed");
        Permissions.Demand(dir, caller, AccessMode.Write | AccessMode.Execute, name);
        locks.KeepDirectory(dir);
        locked?.Invoke(locks);

        var now = Timespec.Now;
        var inheritGroup = (dir.Mode & ModeBits.SetGid) != 0;
        mode &= ModeBits.Permissions;
        if (isDirectory && inheritGroup) mode |= ModeBits.SetGid;
        var inode = new Inode
        {
            Id = id ?? Guid.NewGuid(),
            Type = type,
            Mode = mode,
            Uid = caller.Uid,
            Gid = inheritGroup ? dir.Gid : caller.Gid,
            Nlink = isDirectory ? 2 : 1,
            Size = target is null ? 0 : Encoding.UTF8.GetByteCount(target),
            Rdev = rdev,
            Atime = now,
            Mtime = now,
            Ctime = now,
            Target = target,
            Generation = RandomNumberGenerator.GetInt32(int.MaxValue),
            Parent = isDirectory ? parent : Guid.Empty,
        };
        var inserted = _store.InsertInodeAsync(inode, ct);
        if (!locks.KnownAbsent(parent, name))
        {
            // The look for the name and the inode's write go out together: a name that exists costs the inode's delete.
            var existingRead = _store.GetEntryAsync(parent, name, ct);
            await Task.WhenAll(existingRead, inserted).ConfigureAwait(false);
            if (await existingRead.ConfigureAwait(false) is not null)
            {
                await _store.DeleteInodeAsync(inode.Id, ct).ConfigureAwait(false);
                throw new FileSystemException(Errno.EEXIST, name);
            }
        }
        var named = WriteEntryAsync(locks, parent, new DirectoryEntry(name, inode.Id, type), ct);
        if (isDirectory)
        {
            // The directory as read under its lock has the link count no other client can change meanwhile.
            var linked = LinksAsync(locks, parent, name, n => n + 1, ct, dir);
            await Task.WhenAll(inserted, named, linked, TouchAsync(dir.Id, TouchedTimes.Modified(now), ct)).ConfigureAwait(false);
            locks.KeepDirectory(await linked.ConfigureAwait(false));
        }
        else
        {
            // The times are last-writer-wins: they go beside the name (a crash between leaves them newer, harmlessly).
            await Task.WhenAll(inserted, named, TouchAsync(dir.Id, TouchedTimes.Modified(now), ct)).ConfigureAwait(false);
        }
        await _store.AddUsageAsync(0, 1, ct).ConfigureAwait(false);
        return inode;
    }

    /// <summary>Lists a directory's names for the kept grant <paramref name="look"/> was taken under, when it has few enough (a head start only: a failure lists nothing).</summary>
    private async Task ListNamesAsync(Guid dir, KeptLocks.NameLook look, CancellationToken ct)
    {
        var names = new List<DirectoryEntry>();
        try
        {
            await foreach (var entry in _store.ListEntriesAsync(dir, null, KeptLocks.ListedNames + 1, ct).ConfigureAwait(false))
            {
                names.Add(entry);
                if (names.Count > KeptLocks.ListedNames) return;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return;
        }
        KeptLocks.NoteListing(look, names);
    }

    /// <summary>
    /// unlink(2). The name goes first (with the directory's times), then the link count, committed before the unlink
    /// answers: another mount whose kernel still caches the name must find the file gone when it opens it (SQLite's
    /// hot-journal check). The purge of a file with no name left runs behind (see <see cref="DropInodeAsync"/>).
    /// </summary>
    public async Task UnlinkAsync(Guid parent, string name, Caller caller, CancellationToken ct = default)
    {
        ThrowIfReadOnly(name);
        Names.Entry(name);
        for (var attempt = 0; attempt < NameRetries; attempt++)
        {
            var entry = await EntryAsync(parent, name, ct).ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, name);
            if (entry.Type == FileType.Directory) throw new FileSystemException(Errno.EISDIR, name, "use rmdir for directories");
            await using var locks = await LockAsync(new[] { (LockKey.ForInode(parent), LockMode.Write), (LockKey.ForInode(entry.Inode), LockMode.Write) }, $"unlink {name}", ct, parent).ConfigureAwait(false);
            // Under the lock: the name again (it may have changed before we had it), and the file, beside the directory's read.
            var (nameRead, victimRead) = (EntryAsync(parent, name, ct, locks), _store.GetInodeAsync(entry.Inode, ct));
            Inode dir;
            try
            {
                dir = await KeptOrLoadDirectoryAsync(locks, parent, ct).ConfigureAwait(false);
                Permissions.Demand(dir, caller, AccessMode.Write | AccessMode.Execute, name);
                locks.KeepDirectory(dir);
                if (await nameRead.ConfigureAwait(false) != entry) continue; // changed under us: look again
            }
            catch
            {
                Forget(Task.WhenAll(nameRead, victimRead));
                throw;
            }
            var victim = await victimRead.ConfigureAwait(false);
            if (victim is not null) Permissions.DemandStickyOwnership(dir, victim, caller, name);
            var now = Timespec.Now;
            await Task.WhenAll(RemoveEntryAsync(locks, parent, name, ct), TouchAsync(dir.Id, TouchedTimes.Modified(now), ct)).ConfigureAwait(false);
            if (victim is null) return; // the name pointed nowhere (crash garbage): removing it is all there is
            var after = await RelinkAsync(locks, victim, name, n => Math.Max(0, n - 1), now, ct).ConfigureAwait(false);
            if (after.Nlink == 0) await DropInodeAsync(after).ConfigureAwait(false);
            return;
        }
        throw NameKeptChanging("unlink", name);
    }

    /// <summary>The directory as read under the kept lock <paramref name="locks"/> borrowed for it (see <see cref="LockSet.KeptDirectory"/>), else read now.</summary>
    private Task<Inode> KeptOrLoadDirectoryAsync(LockSet locks, Guid dir, CancellationToken ct) =>
        locks.KeptDirectory(dir) is { } kept ? Task.FromResult(kept) : LoadDirectoryAsync(dir, ct);

    /// <summary>
    /// The entry <paramref name="name"/> of <paramref name="dir"/>: from what this client knows of it under its kept
    /// lock on the directory (borrowed by <paramref name="locks"/>, or not lent at all), else read.
    /// </summary>
    private Task<DirectoryEntry?> EntryAsync(Guid dir, string name, CancellationToken ct, LockSet? locks = null)
    {
        var known = locks is not null ? locks.Known(dir, name) : _kept?.Peek(LockKey.ForInode(dir), name).Known ?? default;
        return known.Known ? Task.FromResult(known.Entry) : _store.GetEntryAsync(dir, name, ct);
    }

    /// <summary>How often unlink, rmdir and rename look again when the name changed between reading it and locking it.</summary>
    private const int NameRetries = 16;

    private static FileSystemException NameKeptChanging(string operation, string name) =>
        new(Errno.EAGAIN, name, $"the name kept changing under other clients during the {operation}; retry");

    /// <summary>rmdir(2): only an empty directory; its creators hold a shared lock on it, so the emptiness check cannot race a create.</summary>
    public async Task RmdirAsync(Guid parent, string name, Caller caller, CancellationToken ct = default)
    {
        ThrowIfReadOnly(name);
        Names.Entry(name);
        for (var attempt = 0; attempt < NameRetries; attempt++)
        {
            var entry = await _store.GetEntryAsync(parent, name, ct).ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, name);
            if (entry.Type != FileType.Directory) throw new FileSystemException(Errno.ENOTDIR, name);
            await using var locks = await LockAsync(new[] { (LockKey.ForInode(parent), LockMode.Write), (LockKey.ForInode(entry.Inode), LockMode.Write) }, $"rmdir {name}", ct, parent).ConfigureAwait(false);
            if (await _store.GetEntryAsync(parent, name, ct).ConfigureAwait(false) != entry) continue; // changed before we had the lock
            locks.ForgetDirectories(); // its link count changes
            var dir = await LoadDirectoryAsync(parent, ct).ConfigureAwait(false);
            Permissions.Demand(dir, caller, AccessMode.Write | AccessMode.Execute, name);
            var victim = await _store.GetInodeAsync(entry.Inode, ct).ConfigureAwait(false);
            if (victim is not null)
            {
                Permissions.DemandStickyOwnership(dir, victim, caller, name);
                if (await _store.HasEntriesAsync(victim.Id, ct).ConfigureAwait(false)) throw new FileSystemException(Errno.ENOTEMPTY, name);
            }
            await RemoveEntryAsync(locks, parent, name, ct).ConfigureAwait(false);
            var now = Timespec.Now;
            var parentDone = Task.WhenAll(LinksAsync(locks, parent, name, n => Math.Max(2, n - 1), ct, dir), TouchAsync(parent, TouchedTimes.Modified(now), ct));
            if (victim is null)
            {
                await parentDone.ConfigureAwait(false);
                return;
            }
            var dead = RelinkAsync(locks, victim, name, _ => 0, now, ct);
            await Task.WhenAll(parentDone, dead).ConfigureAwait(false);
            await DropInodeAsync(await dead.ConfigureAwait(false)).ConfigureAwait(false);
            return;
        }
        throw NameKeptChanging("rmdir", name);
    }

    /// <summary>link(2): a second name for a file (never a directory).</summary>
    public async Task<Inode> LinkAsync(Guid id, Guid newParent, string newName, Caller caller, CancellationToken ct = default)
    {
        ThrowIfReadOnly(newName);
        Names.Entry(newName);
        await HoldIfDeferredAsync(id, ct).ConfigureAwait(false); // its new name may be removed by another client
        await using var locks = await LockAsync(new[] { (LockKey.ForInode(newParent), LockMode.Write), (LockKey.ForInode(id), LockMode.Write) }, $"link {newName}", ct, newParent).ConfigureAwait(false);
        var existingRead = _store.GetEntryAsync(newParent, newName, ct);
        Inode target, dir;
        try
        {
            target = await LoadAsync(id, newName, ct).ConfigureAwait(false);
            if (target.IsDirectory) throw new FileSystemException(Errno.EPERM, newName, "directories cannot be hard-linked");
            if (target.Nlink == 0) throw new FileSystemException(Errno.ENOENT, newName, "the file has been removed");
            dir = await KeptOrLoadDirectoryAsync(locks, newParent, ct).ConfigureAwait(false);
            if (dir.Nlink == 0) throw new FileSystemException(Errno.ENOENT, newName, "the directory has been removed");
            Permissions.Demand(dir, caller, AccessMode.Write | AccessMode.Execute, newName);
            locks.KeepDirectory(dir);
        }
        catch
        {
            Forget(existingRead);
            throw;
        }
        if (await existingRead.ConfigureAwait(false) is not null) throw new FileSystemException(Errno.EEXIST, newName);
        var now = Timespec.Now;
        // The link count goes up before the name appears: a crash in between leaves a count one too high (fsck
        // lowers it), never a name the count does not cover (which would let unlink free a file still named).
        var linked = await RelinkAsync(locks, target, newName, n => n + 1, now, ct).ConfigureAwait(false);
        await Task.WhenAll(WriteEntryAsync(locks, newParent, new DirectoryEntry(newName, id, target.Type), ct), TouchAsync(dir.Id, TouchedTimes.Modified(now), ct)).ConfigureAwait(false);
        return WithOpenState(linked);
    }

    /// <summary>
    /// rename(2) and renameat2's NOREPLACE and EXCHANGE. O(1) whatever lies below a renamed directory: only entries
    /// and the moved directory's parent pointer change. Cross-directory moves of directories take one
    /// filesystem-wide lock first (as Linux serializes them) so two moves cannot build a cycle.
    /// </summary>
    public async Task RenameAsync(Guid oldParent, string oldName, Guid newParent, string newName, RenameFlags flags, Caller caller, CancellationToken ct = default)
    {
        ThrowIfReadOnly(oldName);
        Names.Entry(oldName);
        Names.Entry(newName);
        if (flags.HasFlag(RenameFlags.Exchange) && flags.HasFlag(RenameFlags.NoReplace))
            throw new FileSystemException(Errno.EINVAL, newName, "EXCHANGE and NOREPLACE exclude each other");
        var exchange = flags.HasFlag(RenameFlags.Exchange);
        for (var attempt = 0; attempt < NameRetries; attempt++)
        {
            // Reads that nothing orders go out together (here and under the locks); their errors keep the order above.
            var (sourceRead, targetRead) = (EntryAsync(oldParent, oldName, ct), EntryAsync(newParent, newName, ct));
            await Task.WhenAll(sourceRead, targetRead).ConfigureAwait(false);
            var source = await sourceRead.ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, oldName);
            var target = await targetRead.ConfigureAwait(false);
            if (target is not null && flags.HasFlag(RenameFlags.NoReplace)) throw new FileSystemException(Errno.EEXIST, newName);
            if (target is null && exchange) throw new FileSystemException(Errno.ENOENT, newName);
            if (target is not null && target.Inode == source.Inode) return; // two names of one file: POSIX says do nothing

            var crossDirectory = oldParent != newParent;
            var movesDirectory = source.Type == FileType.Directory || (exchange && target!.Type == FileType.Directory);
            if (crossDirectory)
            {
                await HoldIfDeferredAsync(source.Inode, ct).ConfigureAwait(false);
                if (exchange) await HoldIfDeferredAsync(target!.Inode, ct).ConfigureAwait(false);
            }
            var keys = new List<(LockKey, LockMode)>
            {
                (LockKey.ForInode(oldParent), LockMode.Write),
                (LockKey.ForInode(newParent), LockMode.Write),
            };
            // A moved file keeps its link count (only its ctime moves, a plain write): its own lock is needed only
            // where the move changes its inode, a directory's parent pointer, or both names swap.
            if (source.Type == FileType.Directory || exchange) keys.Add((LockKey.ForInode(source.Inode), LockMode.Write));
            if (target is not null) keys.Add((LockKey.ForInode(target.Inode), LockMode.Write));
            if (movesDirectory && crossDirectory) keys.Add((LockKey.ForFileSystem("rename"), LockMode.Write));
            await using var locks = await LockAsync(keys, $"rename {oldName} to {newName}", ct, oldParent, newParent).ConfigureAwait(false);
            if (movesDirectory) locks.ForgetDirectories(); // a directory's move changes its parents' link counts

            // Re-read under the locks: if either name moved meanwhile, start over with what is there now.
            (sourceRead, targetRead) = (EntryAsync(oldParent, oldName, ct, locks), EntryAsync(newParent, newName, ct, locks));
            var fromDirRead = KeptOrLoadDirectoryAsync(locks, oldParent, ct);
            var toDirRead = crossDirectory ? KeptOrLoadDirectoryAsync(locks, newParent, ct) : fromDirRead;
            var movedRead = _store.GetInodeAsync(source.Inode, ct);
            var replacedRead = target is null ? Task.FromResult<Inode?>(null) : _store.GetInodeAsync(target.Inode, ct);
            try
            {
                await Task.WhenAll(sourceRead, targetRead).ConfigureAwait(false);
            }
            finally
            {
                Forget(Task.WhenAll(new Task[] { fromDirRead, toDirRead, movedRead, replacedRead }));
            }
            if (await sourceRead.ConfigureAwait(false) != source || await targetRead.ConfigureAwait(false) != target)
                continue;
            await Task.WhenAll(new Task[] { fromDirRead, toDirRead, movedRead, replacedRead }).ConfigureAwait(false);
            var fromDir = await fromDirRead.ConfigureAwait(false);
            var toDir = await toDirRead.ConfigureAwait(false);
            var moved = await movedRead.ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, oldName);
            var replaced = await replacedRead.ConfigureAwait(false);
            CheckRenamePermissions(fromDir, toDir, moved, replaced, crossDirectory, exchange, caller, oldName, newName);
            if (toDir.Nlink == 0) throw new FileSystemException(Errno.ENOENT, newName, "the target directory has been removed");

            if (crossDirectory && source.Type == FileType.Directory)
                await DemandNotInsideAsync(source.Inode, newParent, newName, ct).ConfigureAwait(false);
            if (exchange && crossDirectory && target!.Type == FileType.Directory)
                await DemandNotInsideAsync(target.Inode, oldParent, oldName, ct).ConfigureAwait(false);

            if (exchange)
            {
                await ExchangeAsync(locks, oldParent, source, newParent, target!, ct).ConfigureAwait(false);
                return;
            }
            if (replaced is not null) await CheckReplaceableAsync(moved, replaced, newName, ct).ConfigureAwait(false);
            await MoveAsync(locks, oldParent, source, newParent, newName, target, replaced, ct).ConfigureAwait(false);
            return;
        }
        throw NameKeptChanging("rename", oldName);
    }

    private static void CheckRenamePermissions(Inode fromDir, Inode toDir, Inode moved, Inode? replaced, bool crossDirectory, bool exchange, Caller caller, string oldName, string newName)
    {
        Permissions.Demand(fromDir, caller, AccessMode.Write | AccessMode.Execute, oldName);
        Permissions.Demand(toDir, caller, AccessMode.Write | AccessMode.Execute, newName);
        Permissions.DemandStickyOwnership(fromDir, moved, caller, oldName);
        if (replaced is not null) Permissions.DemandStickyOwnership(toDir, replaced, caller, newName);
        // Moving a directory to another parent rewrites its "..": that needs write permission on it.
        if (crossDirectory && moved.IsDirectory) Permissions.Demand(moved, caller, AccessMode.Write, oldName);
        if (crossDirectory && exchange && replaced is { IsDirectory: true }) Permissions.Demand(replaced, caller, AccessMode.Write, newName);
    }

    private async Task CheckReplaceableAsync(Inode moved, Inode replaced, string newName, CancellationToken ct)
    {
        if (moved.IsDirectory && !replaced.IsDirectory) throw new FileSystemException(Errno.ENOTDIR, newName, "cannot replace a non-directory with a directory");
        if (!moved.IsDirectory && replaced.IsDirectory) throw new FileSystemException(Errno.EISDIR, newName, "cannot replace a directory with a non-directory");
        if (replaced.IsDirectory && await _store.HasEntriesAsync(replaced.Id, ct).ConfigureAwait(false))
            throw new FileSystemException(Errno.ENOTEMPTY, newName);
    }

    /// <summary>EINVAL when <paramref name="destination"/> is <paramref name="directory"/> or lies below it (walking parent pointers up to the root).</summary>
    private async Task DemandNotInsideAsync(Guid directory, Guid destination, string name, CancellationToken ct)
    {
        var current = destination;
        for (var depth = 0; depth < 4096; depth++)
        {
            if (current == directory) throw new FileSystemException(Errno.EINVAL, name, "a directory cannot be moved into itself or below itself");
            if (current == Inode.RootId) return;
            var inode = await LoadAsync(current, name, ct).ConfigureAwait(false);
            current = inode.Parent;
        }
        throw new FileSystemException(Errno.ELOOP, name, "the directory tree is deeper than 4096 levels (or has a cycle: run fsck)");
    }

    /// <summary>
    /// The new name first (pointing at the moved inode), then the moved directory's parent pointer, then the old
    /// name goes, then link counts. A crash in between leaves the inode with one name too many, which fsck resolves
    /// (for a directory, by the parent pointer); never a file with no name. Writes that no crash order depends on go
    /// out beside these: the moved inode's ctime beside its new name, and (when no link count changes) the
    /// directories' times, last-writer-wins as a create's are, beside the old name's removal.
    /// </summary>
    private async Task MoveAsync(LockSet locks, Guid oldParent, DirectoryEntry source, Guid newParent, string newName, DirectoryEntry? target, Inode? replaced, CancellationToken ct)
    {
        var now = Timespec.Now;
        var crossDirectory = oldParent != newParent;
        var directoryMoved = source.Type == FileType.Directory && crossDirectory ? 1 : 0;
        var directoryReplaced = replaced is { IsDirectory: true } ? 1 : 0;
        var movedEntry = new DirectoryEntry(newName, source.Inode, source.Type);
        if (!crossDirectory && directoryReplaced == 0)
        {
            // Within one directory, changing no link count: both names in one write, beside the times.
            await Task.WhenAll(MoveEntryAsync(locks, oldParent, source.Name, movedEntry, ct), TouchAsync(source.Inode, new TouchedTimes(Ctime: now), ct),
                TouchAsync(oldParent, TouchedTimes.Modified(now), ct)).ConfigureAwait(false);
            await ReplacedAsync(locks, replaced, newName, now, ct).ConfigureAwait(false);
            return;
        }
        var named = WriteEntryAsync(locks, newParent, movedEntry, ct);
        if (source.Type == FileType.Directory && crossDirectory)
        {
            await named.ConfigureAwait(false);
            await CommitAsync(locks, source.Inode, newName, m => m with { Parent = newParent, Ctime = now }, ct).ConfigureAwait(false);
        }
        else
        {
            await Task.WhenAll(named, TouchAsync(source.Inode, new TouchedTimes(Ctime: now), ct)).ConfigureAwait(false);
        }

        var removed = RemoveEntryAsync(locks, oldParent, source.Name, ct);
        if (directoryMoved == 0 && directoryReplaced == 0)
        {
            var touched = TouchedTimes.Modified(now);
            await Task.WhenAll(removed, TouchAsync(oldParent, touched, ct), crossDirectory ? TouchAsync(newParent, touched, ct) : Task.CompletedTask).ConfigureAwait(false);
        }
        else if (crossDirectory)
        {
            await removed.ConfigureAwait(false);
            await Task.WhenAll(DirectoryLinksAsync(locks, oldParent, source.Name, -directoryMoved, now, ct),
                DirectoryLinksAsync(locks, newParent, newName, directoryMoved - directoryReplaced, now, ct)).ConfigureAwait(false);
        }
        else
        {
            await removed.ConfigureAwait(false);
            await DirectoryLinksAsync(locks, oldParent, newName, -directoryReplaced, now, ct).ConfigureAwait(false);
        }
        await ReplacedAsync(locks, replaced, newName, now, ct).ConfigureAwait(false);
    }

    /// <summary>An inode read under its lock gets a new link count (<see cref="LinksAsync"/>), and beside it the ctime that change moves.</summary>
    private async Task<Inode> RelinkAsync(LockSet locks, Inode inode, string subject, Func<long, long> count, Timespec now, CancellationToken ct)
    {
        var linked = LinksAsync(locks, inode.Id, subject, count, ct, inode);
        await Task.WhenAll(linked, TouchAsync(inode.Id, new TouchedTimes(Ctime: now), ct)).ConfigureAwait(false);
        return await linked.ConfigureAwait(false) with { Ctime = now };
    }

    /// <summary>A directory whose entries changed: its link count moved by <paramref name="delta"/> (subdirectories' ".."), beside its times.</summary>
    private Task DirectoryLinksAsync(LockSet locks, Guid dir, string subject, int delta, Timespec now, CancellationToken ct) =>
        Task.WhenAll(delta == 0 ? Task.CompletedTask : LinksAsync(locks, dir, subject, n => n + delta, ct), TouchAsync(dir, TouchedTimes.Modified(now), ct));

    /// <summary>The inode a rename replaced lost a name (a directory, its only one).</summary>
    private async Task ReplacedAsync(LockSet locks, Inode? replaced, string newName, Timespec now, CancellationToken ct)
    {
        if (replaced is null) return;
        var after = await RelinkAsync(locks, replaced, newName, n => replaced.IsDirectory ? 0 : Math.Max(0, n - 1), now, ct).ConfigureAwait(false);
        if (after.Nlink == 0) await DropInodeAsync(after).ConfigureAwait(false);
    }

    private async Task ExchangeAsync(LockSet locks, Guid oldParent, DirectoryEntry source, Guid newParent, DirectoryEntry target, CancellationToken ct)
    {
        var now = Timespec.Now;
        await WriteEntryAsync(locks, newParent, target with { Inode = source.Inode, Type = source.Type }, ct).ConfigureAwait(false);
        await WriteEntryAsync(locks, oldParent, source with { Inode = target.Inode, Type = target.Type }, ct).ConfigureAwait(false);
        if (oldParent != newParent)
        {
            if (source.Type == FileType.Directory) await CommitAsync(locks, source.Inode, target.Name, m => m with { Parent = newParent, Ctime = now }, ct).ConfigureAwait(false);
            if (target.Type == FileType.Directory) await CommitAsync(locks, target.Inode, source.Name, m => m with { Parent = oldParent, Ctime = now }, ct).ConfigureAwait(false);
            var delta = (source.Type == FileType.Directory ? 1 : 0) - (target.Type == FileType.Directory ? 1 : 0);
            await Task.WhenAll(DirectoryLinksAsync(locks, oldParent, source.Name, -delta, now, ct), DirectoryLinksAsync(locks, newParent, target.Name, delta, now, ct)).ConfigureAwait(false);
        }
        else
        {
            await TouchDirectoryAsync(oldParent, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// An inode lost its last name, under its write lock (unlink, rmdir, rename over it): purge it soon, or at the
    /// last close of whichever client still has it open. Its link count 0 is committed, so nothing can open it any
    /// more; the purge runs after the operation answers, as CephFS's purge queue and JuiceFS's delayed deletion run
    /// behind theirs (a crash before it leaves an inode with no name, which fsck removes).
    /// </summary>
    private async Task DropInodeAsync(Inode inode)
    {
        if (OpenHere(inode)) return; // this client's last close purges it
        await BehindAsync(inode.Id, () => PurgeUnlessOpenAsync(inode, CancellationToken.None)).ConfigureAwait(false);
    }

    /// <summary>Whether this client has the inode, which just lost its last name, open: then its last close purges it.</summary>
    private bool OpenHere(Inode inode)
    {
        if (!_open.TryGetValue(inode.Id, out var file)) return false;
        file.UnlinkedHere = true;
        return file.Handles > 0;
    }

    /// <summary>How many purges may run behind the operations that answered before them before the next such operation waits.</summary>
    private const int BehindInFlight = 32;

    private readonly SemaphoreSlim _behindSlots = new(BehindInFlight, BehindInFlight);
    private readonly ConcurrentDictionary<Task, byte> _behind = new();

    /// <summary>Starts <paramref name="work"/> on <paramref name="inode"/> behind the operation that calls this (waiting for a slot first).</summary>
    private async Task BehindAsync(Guid inode, Func<Task> work)
    {
        await _behindSlots.WaitAsync().ConfigureAwait(false);
        var running = RunBehindAsync(inode, work);
        _behind.TryAdd(running, 0);
        _ = running.ContinueWith(static (done, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(done, out _), _behind,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task RunBehindAsync(Guid inode, Func<Task> work)
    {
        try
        {
            await Task.Yield();
            await work().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (_options.Logger is { } logger) FileSystemLog.BehindFailed(logger, inode, e.Message);
        }
        finally
        {
            _behindSlots.Release();
        }
    }

    /// <summary>Completes when the purges started behind operations so far have run: fsck and close wait for them.</summary>
    internal Task RemovalsSettledAsync() => Task.WhenAll(_behind.Keys);

    /// <summary>
    /// Purges a file with no names unless a client holds it open (<see cref="LockKey.ForOpenFile"/>): that client's
    /// last close purges it then, or fsck once that client's session is gone. Holds are taken before an open reads the
    /// inode, and the unlink committed nlink 0 before looking, so an open either shows here or finds the file gone.
    /// Its blocks are listed only after the look, since a holder that has just let go stored its last blocks first.
    /// </summary>
    internal async Task<bool> PurgeUnlessOpenAsync(Inode inode, CancellationToken ct)
    {
        if (await IsHeldOpenAsync(inode, ct).ConfigureAwait(false)) return false;
        await PurgeAsync(inode, await BlockIndexesAsync(inode.Id, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Whether some client holds <paramref name="inode"/> open (only regular files are held).</summary>
    internal async Task<bool> IsHeldOpenAsync(Inode inode, CancellationToken ct) =>
        inode.Type == FileType.Regular && (await _locks.InspectAsync(LockKey.ForOpenFile(inode.Id), ct).ConfigureAwait(false)).Holders.Count > 0;

    private async Task<List<long>> BlockIndexesAsync(Guid inode, CancellationToken ct)
    {
        var indexes = new List<long>();
        await foreach (var index in _store.BlockIndexesAsync(inode, 0, ct).ConfigureAwait(false)) indexes.Add(index);
        return indexes;
    }

    /// <summary>
    /// Deletes an inode with no names: data blocks (<paramref name="indexes"/>, read after its last name went), then
    /// their index and its attributes, then the inode row last (so a crash leaves an orphan fsck sees).
    /// </summary>
    private async Task PurgeAsync(Inode inode, List<long> indexes, CancellationToken ct)
    {
        foreach (var chunk in indexes.Chunk(_options.BlocksInFlight))
            await Task.WhenAll(chunk.Select(i => _store.DeleteBlockAsync(inode.Id, i, BlockStamps.Purge, ct))).ConfigureAwait(false);
        await Task.WhenAll(_store.DeleteBlockIndexesAsync(inode.Id, BlockStamps.Purge, ct), _store.RemoveXAttrsAsync(inode.Id, ct)).ConfigureAwait(false);
        // The usage counters are not ordered with the row: a crash between any two of these leaves them off either way.
        // A removed directory's names go for good: a late create in it by a holder whose lock was lost never shows.
        var names = inode.IsDirectory ? _store.PurgeEntriesAsync(inode.Id, ct) : Task.CompletedTask;
        await Task.WhenAll(_store.DeleteInodeAsync(inode.Id, ct), _store.AddUsageAsync(-indexes.Count, -1, ct), names).ConfigureAwait(false);
        _feed.Changed(inode.Id);
    }

    /// <summary>
    /// A directory's entries in name order, streamed from Cassandra page by page. Resume a listing by passing the
    /// last name seen as <paramref name="after"/> (the cookie). "." and ".." are not included.
    /// </summary>
    public async IAsyncEnumerable<DirectoryEntry> ReadDirectoryAsync(Guid dir, Caller caller, string? after = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var inode = await LoadDirectoryAsync(dir, ct).ConfigureAwait(false);
        Permissions.Demand(inode, caller, AccessMode.Read, dir.ToString());
        await foreach (var entry in _store.ListEntriesAsync(dir, after, 500, ct).ConfigureAwait(false))
            yield return entry;
    }
}
