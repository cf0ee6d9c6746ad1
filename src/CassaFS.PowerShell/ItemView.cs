using System.Globalization;
using System.Text;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>A file, directory or link as Get-ChildItem and Get-Item show it: stat data, the path, and who holds its lock.</summary>
public sealed record ItemView
{
    public required string Name { get; init; }
    /// <summary>The absolute filesystem path ("/docs/a.txt").</summary>
    public required string FullName { get; init; }
    /// <summary>The path relative to where a listing started (what -Name prints).</summary>
    public string RelativeName { get; init; } = "";
    public required FileType Type { get; init; }
    /// <summary>ls -l's mode column ("drwxr-xr-x").</summary>
    public required string Mode { get; init; }
    /// <summary>Permission bits with set-uid, set-gid and sticky (07777).</summary>
    public required int UnixMode { get; init; }
    public required long Length { get; init; }
    public required string Owner { get; init; }
    public required string Group { get; init; }
    public required int Uid { get; init; }
    public required int Gid { get; init; }
    public required DateTime LastWriteTime { get; init; }
    public required DateTime LastAccessTime { get; init; }
    /// <summary>ctime: when the inode last changed.</summary>
    public required DateTime ChangeTime { get; init; }
    public string? LinkTarget { get; init; }
    public required Guid Inode { get; init; }
    public required long LinkCount { get; init; }
    /// <summary>Mode of the file's lock (the applications' advisory lock: Lock-CassaItem, flock on a mount), null when free.</summary>
    public LockMode? LockMode { get; init; }
    /// <summary>Who holds the lock ("owner (purpose) on host pid N since ..."), null when free.</summary>
    public string? LockHolder { get; init; }

    public bool IsDirectory => Type == FileType.Directory;
    public bool IsHidden => Name.StartsWith('.');

    /// <summary>The lock column: "W alice@host:123" / "R 2 holders" / "".</summary>
    public string Lock => LockMode is null ? "" : $"{(LockMode == Locks.LockMode.Write ? "W" : "R")} {LockHolder}";

    /// <summary>Builds the view of an inode.</summary>
    public static ItemView From(string fullName, Inode inode, LockInfo? lockInfo, string relativeName = "")
    {
        ArgumentNullException.ThrowIfNull(inode);
        var holders = lockInfo?.Holders ?? [];
        return new ItemView
        {
            Name = fullName == "/" ? "/" : ProviderPath.Name(fullName),
            FullName = fullName,
            RelativeName = relativeName.Length == 0 ? ProviderPath.Name(fullName) : relativeName,
            Type = inode.Type,
            Mode = ModeString(inode.Type, inode.Mode),
            UnixMode = inode.Mode,
            Length = inode.Size,
            Owner = AccountNames.User(inode.Uid),
            Group = AccountNames.Group(inode.Gid),
            Uid = inode.Uid,
            Gid = inode.Gid,
            LastWriteTime = inode.Mtime.ToDateTimeOffset().LocalDateTime,
            LastAccessTime = inode.Atime.ToDateTimeOffset().LocalDateTime,
            ChangeTime = inode.Ctime.ToDateTimeOffset().LocalDateTime,
            LinkTarget = inode.Target,
            Inode = inode.Id,
            LinkCount = inode.Nlink,
            LockMode = holders.Count == 0 ? null : holders[0].Mode,
            LockHolder = holders.Count == 0 ? null : string.Join("; ", holders.Select(h => h.Holder.ToString())),
        };
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
