using System.Globalization;
using System.Text;

namespace CassaFS.Locks;

/// <summary>
/// What a lock protects, in one naming scheme for every implementation:
/// <c>inode/{uuid}</c>, <c>open/{uuid}</c>, <c>advisory/{uuid}</c>, <c>advisory/posix-{uuid}</c>, <c>fs/{name}</c>,
/// <c>bakery-participant/{index}</c>. Names are percent-encoded (UTF-8) outside <c>[A-Za-z0-9._~-]</c>, so a key is
/// always one safe ZooKeeper node name and one Cassandra text value, and keys sort in a stable global order
/// (ordinal) that callers use to take several locks without deadlock.
/// </summary>
public readonly record struct LockKey : IComparable<LockKey>
{
    private LockKey(string value) => Value = value;

    /// <summary>The canonical form, e.g. <c>inode/00000000-0000-0000-0000-000000000000</c>.</summary>
    public string Value { get; }

    /// <summary>The inode's metadata (stat data, size, nlink).</summary>
    public static LockKey ForInode(Guid inode) => new($"inode/{inode:D}");

    /// <summary>
    /// An application's advisory lock on a file (flock, fcntl): apart from <see cref="ForInode"/>, which the
    /// filesystem takes for its own metadata, so a process holding flock never blocks the filesystem's writes.
    /// </summary>
    public static LockKey ForAdvisory(Guid inode) => new($"{AdvisoryPrefix}{inode:D}");

    /// <summary>
    /// Applications' byte-range locks on a file (fcntl F_SETLK records, OFD locks): each holder's range is a lock of
    /// its own under this key (see <see cref="IRangeLockProvider"/>); apart from <see cref="ForAdvisory"/>, since
    /// flock and fcntl locks are independent on Linux.
    /// </summary>
    public static LockKey ForByteRanges(Guid inode) => new($"{AdvisoryPrefix}{ByteRangesInfix}{inode:D}");

    private const string ByteRangesInfix = "posix-";

    /// <summary>
    /// A client's hold on a file it has open (shared: every client with it open holds it): a file whose last name is
    /// removed is purged only when no client holds it, else at the last holder's last close (POSIX open-unlinked).
    /// </summary>
    public static LockKey ForOpenFile(Guid inode) => new($"open/{inode:D}");

    /// <summary>What every <see cref="ForAdvisory"/> key starts with: list files' locks with it.</summary>
    public const string AdvisoryPrefix = "advisory/";

    /// <summary>The file an advisory key (flock or byte ranges) locks, null for any other key.</summary>
    public Guid? AdvisoryInode
    {
        get
        {
            if (!Value.StartsWith(AdvisoryPrefix, StringComparison.Ordinal)) return null;
            var rest = Value.AsSpan(AdvisoryPrefix.Length);
            if (rest.StartsWith(ByteRangesInfix, StringComparison.Ordinal)) rest = rest[ByteRangesInfix.Length..];
            return Guid.TryParse(rest, out var id) ? id : null;
        }
    }

    /// <summary>The reservation of one bakery participant index (see BakeryLockProvider.ClaimAsync).</summary>
    public static LockKey ForBakeryParticipant(int index) => new(string.Create(CultureInfo.InvariantCulture, $"bakery-participant/{index}"));

    /// <summary>A whole-filesystem lock (format, fsck repair).</summary>
    public static LockKey ForFileSystem(string name) => new($"fs/{Encode(name)}");

    /// <summary>Parses a canonical key (as listed by an inspection call).</summary>
    public static LockKey Parse(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        var kind = value.Split('/', 2)[0];
        if (kind is not ("inode" or "open" or "advisory" or "fs" or "bakery-participant") || value.Length <= kind.Length + 1)
            throw new FormatException($"'{value}' is not a CassaFS lock key (inode/…, open/…, advisory/…, fs/…, bakery-participant/…).");
        return new LockKey(value);
    }

    /// <summary>
    /// The key as one ZooKeeper node name (no '/'): the key's own separators become ':', a character its encoded
    /// parts never contain, so the mapping is reversible whatever the names held.
    /// </summary>
    public string NodeName => Value.Replace('/', ':');

    /// <summary>The key back from <see cref="NodeName"/>.</summary>
    public static LockKey FromNodeName(string nodeName) => Parse(nodeName.Replace(':', '/'));

    /// <summary>True when the key starts with <paramref name="prefix"/> (null matches every key): for listing locks.</summary>
    public bool StartsWith(string? prefix) => prefix is null || Value.StartsWith(prefix, StringComparison.Ordinal);

    public int CompareTo(LockKey other) => string.CompareOrdinal(Value, other.Value);

    public static bool operator <(LockKey left, LockKey right) => left.CompareTo(right) < 0;
    public static bool operator <=(LockKey left, LockKey right) => left.CompareTo(right) <= 0;
    public static bool operator >(LockKey left, LockKey right) => left.CompareTo(right) > 0;
    public static bool operator >=(LockKey left, LockKey right) => left.CompareTo(right) >= 0;

    public override string ToString() => Value;

    private static string Encode(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            var c = (char)b;
            if (c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '_' or '~' or '-') sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
