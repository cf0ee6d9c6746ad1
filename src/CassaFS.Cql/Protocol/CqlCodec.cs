using System.Buffers.Binary;
using System.Collections;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace CassaFS.Cql.Protocol;

/// <summary>Serializes CLR values to CQL values and back, following the protocol's value encodings.</summary>
internal static class CqlCodec
{
    private static readonly DateTimeOffset Epoch = DateTimeOffset.UnixEpoch;

    /// <summary>Writes a [bytes] value: int length (-1 for null) then the serialized value.</summary>
    public static void WriteValue(FrameBuilder w, CqlType type, object? value)
    {
        if (value is null || value is DBNull)
        {
            w.WriteInt(-1);
            return;
        }
        var start = w.BeginLength();
        Serialize(w, type, value);
        w.EndLength(start);
    }

    private static void Serialize(FrameBuilder w, CqlType type, object value)
    {
        switch (type.Code)
        {
            case CqlTypeCode.Varchar:
            case CqlTypeCode.Ascii:
                {
                    var s = value as string ?? throw Mismatch(type, value);
                    var n = Encoding.UTF8.GetByteCount(s);
                    Encoding.UTF8.GetBytes(s, w.Reserve(n));
                    return;
                }
            case CqlTypeCode.Blob:
            case CqlTypeCode.Custom:
            case CqlTypeCode.Udt:
            case CqlTypeCode.Tuple:
                w.WriteRaw(value switch
                {
                    byte[] b => b,
                    ReadOnlyMemory<byte> m => m.Span,
                    Memory<byte> m => m.Span,
                    ArraySegment<byte> s => s.AsSpan(),
                    _ => throw Mismatch(type, value),
                });
                return;
            case CqlTypeCode.Boolean:
                w.WriteByte(value is bool flag ? (byte)(flag ? 1 : 0) : throw Mismatch(type, value));
                return;
            case CqlTypeCode.Int:
                w.WriteInt(value switch
                {
                    int i => i,
                    short s => s,
                    sbyte s => s,
                    byte b => b,
                    ushort u => u,
                    long l when l is >= int.MinValue and <= int.MaxValue => (int)l,
                    _ => throw Mismatch(type, value),
                });
                return;
            case CqlTypeCode.Bigint:
            case CqlTypeCode.Counter:
                w.WriteLong(value switch
                {
                    long l => l,
                    int i => i,
                    uint u => u,
                    short s => s,
                    _ => throw Mismatch(type, value),
                });
                return;
            case CqlTypeCode.Float:
                BinaryPrimitives.WriteSingleBigEndian(w.Reserve(4), value switch
                {
                    float f => f,
                    int i => i,
                    _ => throw Mismatch(type, value),
                });
                return;
            case CqlTypeCode.Double:
                BinaryPrimitives.WriteDoubleBigEndian(w.Reserve(8), value switch
                {
                    double d => d,
                    float f => f,
                    int i => i,
                    long l => l,
                    _ => throw Mismatch(type, value),
                });
                return;
            case CqlTypeCode.Uuid:
            case CqlTypeCode.Timeuuid:
                if (value is not Guid g) throw Mismatch(type, value);
                g.TryWriteBytes(w.Reserve(16), bigEndian: true, out _);
                return;
            case CqlTypeCode.Timestamp:
                w.WriteLong(value switch
                {
                    DateTimeOffset d => d.ToUnixTimeMilliseconds(),
                    DateTime d => new DateTimeOffset(d.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(d, DateTimeKind.Utc) : d.ToUniversalTime()).ToUnixTimeMilliseconds(),
                    long l => l,
                    _ => throw Mismatch(type, value),
                });
                return;
            case CqlTypeCode.Inet:
                {
                    if (value is not IPAddress address) throw Mismatch(type, value);
                    var span = w.Reserve(address.AddressFamily == AddressFamily.InterNetworkV6 ? 16 : 4);
                    address.TryWriteBytes(span, out _);
                    return;
                }
            case CqlTypeCode.Varint:
                {
                    var big = value switch
                    {
                        BigInteger b => b,
                        long l => new BigInteger(l),
                        int i => new BigInteger(i),
                        ulong u => new BigInteger(u),
                        _ => throw Mismatch(type, value),
                    };
                    WriteVarint(w, big);
                    return;
                }
            case CqlTypeCode.Decimal:
                {
                    var d = value switch
                    {
                        decimal m => m,
                        int i => i,
                        long l => l,
                        _ => throw Mismatch(type, value),
                    };
                    var bits = decimal.GetBits(d);
                    var scale = (bits[3] >> 16) & 0xFF;
                    var unscaled = new BigInteger((uint)bits[0]) | (new BigInteger((uint)bits[1]) << 32) | (new BigInteger((uint)bits[2]) << 64);
                    if (bits[3] < 0) unscaled = -unscaled;
                    w.WriteInt(scale);
                    WriteVarint(w, unscaled);
                    return;
                }
            case CqlTypeCode.Smallint:
                BinaryPrimitives.WriteInt16BigEndian(w.Reserve(2), value is short sv ? sv : checked((short)Convert.ToInt32(value, null)));
                return;
            case CqlTypeCode.Tinyint:
                w.WriteByte(unchecked((byte)(value is sbyte tv ? tv : checked((sbyte)Convert.ToInt32(value, null)))));
                return;
            case CqlTypeCode.List:
            case CqlTypeCode.Set:
                {
                    if (value is not IEnumerable items || value is string) throw Mismatch(type, value);
                    var countAt = w.BeginLength();
                    var count = 0;
                    foreach (var item in items)
                    {
                        if (item is null) throw new ArgumentException($"a {type} cannot hold null elements");
                        WriteValue(w, type.Arguments[0], item);
                        count++;
                    }
                    PatchCount(w, countAt, count);
                    return;
                }
            case CqlTypeCode.Map:
                {
                    if (value is not IDictionary map) throw Mismatch(type, value);
                    w.WriteInt(map.Count);
                    foreach (DictionaryEntry entry in map)
                    {
                        WriteValue(w, type.Arguments[0], entry.Key);
                        WriteValue(w, type.Arguments[1], entry.Value);
                    }
                    return;
                }
            default:
                throw new NotSupportedException($"writing values of CQL type {type} is not supported");
        }
    }

