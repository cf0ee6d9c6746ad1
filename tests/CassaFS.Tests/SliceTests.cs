using CassaFS.Locks;
using CassaFS.Tests.Storage;

namespace CassaFS.Tests;

/// <summary>
/// Small writes into stored blocks go as slices (issue 15): they must read back exactly, from the writer and from
/// another client, through compaction, truncation and removal.
/// </summary>
public class SliceTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;
    private int BlockSize => Fs.BlockSize;

    /// <summary>Random small writes over <paramref name="span"/> bytes, applied to the file and to <paramref name="model"/> alike.</summary>
    private static async Task WriteRandomlyAsync(CassaFileSystem fs, FileHandle handle, byte[] model, int span, int count, Random random)
    {
        for (var i = 0; i < count; i++)
        {
            var length = random.Next(1, 6000);
            await WriteRandomBytesAsync(fs, handle, model, random.Next(0, span - length), length, random);
        }
    }

    /// <summary>Writes <paramref name="length"/> random bytes at <paramref name="offset"/>, to the file and to <paramref name="model"/>.</summary>
    private static async Task WriteRandomBytesAsync(CassaFileSystem fs, FileHandle handle, byte[] model, long offset, int length, Random random)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        await fs.WriteAsync(handle, offset, bytes);
        bytes.CopyTo(model, offset);
    }

    /// <summary>The threshold the compaction tests' writer uses, low so a few writes reach it.</summary>
    private const int CompactAfter = 4;

    /// <summary>A stored file of <paramref name="blocks"/> random blocks, and a client that writes it and compacts after <see cref="CompactAfter"/> slices.</summary>
    private async Task<(Inode File, byte[] Model, FileSystemFixture.Client Writer)> CompactionSubjectAsync(string name, int blocks)
    {
        var dir = await Fs.ScratchAsync();
        var model = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BlockSize * blocks);
        var file = await Fs.WriteFileAsync(dir.Id, name, model);
        return (file, model, await f.SecondClientAsync(options: o => o with { CompactAfterSlices = CompactAfter }));
    }

    /// <summary>Live (not deleted) slice rows of one block.</summary>
    private async Task<int> SlicesStoredAsync(Guid inode, long index) =>
        (await f.Session.ExecuteAsync($"SELECT stamp FROM {f.Keyspace}.slices WHERE inode = ? AND idx = ?", inode, index)).Count;

    [Fact]
    public async Task Random_small_writes_over_many_blocks_read_back_exactly_from_the_writer_and_after_fsync_from_another_client()
    {
        var dir = await Fs.ScratchAsync();
        var span = BlockSize * 40; // beyond the 16 blocks the buffer keeps: blocks leave it and come back
        var model = new byte[span];
        var random = new Random(15);
        var (handle, file) = await Fs.CreateAsync(dir.Id, "random", 0x1A4, OpenFlags.ReadWrite, Root);
        await Fs.WriteAsync(handle, span - 1, new byte[1]); // the size, so every block lies inside the file
        await WriteRandomlyAsync(Fs, handle, model, span, 600, random); // a new file: nothing committed yet
        Assert.Equal(model, await Fs.ReadAllAsync(handle, span));
        await Fs.FsyncAsync(handle);
        await using var other = await f.SecondClientAsync();
        Assert.Equal(model, await other.Fs.ReadFileAsync(file.Id));

        await WriteRandomlyAsync(Fs, handle, model, span, 600, random); // over committed data: slices
        Assert.Equal(model, await Fs.ReadAllAsync(handle, span));
        await Fs.FsyncAsync(handle);
        Assert.Equal(model, await other.Fs.ReadFileAsync(file.Id));
        await Fs.ReleaseAsync(handle);
        Assert.Equal(model, await other.Fs.ReadFileAsync(file.Id));
        Assert.True((await Fsck.RunAsync(Fs, new FsckOptions())).Clean);
    }

    [Fact]
    public async Task A_small_write_into_a_stored_block_reads_no_block_and_costs_a_slice()
    {
        var store = await MemoryStore.FormattedAsync();
        // Compaction reads the blocks it folds (by design): kept out of this count.
        var options = new FileSystemOptions { Keyspace = "memory", Locks = new LocalLockProvider(), CompactAfterSlices = int.MaxValue };
        await using var fs = CassaFileSystem.Open(store, options, 64 * 1024);
        var dir = await fs.ScratchAsync();
        var model = System.Security.Cryptography.RandomNumberGenerator.GetBytes(fs.BlockSize * 40);
        var file = await fs.WriteFileAsync(dir.Id, "stored", model);

        var handle = await fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        var readsBefore = store.BlockReads;
        await WriteRandomlyAsync(fs, handle, model, model.Length, 300, new Random(4096));
        await fs.FsyncAsync(handle);
        Assert.Equal(readsBefore, store.BlockReads);
        await fs.ReleaseAsync(handle);
        Assert.Equal(model, await fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task Scattered_small_writes_into_a_stored_block_are_stored_as_one_slice_row_until_it_holds_its_most_ranges()
    {
        var dir = await Fs.ScratchAsync();
        var model = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BlockSize * 2);
        var file = await Fs.WriteFileAsync(dir.Id, "scattered", model);
        var handle = await Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root);
        var random = new Random(19);
        var slot = BlockSize / 256;
        // Writes apart from each other (a slot between any two), in no order, into block 1.
        async Task WriteApartAsync(IEnumerable<int> slots)
        {
            foreach (var k in slots.OrderBy(_ => random.Next()))
                await WriteRandomBytesAsync(Fs, handle, model, BlockSize + (k * 2 * slot) + random.Next(0, slot / 2), random.Next(1, slot / 2), random);
        }

        await WriteApartAsync(Enumerable.Range(0, 40));
        Assert.Equal(model, await Fs.ReadAllAsync(handle, model.Length)); // the buffered ranges over the stored block
        await Fs.FsyncAsync(handle);
        Assert.Equal(1, await SlicesStoredAsync(file.Id, 1));
        await using var other = await f.SecondClientAsync();

        await WriteApartAsync(Enumerable.Range(0, DirtyBlock.MaxRanges + 30)); // more than one row holds: two rows
        await Fs.FsyncAsync(handle);
        Assert.Equal(3, await SlicesStoredAsync(file.Id, 1));
        Assert.Equal(model, await Fs.ReadAllAsync(handle, model.Length));
        await Fs.ReleaseAsync(handle);
        Assert.Equal(model, await other.Fs.ReadFileAsync(file.Id));
        Assert.True((await Fsck.RunAsync(Fs, new FsckOptions())).Clean);
    }

    [Fact]
    public async Task Small_writes_into_stored_blocks_stay_buffered_up_to_the_slice_byte_limit_and_are_stored_when_they_pass_it()
    {
        var dir = await Fs.ScratchAsync();
        var model = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BlockSize * 8);
        var file = await Fs.WriteFileAsync(dir.Id, "limit", model);
        await using var writer = await f.SecondClientAsync(options: o => o with { WriteBackSliceBytes = 10_000 });
        var handle = await writer.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        var random = new Random(20);
        for (var index = 0; index < 8; index++) // 8 blocks of 1,000 bytes: under the limit, nothing stored yet
            await WriteRandomBytesAsync(writer.Fs, handle, model, (index * BlockSize) + 100, 1000, random);
        Assert.Equal(0, await SlicesStoredAsync(file.Id, 0));
        await WriteRandomBytesAsync(writer.Fs, handle, model, 5000, 2500, random); // past it: every partial block goes
        // Stored in the background, with no flush asked for: they land within moments.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        int[] stored;
        while ((stored = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => SlicesStoredAsync(file.Id, i)))).Any(n => n != 1) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(Enumerable.Repeat(1, 8), stored);
        await writer.Fs.ReleaseAsync(handle);
        Assert.Equal(model, await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_damaged_packed_slice_row_reads_as_EIO_that_says_what_to_do()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "damaged", new byte[100]);
        // A layout that claims more bytes than the row holds, as a torn or foreign write would leave.
        await f.Session.ExecuteAsync($"INSERT INTO {f.Keyspace}.slices (inode, idx, stamp, pos, data, ranges) VALUES (?, 0, ?, 0, 0xffff, 0x0000000000000010)",
            file.Id, long.MaxValue / 2);
        await using var other = await f.SecondClientAsync();
        var error = await Assert.ThrowsAsync<FileSystemException>(() => other.Fs.ReadFileAsync(file.Id));
        Assert.Equal(Errno.EIO, error.Errno);
        Assert.Contains("restore the file from a copy", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Many_small_writes_into_one_block_over_many_holdings_are_compacted_and_read_back_right()
    {
        var (file, model, writer) = await CompactionSubjectAsync("compacted", 3);
        await using var _ = writer;
        await using var reader = await f.SecondClientAsync();
        var random = new Random(16);
        var slot = BlockSize / 20;
        for (var holding = 0; holding < 12; holding++)
        {
            var handle = await writer.Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root);
            for (var k = 0; k < 10; k++)
            {
                // Each write lies apart from the one before (another slot of block 1), over those of other holdings.
                var offset = BlockSize + (((holding * 7) + (k * 3)) % 20 * slot) + random.Next(0, 100);
                await WriteRandomBytesAsync(writer.Fs, handle, model, offset, random.Next(1, 500), random);
            }
            Assert.Equal(model, await writer.Fs.ReadAllAsync(handle, model.Length));
            await writer.Fs.ReleaseAsync(handle);
            Assert.Equal(model, await reader.Fs.ReadFileAsync(file.Id));
        }
        // 120 slices were stored into block 1; compaction folded all but the last few into its row.
        Assert.InRange(await SlicesStoredAsync(file.Id, 1), 0, CompactAfter);
        Assert.Equal(model, await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task Slices_left_by_many_short_holdings_of_one_small_write_each_are_compacted_too()
    {
        var (file, model, writer) = await CompactionSubjectAsync("short-holdings", 2);
        await using var _ = writer;
        var random = new Random(17);
        for (var holding = 0; holding < 20; holding++)
        {
            var handle = await writer.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
            var length = random.Next(1, 300);
            await WriteRandomBytesAsync(writer.Fs, handle, model, random.Next(1, BlockSize - length), length, random);
            await writer.Fs.ReleaseAsync(handle); // one slice per holding, stored at this flush
        }
        Assert.InRange(await SlicesStoredAsync(file.Id, 0), 0, CompactAfter);
        Assert.Equal(model, await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_block_whose_slices_add_up_to_a_block_of_bytes_is_compacted_before_it_has_many()
    {
        var dir = await Fs.ScratchAsync();
        var model = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BlockSize * 2);
        var file = await Fs.WriteFileAsync(dir.Id, "big-slices", model);
        var handle = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        var random = new Random(18);
        var length = (BlockSize / 5) + 1; // eight slices of a fifth of a block: well under CompactAfterSlices
        for (var k = 0; k < 8; k++)
            await WriteRandomBytesAsync(Fs, handle, model, BlockSize + (k % 4 * (BlockSize / 4)) + (k / 4 * 50), length, random);
        await Fs.ReleaseAsync(handle);
        Assert.InRange(await SlicesStoredAsync(file.Id, 1), 0, 4);
        Assert.Equal(model, await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_truncate_to_mid_block_then_an_extension_reads_zeros_where_slices_were()
    {
        var dir = await Fs.ScratchAsync();
        foreach (var storedFirst in new[] { true, false })
        {
            var original = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BlockSize * 2);
            var file = await Fs.WriteFileAsync(dir.Id, $"cut-{storedFirst}", original);
            var handle = await Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root);
            var slice = Enumerable.Repeat((byte)'S', 4000).ToArray();
            await Fs.WriteAsync(handle, BlockSize + 1000, slice); // a slice over the cut
            if (storedFirst) await Fs.FsyncAsync(handle);
            await Fs.SetAttrAsync(file.Id, new AttributeChanges { Size = BlockSize + 2000 }, Root, handle);
            await Fs.SetAttrAsync(file.Id, new AttributeChanges { Size = BlockSize * 2 }, Root, handle);

            var expected = new byte[BlockSize * 2];
            original.AsSpan(0, BlockSize + 1000).CopyTo(expected);
            slice.AsSpan(0, 1000).CopyTo(expected.AsSpan(BlockSize + 1000));
            Assert.Equal(expected, await Fs.ReadAllAsync(handle, expected.Length));
            await Fs.ReleaseAsync(handle);
            await using var other = await f.SecondClientAsync();
            Assert.Equal(expected, await other.Fs.ReadFileAsync(file.Id));
        }
    }

    [Fact]
    public async Task Removing_a_file_deletes_its_slices_and_fsck_cleans_those_of_a_deleted_inode()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "removed", new byte[BlockSize * 2]);
        var handle = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await Fs.WriteAsync(handle, 10, "slice"u8.ToArray());
        await Fs.ReleaseAsync(handle);
        Assert.Equal(1, await SlicesStoredAsync(file.Id, 0));
        await Fs.UnlinkAsync(dir.Id, "removed", Root);
        await Fs.RemovalsSettledAsync(); // the purge of what lost its last name runs behind the removal
        Assert.Equal(0, await SlicesStoredAsync(file.Id, 0));

        // What a purge interrupted before its deletes leaves: an index and a slice of an inode that is gone.
        var deleted = Guid.NewGuid();
        await f.Session.ExecuteAsync($"INSERT INTO {f.Keyspace}.block_index (inode, idx) VALUES (?, 0)", deleted);
        await f.Session.ExecuteAsync($"INSERT INTO {f.Keyspace}.slices (inode, idx, stamp, pos, data) VALUES (?, 0, 1, 0, 0xff)", deleted);
        var repaired = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero, Repair = true });
        Assert.Contains(repaired.Problems, p => p.Kind == "orphan-blocks");
        Assert.Equal(0, await SlicesStoredAsync(deleted, 0));
        Assert.True((await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero })).Clean);
    }
}
