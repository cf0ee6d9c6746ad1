using System.Management.Automation;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>What the CassaFS cmdlets share: finding the cassa: drive of a path, and reporting failures as ErrorRecords.</summary>
public abstract class CassaCmdlet : PSCmdlet
{
    private readonly StopSignal _stop = new();

    /// <summary>Cancelled when the command is stopped (Ctrl+C): every wait on the servers takes it.</summary>
    protected CancellationToken StopToken => _stop.Token(Stopping);

    protected override void StopProcessing() => _stop.Stop();

    /// <summary>
    /// The drive and provider paths a -Path (wildcards expanded) or -LiteralPath names. Provider paths are drive-qualified
    /// ("cassa:/a/b", see ProviderPath.DriveRoot), so a piped item's PSPath (CassaFS\CassaFS::cassa:/a/b) finds its drive.
    /// </summary>
    protected IEnumerable<(CassaDriveSession Drive, string Path)> ResolvePaths(string path, bool literal)
    {
        if (literal)
        {
            var providerPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out var drive);
            yield return (SessionOf(providerPath, provider, drive), providerPath);
            yield break;
        }
        var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out var resolvedProvider);
        foreach (var p in resolved) yield return (SessionOf(p, resolvedProvider, null), p);
    }

    private CassaDriveSession SessionOf(string providerPath, ProviderInfo? provider, PSDriveInfo? drive) =>
        provider is not null && provider.Name == "CassaFS"
            ? CassaDrives.Holding(SessionState, drive, providerPath).Session
            : throw new ArgumentException($"'{providerPath}' is not on a CassaFS drive (provider {provider?.Name ?? "none"}); create one with New-PSDrive -PSProvider CassaFS.");

    /// <summary>The drive named, or the current location's drive.</summary>
    protected CassaDriveSession DriveNamed(string? name)
    {
        var drive = string.IsNullOrEmpty(name) ? SessionState.Path.CurrentLocation.Drive : SessionState.Drive.Get(name.TrimEnd(':'));
        return drive is CassaDriveInfo cassa
            ? cassa.Session
            : throw new ArgumentException($"'{name ?? SessionState.Path.CurrentLocation.Path}' is not a CassaFS drive (provider {drive?.Provider?.Name ?? "none"}); create one with New-PSDrive -PSProvider CassaFS, or pass -Drive.");
    }

    /// <summary>Writes a non-terminating error for a failure of the logic classes.</summary>
    protected void WriteFailure(Exception exception, object? target) => WriteError(Errors.Record(exception, target));

    /// <summary>
    /// Runs <paramref name="action"/> on every item the given -Path (wildcards expanded) or -LiteralPath values
    /// name; a failure is reported against its own path and the other paths still run.
    /// </summary>
    protected void ForEachPath(IEnumerable<string> paths, bool literal, Action<CassaDriveSession, string> action)
    {
        foreach (var p in paths)
        {
            try
            {
                foreach (var (drive, path) in ResolvePaths(p, literal)) action(drive, path);
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteFailure(e, p);
            }
        }
    }
}

/// <summary>A CassaFS cmdlet that acts on items named by -Path (wildcards) or -LiteralPath.</summary>
public abstract class PathCmdlet : CassaCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    // By property name, so piped items bind their PSPath here rather than their string form (a bare filesystem path).
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = [];

    /// <summary><see cref="CassaCmdlet.ForEachPath"/> over whichever of -Path and -LiteralPath was given.</summary>
    protected void ForEachGivenPath(Action<CassaDriveSession, string> action)
    {
        var literal = ParameterSetName == "LiteralPath";
        ForEachPath(literal ? LiteralPath : Path, literal, action);
    }
}
