using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CassaFS.Cql.Protocol;

/// <summary>Builds one request frame (header then body) into a pooled buffer; the connection's writer returns it.</summary>
internal sealed class FrameBuilder
{
    internal const int HeaderLength = 9;
    private byte[] _buffer;
    private int _position;

    public FrameBuilder(int bodyCapacity = 256)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(HeaderLength + Math.Max(bodyCapacity, 64));
        _position = HeaderLength;
    }

    public byte Opcode { get; init; }

    /// <summary>The frame bytes written so far (header included).</summary>
    public int Length => _position;

    public byte[] Buffer => _buffer;

    /// <summary>Fills the header once the connection knows the version and the stream id.</summary>
    public void SetHeader(byte version, short streamId)
    {
        var span = _buffer.AsSpan(0, HeaderLength);
        span[0] = version;
        span[1] = 0;
        BinaryPrimitives.WriteInt16BigEndian(span[2..], streamId);
        span[4] = Opcode;
        BinaryPrimitives.WriteInt32BigEndian(span[5..], _position - HeaderLength);
    }

    /// <summary>Hands the pooled buffer over; the builder must not be used afterwards.</summary>
    public byte[] Detach()
    {
        var b = _buffer;
        _buffer = Array.Empty<byte>();
        return b;
    }

    public void Release()
    {
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = Array.Empty<byte>();
    }

    private Span<byte> Take(int count)
    {
        if (_position + count > _buffer.Length) Grow(count);
        var span = _buffer.AsSpan(_position, count);
        _position += count;
        return span;
    }

    private void Grow(int count)
    {
        var next = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _position + count));
        _buffer.AsSpan(0, _position).CopyTo(next);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }

    public void WriteByte(byte value) => Take(1)[0] = value;
    public void WriteShort(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Take(2), value);
    public void WriteInt(int value) => BinaryPrimitives.WriteInt32BigEndian(Take(4), value);
    public void WriteLong(long value) => BinaryPrimitives.WriteInt64BigEndian(Take(8), value);
    public void WriteRaw(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Take(bytes.Length));

    public void WriteString(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        WriteShort(checked((ushort)count));
        Encoding.UTF8.GetBytes(value, Take(count));
    }

    public void WriteLongString(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        WriteInt(count);
        Encoding.UTF8.GetBytes(value, Take(count));
    }

    public void WriteShortBytes(ReadOnlySpan<byte> value)
    {
        WriteShort(checked((ushort)value.Length));
        WriteRaw(value);
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteInt(value.Length);
        WriteRaw(value);
    }

    public void WriteStringMap(IReadOnlyDictionary<string, string> map)
    {
        WriteShort((ushort)map.Count);
        foreach (var (k, v) in map)
        {
            WriteString(k);
            WriteString(v);
        }
    }

    /// <summary>Reserves an int length prefix; <see cref="EndLength"/> fills it with the bytes written since.</summary>
    public int BeginLength()
    {
        Take(4);
        return _position;
    }

    public void EndLength(int start) => BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(start - 4, 4), _position - start);

    /// <summary>Space for a value of known size, written in place by the caller.</summary>
    public Span<byte> Reserve(int count) => Take(count);
}
