using System.Runtime.CompilerServices;
using System.Text;

namespace CassaFS.Tests.Storage;

/// <summary>
/// The storage contract in memory, as JuiceFS's <c>tkv_mem.go</c>: a second implementation of
/// <see cref="IFileSystemStore"/>, checked by the same <see cref="StoreContract"/> as the Cassandra store so the contract
/// says what the filesystem may rely on. One lock makes every operation atomic; stamped cells keep Cassandra's rule
/// (the higher stamp wins, a delete on a tie) so the ordering the filesystem builds on block stamps holds here too.
/// </summary>
internal sealed class MemoryStore : IFileSystemStore
{
    private readonly object _gate = new();
    private readonly Dictionary<Guid, Inode> _inodes = new();
    private readonly Dictionary<Guid, SortedDictionary<string, Stamped<DirectoryEntry>>> _entries = new();
    private readonly Dictionary<Guid, long> _entriesPurged = new();
    private readonly Dictionary<(Guid Inode, long Index), Stamped<byte[]>> _blocks = new();
    private readonly Dictionary<(Guid Inode, long Index), SortedDictionary<(long Stamp, int Pos), byte[]>> _slices = new();
    private readonly Dictionary<(Guid Inode, long Index), long> _slicesDeleted = new();
    private readonly Dictionary<Guid, SortedDictionary<long, Stamped<bool>>> _indexes = new();
    private readonly Dictionary<Guid, long> _indexesDeleted = new();
    private readonly Dictionary<Guid, SortedDictionary<string, byte[]>> _xattrs = new();
    private readonly List<ChangeNotice> _notices = new();
    private long _blocksUsed, _inodesUsed;

    /// <summary>A cell's value (null: deleted) and the stamp of the write that put it there.</summary>
    private readonly record struct Stamped<T>(T? Value, long Stamp);

