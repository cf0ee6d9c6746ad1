using CassaFS.Cql;
using CassaFS.Testing;

namespace CassaFS.Tests.Storage;

/// <summary>
/// What <see cref="CassaFileSystem"/> relies on from its store (<see cref="IFileSystemStore"/>), checked on every
/// implementation: the Cassandra store on the run's real Cassandra, and the in-memory store. A rule the filesystem
/// builds on belongs here; a store that passes these can carry the filesystem.
/// </summary>
public abstract class StoreContract : IAsyncLifetime
{
    private protected IFileSystemStore Store { get; private set; } = null!;

    private protected abstract Task<IFileSystemStore> CreateStoreAsync();

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public Task DisposeAsync() => Store.FlushUsageAsync(TimeSpan.FromSeconds(5));

    private static Inode NewInode(long fence = 0, FileType type = FileType.Regular) => new()
    {
        Id = Guid.NewGuid(),
        Type = type,
        Mode = 0x1A4,
        Uid = 1000,
        Gid = 50,
        Nlink = 1,
        Size = 12345,
        Rdev = 7,
        Atime = Timespec.FromParts(1_700_000_000, 1),
        Mtime = Timespec.FromParts(1_700_000_001, 2),
        Ctime = Timespec.FromParts(1_700_000_002, 3),
        Target = "some/target",
        Generation = 42,
        Parent = Guid.NewGuid(),
        Blocks = 3,
        Fence = fence,
    };

