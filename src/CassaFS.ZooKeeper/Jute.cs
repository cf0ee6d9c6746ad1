using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CassaFS.ZooKeeper;

/// <summary>Writes one length-prefixed jute frame into a pooled buffer (big-endian, as ZooKeeper's BinaryOutputArchive).</summary>
internal sealed class JuteWriter : IDisposable
{
    private byte[] _buffer;
    private int _length;

    public JuteWriter(int capacity = 256)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(capacity);
        _length = 4; // the frame length, filled in by Frame()
    }

    public int Length => _length - 4;

    public void WriteInt(int value)
    {
        Ensure(4);
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_length), value);
        _length += 4;
    }

    public void WriteLong(long value)
    {
        Ensure(8);
        BinaryPrimitives.WriteInt64BigEndian(_buffer.AsSpan(_length), value);
        _length += 8;
    }

    public void WriteBool(bool value)
    {
        Ensure(1);
        _buffer[_length++] = value ? (byte)1 : (byte)0;
    }

    public void WriteBuffer(ReadOnlySpan<byte> data, bool isNull = false)
    {
        if (isNull)
        {
            WriteInt(-1);
            return;
        }
        WriteInt(data.Length);
        Ensure(data.Length);
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    public void WriteString(string? value)
    {
        if (value is null)
        {
            WriteInt(-1);
            return;
        }
        var count = Encoding.UTF8.GetByteCount(value);
        WriteInt(count);
        Ensure(count);
        _length += Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length));
    }

    public void WriteStrings(IReadOnlyCollection<string> values)
    {
        WriteInt(values.Count);
        foreach (var v in values) WriteString(v);
    }

    public void WriteAcl(IReadOnlyCollection<Acl> acl)
    {
        WriteInt(acl.Count);
        foreach (var a in acl)
        {
            WriteInt((int)a.Permissions);
            WriteString(a.Scheme);
            WriteString(a.Id);
        }
    }

    /// <summary>Overwrites a 4-byte integer at a body offset (the xid is assigned only when the frame is sent).</summary>
    public void PatchInt(int bodyOffset, int value) => BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(4 + bodyOffset), value);

    public ReadOnlyMemory<byte> Frame()
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer, _length - 4);
        return _buffer.AsMemory(0, _length);
    }

    public void Dispose()
    {
        var b = _buffer;
        _buffer = Array.Empty<byte>();
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
    }

    private void Ensure(int extra)
    {
        if (_length + extra <= _buffer.Length) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + extra));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}

/// <summary>Reads jute records from one received frame.</summary>
internal ref struct JuteReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public JuteReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly int Remaining => _data.Length - _position;

    public int ReadInt()
    {
        Need(4);
        var v = BinaryPrimitives.ReadInt32BigEndian(_data[_position..]);
        _position += 4;
        return v;
    }

    public long ReadLong()
    {
        Need(8);
        var v = BinaryPrimitives.ReadInt64BigEndian(_data[_position..]);
        _position += 8;
        return v;
    }

    public bool ReadBool()
    {
        Need(1);
        return _data[_position++] != 0;
    }

    /// <summary>A jute buffer; a null buffer (length -1) reads as empty.</summary>
    public byte[] ReadBuffer()
    {
        var length = ReadInt();
        if (length <= 0) return Array.Empty<byte>();
        Need(length);
        var v = _data.Slice(_position, length).ToArray();
        _position += length;
        return v;
    }

    public string? ReadString()
    {
        var length = ReadInt();
        if (length < 0) return null;
        Need(length);
        var v = Encoding.UTF8.GetString(_data.Slice(_position, length));
        _position += length;
        return v;
    }

    public List<string> ReadStrings()
    {
        var count = ReadInt();
        var list = new List<string>(Math.Max(count, 0));
        for (var i = 0; i < count; i++) list.Add(ReadString() ?? string.Empty);
        return list;
    }

    public Stat ReadStat() => new(
        CreatedZxid: ReadLong(), ModifiedZxid: ReadLong(), CreatedTimeMs: ReadLong(), ModifiedTimeMs: ReadLong(),
        Version: ReadInt(), ChildrenVersion: ReadInt(), AclVersion: ReadInt(), EphemeralOwner: ReadLong(),
        DataLength: ReadInt(), ChildrenCount: ReadInt(), ChildrenZxid: ReadLong());

    public List<Acl> ReadAcl()
    {
        var count = ReadInt();
        var list = new List<Acl>(Math.Max(count, 0));
        for (var i = 0; i < count; i++)
        {
            var perms = (Permissions)ReadInt();
            list.Add(new Acl(perms, ReadString() ?? string.Empty, ReadString() ?? string.Empty));
        }
        return list;
    }

    private readonly void Need(int count)
    {
        if (count < 0 || _position + count > _data.Length)
            throw new InvalidDataException($"ZooKeeper frame too short: needed {count} more bytes at offset {_position} of {_data.Length}.");
    }
}