    /// <summary>Cassandra orders text by its UTF-8 bytes.</summary>
    private sealed class Utf8Order : IComparer<string>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(string? x, string? y) => Encoding.UTF8.GetBytes(x ?? "").AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y ?? ""));
    }

    /// <summary>A store holding what format writes: the root directory.</summary>
    public static async Task<MemoryStore> FormattedAsync()
    {
        var store = new MemoryStore();
        var now = Timespec.Now;
        await store.InsertInodeAsync(new Inode
        {
            Id = Inode.RootId, Type = FileType.Directory, Mode = 0x1ED, Uid = 0, Gid = 0, Nlink = 2,
            Atime = now, Mtime = now, Ctime = now, Parent = Inode.RootId,
        }, default);
        return store;
    }

    private T Read<T>(Func<T> read)
    {
        lock (_gate) return read();
    }

    private Task Write(Action write)
    {
        lock (_gate) write();
        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ inodes

    public Task<Inode?> GetInodeAsync(Guid id, CancellationToken ct) => Task.FromResult(Read(() => _inodes.GetValueOrDefault(id)));

    public Task InsertInodeAsync(Inode inode, CancellationToken ct) => Write(() =>
    {
        _inodes[inode.Id] = inode;
        _linkStamps.Remove(inode.Id); // below every stamp
    });

    public Task<FencedCommit> CommitInodeAsync(Inode inode, long expectedFence, CancellationToken ct) => Task.FromResult(Read(() =>
    {
        if (!_inodes.TryGetValue(inode.Id, out var stored)) return FencedCommit.Gone;
        if (stored.Fence != expectedFence) return FencedCommit.Moved(stored.Fence);
        _inodes[inode.Id] = inode with { Nlink = stored.Nlink };
        return FencedCommit.Applied;
    }));

    private readonly Dictionary<Guid, long> _linkStamps = new();

    public Task SetLinksAsync(Guid id, long nlink, long stamp, CancellationToken ct) => Write(() =>
    {
        if (!_inodes.TryGetValue(id, out var stored) || stamp <= _linkStamps.GetValueOrDefault(id, long.MinValue)) return;
        _inodes[id] = stored with { Nlink = nlink };
        _linkStamps[id] = stamp;
    });

    public Task TouchAsync(Guid id, TouchedTimes times, CancellationToken ct) => Write(() =>
    {
        if (_inodes.TryGetValue(id, out var stored))
            _inodes[id] = stored with { Atime = times.Atime ?? stored.Atime, Mtime = times.Mtime ?? stored.Mtime, Ctime = times.Ctime ?? stored.Ctime };
    });

    public Task DeleteInodeAsync(Guid id, CancellationToken ct) => Write(() => _inodes.Remove(id));

    public IAsyncEnumerable<Inode> AllInodesAsync(CancellationToken ct) => Snapshot(() => _inodes.Values.ToList(), ct);

    // ------------------------------------------------------------------ directory entries

    private SortedDictionary<string, Stamped<DirectoryEntry>> Directory(Guid dir)
    {
        if (!_entries.TryGetValue(dir, out var names)) _entries[dir] = names = new SortedDictionary<string, Stamped<DirectoryEntry>>(Utf8Order.Instance);
        return names;
    }

    private List<DirectoryEntry> Names(Guid dir) =>
        _entries.TryGetValue(dir, out var names) ? names.Values.Where(n => n.Value is not null).Select(n => n.Value!).ToList() : new List<DirectoryEntry>();

    private void PutEntry(Guid dir, string name, DirectoryEntry? entry, long stamp)
    {
        if (stamp <= _entriesPurged.GetValueOrDefault(dir, long.MinValue)) return;
        var names = Directory(dir);
        if (!names.TryGetValue(name, out var stored) || Supersedes(stamp, entry is null, stored))
            names[name] = new Stamped<DirectoryEntry>(entry, stamp);
    }

    public Task<DirectoryEntry?> GetEntryAsync(Guid dir, string name, CancellationToken ct) =>
        Task.FromResult(Read(() => _entries.TryGetValue(dir, out var names) && names.TryGetValue(name, out var stored) ? stored.Value : null));

    public Task WriteEntryAsync(Guid dir, DirectoryEntry entry, long stamp, CancellationToken ct) => Write(() => PutEntry(dir, entry.Name, entry, stamp));

    public Task RemoveEntryAsync(Guid dir, string name, long stamp, CancellationToken ct) => Write(() => PutEntry(dir, name, null, stamp));

    public Task MoveEntryAsync(Guid dir, string oldName, DirectoryEntry entry, long stamp, CancellationToken ct) => Write(() =>
    {
        PutEntry(dir, entry.Name, entry, stamp);
        PutEntry(dir, oldName, null, stamp);
    });

    public Task PurgeEntriesAsync(Guid dir, CancellationToken ct) => Write(() =>
    {
        _entriesPurged[dir] = BlockStamps.Purge;
        _entries.Remove(dir);
    });

    public IAsyncEnumerable<DirectoryEntry> ListEntriesAsync(Guid dir, string? after, int pageSize, CancellationToken ct) =>
        Snapshot(() => Names(dir).Where(e => after is null || Utf8Order.Instance.Compare(e.Name, after) > 0).ToList(), ct);

    public Task<bool> HasEntriesAsync(Guid dir, CancellationToken ct) => Task.FromResult(Read(() => Names(dir).Count > 0));

    public IAsyncEnumerable<(Guid Dir, DirectoryEntry Entry)> AllEntriesAsync(CancellationToken ct) =>
        Snapshot(() => _entries.Keys.SelectMany(d => Names(d).Select(e => (d, e))).ToList(), ct);

    // ------------------------------------------------------------------ blocks

    /// <summary>Cassandra's reconciliation of two writes of one cell: the higher stamp wins, a delete wins a tie.</summary>
    private static bool Supersedes<T>(long stamp, bool isDelete, Stamped<T> stored) => stamp > stored.Stamp || (stamp == stored.Stamp && isDelete);

    private void PutBlock(Guid inode, long index, byte[]? data, long stamp)
    {
        if (!_blocks.TryGetValue((inode, index), out var stored) || Supersedes(stamp, data is null, stored))
            _blocks[(inode, index)] = new Stamped<byte[]>(data, stamp);
    }

    /// <summary>Block reads so far (a small write must not cost one).</summary>
    public int BlockReads => Volatile.Read(ref _blockReads);

    private int _blockReads;

    public Task<ReadOnlyMemory<byte>?> ReadBlockAsync(Guid inode, long index, CancellationToken ct) => Task.FromResult(Read(() =>
    {
        _blockReads++;
        var row = _blocks.TryGetValue((inode, index), out var stored) && stored.Value is { } data ? data : null;
        var slices = _slices.TryGetValue((inode, index), out var cells)
            ? cells.Select(c => new Slice(c.Key.Stamp, c.Key.Pos, c.Value.ToArray())).ToList()
            : new List<Slice>();
        return row is null ? Slice.Overlay(null, long.MinValue, slices) : Slice.Overlay(row.ToArray(), stored.Stamp, slices);
    }));

    public Task WriteBlockAsync(Guid inode, long index, ReadOnlyMemory<byte> data, long stamp, CancellationToken ct) =>
        Write(() => PutBlock(inode, index, data.ToArray(), stamp));

    /// <summary>A slice is a cell keyed by (stamp, position); one at or below the block's slice partition delete never shows.</summary>
    public Task WriteSliceAsync(Guid inode, long index, IReadOnlyList<BlockRange> ranges, long stamp, CancellationToken ct) => Write(() =>
    {
        if (stamp <= _slicesDeleted.GetValueOrDefault((inode, index), long.MinValue)) return;
        if (!_slices.TryGetValue((inode, index), out var cells)) _slices[(inode, index)] = cells = new SortedDictionary<(long, int), byte[]>();
        foreach (var range in ranges) cells[(stamp, range.Pos)] = range.Data.ToArray();
    });

    /// <summary>Rows, as Cassandra counts them: a write stores its ranges under one stamp, which no other write to the block shares.</summary>
    public Task<int> CountSlicesAsync(Guid inode, long index, int atMost, CancellationToken ct) =>
        Task.FromResult(Read(() => Math.Min(atMost, _slices.TryGetValue((inode, index), out var cells) ? cells.Keys.Select(k => k.Stamp).Distinct().Count() : 0)));

    public Task DeleteBlockAsync(Guid inode, long index, long stamp, CancellationToken ct) => Write(() =>
    {
        PutBlock(inode, index, null, stamp);
        DeleteSlices(inode, index, stamp);
    });

    /// <summary>Atomic here: the slices below the fold go at once (Cassandra's store needs a marker for readers in between).</summary>
    public Task DeleteFoldedSlicesAsync(Guid inode, long index, long stamp, CancellationToken ct) => Write(() => DeleteSlices(inode, index, stamp - 1));

    /// <summary>A partition delete of the block's slices: hides every one stamped at or below it, now and when it arrives late.</summary>
    private void DeleteSlices(Guid inode, long index, long stamp)
    {
        _slicesDeleted[(inode, index)] = Math.Max(stamp, _slicesDeleted.GetValueOrDefault((inode, index), long.MinValue));
        if (!_slices.TryGetValue((inode, index), out var cells)) return;
        foreach (var key in cells.Keys.Where(k => k.Stamp <= stamp).ToList()) cells.Remove(key);
        if (cells.Count == 0) _slices.Remove((inode, index));
    }


    private void PutIndex(Guid inode, long index, bool present, long stamp)
    {
        if (!_indexes.TryGetValue(inode, out var cells)) _indexes[inode] = cells = new SortedDictionary<long, Stamped<bool>>();
        if (!cells.TryGetValue(index, out var stored) || Supersedes(stamp, !present, stored)) cells[index] = new Stamped<bool>(present, stamp);
    }

    private bool IndexVisible(Guid inode, Stamped<bool> cell) =>
        cell.Value && cell.Stamp > _indexesDeleted.GetValueOrDefault(inode, long.MinValue);

    public Task AddBlockIndexAsync(Guid inode, long index, long stamp, CancellationToken ct) => Write(() => PutIndex(inode, index, true, stamp));

    public Task DeleteBlockIndexAsync(Guid inode, long index, long stamp, CancellationToken ct) => Write(() => PutIndex(inode, index, false, stamp));

    /// <summary>A partition delete: hides every cell stamped at or below it, now and when it arrives late.</summary>
    public Task DeleteBlockIndexesAsync(Guid inode, long stamp, CancellationToken ct) =>
        Write(() => _indexesDeleted[inode] = Math.Max(stamp, _indexesDeleted.GetValueOrDefault(inode, long.MinValue)));

    public IAsyncEnumerable<long> BlockIndexesAsync(Guid inode, long from, CancellationToken ct) =>
        Snapshot(() => _indexes.TryGetValue(inode, out var cells)
            ? cells.Where(c => c.Key >= from && IndexVisible(inode, c.Value)).Select(c => c.Key).ToList()
            : new List<long>(), ct);

    public IAsyncEnumerable<Guid> InodesWithBlocksAsync(CancellationToken ct) =>
        Snapshot(() => _indexes.Where(i => i.Value.Values.Any(c => IndexVisible(i.Key, c))).Select(i => i.Key).ToList(), ct);

    // ------------------------------------------------------------------ extended attributes

    /// <summary>Extended attribute reads so far (a write must not cost one).</summary>
    public int XAttrReads => Volatile.Read(ref _xattrReads);

    private int _xattrReads;

    public Task<ReadOnlyMemory<byte>?> GetXAttrAsync(Guid inode, string name, CancellationToken ct) => Task.FromResult(Read(() =>
        Interlocked.Increment(ref _xattrReads) > 0 && _xattrs.TryGetValue(inode, out var names) && names.TryGetValue(name, out var value) ? (ReadOnlyMemory<byte>?)value.ToArray() : null));

    public Task SetXAttrAsync(Guid inode, string name, ReadOnlyMemory<byte> value, CancellationToken ct) => Write(() =>
    {
        if (!_xattrs.TryGetValue(inode, out var names)) _xattrs[inode] = names = new SortedDictionary<string, byte[]>(Utf8Order.Instance);
        names[name] = value.ToArray();
    });

    public Task<IReadOnlyList<string>> ListXAttrsAsync(Guid inode, CancellationToken ct) => Task.FromResult(Read(() =>
        (IReadOnlyList<string>)(_xattrs.TryGetValue(inode, out var names) ? names.Keys.ToList() : new List<string>())));

    public Task RemoveXAttrAsync(Guid inode, string name, CancellationToken ct) => Write(() =>
    {
        if (_xattrs.TryGetValue(inode, out var names)) names.Remove(name);
    });

    public Task RemoveXAttrsAsync(Guid inode, CancellationToken ct) => Write(() => _xattrs.Remove(inode));

    public IAsyncEnumerable<Guid> InodesWithXAttrsAsync(CancellationToken ct) =>
        Snapshot(() => _xattrs.Where(x => x.Value.Count > 0).Select(x => x.Key).ToList(), ct);

    // ------------------------------------------------------------------ usage

    public Task AddUsageAsync(long blocks, long inodes, CancellationToken ct) => Write(() =>
    {
        _blocksUsed += blocks;
        _inodesUsed += inodes;
    });

    public Task<(long Blocks, long Inodes)> UsageAsync(CancellationToken ct) => Task.FromResult(Read(() => (_blocksUsed, _inodesUsed)));

    public Task FlushUsageAsync(TimeSpan wait) => Task.CompletedTask;

    public Task AnnounceAsync(IReadOnlyList<ChangeNotice> notices, CancellationToken ct) => Write(() => _notices.AddRange(notices));

    public Task<IReadOnlyList<ChangeNotice>> NoticesSinceAsync(long since, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<ChangeNotice>>(Read(() => _notices.Where(n => n.At >= since).OrderBy(n => n.At).ToList()));

    /// <summary>A listing taken under the lock and handed out after it, as a paged read would see one moment.</summary>
    private async IAsyncEnumerable<T> Snapshot<T>(Func<List<T>> take, [EnumeratorCancellation] CancellationToken ct)
    {
        var items = Read(take);
        await Task.Yield();
        foreach (var item in items)
        {
            ct.ThrowIfCancellationRequested();
            yield return item;
        }
    }
}