    private static void PatchCount(FrameBuilder w, int countAt, int count) =>
        BinaryPrimitives.WriteInt32BigEndian(w.Buffer.AsSpan(countAt - 4, 4), count);

    private static void WriteVarint(FrameBuilder w, BigInteger value)
    {
        var n = value.GetByteCount(isUnsigned: false);
        value.TryWriteBytes(w.Reserve(n), out _, isUnsigned: false, isBigEndian: true);
    }

    private static ArgumentException Mismatch(CqlType type, object value) =>
        new($"a value of type {value.GetType().Name} cannot be written to a column of CQL type {type}");

    /// <summary>A rough upper bound of a value's size, so a frame's buffer is rented once for large blobs.</summary>
    public static int EstimateSize(object? value) => value switch
    {
        null => 4,
        byte[] b => b.Length + 4,
        ReadOnlyMemory<byte> m => m.Length + 4,
        Memory<byte> m => m.Length + 4,
        ArraySegment<byte> s => s.Count + 4,
        string s => (s.Length * 3) + 4,
        ICollection c => (c.Count * 24) + 8,
        _ => 24,
    };

    // ---- reading ----

    /// <summary>Reads a value as <typeparamref name="T"/>; the common scalar cases avoid boxing.</summary>
    public static T Read<T>(CqlType type, ReadOnlyMemory<byte> value, string column)
    {
        var span = value.Span;
        if (typeof(T) == typeof(ReadOnlyMemory<byte>))
        {
            var m = value;
            return Unsafe.As<ReadOnlyMemory<byte>, T>(ref m);
        }
        if (typeof(T) == typeof(int) && type.Code == CqlTypeCode.Int)
        {
            var v = BinaryPrimitives.ReadInt32BigEndian(Exact(span, 4, type, column));
            return Unsafe.As<int, T>(ref v);
        }
        if (typeof(T) == typeof(long) && type.Code is CqlTypeCode.Bigint or CqlTypeCode.Counter)
        {
            var v = BinaryPrimitives.ReadInt64BigEndian(Exact(span, 8, type, column));
            return Unsafe.As<long, T>(ref v);
        }
        if (typeof(T) == typeof(Guid) && type.Code is CqlTypeCode.Uuid or CqlTypeCode.Timeuuid)
        {
            var v = new Guid(Exact(span, 16, type, column), bigEndian: true);
            return Unsafe.As<Guid, T>(ref v);
        }
        if (typeof(T) == typeof(bool) && type.Code == CqlTypeCode.Boolean)
        {
            var v = Exact(span, 1, type, column)[0] != 0;
            return Unsafe.As<bool, T>(ref v);
        }
        var boxed = Decode(type, span);
        return ConvertTo<T>(boxed, type, column);
    }