    private static async Task<List<T>> AllAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items) list.Add(item);
        return list;
    }

    [Fact]
    public async Task Change_notices_read_back_from_the_time_asked_for_across_partitions_and_not_before()
    {
        var client = Guid.NewGuid();
        var boundary = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 / ChangeNotice.BucketMicros * ChangeNotice.BucketMicros;
        var dir = Guid.NewGuid();
        ChangeNotice At(long at, string? name) => new(at, Guid.NewGuid(), client, new NamespaceChange(name is null ? Guid.NewGuid() : dir, name));
        var tooEarly = At(boundary - 2, "too early");
        var lastOfOne = At(boundary - 1, "last of one partition");
        var firstOfNext = At(boundary, null);
        var later = At(boundary + 5, "later");
        await Store.AnnounceAsync(new[] { tooEarly, lastOfOne, firstOfNext, later }, default);
        var read = (await Store.NoticesSinceAsync(boundary - 1, default)).Where(n => n.Client == client).OrderBy(n => n.At).ToList();
        Assert.Equal(new[] { lastOfOne, firstOfNext, later }, read);
    }

    [Fact]
    public async Task An_inode_reads_back_with_every_field_and_is_gone_after_its_delete()
    {
        var inode = NewInode();
        await Store.InsertInodeAsync(inode, default);
        Assert.Equal(inode, await Store.GetInodeAsync(inode.Id, default));
        Assert.Contains(inode, await AllAsync(Store.AllInodesAsync(default)));
        await Store.DeleteInodeAsync(inode.Id, default);
        Assert.Null(await Store.GetInodeAsync(inode.Id, default));
        Assert.DoesNotContain(await AllAsync(Store.AllInodesAsync(default)), i => i.Id == inode.Id);
    }

    [Fact]
    public async Task A_fenced_commit_applies_only_while_the_fence_holds_and_otherwise_names_the_stored_fence()
    {
        var inode = NewInode(fence: 5);
        await Store.InsertInodeAsync(inode, default);
        var changed = inode with { Size = 1, Fence = 9 };
        Assert.Equal(FencedCommit.Applied, await Store.CommitInodeAsync(changed, 5, default));
        Assert.Equal(changed, await Store.GetInodeAsync(inode.Id, default));
        // A commit leaves the link count as stored: it goes by stamp (SetLinksAsync).
        Assert.Equal(FencedCommit.Applied, await Store.CommitInodeAsync(changed with { Nlink = 5, Fence = 9 }, 9, default));
        Assert.Equal(changed, await Store.GetInodeAsync(inode.Id, default));

        var stale = inode with { Nlink = 7, Fence = 6 };
        Assert.Equal(FencedCommit.Moved(9), await Store.CommitInodeAsync(stale, 5, default));
        Assert.Equal(changed, await Store.GetInodeAsync(inode.Id, default));

        await Store.DeleteInodeAsync(inode.Id, default);
        Assert.Equal(FencedCommit.Gone, await Store.CommitInodeAsync(changed with { Fence = 10 }, 9, default));
        Assert.Equal(FencedCommit.Gone, await Store.CommitInodeAsync(NewInode(), 0, default));
    }

    [Fact]
    public async Task Of_two_link_count_writes_the_higher_stamp_wins_in_either_order_and_every_stamp_beats_the_insert()
    {
        var inode = NewInode();
        await Store.InsertInodeAsync(inode, default);
        await Store.SetLinksAsync(inode.Id, 3, Stamp(2), default);
        Assert.Equal(3, (await Store.GetInodeAsync(inode.Id, default))!.Nlink);
        // A holder whose lock was lost writes late: its lower stamp loses; its write sent again changes nothing.
        await Store.SetLinksAsync(inode.Id, 0, Stamp(1), default);
        await Store.SetLinksAsync(inode.Id, 3, Stamp(2), default);
        Assert.Equal(3, (await Store.GetInodeAsync(inode.Id, default))!.Nlink);
        await Store.SetLinksAsync(inode.Id, 2, Stamp(2) + 1, default);
        var stored = await Store.GetInodeAsync(inode.Id, default);
        Assert.Equal(inode with { Nlink = 2 }, stored);
        // A removed inode stays removed.
        await Store.DeleteInodeAsync(inode.Id, default);
        await Store.SetLinksAsync(inode.Id, 1, Stamp(3), default);
        Assert.Null(await Store.GetInodeAsync(inode.Id, default));
        Assert.DoesNotContain(await AllAsync(Store.AllInodesAsync(default)), i => i.Id == inode.Id);
    }

    [Fact]
    public async Task A_touch_sets_only_the_times_it_names_and_leaves_a_removed_inode_removed()
    {
        var inode = NewInode();
        await Store.InsertInodeAsync(inode, default);
        Timespec a = Timespec.FromParts(1, 0), m = Timespec.FromParts(2, 0), c = Timespec.FromParts(3, 0);
        await Store.TouchAsync(inode.Id, new TouchedTimes(a, m, c), default);
        Assert.Equal(inode with { Atime = a, Mtime = m, Ctime = c }, await Store.GetInodeAsync(inode.Id, default));
        // A reader's atime leaves a writer's mtime and ctime alone, whatever it loaded before them.
        var written = inode with { Size = 4096, Atime = a, Mtime = Timespec.FromParts(20, 0), Ctime = Timespec.FromParts(30, 0), Fence = 7 };
        Assert.Equal(FencedCommit.Applied, await Store.CommitInodeAsync(written, inode.Fence, default));
        await Store.TouchAsync(inode.Id, new TouchedTimes(Atime: Timespec.FromParts(40, 0)), default);
        Assert.Equal(written with { Atime = Timespec.FromParts(40, 0) }, await Store.GetInodeAsync(inode.Id, default));
        await Store.TouchAsync(inode.Id, new TouchedTimes(Ctime: Timespec.FromParts(50, 0)), default);
        Assert.Equal(written with { Atime = Timespec.FromParts(40, 0), Ctime = Timespec.FromParts(50, 0) }, await Store.GetInodeAsync(inode.Id, default));

        await Store.DeleteInodeAsync(inode.Id, default);
        await Store.TouchAsync(inode.Id, new TouchedTimes(a, m, c), default);
        Assert.Null(await Store.GetInodeAsync(inode.Id, default));
        Assert.DoesNotContain(await AllAsync(Store.AllInodesAsync(default)), i => i.Id == inode.Id);
    }

    [Fact]
    public async Task Of_two_writes_of_a_name_the_higher_stamp_wins_in_either_order_and_a_removal_wins_a_tie()
    {
        var dir = Guid.NewGuid();
        var first = new DirectoryEntry("name", Guid.NewGuid(), FileType.Regular);
        var second = new DirectoryEntry("name", Guid.NewGuid(), FileType.Directory);
        var (early, late) = (Stamp(1), Stamp(2));
        await Store.WriteEntryAsync(dir, first, early, default);
        Assert.Equal(first, await Store.GetEntryAsync(dir, "name", default));
        await Store.WriteEntryAsync(dir, second, late, default);
        Assert.Equal(second, await Store.GetEntryAsync(dir, "name", default));
        // An earlier holder's write or removal arriving late (its lock was lost) does not touch the later holder's name.
        await Store.WriteEntryAsync(dir, first, early + 1, default);
        await Store.RemoveEntryAsync(dir, "name", early + 2, default);
        Assert.Equal(second, await Store.GetEntryAsync(dir, "name", default));
        Assert.True(await Store.HasEntriesAsync(dir, default));
        // A write retried with its own stamp (its reply was lost) changes nothing.
        await Store.WriteEntryAsync(dir, second, late, default);
        Assert.Equal(second, await Store.GetEntryAsync(dir, "name", default));
        Assert.Null(await Store.GetEntryAsync(dir, "other", default));
        Assert.Null(await Store.GetEntryAsync(Guid.NewGuid(), "name", default));

        await Store.RemoveEntryAsync(dir, "name", late, default); // a tie: the removal wins
        Assert.Null(await Store.GetEntryAsync(dir, "name", default));
        Assert.False(await Store.HasEntriesAsync(dir, default));
        Assert.DoesNotContain(await AllAsync(Store.AllEntriesAsync(default)), e => e.Dir == dir);
        await Store.RemoveEntryAsync(dir, "absent", late, default);
        // A removed name is free again for a later stamp.
        await Store.WriteEntryAsync(dir, first, late + 1, default);
        Assert.Equal(first, await Store.GetEntryAsync(dir, "name", default));
    }

    [Fact]
    public async Task A_move_within_a_directory_writes_the_new_name_and_removes_the_old_at_one_stamp()
    {
        var dir = Guid.NewGuid();
        var file = new DirectoryEntry("old", Guid.NewGuid(), FileType.Regular);
        var replaced = new DirectoryEntry("new", Guid.NewGuid(), FileType.Regular);
        await Store.WriteEntryAsync(dir, file, Stamp(1), default);
        await Store.WriteEntryAsync(dir, replaced, Stamp(1) + 1, default);
        await Store.MoveEntryAsync(dir, "old", file with { Name = "new" }, Stamp(2), default);
        Assert.Null(await Store.GetEntryAsync(dir, "old", default));
        Assert.Equal(file with { Name = "new" }, await Store.GetEntryAsync(dir, "new", default));
        Assert.Equal(new[] { "new" }, (await AllAsync(Store.ListEntriesAsync(dir, null, 10, default))).Select(e => e.Name));
        // A late move of an earlier holder changes neither name; sent again (its reply was lost), the move changes nothing.
        await Store.MoveEntryAsync(dir, "new", replaced with { Name = "old" }, Stamp(1) + 2, default);
        await Store.MoveEntryAsync(dir, "old", file with { Name = "new" }, Stamp(2), default);
        Assert.Null(await Store.GetEntryAsync(dir, "old", default));
        Assert.Equal(file with { Name = "new" }, await Store.GetEntryAsync(dir, "new", default));
    }

    [Fact]
    public async Task A_removed_directory_keeps_no_name_even_one_written_late()
    {
        var dir = Guid.NewGuid();
        await Store.WriteEntryAsync(dir, new DirectoryEntry("a", Guid.NewGuid(), FileType.Regular), Stamp(1), default);
        await Store.WriteEntryAsync(dir, new DirectoryEntry("b", Guid.NewGuid(), FileType.Regular), Stamp(2), default);
        await Store.PurgeEntriesAsync(dir, default);
        Assert.False(await Store.HasEntriesAsync(dir, default));
        await Store.WriteEntryAsync(dir, new DirectoryEntry("c", Guid.NewGuid(), FileType.Regular), Stamp(3), default);
        Assert.Null(await Store.GetEntryAsync(dir, "c", default));
        Assert.Empty(await AllAsync(Store.ListEntriesAsync(dir, null, 10, default)));
    }

    /// <summary>The stamp of the first write of the grant with fencing token <paramref name="token"/>.</summary>
    private static long Stamp(long token) => new BlockStamps(token).Next();

    [Fact]
    public async Task A_listing_is_in_the_order_of_the_names_utf8_bytes_and_resumes_after_a_name()
    {
        var dir = Guid.NewGuid();
        // UTF-16 puts the emoji (a surrogate pair, 0xD83D...) before U+FF5E; UTF-8 puts it after (F0 > EF).
        string[] names = { "b", "a", "Z", "\uFF5E", "\U0001F600", "é", "a.txt" };
        foreach (var name in names)
            await Store.WriteEntryAsync(dir, new DirectoryEntry(name, Guid.NewGuid(), FileType.Regular), Stamp(1), default);
        string[] expected = { "Z", "a", "a.txt", "b", "é", "\uFF5E", "\U0001F600" };
        Assert.Equal(expected, (await AllAsync(Store.ListEntriesAsync(dir, null, 2, default))).Select(e => e.Name));
        Assert.Equal(expected[3..], (await AllAsync(Store.ListEntriesAsync(dir, "a.txt", 2, default))).Select(e => e.Name));
        Assert.Empty(await AllAsync(Store.ListEntriesAsync(dir, "\U0001F600", 2, default)));
        var all = await AllAsync(Store.AllEntriesAsync(default));
        Assert.Equal(expected, all.Where(e => e.Dir == dir).Select(e => e.Entry.Name).Order(Utf8.Instance));
        Assert.Empty(await AllAsync(Store.ListEntriesAsync(Guid.NewGuid(), null, 2, default)));
    }

    private sealed class Utf8 : IComparer<string>
    {
        public static readonly Utf8 Instance = new();

        public int Compare(string? x, string? y) =>
            System.Text.Encoding.UTF8.GetBytes(x ?? "").AsSpan().SequenceCompareTo(System.Text.Encoding.UTF8.GetBytes(y ?? ""));
    }

    [Fact]
    public async Task Of_two_writes_of_a_block_the_higher_stamp_wins_in_either_order_and_a_delete_wins_a_tie()
    {
        var inode = Guid.NewGuid();
        Assert.Null(await Store.ReadBlockAsync(inode, 0, default));
        await Store.WriteBlockAsync(inode, 0, "new"u8.ToArray(), 10, default);
        await Store.WriteBlockAsync(inode, 0, "old"u8.ToArray(), 5, default); // a late write of an earlier holder
        Assert.Equal("new"u8.ToArray(), (await Store.ReadBlockAsync(inode, 0, default))!.Value.ToArray());
        await Store.DeleteBlockAsync(inode, 0, 5, default);
        Assert.Equal("new"u8.ToArray(), (await Store.ReadBlockAsync(inode, 0, default))!.Value.ToArray());
        await Store.DeleteBlockAsync(inode, 0, 10, default);
        Assert.Null(await Store.ReadBlockAsync(inode, 0, default));
        await Store.WriteBlockAsync(inode, 0, "later"u8.ToArray(), 11, default);
        Assert.Equal("later"u8.ToArray(), (await Store.ReadBlockAsync(inode, 0, default))!.Value.ToArray());
        Assert.Null(await Store.ReadBlockAsync(inode, 1, default));
    }

    private async Task<string?> BlockTextAsync(Guid inode, long index) =>
        await Store.ReadBlockAsync(inode, index, default) is { } bytes ? System.Text.Encoding.ASCII.GetString(bytes.Span) : null;

    [Fact]
    public async Task A_block_reads_as_its_row_overlaid_with_newer_slices_and_a_slice_no_newer_than_the_row_is_superseded()
    {
        var inode = Guid.NewGuid();
        await Store.WriteBlockAsync(inode, 0, "aaaaaaaaaa"u8.ToArray(), 10, default);
        await Store.WriteSliceAsync(inode, 0, 2, "XY"u8.ToArray(), 11, default);
        Assert.Equal("aaXYaaaaaa", await BlockTextAsync(inode, 0));
        await Store.WriteSliceAsync(inode, 0, 8, "ZZZZ"u8.ToArray(), 12, default); // past the row's end: the block grows
        Assert.Equal("aaXYaaaaZZZZ", await BlockTextAsync(inode, 0));
        await Store.WriteSliceAsync(inode, 0, 0, "old"u8.ToArray(), 9, default);  // older than the row
        await Store.WriteSliceAsync(inode, 0, 0, "tie"u8.ToArray(), 10, default); // as old as the row
        Assert.Equal("aaXYaaaaZZZZ", await BlockTextAsync(inode, 0));
        // A later whole-block write supersedes every slice before it, the longer ones included.
        await Store.WriteBlockAsync(inode, 0, "bbb"u8.ToArray(), 13, default);
        Assert.Equal("bbb", await BlockTextAsync(inode, 0));
        await Store.WriteSliceAsync(inode, 0, 1, "c"u8.ToArray(), 14, default);
        Assert.Equal("bcb", await BlockTextAsync(inode, 0));
    }

    [Fact]
    public async Task Slices_overlay_in_stamp_order_whatever_order_they_arrive_in_and_over_a_hole_they_lie_on_zeros()
    {
        var inode = Guid.NewGuid();
        await Store.WriteSliceAsync(inode, 3, 0, "22"u8.ToArray(), 21, default);
        await Store.WriteSliceAsync(inode, 3, 0, "1111"u8.ToArray(), 20, default); // arrives late, is older
        Assert.Equal("2211", await BlockTextAsync(inode, 3));
        Assert.Equal(2, await Store.CountSlicesAsync(inode, 3, 10, default));
        Assert.Equal(1, await Store.CountSlicesAsync(inode, 3, 1, default));
        Assert.Equal(0, await Store.CountSlicesAsync(inode, 5, 10, default));
        await Store.WriteSliceAsync(inode, 4, 5, "x"u8.ToArray(), 5, default);
        Assert.Equal("\0\0\0\0\0x", await BlockTextAsync(inode, 4));
        Assert.Null(await BlockTextAsync(inode, 5));
    }

    [Fact]
    public async Task A_slice_row_of_several_ranges_reads_back_each_range_in_place_and_counts_as_one_row()
    {
        var inode = Guid.NewGuid();
        await Store.WriteBlockAsync(inode, 0, "aaaaaaaaaaaaaaaa"u8.ToArray(), 10, default);
        var ranges = new[] { new BlockRange(1, "X"u8.ToArray()), new BlockRange(4, "YY"u8.ToArray()), new BlockRange(14, "ZZZZ"u8.ToArray()) };
        await Store.WriteSliceAsync(inode, 0, ranges, 11, default);
        Assert.Equal("aXaaYYaaaaaaaaZZZZ", await BlockTextAsync(inode, 0));
        Assert.Equal(1, await Store.CountSlicesAsync(inode, 0, 10, default));
        // An older row under it shows only where the newer ranges leave it; an empty range stores nothing.
        await Store.WriteSliceAsync(inode, 0, new[] { new BlockRange(0, "oooooo"u8.ToArray()), new BlockRange(9, ReadOnlyMemory<byte>.Empty) }, 10, default);
        Assert.Equal("aXaaYYaaaaaaaaZZZZ", await BlockTextAsync(inode, 0)); // as old as the row: superseded
        await Store.WriteSliceAsync(inode, 0, new[] { new BlockRange(0, "ooooooo"u8.ToArray()), new BlockRange(9, "p"u8.ToArray()) }, 12, default);
        Assert.Equal("oooooooaapaaaaZZZZ", await BlockTextAsync(inode, 0));
        Assert.Equal(3, await Store.CountSlicesAsync(inode, 0, 10, default)); // the superseded row too, till compaction
    }

    [Fact]
    public async Task Deleting_a_block_deletes_its_slices_up_to_the_stamp_so_a_stale_one_never_returns_and_a_later_one_shows()
    {
        var inode = Guid.NewGuid();
        await Store.WriteBlockAsync(inode, 0, "aaaa"u8.ToArray(), 10, default);
        await Store.WriteSliceAsync(inode, 0, 1, "X"u8.ToArray(), 11, default);
        await Store.DeleteBlockAsync(inode, 0, 12, default);
        Assert.Null(await BlockTextAsync(inode, 0));
        await Store.WriteSliceAsync(inode, 0, 2, "stale"u8.ToArray(), 11, default); // a stale holder's, landing late
        Assert.Null(await BlockTextAsync(inode, 0));
        await Store.WriteSliceAsync(inode, 0, 2, "Y"u8.ToArray(), 13, default);
        Assert.Equal("\0\0Y", await BlockTextAsync(inode, 0));

        // A compaction at 22 folds the slices below it into the row; a slice stamped after it overlays it and stays.
        await Store.WriteBlockAsync(inode, 1, "row"u8.ToArray(), 20, default);
        await Store.WriteSliceAsync(inode, 1, 0, "S"u8.ToArray(), 21, default);
        await Store.WriteSliceAsync(inode, 1, 1, "T"u8.ToArray(), 23, default);
        await Store.WriteBlockAsync(inode, 1, "Sow"u8.ToArray(), 22, default);
        await Store.DeleteFoldedSlicesAsync(inode, 1, 22, default);
        Assert.Equal("STw", await BlockTextAsync(inode, 1));
        await Store.WriteSliceAsync(inode, 1, 2, "U"u8.ToArray(), 21, default); // below the fold, landing late: gone
        Assert.Equal("STw", await BlockTextAsync(inode, 1));
        await Store.WriteBlockAsync(inode, 1, "new"u8.ToArray(), 24, default);
        Assert.Equal("new", await BlockTextAsync(inode, 1));
    }

    [Fact]
    public async Task The_block_index_lists_ascending_from_an_index_and_a_whole_file_delete_hides_what_is_stamped_below_it()
    {
        var inode = Guid.NewGuid();
        foreach (var i in new long[] { 2, 0, 1, 7 }) await Store.AddBlockIndexAsync(inode, i, 10, default);
        await Store.DeleteBlockIndexAsync(inode, 1, 10, default);
        Assert.Equal(new long[] { 0, 2, 7 }, await AllAsync(Store.BlockIndexesAsync(inode, 0, default)));
        Assert.Equal(new long[] { 2, 7 }, await AllAsync(Store.BlockIndexesAsync(inode, 1, default)));
        Assert.Contains(inode, await AllAsync(Store.InodesWithBlocksAsync(default)));

        await Store.DeleteBlockIndexesAsync(inode, 20, default);
        Assert.Empty(await AllAsync(Store.BlockIndexesAsync(inode, 0, default)));
        await Store.AddBlockIndexAsync(inode, 4, 15, default); // late: below the delete
        await Store.AddBlockIndexAsync(inode, 3, 21, default);
        Assert.Equal(new long[] { 3 }, await AllAsync(Store.BlockIndexesAsync(inode, 0, default)));
    }

    [Fact]
    public async Task Extended_attributes_keep_empty_values_list_in_name_order_and_go_one_by_one_or_all_at_once()
    {
        var inode = Guid.NewGuid();
        Assert.Null(await Store.GetXAttrAsync(inode, "user.a", default));
        await Store.SetXAttrAsync(inode, "user.b", "two"u8.ToArray(), default);
        await Store.SetXAttrAsync(inode, "user.a", ReadOnlyMemory<byte>.Empty, default);
        await Store.SetXAttrAsync(inode, "user.b", "second"u8.ToArray(), default);
        Assert.Equal(0, (await Store.GetXAttrAsync(inode, "user.a", default))!.Value.Length);
        Assert.Equal("second"u8.ToArray(), (await Store.GetXAttrAsync(inode, "user.b", default))!.Value.ToArray());
        Assert.Equal(new[] { "user.a", "user.b" }, await Store.ListXAttrsAsync(inode, default));
        Assert.Contains(inode, await AllAsync(Store.InodesWithXAttrsAsync(default)));
        await Store.RemoveXAttrAsync(inode, "user.a", default);
        Assert.Equal(new[] { "user.b" }, await Store.ListXAttrsAsync(inode, default));
        await Store.RemoveXAttrsAsync(inode, default);
        Assert.Empty(await Store.ListXAttrsAsync(inode, default));
        Assert.DoesNotContain(inode, await AllAsync(Store.InodesWithXAttrsAsync(default)));
    }

    [Fact]
    public async Task Usage_counts_what_this_client_added_at_once_and_exactly_once_after_it_is_stored()
    {
        var (blocks, inodes) = await Store.UsageAsync(default);
        await Store.AddUsageAsync(5, 2, default);
        await Store.AddUsageAsync(-1, 1, default);
        // Before it is stored the figure is an estimate: an update still unanswered after a second counts in it,
        // and may count twice if it lands meanwhile. Once flushed it is exact: nothing lost, nothing counted twice.
        var (pendingBlocks, pendingInodes) = await Store.UsageAsync(default);
        Assert.True(pendingBlocks >= blocks + 4 && pendingInodes >= inodes + 3, $"{pendingBlocks}, {pendingInodes}");
        await Store.FlushUsageAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((blocks + 4, inodes + 3), await Store.UsageAsync(default));
    }
}

