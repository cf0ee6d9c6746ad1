using System.Buffers;
using System.Text;
using CassaFS.Fuse.Native;

namespace CassaFS.Fuse;

/// <summary>
/// The reply buffer of one readdir / readdirplus request. The handler adds entries in directory order until
/// <see cref="TryAdd(string, ulong, uint, long)"/> says it is full; each entry carries the offset (cookie) the
/// next request will resume from. Valid until the handler's task completes.
/// </summary>
public sealed unsafe class DirectoryBuffer : IDisposable
{
    private readonly FuseSession _session;
    private readonly nint _request;
    private byte[]? _buffer;
    private readonly int _capacity;

    internal DirectoryBuffer(FuseSession session, nint request, int capacity, bool plus)
    {
        _session = session;
        _request = request;
        _capacity = capacity;
        IsPlus = plus;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 1));
    }

    /// <summary>True for readdirplus: add entries with <see cref="TryAdd(string, FuseEntry, long)"/>; each one counts as a lookup.</summary>
    public bool IsPlus { get; }

    /// <summary>Bytes used so far.</summary>
    public int Length { get; private set; }

    /// <summary>Entries added so far.</summary>
    public int Count { get; private set; }

    internal ReadOnlySpan<byte> Written => _buffer.AsSpan(0, Length);

    /// <summary>Adds a readdir entry: only the inode number and the type bits of <paramref name="mode"/> are used.</summary>
    /// <returns>False when the entry does not fit; the handler stops and the kernel asks again from <paramref name="nextOffset"/> of the last entry that fit.</returns>
    public bool TryAdd(string name, ulong ino, uint mode, long nextOffset)
    {
        if (IsPlus)
        {
            // Node id 0: the kernel lists the name without caching attributes or counting a lookup.
            return TryAdd(name, new FuseEntry { Ino = 0, Attributes = new InodeAttributes { Ino = ino, Mode = mode } }, nextOffset);
        }
        byte* stat = stackalloc byte[StatLayout.MaxEntrySize];
        StatLayout.WriteStat(stat, new InodeAttributes { Ino = ino, Mode = mode });
        return Append(name, stat, nextOffset, plus: false);
    }

    /// <summary>
    /// Adds a readdirplus entry with full attributes; the kernel counts it as a lookup unless its <see cref="FuseEntry.Ino"/>
    /// is 0 (then only <see cref="InodeAttributes.Ino"/> and the type bits are used, as for "." and "..").
    /// </summary>
    public bool TryAdd(string name, FuseEntry entry, long nextOffset)
    {
        if (!IsPlus)
        {
            return TryAdd(name, entry.Ino, entry.Attributes.Mode, nextOffset);
        }
        byte* e = stackalloc byte[StatLayout.MaxEntrySize];
        StatLayout.WriteEntry(e, entry, _session.Options.AttributeTimeout.TotalSeconds, _session.Options.EntryTimeout.TotalSeconds);
        return Append(name, e, nextOffset, plus: true);
    }

    private bool Append(string name, byte* attributes, long nextOffset, bool plus)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (nextOffset == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(nextOffset), "Offset 0 means 'from the start' and cannot be an entry's next offset.");
        }
        int maxBytes = Encoding.UTF8.GetMaxByteCount(name.Length) + 1;
        byte[]? rented = maxBytes > 1024 ? ArrayPool<byte>.Shared.Rent(maxBytes) : null;
        Span<byte> utf8 = rented ?? stackalloc byte[maxBytes];
        try
        {
            int n = Encoding.UTF8.GetBytes(name, utf8);
            utf8[n] = 0;
            nuint remaining = (nuint)(_capacity - Length);
            nuint needed;
            fixed (byte* namePtr = utf8)
            fixed (byte* buf = _buffer)
            {
                needed = plus
                    ? LibFuse.AddDirEntryPlus(_request, buf + Length, remaining, namePtr, attributes, nextOffset)
                    : LibFuse.AddDirEntry(_request, buf + Length, remaining, namePtr, attributes, nextOffset);
            }
            if (needed > remaining)
            {
                return false;
            }
            Length += (int)needed;
            Count++;
            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    public void Dispose()
    {
        var b = _buffer;
        _buffer = null;
        if (b is not null)
        {
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}
