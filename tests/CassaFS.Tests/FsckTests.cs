namespace CassaFS.Tests;

public class FsckTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    [Fact]
    public async Task Fsck_finds_crash_garbage_reports_it_in_a_dry_run_and_repairs_it_when_asked()
    {
        var dir = await Fs.ScratchAsync();
        var good = await Fs.WriteFileAsync(dir.Id, "good", new byte[Fs.BlockSize * 2]);
        var ks = f.Keyspace;
        var s = f.Session;
        // The kinds of garbage a client killed mid-operation can leave:
        var orphan = Guid.NewGuid(); // an inode whose entry never got written (create interrupted)
        await s.ExecuteAsync($"INSERT INTO {ks}.inodes (id, type, mode, uid, gid, nlink, size, atime, mtime, ctime, blocks, fence) VALUES (?, ?, 420, 0, 0, 1, 0, 0, 0, 0, 0, 0)", orphan, (int)FileType.Regular);
        await s.ExecuteAsync($"INSERT INTO {ks}.entries (dir, name, inode, type) VALUES (?, 'dangling', ?, ?)", dir.Id, Guid.NewGuid(), (int)FileType.Regular); // inode purged, name left
        await s.ExecuteAsync($"UPDATE {ks}.inodes SET nlink = 5 WHERE id = ?", good.Id); // link count off
        await s.ExecuteAsync($"INSERT INTO {ks}.block_index (inode, idx) VALUES (?, 40)", good.Id); // block beyond the size (truncate interrupted)
        await s.ExecuteAsync($"INSERT INTO {ks}.blocks (inode, idx, data) VALUES (?, 40, 0xff)", good.Id);
        var deleted = Guid.NewGuid(); // blocks of an inode whose purge was interrupted
        await s.ExecuteAsync($"INSERT INTO {ks}.block_index (inode, idx) VALUES (?, 0)", deleted);
        await s.ExecuteAsync($"INSERT INTO {ks}.blocks (inode, idx, data) VALUES (?, 0, 0xff)", deleted);

        var dry = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero });
        var kinds = dry.Problems.Select(p => p.Kind).ToHashSet();
        Assert.Superset(new HashSet<string> { "orphan-inode", "dangling-entry", "wrong-link-count", "blocks-beyond-size", "orphan-blocks" }, kinds);
        Assert.All(dry.Problems, p => Assert.False(p.Repaired));
        Assert.Equal(5, (await Fs.GetAttrAsync(good.Id)).Nlink); // a dry run changes nothing

        var repaired = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero, Repair = true });
        Assert.All(repaired.Problems, p => Assert.True(p.Repaired));
        var after = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero });
        Assert.True(after.Clean, string.Join("\n", after.Problems));
        Assert.Equal(1, (await Fs.GetAttrAsync(good.Id)).Nlink);
        Assert.Equal(new byte[Fs.BlockSize * 2], await Fs.ReadFileAsync(good.Id));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.GetAttrAsync(orphan)));
    }

    [Fact]
    public async Task A_directory_left_with_two_names_by_an_interrupted_rename_is_repaired_in_one_pass()
    {
        var dir = await Fs.ScratchAsync();
        var sub = await Fs.MkdirAsync(dir.Id, "old", 0x1ED, Root);
        // A rename killed after writing the new name and before removing the old one.
        await f.Session.ExecuteAsync($"INSERT INTO {f.Keyspace}.entries (dir, name, inode, type) VALUES (?, 'new', ?, ?)", dir.Id, sub.Id, (int)FileType.Directory);
        await f.Session.ExecuteAsync($"UPDATE {f.Keyspace}.inodes SET ctime = 0 WHERE id IN (?, ?)", dir.Id, sub.Id);

        var repaired = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero, Repair = true });
        Assert.Contains(repaired.Problems, p => p.Kind == "directory-with-several-names");
        var after = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero });
        Assert.True(after.Clean, string.Join("\n", after.Problems));
        Assert.Equal(3, (await Fs.GetAttrAsync(dir.Id)).Nlink);
        Assert.Single(await Fs.NamesAsync(dir.Id));
    }

    [Fact]
    public async Task Fsck_spares_inodes_younger_than_the_grace_period()
    {
        var young = Guid.NewGuid();
        var now = Timespec.Now.TotalNanoseconds;
        await f.Session.ExecuteAsync($"INSERT INTO {f.Keyspace}.inodes (id, type, mode, uid, gid, nlink, size, atime, mtime, ctime, blocks, fence) VALUES (?, ?, 420, 0, 0, 1, 0, ?, ?, ?, 0, 0)",
            young, (int)FileType.Regular, now, now, now);
        var report = await Fsck.RunAsync(Fs, new FsckOptions { Repair = true, Grace = TimeSpan.FromMinutes(5) });
        Assert.DoesNotContain(report.Problems, p => p.Description.Contains(young.ToString(), StringComparison.Ordinal));
        Assert.Equal(young, (await Fs.GetAttrAsync(young)).Id);
    }
}
