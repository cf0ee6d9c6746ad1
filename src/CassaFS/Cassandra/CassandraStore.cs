using System.Runtime.CompilerServices;
using CassaFS.Cql;
using Microsoft.Extensions.Logging;

namespace CassaFS;

/// <summary>
/// Every CQL statement the filesystem runs, prepared once per mount, values always bound. The POSIX rules live in
/// <see cref="CassaFileSystem"/>; this class only reads and writes rows.
/// <para>Which writes are lightweight transactions, and why: an inode's structural fields (nlink, size, mode, owner,
/// parent) are written by compare-and-set on its <c>fence</c> column, which doubles as the fencing check: a holder whose
/// lock was lost cannot commit over a newer holder. Directory entries are plain writes, made only under the directory's
/// exclusive lock and stamped from its fencing token (<see cref="BlockStamps"/>): the lock makes the read-then-write of
/// a create or rename atomic, and the stamp makes a late write of an earlier holder lose to every later holder's (an
/// earlier layout wrote entries by LWT, whose Paxos timestamps are clock time, below every stamp). Data blocks and the
/// time columns are plain, idempotent writes made under the inode lock; block writes carry the lock's fencing token in
/// their timestamp too, so a late one of an earlier holder never overwrites a later holder's.</para>
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The usage writer's semaphore and cancellation source hold no handles or timers; FlushUsageAsync ends the writer.")]
internal sealed class CassandraStore : IFileSystemStore
{
    private const string InodeColumns = "id, type, mode, uid, gid, nlink, size, rdev, atime, mtime, ctime, target, generation, parent, blocks, fence";

    private readonly CqlSession _session;
    private readonly Consistency _consistency;
    private readonly Consistency _serial;
    private readonly Statements _cql;
    private readonly ILogger? _logger;

    private CassandraStore(CqlSession session, Consistency consistency, Consistency serial, Statements cql, ILogger? logger)
    {
        _session = session;
        _consistency = consistency;
        _serial = serial;
        _cql = cql;
        _logger = logger;
    }

    /// <summary>
    /// Prepares every statement on <paramref name="session"/>. <paramref name="logger"/> is told of each conditional
    /// write whose reply was lost and how it was settled.
    /// </summary>
    public static async Task<CassandraStore> PrepareAsync(CqlSession session, string keyspace, Consistency consistency, Consistency serial,
        ILogger? logger, CancellationToken ct)
    {
        var statements = await Statements.PrepareAsync(session, Names.Keyspace(keyspace), ct).ConfigureAwait(false);
        return new CassandraStore(session, consistency, serial, statements, logger);
    }

    /// <summary>Every statement the store runs, by name.</summary>
    private sealed class Statements
    {
        public required PreparedStatement GetInode { get; init; }
        public required PreparedStatement InsertInode { get; init; }
        public required PreparedStatement CommitInode { get; init; }
        /// <summary>By the times set: bit 0 atime, bit 1 mtime, bit 2 ctime (index 0 unused).</summary>
        public required PreparedStatement[] TouchInode { get; init; }
        public required PreparedStatement SetLinks { get; init; }
        public required PreparedStatement DeleteInode { get; init; }
        public required PreparedStatement AllInodes { get; init; }
        public required PreparedStatement GetEntry { get; init; }
        public required PreparedStatement WriteEntry { get; init; }
        public required PreparedStatement MoveEntry { get; init; }
        public required PreparedStatement RemoveEntry { get; init; }
        public required PreparedStatement PurgeEntries { get; init; }
        public required PreparedStatement ListEntries { get; init; }
        public required PreparedStatement ListEntriesAfter { get; init; }
        public required PreparedStatement AnyEntry { get; init; }
        public required PreparedStatement AllEntries { get; init; }
        public required PreparedStatement ReadBlock { get; init; }
        public required PreparedStatement WriteBlock { get; init; }
        public required PreparedStatement DeleteBlock { get; init; }
        public required PreparedStatement ReadSlices { get; init; }
        public required PreparedStatement SliceStamps { get; init; }
        public required PreparedStatement WriteSlice { get; init; }
        public required PreparedStatement WritePackedSlice { get; init; }
        public required PreparedStatement DeleteSlices { get; init; }
        public required PreparedStatement AddIndex { get; init; }
        public required PreparedStatement DeleteIndex { get; init; }
        public required PreparedStatement IndexesFrom { get; init; }
        public required PreparedStatement DeleteIndexes { get; init; }
        public required PreparedStatement GetXattr { get; init; }
        public required PreparedStatement SetXattr { get; init; }
        public required PreparedStatement ListXattrs { get; init; }
        public required PreparedStatement RemoveXattr { get; init; }
        public required PreparedStatement RemoveXattrs { get; init; }
        public required PreparedStatement AddUsage { get; init; }
        public required PreparedStatement Usage { get; init; }
        public required PreparedStatement IndexedInodes { get; init; }
        public required PreparedStatement AttributedInodes { get; init; }
        public required PreparedStatement Announce { get; init; }
        public required PreparedStatement NoticesSince { get; init; }

