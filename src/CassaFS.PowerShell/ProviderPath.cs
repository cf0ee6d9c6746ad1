using System.Text.RegularExpressions;

namespace CassaFS.PowerShell;

/// <summary>
/// Paths as the provider sees them: "cassa:\a\b", "cassa:/a/b", "\a\b", "a/b", with "." and ".." resolved lexically
/// (as PowerShell does) and never above the root. The result is always an absolute filesystem path with '/'.
/// </summary>
public static partial class ProviderPath
{
    [GeneratedRegex(@"^[^/\\:]+:(?=[/\\]|$)")]
    private static partial Regex DriveQualifier();

    /// <summary>Whether the path starts with a drive name ("cassa:").</summary>
    public static bool IsDriveQualified(string path) => DriveQualifier().IsMatch(path);

    /// <summary>The path with drive qualifier removed, separators made '/', "." and ".." resolved: "/a/b".</summary>
    public static string Normalize(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var stripped = DriveQualifier().Replace(path, "", 1);
        var parts = new List<string>();
        foreach (var part in stripped.Split('/', '\\'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>
    /// A path against a drive root: a drive-qualified or relative path lies under <paramref name="root"/> (".." stops at
    /// the root); a path starting with a separator is already absolute in the filesystem (PowerShell hands the provider
    /// paths that begin with the drive's root).
    /// </summary>
    public static string Combine(string root, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!IsDriveQualified(path) && (path.StartsWith('/') || path.StartsWith('\\'))) return Normalize(path);
        var relative = Normalize(path);
        return relative == "/" ? Normalize(root) : Normalize(root) == "/" ? relative : Normalize(root) + relative;
    }

    /// <summary>The parent of an absolute path ("/" for "/a" and for "/").</summary>
    public static string Parent(string path)
    {
        var p = Normalize(path);
        var slash = p.LastIndexOf('/');
        return slash <= 0 ? "/" : p[..slash];
    }

    /// <summary>The last component ("" for the root).</summary>
    public static string Name(string path)
    {
        var p = Normalize(path);
        return p[(p.LastIndexOf('/') + 1)..];
    }

    /// <summary>A child path: "/a" + "b" = "/a/b".</summary>
    public static string Join(string parent, string child)
    {
        var p = Normalize(parent);
        return p == "/" ? "/" + child : p + "/" + child;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="ancestor"/> or lies below it.</summary>
    public static bool IsWithin(string path, string ancestor)
    {
        var p = Normalize(path);
        var a = Normalize(ancestor);
        return a == "/" || p == a || p.StartsWith(a + "/", StringComparison.Ordinal);
    }

    /// <summary>
    /// The root a cassa: drive gives PowerShell: its own name ("cassa:/"), so that every provider path is drive-qualified.
    /// PowerShell on Linux takes a path starting with '/' for the local filesystem (a new file's PathInfo in Set-Content,
    /// for one) and drops the drive from a piped item's PSPath; a "cassa:/..." provider path survives both.
    /// </summary>
    public static string DriveRoot(string driveName)
    {
        ArgumentException.ThrowIfNullOrEmpty(driveName);
        return driveName + ":/";
    }

    /// <summary>The drive a path names ("cassa" for "cassa:/a" or "cassa:"), null for a path without one.</summary>
    public static string? DriveNameOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var match = DriveQualifier().Match(path);
        return match.Success ? match.Value[..^1] : null;
    }

    /// <summary>
    /// The provider path of a filesystem path on a drive rooted at <paramref name="root"/>: "cassa:/rel" (relative to the
    /// root), or the filesystem path itself when it lies outside the root.
    /// </summary>
    public static string OnDrive(string driveName, string root, string fullPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(driveName);
        if (!IsWithin(fullPath, root)) return Normalize(fullPath);
        return DriveRoot(driveName) + Relative(fullPath, root);
    }

    /// <summary>
    /// NavigationCmdletProvider.MakePath: joins with '/', whichever separators the parts use; an empty part leaves the
    /// other as it is ("" + "a" = "a", "cassa:" + "a" = "cassa:/a").
    /// </summary>
    public static string MakePath(string? parent, string? child)
    {
        if (string.IsNullOrEmpty(parent)) return child ?? "";
        if (string.IsNullOrEmpty(child)) return parent;
        return parent.TrimEnd('/', '\\') + "/" + child.TrimStart('/', '\\');
    }

    /// <summary>
    /// NavigationCmdletProvider.GetParentPath: the parent in the path's own form ("cassa:/a/b" gives "cassa:/a", "cassa:/a"
    /// gives "cassa:/", "/a" gives "/", "a/b" gives "a"); "" at the top and at <paramref name="root"/>, which ends
    /// PowerShell's walk up a path.
    /// </summary>
    public static string ParentPath(string? path, string? root)
    {
        if (string.IsNullOrEmpty(path)) return "";
        var drive = DriveNameOf(path);
        var rest = (drive is null ? path : path[(drive.Length + 1)..]).Replace('\\', '/');
        var rooted = rest.StartsWith('/');
        var trimmed = rest.Trim('/');
        if (trimmed.Length == 0) return "";
        if (!string.IsNullOrEmpty(root) && Same(path, root)) return "";
        var cut = trimmed.LastIndexOf('/');
        var parent = cut < 0 ? "" : trimmed[..cut];
        if (drive is not null) return drive + ":/" + parent;
        return rooted ? "/" + parent : parent;
    }

    /// <summary>
    /// NavigationCmdletProvider.GetChildName: the last component, "" for a root ("cassa:/", "/"). A ".." that would climb
    /// above the root is "." (the root's parent is the root, as on the local disk): PowerShell resolves ".." itself by
    /// walking a path's components and refuses a path with more ".." than names (PathOutsideBasePath).
    /// </summary>
    public static string ChildName(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "";
        var drive = DriveNameOf(path);
        var rest = (drive is null ? path : path[(drive.Length + 1)..]).Replace('\\', '/').TrimEnd('/');
        var cut = rest.LastIndexOf('/');
        var name = rest[(cut + 1)..];
        var rooted = drive is not null || rest.StartsWith('/');
        return name == ".." && rooted && Depth(cut < 0 ? "" : rest[..cut]) == 0 ? "." : name;
    }

    /// <summary>How many names deep a path lies once its "." and ".." are applied, never above the root.</summary>
    private static int Depth(string path)
    {
        var depth = 0;
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            depth = part == ".." ? Math.Max(0, depth - 1) : depth + 1;
        }
        return depth;
    }

    // Lexical: "cassa:/d/.." is not the root here, however it resolves. PowerShell walks ".." itself, asking for the
    // parent of each form it meets, and takes "" for "above the drive's root" (PathOutsideBasePath).
    private static bool Same(string path, string root) =>
        string.Equals(Lexical(path), Lexical(root), StringComparison.OrdinalIgnoreCase) &&
        string.Equals(DriveNameOf(path), DriveNameOf(root), StringComparison.OrdinalIgnoreCase);

    private static string Lexical(string path)
    {
        var drive = DriveNameOf(path);
        var rest = (drive is null ? path : path[(drive.Length + 1)..]).Replace('\\', '/').TrimEnd('/');
        return rest.StartsWith('/') || drive is not null ? "/" + rest.TrimStart('/') : rest;
    }

    /// <summary>
    /// NavigationCmdletProvider.NormalizeRelativePath: <paramref name="path"/> relative to <paramref name="basePath"/>, with
    /// ".." where it lies outside ("" when they are the same); both may be drive-qualified.
    /// </summary>
    public static string RelativeTo(string path, string basePath)
    {
        var p = Normalize(path);
        var b = Normalize(string.IsNullOrEmpty(basePath) ? "/" : basePath);
        if (IsWithin(p, b)) return Relative(p, b);
        var from = b.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var to = p.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var common = 0;
        while (common < from.Length && common < to.Length && from[common] == to[common]) common++;
        return string.Join('/', Enumerable.Repeat("..", from.Length - common).Concat(to.Skip(common)));
    }

    /// <summary>The path relative to a root, with '/' ("" for the root itself).</summary>
    public static string Relative(string path, string root)
    {
        var p = Normalize(path);
        var r = Normalize(root);
        if (r == "/") return p.TrimStart('/');
        return p == r ? "" : p.StartsWith(r + "/", StringComparison.Ordinal) ? p[(r.Length + 1)..] : p;
    }
}
