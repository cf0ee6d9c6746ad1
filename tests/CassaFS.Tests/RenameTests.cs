namespace CassaFS.Tests;

public class RenameTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    [Fact]
    public async Task Rename_within_a_directory_moves_the_name_and_keeps_the_inode()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "old", "data"u8.ToArray());
        await Fs.RenameAsync(dir.Id, "old", dir.Id, "new", RenameFlags.None, Root);
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.LookupAsync(dir.Id, "old", Root)));
        Assert.Equal(file.Id, (await Fs.LookupAsync(dir.Id, "new", Root)).Id);
    }

    [Fact]
    public async Task Rename_over_an_existing_file_replaces_it_and_frees_the_replaced_inode()
    {
        var dir = await Fs.ScratchAsync();
        var a = await Fs.WriteFileAsync(dir.Id, "a", "A"u8.ToArray());
        var b = await Fs.WriteFileAsync(dir.Id, "b", "B"u8.ToArray());
        await Fs.RenameAsync(dir.Id, "a", dir.Id, "b", RenameFlags.None, Root);
        await Fs.RemovalsSettledAsync(); // the purge of what lost its last name runs behind the removal
        Assert.Equal(a.Id, (await Fs.LookupAsync(dir.Id, "b", Root)).Id);
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.GetAttrAsync(b.Id)));
        Assert.Equal(new[] { "b" }, await Fs.NamesAsync(dir.Id));
    }

    [Fact]
    public async Task Rename_with_NOREPLACE_over_an_existing_name_fails_with_EEXIST()
    {
        var dir = await Fs.ScratchAsync();
        await Fs.WriteFileAsync(dir.Id, "a", "A"u8.ToArray());
        await Fs.WriteFileAsync(dir.Id, "b", "B"u8.ToArray());
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => Fs.RenameAsync(dir.Id, "a", dir.Id, "b", RenameFlags.NoReplace, Root)));
        await Fs.RenameAsync(dir.Id, "a", dir.Id, "c", RenameFlags.NoReplace, Root);
        Assert.Equal(new[] { "b", "c" }, await Fs.NamesAsync(dir.Id));
    }

    [Fact]
    public async Task Rename_with_EXCHANGE_swaps_a_file_and_a_directory_across_directories()
    {
        var x = await Fs.ScratchAsync();
        var y = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(x.Id, "f", "F"u8.ToArray());
        var sub = await Fs.MkdirAsync(y.Id, "d", 0x1ED, Root);
        await Fs.RenameAsync(x.Id, "f", y.Id, "d", RenameFlags.Exchange, Root);
        Assert.Equal(sub.Id, (await Fs.LookupAsync(x.Id, "f", Root)).Id);
        Assert.Equal(file.Id, (await Fs.LookupAsync(y.Id, "d", Root)).Id);
        Assert.Equal(x.Id, (await Fs.GetAttrAsync(sub.Id)).Parent);
        Assert.Equal(3, (await Fs.GetAttrAsync(x.Id)).Nlink);
        Assert.Equal(2, (await Fs.GetAttrAsync(y.Id)).Nlink);
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.RenameAsync(x.Id, "f", y.Id, "absent", RenameFlags.Exchange, Root)));
    }

    [Fact]
    public async Task Moving_a_directory_to_another_parent_updates_its_parent_and_both_link_counts()
    {
        var x = await Fs.ScratchAsync();
        var y = await Fs.ScratchAsync();
        var d = await Fs.MkdirAsync(x.Id, "d", 0x1ED, Root);
        await Fs.RenameAsync(x.Id, "d", y.Id, "moved", RenameFlags.None, Root);
        Assert.Equal(y.Id, (await Fs.GetAttrAsync(d.Id)).Parent);
        Assert.Equal(2, (await Fs.GetAttrAsync(x.Id)).Nlink);
        Assert.Equal(3, (await Fs.GetAttrAsync(y.Id)).Nlink);
        Assert.Equal(y.Id, (await Fs.LookupAsync(d.Id, "..", Root)).Id);
    }

    [Fact]
    public async Task Moving_a_directory_into_its_own_subtree_fails_with_EINVAL()
    {
        var top = await Fs.ScratchAsync();
        var a = await Fs.MkdirAsync(top.Id, "a", 0x1ED, Root);
        var b = await Fs.MkdirAsync(a.Id, "b", 0x1ED, Root);
        Assert.Equal(Errno.EINVAL, await ErrnoOf(() => Fs.RenameAsync(top.Id, "a", b.Id, "loop", RenameFlags.None, Root)));
        Assert.Equal(Errno.EINVAL, await ErrnoOf(() => Fs.RenameAsync(top.Id, "a", a.Id, "self", RenameFlags.None, Root)));
    }

    [Fact]
    public async Task Rename_refuses_mismatched_types_and_nonempty_directories()
    {
        var dir = await Fs.ScratchAsync();
        await Fs.WriteFileAsync(dir.Id, "file", "x"u8.ToArray());
        await Fs.MkdirAsync(dir.Id, "empty", 0x1ED, Root);
        var full = await Fs.MkdirAsync(dir.Id, "full", 0x1ED, Root);
        await Fs.MknodAsync(full.Id, "inside", FileType.Regular, 0x1A4, 0, Root);
        await Fs.MkdirAsync(dir.Id, "other", 0x1ED, Root);
        Assert.Equal(Errno.ENOTDIR, await ErrnoOf(() => Fs.RenameAsync(dir.Id, "empty", dir.Id, "file", RenameFlags.None, Root)));
        Assert.Equal(Errno.EISDIR, await ErrnoOf(() => Fs.RenameAsync(dir.Id, "file", dir.Id, "empty", RenameFlags.None, Root)));
        Assert.Equal(Errno.ENOTEMPTY, await ErrnoOf(() => Fs.RenameAsync(dir.Id, "other", dir.Id, "full", RenameFlags.None, Root)));
        await Fs.RenameAsync(dir.Id, "other", dir.Id, "empty", RenameFlags.None, Root); // over an empty directory: allowed
        Assert.Equal(4, (await Fs.GetAttrAsync(dir.Id)).Nlink);
    }

    [Fact]
    public async Task Renaming_one_hard_link_onto_another_of_the_same_file_does_nothing()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "a", "x"u8.ToArray());
        await Fs.LinkAsync(file.Id, dir.Id, "b", Root);
        await Fs.RenameAsync(dir.Id, "a", dir.Id, "b", RenameFlags.None, Root);
        Assert.Equal(new[] { "a", "b" }, await Fs.NamesAsync(dir.Id));
        Assert.Equal(2, (await Fs.GetAttrAsync(file.Id)).Nlink);
    }

    [Fact]
    public async Task Renaming_a_directory_with_10k_descendants_writes_none_of_their_rows()
    {
        var top = await Fs.ScratchAsync();
        var big = await Fs.MkdirAsync(top.Id, "big", 0x1ED, Root);
        var sub = await Fs.MkdirAsync(big.Id, "sub", 0x1ED, Root);
        // 10k descendants written straight into the tables (creating them one by one would take minutes).
        var insert = await f.Session.PrepareAsync($"INSERT INTO {f.Keyspace}.entries (dir, name, inode, type) VALUES (?, ?, ?, ?)");
        foreach (var chunk in Enumerable.Range(0, 10_000).Chunk(500))
            await Task.WhenAll(chunk.Select(i => f.Session.ExecuteAsync(insert.Bind(sub.Id, $"n{i:D5}", Guid.NewGuid(), (int)FileType.Regular))));
        var before = await LatestWriteAsync(sub.Id);

        await Fs.RenameAsync(top.Id, "big", top.Id, "renamed", RenameFlags.None, Root);

        Assert.Equal(big.Id, (await Fs.LookupAsync(top.Id, "renamed", Root)).Id);
        Assert.Equal(before, await LatestWriteAsync(sub.Id));
        Assert.Equal(sub.Id, (await Fs.ResolveAsync($"/{await NameOf(top.Id)}/renamed/sub", Root)).Id);
    }

    /// <summary>The newest write time of any entry in a directory (CQL 3.2 has no max(): read them all).</summary>
    private async Task<long> LatestWriteAsync(Guid dir)
    {
        var latest = long.MinValue;
        var count = 0;
        await foreach (var row in f.Session.QueryAsync(new CassaFS.Cql.SimpleStatement($"SELECT writetime(inode) FROM {f.Keyspace}.entries WHERE dir = ?", dir), 2000))
        {
            latest = Math.Max(latest, row.Get<long>(0));
            count++;
        }
        Assert.Equal(10_000, count);
        return latest;
    }

    private async Task<string> NameOf(Guid id)
    {
        await foreach (var e in Fs.ReadDirectoryAsync(Inode.RootId, Root)) if (e.Inode == id) return e.Name;
        throw new InvalidOperationException("not in the root");
    }
}
