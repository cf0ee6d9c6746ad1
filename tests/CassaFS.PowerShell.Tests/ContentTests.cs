using System.Diagnostics;
using System.Text;
using CassaFS.Locks;

namespace CassaFS.PowerShell.Tests;

[Collection("drive")]
public sealed class ContentTests(DriveFixture fixture)
{
    private async Task SetAsync(string path, IEnumerable<object> items, ContentWriteOptions? options = null, CassaDriveSession? drive = null)
    {
        await using var writer = await ContentWriter.OpenAsync(drive ?? fixture.Drive, path, options);
        await writer.WriteAsync(items.ToList());
    }

    private async Task<List<IReadOnlyList<object>>> BlocksAsync(string path, ContentReadOptions? options = null, CassaDriveSession? drive = null)
    {
        var blocks = new List<IReadOnlyList<object>>();
        await using var reader = await ContentReader.OpenAsync(drive ?? fixture.Drive, path, options);
        await foreach (var b in reader.ReadAllAsync()) blocks.Add(b);
        return blocks;
    }

    private async Task<byte[]> BytesAsync(string path)
    {
        var blocks = await BlocksAsync(path, new ContentReadOptions { AsByteStream = true, Raw = true });
        return blocks.Count == 0 ? [] : (byte[])blocks[0][0];
    }

