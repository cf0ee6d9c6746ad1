using System.Security.Cryptography;
using System.Text;
using CassaFS.Fuse;

namespace CassaFS.Fuse.Tests;

/// <summary>Drives one real mount with syscalls and coreutils, as any program on the machine would.</summary>
public sealed class MountedFileSystemTests(MountFixture mount) : IClassFixture<MountFixture>
{
    [Fact]
    public void The_mount_appears_in_proc_mounts_with_its_fsname_and_subtype()
    {
        var line = File.ReadLines("/proc/mounts").Single(l => l.Split(' ')[1] == mount.Root);
        Assert.StartsWith("cassafs " + mount.Root + " fuse.memtest ", line, StringComparison.Ordinal);
        Assert.Contains("allow_other", line, StringComparison.Ordinal);
        Assert.Contains("default_permissions", line, StringComparison.Ordinal);
        Assert.True(mount.FileSystem.Mounted);
    }

    [Fact]
    public void A_file_written_through_the_mount_reads_back_and_stat_shows_its_attributes()
    {
        string dir = mount.NewDirectory("stat");
        string file = Path.Combine(dir, "hello.txt");
        File.WriteAllText(file, "hello, fuse\n");

        Assert.Equal("hello, fuse\n", File.ReadAllText(file));
        Assert.Equal("12 644 1 regular file", Posix.Ok("stat", "-c", "%s %a %h %F", file).Trim());
        var ls = Posix.Ok("ls", "-l", dir);
        Assert.Contains("-rw-r--r-- 1 root root 12 ", ls, StringComparison.Ordinal);
        Assert.EndsWith(" hello.txt\n", ls, StringComparison.Ordinal);
    }

    [Fact]
    public void Writes_and_reads_at_offsets_beyond_4_GiB_round_trip()
    {
        string file = Path.Combine(mount.NewDirectory("big"), "sparse.bin");
        long offset = (5L << 30) + 12345;
        byte[] data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        using (var fs = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1))
        {
            fs.Seek(offset, SeekOrigin.Begin);
            fs.Write(data);
        }

