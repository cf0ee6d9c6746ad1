using System.Globalization;
using System.Text;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>
/// A file, directory or link as Get-ChildItem and Get-Item show it: stat data, the path, and who holds its lock. It
/// answers to the names a FileInfo/DirectoryInfo has on Unix (FullName, DirectoryName, LinkType, Target, Attributes,
/// UnixMode, UnixFileMode, IsReadOnly), so scripts written for the local disk read it unchanged. Its string form and
/// FullName are drive-qualified ("cassa:/docs/a.txt"): an item passed as a path names this item, never the local disk.
/// </summary>
public sealed record ItemView
{
    public required string Name { get; init; }
    /// <summary>The drive-qualified path ("cassa:/docs/a.txt"), what PowerShell cmdlets take as -Path.</summary>
    public required string FullName { get; init; }
    /// <summary>The filesystem's own absolute path ("/docs/a.txt"), as a mount shows it under its mount point.</summary>
    public required string FileSystemPath { get; init; }
    /// <summary>The drive-qualified parent directory (null for the drive's root).</summary>
    public string? DirectoryName { get; init; }
    /// <summary>The path relative to where a listing started (what -Name prints).</summary>
    public string RelativeName { get; init; } = "";
    public required FileType Type { get; init; }
    /// <summary>ls -l's mode column ("drwxr-xr-x").</summary>
    public required string Mode { get; init; }
    /// <summary>ls -l's mode column, as FileSystem items on Unix have it.</summary>
    public string UnixMode => Mode;
    /// <summary>Permission bits with set-uid, set-gid and sticky, as .NET's <see cref="System.IO.UnixFileMode"/>.</summary>
    public required UnixFileMode UnixFileMode { get; init; }
    public required long Length { get; init; }
    public required string Owner { get; init; }
    public required string Group { get; init; }
    public required int Uid { get; init; }
    public required int Gid { get; init; }
    public required DateTime LastWriteTime { get; init; }
    public required DateTime LastAccessTime { get; init; }
    /// <summary>ctime: when the inode last changed.</summary>
    public required DateTime ChangeTime { get; init; }
    public DateTime LastWriteTimeUtc => LastWriteTime.ToUniversalTime();
    public DateTime LastAccessTimeUtc => LastAccessTime.ToUniversalTime();
    /// <summary>A symbolic link's target as stored (relative targets stay relative); null for other items.</summary>
    public string? Target { get; init; }
    /// <summary>"SymbolicLink" for a symbolic link, "HardLink" for a file with more than one name, else null (as FileSystem on Unix).</summary>
    public string? LinkType => Type == FileType.Symlink ? "SymbolicLink" : Type != FileType.Directory && LinkCount > 1 ? "HardLink" : null;
    public required Guid Inode { get; init; }
    public required long LinkCount { get; init; }
    /// <summary>Mode of the file's lock (the applications' advisory lock: Lock-CassaItem, flock on a mount), null when free.</summary>
    public LockMode? LockMode { get; init; }
    /// <summary>Who holds the lock ("root@host (purpose)"), null when free.</summary>
    public string? LockHolder { get; init; }

    /// <summary>A directory, or a symbolic link to one (PSIsContainer).</summary>
    public bool IsDirectory { get; init; }
    public bool IsHidden => Name.StartsWith('.');
    /// <summary>Whether this process's user may not write it (its owner/group/other write bit, as .NET on Unix decides ReadOnly).</summary>
    public bool IsReadOnly { get; init; }
    public string Extension => Type == FileType.Directory || Name.LastIndexOf('.') <= 0 ? "" : Name[Name.LastIndexOf('.')..];
    public string BaseName => Extension.Length == 0 ? Name : Name[..^Extension.Length];

    /// <summary>
    /// The attributes .NET gives the same item on Unix: Directory, ReparsePoint (symbolic link), Hidden (a leading dot),
    /// ReadOnly, else Normal. Setting them behaves as on Unix: ReadOnly clears or restores the write bits, the rest is ignored.
    /// </summary>
    public FileAttributes Attributes
    {
        get => _attributes;
        set
        {
            if (_setAttributes is null) throw new InvalidOperationException($"{FullName} was not read from a drive; set its attributes with Set-ItemProperty -Name Attributes.");
            _setAttributes(value);
            _attributes = value;
        }
    }

