namespace CassaFS;

/// <summary>
/// The rows a filesystem is made of, and the few conditional writes its rules rest on. <see cref="CassaFileSystem"/>
/// holds the POSIX rules and calls only these primitives (as JuiceFS's base layer calls an engine's <c>doMknod</c>);
/// an implementation only reads and writes, and never decides EEXIST, ENOTEMPTY or permissions.
/// <para>What every implementation promises (tests/CassaFS.Tests/Storage/StoreContract.cs checks each on every one):</para>
/// <list type="bullet">
/// <item>The conditional write (<see cref="CommitInodeAsync"/>) is linearizable per row, and answers for certain: a
/// write whose reply was lost (a timeout, a dropped connection) is settled before the method returns, so the caller is
/// told whether it happened and never sees the store's own errors for it.</item>
/// <item>Directory entries, link counts, block, slice and block-index writes carry a stamp (<see cref="BlockStamps"/>): of two writes to one cell the one
/// with the higher stamp wins whatever order they arrive in, and on equal stamps a delete wins.</item>
/// <item>A block reads merged (<see cref="Slice.Overlay"/>): its row overlaid, in stamp order, with its slices stamped
/// above the row's write; a slice no newer than the row was superseded by that whole-block write and never shows.</item>
/// <item>Plain writes (inodes inserted, times touched, extended attributes) are last-writer-wins and idempotent.</item>
/// <item>Listings are in the order of the names' UTF-8 bytes.</item>
/// </list>
/// </summary>
internal interface IFileSystemStore
{
    // ------------------------------------------------------------------ inodes

    Task<Inode?> GetInodeAsync(Guid id, CancellationToken ct);

    Task InsertInodeAsync(Inode inode, CancellationToken ct);

    /// <summary>
    /// Writes every field of <paramref name="inode"/> but its link count (see <see cref="SetLinksAsync"/>) if the
    /// stored fence is still <paramref name="expectedFence"/>.
    /// </summary>
    Task<FencedCommit> CommitInodeAsync(Inode inode, long expectedFence, CancellationToken ct);

    /// <summary>
    /// Sets the inode's link count: a plain write stamped <paramref name="stamp"/>, from the fencing token of the
    /// inode's exclusive lock, as names are (<see cref="WriteEntryAsync"/>): of two the higher stamp wins whatever
    /// order they arrive in, so a late write of a holder whose lock was lost never hides a later holder's; the count an
    /// insert wrote is below every stamp. A write whose reply was lost is sent again. An inode that is gone stays gone.
    /// </summary>
    Task SetLinksAsync(Guid id, long nlink, long stamp, CancellationToken ct);

    /// <summary>Sets the times <paramref name="times"/> names, only those (last writer wins, which is what times want); an inode that is gone stays gone.</summary>
    Task TouchAsync(Guid id, TouchedTimes times, CancellationToken ct);

    Task DeleteInodeAsync(Guid id, CancellationToken ct);

    IAsyncEnumerable<Inode> AllInodesAsync(CancellationToken ct);

    // ------------------------------------------------------------------ directory entries

    Task<DirectoryEntry?> GetEntryAsync(Guid dir, string name, CancellationToken ct);

    /// <summary>
    /// Points <paramref name="entry"/>'s name at its inode, creating the name if needed: a plain write stamped
    /// <paramref name="stamp"/>. Of two writes of one name the higher stamp wins whatever order they arrive in, a removal
    /// on a tie. The filesystem writes names only under the directory's exclusive lock, stamped from that grant's fencing
    /// token (<see cref="BlockStamps"/>), so a late write of a holder whose lock was lost never hides a later holder's.
    /// A write whose reply was lost is sent again (it is idempotent); the call returns once it is stored.
    /// </summary>
    Task WriteEntryAsync(Guid dir, DirectoryEntry entry, long stamp, CancellationToken ct);

    /// <summary>Removes the name, stamped <paramref name="stamp"/> (see <see cref="WriteEntryAsync"/>); removing an absent name is no error.</summary>
    Task RemoveEntryAsync(Guid dir, string name, long stamp, CancellationToken ct);

    /// <summary>
    /// Writes <paramref name="entry"/> and removes <paramref name="oldName"/> (another name of the same directory) in
    /// one write, both stamped <paramref name="stamp"/>: a reader sees both or neither, and so does a crash (a rename
    /// within one directory, whose names are one partition).
    /// </summary>
    Task MoveEntryAsync(Guid dir, string oldName, DirectoryEntry entry, long stamp, CancellationToken ct);

    /// <summary>
    /// Removes every name of a directory that has itself been removed, stamped <see cref="BlockStamps.Purge"/>: a late
    /// write of any holder into it never shows.
    /// </summary>
    Task PurgeEntriesAsync(Guid dir, CancellationToken ct);

    /// <summary>A directory's entries in name order, after <paramref name="after"/> when given, fetched <paramref name="pageSize"/> at a time.</summary>
    IAsyncEnumerable<DirectoryEntry> ListEntriesAsync(Guid dir, string? after, int pageSize, CancellationToken ct);

    Task<bool> HasEntriesAsync(Guid dir, CancellationToken ct);

    IAsyncEnumerable<(Guid Dir, DirectoryEntry Entry)> AllEntriesAsync(CancellationToken ct);

    // ------------------------------------------------------------------ blocks

    /// <summary>
    /// A block's bytes (possibly shorter than the block size) merged with its slices newer than its row, or null for a
    /// hole (no row, no slice). The row and the slices are read at once, not one after the other.
    /// </summary>
    Task<ReadOnlyMemory<byte>?> ReadBlockAsync(Guid inode, long index, CancellationToken ct);

    Task WriteBlockAsync(Guid inode, long index, ReadOnlyMemory<byte> data, long stamp, CancellationToken ct);

