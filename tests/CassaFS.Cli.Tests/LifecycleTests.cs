using System.Text.Json;
using CassaFS.Testing;

namespace CassaFS.Cli.Tests;

/// <summary>Mount daemons start, stop and die without leaving dead mounts, and the CLI says what happened.</summary>
[Collection("mounts")]
public sealed class LifecycleTests(MountFixture fixture)
{
    [Fact]
    public async Task Sigkill_of_the_daemon_leaves_no_dead_mount_point()
    {
        await using var daemon = await fixture.MountAnotherAsync("killed");
        await File.WriteAllTextAsync(Path.Combine(daemon.MountPoint, "before-kill.txt"), "x");
        daemon.Signal(Posix.SIGKILL);
        Assert.True(await daemon.ExitsWithinAsync(TimeSpan.FromSeconds(10)));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Posix.IsMounted(daemon.MountPoint) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(Posix.IsMounted(daemon.MountPoint), "auto_unmount did not remove the mount of a SIGKILLed daemon");
        // An ordinary directory again, not "Transport endpoint is not connected".
        Assert.Empty(Directory.GetFileSystemEntries(daemon.MountPoint));
        Assert.True(File.Exists(Path.Combine(fixture.MountA, "before-kill.txt")), "the closed file was in Cassandra before the kill");
    }

