using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace CassaFS.Cql.Protocol;

/// <summary>Reads the body of one response frame; the body array stays alive as long as rows refer to it.</summary>
internal struct FrameReader
{
    private readonly byte[] _body;
    private readonly int _end;
    private int _position;

    public FrameReader(byte[] body, int offset, int end)
    {
        _body = body;
        _position = offset;
        _end = end;
    }

    public readonly byte[] Body => _body;
    public readonly int Position => _position;
    public readonly int Remaining => _end - _position;

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || _position + count > _end)
            throw new CqlProtocolException($"malformed response: needed {count} bytes at offset {_position} of a {_end}-byte body");
        var span = _body.AsSpan(_position, count);
        _position += count;
        return span;
    }

    public byte ReadByte() => Take(1)[0];
    public ushort ReadShort() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
    public int ReadInt() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
    public long ReadLong() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

    public string ReadString() => Encoding.UTF8.GetString(Take(ReadShort()));
    public string ReadLongString() => Encoding.UTF8.GetString(Take(ReadInt()));

    public List<string> ReadStringList()
    {
        var n = ReadShort();
        var list = new List<string>(n);
        for (var i = 0; i < n; i++) list.Add(ReadString());
        return list;
    }

    public byte[] ReadShortBytes() => Take(ReadShort()).ToArray();

    /// <summary>A [bytes] value as (offset, length) into the body; length -1 is null.</summary>
    public (int Offset, int Length) ReadBytesSlice()
    {
        var length = ReadInt();
        if (length < 0) return (_position, -1);
        var offset = _position;
        Take(length);
        return (offset, length);
    }

    public byte[]? ReadBytes()
    {
        var length = ReadInt();
        return length < 0 ? null : Take(length).ToArray();
    }

    public void SkipBytesMap()
    {
        var n = ReadShort();
        for (var i = 0; i < n; i++)
        {
            ReadString();
            ReadBytes();
        }
    }

    public Dictionary<string, List<string>> ReadStringMultimap()
    {
        var n = ReadShort();
        var map = new Dictionary<string, List<string>>(n, StringComparer.Ordinal);
        for (var i = 0; i < n; i++) map[ReadString()] = ReadStringList();
        return map;
    }

    public IPEndPoint ReadInet()
    {
        var size = ReadByte();
        var address = new IPAddress(Take(size));
        return new IPEndPoint(address, ReadInt());
    }

    public CqlType ReadType()
    {
        var code = (CqlTypeCode)ReadShort();
        switch (code)
        {
            case CqlTypeCode.Custom:
                return CqlType.Custom(ReadString());
            case CqlTypeCode.List:
                return CqlType.List(ReadType());
            case CqlTypeCode.Set:
                return CqlType.Set(ReadType());
            case CqlTypeCode.Map:
                {
                    var key = ReadType();
                    return CqlType.Map(key, ReadType());
                }
            case CqlTypeCode.Udt:
                {
                    var keyspace = ReadString();
                    var name = ReadString();
                    var n = ReadShort();
                    var fields = new List<CqlType>(n);
                    for (var i = 0; i < n; i++)
                    {
                        ReadString();
                        fields.Add(ReadType());
                    }
                    return CqlType.Composite(code, $"{keyspace}.{name}", fields);
                }
            case CqlTypeCode.Tuple:
                {
                    var n = ReadShort();
                    var fields = new List<CqlType>(n);
                    for (var i = 0; i < n; i++) fields.Add(ReadType());
                    return CqlType.Composite(code, "tuple", fields);
                }
            default:
                return CqlType.Of(code);
        }
    }
}
