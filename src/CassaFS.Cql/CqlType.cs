using System.Collections.Concurrent;
using System.Numerics;
using System.Net;

// The enum members and factories carry CQL's own type names (int, float, decimal...), as the protocol spec does.
#pragma warning disable CA1720

namespace CassaFS.Cql;

/// <summary>Type codes of the native protocol's [option] type descriptor.</summary>
public enum CqlTypeCode : ushort
{
    Custom = 0x0000,
    Ascii = 0x0001,
    Bigint = 0x0002,
    Blob = 0x0003,
    Boolean = 0x0004,
    Counter = 0x0005,
    Decimal = 0x0006,
    Double = 0x0007,
    Float = 0x0008,
    Int = 0x0009,
    Timestamp = 0x000B,
    Uuid = 0x000C,
    Varchar = 0x000D,
    Varint = 0x000E,
    Timeuuid = 0x000F,
    Inet = 0x0010,
    Date = 0x0011,
    Time = 0x0012,
    Smallint = 0x0013,
    Tinyint = 0x0014,
    List = 0x0020,
    Map = 0x0021,
    Set = 0x0022,
    Udt = 0x0030,
    Tuple = 0x0031,
}

/// <summary>A CQL column type as the server describes it: a code plus element types for collections.</summary>
public sealed class CqlType : IEquatable<CqlType>
{
    private static readonly ConcurrentDictionary<CqlTypeCode, CqlType> Simple = new();

    private CqlType(CqlTypeCode code, string? name, IReadOnlyList<CqlType> arguments)
    {
        Code = code;
        Name = name;
        Arguments = arguments;
    }

    public CqlTypeCode Code { get; }

    /// <summary>The class name of a custom type, or the name of a user type.</summary>
    public string? Name { get; }

    /// <summary>Element type of a list or set; key and value types of a map; fields of a tuple or user type.</summary>
    public IReadOnlyList<CqlType> Arguments { get; }

    public static CqlType Of(CqlTypeCode code) => Simple.GetOrAdd(code, c => new CqlType(c, null, Array.Empty<CqlType>()));
    public static CqlType List(CqlType element) => new(CqlTypeCode.List, null, new[] { element });
    public static CqlType Set(CqlType element) => new(CqlTypeCode.Set, null, new[] { element });
    public static CqlType Map(CqlType key, CqlType value) => new(CqlTypeCode.Map, null, new[] { key, value });
    public static CqlType Custom(string className) => new(CqlTypeCode.Custom, className, Array.Empty<CqlType>());
    internal static CqlType Composite(CqlTypeCode code, string name, IReadOnlyList<CqlType> fields) => new(code, name, fields);

    public static CqlType Text => Of(CqlTypeCode.Varchar);
    public static CqlType Blob => Of(CqlTypeCode.Blob);
    public static CqlType Int => Of(CqlTypeCode.Int);
    public static CqlType Bigint => Of(CqlTypeCode.Bigint);
    public static CqlType Boolean => Of(CqlTypeCode.Boolean);
    public static CqlType Uuid => Of(CqlTypeCode.Uuid);

    /// <summary>The CLR type values of this CQL type are read as by default.</summary>
    public Type ClrType => _clrType ??= ComputeClrType();
    private Type? _clrType;

