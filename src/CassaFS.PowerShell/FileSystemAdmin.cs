using CassaFS.Client;

namespace CassaFS.PowerShell;

/// <summary>Get-CassaFileSystem's answer: statfs figures and the filesystem's stored settings.</summary>
public sealed record FileSystemView(string Keyspace, string Cassandra, string LockMode, FileSystemStats Stats, IReadOnlyDictionary<string, string> Settings)
{
    public long SizeBytes => Stats.TotalBlocks * Stats.BlockSize;
    public long UsedBytes => Stats.UsedBlocks * Stats.BlockSize;
    public long FreeBytes => Stats.FreeBlocks * Stats.BlockSize;
    public long Files => Stats.Files;
    public int BlockSize => Stats.BlockSize;
}

/// <summary>Initialize-CassaFileSystem (format), Test-/Repair-CassaFileSystem (fsck), Get-CassaFileSystem (statfs).</summary>
public static class FileSystemAdmin
{
    /// <summary>Formats a keyspace: refuses an existing filesystem or foreign keyspace unless <see cref="FormatOptions.Force"/>.</summary>
    public static async Task FormatAsync(ClientSettings servers, FormatOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(servers);
        ArgumentNullException.ThrowIfNull(options);
        await using var session = await OpenUnlockedAsync(servers, ct).ConfigureAwait(false);
        try
        {
            await session.FormatAsync(options, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            throw new FileSystemException(Errno.EEXIST, e.Subject, $"{e.Detail} (pass -Force)", e);
        }
    }

    /// <summary>Removes a filesystem (drops its keyspace); refuses a keyspace that holds none.</summary>
    public static async Task DestroyAsync(ClientSettings servers, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(servers);
        await using var session = await OpenUnlockedAsync(servers, ct).ConfigureAwait(false);
        await session.DestroyAsync(ct).ConfigureAwait(false);
    }

    // Formatting and destroying take no filesystem locks: a session without a lock service (and without a mount) will do.
    private static Task<CassaDriveSession> OpenUnlockedAsync(ClientSettings servers, CancellationToken ct) =>
        CassaDriveSession.OpenAsync(new DriveParameters { Servers = servers with { LockMode = LockMode.Local } }, "/", openFileSystem: false, ct: ct);

    /// <summary>Runs fsck on the drive's filesystem (dry run unless <paramref name="repair"/>), reporting progress lines.</summary>
    public static Task<FsckReport> CheckAsync(CassaDriveSession drive, bool repair, Action<string>? progress = null, TimeSpan? grace = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        return Fsck.RunAsync(drive.FileSystem, new FsckOptions { Repair = repair, Progress = progress, Grace = grace ?? TimeSpan.FromMinutes(5) }, ct);
    }

    /// <summary>statfs and settings of the drive's filesystem.</summary>
    public static async Task<FileSystemView> DescribeAsync(CassaDriveSession drive, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        var stats = await drive.FileSystem.StatFsAsync(ct).ConfigureAwait(false);
        var servers = drive.Parameters.Servers;
        return new FileSystemView(servers.Keyspace, string.Join(",", servers.ContactPoints), ClientSettings.Name(servers.LockMode), stats, drive.FileSystem.Settings);
    }
}