    [Fact]
    public async Task Sigterm_unmounts_cleanly_and_flushes_a_file_still_open_for_writing()
    {
        await using var daemon = await fixture.MountAnotherAsync("terminated");
        var data = new byte[3 * 1024 * 1024 + 123];
        Random.Shared.NextBytes(data);
        int fd = Posix.Open(Path.Combine(daemon.MountPoint, "open-at-sigterm.bin"), Posix.O_RDWR | Posix.O_CREAT);
        Assert.True(fd >= 0, $"open failed: errno {Posix.Errno}");
        try
        {
            Assert.Equal(data.Length, (int)Posix.Write(fd, data, data.Length));
            daemon.Signal(Posix.SIGTERM);
            Assert.True(await daemon.ExitsWithinAsync(TimeSpan.FromSeconds(60)), "the daemon did not exit after SIGTERM:\n" + daemon.Output);
        }
        finally
        {
            Posix.Close(fd);
        }
        Assert.Equal(0, daemon.Process.ExitCode);
        Assert.False(Posix.IsMounted(daemon.MountPoint));
        Assert.Contains("data flushed", daemon.Output, StringComparison.Ordinal);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(fixture.MountA, "open-at-sigterm.bin")));
    }

    [Fact]
    public async Task A_second_mount_on_a_busy_mount_point_fails_with_exit_code_4_and_says_why()
    {
        var r = await Cli.RunAsync(fixture.Environment, "mount", fixture.MountA);
        Assert.Equal(4, r.ExitCode);
        Assert.Contains($"{fixture.MountA} is busy", r.Err, StringComparison.Ordinal);
        Assert.True(Posix.IsMounted(fixture.MountA), "the first mount must stay");
    }

    [Fact]
    public async Task Background_mount_read_only_shows_in_status_refuses_writes_and_umount_stops_the_daemon()
    {
        var mountPoint = Path.Combine(fixture.Root, "background");
        Directory.CreateDirectory(mountPoint);
        var started = await Cli.RunAsync(fixture.Environment, "mount", mountPoint, "--background", "-o", "ro,attr_timeout=0.5");
        Assert.Equal(0, started.ExitCode);
        Assert.Equal($"MOUNTED {mountPoint}", started.Out.Trim());
        var daemon = 0;
        try
        {
            var status = await Cli.RunAsync(fixture.Environment, "status", "--json");
            using var doc = JsonDocument.Parse(status.ShouldSucceed("cassafs status").Out);
            var entry = doc.RootElement.EnumerateArray().Single(e => e.GetProperty("mountPoint").GetString() == mountPoint);
            Assert.True(entry.GetProperty("mounted").GetBoolean());
            Assert.True(entry.GetProperty("daemonAlive").GetBoolean());
            Assert.Equal(fixture.Keyspace, entry.GetProperty("state").GetProperty("keyspace").GetString());
            Assert.True(entry.GetProperty("state").GetProperty("readOnly").GetBoolean());
            daemon = entry.GetProperty("state").GetProperty("pid").GetInt32();

            var write = await Cli.ShAsync(mountPoint, "echo x > refused.txt");
            Assert.NotEqual(0, write.ExitCode);
            Assert.Contains("Read-only file system", write.Err, StringComparison.Ordinal);
        }
        finally
        {
            var stopped = await Cli.RunAsync(fixture.Environment, "umount", mountPoint);
            Assert.Equal(0, stopped.ExitCode);
        }
        Assert.False(Posix.IsMounted(mountPoint));
        // Issue 13 §4: umount returned while the daemon was still running (gone a few seconds later).
        Assert.False(MountRegistry.ProcessAlive(daemon), $"the daemon (pid {daemon}) still runs after umount returned");
        var after = await Cli.RunAsync(fixture.Environment, "status");
        Assert.DoesNotContain(mountPoint, after.ShouldSucceed("cassafs status").Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_background_daemon_started_with_password_does_not_show_it_in_its_command_line()
    {
        // Issue 16 §5: ps showed --password for the whole mount. (The local servers do not ask for a password; the daemon
        // holds it all the same.)
        var mountPoint = Path.Combine(fixture.Root, "secret");
        Directory.CreateDirectory(mountPoint);
        var started = await Cli.RunAsync(fixture.Environment, "mount", mountPoint, "--background", "--user", "alice", "--password", "s3cret-pw");
        Assert.Equal(0, started.ExitCode);
        try
        {
            var pid = int.Parse(System.Text.RegularExpressions.Regex.Match(started.Err, @"daemon pid (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var argv = (await File.ReadAllTextAsync($"/proc/{pid}/cmdline")).Replace('\0', ' ');
            Assert.Contains(mountPoint, argv, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret-pw", argv, StringComparison.Ordinal);
            Assert.DoesNotContain("--password", argv, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret-pw", started.Out + started.Err, StringComparison.Ordinal);
        }
        finally
        {
            Assert.Equal(0, (await Cli.RunAsync(fixture.Environment, "umount", mountPoint)).ExitCode);
        }
    }

    [Fact]
    public async Task Mount_on_a_regular_file_says_it_is_a_file()
    {
        var file = Path.Combine(fixture.Root, "not-a-directory");
        await File.WriteAllTextAsync(file, "x");
        var r = await Cli.RunAsync(fixture.Environment, "mount", file);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("is a file, not a directory", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Destroy_removes_a_filesystem_after_confirmation_and_refuses_a_mounted_or_missing_one()
    {
        var env = new Dictionary<string, string>(fixture.Environment) { ["CASSAFS_KEYSPACE"] = TestNames.Keyspace("destroy") };
        (await Cli.RunAsync(env, "format")).ShouldSucceed("cassafs format");
        // Not at a terminal and no --force: nothing happens.
        var unconfirmed = await Cli.RunAsync(env, "destroy");
        Assert.Equal(1, unconfirmed.ExitCode);
        Assert.Contains("needs confirmation", unconfirmed.Err, StringComparison.Ordinal);
        Assert.Equal(0, (await Cli.RunAsync(env, "stat", "/")).ExitCode);
        // The fixture's own filesystem is mounted here (A and B): refused.
        var mounted = await Cli.RunAsync(fixture.Environment, "destroy", "--force");
        Assert.Equal(1, mounted.ExitCode);
        Assert.Contains("unmount it first", mounted.Err, StringComparison.Ordinal);

        var destroyed = await Cli.RunAsync(env, "destroy", "--force");
        Assert.Equal(0, destroyed.ExitCode);
        Assert.Contains("destroyed", destroyed.Out, StringComparison.Ordinal);
        var again = await Cli.RunAsync(env, "destroy", "--force");
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("holds no CassaFS filesystem; nothing was removed", again.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_cassandra_exits_with_code_2_naming_the_host_tried()
    {
        var r = await Cli.RunAsync(fixture.Environment, "stat", "/", "--contact-points", "127.0.0.1:1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("127.0.0.1:1", r.Err, StringComparison.Ordinal);
        Assert.Contains("Check that Cassandra runs", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_usage_exits_with_code_1()
    {
        Assert.Equal(1, (await Cli.RunAsync(fixture.Environment, "mount")).ExitCode);
        var badOption = await Cli.RunAsync(fixture.Environment, "mount", fixture.Root, "-o", "no_such_option");
        Assert.Equal(1, badOption.ExitCode);
        Assert.Contains("unknown mount option 'no_such_option'", badOption.Err, StringComparison.Ordinal);
        var help = await Cli.RunAsync(fixture.Environment, "locks", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("break", help.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stat_of_a_missing_path_exits_with_code_3_and_the_errno_name_and_stat_shows_a_written_file()
    {
        var missing = await Cli.RunAsync(fixture.Environment, "stat", "/no/such/file");
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("ENOENT", missing.Err, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(fixture.MountA, "stat-me.txt"), "12345");
        var shown = await Cli.RunAsync(fixture.Environment, "stat", "/stat-me.txt");
        Assert.Contains("Size: 5", shown.ShouldSucceed("cassafs stat").Out, StringComparison.Ordinal);
        Assert.Contains("Type: Regular", shown.Out, StringComparison.Ordinal);
    }
}
