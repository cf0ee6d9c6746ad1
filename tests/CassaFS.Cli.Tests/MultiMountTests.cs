using System.Diagnostics;
using CassaFS.LocalServers;

namespace CassaFS.Cli.Tests;

/// <summary>Several mounts of one filesystem, each its own daemon process.</summary>
[Collection("mounts")]
public sealed class MultiMountTests(MountFixture fixture)
{
    /// <summary>
    /// Another mount's changes reach the kernel's caches by change notices, read every 0.25 s; the rest is slack for a
    /// loaded 2-core machine. The caches' own timeout is 60 s, so only a pushed invalidation passes within this.
    /// </summary>
    private static readonly TimeSpan Visible = TimeSpan.FromSeconds(3);

    private static async Task<TimeSpan> UntilAsync(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < Visible, $"{what} was not visible on the other mount within {Visible.TotalSeconds} s");
            await Task.Delay(20);
        }
        return sw.Elapsed;
    }

    /// <summary>A fresh directory under <paramref name="mount"/>; returns its name (the same on every mount).</summary>
    private static string NewDirectory(string mount, string prefix)
    {
        var name = prefix + "-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(Path.Combine(mount, name));
        return name;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
    }

    [Fact]
    public async Task A_file_open_on_one_mount_and_removed_through_the_other_reads_and_writes_byte_exact_until_closed()
    {
        // Issue 13 §3: the removing mount purged the file at once, so the descriptor on the other mount lost its data.
        var dir = NewDirectory(fixture.MountB, "unlinked");
        var local = Path.Combine(Path.GetTempPath(), dir + ".bin");
        try
        {
            // Written through B, so A's page cache holds none of it: A's reads after the removal reach its daemon.
            var r = await Cli.ShAsync(fixture.MountA, $$"""
                set -e
                head -c 3000000 /dev/urandom > '{{local}}'
                cp '{{local}}' '{{fixture.MountB}}/{{dir}}/f'
                sleep 1.5
                exec 3<> '{{dir}}/f'
                rm '{{fixture.MountB}}/{{dir}}/f'
                sleep 1.5
                [ -e '{{dir}}/f' ] && echo 'name still there' || echo 'name gone'
                /usr/bin/perl -e '
                  open(my $f, "+<&=", 3) or die "fdopen: $!"; binmode $f; local $/;
                  open(my $x, "<", $ARGV[0]) or die; binmode $x; my $want = <$x>;
                  seek($f, 0, 0); my $got = <$f>;
                  print(($got eq $want) ? "reads byte-exact\n" : "reads wrong: " . length($got) . " bytes\n");
                  seek($f, 0, 2); print $f "more" or die "write: $!"; $f->flush or die "flush: $!";
                  seek($f, 0, 0); $got = <$f>;
                  print(($got eq $want . "more") ? "writes kept\n" : "writes lost\n");' '{{local}}'
                exec 3>&-
                ls '{{fixture.MountB}}/{{dir}}' | wc -l
                """, TimeSpan.FromMinutes(2));
            Assert.Equal("name gone\nreads byte-exact\nwrites kept\n0\n", r.ShouldSucceed("open on A, rm on B").Out);
        }
        finally
        {
            File.Delete(local);
        }
    }

    [Fact]
    public async Task A_file_reopened_unchanged_keeps_its_cached_pages_and_one_the_other_mount_changed_is_read_afresh()
    {
        // Issue 15: every open dropped the page cache, so random reads of a file just written went to Cassandra.
        var dir = NewDirectory(fixture.MountA, "cached");
        // fincore opens the file and counts its resident pages: 977 for 4,000,000 bytes when the open kept them.
        var r = await Cli.ShAsync(fixture.MountA, $$"""
            set -e
            local=$(mktemp); trap 'rm -f "$local"' EXIT
            pages() { fincore -n -o PAGES "$1" | tr -d ' '; }
            head -c 4000000 /dev/urandom > "$local"
            cp "$local" '{{dir}}/f'
            cat '{{dir}}/f' > /dev/null
            echo "A after its own write: $(pages '{{dir}}/f')"
            for i in 1 2 3 4 5 6; do cat '{{dir}}/f' > /dev/null & done; wait
            echo "A after six readers at once: $(pages '{{dir}}/f')"
            cmp '{{fixture.MountB}}/{{dir}}/f' "$local" && echo 'B reads it'
            echo "B reopened unchanged: $(pages '{{fixture.MountB}}/{{dir}}/f')"
            printf 'changed' | dd of='{{dir}}/f' bs=1 seek=100000 conv=notrunc status=none
            printf 'changed' | dd of="$local" bs=1 seek=100000 conv=notrunc status=none
            echo "B after A changed it: $(pages '{{fixture.MountB}}/{{dir}}/f')"
            cmp '{{fixture.MountB}}/{{dir}}/f' "$local" && echo 'B reads the change'
            echo "A after its own change: $(pages '{{dir}}/f')"
            cmp '{{dir}}/f' "$local" && echo 'A reads the change'
            """, TimeSpan.FromMinutes(2));
        Assert.Equal(
            "A after its own write: 977\nA after six readers at once: 977\nB reads it\nB reopened unchanged: 977\nB after A changed it: 0\n" +
            // A's own change drops A's pages too: the kernel's auto_inval_data takes the mtime its writes gave for a
            // change (it never learned it), a price kept for two-mount SQLite (see the Mount README).
            "B reads the change\nA after its own change: 0\nA reads the change\n",
            r.ShouldSucceed("reopen on both mounts").Out);
    }

    [Fact]
    public async Task A_file_read_on_the_other_mount_before_its_create_notice_arrives_keeps_its_pages()
    {
        // A clean-clone CI run: B read the file before its poll brought A's notice of the create; the notice then
        // dropped B's entry, and FUSE evicts an inode with its last entry, taking the pages B had just read.
        var dir = NewDirectory(fixture.MountA, "late");
        await Task.Delay(1000); // the directory's own notice is read on B before this test looks
        var r = await Cli.ShAsync(fixture.MountA, $$"""
            set -e
            pages() { fincore -n -o PAGES "$1" | tr -d ' '; }
            for i in 1 2 3 4 5; do
              printf 'content' > '{{dir}}/f'$i
              cat '{{fixture.MountB}}/{{dir}}/f'$i > /dev/null
            done
            sleep 1.5
            for i in 1 2 3 4 5; do echo "f$i on B: $(pages '{{fixture.MountB}}/{{dir}}/f'$i)"; done
            """, TimeSpan.FromMinutes(2));
        Assert.Equal("f1 on B: 1\nf2 on B: 1\nf3 on B: 1\nf4 on B: 1\nf5 on B: 1\n", r.ShouldSucceed("read on B at once").Out);
    }

    [Fact]
    public async Task A_descriptor_open_on_one_mount_reads_the_other_mounts_change_once_a_stat_finds_it()
    {
        // The kernel's own check (auto_inval_data) is off so that a mount's own writes keep its pages: the mount must
        // then drop them itself when a getattr past the attribute timeout finds another mount's change (as NFS does).
        var dir = NewDirectory(fixture.MountA, "stale");
        var r = await Cli.ShAsync(fixture.MountA, $$"""
            set -e
            head -c 300000 /dev/zero | tr '\0' a > '{{dir}}/f'
            exec 3< '{{fixture.MountB}}/{{dir}}/f'
            /usr/bin/perl -e 'open(my $f, "<&=", 3) or die; local $/; my $got = <$f>; print "B first reads ", substr($got, 150000, 3), "\n"'
            printf 'bbb' | dd of='{{dir}}/f' bs=1 seek=150000 conv=notrunc status=none
            sleep 1.5
            stat -c %s '{{fixture.MountB}}/{{dir}}/f' > /dev/null
            /usr/bin/perl -e 'open(my $f, "<&=", 3) or die; seek($f, 0, 0); local $/; my $got = <$f>; print "B then reads ", substr($got, 150000, 3), "\n"'
            exec 3<&-
            """, TimeSpan.FromMinutes(2));
        Assert.Equal("B first reads aaa\nB then reads bbb\n", r.ShouldSucceed("open on B, change on A").Out);
    }

    [Fact]
    public async Task Creates_writes_and_renames_on_one_mount_show_on_the_other_within_the_cache_timeout()
    {
        var name = "vis-" + Guid.NewGuid().ToString("N")[..8];
        var a = Path.Combine(fixture.MountA, name);
        var b = Path.Combine(fixture.MountB, name);
        Assert.False(File.Exists(b));

        await File.WriteAllTextAsync(a, "first");
        await UntilAsync(() => TryRead(b) == "first", "a create");

        await File.WriteAllTextAsync(a, "second, and longer than the first");
        await UntilAsync(() => TryRead(b) == "second, and longer than the first", "an overwrite");

        File.Move(a, a + ".renamed");
        await UntilAsync(() => !File.Exists(b) && TryRead(b + ".renamed") == "second, and longer than the first", "a rename");

        Directory.CreateDirectory(Path.Combine(fixture.MountB, name + ".dir"));
        await UntilAsync(() => Directory.Exists(Path.Combine(fixture.MountA, name + ".dir")), "a mkdir from the other side");
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_chmod_and_an_append_on_one_mount_show_in_the_others_stat_long_before_the_attribute_timeout()
    {
        var name = "attr-" + Guid.NewGuid().ToString("N")[..8];
        var a = Path.Combine(fixture.MountA, name);
        var b = Path.Combine(fixture.MountB, name);
        await File.WriteAllTextAsync(a, "twelve bytes");
        await UntilAsync(() => File.Exists(b) && new FileInfo(b).Length == 12, "a create");
        var before = File.GetUnixFileMode(b); // cached by B's kernel for the attribute timeout from here

        File.SetUnixFileMode(a, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var took = await UntilAsync(() => File.GetUnixFileMode(b) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), "a chmod");
        Assert.NotEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, before);

        await File.AppendAllTextAsync(a, " and more");
        await UntilAsync(() => new FileInfo(b).Length == 21, "an append");
        Assert.True(took < TimeSpan.FromSeconds(10), $"the chmod took {took.TotalSeconds:F1} s: no faster than the attribute timeout");
    }

    [Fact]
    public async Task Four_mounts_racing_mkdir_of_one_name_see_exactly_one_success_50_times()
    {
        await using var c = await fixture.MountAnotherAsync("c");
        await using var d = await fixture.MountAnotherAsync("d");
        var roots = new[] { fixture.MountA, fixture.MountB, c.MountPoint, d.MountPoint };
        var prefix = "race-" + Guid.NewGuid().ToString("N")[..8];
        for (int round = 0; round < 50; round++)
        {
            var name = $"{prefix}-{round}";
            using var start = new Barrier(roots.Length);
            var results = await Task.WhenAll(roots.Select(root => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                return Posix.MkDir(Path.Combine(root, name), 0x1ED) == 0 ? 0 : Posix.Errno;
            }, TaskCreationOptions.LongRunning)));
            Assert.Equal(1, results.Count(r => r == 0));
            Assert.All(results.Where(r => r != 0), r => Assert.Equal(Posix.EEXIST, r));
        }
    }

    [Fact]
    public async Task A_counter_incremented_under_flock_from_two_mounts_loses_no_update()
    {
        // Issue 16 §1: two loops on each mount, each incrementing a counter file under flock of the file itself. The lock
        // holder must read what the last holder (on the other machine) wrote, not what its kernel cached.
        var name = "counter-" + Guid.NewGuid().ToString("N")[..8];
        await File.WriteAllTextAsync(Path.Combine(fixture.MountA, name), "0\n");
        const int Rounds = 50;
        var loops = new[] { fixture.MountA, fixture.MountA, fixture.MountB, fixture.MountB }.Select(mount =>
        {
            var file = Path.Combine(mount, name);
            return Cli.ShAsync("/", $"for i in $(seq {Rounds}); do flock '{file}' -c 'read v < \"{file}\"; echo $((v+1)) > \"{file}\"' || exit 1; done");
        }).ToList();
        foreach (var loop in await Task.WhenAll(loops)) Assert.Equal(0, loop.ExitCode);
        Assert.Equal($"{4 * Rounds}\n", await File.ReadAllTextAsync(Path.Combine(fixture.MountA, name)));
        Assert.Equal($"{4 * Rounds}\n", await File.ReadAllTextAsync(Path.Combine(fixture.MountB, name)));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_lock_granted_on_an_open_descriptor_gives_the_holder_the_other_mounts_latest_data()
    {
        // A program that keeps its file open, locks it, and reads again (a database's pattern) must not be served the
        // pages its kernel cached before another machine changed the file: the grant invalidates them.
        var name = "cached-" + Guid.NewGuid().ToString("N")[..8];
        await File.WriteAllTextAsync(Path.Combine(fixture.MountA, name), "old-content\n");
        await using var held = new FileStream(Path.Combine(fixture.MountB, name), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
        var buffer = new byte[64];
        Assert.Equal("old-content\n", System.Text.Encoding.ASCII.GetString(buffer, 0, await held.ReadAsync(buffer)));
        // (.NET holds a shared flock on every FileStream it opens, so the writer on A does not flock here.)
        await File.WriteAllTextAsync(Path.Combine(fixture.MountA, name), "new-content\n");
        held.Lock(0, 64); // fcntl F_SETLK on the descriptor kept open
        held.Seek(0, SeekOrigin.Begin);
        Assert.Equal("new-content\n", System.Text.Encoding.ASCII.GetString(buffer, 0, await held.ReadAsync(buffer)));
        held.Unlock(0, 64);
    }

    [Fact]
    public async Task Flock_held_on_one_mount_blocks_flock_n_on_the_other_until_released()
    {
        var name = "flock-" + Guid.NewGuid().ToString("N")[..8];
        await File.WriteAllTextAsync(Path.Combine(fixture.MountA, name), "x");
        var psi = new ProcessStartInfo("flock") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "-x", Path.Combine(fixture.MountA, name), "-c", "echo locked; sleep 30" }) psi.ArgumentList.Add(arg);
        using var holder = Process.Start(psi)!;
        try
        {
            Assert.Equal("locked", await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            var blocked = await Cli.ShAsync("/", $"flock -n -x '{Path.Combine(fixture.MountB, name)}' true");
            Assert.Equal(1, blocked.ExitCode);
            var shared = await Cli.ShAsync("/", $"flock -n -s '{Path.Combine(fixture.MountB, name)}' true");
            Assert.Equal(1, shared.ExitCode);

            var listing = await Cli.RunAsync(fixture.Environment, "locks", "list", "--prefix", "advisory/");
            Assert.Contains("exclusive", listing.ShouldSucceed("cassafs locks list").Out, StringComparison.Ordinal);
            Assert.Contains("flock LOCK_EX", listing.Out, StringComparison.Ordinal);
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            await holder.WaitForExitAsync();
        }
        // The holder's descriptor closed: the daemon releases the lock, and the other mount gets it.
        var sw = Stopwatch.StartNew();
        Cli.Result got;
        while ((got = await Cli.ShAsync("/", $"flock -n -x '{Path.Combine(fixture.MountB, name)}' true")).ExitCode != 0)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "the flock was not released after its holder died");
            await Task.Delay(100);
        }
        Assert.Equal(0, got.ExitCode);
    }

    [Fact]
    public async Task Fcntl_locks_conflict_across_mounts_and_read_locks_share()
    {
        var name = "fcntl-" + Guid.NewGuid().ToString("N")[..8];
        await File.WriteAllTextAsync(Path.Combine(fixture.MountA, name), new string('x', 1000));
        int fa = Posix.Open(Path.Combine(fixture.MountA, name), Posix.O_RDWR);
        int fb = Posix.Open(Path.Combine(fixture.MountB, name), Posix.O_RDWR);
        Assert.True(fa >= 0 && fb >= 0);
        try
        {
            var write = new Posix.FlockRange { Type = Posix.F_WRLCK, Start = 0, Length = 100 };
            Assert.Equal(0, Posix.Fcntl(fa, Posix.F_SETLK, ref write));

            var overlapping = new Posix.FlockRange { Type = Posix.F_WRLCK, Start = 50, Length = 10 };
            Assert.Equal(-1, Posix.Fcntl(fb, Posix.F_SETLK, ref overlapping));
            Assert.Equal(Posix.EAGAIN, Posix.Errno);

            var probe = new Posix.FlockRange { Type = Posix.F_RDLCK, Start = 0, Length = 10 };
            Assert.Equal(0, Posix.Fcntl(fb, Posix.F_GETLK, ref probe));
            Assert.Equal(Posix.F_WRLCK, probe.Type);

            var unlock = new Posix.FlockRange { Type = Posix.F_UNLCK, Start = 0, Length = 0 };
            Assert.Equal(0, Posix.Fcntl(fa, Posix.F_SETLK, ref unlock));

            var readA = new Posix.FlockRange { Type = Posix.F_RDLCK, Start = 0, Length = 0 };
            var readB = new Posix.FlockRange { Type = Posix.F_RDLCK, Start = 0, Length = 0 };
            Assert.Equal(0, Posix.Fcntl(fa, Posix.F_SETLK, ref readA));
            Assert.Equal(0, Posix.Fcntl(fb, Posix.F_SETLK, ref readB));

            var writeB = new Posix.FlockRange { Type = Posix.F_WRLCK, Start = 0, Length = 0 };
            Assert.Equal(-1, Posix.Fcntl(fb, Posix.F_SETLK, ref writeB));
            Assert.Equal(Posix.EAGAIN, Posix.Errno);
        }
        finally
        {
            Posix.Close(fa);
            Posix.Close(fb);
        }
    }

    [Fact]
    public async Task A_name_removed_through_one_mount_and_still_cached_by_the_other_opens_there_as_on_a_local_disk()
    {
        // SQLite's journal on two mounts: A deletes it, B creates it again at once. B's kernel still has the old name
        // cached (entry timeout), so it opens the removed inode: that must be "stale, look again", not "no such file".
        var name = "stale-" + Guid.NewGuid().ToString("N")[..8];
        string onA = Path.Combine(fixture.MountA, name), onB = Path.Combine(fixture.MountB, name);
        for (var round = 0; round < 5; round++)
        {
            await File.WriteAllTextAsync(onA, "old");
            await UntilAsync(() => File.Exists(onB), "the new file");
            Assert.Equal("old", await File.ReadAllTextAsync(onB));
            File.Delete(onA);
            int fd = Posix.Open(onB, Posix.O_RDWR | Posix.O_CREAT, 420);
            Assert.True(fd >= 0, $"round {round}: open(O_CREAT) on the other mount failed with errno {Posix.Errno}");
            Posix.Close(fd);
            File.Delete(onB);
            Assert.Equal(-1, Posix.Open(onA, Posix.O_RDONLY));
            Assert.Equal(Posix.ENOENT, Posix.Errno);
        }
    }

    [Fact]
    public async Task A_name_removed_through_one_mount_while_the_other_holds_the_file_open_opens_there_as_a_new_file()
    {
        // SQLite's hot-journal check: B still holds the journal another mount removed (a close's release reaches the
        // daemon late) and still caches its name. An open by that name must make a new file, as on a local disk, not
        // reach the removed one: SQLite would roll the database back with a journal already committed.
        var name = "held-" + Guid.NewGuid().ToString("N")[..8];
        string onA = Path.Combine(fixture.MountA, name), onB = Path.Combine(fixture.MountB, name);
        var buffer = new byte[16];
        for (var round = 0; round < 3; round++)
        {
            await File.WriteAllTextAsync(onA, "old");
            await UntilAsync(() => File.Exists(onB), "the new file");
            // Plain descriptors: .NET's FileStream takes a flock, and a flock released by a close reaches the other
            // mount's daemon late (FUSE sends the release after close returns), so a FileStream may find it held.
            string ReadAt(int descriptor) => System.Text.Encoding.ASCII.GetString(buffer, 0, (int)Posix.PRead(descriptor, buffer, buffer.Length, 0));
            int held = Posix.Open(onB, Posix.O_RDONLY);
            Assert.True(held >= 0, $"round {round}: open on the other mount failed with errno {Posix.Errno}");
            Assert.Equal("old", ReadAt(held));
            File.Delete(onA);
            int fd = Posix.Open(onB, Posix.O_RDWR | Posix.O_CREAT, 420);
            Assert.True(fd >= 0, $"round {round}: open(O_CREAT) on the other mount failed with errno {Posix.Errno}");
            Assert.Equal(3, (int)Posix.Write(fd, "new"u8.ToArray(), 3));
            Assert.Equal("new", ReadAt(fd));
            Posix.Close(fd);
            Assert.Equal("old", ReadAt(held));
            Posix.Close(held);
            int named = Posix.Open(onB, Posix.O_RDONLY); // the name is the new file's
            Assert.Equal("new", ReadAt(named));
            Posix.Close(named);
            File.Delete(onB);
        }
    }

    [Fact]
    public async Task Byte_range_locks_answer_on_one_mount_and_across_two_as_on_a_local_disk()
    {
        // Issue 13 §2: the same probe (split, merge, downgrade, upgrade, close drops every record lock, OFD locks)
        // with the holder and the prober on local disk, on one mount, and on two mounts.
        await Prerequisites.EnsureCommandAsync("python3", "python3");
        var probe = Path.Combine(AppContext.BaseDirectory, "Probes", "range_locks.py");
        var local = Directory.CreateTempSubdirectory("cassafs-ranges-").FullName;
        var name = "ranges-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(local, name), new byte[4096]);
            await File.WriteAllBytesAsync(Path.Combine(fixture.MountA, name), new byte[4096]);
            async Task<string> RunAsync(string holder, string prober)
            {
                var r = await Cli.ShAsync("/", $"python3 '{probe}' '{holder}' '{prober}'");
                Assert.True(r.ExitCode == 0, $"the probe failed: {r.Out}\n{r.Err}");
                return r.Out;
            }
            var expected = await RunAsync(Path.Combine(local, name), Path.Combine(local, name));
            Assert.Contains("F_GETLK W 250+10 -> R 200+200 holder", expected, StringComparison.Ordinal); // merged, on the local disk
            // The one known difference: F_GETLK of an OFD lock names the holder's pid, where Linux says -1 (FUSE does
            // not tell a daemon that a lock is an OFD lock).
            expected = expected.Replace("ofd(-1)", "holder", StringComparison.Ordinal);
            Assert.Equal(expected, await RunAsync(Path.Combine(fixture.MountA, name), Path.Combine(fixture.MountA, name)));
            Assert.Equal(expected, await RunAsync(Path.Combine(fixture.MountA, name), Path.Combine(fixture.MountB, name)));
        }
        finally
        {
            Directory.Delete(local, true);
        }
    }

    [Fact]
    public async Task Two_SQLite_writers_on_two_mounts_keep_every_committed_row_and_a_sound_database()
    {
        // Issue 13 §2: SQLite locks bytes of its database file (PENDING, RESERVED, SHARED); two writers on two mounts
        // each commit rows in their own transactions, readers count meanwhile. Every commit that succeeded is there,
        // and the database is sound.
        await Prerequisites.EnsureCommandAsync("sqlite3", "sqlite3");
        const int Rows = 40;
        var name = "sqlite-" + Guid.NewGuid().ToString("N")[..8] + ".db";
        string onA = Path.Combine(fixture.MountA, name), onB = Path.Combine(fixture.MountB, name);
        var created = await Cli.ShAsync("/", $"sqlite3 '{onA}' 'CREATE TABLE t(writer INTEGER, n INTEGER, pad BLOB, PRIMARY KEY (writer, n));'");
        Assert.True(created.ExitCode == 0, created.Err);
        Task<Cli.Result> Writer(string db, int writer) => Cli.ShAsync("/",
            $"for n in $(seq {Rows}); do sqlite3 -cmd '.timeout 60000' '{db}' \"BEGIN IMMEDIATE; INSERT INTO t VALUES ({writer}, $n, randomblob(3000)); SELECT count(*) FROM t; COMMIT;\" > /dev/null || exit 1; done",
            TimeSpan.FromMinutes(5));
        var results = await Task.WhenAll(Writer(onA, 1), Writer(onB, 2), Writer(onA, 3), Writer(onB, 4));
        foreach (var r in results) Assert.True(r.ExitCode == 0, $"a writer failed: {r.Out}\n{r.Err}");
        foreach (var db in new[] { onA, onB })
        {
            var check = await Cli.ShAsync("/", $"sqlite3 '{db}' 'PRAGMA integrity_check; SELECT writer, count(*), min(n), max(n) FROM t GROUP BY writer;'");
            Assert.Equal($"ok\n1|{Rows}|1|{Rows}\n2|{Rows}|1|{Rows}\n3|{Rows}|1|{Rows}\n4|{Rows}|1|{Rows}\n", check.Out);
        }
    }
}