        public static async Task<Statements> PrepareAsync(CqlSession session, string ks, CancellationToken ct)
        {
            async Task<PreparedStatement> P(string cql) => await session.PrepareAsync(cql, ct).ConfigureAwait(false);
            return new Statements
            {
                GetInode = await P($"SELECT {InodeColumns} FROM {ks}.inodes WHERE id = ?").ConfigureAwait(false),
                InsertInode = await P($"INSERT INTO {ks}.inodes ({InodeColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").ConfigureAwait(false),
                // Every column but the link count, which goes by stamp (SetLinks).
                CommitInode = await P($"UPDATE {ks}.inodes SET type = ?, mode = ?, uid = ?, gid = ?, size = ?, rdev = ?, atime = ?, mtime = ?, ctime = ?, " +
                    "target = ?, generation = ?, parent = ?, blocks = ?, fence = ? WHERE id = ? IF fence = ?").ConfigureAwait(false),
                TouchInode = await PrepareTouchesAsync(P, ks).ConfigureAwait(false),
                // A stamped cell outlives the row's (clock-time) deletion; a row without a type reads as absent.
                SetLinks = await P($"UPDATE {ks}.inodes SET nlink = ? WHERE id = ?").ConfigureAwait(false),
                DeleteInode = await P($"DELETE FROM {ks}.inodes WHERE id = ?").ConfigureAwait(false),
                AllInodes = await P($"SELECT {InodeColumns} FROM {ks}.inodes").ConfigureAwait(false),
                // Single entries and attributes are read as a one-name slice [name, name], never with "name = ?". On Cassandra
                // 2.1 a read by full primary key takes the by-name path, which under flush load was seen to return a row
                // deleted by a committed DELETE ... IF (a listing, and every LWT, no longer saw it): git then found its
                // index.lock still there after renaming it away. A slice takes the same path as listings and LWT reads.
                GetEntry = await P($"SELECT name, inode, type FROM {ks}.entries WHERE dir = ? AND name >= ? AND name <= ?").ConfigureAwait(false),
                WriteEntry = await P($"INSERT INTO {ks}.entries (dir, name, inode, type) VALUES (?, ?, ?, ?)").ConfigureAwait(false),
                // A name goes with a tombstone on its cells as well as on its row: a read that misses the row tombstone
                // (see above) still finds no inode, and the name counts as absent.
                RemoveEntry = await P($"BEGIN UNLOGGED BATCH DELETE inode, type FROM {ks}.entries WHERE dir = ? AND name = ? " +
                    $"DELETE FROM {ks}.entries WHERE dir = ? AND name = ? APPLY BATCH").ConfigureAwait(false),
                // One partition, so one mutation: applied whole or not at all, and seen whole.
                MoveEntry = await P($"BEGIN UNLOGGED BATCH INSERT INTO {ks}.entries (dir, name, inode, type) VALUES (?, ?, ?, ?) " +
                    $"DELETE inode, type FROM {ks}.entries WHERE dir = ? AND name = ? DELETE FROM {ks}.entries WHERE dir = ? AND name = ? APPLY BATCH").ConfigureAwait(false),
                PurgeEntries = await P($"DELETE FROM {ks}.entries WHERE dir = ?").ConfigureAwait(false),
                ListEntries = await P($"SELECT name, inode, type FROM {ks}.entries WHERE dir = ?").ConfigureAwait(false),
                ListEntriesAfter = await P($"SELECT name, inode, type FROM {ks}.entries WHERE dir = ? AND name > ?").ConfigureAwait(false),
                AnyEntry = await P($"SELECT inode FROM {ks}.entries WHERE dir = ?").ConfigureAwait(false),
                AllEntries = await P($"SELECT dir, name, inode, type FROM {ks}.entries").ConfigureAwait(false),
                // The row's write time is the stamp of the whole-block write: slices stamped no later are superseded by it.
                ReadBlock = await P($"SELECT data, WRITETIME(data) FROM {ks}.blocks WHERE inode = ? AND idx = ?").ConfigureAwait(false),
                WriteBlock = await P($"INSERT INTO {ks}.blocks (inode, idx, data) VALUES (?, ?, ?)").ConfigureAwait(false),
                DeleteBlock = await P($"DELETE FROM {ks}.blocks WHERE inode = ? AND idx = ?").ConfigureAwait(false),
                ReadSlices = await P($"SELECT stamp, pos, data, ranges FROM {ks}.slices WHERE inode = ? AND idx = ?").ConfigureAwait(false),
                SliceStamps = await P($"SELECT stamp FROM {ks}.slices WHERE inode = ? AND idx = ?").ConfigureAwait(false),
                WriteSlice = await P($"INSERT INTO {ks}.slices (inode, idx, stamp, pos, data) VALUES (?, ?, ?, ?, ?)").ConfigureAwait(false),
                // Several ranges in one row: their bytes end to end in data, and where each goes in ranges (PackedRanges).
                WritePackedSlice = await P($"INSERT INTO {ks}.slices (inode, idx, stamp, pos, data, ranges) VALUES (?, ?, ?, ?, ?, ?)").ConfigureAwait(false),
                // A partition delete at a stamp removes the slices stamped at or below it; later ones survive.
                DeleteSlices = await P($"DELETE FROM {ks}.slices WHERE inode = ? AND idx = ?").ConfigureAwait(false),
                AddIndex = await P($"INSERT INTO {ks}.block_index (inode, idx) VALUES (?, ?)").ConfigureAwait(false),
                DeleteIndex = await P($"DELETE FROM {ks}.block_index WHERE inode = ? AND idx = ?").ConfigureAwait(false),
                IndexesFrom = await P($"SELECT idx FROM {ks}.block_index WHERE inode = ? AND idx >= ?").ConfigureAwait(false),
                DeleteIndexes = await P($"DELETE FROM {ks}.block_index WHERE inode = ?").ConfigureAwait(false),
                GetXattr = await P($"SELECT value FROM {ks}.xattrs WHERE inode = ? AND name >= ? AND name <= ?").ConfigureAwait(false),
                SetXattr = await P($"INSERT INTO {ks}.xattrs (inode, name, value) VALUES (?, ?, ?)").ConfigureAwait(false),
                ListXattrs = await P($"SELECT name FROM {ks}.xattrs WHERE inode = ?").ConfigureAwait(false),
                RemoveXattr = await P($"DELETE FROM {ks}.xattrs WHERE inode = ? AND name = ?").ConfigureAwait(false),
                RemoveXattrs = await P($"DELETE FROM {ks}.xattrs WHERE inode = ?").ConfigureAwait(false),
                AddUsage = await P($"UPDATE {ks}.usage SET blocks = blocks + ?, inodes = inodes + ? WHERE fs = 'fs'").ConfigureAwait(false),
                Usage = await P($"SELECT blocks, inodes FROM {ks}.usage WHERE fs = 'fs'").ConfigureAwait(false),
                IndexedInodes = await P($"SELECT DISTINCT inode FROM {ks}.block_index").ConfigureAwait(false),
                AttributedInodes = await P($"SELECT DISTINCT inode FROM {ks}.xattrs").ConfigureAwait(false),
                Announce = await P($"INSERT INTO {ks}.notices (bucket, at, id, client, inode, name) VALUES (?, ?, ?, ?, ?, ?) " +
                    $"USING TTL {(int)ChangeNotice.Lifetime.TotalSeconds}").ConfigureAwait(false),
                NoticesSince = await P($"SELECT at, id, client, inode, name FROM {ks}.notices WHERE bucket = ? AND at >= ?").ConfigureAwait(false),
            };
        }

