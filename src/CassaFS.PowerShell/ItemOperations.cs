using System.Runtime.CompilerServices;
using System.Text;

namespace CassaFS.PowerShell;

/// <summary>What New-Item -ItemType makes.</summary>
public enum ItemKind
{
    File,
    Directory,
    SymbolicLink,
    HardLink,
}

/// <summary>New-Item -ItemType as the FileSystem provider reads it: any prefix, in any case ("d", "Dir", "sym").</summary>
public static class ItemKinds
{
    private static readonly (string Name, ItemKind Kind)[] Names =
    [
        ("directory", ItemKind.Directory), ("container", ItemKind.Directory), ("file", ItemKind.File),
        ("symboliclink", ItemKind.SymbolicLink), ("symlink", ItemKind.SymbolicLink), ("hardlink", ItemKind.HardLink),
    ];

    /// <summary>The kind an -ItemType names, null when it names none.</summary>
    public static ItemKind? TryParse(string? typeName)
    {
        try
        {
            return Parse(typeName);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The kind an -ItemType names; none given means File.</summary>
    public static ItemKind Parse(string? typeName)
    {
        if (string.IsNullOrWhiteSpace(typeName)) return ItemKind.File;
        foreach (var (name, kind) in Names)
            if (name.StartsWith(typeName.Trim(), StringComparison.OrdinalIgnoreCase)) return kind;
        throw new ArgumentException($"Item type '{typeName}' is not supported on CassaFS: use File, Directory, SymbolicLink or HardLink.", nameof(typeName));
    }
}

/// <summary>What Test-Path -PathType asks.</summary>
public enum PathKind
{
    Any,
    Container,
    Leaf,
}

/// <summary>The properties Set-ItemProperty changes; null leaves one as it is.</summary>
public sealed record ItemPropertyChanges
{
    /// <summary>Octal ("0644") or symbolic ("rw-r--r--").</summary>
    public string? Mode { get; init; }
    /// <summary>A user name or uid.</summary>
    public string? Owner { get; init; }
    /// <summary>A group name or gid.</summary>
    public string? Group { get; init; }
    public DateTime? LastWriteTime { get; init; }
    public DateTime? LastAccessTime { get; init; }
    /// <summary>FileSystem's IsReadOnly: true clears every write bit, false gives the owner write again.</summary>
    public bool? IsReadOnly { get; init; }

    /// <summary>The property names Set-ItemProperty accepts.</summary>
    public static readonly IReadOnlyList<string> Names = ["Mode", "UnixMode", "UnixFileMode", "Owner", "Group", "LastWriteTime", "LastAccessTime", "IsReadOnly", "Attributes"];

    /// <summary>Changes from name/value pairs as Set-ItemProperty passes them (names in any case).</summary>
    public static ItemPropertyChanges FromPairs(IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var changes = new ItemPropertyChanges();
        foreach (var (name, value) in pairs)
        {
            var text = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            changes = name.ToUpperInvariant() switch
            {
                "MODE" or "UNIXMODE" or "UNIXFILEMODE" => changes with { Mode = value is int or UnixFileMode ? Convert.ToString(Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture), 8) : text },
                "ISREADONLY" => changes with { IsReadOnly = LanguageBool(value, name) },
                // As on Unix: only ReadOnly means anything; Hidden, Archive and the rest are accepted and ignored.
                "ATTRIBUTES" => changes with { IsReadOnly = (AsAttributes(value, name) & FileAttributes.ReadOnly) != 0 },
                "OWNER" or "UID" => changes with { Owner = text },
                "GROUP" or "GID" => changes with { Group = text },
                "LASTWRITETIME" or "MTIME" => changes with { LastWriteTime = AsTime(value, name) },
                "LASTACCESSTIME" or "ATIME" => changes with { LastAccessTime = AsTime(value, name) },
                _ => throw new ArgumentException($"Property '{name}' cannot be set on a CassaFS item; settable are {string.Join(", ", Names)}.", nameof(pairs)),
            };
        }
        return changes;
    }

    private static bool LanguageBool(object? value, string name) => value switch
    {
        bool b => b,
        string s when bool.TryParse(s, out var b) => b,
        int i => i != 0,
        _ => throw new ArgumentException($"Property '{name}' needs $true or $false, not '{value}'.", nameof(value)),
    };

    private static FileAttributes AsAttributes(object? value, string name) => value switch
    {
        FileAttributes a => a,
        int i => (FileAttributes)i,
        string s when Enum.TryParse<FileAttributes>(s, true, out var a) => a,
        _ => throw new ArgumentException($"Property '{name}' needs file attributes such as ReadOnly or Normal, not '{value}'.", nameof(value)),
    };

    private static DateTime AsTime(object? value, string name) => value switch
    {
        DateTime d => d,
        DateTimeOffset o => o.UtcDateTime,
        string s when DateTime.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeLocal, out var d) => d,
        _ => throw new ArgumentException($"Property '{name}' needs a date and time, not '{value}'.", nameof(value)),
    };
}

