namespace CassaFS;

public sealed partial class CassaFileSystem
{
    private const int MaxSymlinkFollows = 40;

    /// <summary>
    /// The inode a path names, from the root: "." and ".." as POSIX has them, symbolic links followed on the way
    /// (and at the end unless <paramref name="followLast"/> is false), ELOOP after 40 of them, ENOTDIR when a
    /// component before the last is not a directory, search permission checked on every directory passed.
    /// </summary>
    public async Task<Inode> ResolveAsync(string path, Caller caller, bool followLast = true, CancellationToken ct = default)
    {
        var follows = 0;
        return await WalkAsync(await LoadAsync(Inode.RootId, "/", ct).ConfigureAwait(false), path, caller, followLast, () => ++follows, ct).ConfigureAwait(false);
    }

    /// <summary>The directory a path's last component lives in, and that component (which need not exist).</summary>
    public async Task<(Inode Directory, string Name)> ResolveParentAsync(string path, Caller caller, CancellationToken ct = default)
    {
        var parts = Split(path);
        if (parts.Count == 0) throw new FileSystemException(Errno.EINVAL, path, "the root has no parent entry");
        var name = parts[^1];
        if (name is "." or "..") throw new FileSystemException(Errno.EINVAL, path, "the last component may not be '.' or '..'");
        var directory = await ResolveAsync("/" + string.Join('/', parts.Take(parts.Count - 1)), caller, true, ct).ConfigureAwait(false);
        if (!directory.IsDirectory) throw new FileSystemException(Errno.ENOTDIR, path);
        return (directory, Names.Entry(name));
    }

    private async Task<Inode> WalkAsync(Inode start, string path, Caller caller, bool followLast, Func<int> countFollow, CancellationToken ct)
    {
        var current = start;
        var parts = Split(path);
        for (var i = 0; i < parts.Count; i++)
        {
            if (!current.IsDirectory) throw new FileSystemException(Errno.ENOTDIR, path);
            var next = await LookupAsync(current.Id, parts[i], caller, ct).ConfigureAwait(false);
            var isLast = i == parts.Count - 1;
            if (next.Type == FileType.Symlink && (!isLast || followLast))
            {
                if (countFollow() > MaxSymlinkFollows) throw new FileSystemException(Errno.ELOOP, path);
                var target = next.Target ?? "";
                var from = target.StartsWith('/') ? await LoadAsync(Inode.RootId, "/", ct).ConfigureAwait(false) : current;
                next = await WalkAsync(from, target, caller, true, countFollow, ct).ConfigureAwait(false);
            }
            current = next;
        }
        return current;
    }

    private static List<string> Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
}