/// <summary>The contract on the run's real Cassandra: a fresh keyspace formatted for it, the store the filesystem mounts.</summary>
public sealed class CassandraStoreContract : StoreContract, IClassFixture<CassandraStoreContract.Keyspace>
{
    private readonly Keyspace _keyspace;

    public CassandraStoreContract(Keyspace keyspace) => _keyspace = keyspace;

    private protected override Task<IFileSystemStore> CreateStoreAsync() => _keyspace.NewStoreAsync();

    public sealed class Keyspace : IAsyncLifetime
    {
        private readonly string _name = TestNames.Keyspace("store");
        private CqlSession _session = null!;

        public async Task InitializeAsync()
        {
            _session = await FileSystemFixture.Connect(await TestServers.CassandraAsync());
            await Schema.FormatAsync(_session, new FormatOptions { Keyspace = _name });
        }

        internal async Task<IFileSystemStore> NewStoreAsync() =>
            await CassandraStore.PrepareAsync(_session, _name, Consistency.Quorum, Consistency.Serial, logger: null, default);

        public async Task DisposeAsync()
        {
            await Schema.DestroyAsync(_session, _name, Consistency.Quorum);
            await _session.DisposeAsync();
        }
    }
}

/// <summary>The same contract on the in-memory store.</summary>
public sealed class MemoryStoreContract : StoreContract
{
    private protected override Task<IFileSystemStore> CreateStoreAsync() => Task.FromResult<IFileSystemStore>(new MemoryStore());
}
