using System.Management.Automation;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>Finding the cassafs CLI: -CassaFsPath, $env:CASSAFS_CLI, the module's cli/ folder, PATH.</summary>
public abstract class MountCmdlet : ServerCmdlet
{
    [Parameter]
    public string? CassaFsPath { get; set; }

    protected MountControl Control()
    {
        var bin = System.IO.Path.GetDirectoryName(typeof(MountControl).Assembly.Location);
        var moduleDirectory = bin is null ? null : System.IO.Path.GetDirectoryName(bin);
        return new MountControl(MountControl.LocateCli(CassaFsPath, moduleDirectory, Environment.GetEnvironmentVariable));
    }

    protected string FullPath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
}

/// <summary>Start-CassaMount: mounts the filesystem on a directory with `cassafs mount`, showing progress until it answers.</summary>
[Cmdlet(VerbsLifecycle.Start, "CassaMount", SupportsShouldProcess = true, DefaultParameterSetName = "Drive")]
[OutputType(typeof(MountView))]
public sealed class StartCassaMountCommand : MountCmdlet
{
    [Parameter(Position = 0, Mandatory = true)]
    public string MountPoint { get; set; } = "";

    /// <summary>Mount options (ro, attr_timeout=1, ...).</summary>
    [Parameter]
    public string[] Option { get; set; } = [];

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSeconds { get; set; } = 60;

    protected override void ProcessRecord()
    {
        try
        {
            var mountPoint = FullPath(MountPoint);
            if (!ShouldProcess(mountPoint, "Mount CassaFS")) return;
            var request = new MountRequest { MountPoint = mountPoint, Servers = Servers(), Options = Option };
            var control = Control();
            var record = new ProgressRecord(1, "Start-CassaMount", $"Mounting {request.Servers.Keyspace} on {mountPoint}");
            // Progress must be written from the pipeline thread: the callbacks queue it, WithUpdates writes it here.
            var mounted = StopToken.WithUpdates<MountView, string>(
                (report, ct) => control.StartAsync(request, TimeSpan.FromSeconds(TimeoutSeconds), (status, elapsed) => report($"{status} ({elapsed.TotalSeconds:F0} s)"), ct),
                status =>
                {
                    record.StatusDescription = status;
                    WriteProgress(record);
                });
            record.RecordType = ProgressRecordType.Completed;
            WriteProgress(record);
            WriteObject(mounted);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteFailure(e, MountPoint);
        }
    }
}

/// <summary>Stop-CassaMount: unmounts with `cassafs umount` (the daemon flushes and exits).</summary>
[Cmdlet(VerbsLifecycle.Stop, "CassaMount", SupportsShouldProcess = true)]
public sealed class StopCassaMountCommand : PSCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public string[] MountPoint { get; set; } = [];

    /// <summary>Detach at once even if files are open.</summary>
    [Parameter]
    public SwitchParameter Lazy { get; set; }

    [Parameter]
    public string? CassaFsPath { get; set; }

    protected override void ProcessRecord()
    {
        var bin = System.IO.Path.GetDirectoryName(typeof(MountControl).Assembly.Location);
        foreach (var m in MountPoint)
        {
            try
            {
                var full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(m);
                if (!ShouldProcess(full, "Unmount CassaFS")) continue;
                var control = new MountControl(MountControl.LocateCli(CassaFsPath, bin is null ? null : System.IO.Path.GetDirectoryName(bin), Environment.GetEnvironmentVariable));
                CancellationToken.None.Wait(async ct => { await control.StopAsync(full, Lazy, ct).ConfigureAwait(false); return true; });
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteError(Errors.Record(e, m));
            }
        }
    }
}

/// <summary>Get-CassaMount: CassaFS mounts on this machine (`cassafs status`).</summary>
[Cmdlet(VerbsCommon.Get, "CassaMount")]
[OutputType(typeof(MountView))]
public sealed class GetCassaMountCommand : PSCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    public string MountPoint { get; set; } = "*";

    [Parameter]
    public string? CassaFsPath { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            var bin = System.IO.Path.GetDirectoryName(typeof(MountControl).Assembly.Location);
            var control = new MountControl(MountControl.LocateCli(CassaFsPath, bin is null ? null : System.IO.Path.GetDirectoryName(bin), Environment.GetEnvironmentVariable));
            var pattern = new Wildcard(MountPoint);
            foreach (var m in CancellationToken.None.Wait(ct => control.StatusAsync(ct)))
                if (pattern.IsMatch(m.MountPoint)) WriteObject(m);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, MountPoint));
        }
    }
}