    private static ReadOnlySpan<byte> Exact(ReadOnlySpan<byte> span, int size, CqlType type, string column) =>
        span.Length == size ? span : throw new CqlProtocolException($"column {column} of type {type} holds {span.Length} bytes, expected {size}");

    private static T ConvertTo<T>(object value, CqlType type, string column)
    {
        if (value is T t) return t;
        var target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        object? converted = value switch
        {
            int i when target == typeof(long) => (long)i,
            int i when target == typeof(double) => (double)i,
            long l when target == typeof(DateTimeOffset) && type.Code == CqlTypeCode.Timestamp => Epoch.AddMilliseconds(l),
            DateTimeOffset d when target == typeof(DateTime) => d.UtcDateTime,
            DateTimeOffset d when target == typeof(long) => d.ToUnixTimeMilliseconds(),
            float f when target == typeof(double) => (double)f,
            byte[] b when target == typeof(ReadOnlyMemory<byte>) => new ReadOnlyMemory<byte>(b),
            BigInteger b when target == typeof(long) => (long)b,
            BigInteger b when target == typeof(int) => (int)b,
            IEnumerable e when target.IsArray => ToArray(e, target.GetElementType()!),
            _ => null,
        };
        if (converted is not null) return (T)converted;
        throw new InvalidCastException($"column {column} is CQL type {type}; it cannot be read as {typeof(T).Name} (read it as {type.ClrType.Name})");
    }

    private static Array ToArray(IEnumerable items, Type element)
    {
        var list = items.Cast<object?>().ToList();
        var array = Array.CreateInstance(element, list.Count);
        for (var i = 0; i < list.Count; i++) array.SetValue(list[i], i);
        return array;
    }