/// <summary>
/// The item cmdlets' logic on a drive: Get-Item, Test-Path, New-Item, Remove-Item, Rename-Item, Move-Item, Copy-Item,
/// Get/Set-ItemProperty and wildcard expansion. Errors are <see cref="FileSystemException"/>s with their errno.
/// </summary>
public sealed class ItemOperations
{
    private readonly CassaDriveSession _drive;

    public ItemOperations(CassaDriveSession drive) => _drive = drive ?? throw new ArgumentNullException(nameof(drive));

    private CassaFileSystem Fs => _drive.FileSystem;
    private Caller Caller => _drive.Caller;

    /// <summary>The item at a path (a symbolic link itself, not its target), with its lock state.</summary>
    public async Task<ItemView> GetAsync(string path, CancellationToken ct = default)
    {
        var full = _drive.Resolve(path);
        var inode = await Fs.ResolveAsync(full, Caller, false, ct).ConfigureAwait(false);
        var info = await _drive.Locks.InspectAsync(Locks.LockKey.ForAdvisory(inode.Id), ct).ConfigureAwait(false);
        return ItemView.From(_drive, full, inode, info, linkTargetType: inode.Type == FileType.Symlink ? await LinkTargetTypeAsync(full, ct).ConfigureAwait(false) : null);
    }

