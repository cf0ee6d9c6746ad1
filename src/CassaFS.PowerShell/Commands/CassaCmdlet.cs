using System.Management.Automation;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>What the CassaFS cmdlets share: finding the cassa: drive of a path, and reporting failures as ErrorRecords.</summary>
public abstract class CassaCmdlet : PSCmdlet
{
    /// <summary>The drive and filesystem paths a -Path (wildcards expanded) or -LiteralPath names.</summary>
    protected IEnumerable<(CassaDriveSession Drive, string Path)> ResolvePaths(string path, bool literal)
    {
        if (literal)
        {
            var providerPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out var drive);
            yield return (SessionOf(drive ?? DriveHolding(providerPath, provider), provider, path), providerPath);
            yield break;
        }
        var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out var resolvedProvider);
        var driveInfo = SessionState.Path.GetResolvedPSPathFromPSPath(path).FirstOrDefault()?.Drive;
        foreach (var p in resolved) yield return (SessionOf(driveInfo ?? DriveHolding(p, resolvedProvider), resolvedProvider, path), p);
    }

    /// <summary>
    /// A provider-qualified path (CassaFS\CassaFS::/a/b, the PSPath of piped items) names no drive: take the cassa: drive
    /// whose root holds it, the deepest root first.
    /// </summary>
    private PSDriveInfo? DriveHolding(string providerPath, ProviderInfo? provider)
    {
        if (provider is null || provider.Name != "CassaFS") return null;
        var current = SessionState.Path.CurrentLocation.Drive;
        if (current is CassaDriveInfo && ProviderPath.IsWithin(providerPath, current.Root)) return current;
        return SessionState.Drive.GetAllForProvider("CassaFS")
            .Where(d => d is CassaDriveInfo && ProviderPath.IsWithin(providerPath, d.Root))
            .OrderByDescending(d => ProviderPath.Normalize(d.Root).Length)
            .FirstOrDefault();
    }

    /// <summary>The drive named, or the current location's drive.</summary>
    protected CassaDriveSession DriveNamed(string? name)
    {
        var drive = string.IsNullOrEmpty(name) ? SessionState.Path.CurrentLocation.Drive : SessionState.Drive.Get(name.TrimEnd(':'));
        return SessionOf(drive, drive?.Provider, name ?? SessionState.Path.CurrentLocation.Path);
    }

    private static CassaDriveSession SessionOf(PSDriveInfo? drive, ProviderInfo? provider, string path) =>
        drive is CassaDriveInfo cassa
            ? cassa.Session
            : throw new ArgumentException($"'{path}' is not on a CassaFS drive (provider {provider?.Name ?? "none"}); create one with New-PSDrive -PSProvider CassaFS, or pass -Drive.");

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