        /// <summary>One UPDATE for every set of times a touch may name, indexed by its bits (see <see cref="TouchAsync"/>).</summary>
        private static async Task<PreparedStatement[]> PrepareTouchesAsync(Func<string, Task<PreparedStatement>> prepare, string ks)
        {
            string[] columns = ["atime", "mtime", "ctime"];
            var touches = new PreparedStatement[1 << columns.Length];
            for (var set = 1; set < touches.Length; set++)
            {
                var assigned = string.Join(", ", columns.Where((_, bit) => (set & (1 << bit)) != 0).Select(c => c + " = ?"));
                touches[set] = await prepare($"UPDATE {ks}.inodes SET {assigned} WHERE id = ?").ConfigureAwait(false);
            }
            return touches;
        }
    }

    // ------------------------------------------------------------------ inodes

    public async Task<Inode?> GetInodeAsync(Guid id, CancellationToken ct)
    {
        var rows = await RunAsync(_cql.GetInode.Bind(id), idempotent: true, ct).ConfigureAwait(false);
        return rows.Count == 0 || rows[0].IsNull("type") ? null : ReadInode(rows[0]);
    }

    public Task InsertInodeAsync(Inode n, CancellationToken ct) =>
        RunAsync(_cql.InsertInode.Bind(n.Id, (int)n.Type, n.Mode, n.Uid, n.Gid, n.Nlink, n.Size, n.Rdev, n.Atime.TotalNanoseconds,
            n.Mtime.TotalNanoseconds, n.Ctime.TotalNanoseconds, n.Target, n.Generation, n.Parent, n.Blocks, n.Fence), idempotent: true, ct);