    /// <summary>What a symbolic link points to, null when it dangles.</summary>
    private async Task<FileType?> LinkTargetTypeAsync(string full, CancellationToken ct)
    {
        try
        {
            return (await Fs.ResolveAsync(full, Caller, true, ct).ConfigureAwait(false)).Type;
        }
        catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP or Errno.EACCES)
        {
            return null;
        }
    }

    /// <summary>Test-Path: whether the path exists (and is a directory / not a directory when asked). Broken links count as existing leaves.</summary>
    public async Task<bool> ExistsAsync(string path, PathKind kind = PathKind.Any, CancellationToken ct = default)
    {
        Inode inode;
        try
        {
            inode = await Fs.ResolveAsync(_drive.Resolve(path), Caller, false, ct).ConfigureAwait(false);
            if (inode.Type == FileType.Symlink && kind == PathKind.Container)
                inode = await Fs.ResolveAsync(_drive.Resolve(path), Caller, true, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP or Errno.EINVAL)
        {
            return false;
        }
        return kind switch
        {
            PathKind.Container => inode.IsDirectory,
            PathKind.Leaf => !inode.IsDirectory,
            _ => true,
        };
    }

    /// <summary>Whether the path is a directory (following a final symbolic link).</summary>
    public Task<bool> IsContainerAsync(string path, CancellationToken ct = default) => ExistsAsync(path, PathKind.Container, ct);

    /// <summary>Whether a directory has at least one entry.</summary>
    public async Task<bool> HasChildrenAsync(string path, CancellationToken ct = default)
    {
        var inode = await Fs.ResolveAsync(_drive.Resolve(path), Caller, true, ct).ConfigureAwait(false);
        if (!inode.IsDirectory) return false;
        await foreach (var _ in Fs.ReadDirectoryAsync(inode.Id, Caller, null, ct).ConfigureAwait(false)) return true;
        return false;
    }

    /// <summary>Child names of a directory, in name order, optionally only those starting with a prefix (tab completion) or matching a wildcard.</summary>
    public async IAsyncEnumerable<string> ChildNamesAsync(string path, string? wildcard = null, bool includeHidden = true, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var inode = await Fs.ResolveAsync(_drive.Resolve(path), Caller, true, ct).ConfigureAwait(false);
        if (!inode.IsDirectory) yield break;
        var pattern = wildcard is null ? null : new Wildcard(wildcard);
        await foreach (var e in Fs.ReadDirectoryAsync(inode.Id, Caller, null, ct).ConfigureAwait(false))
        {
            if (!includeHidden && e.Name.StartsWith('.')) continue;
            if (pattern is null || pattern.IsMatch(e.Name)) yield return e.Name;
        }
    }

    /// <summary>
    /// The existing paths a path names: with <paramref name="literal"/> the path itself (if it exists); otherwise each
    /// component with wildcards is matched against the directory's names ('[1]' is a set, escape it with a backtick).
    /// </summary>
    public async Task<IReadOnlyList<string>> ExpandAsync(string path, bool literal, CancellationToken ct = default)
    {
        var full = _drive.Resolve(path);
        if (literal || !Wildcard.ContainsWildcard(full))
        {
            var plain = literal ? full : Wildcard.Unescape(full);
            return await ExistsAsync(plain, PathKind.Any, ct).ConfigureAwait(false) ? [plain] : [];
        }
        var current = new List<string> { "/" };
        foreach (var part in full.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = new List<string>();
            foreach (var dir in current)
            {
                if (!Wildcard.ContainsWildcard(part))
                {
                    var candidate = ProviderPath.Join(dir, Wildcard.Unescape(part));
                    if (await ExistsAsync(candidate, PathKind.Any, ct).ConfigureAwait(false)) next.Add(candidate);
                    continue;
                }
                if (!await IsContainerAsync(dir, ct).ConfigureAwait(false)) continue;
                await foreach (var name in ChildNamesAsync(dir, part, true, ct).ConfigureAwait(false))
                    next.Add(ProviderPath.Join(dir, name));
            }
            current = next;
        }
        return current;
    }

    /// <summary>
    /// New-Item. File: created with <paramref name="value"/> as UTF-8 content (with <paramref name="force"/> an existing file
    /// is overwritten). Directory: with force an existing directory is returned as it is. SymbolicLink: value is the
    /// target, stored as given. HardLink: value is the path of an existing file on this drive.
    /// </summary>
    public async Task<ItemView> NewAsync(string path, ItemKind kind, string? value = null, bool force = false, int? mode = null, CancellationToken ct = default)
    {
        var full = _drive.Resolve(path);
        Inode parent;
        string name;
        try
        {
            (parent, name) = await Fs.ResolveParentAsync(full, Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.ENOENT && force)
        {
            // -Force makes the missing parent directories, as New-Item -Force does on the FileSystem provider.
            await NewAsync(ProviderPath.Parent(full), ItemKind.Directory, null, true, null, ct).ConfigureAwait(false);
            (parent, name) = await Fs.ResolveParentAsync(full, Caller, ct).ConfigureAwait(false);
        }
        switch (kind)
        {
            case ItemKind.Directory:
                try
                {
                    await Fs.MkdirAsync(parent.Id, name, mode ?? 0x1FF & ~0x12, Caller, ct).ConfigureAwait(false);
                }
                catch (FileSystemException e) when (e.Errno == Errno.EEXIST && force)
                {
                    // -Force on an existing directory returns it, as the FileSystem provider does.
                    if (!await IsContainerAsync(full, ct).ConfigureAwait(false)) throw;
                }
                break;
            case ItemKind.File:
                var flags = OpenFlags.WriteOnly | OpenFlags.Create | (force ? OpenFlags.Truncate : OpenFlags.Exclusive);
                FileHandle handle;
                try
                {
                    (handle, _) = await Fs.CreateAsync(parent.Id, name, mode ?? 0x1B6 & ~0x12, flags, Caller, ct).ConfigureAwait(false);
                }
                catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
                {
                    throw new FileSystemException(Errno.EEXIST, full, "the item exists; use -Force to overwrite it", e);
                }
                try
                {
                    if (!string.IsNullOrEmpty(value))
                    {
                        var bytes = Encoding.UTF8.GetBytes(value);
                        var written = 0;
                        while (written < bytes.Length)
                            written += await Fs.WriteAsync(handle, written, bytes.AsMemory(written), ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    await Fs.ReleaseAsync(handle, ct).ConfigureAwait(false);
                }
                break;
            case ItemKind.SymbolicLink:
                if (string.IsNullOrEmpty(value)) throw new FileSystemException(Errno.EINVAL, full, "a symbolic link needs its target as -Value");
                await Fs.SymlinkAsync(parent.Id, name, value.Replace('\\', '/'), Caller, ct).ConfigureAwait(false);
                break;
            case ItemKind.HardLink:
                if (string.IsNullOrEmpty(value)) throw new FileSystemException(Errno.EINVAL, full, "a hard link needs the existing file's path as -Value");
                var target = await Fs.ResolveAsync(_drive.Resolve(value), Caller, false, ct).ConfigureAwait(false);
                await Fs.LinkAsync(target.Id, parent.Id, name, Caller, ct).ConfigureAwait(false);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "use File, Directory, SymbolicLink or HardLink");
        }
        return await GetAsync(full, ct).ConfigureAwait(false);
    }

    /// <summary>Remove-Item: a file, link or empty directory; with <paramref name="recurse"/> a directory and everything below it (ENOTEMPTY without).</summary>
    public async Task RemoveAsync(string path, bool recurse, CancellationToken ct = default)
    {
        var full = _drive.Resolve(path);
        var (parent, name) = await Fs.ResolveParentAsync(full, Caller, ct).ConfigureAwait(false);
        var inode = await Fs.LookupAsync(parent.Id, name, Caller, ct).ConfigureAwait(false);
        if (!inode.IsDirectory)
        {
            await Fs.UnlinkAsync(parent.Id, name, Caller, ct).ConfigureAwait(false);
            return;
        }
        if (recurse) await EmptyDirectoryAsync(inode.Id, full, ct).ConfigureAwait(false);
        try
        {
            await Fs.RmdirAsync(parent.Id, name, Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.ENOTEMPTY)
        {
            throw new FileSystemException(Errno.ENOTEMPTY, full, "the directory has children; use -Recurse to remove them too", e);
        }
    }

    private async Task EmptyDirectoryAsync(Guid dir, string path, CancellationToken ct)
    {
        while (true)
        {
            // Take a page of names, remove them, list again: removing while a page streams would skip names.
            var batch = new List<DirectoryEntry>();
            await foreach (var e in Fs.ReadDirectoryAsync(dir, Caller, null, ct).ConfigureAwait(false))
            {
                batch.Add(e);
                if (batch.Count == 500) break;
            }
            if (batch.Count == 0) return;
            foreach (var e in batch)
            {
                if (e.Type == FileType.Directory)
                {
                    await EmptyDirectoryAsync(e.Inode, ProviderPath.Join(path, e.Name), ct).ConfigureAwait(false);
                    await Fs.RmdirAsync(dir, e.Name, Caller, ct).ConfigureAwait(false);
                }
                else
                {
                    await Fs.UnlinkAsync(dir, e.Name, Caller, ct).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Rename-Item: a new name in the same directory (EEXIST when taken).</summary>
    public async Task<ItemView> RenameAsync(string path, string newName, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(newName);
        var full = _drive.Resolve(path);
        if (newName.Contains('/', StringComparison.Ordinal) || newName.Contains('\\', StringComparison.Ordinal))
        {
            // As the FileSystem provider: a path is fine when it names the same directory.
            var asPath = _drive.Resolve(newName);
            if (ProviderPath.Parent(asPath) != ProviderPath.Parent(full))
                throw new ArgumentException($"Rename-Item renames within one directory: '{newName}' is in another; use Move-Item to move an item.", nameof(newName));
            newName = ProviderPath.Name(asPath);
        }
        var (parent, name) = await Fs.ResolveParentAsync(full, Caller, ct).ConfigureAwait(false);
        var destination = ProviderPath.Join(ProviderPath.Parent(full), newName);
        try
        {
            await Fs.RenameAsync(parent.Id, name, parent.Id, newName, RenameFlags.NoReplace, Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            throw new FileSystemException(Errno.EEXIST, destination, "an item with that name exists", e);
        }
        return await GetAsync(destination, ct).ConfigureAwait(false);
    }

    /// <summary>Move-Item: into <paramref name="destination"/> when it is a directory, else to that path; an existing file is replaced only with <paramref name="force"/>.</summary>
    public async Task<ItemView> MoveAsync(string path, string destination, bool force = false, CancellationToken ct = default)
    {
        var full = _drive.Resolve(path);
        var target = await TargetPathAsync(full, destination, ct).ConfigureAwait(false);
        var (from, fromName) = await Fs.ResolveParentAsync(full, Caller, ct).ConfigureAwait(false);
        var (to, toName) = await Fs.ResolveParentAsync(target, Caller, ct).ConfigureAwait(false);
        try
        {
            await Fs.RenameAsync(from.Id, fromName, to.Id, toName, force ? RenameFlags.None : RenameFlags.NoReplace, Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            throw new FileSystemException(Errno.EEXIST, target, "the destination exists; use -Force to replace it", e);
        }
        return await GetAsync(target, ct).ConfigureAwait(false);
    }

    /// <summary>Copy-Item: a file's data, mode and times; a symbolic link as a link; a directory only with <paramref name="recurse"/>.</summary>
    public async Task<ItemView> CopyAsync(string path, string destination, bool recurse, bool force = false, CancellationToken ct = default)
    {
        var full = _drive.Resolve(path);
        var target = await TargetPathAsync(full, destination, ct).ConfigureAwait(false);
        if (ProviderPath.IsWithin(target, full) && target != full)
            throw new FileSystemException(Errno.EINVAL, target, "cannot copy a directory into itself");
        await CopyTreeAsync(full, target, recurse, force, ct).ConfigureAwait(false);
        return await GetAsync(target, ct).ConfigureAwait(false);
    }

    private async Task CopyTreeAsync(string source, string target, bool recurse, bool force, CancellationToken ct)
    {
        var inode = await Fs.ResolveAsync(source, Caller, false, ct).ConfigureAwait(false);
        var (parent, name) = await Fs.ResolveParentAsync(target, Caller, ct).ConfigureAwait(false);
        switch (inode.Type)
        {
            case FileType.Directory:
                if (!recurse)
                {
                    await NewAsync(target, ItemKind.Directory, null, true, inode.Mode, ct).ConfigureAwait(false);
                    return;
                }
                await NewAsync(target, ItemKind.Directory, null, true, inode.Mode, ct).ConfigureAwait(false);
                await foreach (var e in Fs.ReadDirectoryAsync(inode.Id, Caller, null, ct).ConfigureAwait(false))
                    await CopyTreeAsync(ProviderPath.Join(source, e.Name), ProviderPath.Join(target, e.Name), true, force, ct).ConfigureAwait(false);
                return;
            case FileType.Symlink:
                await Fs.SymlinkAsync(parent.Id, name, inode.Target ?? "", Caller, ct).ConfigureAwait(false);
                return;
            case FileType.Regular:
                var input = await Fs.OpenAsync(inode.Id, OpenFlags.ReadOnly, Caller, ct).ConfigureAwait(false);
                await using (var reader = new CassaFileStream(Fs, input, inode.Size, false))
                {
                    FileHandle output;
                    try
                    {
                        (output, _) = await Fs.CreateAsync(parent.Id, name, inode.Mode, OpenFlags.WriteOnly | OpenFlags.Create | (force ? OpenFlags.Truncate : OpenFlags.Exclusive), Caller, ct).ConfigureAwait(false);
                    }
                    catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
                    {
                        throw new FileSystemException(Errno.EEXIST, target, "the destination exists; use -Force to overwrite it", e);
                    }
                    await using var writer = new CassaFileStream(Fs, output, 0, true);
                    await reader.CopyToAsync(writer, 1 << 20, ct).ConfigureAwait(false);
                }
                var copied = await Fs.ResolveAsync(target, Caller, false, ct).ConfigureAwait(false);
                await Fs.SetAttrAsync(copied.Id, new AttributeChanges { Mtime = TimeChange.To(inode.Mtime), Atime = TimeChange.To(inode.Atime) }, Caller, null, ct).ConfigureAwait(false);
                return;
            default:
                await Fs.MknodAsync(parent.Id, name, inode.Type, inode.Mode, inode.Rdev, Caller, ct).ConfigureAwait(false);
                return;
        }
    }

    /// <summary>Where a move or copy lands: inside an existing directory under the source's name, else the destination itself.</summary>
    private async Task<string> TargetPathAsync(string sourceFull, string destination, CancellationToken ct)
    {
        var target = _drive.Resolve(destination);
        if (await IsContainerAsync(target, ct).ConfigureAwait(false) && target != sourceFull)
            target = ProviderPath.Join(target, ProviderPath.Name(sourceFull));
        return target;
    }

    /// <summary>An item's Attributes set from PowerShell: as .NET on Unix, only ReadOnly changes anything (the write bits).</summary>
    public Task<ItemView> SetAttributesAsync(string path, FileAttributes attributes, CancellationToken ct = default) =>
        SetPropertiesAsync(path, new ItemPropertyChanges { IsReadOnly = (attributes & FileAttributes.ReadOnly) != 0 }, ct);

    /// <summary>Set-ItemProperty: chmod, chown/chgrp, utimens; returns the item afterwards.</summary>
    public async Task<ItemView> SetPropertiesAsync(string path, ItemPropertyChanges changes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var full = _drive.Resolve(path);
        var inode = await Fs.ResolveAsync(full, Caller, true, ct).ConfigureAwait(false);
        var mode = changes.Mode is null ? (int?)null : ItemView.ParseMode(changes.Mode);
        if (changes.IsReadOnly is { } readOnly)
        {
            var current = mode ?? inode.Mode;
            const int anyWrite = 0x92, ownerWrite = 0x80;
            // As .NET on Unix: read-only clears every write bit; clearing it gives the owner write when no one has it.
            mode = readOnly ? current & ~anyWrite : (current & anyWrite) == 0 ? current | ownerWrite : current;
        }
        var attr = new AttributeChanges
        {
            Mode = mode,
            Uid = changes.Owner is null ? null : AccountNames.UserId(changes.Owner),
            Gid = changes.Group is null ? null : AccountNames.GroupId(changes.Group),
            Mtime = changes.LastWriteTime is { } m ? TimeChange.To(Timespec.FromDateTimeOffset(new DateTimeOffset(m.ToUniversalTime(), TimeSpan.Zero))) : null,
            Atime = changes.LastAccessTime is { } a ? TimeChange.To(Timespec.FromDateTimeOffset(new DateTimeOffset(a.ToUniversalTime(), TimeSpan.Zero))) : null,
        };
        await Fs.SetAttrAsync(inode.Id, attr, Caller, null, ct).ConfigureAwait(false);
        return await GetAsync(full, ct).ConfigureAwait(false);
    }
}