    private FileAttributes _attributes;
    private Action<FileAttributes>? _setAttributes;

    /// <summary>The lock column: "W alice@host (purpose)" / "R alice@host (a); bob@host (b)" / "".</summary>
    public string Lock => LockMode is null ? "" : $"{(LockMode == Locks.LockMode.Write ? "W" : "R")} {LockHolder}";

    /// <summary>
    /// Builds the view of an inode at <paramref name="fullPath"/> (a filesystem path) on a drive; for a symbolic link,
    /// <paramref name="linkTargetType"/> is the type of what it points to (a link to a directory is a container).
    /// </summary>
    public static ItemView From(CassaDriveSession drive, string fullPath, Inode inode, LockInfo? lockInfo, string relativeName = "", FileType? linkTargetType = null)
    {
        ArgumentNullException.ThrowIfNull(drive);
        ArgumentNullException.ThrowIfNull(inode);
        var holders = lockInfo?.Holders ?? [];
        var name = fullPath == "/" ? "/" : ProviderPath.Name(fullPath);
        var readOnly = LacksWriteBit(drive.Caller, inode);
        var view = new ItemView
        {
            Name = name,
            FullName = ProviderPath.OnDrive(drive.DriveName, drive.Root, fullPath),
            FileSystemPath = fullPath,
            DirectoryName = ProviderPath.IsWithin(fullPath, drive.Root) && ProviderPath.Normalize(fullPath) != ProviderPath.Normalize(drive.Root)
                ? ProviderPath.OnDrive(drive.DriveName, drive.Root, ProviderPath.Parent(fullPath))
                : null,
            RelativeName = relativeName.Length == 0 ? ProviderPath.Name(fullPath) : relativeName,
            Type = inode.Type,
            IsDirectory = inode.Type == FileType.Directory || inode.Type == FileType.Symlink && linkTargetType == FileType.Directory,
            Mode = ModeString(inode.Type, inode.Mode),
            UnixFileMode = (UnixFileMode)(inode.Mode & 0xFFF),
            Length = inode.Size,
            Owner = AccountNames.User(inode.Uid),
            Group = AccountNames.Group(inode.Gid),
            Uid = inode.Uid,
            Gid = inode.Gid,
            LastWriteTime = inode.Mtime.ToDateTimeOffset().LocalDateTime,
            LastAccessTime = inode.Atime.ToDateTimeOffset().LocalDateTime,
            ChangeTime = inode.Ctime.ToDateTimeOffset().LocalDateTime,
            Target = inode.Target,
            Inode = inode.Id,
            LinkCount = inode.Nlink,
            IsReadOnly = readOnly,
            LockMode = holders.Count == 0 ? null : holders[0].Mode,
            LockHolder = holders.Count == 0 ? null : string.Join("; ", holders.Select(h => h.Holder.Display)),
        };
        view._attributes = AttributesOf(inode.Type, name, readOnly, view.IsDirectory);
        view._setAttributes = attributes => CancellationToken.None.Wait(ct => new ItemOperations(drive).SetAttributesAsync(fullPath, attributes, ct));
        return view;
    }

    /// <summary>.NET's ReadOnly on Unix: the write bit of the class the caller falls in (owner, group, other) is clear; root is not special.</summary>
    private static bool LacksWriteBit(Caller caller, Inode inode)
    {
        var shift = caller.Uid == inode.Uid ? 6 : caller.InGroup(inode.Gid) ? 3 : 0;
        return ((inode.Mode >> shift) & 2) == 0;
    }

    /// <summary>What .NET's FileSystemInfo.Attributes says of such an item on Unix.</summary>
    public static FileAttributes AttributesOf(FileType type, string name, bool readOnly, bool container)
    {
        FileAttributes a = 0;
        if (container) a |= FileAttributes.Directory;
        if (type == FileType.Symlink) a |= FileAttributes.ReparsePoint;
        if (name.StartsWith('.') && name is not "." and not "..") a |= FileAttributes.Hidden;
        if (readOnly) a |= FileAttributes.ReadOnly;
        return a == 0 ? FileAttributes.Normal : a;
    }