    /// <summary>
    /// The compare-and-set on the fence column. A reply that was lost is settled by reading the row back through Paxos
    /// (SERIAL), which first completes a transaction the lost request left in progress.
    /// </summary>
    public async Task<FencedCommit> CommitInodeAsync(Inode n, long expectedFence, CancellationToken ct)
    {
        var statement = _cql.CommitInode.Bind((int)n.Type, n.Mode, n.Uid, n.Gid, n.Size, n.Rdev, n.Atime.TotalNanoseconds,
                n.Mtime.TotalNanoseconds, n.Ctime.TotalNanoseconds, n.Target, n.Generation, n.Parent, n.Blocks, n.Fence, n.Id, expectedFence)
            .WithConsistency(_consistency).WithSerialConsistency(_serial);
        LwtResult result;
        try
        {
            result = await _session.ExecuteConditionalAsync(statement, ct).ConfigureAwait(false);
        }
        catch (CqlException e) when (OutcomeUnknown(e))
        {
            var now = await GetInodeSettledAsync(n.Id, ct).ConfigureAwait(false);
            ReportUncertain($"update of inode {n.Id}", e, now is null ? "the inode is gone" : now == n ? "it was applied" : "it was not applied");
            return now is null ? FencedCommit.Gone : now == n ? FencedCommit.Applied : FencedCommit.Moved(now.Fence);
        }
        if (result.Applied) return FencedCommit.Applied;
        var current = result.Current;
        return current is null || !current.Columns.Contains("fence") || current.IsNull("fence") ? FencedCommit.Gone : FencedCommit.Moved(current.Get<long>("fence"));
    }

    /// <summary>Sets time columns (last writer wins, which is what times want); null keeps the stored value.</summary>
    public async Task TouchAsync(Guid id, TouchedTimes times, CancellationToken ct)
    {
        // In the columns' order of PrepareTouchesAsync: the times set pick the statement and are its values.
        Timespec?[] all = [times.Atime, times.Mtime, times.Ctime];
        var values = new List<object?>(all.Length + 1);
        var statement = 0;
        for (var bit = 0; bit < all.Length; bit++)
        {
            if (all[bit] is not { } time) continue;
            statement |= 1 << bit;
            values.Add(time.TotalNanoseconds);
        }
        if (statement == 0) return;
        values.Add(id);
        await RunAsync(_cql.TouchInode[statement].Bind(values.ToArray()), idempotent: true, ct).ConfigureAwait(false);
    }

    public Task SetLinksAsync(Guid id, long nlink, long stamp, CancellationToken ct) =>
        StoreAsync(() => _cql.SetLinks.Bind(nlink, id).WithTimestamp(stamp), $"link count of {id}", ct);

    public Task DeleteInodeAsync(Guid id, CancellationToken ct) => RunAsync(_cql.DeleteInode.Bind(id), idempotent: true, ct);