    /// <summary>
    /// Stores <paramref name="ranges"/> (disjoint, in position order) within block <paramref name="index"/> as one slice
    /// row, without reading or rewriting the rest of the block: small writes into a large block cost their own bytes,
    /// not the block's, and scattered ones into one block cost one write.
    /// </summary>
    Task WriteSliceAsync(Guid inode, long index, IReadOnlyList<BlockRange> ranges, long stamp, CancellationToken ct);

    /// <summary>The block's slice rows, superseded ones included (compaction clears those too), counting at most <paramref name="atMost"/>.</summary>
    Task<int> CountSlicesAsync(Guid inode, long index, int atMost, CancellationToken ct);

    /// <summary>Deletes the block's row and its slices stamped at or below <paramref name="stamp"/> (later slices survive, as they should).</summary>
    Task DeleteBlockAsync(Guid inode, long index, long stamp, CancellationToken ct);

    /// <summary>
    /// A compaction's last step: the block's row, just written at <paramref name="stamp"/>, holds every slice stamped
    /// below it, and those slices go (later ones survive). A read that overlaps this never shows the row from before
    /// the compaction without the slices it folded.
    /// </summary>
    Task DeleteFoldedSlicesAsync(Guid inode, long index, long stamp, CancellationToken ct);

    Task AddBlockIndexAsync(Guid inode, long index, long stamp, CancellationToken ct);

    Task DeleteBlockIndexAsync(Guid inode, long index, long stamp, CancellationToken ct);

    Task DeleteBlockIndexesAsync(Guid inode, long stamp, CancellationToken ct);

    /// <summary>Indexes of the blocks a file has stored, from <paramref name="from"/> on, ascending.</summary>
    IAsyncEnumerable<long> BlockIndexesAsync(Guid inode, long from, CancellationToken ct);

    /// <summary>Inodes that have stored blocks (fsck looks for those whose inode is gone).</summary>
    IAsyncEnumerable<Guid> InodesWithBlocksAsync(CancellationToken ct);

    // ------------------------------------------------------------------ extended attributes

    /// <summary>The value, empty for an empty value, null when the attribute is not set.</summary>
    Task<ReadOnlyMemory<byte>?> GetXAttrAsync(Guid inode, string name, CancellationToken ct);

    Task SetXAttrAsync(Guid inode, string name, ReadOnlyMemory<byte> value, CancellationToken ct);

    Task<IReadOnlyList<string>> ListXAttrsAsync(Guid inode, CancellationToken ct);

    Task RemoveXAttrAsync(Guid inode, string name, CancellationToken ct);

    Task RemoveXAttrsAsync(Guid inode, CancellationToken ct);

    IAsyncEnumerable<Guid> InodesWithXAttrsAsync(CancellationToken ct);

    // ------------------------------------------------------------------ change notices

    /// <summary>
    /// Tells other clients what changed (plain writes that expire after <see cref="ChangeNotice.Lifetime"/>): a
    /// notice only makes caches drop what they hold, so one lost leaves them stale until their own timeout.
    /// </summary>
    Task AnnounceAsync(IReadOnlyList<ChangeNotice> notices, CancellationToken ct);

    /// <summary>The notices announced at or after <paramref name="since"/> (microseconds since the Unix epoch, by the announcer's clock).</summary>
    Task<IReadOnlyList<ChangeNotice>> NoticesSinceAsync(long since, CancellationToken ct);

    // ------------------------------------------------------------------ usage (statfs estimates)

    /// <summary>Counts blocks and inodes used; may return before the count is stored (statfs figures are estimates).</summary>
    Task AddUsageAsync(long blocks, long inodes, CancellationToken ct);

    /// <summary>The counts, this client's not yet stored included.</summary>
    Task<(long Blocks, long Inodes)> UsageAsync(CancellationToken ct);

    /// <summary>Stores what <see cref="AddUsageAsync"/> still holds, waiting at most <paramref name="wait"/>; called once, at close.</summary>
    Task FlushUsageAsync(TimeSpan wait);
}

internal static class FileSystemStoreExtensions
{
    /// <summary>A slice row of one range.</summary>
    public static Task WriteSliceAsync(this IFileSystemStore store, Guid inode, long index, int pos, ReadOnlyMemory<byte> data, long stamp, CancellationToken ct) =>
        store.WriteSliceAsync(inode, index, new[] { new BlockRange(pos, data) }, stamp, ct);
}

/// <summary>
/// One announced change (<see cref="IFileSystemStore.AnnounceAsync"/>): at <see cref="At"/> (microseconds since the
/// Unix epoch), <see cref="Client"/> changed <see cref="Change"/>. <see cref="Id"/> tells two notices apart.
/// </summary>
internal readonly record struct ChangeNotice(long At, Guid Id, Guid Client, NamespaceChange Change)
{
    /// <summary>How long a notice is kept: watchers read the last few seconds; the rest is slack for clock skew.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    /// <summary>Notices are kept in partitions of this many microseconds (10 s), so a watcher reads one or two.</summary>
    public const long BucketMicros = 10_000_000;

    public long Bucket => At / BucketMicros;
}

/// <summary>How a fenced inode commit ended: applied, not applied because the fence moved (to <see cref="StoredFence"/>), or the inode is gone.</summary>
internal readonly record struct FencedCommit(FencedCommitResult Result, long StoredFence)
{
    public static FencedCommit Applied => new(FencedCommitResult.Applied, 0);

    public static FencedCommit Gone => new(FencedCommitResult.Gone, 0);

    public static FencedCommit Moved(long storedFence) => new(FencedCommitResult.FenceMoved, storedFence);
}

internal enum FencedCommitResult
{
    Applied,
    FenceMoved,
    Gone,
}
