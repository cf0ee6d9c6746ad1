using System.Security.Cryptography;

namespace CassaFS.Tests;

public class DataTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;
    private int BlockSize => Fs.BlockSize;

    /// <summary>A pooled buffer that counts how often it is given back.</summary>
    private sealed class CountedBuffer(byte[] bytes) : System.Buffers.IMemoryOwner<byte>
    {
        private readonly byte[] _array = System.Buffers.ArrayPool<byte>.Shared.Rent(bytes.Length);
        private readonly int _length = bytes.Length;
        private int _disposed;

        public int Disposed => Volatile.Read(ref _disposed);

        public Memory<byte> Memory
        {
            get
            {
                bytes.CopyTo(_array, 0);
                return _array.AsMemory(0, _length);
            }
        }

        public void Dispose()
        {
            if (Interlocked.Increment(ref _disposed) == 1) System.Buffers.ArrayPool<byte>.Shared.Return(_array);
        }
    }

    [Fact]
    public async Task Owned_write_buffers_are_given_back_once_whether_a_block_keeps_them_or_they_are_copied()
    {
        var dir = await Fs.ScratchAsync();
        var (handle, file) = await Fs.CreateAsync(dir.Id, "owned", 0x1A4, OpenFlags.WriteOnly, Root);
        var whole = RandomNumberGenerator.GetBytes(BlockSize);
        var partial = RandomNumberGenerator.GetBytes(100);
        var kept = new CountedBuffer(whole);     // exactly block 1: kept as that block, given back once stored
        var copied = new CountedBuffer(partial); // inside block 0: copied into it, given back at once
        Assert.Equal(BlockSize, await Fs.WriteAsync(handle, BlockSize, kept));
        Assert.Equal(100, await Fs.WriteAsync(handle, 10, copied));
        Assert.Equal(1, copied.Disposed);
        await Fs.FlushAsync(handle);
        Assert.Equal(1, kept.Disposed);
        await Fs.ReleaseAsync(handle);

        var expected = new byte[BlockSize * 2];
        partial.CopyTo(expected, 10);
        whole.CopyTo(expected, BlockSize);
        Assert.Equal(expected, await Fs.ReadFileAsync(file.Id));
        // A refused write gives its buffer back too.
        var refused = new CountedBuffer(partial);
        await Assert.ThrowsAsync<FileSystemException>(async () => await Fs.WriteAsync(handle, 0, refused));
        Assert.Equal(1, refused.Disposed);
    }

    [Fact]
    public async Task Data_written_across_many_blocks_reads_back_identically()
    {
        var dir = await Fs.ScratchAsync();
        var data = RandomNumberGenerator.GetBytes((BlockSize * 5) + 1234);
        var file = await Fs.WriteFileAsync(dir.Id, "f", data);
        Assert.Equal(data.Length, file.Size);
        Assert.Equal(data, await Fs.ReadFileAsync(file.Id));
        Assert.Equal(6, file.Blocks);
    }

    [Fact]
    public async Task A_partial_write_inside_a_block_keeps_the_bytes_around_it()
    {
        var dir = await Fs.ScratchAsync();
        var data = RandomNumberGenerator.GetBytes(BlockSize * 2);
        var file = await Fs.WriteFileAsync(dir.Id, "f", data);
        var handle = await Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root);
        await Fs.WriteAsync(handle, BlockSize - 3, "XYZXYZ"u8.ToArray());
        await Fs.ReleaseAsync(handle);
        "XYZXYZ"u8.CopyTo(data.AsSpan(BlockSize - 3));
        Assert.Equal(data, await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_sparse_file_with_bytes_at_0_4GiB_and_5GiB_reads_zeros_between_and_counts_only_stored_blocks()
    {
        var dir = await Fs.ScratchAsync();
        var (h, _) = await Fs.CreateAsync(dir.Id, "sparse", 0x1A4, OpenFlags.ReadWrite, Root);
        const long FourGiB = 4L << 30, FiveGiB = 5L << 30;
        await Fs.WriteAsync(h, 0, "start"u8.ToArray());
        await Fs.WriteAsync(h, FourGiB, "four"u8.ToArray());
        await Fs.WriteAsync(h, FiveGiB, "five"u8.ToArray());
        await Fs.FsyncAsync(h);
        var attr = await Fs.GetAttrAsync(h.Inode);
        Assert.Equal(FiveGiB + 4, attr.Size);
        Assert.Equal(3, attr.Blocks);
        Assert.Equal(3 * (BlockSize / 512), attr.StBlocks(BlockSize));
        var buffer = new byte[16];
        Assert.Equal(16, await Fs.ReadAsync(h, FourGiB - 8, buffer));
        Assert.Equal(new byte[8].Concat("four"u8.ToArray()).Concat(new byte[4]), buffer);
        Assert.Equal(4, await Fs.ReadAsync(h, FiveGiB, buffer));
        Assert.Equal("five"u8.ToArray(), buffer[..4]);
        var hole = new byte[100_000];
        Array.Fill(hole, (byte)1);
        Assert.Equal(hole.Length, await Fs.ReadAsync(h, 3L << 30, hole));
        Assert.All(hole, b => Assert.Equal(0, b));
        await Fs.ReleaseAsync(h);
    }

    [Fact]
    public async Task Truncate_shrinks_and_growing_again_reads_zeros_not_old_bytes()
    {
        var dir = await Fs.ScratchAsync();
        var data = RandomNumberGenerator.GetBytes(BlockSize * 3);
        var file = await Fs.WriteFileAsync(dir.Id, "t", data);
        await Fs.SetAttrAsync(file.Id, new AttributeChanges { Size = BlockSize + 10 }, Root);
        var shrunk = await Fs.GetAttrAsync(file.Id);
        Assert.Equal(BlockSize + 10, shrunk.Size);
        Assert.Equal(2, shrunk.Blocks);
        await Fs.SetAttrAsync(file.Id, new AttributeChanges { Size = BlockSize * 3 }, Root);
        var read = await Fs.ReadFileAsync(file.Id);
        Assert.Equal(data[..(BlockSize + 10)], read[..(BlockSize + 10)]);
        Assert.All(read[(BlockSize + 10)..], b => Assert.Equal(0, b));
        Assert.Equal(2, (await Fs.GetAttrAsync(file.Id)).Blocks);
    }

    [Fact]
    public async Task Writes_and_truncates_beyond_the_maximum_size_fail_with_EFBIG()
    {
        var dir = await Fs.ScratchAsync();
        var (h, _) = await Fs.CreateAsync(dir.Id, "big", 0x1A4, OpenFlags.WriteOnly, Root);
        Assert.Equal(Errno.EFBIG, await ErrnoOf(async () => await Fs.WriteAsync(h, CassaFileSystem.MaxFileSize - 2, new byte[4])));
        Assert.Equal(Errno.EFBIG, await ErrnoOf(() => Fs.SetAttrAsync(h.Inode, new AttributeChanges { Size = CassaFileSystem.MaxFileSize + 1 }, Root)));
        await Fs.ReleaseAsync(h);
    }

    [Fact]
    public async Task Append_mode_writes_at_the_end_whatever_the_offset()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "log", "one\n"u8.ToArray());
        var h = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly | OpenFlags.Append, Root);
        await Fs.WriteAsync(h, 0, "two\n"u8.ToArray());
        await Fs.ReleaseAsync(h);
        Assert.Equal("one\ntwo\n"u8.ToArray(), await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task Open_with_truncate_empties_the_file()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "t", new byte[5000]);
        var h = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly | OpenFlags.Truncate, Root);
        await Fs.ReleaseAsync(h);
        Assert.Equal(0, (await Fs.GetAttrAsync(file.Id)).Size);
        Assert.Equal(0, (await Fs.GetAttrAsync(file.Id)).Blocks);
    }

    [Fact]
    public async Task A_file_unlinked_while_open_stays_readable_until_the_last_close()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "tmp", "still here"u8.ToArray());
        var h = await Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root);
        await Fs.UnlinkAsync(dir.Id, "tmp", Root);
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.LookupAsync(dir.Id, "tmp", Root)));
        var buffer = new byte[10];
        Assert.Equal(10, await Fs.ReadAsync(h, 0, buffer));
        Assert.Equal("still here"u8.ToArray(), buffer);
        await Fs.ReleaseAsync(h);
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.GetAttrAsync(file.Id)));
    }

    [Fact]
    public async Task Reads_see_this_clients_buffered_writes_before_flush()
    {
        var dir = await Fs.ScratchAsync();
        var (w, _) = await Fs.CreateAsync(dir.Id, "f", 0x1A4, OpenFlags.WriteOnly, Root);
        await Fs.WriteAsync(w, 0, "buffered"u8.ToArray());
        var r = await Fs.OpenAsync(w.Inode, OpenFlags.ReadOnly, Root);
        var buffer = new byte[8];
        Assert.Equal(8, await Fs.ReadAsync(r, 0, buffer));
        Assert.Equal("buffered"u8.ToArray(), buffer);
        Assert.Equal(8, (await Fs.GetAttrAsync(w.Inode)).Size);
        await Fs.ReleaseAsync(r);
        await Fs.ReleaseAsync(w);
    }

    [Fact]
    public async Task Writes_need_a_handle_open_for_writing_and_reads_one_open_for_reading()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "f", "x"u8.ToArray());
        var r = await Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root);
        Assert.Equal(Errno.EBADF, await ErrnoOf(async () => await Fs.WriteAsync(r, 0, "y"u8.ToArray())));
        var w = await Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        Assert.Equal(Errno.EBADF, await ErrnoOf(async () => await Fs.ReadAsync(w, 0, new byte[1])));
        Assert.Equal(Errno.EISDIR, await ErrnoOf(() => Fs.OpenAsync(dir.Id, OpenFlags.WriteOnly, Root)));
        await Fs.ReleaseAsync(r);
        await Fs.ReleaseAsync(w);
    }

    [Fact]
    public async Task Writes_from_two_clients_to_one_file_never_lose_each_others_bytes()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "shared", new byte[BlockSize]);
        await using var other = await f.SecondClientAsync();
        // Each client fills alternate 1 KiB stripes of the same block many times over; the block is
        // read-modify-written by both, so without the inode lock one client's stripes would be lost.
        async Task Stripe(CassaFileSystem fs, int parity, byte value)
        {
            for (var round = 0; round < 8; round++)
            {
                var h = await fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
                for (var stripe = parity; stripe < BlockSize / 1024; stripe += 2)
                    await fs.WriteAsync(h, stripe * 1024L, Enumerable.Repeat(value, 1024).ToArray());
                await fs.ReleaseAsync(h);
            }
        }
        await Task.WhenAll(Stripe(Fs, 0, 0xAA), Stripe(other.Fs, 1, 0xBB));
        var result = await Fs.ReadFileAsync(file.Id);
        for (var stripe = 0; stripe < BlockSize / 1024; stripe++)
            Assert.All(result.AsSpan(stripe * 1024, 1024).ToArray(), b => Assert.Equal(stripe % 2 == 0 ? 0xAA : 0xBB, b));
    }

    [Fact]
    public async Task Another_client_sees_the_data_after_the_writer_closes()
    {
        var dir = await Fs.ScratchAsync();
        await using var other = await f.SecondClientAsync();
        var data = RandomNumberGenerator.GetBytes(BlockSize + 77);
        var file = await Fs.WriteFileAsync(dir.Id, "seen", data);
        var seen = await other.Fs.LookupAsync(dir.Id, "seen", Root);
        Assert.Equal(data.Length, seen.Size);
        Assert.Equal(data, await other.Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_reader_with_the_file_open_sees_what_another_client_appends_and_rewrites_as_tail_f_needs()
    {
        var dir = await Fs.ScratchAsync();
        await using var other = await f.SecondClientAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "log", "one\n"u8.ToArray());
        var reader = await Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root);
        var buffer = new byte[64];
        Assert.Equal("one\n", System.Text.Encoding.ASCII.GetString(buffer, 0, await Fs.ReadAsync(reader, 0, buffer)));
        // The same block grows in another client: the reader's cached copy of it is stale.
        var writer = await other.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly | OpenFlags.Append, Root);
        await other.Fs.WriteAsync(writer, 0, "two\n"u8.ToArray());
        await other.Fs.FlushAsync(writer);
        Assert.Equal("one\ntwo\n", System.Text.Encoding.ASCII.GetString(buffer, 0, await Fs.ReadAsync(reader, 0, buffer)));
        // A rewrite in place that keeps the size is seen too (mtime moved).
        await other.Fs.ReleaseAsync(writer);
        await Task.Delay(5);
        var h2 = await other.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await other.Fs.WriteAsync(h2, 0, "ONE\n"u8.ToArray());
        await other.Fs.ReleaseAsync(h2);
        Assert.Equal("ONE\ntwo\n", System.Text.Encoding.ASCII.GetString(buffer, 0, await Fs.ReadAsync(reader, 0, buffer)));
        await Fs.ReleaseAsync(reader);
    }
}