    public async IAsyncEnumerable<Inode> AllInodesAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var row in _session.QueryAsync(_cql.AllInodes.Bind().WithConsistency(_consistency), 500, ct).ConfigureAwait(false))
            if (!row.IsNull("type")) yield return ReadInode(row);
    }

    private static Inode ReadInode(Row r) => new()
    {
        Id = r.Get<Guid>(0),
        Type = (FileType)r.Get<int>(1),
        Mode = r.Get<int>(2),
        Uid = r.Get<int>(3),
        Gid = r.Get<int>(4),
        Nlink = r.Get<long>(5),
        Size = r.Get<long>(6),
        Rdev = r.Get<long?>(7) ?? 0,
        Atime = new Timespec(r.Get<long>(8)),
        Mtime = new Timespec(r.Get<long>(9)),
        Ctime = new Timespec(r.Get<long>(10)),
        Target = r.Get<string?>(11),
        Generation = r.Get<long?>(12) ?? 0,
        Parent = r.Get<Guid?>(13) ?? Guid.Empty,
        Blocks = r.Get<long?>(14) ?? 0,
        Fence = r.Get<long?>(15) ?? 0,
    };

    // ------------------------------------------------------------------ directory entries

    public async Task<DirectoryEntry?> GetEntryAsync(Guid dir, string name, CancellationToken ct)
    {
        var rows = await RunAsync(_cql.GetEntry.Bind(dir, name, name), idempotent: true, ct).ConfigureAwait(false);
        return rows.Count == 0 || rows[0].IsNull("inode") ? null : ReadEntry(rows[0]);
    }

    /// <summary>The inode read through Paxos (SERIAL), for settling a compare-and-set whose answer was lost.</summary>
    private async Task<Inode?> GetInodeSettledAsync(Guid id, CancellationToken ct)
    {
        var rows = await _session.ExecuteAsync(_cql.GetInode.Bind(id).WithConsistency(_serial).AsIdempotent(), ct).ConfigureAwait(false);
        return rows.Count == 0 || rows[0].IsNull("type") ? null : ReadInode(rows[0]);
    }

    public Task WriteEntryAsync(Guid dir, DirectoryEntry entry, long stamp, CancellationToken ct) =>
        StoreAsync(() => _cql.WriteEntry.Bind(dir, entry.Name, entry.Inode, (int)entry.Type).WithTimestamp(stamp), $"write of name {entry.Name} in {dir}", ct);

    public Task RemoveEntryAsync(Guid dir, string name, long stamp, CancellationToken ct) =>
        StoreAsync(() => _cql.RemoveEntry.Bind(dir, name, dir, name).WithTimestamp(stamp), $"removal of name {name} in {dir}", ct);

    public Task MoveEntryAsync(Guid dir, string oldName, DirectoryEntry entry, long stamp, CancellationToken ct) =>
        StoreAsync(() => _cql.MoveEntry.Bind(dir, entry.Name, entry.Inode, (int)entry.Type, dir, oldName, dir, oldName).WithTimestamp(stamp),
            $"move of name {oldName} to {entry.Name} in {dir}", ct);

    /// <summary>
    /// Runs a stamped (so idempotent) write until it is known stored: one whose outcome is unknown (a timeout, a lost
    /// reply) is sent again with its stamp, which cannot undo anything a later stamp did.
    /// </summary>
    private async Task StoreAsync(Func<Statement> write, string what, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await RunAsync(write(), idempotent: true, ct).ConfigureAwait(false);
                return;
            }
            catch (CqlException e) when (attempt < 4 && (OutcomeUnknown(e) || e is CqlNoHostAvailableException { InnerException: CqlException inner } && OutcomeUnknown(inner)))
            {
                ReportUncertain(what, e, "sending it again");
            }
        }
    }

    public Task PurgeEntriesAsync(Guid dir, CancellationToken ct) =>
        RunAsync(_cql.PurgeEntries.Bind(dir).WithTimestamp(BlockStamps.Purge), idempotent: true, ct);

    /// <summary>Tells the mount's log how a write with an unknown outcome was settled.</summary>
    private void ReportUncertain(string write, CqlException cause, string settled)
    {
        if (_logger is not null) FileSystemLog.UncertainWrite(_logger, write, cause.GetType().Name, cause.Message, settled);
    }

    /// <summary>Errors after which a write may or may not have been applied.</summary>
    internal static bool OutcomeUnknown(CqlException e) =>
        e is CqlWriteTimeoutException or CqlClientTimeoutException or CqlConnectionException { MayHaveBeenApplied: true };

    /// <summary>A directory's entries in name order, after <paramref name="after"/> when given, paged from the server.</summary>
    public async IAsyncEnumerable<DirectoryEntry> ListEntriesAsync(Guid dir, string? after, int pageSize, [EnumeratorCancellation] CancellationToken ct)
    {
        var statement = (after is null ? _cql.ListEntries.Bind(dir) : _cql.ListEntriesAfter.Bind(dir, after)).WithConsistency(_consistency);
        await foreach (var row in _session.QueryAsync(statement, pageSize, ct).ConfigureAwait(false))
            if (!row.IsNull("inode")) yield return ReadEntry(row);
    }

    /// <summary>True when the directory holds a name (rows without an inode are removed names, and do not count).</summary>
    public async Task<bool> HasEntriesAsync(Guid dir, CancellationToken ct)
    {
        await foreach (var row in _session.QueryAsync(_cql.AnyEntry.Bind(dir).WithConsistency(_consistency), 16, ct).ConfigureAwait(false))
            if (!row.IsNull("inode")) return true;
        return false;
    }

    public async IAsyncEnumerable<(Guid Dir, DirectoryEntry Entry)> AllEntriesAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var row in _session.QueryAsync(_cql.AllEntries.Bind().WithConsistency(_consistency), 1000, ct).ConfigureAwait(false))
            if (!row.IsNull("inode")) yield return (row.Get<Guid>("dir"), new DirectoryEntry(row.Get<string>("name"), row.Get<Guid>("inode"), (FileType)row.Get<int>("type")));
    }

    private static DirectoryEntry ReadEntry(Row r) => new(r.Get<string>(0), r.Get<Guid>(1), (FileType)r.Get<int>(2));

    // ------------------------------------------------------------------ blocks

    /// <summary>
    /// The slice row a compaction leaves at its stamp (no bytes, this position), written after its new block row and
    /// before it deletes the slices it folded: the one slice that survives that delete.
    /// </summary>
    private const int FoldMarker = -1;

    /// <summary>
    /// A block's row merged with its newer slices (<see cref="Slice.Overlay"/>), the two read in parallel; null for a
    /// hole. The two reads are not one snapshot: one may be answered before a compaction's row write and the other after
    /// its delete of the slices it folded, which would show the old row without them. Such a slices read finds the
    /// compaction's marker newer than the row read, and the row (written before the marker) is read again.
    /// </summary>
    public async Task<ReadOnlyMemory<byte>?> ReadBlockAsync(Guid inode, long index, CancellationToken ct)
    {
        var rowRead = ReadRowAsync(inode, index, ct);
        var slices = await ReadSlicesAsync(inode, index, ct).ConfigureAwait(false);
        var (row, rowStamp) = await rowRead.ConfigureAwait(false);
        if (slices.Exists(s => s.Pos == FoldMarker && s.Stamp > rowStamp)) (row, rowStamp) = await ReadRowAsync(inode, index, ct).ConfigureAwait(false);
        return Slice.Overlay(row, rowStamp, slices.Where(s => s.Pos != FoldMarker));
    }

    /// <summary>The block's row and the stamp it was written at (its write time), or none.</summary>
    private async Task<(ReadOnlyMemory<byte>? Row, long Stamp)> ReadRowAsync(Guid inode, long index, CancellationToken ct)
    {
        var rows = await RunAsync(_cql.ReadBlock.Bind(inode, index), idempotent: true, ct).ConfigureAwait(false);
        if (rows.Count == 0 || rows[0].IsNull(0)) return (null, long.MinValue);
        return (rows[0].Get<ReadOnlyMemory<byte>>(0), rows[0].Get<long>(1));
    }

    private async Task<List<Slice>> ReadSlicesAsync(Guid inode, long index, CancellationToken ct)
    {
        var slices = new List<Slice>();
        await foreach (var row in _session.QueryAsync(_cql.ReadSlices.Bind(inode, index).WithConsistency(_consistency).AsIdempotent(), 1000, ct).ConfigureAwait(false))
        {
            var (stamp, data) = (row.Get<long>(0), row.Get<ReadOnlyMemory<byte>>(2));
            if (row.IsNull(3)) slices.Add(new Slice(stamp, row.Get<int>(1), data));
            else slices.AddRange(Slice.Of(stamp, PackedRanges.Unpack(row.Get<ReadOnlyMemory<byte>>(3), data)));
        }
        return slices;
    }

    public async Task<int> CountSlicesAsync(Guid inode, long index, int atMost, CancellationToken ct)
    {
        var count = 0;
        await foreach (var _ in _session.QueryAsync(_cql.SliceStamps.Bind(inode, index).WithConsistency(_consistency).AsIdempotent(), atMost, ct).ConfigureAwait(false))
            if (++count >= atMost) break;
        return count;
    }

    // Every write of the blocks, slices and block_index tables carries a stamp (BlockStamps) as its timestamp: the fence of data.

    public Task WriteBlockAsync(Guid inode, long index, ReadOnlyMemory<byte> data, long stamp, CancellationToken ct) =>
        RunAsync(_cql.WriteBlock.Bind(inode, index, data).WithTimestamp(stamp), idempotent: true, ct);

    /// <summary>
    /// The slice row is keyed by its stamp and its first range's position, and written at its stamp: a stale holder's
    /// lands below every later whole-block write. One range is stored as it is; several are packed (<see cref="PackedRanges"/>).
    /// </summary>
    public Task WriteSliceAsync(Guid inode, long index, IReadOnlyList<BlockRange> ranges, long stamp, CancellationToken ct)
    {
        if (ranges is [var only]) return RunAsync(_cql.WriteSlice.Bind(inode, index, stamp, only.Pos, only.Data).WithTimestamp(stamp), idempotent: true, ct);
        var (layout, data) = PackedRanges.Pack(ranges);
        return RunAsync(_cql.WritePackedSlice.Bind(inode, index, stamp, ranges[0].Pos, data, layout).WithTimestamp(stamp), idempotent: true, ct);
    }

    public async Task DeleteBlockAsync(Guid inode, long index, long stamp, CancellationToken ct) =>
        await Task.WhenAll(
            RunAsync(_cql.DeleteBlock.Bind(inode, index).WithTimestamp(stamp), idempotent: true, ct),
            RunAsync(_cql.DeleteSlices.Bind(inode, index).WithTimestamp(stamp), idempotent: true, ct)).ConfigureAwait(false);

    /// <summary>The marker at the fold's stamp first (<see cref="FoldMarker"/>), then the slices below it; the next fold or delete takes the marker.</summary>
    public async Task DeleteFoldedSlicesAsync(Guid inode, long index, long stamp, CancellationToken ct)
    {
        await RunAsync(_cql.WriteSlice.Bind(inode, index, stamp, FoldMarker, ReadOnlyMemory<byte>.Empty).WithTimestamp(stamp), idempotent: true, ct).ConfigureAwait(false);
        await RunAsync(_cql.DeleteSlices.Bind(inode, index).WithTimestamp(stamp - 1), idempotent: true, ct).ConfigureAwait(false);
    }

    public Task AddBlockIndexAsync(Guid inode, long index, long stamp, CancellationToken ct) =>
        RunAsync(_cql.AddIndex.Bind(inode, index).WithTimestamp(stamp), idempotent: true, ct);

    public Task DeleteBlockIndexAsync(Guid inode, long index, long stamp, CancellationToken ct) =>
        RunAsync(_cql.DeleteIndex.Bind(inode, index).WithTimestamp(stamp), idempotent: true, ct);

    public Task DeleteBlockIndexesAsync(Guid inode, long stamp, CancellationToken ct) =>
        RunAsync(_cql.DeleteIndexes.Bind(inode).WithTimestamp(stamp), idempotent: true, ct);

    /// <summary>Indexes of the blocks a file has stored, from <paramref name="from"/> on, ascending.</summary>
    public async IAsyncEnumerable<long> BlockIndexesAsync(Guid inode, long from, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var row in _session.QueryAsync(_cql.IndexesFrom.Bind(inode, from).WithConsistency(_consistency), 1000, ct).ConfigureAwait(false))
            yield return row.Get<long>(0);
    }

    // ------------------------------------------------------------------ extended attributes

    public async Task<ReadOnlyMemory<byte>?> GetXAttrAsync(Guid inode, string name, CancellationToken ct)
    {
        var rows = await RunAsync(_cql.GetXattr.Bind(inode, name, name), idempotent: true, ct).ConfigureAwait(false);
        return rows.Count == 0 ? (ReadOnlyMemory<byte>?)null : rows[0].IsNull(0) ? ReadOnlyMemory<byte>.Empty : rows[0].Get<ReadOnlyMemory<byte>>(0);
    }

    public Task SetXAttrAsync(Guid inode, string name, ReadOnlyMemory<byte> value, CancellationToken ct) =>
        RunAsync(_cql.SetXattr.Bind(inode, name, value), idempotent: true, ct);

    public async Task<IReadOnlyList<string>> ListXAttrsAsync(Guid inode, CancellationToken ct)
    {
        var names = new List<string>();
        await foreach (var row in _session.QueryAsync(_cql.ListXattrs.Bind(inode).WithConsistency(_consistency), 1000, ct).ConfigureAwait(false))
            names.Add(row.Get<string>(0));
        return names;
    }

    public Task RemoveXAttrAsync(Guid inode, string name, CancellationToken ct) => RunAsync(_cql.RemoveXattr.Bind(inode, name), idempotent: true, ct);

    public Task RemoveXAttrsAsync(Guid inode, CancellationToken ct) => RunAsync(_cql.RemoveXattrs.Bind(inode), idempotent: true, ct);

    // ------------------------------------------------------------------ change notices

    /// <summary>One unlogged batch per partition: a notice lost with its batch only leaves a cache stale until its timeout.</summary>
    public async Task AnnounceAsync(IReadOnlyList<ChangeNotice> notices, CancellationToken ct)
    {
        foreach (var bucket in notices.GroupBy(n => n.Bucket))
        {
            var batch = new BatchStatement(BatchType.Unlogged);
            foreach (var n in bucket) batch.Add(_cql.Announce.Bind(n.Bucket, n.At, n.Id, n.Client, n.Change.Inode, n.Change.Name));
            await RunAsync(batch, idempotent: true, ct).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<ChangeNotice>> NoticesSinceAsync(long since, CancellationToken ct)
    {
        var notices = new List<ChangeNotice>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        // A clock ahead of ours may have announced into the next partition already.
        for (var bucket = since / ChangeNotice.BucketMicros; bucket <= (now / ChangeNotice.BucketMicros) + 1; bucket++)
            foreach (var r in await RunAsync(_cql.NoticesSince.Bind(bucket, since), idempotent: true, ct).ConfigureAwait(false))
                notices.Add(new ChangeNotice(r.Get<long>(0), r.Get<Guid>(1), r.Get<Guid>(2), new NamespaceChange(r.Get<Guid>(3), r.IsNull(4) ? null : r.Get<string>(4))));
        return notices;
    }

    // ------------------------------------------------------------------ usage (statfs estimates)

    // Counter writes go to one replica, the counter leader the coordinator picks, and Cassandra keeps picking a dead node
    // until gossip convicts it (tens of seconds): each such write then waits the whole write timeout. So no file operation
    // waits for one. Deltas add up here and one background writer stores them (one UPDATE at a time, the sum of all
    // since the last); statfs adds what is still pending, so this client sees its own changes at once.
    private long _pendingBlocks, _pendingInodes;
    // Deltas taken by the writer whose UPDATE has not answered yet; statfs waits briefly for that answer instead
    // (a read between the two would miss them), and counts them itself when the write is slow.
    private long _storingBlocks, _storingInodes;
    private readonly SemaphoreSlim _storing = new(1, 1);
    private readonly SemaphoreSlim _usageWanted = new(0, 1);
    private Task? _usageWriter;
    private readonly CancellationTokenSource _closing = new();

    /// <summary>Counts blocks and inodes used (statfs); returns at once, stored in the background.</summary>
    public Task AddUsageAsync(long blocks, long inodes, CancellationToken ct)
    {
        Interlocked.Add(ref _pendingBlocks, blocks);
        Interlocked.Add(ref _pendingInodes, inodes);
        lock (_usageWanted)
        {
            if (_closing.IsCancellationRequested) return Task.CompletedTask; // closing: FlushUsageAsync stores the rest
            _usageWriter ??= Task.Run(WriteUsageAsync, CancellationToken.None);
            if (_usageWanted.CurrentCount == 0) _usageWanted.Release();
        }
        return Task.CompletedTask;
    }

    private async Task WriteUsageAsync()
    {
        while (true)
        {
            try
            {
                await _usageWanted.WaitAsync(_closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // Not cancelled by closing: an UPDATE already sent may be applied, and its deltas put back for the
            // closing flush would then count twice. FlushUsageAsync waits for it instead.
            await StorePendingUsageAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stores the deltas pending now. Counters are not idempotent, so a timed-out update is not retried (its outcome is
    /// unknown): statfs figures are estimates, which fsck --repair recounts.
    /// </summary>
    private async Task StorePendingUsageAsync(CancellationToken ct)
    {
        await _storing.WaitAsync(ct).ConfigureAwait(false);
        var blocks = Interlocked.Exchange(ref _pendingBlocks, 0);
        var inodes = Interlocked.Exchange(ref _pendingInodes, 0);
        Interlocked.Exchange(ref _storingBlocks, blocks);
        Interlocked.Exchange(ref _storingInodes, inodes);
        try
        {
            if (blocks == 0 && inodes == 0) return;
            await RunAsync(_cql.AddUsage.Bind(blocks, inodes), idempotent: false, ct).ConfigureAwait(false);
        }
        catch (CqlException)
        {
            // Advisory: losing one update must not fail anything.
        }
        catch (OperationCanceledException)
        {
            // The closing flush ran out of time before sending them: they stay pending, counted by this client's
            // statfs, never stored (fsck --repair recounts).
            Interlocked.Add(ref _pendingBlocks, blocks);
            Interlocked.Add(ref _pendingInodes, inodes);
        }
        finally
        {
            Interlocked.Exchange(ref _storingBlocks, 0);
            Interlocked.Exchange(ref _storingInodes, 0);
            _storing.Release();
        }
    }

    /// <summary>Stops the background writer and stores what is left (waiting at most <paramref name="wait"/>).</summary>
    public async Task FlushUsageAsync(TimeSpan wait)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            if (_usageWriter is { } writer) await writer.WaitAsync(wait).ConfigureAwait(false);
            using var bounded = new CancellationTokenSource(wait - waited.Elapsed > TimeSpan.Zero ? wait - waited.Elapsed : TimeSpan.Zero);
            await StorePendingUsageAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            // Estimates: what did not get stored in time is recounted by fsck --repair.
        }
    }

    /// <summary>The stored counters plus this client's deltas not yet stored.</summary>
    public async Task<(long Blocks, long Inodes)> UsageAsync(CancellationToken ct)
    {
        var alone = await _storing.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        try
        {
            var rows = await RunAsync(_cql.Usage.Bind(), idempotent: true, ct).ConfigureAwait(false);
            var (blocks, inodes) = rows.Count == 0 ? (0L, 0L) : (rows[0].Get<long?>(0) ?? 0, rows[0].Get<long?>(1) ?? 0);
            blocks += Interlocked.Read(ref _pendingBlocks);
            inodes += Interlocked.Read(ref _pendingInodes);
            // An UPDATE still unanswered after a second: count its deltas (they may show twice if it lands meanwhile).
            if (!alone) (blocks, inodes) = (blocks + Interlocked.Read(ref _storingBlocks), inodes + Interlocked.Read(ref _storingInodes));
            return (blocks, inodes);
        }
        finally
        {
            if (alone) _storing.Release();
        }
    }

    /// <summary>Inodes that have stored blocks (fsck looks for those whose inode is gone).</summary>
    public IAsyncEnumerable<Guid> InodesWithBlocksAsync(CancellationToken ct) => DistinctInodesAsync(_cql.IndexedInodes, ct);

    /// <summary>Inodes that have extended attributes.</summary>
    public IAsyncEnumerable<Guid> InodesWithXAttrsAsync(CancellationToken ct) => DistinctInodesAsync(_cql.AttributedInodes, ct);

    private async IAsyncEnumerable<Guid> DistinctInodesAsync(PreparedStatement query, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var row in _session.QueryAsync(query.Bind().WithConsistency(_consistency), 1000, ct).ConfigureAwait(false))
            yield return row.Get<Guid>(0);
    }

    private Task<RowSet> RunAsync(Statement statement, bool idempotent, CancellationToken ct) =>
        _session.ExecuteAsync(statement.WithConsistency(_consistency).AsIdempotent(idempotent), ct);
}
