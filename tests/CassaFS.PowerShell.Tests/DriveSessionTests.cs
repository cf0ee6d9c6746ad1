using CassaFS.Locks;
using CassaFS.Testing;

namespace CassaFS.PowerShell.Tests;

[Collection("drive")]
public sealed class DriveSessionTests(DriveFixture fixture)
{
    [Fact]
    public async Task A_drive_opens_with_every_parameter_and_its_lock_mode()
    {
        foreach (var mode in new[] { "lwt", "local" })
        {
            await using var drive = await CassaDriveSession.OpenAsync(fixture.With(s => s with
            {
                LockMode = Client.ClientSettings.ParseLockMode(mode),
                Consistency = Cql.Consistency.Quorum,
                ConnectTimeout = TimeSpan.FromSeconds(3),
            }) with { LockTimeout = TimeSpan.FromSeconds(2) });
            Assert.Equal(mode, drive.Locks.Name);
            Assert.Null(drive.ZooKeeper);
            Assert.Equal(Cql.Consistency.Quorum, drive.Session.Options.DefaultConsistency);
            var dir = await fixture.NewDirectoryAsync();
            await using (var w = await ContentWriter.OpenAsync(drive, $"{dir}/f")) await w.WriteAsync(new[] { mode });
            await using var r = await ContentReader.OpenAsync(fixture.Drive, $"{dir}/f");
            Assert.Equal(mode, (await r.ReadBlockAsync())[0]);
        }
        Assert.Equal("zookeeper", fixture.Drive.Locks.Name);
        Assert.NotNull(fixture.Drive.ZooKeeper);
    }

    [Fact]
    public async Task An_unreachable_Cassandra_is_named_with_what_to_check()
    {
        var e = await Assert.ThrowsAsync<CassaConnectionException>(() => CassaDriveSession.OpenAsync(fixture.With(s => s with
        {
            ContactPoints = ["127.0.0.1"],
            Port = 1,
            ConnectTimeout = TimeSpan.FromSeconds(2),
        })));
        Assert.Contains("127.0.0.1 (port 1)", e.Message, StringComparison.Ordinal);
        Assert.Contains("-ContactPoints", e.Message, StringComparison.Ordinal);
        Assert.Equal("ConnectionError", Failure.Of(e).Category);
    }

    [Fact]
    public async Task An_unreachable_ZooKeeper_is_named_and_lwt_is_suggested()
    {
        var e = await Assert.ThrowsAsync<CassaConnectionException>(() => CassaDriveSession.OpenAsync(fixture.With(s => s with
        {
            ZooKeeper = "127.0.0.1:1",
            ConnectTimeout = TimeSpan.FromSeconds(2),
        })));
        Assert.Equal("127.0.0.1:1", e.Server);
        Assert.Contains("ZooKeeper is unreachable at 127.0.0.1:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("-LockMode lwt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_keyspace_without_a_filesystem_says_to_initialize_one()
    {
        var e = await Assert.ThrowsAsync<CassaConnectionException>(() => CassaDriveSession.OpenAsync(fixture.With(s => s with
        {
            Keyspace = TestNames.Keyspace("nofs"),
            LockMode = Client.LockMode.Local,
        })));
        Assert.Contains("Initialize-CassaFileSystem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_root_that_is_missing_or_a_file_is_refused()
    {
        var dir = await fixture.NewDirectoryAsync();
        await new ItemOperations(fixture.Drive).NewAsync($"{dir}/file", ItemKind.File, "x");
        var notDir = await Assert.ThrowsAsync<FileSystemException>(() => CassaDriveSession.OpenAsync(fixture.WithLocalLocks(), $"{dir}/file"));
        Assert.Equal(Errno.ENOTDIR, notDir.Errno);
        var missing = await Assert.ThrowsAsync<FileSystemException>(() => CassaDriveSession.OpenAsync(fixture.WithLocalLocks(), $"{dir}/nowhere"));
        Assert.Equal(Errno.ENOENT, missing.Errno);
    }

    [Fact]
    public async Task Drives_share_a_filesystem_only_on_the_same_keyspace_and_cluster()
    {
        Assert.True(fixture.Drive.SharesFileSystemWith(fixture.Other));
        await using var elsewhere = await CassaDriveSession.OpenAsync(fixture.With(s => s with { Keyspace = s.Keyspace + "_other", LockMode = Client.LockMode.Local }), openFileSystem: false);
        Assert.False(fixture.Drive.SharesFileSystemWith(elsewhere));
        await using var sameByOtherName = await CassaDriveSession.OpenAsync(fixture.With(s => s with { ContactPoints = [.. s.ContactPoints.Select(c => c.ToUpperInvariant())], LockMode = Client.LockMode.Local }), openFileSystem: false);
        Assert.True(fixture.Drive.SharesFileSystemWith(sameByOtherName));
    }

    [Fact]
    public async Task Closing_a_drive_releases_its_zookeeper_session_and_so_its_locks()
    {
        var dir = await fixture.NewDirectoryAsync();
        await new ItemOperations(fixture.Drive).NewAsync($"{dir}/f", ItemKind.File, "x");
        var drive = await CassaDriveSession.OpenAsync(fixture.Parameters);
        await new LockCommands(drive).LockAsync($"{dir}/f", LockMode.Write, purpose: "left behind");
        await drive.DisposeAsync();
        await using var after = await new LockCommands(fixture.Drive).LockAsync($"{dir}/f", LockMode.Write, TimeSpan.FromSeconds(5));
        Assert.Equal(LockState.Held, after.State);
    }

    [Fact]
    public async Task Format_refuses_an_existing_filesystem_unless_forced_and_describe_reports_statfs()
    {
        var e = await Assert.ThrowsAsync<FileSystemException>(() => FileSystemAdmin.FormatAsync(fixture.Parameters.Servers, new FormatOptions { Keyspace = fixture.Parameters.Servers.Keyspace }));
        Assert.Equal("ResourceExists", Failure.Of(e).Category);
        var view = await FileSystemAdmin.DescribeAsync(fixture.Drive);
        Assert.Equal(fixture.Parameters.Servers.Keyspace, view.Keyspace);
        Assert.Equal(FormatOptions.DefaultBlockSize, view.BlockSize);
        Assert.True(view.Files >= 1);
        Assert.True(view.Settings.ContainsKey("schema_version"));
    }

    [Fact]
    public async Task Test_filesystem_reports_a_clean_filesystem_and_progress()
    {
        var lines = new List<string>();
        var report = await FileSystemAdmin.CheckAsync(fixture.Drive, repair: false, lines.Add);
        Assert.True(report.Inodes >= 1);
        Assert.DoesNotContain(report.Problems, p => p.Repaired);
    }

    [Fact]
    public void The_process_identity_is_this_process_s_uid_and_gid()
    {
        var me = ProcessIdentity.Current();
        var status = File.ReadAllLines("/proc/self/status");
        var uid = int.Parse(status.First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        var gid = int.Parse(status.First(l => l.StartsWith("Gid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(uid, me.Uid);
        Assert.Equal(gid, me.Gid);
    }
}