public class AtimeTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    [Fact]
    public async Task Reading_a_file_written_since_its_last_read_moves_atime_as_relatime_does()
    {
        var fs = f.Fs;
        var dir = await fs.ScratchAsync();
        var file = await fs.WriteFileAsync(dir.Id, "f", "data"u8.ToArray());
        var old = Timespec.FromParts(1_000, 0);
        await fs.SetAttrAsync(file.Id, new AttributeChanges { Atime = TimeChange.To(old) }, Root);
        await fs.ReadFileAsync(file.Id);
        var read = await fs.GetAttrAsync(file.Id);
        Assert.True(read.Atime > read.Mtime);
        await fs.ReadFileAsync(file.Id); // atime already newer than mtime and less than a day old: unchanged
        Assert.Equal(read.Atime, (await fs.GetAttrAsync(file.Id)).Atime);
    }
}

public class OpenWriterTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    [Fact]
    public async Task Chmod_of_a_file_this_client_is_writing_does_not_wait_for_the_writer_to_go_idle()
    {
        var fs = f.Fs;
        var dir = await fs.ScratchAsync();
        var (h, _) = await fs.CreateAsync(dir.Id, "busy", 0x1A4, OpenFlags.WriteOnly, Root);
        await fs.WriteAsync(h, 0, "buffered"u8.ToArray());
        // The writer's inode lock is held for the burst; a chmod from the same client makes it yield at once
        // (ZooKeeper locks with a 30 s timeout: waiting for the writer would show as a stall, not a failure).
        var chmod = fs.SetAttrAsync(h.Inode, new AttributeChanges { Mode = 0x180 }, Root);
        var finished = await Task.WhenAny(chmod, Task.Delay(TimeSpan.FromSeconds(20))) == chmod;
        Assert.True(finished);
        Assert.Equal(0x180, (await chmod).Mode);
        await fs.WriteAsync(h, 8, "more"u8.ToArray());
        await fs.ReleaseAsync(h);
        Assert.Equal("bufferedmore"u8.ToArray(), await fs.ReadFileAsync(h.Inode));
        Assert.Equal(0x180, (await fs.GetAttrAsync(h.Inode)).Mode);
    }

    [Fact]
    public async Task POSIX_ACL_attributes_are_refused_with_EOPNOTSUPP_so_tools_fall_back_to_chmod()
    {
        var fs = f.Fs;
        var dir = await fs.ScratchAsync();
        Assert.Equal(Errno.EOPNOTSUPP, await ErrnoOf(() => fs.SetXAttrAsync(dir.Id, "system.posix_acl_access", new byte[] { 2, 0, 0, 0 }, XAttrFlags.Either, Root)));
        Assert.Equal(Errno.EOPNOTSUPP, await ErrnoOf(() => fs.GetXAttrAsync(dir.Id, "system.posix_acl_default", Root)));
    }
}