    private Type ComputeClrType() => Code switch
    {
        CqlTypeCode.Ascii or CqlTypeCode.Varchar => typeof(string),
        CqlTypeCode.Bigint or CqlTypeCode.Counter or CqlTypeCode.Time => typeof(long),
        CqlTypeCode.Blob or CqlTypeCode.Custom or CqlTypeCode.Udt or CqlTypeCode.Tuple => typeof(byte[]),
        CqlTypeCode.Boolean => typeof(bool),
        CqlTypeCode.Decimal => typeof(decimal),
        CqlTypeCode.Double => typeof(double),
        CqlTypeCode.Float => typeof(float),
        CqlTypeCode.Int or CqlTypeCode.Date => typeof(int),
        CqlTypeCode.Smallint => typeof(short),
        CqlTypeCode.Tinyint => typeof(sbyte),
        CqlTypeCode.Timestamp => typeof(DateTimeOffset),
        CqlTypeCode.Uuid or CqlTypeCode.Timeuuid => typeof(Guid),
        CqlTypeCode.Varint => typeof(BigInteger),
        CqlTypeCode.Inet => typeof(IPAddress),
        CqlTypeCode.List => typeof(List<>).MakeGenericType(Arguments[0].ClrType),
        CqlTypeCode.Set => typeof(HashSet<>).MakeGenericType(Arguments[0].ClrType),
        CqlTypeCode.Map => typeof(Dictionary<,>).MakeGenericType(Arguments[0].ClrType, Arguments[1].ClrType),
        _ => typeof(byte[]),
    };

    /// <summary>The CQL type a CLR value is sent as when no prepared metadata says otherwise.</summary>
    public static CqlType ForClrType(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string)) return Text;
        if (type == typeof(byte[]) || type == typeof(ReadOnlyMemory<byte>) || type == typeof(Memory<byte>) || type == typeof(ArraySegment<byte>)) return Blob;
        if (type == typeof(int)) return Int;
        if (type == typeof(long)) return Bigint;
        if (type == typeof(bool)) return Boolean;
        if (type == typeof(Guid)) return Uuid;
        if (type == typeof(double)) return Of(CqlTypeCode.Double);
        if (type == typeof(float)) return Of(CqlTypeCode.Float);
        if (type == typeof(decimal)) return Of(CqlTypeCode.Decimal);
        if (type == typeof(BigInteger)) return Of(CqlTypeCode.Varint);
        if (type == typeof(DateTimeOffset) || type == typeof(DateTime)) return Of(CqlTypeCode.Timestamp);
        if (typeof(IPAddress).IsAssignableFrom(type)) return Of(CqlTypeCode.Inet);
        foreach (var face in type.GetInterfaces().Append(type))
        {
            if (!face.IsGenericType) continue;
            var definition = face.GetGenericTypeDefinition();
            var args = face.GetGenericArguments();
            if (definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>)) return Map(ForClrType(args[0]), ForClrType(args[1]));
        }
        foreach (var face in type.GetInterfaces().Append(type))
        {
            if (face.IsGenericType && (face.GetGenericTypeDefinition() == typeof(ISet<>) || face.GetGenericTypeDefinition() == typeof(IReadOnlySet<>)))
                return Set(ForClrType(face.GetGenericArguments()[0]));
        }
        foreach (var face in type.GetInterfaces().Append(type))
        {
            if (face.IsGenericType && face.GetGenericTypeDefinition() == typeof(IEnumerable<>))
                return List(ForClrType(face.GetGenericArguments()[0]));
        }
        throw new ArgumentException($"values of type {type} cannot be sent to Cassandra; use a prepared statement or a supported type");
    }

    public bool Equals(CqlType? other) =>
        other is not null && other.Code == Code && other.Name == Name && other.Arguments.SequenceEqual(Arguments);

    public override bool Equals(object? obj) => Equals(obj as CqlType);

    public override int GetHashCode() => HashCode.Combine(Code, Name, Arguments.Count);

    public override string ToString() => Code switch
    {
        CqlTypeCode.List => $"list<{Arguments[0]}>",
        CqlTypeCode.Set => $"set<{Arguments[0]}>",
        CqlTypeCode.Map => $"map<{Arguments[0]}, {Arguments[1]}>",
        CqlTypeCode.Custom => $"'{Name}'",
        CqlTypeCode.Udt => Name ?? "udt",
        CqlTypeCode.Tuple => $"tuple<{string.Join(", ", Arguments)}>",
        CqlTypeCode.Varchar => "text",
        _ => Code.ToString().ToLowerInvariant(),
    };
}
