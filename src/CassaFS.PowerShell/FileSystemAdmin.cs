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
    public static async Task FormatAsync(DriveParameters parameters, FormatOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(options);
        await using var servers = await CassaDriveSession.OpenAsync(parameters with { LockMode = "local" }, "/", mount: false, ct: ct).ConfigureAwait(false);
        try
        {
            await Schema.FormatAsync(servers.Session, options, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            throw new FileSystemException(Errno.EEXIST, e.Subject, $"{e.Detail} (pass -Force)", e);
        }
    }

    /// <summary>Removes a filesystem (drops its keyspace); refuses a keyspace that holds none.</summary>
    public static async Task DestroyAsync(DriveParameters parameters, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        await using var servers = await CassaDriveSession.OpenAsync(parameters with { LockMode = "local" }, "/", mount: false, ct: ct).ConfigureAwait(false);
        await Schema.DestroyAsync(servers.Session, parameters.Keyspace, ct).ConfigureAwait(false);
    }

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
        return new FileSystemView(drive.Parameters.Keyspace, string.Join(",", drive.Parameters.ContactPoints), drive.Parameters.LockMode, stats, drive.FileSystem.Settings);
    }
}
