using System.Globalization;
using System.Xml.Linq;

namespace CassaFS.TestHost;

/// <summary>The Pester module as NuGet restores it for this project, laid out where PowerShell looks for modules, and Pester's result file read back.</summary>
internal static class PesterModules
{
    public const string Version = "5.9.1";

    /// <summary>
    /// Copies the Pester package's tools/ folder (the module) to artifacts/psmodules/Pester/5.9.1 and returns the
    /// PSModulePath to run pwsh with: that folder first, then whatever the caller had.
    /// </summary>
    public static string LayOut(string root)
    {
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } custom
            ? custom
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var tools = Path.Combine(packages, "pester", Version, "tools");
        if (!File.Exists(Path.Combine(tools, "Pester.psd1")))
            throw new InvalidOperationException($"Pester {Version} is not in {tools}: it is restored with the test host (PackageDownload in tests/CassaFS.TestHost); run `dotnet restore tests/CassaFS.TestHost`.");
        var modules = Path.Combine(root, "artifacts", "psmodules");
        var target = Path.Combine(modules, "Pester", Version);
        if (!File.Exists(Path.Combine(target, "Pester.psd1")))
        {
            var staging = target + ".partial";
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            CopyTree(tools, staging);
            Directory.Move(staging, target);
        }
        var inherited = Environment.GetEnvironmentVariable("PSModulePath");
        return string.IsNullOrEmpty(inherited) ? modules : modules + Path.PathSeparator + inherited;
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from)) CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)));
    }

    /// <summary>Passed, failed and skipped from Pester's NUnit 2.5 result file (all zero when it was not written).</summary>
    public static (int Passed, int Failed, int Skipped) CountResults(string resultFile)
    {
        if (!File.Exists(resultFile)) return (0, 0, 0);
        var results = XDocument.Load(resultFile).Root;
        if (results is null) return (0, 0, 0);
        int Read(string name) => int.TryParse(results.Attribute(name)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
        var failed = Read("failures") + Read("errors") + Read("invalid");
        var skipped = Read("not-run") + Read("skipped") + Read("ignored") + Read("inconclusive");
        return (Read("total") - failed - skipped, failed, skipped);
    }
}
