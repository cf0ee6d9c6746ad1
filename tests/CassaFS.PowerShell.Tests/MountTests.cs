using System.Diagnostics;
using CassaFS.Locks;

namespace CassaFS.PowerShell.Tests;

/// <summary>Start-/Stop-/Get-CassaMount's logic against the real `cassafs` CLI built from this repository, mounting through FUSE.</summary>
[Collection("drive")]
public sealed class MountTests(DriveFixture fixture) : IDisposable
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("cassafs-ps-state-").FullName;

    private static string CliDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = AppContext.BaseDirectory.Contains("/bin/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CassaFS.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var dll = Path.Combine(dir.FullName, "src", "CassaFS.Cli", "bin", configuration, "net10.0", "cassafs-cli.dll");
        Assert.True(File.Exists(dll), $"the CLI should have been built with the tests: {dll}");
        return dll;
    }

    private MountControl Control() =>
        new(MountControl.LocateCli(CliDll(), null, _ => null), new Dictionary<string, string> { ["CASSAFS_STATE_DIR"] = _stateDir });

    [Fact]
    public void Mount_arguments_carry_every_server_parameter_but_never_the_password()
    {
        var args = MountControl.MountArguments(new MountRequest
        {
            MountPoint = "/mnt/x",
            Servers = new Client.ClientSettings
            {
                ContactPoints = ["10.0.0.1", "10.0.0.2:9043"],
                Port = 9142,
                Keyspace = "myfs",
                ZooKeeper = "zk1:2181/cassafs",
                Consistency = Cql.Consistency.LocalQuorum,
                LockMode = Client.LockMode.Lwt,
                UserName = "alice",
                Password = "s3cret",
            },
            Options = ["ro", "attr_timeout=1"],
        });
        Assert.Equal(
            ["mount", "/mnt/x", "--background", "--contact-points", "10.0.0.1,10.0.0.2:9043", "--port", "9142", "--keyspace", "myfs",
             "--zookeeper", "zk1:2181/cassafs", "--consistency", "localquorum", "--lock-mode", "lwt", "--user", "alice", "-o", "ro", "-o", "attr_timeout=1"],
            args);
        Assert.DoesNotContain("s3cret", args);
    }

    [Fact]
    public void The_CLI_is_found_from_the_parameter_the_environment_or_the_module_folder()
    {
        var module = Directory.CreateTempSubdirectory("cassafs-module-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(module, "cli"));
            var dll = Path.Combine(module, "cli", "cassafs-cli.dll");
            File.WriteAllText(dll, "");
            var found = MountControl.LocateCli(null, module, _ => null);
            Assert.Equal("dotnet", found.FileName);
            Assert.Equal([dll], found.PrefixArguments);
            var launcher = Path.Combine(module, "cli", "cassafs");
            File.WriteAllText(launcher, "");
            Assert.Equal(launcher, MountControl.LocateCli(null, module, _ => null).FileName);
            Assert.Equal(dll, MountControl.LocateCli(null, null, v => v == "CASSAFS_CLI" ? dll : null).PrefixArguments[0]);
            var e = Assert.Throws<MountException>(() => MountControl.LocateCli(Path.Combine(module, "nope"), module, _ => null));
            Assert.Contains("-CassaFsPath", e.Message, StringComparison.Ordinal);
            Assert.Throws<MountException>(() => MountControl.LocateCli(null, Path.Combine(module, "empty"), _ => ""));
        }
        finally
        {
            Directory.Delete(module, true);
        }
    }

    [Fact]
    public async Task Start_mount_waits_for_MOUNTED_with_progress_and_a_flock_on_the_mount_excludes_a_PowerShell_lock()
    {
        var mountPoint = Directory.CreateTempSubdirectory("cassafs-ps-mnt-").FullName;
        var control = Control();
        var progress = new List<string>();
        var mount = await control.StartAsync(new MountRequest { MountPoint = mountPoint, Servers = fixture.Parameters.Servers }, TimeSpan.FromSeconds(60), (s, _) => progress.Add(s));
        try
        {
            Assert.Equal(mountPoint, mount.MountPoint);
            Assert.True(mount.Mounted);
            Assert.Equal(fixture.Parameters.Servers.Keyspace, mount.Keyspace);
            Assert.Equal("zookeeper", mount.LockMode);
            Assert.NotNull(mount.ProcessId);
            Assert.Contains(progress, p => p.StartsWith("Mounted", StringComparison.Ordinal));
            Assert.Contains(await control.StatusAsync(), m => m.MountPoint == mountPoint && m.Status == "mounted");

            var dir = await fixture.NewDirectoryAsync();
            await using (var w = await ContentWriter.OpenAsync(fixture.Drive, $"{dir}/via-drive.txt")) await w.WriteAsync(new[] { "from PowerShell" });
            var onMount = Path.Combine(mountPoint, dir.TrimStart('/'), "via-drive.txt");
            Assert.Equal("from PowerShell\n", await File.ReadAllTextAsync(onMount));

            var handle = await new LockCommands(fixture.Drive).LockAsync($"{dir}/via-drive.txt", LockMode.Write, purpose: "PowerShell holds it");
            Assert.Equal(1, await FlockAsync(onMount));
            await LockCommands.UnlockAsync(handle);
            Assert.Equal(0, await FlockAsync(onMount));
        }
        finally
        {
            await control.StopAsync(mountPoint);
        }
        Assert.DoesNotContain(await control.StatusAsync(), m => m.MountPoint == mountPoint && m.Mounted);
        Directory.Delete(mountPoint);
    }

    [Fact]
    public async Task A_failed_mount_reports_the_CLI_s_message_and_exit_code()
    {
        var control = Control();
        var missing = Path.Combine(Path.GetTempPath(), "cassafs-no-such-dir-" + Guid.NewGuid().ToString("N"));
        var e = await Assert.ThrowsAsync<MountException>(() =>
            control.StartAsync(new MountRequest { MountPoint = missing, Servers = fixture.Parameters.Servers }, TimeSpan.FromSeconds(60)));
        Assert.Contains("exit code", e.Message, StringComparison.Ordinal);
        Assert.Equal(missing, e.MountPoint);
        var stop = await Assert.ThrowsAsync<MountException>(() => control.StopAsync(missing));
        Assert.Contains("umount", stop.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Status_json_parses_mounted_and_stale_entries()
    {
        const string json = """
            [{"mountPoint":"/mnt/a","source":"cassafs:fs1","mounted":true,"daemonAlive":true,
              "state":{"mountPoint":"/mnt/a","pid":42,"keyspace":"fs1","cassandra":"h:9042","zooKeeper":"z:2181","lockMode":"zookeeper","readOnly":true,"since":"2026-01-02T03:04:05+00:00"}},
             {"mountPoint":"/mnt/b","source":"","mounted":false,"daemonAlive":false,"state":null}]
            """;
        var mounts = MountControl.ParseStatus(json);
        Assert.Equal(2, mounts.Count);
        var a = mounts[0];
        Assert.Equal(
            ("/mnt/a", true, true, (int?)42, "fs1", "h:9042", "z:2181", "zookeeper", true, (DateTimeOffset?)DateTimeOffset.Parse("2026-01-02T03:04:05+00:00", System.Globalization.CultureInfo.InvariantCulture)),
            (a.MountPoint, a.Mounted, a.DaemonAlive, a.ProcessId, a.Keyspace, a.Cassandra, a.ZooKeeper, a.LockMode, a.ReadOnly, a.Since));
        Assert.Equal("stale", mounts[1].Status);
        Assert.Null(mounts[1].ProcessId);
    }

    [Fact]
    public void What_the_CLI_records_of_a_mount_is_what_Get_CassaMount_reads_back()
    {
        // One record on both sides: the daemon's MountState, printed by `cassafs status --json`, parsed by the module.
        var since = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var state = new Client.MountState { MountPoint = "/mnt/c", Pid = 7, Keyspace = "fs2", Cassandra = "h:9042, h2:9042", LockMode = "lwt", ReadOnly = true, Since = since };
        var json = Client.MountStatus.ToJson([new Client.MountStatus("/mnt/c", "cassafs:fs2", true, false, state), new Client.MountStatus("/mnt/d", "", false, false, null)]);
        var mounts = MountControl.ParseStatus(json);
        var c = mounts[0];
        Assert.Equal(("/mnt/c", true, false, (int?)7, "fs2", "h:9042, h2:9042", (string?)null, "lwt", true, (DateTimeOffset?)since, "mounted, daemon not found"),
            (c.MountPoint, c.Mounted, c.DaemonAlive, c.ProcessId, c.Keyspace, c.Cassandra, c.ZooKeeper, c.LockMode, c.ReadOnly, c.Since, c.Status));
        Assert.Equal(("stale", (string?)null), (mounts[1].Status, mounts[1].Keyspace));
    }

    private static async Task<int> FlockAsync(string file)
    {
        using var p = Process.Start(new ProcessStartInfo("flock", ["-n", file, "-c", "true"]) { RedirectStandardError = true })!;
        await p.WaitForExitAsync();
        return p.ExitCode;
    }

    public void Dispose() => Directory.Delete(_stateDir, true);
}