        Assert.Equal(offset + data.Length, new FileInfo(file).Length);
        using (var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            var back = new byte[data.Length];
            fs.Seek(offset, SeekOrigin.Begin);
            fs.ReadExactly(back);
            Assert.Equal(data, back);

            var hole = new byte[4096];
            fs.Seek(4L << 30, SeekOrigin.Begin);
            fs.ReadExactly(hole);
            Assert.All(hole, b => Assert.Equal(0, b));
        }
    }

    [Fact]
    public void A_large_write_reaches_the_filesystem_in_requests_of_up_to_one_MiB()
    {
        Assert.Equal(1 << 20, mount.Mount.MaxWrite);
        string file = Path.Combine(mount.NewDirectory("maxwrite"), "one-mib.bin");
        using (var fs = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
        {
            // Touched (random) pages: the kernel cuts a request short at a source page it cannot copy without faulting.
            fs.Write(RandomNumberGenerator.GetBytes(4 << 20));
        }
        Assert.True(mount.FileSystem.LargestWrite > 128 * 1024, $"largest write was {mount.FileSystem.LargestWrite} bytes");
        Assert.True(mount.FileSystem.LargestWrite <= 1 << 20);
    }

    [Fact]
    public void A_large_read_reaches_the_filesystem_in_requests_of_up_to_one_MiB()
    {
        Assert.Equal(1024, mount.Mount.ReadAheadKiB);
        string file = Path.Combine(mount.NewDirectory("maxread"), "four-mib.bin");
        byte[] data = RandomNumberGenerator.GetBytes(4 << 20);
        File.WriteAllBytes(file, data);

        // A new open drops the cached pages (the filesystem does not ask to keep them), so the read goes to it.
        using (var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            var back = new byte[data.Length];
            fs.ReadExactly(back);
            Assert.Equal(data, back);
        }
        Assert.True(mount.FileSystem.LargestRead > 128 * 1024, $"largest read was {mount.FileSystem.LargestRead} bytes");
        Assert.True(mount.FileSystem.LargestRead <= 1 << 20);
    }

    [Fact]
    public void Listing_a_directory_of_3000_entries_returns_every_name_exactly_once()
    {
        string dir = mount.NewDirectory("many");
        var expected = Enumerable.Range(0, 3000).Select(i => $"entry-with-a-longish-name-{i:D5}").ToList();
        foreach (var name in expected)
        {
            File.WriteAllBytes(Path.Combine(dir, name), []);
        }
        int callsBefore = mount.FileSystem.ReadDirCalls + mount.FileSystem.ReadDirPlusCalls;

        var listed = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).ToList();
        var lsNames = Posix.Ok("ls", "-1a", dir).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(expected, listed.Order(StringComparer.Ordinal));
        Assert.Equal(3002, lsNames.Length);
        Assert.Equal(3002, lsNames.Distinct().Count());
        int calls = mount.FileSystem.ReadDirCalls + mount.FileSystem.ReadDirPlusCalls - callsBefore;
        Assert.True(calls >= 10, $"the listing took {calls} readdir replies; 3000 entries cannot fit one buffer");
    }

    [Fact]
    public void ls_l_gets_sizes_through_readdirplus_entries()
    {
        string dir = mount.NewDirectory("plus");
        for (int i = 0; i < 20; i++)
        {
            File.WriteAllBytes(Path.Combine(dir, $"f{i}"), new byte[i * 100]);
        }
        int plusBefore = mount.FileSystem.ReadDirPlusCalls;
        var lines = Posix.Ok("ls", "-l", dir).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Equal(20, lines.Count);
        Assert.Contains(lines, l => l.Contains(" 1900 ", StringComparison.Ordinal) && l.EndsWith(" f19", StringComparison.Ordinal));
        Assert.True(mount.FileSystem.ReadDirPlusCalls > plusBefore);
    }

    [Fact]
    public void Rename_with_noreplace_fails_with_EEXIST_over_an_existing_name_and_moves_onto_a_free_one()
    {
        string dir = mount.NewDirectory("noreplace");
        File.WriteAllText(Path.Combine(dir, "a"), "A");
        File.WriteAllText(Path.Combine(dir, "b"), "B");

        int rc = Posix.RenameAt2(Posix.AT_FDCWD, Path.Combine(dir, "a"), Posix.AT_FDCWD, Path.Combine(dir, "b"), Posix.RENAME_NOREPLACE);
        Assert.Equal(-1, rc);
        Assert.Equal((int)Errno.EEXIST, Posix.Errno);
        Assert.Equal("B", File.ReadAllText(Path.Combine(dir, "b")));

        Assert.Equal(0, Posix.RenameAt2(Posix.AT_FDCWD, Path.Combine(dir, "a"), Posix.AT_FDCWD, Path.Combine(dir, "c"), Posix.RENAME_NOREPLACE));
        Assert.Equal("A", File.ReadAllText(Path.Combine(dir, "c")));
        Assert.False(File.Exists(Path.Combine(dir, "a")));
    }

    [Fact]
    public void Rename_with_exchange_swaps_two_names_atomically()
    {
        string dir = mount.NewDirectory("exchange");
        File.WriteAllText(Path.Combine(dir, "left"), "L");
        Directory.CreateDirectory(Path.Combine(dir, "right"));

        Assert.Equal(0, Posix.RenameAt2(Posix.AT_FDCWD, Path.Combine(dir, "left"), Posix.AT_FDCWD, Path.Combine(dir, "right"), Posix.RENAME_EXCHANGE));

        Assert.True(Directory.Exists(Path.Combine(dir, "left")));
        Assert.Equal("L", File.ReadAllText(Path.Combine(dir, "right")));
        Assert.Equal(-1, Posix.RenameAt2(Posix.AT_FDCWD, Path.Combine(dir, "left"), Posix.AT_FDCWD, Path.Combine(dir, "missing"), Posix.RENAME_EXCHANGE));
        Assert.Equal((int)Errno.ENOENT, Posix.Errno);
    }

    [Fact]
    public void mv_replaces_a_file_and_renaming_over_a_nonempty_directory_fails_with_ENOTEMPTY()
    {
        string dir = mount.NewDirectory("mv");
        File.WriteAllText(Path.Combine(dir, "x"), "new");
        File.WriteAllText(Path.Combine(dir, "y"), "old");
        Posix.Ok("mv", Path.Combine(dir, "x"), Path.Combine(dir, "y"));
        Assert.Equal("new", File.ReadAllText(Path.Combine(dir, "y")));

        Directory.CreateDirectory(Path.Combine(dir, "d1"));
        Directory.CreateDirectory(Path.Combine(dir, "d2/inner"));
        Assert.Equal(-1, Posix.Rename(Path.Combine(dir, "d1"), Path.Combine(dir, "d2")));
        Assert.Equal((int)Errno.ENOTEMPTY, Posix.Errno);
    }

    [Fact]
    public void Errors_from_the_filesystem_surface_as_the_matching_errno()
    {
        string dir = mount.NewDirectory("errors");
        Assert.Equal(-1, Posix.Open(Path.Combine(dir, "absent"), Posix.O_RDONLY, 0));
        Assert.Equal((int)Errno.ENOENT, Posix.Errno);

        Directory.CreateDirectory(Path.Combine(dir, "sub/child"));
        Assert.Equal(-1, Posix.MkDir(Path.Combine(dir, "sub"), 0x1ED));
        Assert.Equal((int)Errno.EEXIST, Posix.Errno);
        Assert.Equal(-1, Posix.RmDir(Path.Combine(dir, "sub")));
        Assert.Equal((int)Errno.ENOTEMPTY, Posix.Errno);
        Assert.Equal(-1, Posix.Unlink(Path.Combine(dir, "sub")));
        Assert.Equal((int)Errno.EISDIR, Posix.Errno);

        // FuseException carries its errno; any other exception from a handler answers EIO; -errno works like errno.
        Assert.Equal(-1, Posix.Open(Path.Combine(dir, "fail-with-eacces"), Posix.O_RDONLY, 0));
        Assert.Equal((int)Errno.EACCES, Posix.Errno);
        Assert.Equal(-1, Posix.Open(Path.Combine(dir, "fail-with-eio"), Posix.O_RDONLY, 0));
        Assert.Equal((int)Errno.EIO, Posix.Errno);
        Assert.Contains(mount.HandlerErrors, e => e is InvalidOperationException { Message: "injected handler failure" });
        Assert.Equal(-1, Posix.Open(Path.Combine(dir, "fail-with-negative-eperm"), Posix.O_RDONLY, 0));
        Assert.Equal((int)Errno.EPERM, Posix.Errno);
    }

    [Fact]
    public void ln_and_ln_s_make_hard_links_and_symlinks()
    {
        string dir = mount.NewDirectory("links");
        File.WriteAllText(Path.Combine(dir, "target"), "content");
        Posix.Ok("ln", Path.Combine(dir, "target"), Path.Combine(dir, "hard"));
        Posix.Ok("ln", "-s", "target", Path.Combine(dir, "soft"));

        Assert.Equal("2", Posix.Ok("stat", "-c", "%h", Path.Combine(dir, "target")).Trim());
        Assert.Equal("content", File.ReadAllText(Path.Combine(dir, "hard")));
        Assert.Equal("target", Posix.Ok("readlink", Path.Combine(dir, "soft")).Trim());
        Assert.Equal("content", File.ReadAllText(Path.Combine(dir, "soft")));
        Assert.Equal("symbolic link", Posix.Ok("stat", "-c", "%F", Path.Combine(dir, "soft")).Trim());

        File.Delete(Path.Combine(dir, "target"));
        Assert.Equal("1", Posix.Ok("stat", "-c", "%h", Path.Combine(dir, "hard")).Trim());
    }

    [Fact]
    public void chmod_truncate_and_touch_change_mode_size_and_times()
    {
        string file = Path.Combine(mount.NewDirectory("setattr"), "f");
        File.WriteAllText(file, "0123456789");

        Posix.Ok("chmod", "640", file);
        Posix.Ok("truncate", "-s", "6G", file);
        Assert.Equal("640 6442450944", Posix.Ok("stat", "-c", "%a %s", file).Trim());
        Posix.Ok("truncate", "-s", "4", file);
        Assert.Equal("0123", File.ReadAllText(file));

        Posix.Ok("touch", "-d", "2001-02-03 04:05:06.789 UTC", file);
        Assert.Equal("981173106", Posix.Ok("stat", "-c", "%Y", file).Trim());
        Posix.Ok("touch", file); // utimensat with UTIME_NOW: the *_NOW bits of the setattr mask
        long mtime = long.Parse(Posix.Ok("stat", "-c", "%Y", file).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(mtime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
    }

    [Fact]
    public void mkfifo_creates_a_fifo_node()
    {
        string fifo = Path.Combine(mount.NewDirectory("fifo"), "pipe");
        Posix.Ok("mkfifo", "-m", "600", fifo);
        Assert.Equal("fifo 600", Posix.Ok("stat", "-c", "%F %a", fifo).Trim());
    }

    [Fact]
    public void Extended_attributes_set_get_list_and_remove_with_size_probes()
    {
        string file = Path.Combine(mount.NewDirectory("xattr"), "f");
        File.WriteAllText(file, "x");
        byte[] value = Encoding.UTF8.GetBytes("hello attribute");

        Assert.Equal(0, Posix.SetXAttr(file, "user.greeting", value, (nuint)value.Length, Posix.XATTR_CREATE));
        Assert.Equal(-1, Posix.SetXAttr(file, "user.greeting", value, (nuint)value.Length, Posix.XATTR_CREATE));
        Assert.Equal((int)Errno.EEXIST, Posix.Errno);
        Assert.Equal(-1, Posix.SetXAttr(file, "user.absent", value, (nuint)value.Length, Posix.XATTR_REPLACE));
        Assert.Equal((int)Errno.ENODATA, Posix.Errno);
        Assert.Equal(0, Posix.SetXAttr(file, "user.other", [1, 2], 2, 0));

        Assert.Equal(value.Length, (int)Posix.GetXAttr(file, "user.greeting", null, 0));
        var small = new byte[4];
        Assert.Equal(-1, (int)Posix.GetXAttr(file, "user.greeting", small, (nuint)small.Length));
        Assert.Equal((int)Errno.ERANGE, Posix.Errno);
        var buffer = new byte[64];
        int n = (int)Posix.GetXAttr(file, "user.greeting", buffer, (nuint)buffer.Length);
        Assert.Equal("hello attribute", Posix.Utf8(buffer, n));

        int listSize = (int)Posix.ListXAttr(file, null, 0);
        Assert.Equal("user.greeting\0user.other\0".Length, listSize);
        var list = new byte[listSize];
        Assert.Equal(listSize, (int)Posix.ListXAttr(file, list, (nuint)list.Length));
        Assert.Equal("user.greeting\0user.other\0", Posix.Utf8(list, listSize));

        Assert.Equal(0, Posix.RemoveXAttr(file, "user.greeting"));
        Assert.Equal(-1, (int)Posix.GetXAttr(file, "user.greeting", buffer, (nuint)buffer.Length));
        Assert.Equal((int)Errno.ENODATA, Posix.Errno);
    }

    [Fact]
    public void df_reports_the_figures_statfs_answers()
    {
        var lines = Posix.Ok("df", "-B4096", "--output=size,used,avail", mount.Root).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var figures = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["1000000", "250000", "700000"], figures);
        var inodes = Posix.Ok("stat", "-f", "-c", "%c %S %l", mount.Root).Trim();
        Assert.Equal("500000 4096 255", inodes);
    }

    [Fact]
    public async Task flock_makes_a_second_open_wait_until_the_first_releases()
    {
        string file = Path.Combine(mount.NewDirectory("flock"), "lockfile");
        File.WriteAllText(file, "");
        int first = Posix.Open(file, Posix.O_RDWR, 0);
        int second = Posix.Open(file, Posix.O_RDWR, 0);
        Assert.True(first >= 0 && second >= 0);
        try
        {
            Assert.Equal(0, Posix.Flock(first, Posix.LOCK_EX));
            Assert.Equal(-1, Posix.Flock(second, Posix.LOCK_EX | Posix.LOCK_NB));
            Assert.Equal((int)Errno.EAGAIN, Posix.Errno);

            // flock(1) with a timeout is interrupted by its alarm: the waiting request gets EINTR and gives up.
            var (exit, _, _) = Posix.Run("flock", "-w", "0.5", file, "true");
            Assert.Equal(1, exit);

            var waiter = Task.Factory.StartNew(() => Posix.Flock(second, Posix.LOCK_EX), TaskCreationOptions.LongRunning);
            await Task.Delay(300);
            Assert.False(waiter.IsCompleted, "the second flock must wait while the first holds the lock");

            Assert.Equal(0, Posix.Flock(first, Posix.LOCK_UN));
            Assert.Equal(0, await waiter.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            Posix.Close(first);
            Posix.Close(second);
        }
        // Closing releases the lock through RELEASE with flock_release, which the kernel sends after close(2)
        // returns; a new locker gets it once that arrived (flock -w waits for it, up to 5 s).
        Assert.Equal(0, Posix.Run("flock", "-w", "5", file, "true").Exit);
    }

    [Fact]
    public void Requests_carry_the_callers_uid_gid_pid_and_supplementary_groups()
    {
        string dir = mount.NewDirectory("creds");
        Posix.Ok("chmod", "777", dir);
        Posix.Ok("setpriv", "--reuid=4321", "--regid=4322", "--groups=7001,7002", "--", "touch", Path.Combine(dir, "made-by-4321"));

        Assert.Equal("4321 4322", Posix.Ok("stat", "-c", "%u %g", Path.Combine(dir, "made-by-4321")).Trim());
        var creator = mount.FileSystem.LastCreator!.Value;
        Assert.Equal(4321u, creator.Uid);
        Assert.Equal(4322u, creator.Gid);
        Assert.True(creator.Pid > 0);
        Assert.Equal([7001u, 7002u], creator.Groups.Order());
    }

    [Fact]
    public void POSIX_byte_range_locks_conflict_across_processes_and_report_the_holder()
    {
        string file = Path.Combine(mount.NewDirectory("posix"), "ranges");
        File.WriteAllBytes(file, new byte[1000]);
        int fd = Posix.Open(file, Posix.O_RDWR, 0);
        Assert.True(fd >= 0);
        try
        {
            var held = new Posix.FlockRange { Type = Posix.F_WRLCK, Start = 100, Length = 100 };
            Assert.Equal(0, Posix.Fcntl(fd, Posix.F_SETLK, ref held));

            var probe = TestAssemblyProcess.Run(Program.LockVerb, file, "get", "0", "0");
            Assert.Equal((0, $"{Posix.F_WRLCK} 100 100 {Environment.ProcessId}"), probe);
            Assert.Equal((int)Errno.EAGAIN, TestAssemblyProcess.Run(Program.LockVerb, file, "set", "150", "10").Exit);
            Assert.Equal(0, TestAssemblyProcess.Run(Program.LockVerb, file, "set", "300", "10").Exit);

            var release = new Posix.FlockRange { Type = Posix.F_UNLCK, Start = 0, Length = 0 };
            Assert.Equal(0, Posix.Fcntl(fd, Posix.F_SETLK, ref release));
            Assert.Equal(0, TestAssemblyProcess.Run(Program.LockVerb, file, "set", "150", "10").Exit);
        }
        finally
        {
            Posix.Close(fd);
        }
    }
}
