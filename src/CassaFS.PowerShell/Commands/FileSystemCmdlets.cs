using System.Management.Automation;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>Initialize-CassaFileSystem: formats a keyspace as a new, empty CassaFS filesystem.</summary>
[Cmdlet(VerbsData.Initialize, "CassaFileSystem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Servers")]
public sealed class InitializeCassaFileSystemCommand : ServerCmdlet
{
    [Parameter]
    [ValidateRange(1, 32)]
    public int ReplicationFactor { get; set; } = 1;

    [Parameter]
    public int BlockSize { get; set; } = FormatOptions.DefaultBlockSize;

    /// <summary>Replace an existing filesystem in the keyspace: its data is lost.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            var servers = Servers();
            if (!ShouldProcess($"keyspace {servers.Keyspace} on {string.Join(",", servers.ContactPoints)}", Force ? "Format (destroying what is there)" : "Format")) return;
            var options = new FormatOptions
            {
                Keyspace = servers.Keyspace,
                ReplicationFactor = ReplicationFactor,
                BlockSize = BlockSize,
                Force = Force,
                RootUid = ProcessIdentity.Current().Uid,
                RootGid = ProcessIdentity.Current().Gid,
            };
            StopToken.Wait(async ct => { await FileSystemAdmin.FormatAsync(servers, options, ct).ConfigureAwait(false); return true; });
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteFailure(e, Keyspace);
        }
    }
}

/// <summary>Remove-CassaFileSystem: drops a filesystem's keyspace with all its data (confirms unless -Force).</summary>
[Cmdlet(VerbsCommon.Remove, "CassaFileSystem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Servers")]
public sealed class RemoveCassaFileSystemCommand : ServerCmdlet
{
    /// <summary>Do not ask for confirmation (-WhatIf still wins).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            var servers = Servers();
            var target = $"filesystem {servers.Keyspace} on {string.Join(",", servers.ContactPoints)} (every file in it)";
            var inUse = SessionState.Drive.GetAllForProvider("CassaFS").OfType<CassaDriveInfo>()
                .Where(d => string.Equals(d.Keyspace, servers.Keyspace, StringComparison.OrdinalIgnoreCase)).Select(d => d.Name + ":").ToList();
            if (inUse.Count > 0)
                throw new ArgumentException($"{servers.Keyspace} is in use by drive {string.Join(", ", inUse)}; Remove-PSDrive it first.");
            var confirmed = Force && !MyInvocation.BoundParameters.ContainsKey("WhatIf") ? true : ShouldProcess(target, "Remove (its data is lost)");
            if (!confirmed) return;
            StopToken.Wait(ct => FileSystemAdmin.DestroyAsync(servers, ct));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteFailure(e, Keyspace);
        }
    }
}

/// <summary>Test-CassaFileSystem: fsck without repairing; returns the report.</summary>
[Cmdlet(VerbsDiagnostic.Test, "CassaFileSystem")]
[OutputType(typeof(FsckReport))]
public sealed class TestCassaFileSystemCommand : CassaCmdlet
{
    [Parameter(Position = 0)]
    public string? Drive { get; set; }

    protected override void ProcessRecord() => FsckRunner.Run(this, DriveNamed(Drive), repair: false, StopToken);
}

/// <summary>Repair-CassaFileSystem: fsck that repairs what it finds.</summary>
[Cmdlet(VerbsDiagnostic.Repair, "CassaFileSystem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(FsckReport))]
public sealed class RepairCassaFileSystemCommand : CassaCmdlet
{
    [Parameter(Position = 0)]
    public string? Drive { get; set; }

    protected override void ProcessRecord()
    {
        var drive = DriveNamed(Drive);
        if (ShouldProcess($"keyspace {drive.Parameters.Servers.Keyspace}", "Repair")) FsckRunner.Run(this, drive, repair: true, StopToken);
    }
}

internal static class FsckRunner
{
    public static void Run(CassaCmdlet cmdlet, CassaDriveSession drive, bool repair, CancellationToken stop)
    {
        try
        {
            var record = new ProgressRecord(2, repair ? "Repair-CassaFileSystem" : "Test-CassaFileSystem", "Checking");
            var report = stop.WithUpdates<FsckReport, string>(
                (report, ct) => FileSystemAdmin.CheckAsync(drive, repair, report, ct: ct),
                line =>
                {
                    record.StatusDescription = line;
                    cmdlet.WriteProgress(record);
                });
            cmdlet.WriteObject(report);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            cmdlet.WriteError(Errors.Record(e, drive.Parameters.Servers.Keyspace));
        }
    }
}

/// <summary>Get-CassaFileSystem: size, usage, file count (statfs) and stored settings of a drive's filesystem.</summary>
[Cmdlet(VerbsCommon.Get, "CassaFileSystem")]
[OutputType(typeof(FileSystemView))]
public sealed class GetCassaFileSystemCommand : CassaCmdlet
{
    [Parameter(Position = 0)]
    public string? Drive { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            var drive = DriveNamed(Drive);
            WriteObject(StopToken.Wait(ct => FileSystemAdmin.DescribeAsync(drive, ct)));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteFailure(e, Drive);
        }
    }
}
