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

    /// <summary>The path relative to a root, with '/' ("" for the root itself).</summary>
    public static string Relative(string path, string root)
    {
        var p = Normalize(path);
        var r = Normalize(root);
        if (r == "/") return p.TrimStart('/');
        return p == r ? "" : p.StartsWith(r + "/", StringComparison.Ordinal) ? p[(r.Length + 1)..] : p;
    }
}
