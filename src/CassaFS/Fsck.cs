using CassaFS.Locks;

namespace CassaFS;

/// <summary>What fsck checks and whether it repairs.</summary>
public sealed record FsckOptions
{
    /// <summary>Repair what is found; false (the default) only reports.</summary>
    public bool Repair { get; init; }

    /// <summary>Inodes changed more recently than this are spared: on a live filesystem they may be mid-creation.</summary>
    public TimeSpan Grace { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Locks held longer than this are reported as stale (and broken when repairing); null skips the lock check.</summary>
    public TimeSpan? StaleLockAge { get; init; }

    /// <summary>Called with a line of progress now and then.</summary>
    public Action<string>? Progress { get; init; }
}

/// <summary>One thing fsck found.</summary>
public sealed record FsckProblem(string Kind, string Description, bool Repaired);

/// <summary>What a run of fsck found and did.</summary>
public sealed record FsckReport(IReadOnlyList<FsckProblem> Problems, long Inodes, long Entries, long BlockOwners)
{
    public bool Clean => Problems.Count == 0;
}

/// <summary>
/// Checks a filesystem against its invariants and optionally repairs it. It looks for the garbage a crashed
/// client can leave (operations order their writes so that only these can appear): names pointing nowhere,
/// inodes no name points to, wrong link counts, a directory with two names or a wrong parent, blocks beyond a
/// file's size or of a deleted inode, attributes of a deleted inode, stale locks.
/// </summary>
public static class Fsck
{
    public static async Task<FsckReport> RunAsync(CassaFileSystem fs, FsckOptions options, CancellationToken ct = default)
    {
        var store = fs.Store;
        var problems = new List<FsckProblem>();
        var repair = options.Repair;
        void Found(string kind, string description, bool repaired) => problems.Add(new FsckProblem(kind, description, repaired));
        await fs.RemovalsSettledAsync().ConfigureAwait(false); // this client's removals are done, not half-done

        options.Progress?.Invoke("reading inodes");
        var inodes = new Dictionary<Guid, Inode>();
        await foreach (var inode in store.AllInodesAsync(ct).ConfigureAwait(false)) inodes[inode.Id] = inode;
        options.Progress?.Invoke($"{inodes.Count} inodes; reading directory entries");
        var names = new Dictionary<Guid, List<(Guid Dir, DirectoryEntry Entry)>>();
        var subdirectories = new Dictionary<Guid, long>();
        long entryCount = 0;
        await foreach (var (dir, entry) in store.AllEntriesAsync(ct).ConfigureAwait(false))
        {
            entryCount++;
            if (!inodes.TryGetValue(dir, out var parent) || !parent.IsDirectory)
            {
                Found("entry-without-directory", $"'{entry.Name}' in {dir}, which is not a directory", repair);
                if (repair) await fs.RemoveEntryIfAsync(dir, entry.Name, entry.Inode, ct).ConfigureAwait(false);
                continue;
            }
            if (!inodes.TryGetValue(entry.Inode, out var target))
            {
                Found("dangling-entry", $"'{entry.Name}' in {dir} points to missing inode {entry.Inode}", repair);
                if (repair) await fs.RemoveEntryIfAsync(dir, entry.Name, entry.Inode, ct).ConfigureAwait(false);
                continue;
            }
            (names.TryGetValue(entry.Inode, out var list) ? list : names[entry.Inode] = new()).Add((dir, entry));
        }

        var youngest = Timespec.FromDateTimeOffset(DateTimeOffset.UtcNow - options.Grace);
        options.Progress?.Invoke($"{entryCount} entries; checking directories");
        // A directory has one name. A crash mid-rename can leave it two: the one in the directory its parent
        // pointer names stays. Only then are parents' subdirectories counted, by the names that stay.
        foreach (var inode in inodes.Values.Where(i => i.IsDirectory && i.Id != Inode.RootId && names.ContainsKey(i.Id)))
        {
            var links = names[inode.Id];
            if (links.Count > 1 && inode.Ctime <= youngest)
            {
                var keep = links.FirstOrDefault(l => l.Dir == inode.Parent);
                if (keep == default) keep = links[0];
                foreach (var extra in links.Where(l => l != keep))
                {
                    Found("directory-with-several-names", $"directory {inode.Id} is also named '{extra.Entry.Name}' in {extra.Dir}", repair);
                    if (repair) await fs.RemoveEntryIfAsync(extra.Dir, extra.Entry.Name, inode.Id, ct).ConfigureAwait(false);
                }
                names[inode.Id] = links = new() { keep };
            }
            foreach (var (dir, _) in links) subdirectories[dir] = subdirectories.GetValueOrDefault(dir) + 1;
        }

        options.Progress?.Invoke("checking inodes");
        foreach (var inode in inodes.Values)
        {
            ct.ThrowIfCancellationRequested();
            if (inode.Ctime > youngest) continue;
            var links = names.GetValueOrDefault(inode.Id) ?? new();
            if (inode.Id != Inode.RootId && links.Count == 0)
            {
                // A file unlinked while a client has it open is no orphan: that client's last close purges it.
                // One look at the open holds either way: repairing purges unless held, checking only asks.
                var orphan = repair ? await fs.PurgeUnlessOpenAsync(inode, ct).ConfigureAwait(false) : !await fs.IsHeldOpenAsync(inode, ct).ConfigureAwait(false);
                if (orphan) Found("orphan-inode", $"{inode.Type} {inode.Id} has no name (nlink {inode.Nlink})", repair);
                continue;
            }
            if (inode.IsDirectory && inode.Id != Inode.RootId && links[0].Dir != inode.Parent)
            {
                Found("wrong-parent", $"directory {inode.Id} is in {links[0].Dir} but records {inode.Parent} as its parent", repair);
                if (repair) await RepairAsync(fs, inode.Id, i => i with { Parent = links[0].Dir }, ct).ConfigureAwait(false);
            }
            var expected = inode.IsDirectory ? 2 + subdirectories.GetValueOrDefault(inode.Id) : links.Count;
            if (inode.Nlink != expected)
            {
                Found("wrong-link-count", $"{inode.Type} {inode.Id} has nlink {inode.Nlink}, expected {expected}", repair);
                if (repair) await RepairLinksAsync(fs, inode.Id, expected, ct).ConfigureAwait(false);
            }
            if (inode.Type == FileType.Regular) await CheckBlocksAsync(fs, inode, repair, Found, ct).ConfigureAwait(false);
        }

        options.Progress?.Invoke("checking blocks and attributes of deleted inodes");
        long blockOwners = 0;
        await foreach (var owner in store.InodesWithBlocksAsync(ct).ConfigureAwait(false))
        {
            blockOwners++;
            if (inodes.ContainsKey(owner)) continue;
            Found("orphan-blocks", $"blocks of deleted inode {owner}", repair);
            if (repair)
            {
                await foreach (var index in store.BlockIndexesAsync(owner, 0, ct).ConfigureAwait(false))
                    await store.DeleteBlockAsync(owner, index, BlockStamps.Purge, ct).ConfigureAwait(false);
                await store.DeleteBlockIndexesAsync(owner, BlockStamps.Purge, ct).ConfigureAwait(false);
            }
        }
        await foreach (var owner in store.InodesWithXAttrsAsync(ct).ConfigureAwait(false))
        {
            if (inodes.ContainsKey(owner)) continue;
            Found("orphan-attributes", $"extended attributes of deleted inode {owner}", repair);
            if (repair) await store.RemoveXAttrsAsync(owner, ct).ConfigureAwait(false);
        }

        if (options.StaleLockAge is { } age)
        {
            await foreach (var info in fs.Options.Locks.ListAsync(null, ct).ConfigureAwait(false))
            foreach (var holder in info.Holders.Where(h => DateTimeOffset.UtcNow - h.Holder.Since > age))
            {
                Found("stale-lock", $"{info.Key} held by {holder.Holder} for more than {age}", repair);
                if (repair) await fs.Options.Locks.BreakAsync(info.Key, holder.Id, "fsck: stale lock", ct).ConfigureAwait(false);
            }
        }
        options.Progress?.Invoke($"done: {problems.Count} problem(s)");
        return new FsckReport(problems, inodes.Count, entryCount, blockOwners);
    }

