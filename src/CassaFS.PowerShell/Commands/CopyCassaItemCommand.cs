using System.Management.Automation;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>
/// Copy-CassaItem: copies files, links and (with -Recurse) trees between the local disk and a cassa: drive, either way
/// (or between two cassa: drives), which Copy-Item refuses across providers. Keeps permission bits and times, copies
/// links as links, streams with Write-Progress, and takes each cassa: file's lock (shared to read, write to write).
/// </summary>
[Cmdlet(VerbsCommon.Copy, "CassaItem", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(PSObject))]
public sealed class CopyCassaItemCommand : PathCmdlet
{
    // -Path and -LiteralPath come from PathCmdlet; unlike the other path cmdlets, either side may be the local disk.

    [Parameter(Position = 1, Mandatory = true)]
    public string Destination { get; set; } = "";

    [Parameter]
    public SwitchParameter Recurse { get; set; }

    /// <summary>Overwrite existing files and links at the destination.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>How long to wait for a cassa: file's lock (default: the drive's -LockTimeoutSeconds).</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public double? LockTimeoutSeconds { get; set; }

    /// <summary>Write the copied top-level item.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord() => ForEachGivenProviderPath((from, provider, drive) => CopyOne(from, Side(provider, drive, from)));

    private void CopyOne(string from, ICopySide source)
    {
        var to = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination, out var provider, out var drive);
        var destination = Side(provider, drive, to);
        var copy = new TreeCopy(source, destination) { Recurse = Recurse, Overwrite = Force };
        var target = StopToken.Wait(ct => copy.TargetAsync(from, to, ct));
        if (!ShouldProcess($"Item: {from} Destination: {target}", "Copy-CassaItem")) return;
        var record = new ProgressRecord(3, "Copy-CassaItem", $"Copying {from} to {target}");
        StopToken.WithUpdates<bool, CopyProgress>(
            async (report, ct) =>
            {
                await copy.CopyAsync(from, target, report, ct).ConfigureAwait(false);
                return true;
            },
            p =>
            {
                record.CurrentOperation = $"{p.Source} -> {p.Destination}";
                record.StatusDescription = $"{p.FilesDone} of {p.FilesTotal} files, {p.BytesDone:N0} of {p.BytesTotal:N0} bytes";
                record.PercentComplete = p.BytesTotal > 0 ? (int)(100 * p.BytesDone / p.BytesTotal) : 100;
                WriteProgress(record);
            });
        record.RecordType = ProgressRecordType.Completed;
        WriteProgress(record);
        if (PassThru) WriteObject(InvokeProvider.Item.Get([ProviderQualified(provider, target)], false, true), true);
    }

    private static string ProviderQualified(ProviderInfo provider, string providerPath) => $"{provider.ModuleName}\\{provider.Name}::{providerPath}".TrimStart('\\');

    /// <summary>The side a provider path is on: the local disk (the FileSystem provider) or a cassa: drive.</summary>
    private ICopySide Side(ProviderInfo provider, PSDriveInfo? drive, string providerPath) => provider.Name switch
    {
        "FileSystem" => new LocalCopySide(),
        "CassaFS" => new CassaCopySide(CassaDrives.Holding(SessionState, drive, providerPath).Session, LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null),
        _ => throw new ArgumentException($"'{providerPath}' is on the {provider.Name} provider; Copy-CassaItem copies between the local disk (FileSystem) and CassaFS drives."),
    };
}