    [Fact]
    public async Task Set_content_writes_lines_and_get_content_reads_them_back_one_per_block()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f.txt", ["one", "two", "three"]);
        Assert.Equal("one\ntwo\nthree\n", Encoding.UTF8.GetString(await BytesAsync($"{dir}/f.txt")));
        var blocks = await BlocksAsync($"{dir}/f.txt");
        Assert.Equal([["one"], ["two"], ["three"]], blocks.Select(b => b.Cast<string>().ToArray()).ToArray());
    }

    [Fact]
    public async Task Set_content_replaces_what_was_there_and_add_content_appends()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["a long first line", "and more"]);
        await SetAsync($"{dir}/f", ["short"]);
        await SetAsync($"{dir}/f", ["added"], new ContentWriteOptions { Append = true });
        Assert.Equal("short\nadded\n", Encoding.UTF8.GetString(await BytesAsync($"{dir}/f")));
        await using (var writer = await ContentWriter.OpenAsync(fixture.Drive, $"{dir}/f"))
        {
            Assert.Equal(12, await writer.SeekToEndAsync());
            await writer.WriteAsync(new[] { "sought" });
        }
        Assert.Equal("short\nadded\nsought\n", Encoding.UTF8.GetString(await BytesAsync($"{dir}/f")));
    }

    [Fact]
    public async Task Raw_reads_everything_as_one_string_and_no_newline_joins_items()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["a", "b", "c"], new ContentWriteOptions { NoNewline = true });
        var raw = await BlocksAsync($"{dir}/f", new ContentReadOptions { Raw = true });
        Assert.Equal("abc", Assert.Single(Assert.Single(raw)));
    }

    [Fact]
    public async Task Read_count_groups_lines_and_total_count_stops_early()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", Enumerable.Range(1, 10).Select(i => (object)$"line {i}"));
        var grouped = await BlocksAsync($"{dir}/f", new ContentReadOptions { ReadCount = 4 });
        Assert.Equal([4, 4, 2], grouped.Select(b => b.Count).ToArray());
        var all = await BlocksAsync($"{dir}/f", new ContentReadOptions { ReadCount = 0 });
        Assert.Equal(10, Assert.Single(all).Count);
        var first = await BlocksAsync($"{dir}/f", new ContentReadOptions { ReadCount = 2, TotalCount = 3 });
        Assert.Equal(["line 1", "line 2", "line 3"], first.SelectMany(b => b).Cast<string>().ToArray());
    }

    [Fact]
    public async Task The_provider_s_reads_take_as_many_items_as_PowerShell_asks_for()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", Enumerable.Range(1, 5).Select(i => (object)$"l{i}"));
        await using var reader = await ContentReader.OpenAsync(fixture.Drive, $"{dir}/f");
        Assert.Equal(["l1"], await reader.ReadBlockAsync(1));
        Assert.Equal(["l2", "l3"], await reader.ReadBlockAsync(2));
        Assert.Equal(["l4", "l5"], await reader.ReadBlockAsync(0));
        Assert.Empty(await reader.ReadBlockAsync(1));
    }

    [Fact]
    public async Task Encodings_write_their_bytes_and_a_byte_order_mark_is_recognised_on_read()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/u16", ["größe ✓"], new ContentWriteOptions { Encoding = TextEncodings.Parse("unicode") });
        var bytes = await BytesAsync($"{dir}/u16");
        Assert.Equal(new byte[] { 0xFF, 0xFE }, bytes[..2]);
        Assert.Equal(2 + (8 * 2), bytes.Length);
        Assert.Equal(["größe ✓"], (await BlocksAsync($"{dir}/u16")).SelectMany(b => b).Cast<string>().ToArray());
        await SetAsync($"{dir}/latin", ["é"], new ContentWriteOptions { Encoding = TextEncodings.Parse("latin1"), NoNewline = true });
        Assert.Equal(new byte[] { 0xE9 }, await BytesAsync($"{dir}/latin"));
        Assert.Equal("é", (await BlocksAsync($"{dir}/latin", new ContentReadOptions { Encoding = TextEncodings.Parse("latin1") }))[0][0]);
    }

    [Fact]
    public async Task As_byte_stream_writes_and_reads_bytes()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/bin", [(byte)0, (byte)255, new byte[] { 1, 2, 3 }], new ContentWriteOptions { AsByteStream = true });
        var blocks = await BlocksAsync($"{dir}/bin", new ContentReadOptions { AsByteStream = true, ReadCount = 2 });
        Assert.Equal(new object[] { (byte)0, (byte)255, (byte)1, (byte)2, (byte)3 }, blocks.SelectMany(b => b).ToArray());
        Assert.Equal([2, 2, 1], blocks.Select(b => b.Count).ToArray());
        var limited = await BlocksAsync($"{dir}/bin", new ContentReadOptions { AsByteStream = true, ReadCount = 0, TotalCount = 2 });
        Assert.Equal(2, Assert.Single(limited).Count);
    }

    [Fact]
    public async Task Clear_content_empties_a_file_and_content_of_a_directory_is_an_error()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["x"]);
        await ContentWriter.ClearAsync(fixture.Drive, $"{dir}/f");
        Assert.Empty(await BytesAsync($"{dir}/f"));
        var e = await Assert.ThrowsAsync<FileSystemException>(() => ContentReader.OpenAsync(fixture.Drive, dir));
        Assert.Equal(Errno.EISDIR, e.Errno);
        var missing = await Assert.ThrowsAsync<FileSystemException>(() => ContentReader.OpenAsync(fixture.Drive, $"{dir}/none"));
        Assert.Equal("ObjectNotFound", Failure.Of(missing).Category);
    }

    [Fact]
    public async Task A_writer_waits_for_another_sessions_lock_and_times_out_naming_the_holder()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["original"]);
        await using var held = await new LockCommands(fixture.Other).LockAsync($"{dir}/f", LockMode.Write, purpose: "nightly report");
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<ItemLockedException>(() =>
            SetAsync($"{dir}/f", ["mine"], new ContentWriteOptions { LockTimeout = TimeSpan.FromSeconds(1) }));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9));
        Assert.Contains("nightly report", e.Message, StringComparison.Ordinal);
        Assert.Contains("Remove-CassaLock", e.Message, StringComparison.Ordinal);
        Assert.Equal("ResourceBusy", Failure.Of(e).Category);
        await held.DisposeAsync();
        Assert.Equal("original\n", Encoding.UTF8.GetString(await BytesAsync($"{dir}/f")));
    }

    [Fact]
    public async Task A_reader_that_asks_for_the_lock_waits_for_a_writer_and_reads_only_the_finished_content()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["before"]);
        var writer = await ContentWriter.OpenAsync(fixture.Other, $"{dir}/f");
        await writer.WriteAsync(new[] { "after" });
        var read = BlocksAsync($"{dir}/f", new ContentReadOptions { Raw = true, LockTimeout = TimeSpan.FromSeconds(10) });
        await Task.Delay(500);
        Assert.False(read.IsCompleted);
        await writer.DisposeAsync();
        Assert.Equal("after\n", (await read)[0][0]);
    }

    [Fact]
    public async Task Readers_that_lock_share_the_lock_and_a_writer_proceeds_once_they_are_done()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["shared"]);
        await using var reader = await ContentReader.OpenAsync(fixture.Other, $"{dir}/f", new ContentReadOptions { LockTimeout = TimeSpan.FromSeconds(10) });
        Assert.Equal("shared", Assert.Single((await BlocksAsync($"{dir}/f", new ContentReadOptions { LockTimeout = TimeSpan.FromSeconds(2) }))[0]));
        var write = SetAsync($"{dir}/f", ["replaced"], new ContentWriteOptions { LockTimeout = TimeSpan.FromSeconds(10) });
        await Task.Delay(300);
        Assert.False(write.IsCompleted);
        await reader.DisposeAsync();
        await write;
        Assert.Equal("replaced\n", Encoding.UTF8.GetString(await BytesAsync($"{dir}/f")));
    }

    [Fact]
    public async Task A_reader_that_does_not_ask_for_the_lock_never_waits_for_a_writer()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["before"]);
        await using var writer = await ContentWriter.OpenAsync(fixture.Other, $"{dir}/f");
        var read = BlocksAsync($"{dir}/f", new ContentReadOptions { Raw = true });
        Assert.Same(read, await Task.WhenAny(read, Task.Delay(5000)));
        Assert.Equal("before\n", (await read)[0][0]);
    }

    [Fact]
    public async Task Two_sessions_writing_at_once_never_interleave()
    {
        var dir = await fixture.NewDirectoryAsync();
        var linesA = Enumerable.Range(0, 300).Select(i => (object)$"A{i:D4}").ToList();
        var linesB = Enumerable.Range(0, 300).Select(i => (object)$"B{i:D4}").ToList();
        async Task WriteSlowlyAsync(CassaDriveSession drive, List<object> lines)
        {
            await using var writer = await ContentWriter.OpenAsync(drive, $"{dir}/shared", new ContentWriteOptions { Append = true });
            foreach (var chunk in lines.Chunk(50))
            {
                await writer.WriteAsync(chunk);
                await Task.Yield();
            }
        }
        await Task.WhenAll(WriteSlowlyAsync(fixture.Drive, linesA), WriteSlowlyAsync(fixture.Other, linesB));
        var text = Encoding.UTF8.GetString(await BytesAsync($"{dir}/shared"));
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(600, lines.Length);
        var firstWriter = lines[0][0];
        Assert.All(lines.Take(300), l => Assert.Equal(firstWriter, l[0]));
        Assert.All(lines.Skip(300), l => Assert.NotEqual(firstWriter, l[0]));
    }

    [Fact]
    public async Task A_session_that_locked_a_file_itself_can_still_write_it()
    {
        var dir = await fixture.NewDirectoryAsync();
        await SetAsync($"{dir}/f", ["x"]);
        var locks = new LockCommands(fixture.Drive);
        var handle = await locks.LockAsync($"{dir}/f", LockMode.Write);
        await SetAsync($"{dir}/f", ["while locked"], new ContentWriteOptions { LockTimeout = TimeSpan.FromSeconds(1) });
        Assert.Equal(LockState.Held, handle.State);
        await LockCommands.UnlockAsync(handle);
        Assert.Equal("while locked\n", Encoding.UTF8.GetString(await BytesAsync($"{dir}/f")));
    }
}
