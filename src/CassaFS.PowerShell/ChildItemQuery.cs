using System.Runtime.CompilerServices;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>
/// Get-ChildItem's choices, applied provider-side while the listing streams from Cassandra page by page:
/// -Recurse/-Depth, -Filter, -Include/-Exclude, -Force (names starting with '.'), -Directory/-File.
/// </summary>
public sealed record ChildItemQuery
{
    public bool Recurse { get; init; }
    /// <summary>Levels below the first to descend (0 = the directory's own children only); implies recursion. Null = no limit.</summary>
    public uint? Depth { get; init; }
    /// <summary>A wildcard on names, evaluated while listing (cheap: no stat for names it rejects).</summary>
    public string? Filter { get; init; }
    public IReadOnlyList<string> Include { get; init; } = [];
    public IReadOnlyList<string> Exclude { get; init; } = [];
    /// <summary>Show (and descend into) names starting with '.'.</summary>
    public bool Force { get; init; }
    public bool DirectoriesOnly { get; init; }
    public bool FilesOnly { get; init; }
    /// <summary>-Hidden: only names starting with '.' (and implies showing them).</summary>
    public bool HiddenOnly { get; init; }
    /// <summary>-ReadOnly: only items this user may not write.</summary>
    public bool ReadOnlyOnly { get; init; }
    /// <summary>-Attributes: an item is listed when this says yes to its attributes (as .NET gives them on Unix).</summary>
    public Func<FileAttributes, bool>? Attributes { get; init; }
    /// <summary>-FollowSymlink: recursion descends into directories that symbolic links point to (each directory once).</summary>
    public bool FollowSymlinks { get; init; }
    /// <summary>
    /// Every directory is listed whatever Filter, Include, Exclude and FilesOnly say (GetChildNames' ReturnAllContainers:
    /// PowerShell lists them to descend into them itself).
    /// </summary>
    public bool AllContainers { get; init; }

    /// <summary>
    /// The items below <paramref name="path"/> (or the item itself when it is not a directory), each with its lock
    /// state. Directories are listed depth-first in name order; symbolic links to directories are not followed.
    /// </summary>
    public async IAsyncEnumerable<ItemView> RunAsync(CassaDriveSession drive, string path, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        var fs = drive.FileSystem;
        var start = drive.Resolve(path);
        var inode = await fs.ResolveAsync(start, drive.Caller, true, ct).ConfigureAwait(false);
        var locks = await drive.FileLocks.SnapshotAsync(ct).ConfigureAwait(false);
        if (!inode.IsDirectory)
        {
            var self = await fs.ResolveAsync(start, drive.Caller, false, ct).ConfigureAwait(false);
            var view = ItemView.From(drive, start, self, locks.GetValueOrDefault(self.Id), linkTargetType: self.Type == FileType.Symlink ? inode.Type : null);
            if (Accepts(view)) yield return view;
            yield break;
        }
        var filter = Filter is null ? null : new Wildcard(Filter);
        var include = Include.Select(p => new Wildcard(p)).ToList();
        var exclude = Exclude.Select(p => new Wildcard(p)).ToList();
        var maxDepth = Depth ?? (Recurse ? uint.MaxValue : 0);

        var pending = new Stack<(Guid Id, string Path, string Relative, uint Level)>();
        pending.Push((inode.Id, start, "", 0));
        var visited = new HashSet<Guid> { inode.Id }; // -FollowSymlink enters each directory once, so a link loop ends
        while (pending.Count > 0)
        {
            var (dirId, dirPath, dirRelative, level) = pending.Pop();
            var subdirectories = new List<(Guid, string, string, uint)>();
            await foreach (var entry in fs.ReadDirectoryAsync(dirId, drive.Caller, null, ct).ConfigureAwait(false))
            {
                var hidden = entry.Name.StartsWith('.');
                if (!Force && !HiddenOnly && hidden) continue;
                var childPath = ProviderPath.Join(dirPath, entry.Name);
                var relative = dirRelative.Length == 0 ? entry.Name : dirRelative + "/" + entry.Name;
                if (entry.Type == FileType.Directory && level < maxDepth && visited.Add(entry.Inode)) subdirectories.Add((entry.Inode, childPath, relative, level + 1));
                // A link's target decides whether it is a directory (as .NET on Unix says), and with -FollowSymlink whether to descend.
                Inode? linked = null;
                if (entry.Type == FileType.Symlink)
                {
                    try
                    {
                        linked = await fs.ResolveAsync(childPath, drive.Caller, true, ct).ConfigureAwait(false);
                    }
                    catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.ELOOP or Errno.ENOTDIR or Errno.EACCES)
                    {
                        // a dangling link is a leaf
                    }
                    if (linked is { IsDirectory: true } && FollowSymlinks && level < maxDepth && visited.Add(linked.Id))
                        subdirectories.Add((linked.Id, childPath, relative, level + 1));
                }
                var isDirectory = entry.Type == FileType.Directory || linked is { IsDirectory: true };
                if (!(AllContainers && isDirectory))
                {
                    if (filter is not null && !filter.IsMatch(entry.Name)) continue;
                    if (include.Count > 0 && !include.Any(w => w.IsMatch(entry.Name))) continue;
                    if (exclude.Any(w => w.IsMatch(entry.Name))) continue;
                    if (FilesOnly && isDirectory) continue;
                }
                if (DirectoriesOnly && !isDirectory) continue;
                if (HiddenOnly && !hidden) continue;
                Inode child;
                try
                {
                    child = await fs.GetAttrAsync(entry.Inode, ct).ConfigureAwait(false);
                }
                catch (FileSystemException e) when (e.Errno == Errno.ENOENT)
                {
                    continue; // removed by another client between the listing and the stat
                }
                var item = ItemView.From(drive, childPath, child, locks.GetValueOrDefault(child.Id), relative, linked?.Type);
                if (AllContainers && isDirectory || AcceptsAttributes(item)) yield return item;
            }
            // Push in reverse so the stack pops them in name order.
            for (var i = subdirectories.Count - 1; i >= 0; i--) pending.Push(subdirectories[i]);
        }
    }

    private bool Accepts(ItemView item)
    {
        var name = item.Name;
        if (Filter is not null && !new Wildcard(Filter).IsMatch(name)) return false;
        if (Include.Count > 0 && !Include.Any(p => new Wildcard(p).IsMatch(name))) return false;
        if (Exclude.Any(p => new Wildcard(p).IsMatch(name))) return false;
        if (DirectoriesOnly && !item.IsDirectory) return false;
        if (FilesOnly && item.IsDirectory) return false;
        return AcceptsAttributes(item);
    }

    private bool AcceptsAttributes(ItemView item) =>
        (!ReadOnlyOnly || item.IsReadOnly) && (Attributes is null || Attributes(item.Attributes));
}
