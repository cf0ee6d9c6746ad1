using System.Diagnostics;
using CassaFS.Fuse;

namespace CassaFS.Fuse.Tests;

/// <summary>Mount and unmount paths, each on its own mount point.</summary>
public sealed class MountLifecycleTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cassafs-fuse-life-").FullName;

    public void Dispose()
    {
        if (Posix.IsMounted(_root))
        {
            Posix.Run("umount", "-l", _root);
        }
        Directory.Delete(_root);
    }

    [Fact]
    public async Task Disposing_the_mount_unmounts_it_and_destroys_the_session()
    {
        var fs = new MemoryFileSystem();
        var mount = await FuseMount.MountAsync(_root, fs);
        File.WriteAllText(Path.Combine(_root, "f"), "data");
        Assert.True(Posix.IsMounted(_root));

        await mount.DisposeAsync();

        Assert.False(Posix.IsMounted(_root));
        Assert.Equal(0, await mount.Completion);
        Assert.True(fs.Unmounted);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
        await mount.UnmountAsync(); // a second unmount is a no-op
    }

    [Fact]
    public async Task Mounting_on_a_directory_that_is_already_a_mount_point_fails_with_a_clear_error()
    {
        await using var first = await FuseMount.MountAsync(_root, new MemoryFileSystem());

        var ex = await Assert.ThrowsAsync<FuseMountException>(() => FuseMount.MountAsync(_root, new MemoryFileSystem()));

        Assert.Contains("already a mount point", ex.Message, StringComparison.Ordinal);
        Assert.Contains("fuse.cassafs", ex.Message, StringComparison.Ordinal);
        Assert.Equal(_root, ex.MountPoint);
        Assert.Equal(1, File.ReadLines("/proc/self/mountinfo").Count(l => l.Split(' ')[4] == _root));
    }

    [Fact]
    public async Task Mounting_on_a_missing_directory_fails_with_a_clear_error()
    {
        string missing = Path.Combine(_root, "not-there");
        var ex = await Assert.ThrowsAsync<FuseMountException>(() => FuseMount.MountAsync(missing, new MemoryFileSystem()));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_read_only_mount_refuses_writes_with_EROFS()
    {
        await using var mount = await FuseMount.MountAsync(_root, new MemoryFileSystem(), new FuseMountOptions { ReadOnly = true });

        Assert.Equal(-1, Posix.Open(Path.Combine(_root, "new"), Posix.O_WRONLY | Posix.O_CREAT, 0x1A4));
        Assert.Equal((int)Errno.EROFS, Posix.Errno);
        Assert.Equal(-1, Posix.MkDir(Path.Combine(_root, "dir"), 0x1ED));
        Assert.Equal((int)Errno.EROFS, Posix.Errno);
        Assert.Contains(" ro,", File.ReadLines("/proc/mounts").Single(l => l.Split(' ')[1] == _root), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(60, 0)]
    public async Task Entry_and_attribute_timeouts_decide_how_often_the_kernel_asks_again(int timeoutSeconds, int expectedLookups)
    {
        var fs = new MemoryFileSystem();
        var timeout = TimeSpan.FromSeconds(timeoutSeconds);
        await using var mount = await FuseMount.MountAsync(_root, fs, new FuseMountOptions { EntryTimeout = timeout, AttributeTimeout = timeout });
        File.WriteAllText(Path.Combine(_root, "cached"), "x");
        await Task.Delay(50);
        int before = fs.Lookups;

        for (int i = 0; i < 5; i++)
        {
            Posix.Ok("stat", Path.Combine(_root, "cached"));
        }

        // The create reply already handed the kernel the entry: with long timeouts it never asks again.
        Assert.Equal(expectedLookups, fs.Lookups - before);
    }

    [Fact]
    public async Task Invalidations_make_the_kernel_see_changes_made_behind_its_back()
    {
        var fs = new MemoryFileSystem();
        var longCache = TimeSpan.FromSeconds(60);
        var mount = await FuseMount.MountAsync(_root, fs, new FuseMountOptions { EntryTimeout = longCache, AttributeTimeout = longCache });
        string file = Path.Combine(_root, "changed-elsewhere");
        File.WriteAllText(file, "1");
        ulong ino = ulong.Parse(Posix.Ok("stat", "-c", "%i", file).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        // The close's asynchronous RELEASE can make the kernel drop a getattr answer it got meanwhile:
        // stat until an answer comes from the kernel's cache.
        for (int i = 0; i < 20; i++)
        {
            int before = fs.GetAttributesCalls;
            Posix.Ok("stat", file);
            if (fs.GetAttributesCalls == before)
            {
                break;
            }
            await Task.Delay(20);
        }

        fs.ReplaceContentBehindTheKernel(ino, "0123456789"u8);
        Assert.Equal("1", Posix.Ok("stat", "-c", "%s", file).Trim());
        Assert.Equal(Errno.Success, mount.InvalidateAttributes(ino));
        Assert.Equal("10", Posix.Ok("stat", "-c", "%s", file).Trim());
        Assert.Equal(Errno.Success, mount.InvalidateData(ino));
        Assert.Equal("0123456789", File.ReadAllText(file));

        fs.RemoveBehindTheKernel(FuseFileSystem.RootIno, "changed-elsewhere");
        Assert.Equal(0, Posix.Run("stat", file).Exit);
        Assert.Equal(Errno.Success, mount.InvalidateEntry(FuseFileSystem.RootIno, "changed-elsewhere"));
        Assert.NotEqual(0, Posix.Run("stat", file).Exit);

        File.WriteAllText(Path.Combine(_root, "deleted-elsewhere"), "x");
        ulong other = ulong.Parse(Posix.Ok("stat", "-c", "%i", Path.Combine(_root, "deleted-elsewhere")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        fs.RemoveBehindTheKernel(FuseFileSystem.RootIno, "deleted-elsewhere");
        Assert.Equal(Errno.Success, mount.NotifyDeleted(FuseFileSystem.RootIno, other, "deleted-elsewhere"));
        Assert.False(File.Exists(Path.Combine(_root, "deleted-elsewhere")));

        await mount.DisposeAsync();
        Assert.Equal(Errno.ENOTCONN, mount.InvalidateAttributes(ino));
    }

    [Fact]
    public async Task Unmount_completes_even_while_a_file_stays_open_in_the_mount()
    {
        var mount = await FuseMount.MountAsync(_root, new MemoryFileSystem(), new FuseMountOptions { UnmountTimeout = TimeSpan.FromMilliseconds(500) });
        File.WriteAllText(Path.Combine(_root, "held"), "open");
        int fd = Posix.Open(Path.Combine(_root, "held"), Posix.O_RDONLY, 0);
        Assert.True(fd >= 0);
        try
        {
            await mount.UnmountAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.False(Posix.IsMounted(_root));
        }
        finally
        {
            Posix.Close(fd);
        }
    }

    [Fact]
    public async Task An_external_umount_ends_the_session()
    {
        var fs = new MemoryFileSystem();
        var mount = await FuseMount.MountAsync(_root, fs);

        Posix.Ok("umount", _root);

        Assert.Equal(0, await mount.Completion.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(fs.Unmounted);
        await mount.DisposeAsync();
    }

    [Fact]
    public async Task Handlers_that_complete_later_do_not_hold_libfuse_worker_threads()
    {
        // Two workers at most, yet twelve lookups must be in the handler at the same time to finish early.
        // Each lookup goes to its own directory: libfuse 3.14 never enables parallel dirops, so the kernel
        // serialises lookups within one directory.
        var fs = new MemoryFileSystem { SlowLookupsToGather = 12 };
        await using var mount = await FuseMount.MountAsync(_root, fs, new FuseMountOptions { MaxThreads = 2 });
        for (int i = 0; i < 12; i++)
        {
            Directory.CreateDirectory(Path.Combine(_root, $"d{i}"));
        }

        var callers = Enumerable.Range(0, 12)
            .Select(i => new Thread(() => File.Exists(Path.Combine(_root, $"d{i}", "slow-lookup"))) { IsBackground = true })
            .ToList();
        callers.ForEach(t => t.Start());
        callers.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(30))));

        Assert.Equal(12, fs.SlowLookupsGathered);
    }
}

/// <summary>A separate daemon process (this test assembly in host mode) that mounts, then is killed or stopped.</summary>
[Collection(MountHostGroup.Name)]
public sealed class MountHostProcessTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cassafs-fuse-host-").FullName;

    public void Dispose()
    {
        if (Posix.IsMounted(_root))
        {
            Posix.Run("umount", "-l", _root);
        }
        Directory.Delete(_root);
    }

    private static Process StartHost(string mountPoint) => TestAssemblyProcess.Start(Program.HostVerb, mountPoint);

    private static async Task WaitForLine(Process host, string expected)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await host.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line == expected)
            {
                return;
            }
        }
        Assert.Fail($"the host exited (code {(host.HasExited ? host.ExitCode : -1)}) before saying {expected}: {await host.StandardError.ReadToEndAsync()}");
    }

    /// <summary>For a failure: the fusermount3 processes naming the mount point (the auto_unmount watcher), where each waits, and who holds /dev/fuse.</summary>
    private static string Watchers(string mountPoint)
    {
        var lines = new List<string>();
        foreach (var dir in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                var holdsFuse = Directory.GetFiles(Path.Combine(dir, "fd")).Any(fd => new FileInfo(fd).LinkTarget == "/dev/fuse");
                if (cmdline.Contains(mountPoint, StringComparison.Ordinal) || holdsFuse)
                    lines.Add($"pid {Path.GetFileName(dir)} [{cmdline}] wchan={File.ReadAllText(Path.Combine(dir, "wchan"))} holds /dev/fuse: {holdsFuse}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while being read.
            }
        }
        return lines.Count == 0 ? "no process names the mount point or holds /dev/fuse" : string.Join("; ", lines);
    }

    private static async Task<bool> Eventually(Func<bool> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }
            await Task.Delay(50);
        }
        return condition();
    }

    [Fact]
    public async Task A_host_killed_with_SIGKILL_leaves_no_dead_mount_behind()
    {
        using var host = StartHost(_root);
        await WaitForLine(host, Program.MountedLine);
        Assert.Equal("from host", File.ReadAllText(Path.Combine(_root, "hello")));

        Assert.Equal(0, Posix.Kill(host.Id, Posix.SIGKILL));
        await host.WaitForExitAsync();

        // fusermount3's auto_unmount watcher sees the daemon's end and detaches the mount. It is one more process to
        // schedule: on two cores running the whole suite, 10 s once proved too short.
        Assert.True(await Eventually(() => !Posix.IsMounted(_root), TimeSpan.FromSeconds(30)), $"the mount outlived its daemon by 30 s; {Watchers(_root)}");
        Assert.False(File.Exists(Path.Combine(_root, "hello")));
    }

    [Fact]
    public async Task A_host_sent_SIGTERM_unmounts_cleanly_and_exits_zero()
    {
        using var host = StartHost(_root);
        await WaitForLine(host, Program.MountedLine);

        Assert.Equal(0, Posix.Kill(host.Id, Posix.SIGTERM));
        await WaitForLine(host, Program.UnmountedLine);
        await host.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(0, host.ExitCode);
        Assert.False(Posix.IsMounted(_root));
    }
}