public class ReadCacheTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    [Fact]
    public async Task Parallel_readers_see_every_byte_and_a_read_after_this_clients_write_never_sees_older_data()
    {
        var fs = f.Fs;
        var dir = await fs.ScratchAsync();
        var first = System.Security.Cryptography.RandomNumberGenerator.GetBytes(fs.BlockSize * 6);
        var file = await fs.WriteFileAsync(dir.Id, "f", first);
        var reader = await fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root);

        // Sixteen overlapping readers at once, as the kernel's read-ahead sends them: each sees its own bytes.
        var chunk = fs.BlockSize / 2;
        var reads = Enumerable.Range(0, 12).Select(async i =>
        {
            var buffer = new byte[chunk];
            Assert.Equal(chunk, await fs.ReadAsync(reader, (long)i * chunk, buffer));
            Assert.Equal(first.AsSpan(i * chunk, chunk).ToArray(), buffer);
        });
        await Task.WhenAll(reads);

        // The blocks are now cached (with read-ahead); this client overwrites them through another handle.
        var second = System.Security.Cryptography.RandomNumberGenerator.GetBytes(first.Length);
        var writer = await fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await fs.WriteAsync(writer, 0, second);
        var whileBuffered = new byte[100];
        await fs.ReadAsync(reader, fs.BlockSize * 3, whileBuffered);
        Assert.Equal(second.AsSpan(fs.BlockSize * 3, 100).ToArray(), whileBuffered);
        await fs.ReleaseAsync(writer);

        var after = new byte[first.Length];
        for (var done = 0; done < after.Length;) done += await fs.ReadAsync(reader, done, after.AsMemory(done));
        Assert.Equal(second, after);
        await fs.ReleaseAsync(reader);
    }

    [Fact]
    public async Task Read_ahead_starts_at_the_first_read_and_survives_requests_served_out_of_order()
    {
        var fs = f.Fs;
        var dir = await fs.ScratchAsync();
        var bs = fs.BlockSize;
        var data = System.Security.Cryptography.RandomNumberGenerator.GetBytes(bs * 12);
        var file = await fs.WriteFileAsync(dir.Id, "f", data);
        var reader = await fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root);
        var cache = reader.File.ReadCache;
        var buffer = new byte[bs];

        await fs.ReadAsync(reader, 0, buffer);
        Assert.True(cache.ContainsKey(4), "a read from the start reads the next 4 blocks ahead");
        var fetchOf3 = cache[3].Fetch;

        // The kernel sends its read-ahead requests in parallel: block 2 may be served before block 1.
        await fs.ReadAsync(reader, 2L * bs, buffer);
        await fs.ReadAsync(reader, bs, buffer);
        Assert.Equal(data.AsSpan(bs, bs).ToArray(), buffer);
        Assert.Same(fetchOf3, cache[3].Fetch);
        Assert.True(cache.ContainsKey(6), "the window follows the furthest block read");
        await fs.ReleaseAsync(reader);
    }
}
