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
    /// The provider paths a -Path (wildcards expanded) or -LiteralPath names, each with its provider and (for a literal
    /// path) drive. Provider paths are drive-qualified ("cassa:/a/b", see ProviderPath.DriveRoot), so a piped item's
    /// PSPath (CassaFS\CassaFS::cassa:/a/b) finds its drive.
    /// </summary>
    protected IEnumerable<(string Path, ProviderInfo Provider, PSDriveInfo? Drive)> ResolveProviderPaths(string path, bool literal)
    {
        if (literal)
        {
            var providerPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out var drive);
            return [(providerPath, provider, drive)];
        }
        var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out var resolvedProvider);
        return resolved.Select(p => (p, resolvedProvider, (PSDriveInfo?)null)).ToList();
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
    /// name, which must be on CassaFS drives; a failure is reported against its own path and the other paths still run.
    /// </summary>
    protected void ForEachPath(IEnumerable<string> paths, bool literal, Action<CassaDriveSession, string> action) =>
        ForEachProviderPath(paths, literal, (path, provider, drive) => action(SessionOf(path, provider, drive), path));

    /// <summary><see cref="ForEachPath"/> for items on any provider (Copy-CassaItem's sources may be on the local disk).</summary>
    protected void ForEachProviderPath(IEnumerable<string> paths, bool literal, Action<string, ProviderInfo, PSDriveInfo?> action)
    {
        foreach (var p in paths)
        {
            try
            {
                foreach (var (path, provider, drive) in ResolveProviderPaths(p, literal)) action(path, provider, drive);
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

    private bool Literal => ParameterSetName == "LiteralPath";

    /// <summary><see cref="CassaCmdlet.ForEachPath"/> over whichever of -Path and -LiteralPath was given.</summary>
    protected void ForEachGivenPath(Action<CassaDriveSession, string> action) => ForEachPath(Literal ? LiteralPath : Path, Literal, action);

    /// <summary><see cref="CassaCmdlet.ForEachProviderPath"/> over whichever of -Path and -LiteralPath was given.</summary>
    protected void ForEachGivenProviderPath(Action<string, ProviderInfo, PSDriveInfo?> action) => ForEachProviderPath(Literal ? LiteralPath : Path, Literal, action);
}