/// <summary>Starts this test assembly as a separate process in one of its <see cref="Program"/> modes.</summary>
internal static class TestAssemblyProcess
{
    public static Process Start(params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p ? p : "dotnet";
        var psi = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi)!;
    }

    public static (int Exit, string Out) Run(params string[] args)
    {
        using var p = Start(args);
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            throw new TimeoutException("the test assembly process did not finish in 30 s");
        }
        return (p.ExitCode, output.Trim());
    }
}

/// <summary>
/// Run one after another: with the soft-mount test's hung handler in this process at the same moment, the SIGKILL test's
/// fusermount3 watcher once failed to detach its mount within 30 s (1 of 3 full runs; never with either alone). Not yet
/// understood; kept apart until it is.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MountHostGroup
{
    public const string Name = "mount hosts and soft mounts";
}

/// <summary>A soft mount (<see cref="FuseMountOptions.OperationTimeout"/>) bounds every operation.</summary>
[Collection(MountHostGroup.Name)]
public sealed class SoftMountTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cassafs-fuse-soft-").FullName;

    public void Dispose()
    {
        if (Posix.IsMounted(_root)) Posix.Run("umount", "-l", _root);
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task A_soft_mount_answers_EIO_when_a_handler_outlives_the_timeout_and_goes_on_serving()
    {
        // Issue 16 §4: with quorum lost, ls on a mount did not answer in 20 s. A soft mount bounds every operation.
        var fs = new MemoryFileSystem();
        var reported = new List<Exception>();
        await using var mount = await FuseMount.MountAsync(_root, fs, new FuseMountOptions { OperationTimeout = TimeSpan.FromSeconds(2), OnHandlerError = e => { lock (reported) reported.Add(e); } });
        File.WriteAllText(Path.Combine(_root, "f"), "data");
        var clock = Stopwatch.StartNew();
        var stat = await Task.Run(() => Posix.Run("stat", Path.Combine(_root, "hang-until-released")));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"stat took {clock.Elapsed}");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5), $"answered before the timeout: {clock.Elapsed}");
        Assert.Contains("Input/output error", stat.Err, StringComparison.Ordinal);
        Assert.Equal("data", File.ReadAllText(Path.Combine(_root, "f")));
        lock (reported) Assert.Contains(reported, e => e is TimeoutException && e.Message.Contains("-o hard", StringComparison.Ordinal));
        fs.Hung.SetResult(); // the late answer is dropped, not sent twice
        await Task.Delay(200);
        Assert.Equal("data", File.ReadAllText(Path.Combine(_root, "f")));
    }
}