    private static async Task CheckBlocksAsync(CassaFileSystem fs, Inode inode, bool repair, Action<string, string, bool> found, CancellationToken ct)
    {
        var store = fs.Store;
        var keep = (inode.Size + fs.BlockSize - 1) / fs.BlockSize;
        long stored = 0;
        var beyond = new List<long>();
        await foreach (var index in store.BlockIndexesAsync(inode.Id, 0, ct).ConfigureAwait(false))
        {
            if (index >= keep) beyond.Add(index);
            else stored++;
        }
        if (beyond.Count > 0)
        {
            found("blocks-beyond-size", $"file {inode.Id} of {inode.Size} bytes has {beyond.Count} block(s) beyond its end", repair);
            if (repair)
            {
                // Under the inode lock, stamped from its token: a writer after fsck may store these blocks again.
                await using var locks = await LockSet.AcquireAsync(fs.Options.Locks, new[] { (LockKey.ForInode(inode.Id), LockMode.Write) }, "fsck repair", fs.Options.LockTimeout, ct).ConfigureAwait(false);
                var stamp = new BlockStamps(locks.TokenFor(LockKey.ForInode(inode.Id))).Next();
                var now = await store.GetInodeAsync(inode.Id, ct).ConfigureAwait(false);
                var keepNow = now is null ? 0 : (now.Size + fs.BlockSize - 1) / fs.BlockSize; // a writer may have grown it since
                foreach (var index in beyond.Where(i => i >= keepNow))
                {
                    await store.DeleteBlockAsync(inode.Id, index, stamp, ct).ConfigureAwait(false);
                    await store.DeleteBlockIndexAsync(inode.Id, index, stamp, ct).ConfigureAwait(false);
                }
            }
        }
        if (stored != inode.Blocks)
        {
            found("wrong-block-count", $"file {inode.Id} records {inode.Blocks} block(s) but has {stored}", repair);
            if (repair) await RepairAsync(fs, inode.Id, i => i with { Blocks = stored }, ct).ConfigureAwait(false);
        }
    }

    private static async Task RepairLinksAsync(CassaFileSystem fs, Guid id, long expected, CancellationToken ct)
    {
        await using var locks = await LockSet.AcquireAsync(fs.Options.Locks, new[] { (LockKey.ForInode(id), LockMode.Write) }, "fsck repair", fs.Options.LockTimeout, ct).ConfigureAwait(false);
        await fs.LinksAsync(locks, id, id.ToString(), _ => expected, ct).ConfigureAwait(false);
    }

    private static async Task RepairAsync(CassaFileSystem fs, Guid id, Func<Inode, Inode> change, CancellationToken ct)
    {
        await using var locks = await LockSet.AcquireAsync(fs.Options.Locks, new[] { (LockKey.ForInode(id), LockMode.Write) }, "fsck repair", fs.Options.LockTimeout, ct).ConfigureAwait(false);
        await fs.CommitAsync(locks, id, id.ToString(), change, ct).ConfigureAwait(false);
    }
}