    /// <summary>Decodes a non-null value into its default CLR type (<see cref="CqlType.ClrType"/>).</summary>
    public static object Decode(CqlType type, ReadOnlySpan<byte> span)
    {
        switch (type.Code)
        {
            case CqlTypeCode.Varchar:
            case CqlTypeCode.Ascii:
                return Encoding.UTF8.GetString(span);
            case CqlTypeCode.Blob:
            case CqlTypeCode.Custom:
            case CqlTypeCode.Udt:
            case CqlTypeCode.Tuple:
                return span.ToArray();
            case CqlTypeCode.Boolean:
                return span.Length == 1 ? span[0] != 0 : throw Bad(type, span);
            case CqlTypeCode.Int:
            case CqlTypeCode.Date:
                return span.Length == 4 ? BinaryPrimitives.ReadInt32BigEndian(span) : throw Bad(type, span);
            case CqlTypeCode.Bigint:
            case CqlTypeCode.Counter:
            case CqlTypeCode.Time:
                return span.Length == 8 ? BinaryPrimitives.ReadInt64BigEndian(span) : throw Bad(type, span);
            case CqlTypeCode.Smallint:
                return span.Length == 2 ? BinaryPrimitives.ReadInt16BigEndian(span) : throw Bad(type, span);
            case CqlTypeCode.Tinyint:
                return span.Length == 1 ? (sbyte)span[0] : throw Bad(type, span);
            case CqlTypeCode.Float:
                return span.Length == 4 ? BinaryPrimitives.ReadSingleBigEndian(span) : throw Bad(type, span);
            case CqlTypeCode.Double:
                return span.Length == 8 ? BinaryPrimitives.ReadDoubleBigEndian(span) : throw Bad(type, span);
            case CqlTypeCode.Uuid:
            case CqlTypeCode.Timeuuid:
                return span.Length == 16 ? new Guid(span, bigEndian: true) : throw Bad(type, span);
            case CqlTypeCode.Timestamp:
                return span.Length == 8 ? Epoch.AddMilliseconds(BinaryPrimitives.ReadInt64BigEndian(span)) : throw Bad(type, span);
            case CqlTypeCode.Inet:
                return span.Length is 4 or 16 ? new IPAddress(span) : throw Bad(type, span);
            case CqlTypeCode.Varint:
                return new BigInteger(span, isUnsigned: false, isBigEndian: true);
            case CqlTypeCode.Decimal:
                {
                    if (span.Length < 4) throw Bad(type, span);
                    var scale = BinaryPrimitives.ReadInt32BigEndian(span);
                    var unscaled = new BigInteger(span[4..], isUnsigned: false, isBigEndian: true);
                    return ToDecimal(unscaled, scale);
                }
            case CqlTypeCode.List:
            case CqlTypeCode.Set:
                {
                    var element = type.Arguments[0];
                    var collection = Activator.CreateInstance(type.ClrType)!;
                    var add = AddMethod(type.ClrType);
                    var position = 0;
                    var count = ReadCount(span, ref position);
                    var args = new object?[1];
                    for (var i = 0; i < count; i++)
                    {
                        args[0] = ReadElement(element, span, ref position);
                        add.Invoke(collection, args);
                    }
                    return collection;
                }
            case CqlTypeCode.Map:
                {
                    var map = (IDictionary)Activator.CreateInstance(type.ClrType)!;
                    var position = 0;
                    var count = ReadCount(span, ref position);
                    for (var i = 0; i < count; i++)
                    {
                        var key = ReadElement(type.Arguments[0], span, ref position) ?? throw Bad(type, span);
                        map[key] = ReadElement(type.Arguments[1], span, ref position);
                    }
                    return map;
                }
            default:
                return span.ToArray();
        }
    }

    private static readonly ConcurrentDictionary<Type, MethodInfo> AddMethods = new();

    private static MethodInfo AddMethod(Type collection) =>
        AddMethods.GetOrAdd(collection, t => t.GetMethod("Add", new[] { t.GetGenericArguments()[0] })!);

    private static int ReadCount(ReadOnlySpan<byte> span, ref int position)
    {
        var n = BinaryPrimitives.ReadInt32BigEndian(span[position..]);
        position += 4;
        return n;
    }

    private static object? ReadElement(CqlType type, ReadOnlySpan<byte> span, ref int position)
    {
        var length = BinaryPrimitives.ReadInt32BigEndian(span[position..]);
        position += 4;
        if (length < 0) return null;
        var value = Decode(type, span.Slice(position, length));
        position += length;
        return value;
    }

    private static decimal ToDecimal(BigInteger unscaled, int scale)
    {
        while (scale < 0)
        {
            unscaled *= 10;
            scale++;
        }
        while (scale > 28 && unscaled % 10 == 0)
        {
            unscaled /= 10;
            scale--;
        }
        var negative = unscaled.Sign < 0;
        var magnitude = BigInteger.Abs(unscaled);
        if (scale > 28 || magnitude.GetBitLength() > 96)
            throw new OverflowException($"the CQL decimal {unscaled}E-{scale} does not fit System.Decimal");
        var bytes = new byte[12];
        magnitude.TryWriteBytes(bytes, out _, isUnsigned: true, isBigEndian: false);
        return new decimal(BitConverter.ToInt32(bytes, 0), BitConverter.ToInt32(bytes, 4), BitConverter.ToInt32(bytes, 8), negative, (byte)scale);
    }

    private static CqlProtocolException Bad(CqlType type, ReadOnlySpan<byte> span) =>
        new($"a {type} value of {span.Length} bytes is malformed");
}