    /// <summary>"drwxr-xr-x", with s/S and t/T for set-id and sticky bits.</summary>
    public static string ModeString(FileType type, int mode)
    {
        var sb = new StringBuilder(10);
        sb.Append(type switch
        {
            FileType.Directory => 'd',
            FileType.Symlink => 'l',
            FileType.CharDevice => 'c',
            FileType.BlockDevice => 'b',
            FileType.Fifo => 'p',
            FileType.Socket => 's',
            _ => '-',
        });
        Triplet(sb, mode >> 6, (mode & ModeBits.SetUid) != 0, 's');
        Triplet(sb, mode >> 3, (mode & ModeBits.SetGid) != 0, 's');
        Triplet(sb, mode, (mode & ModeBits.Sticky) != 0, 't');
        return sb.ToString();
    }

    private static void Triplet(StringBuilder sb, int bits, bool special, char specialChar)
    {
        sb.Append((bits & 4) != 0 ? 'r' : '-');
        sb.Append((bits & 2) != 0 ? 'w' : '-');
        var x = (bits & 1) != 0;
        sb.Append(special ? (x ? specialChar : char.ToUpperInvariant(specialChar)) : x ? 'x' : '-');
    }

    /// <summary>Parses a mode as users write it: octal ("0644", "755") or symbolic like ls ("rwxr-x---").</summary>
    public static int ParseMode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        if (t.Length > 0 && t.All(c => c is >= '0' and <= '7') && t.Length <= 5)
            return Convert.ToInt32(t, 8);
        if (t.Length == 10) t = t[1..];
        if (t.Length == 9)
        {
            var mode = 0;
            for (var i = 0; i < 9; i++)
            {
                var c = t[i];
                var bit = 1 << (8 - i);
                var kind = i % 3;
                var expected = kind == 0 ? 'r' : kind == 1 ? 'w' : 'x';
                if (c == expected) mode |= bit;
                else if (kind == 2 && c is 's' or 't') mode |= bit | (i == 2 ? ModeBits.SetUid : i == 5 ? ModeBits.SetGid : ModeBits.Sticky);
                else if (kind == 2 && c is 'S' or 'T') mode |= i == 2 ? ModeBits.SetUid : i == 5 ? ModeBits.SetGid : ModeBits.Sticky;
                else if (c != '-') throw new ArgumentException($"Mode '{text}' is not octal (0644) or symbolic (rw-r--r--).", nameof(text));
            }
            return mode;
        }
        throw new ArgumentException($"Mode '{text}' is not octal (0644) or symbolic (rw-r--r--).", nameof(text));
    }

    /// <summary>The drive-qualified path, so an item given where a path is asked names this item.</summary>
    public override string ToString() => FullName;
}

/// <summary>User and group names of this machine (/etc/passwd, /etc/group), with the number where a name is unknown.</summary>
public static class AccountNames
{
    private static readonly Lazy<Dictionary<int, string>> Users = new(() => Read("/etc/passwd"));
    private static readonly Lazy<Dictionary<int, string>> Groups = new(() => Read("/etc/group"));

    public static string User(int uid) => Users.Value.TryGetValue(uid, out var n) ? n : uid.ToString(CultureInfo.InvariantCulture);

    public static string Group(int gid) => Groups.Value.TryGetValue(gid, out var n) ? n : gid.ToString(CultureInfo.InvariantCulture);

    /// <summary>A uid from a name or number.</summary>
    public static int UserId(string nameOrNumber) => Lookup(Users.Value, nameOrNumber, "user");

    /// <summary>A gid from a name or number.</summary>
    public static int GroupId(string nameOrNumber) => Lookup(Groups.Value, nameOrNumber, "group");

    private static int Lookup(Dictionary<int, string> table, string nameOrNumber, string kind)
    {
        if (int.TryParse(nameOrNumber, NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return id;
        foreach (var (key, name) in table)
            if (name == nameOrNumber) return key;
        throw new ArgumentException($"No {kind} named '{nameOrNumber}' on this machine; give the number instead.", nameof(nameOrNumber));
    }

    private static Dictionary<int, string> Read(string file)
    {
        var result = new Dictionary<int, string>();
        if (!File.Exists(file)) return result;
        foreach (var line in File.ReadLines(file))
        {
            var f = line.Split(':');
            if (f.Length > 2 && int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var id)) result.TryAdd(id, f[0]);
        }
        return result;
    }
}
