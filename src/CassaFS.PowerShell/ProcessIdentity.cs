using System.Runtime.InteropServices;

namespace CassaFS.PowerShell;

/// <summary>The PowerShell process's uid, gid and supplementary groups: the caller every filesystem call is made as.</summary>
public static partial class ProcessIdentity
{
    [LibraryImport("libc", EntryPoint = "getuid")]
    private static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "getgid")]
    private static partial uint GetGid();

    [LibraryImport("libc", EntryPoint = "getgroups")]
    private static partial int GetGroups(int size, [Out] uint[]? list);

    /// <summary>This process as a filesystem caller.</summary>
    public static Caller Current()
    {
        var count = GetGroups(0, null);
        var groups = new uint[Math.Max(count, 0)];
        if (count > 0) count = GetGroups(groups.Length, groups);
        return new Caller((int)GetUid(), (int)GetGid(), groups.Take(Math.Max(count, 0)).Select(g => (int)g).ToArray());
    }
}
