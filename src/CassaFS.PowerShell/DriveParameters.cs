using CassaFS.Client;

namespace CassaFS.PowerShell;

/// <summary>What New-PSDrive -PSProvider CassaFS takes: the settings every face connects with, and the drive's own lock wait.</summary>
public sealed record DriveParameters
{
    /// <summary>The servers, the keyspace, the consistency and how to lock: the one record <see cref="FileSystemClient"/> takes.</summary>
    public ClientSettings Servers { get; init; } = new();

    /// <summary>How long a content writer or reader waits for another client's lock on the file.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public override string ToString() => Servers.ToString();
}
