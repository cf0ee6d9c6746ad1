using System.Text;

namespace CassaFS.Cql.Protocol;

/// <summary>
/// Encodes every request this client sends into a frame body: the statements (QUERY, EXECUTE, BATCH) with the
/// session's defaults filled in where a statement does not say, and the requests of the handshake and of PREPARE.
/// </summary>
internal static class Requests
{
    public static FrameBuilder Options() => new(0) { Opcode = Opcode.Options };

    public static FrameBuilder Startup(string cqlVersion)
    {
        var w = new FrameBuilder(64) { Opcode = Opcode.Startup };
        w.WriteStringMap(new Dictionary<string, string> { ["CQL_VERSION"] = cqlVersion });
        return w;
    }

    /// <summary>A SASL PLAIN token (NUL, user, NUL, password); the plain bytes are wiped once copied into the frame.</summary>
    public static FrameBuilder PlainAuthResponse(CqlCredentials credentials)
    {
        var w = new FrameBuilder(64) { Opcode = Opcode.AuthResponse };
        var user = Encoding.UTF8.GetBytes(credentials.UserName);
        var password = Encoding.UTF8.GetBytes(credentials.Password);
        var plain = new byte[user.Length + password.Length + 2];
        user.CopyTo(plain.AsSpan(1));
        password.CopyTo(plain.AsSpan(user.Length + 2));
        w.WriteBytes(plain);
        Array.Clear(plain);
        Array.Clear(password);
        return w;
    }

    /// <summary>USE, sent bare (consistency ONE, no flags) while a connection opens.</summary>
    public static FrameBuilder UseKeyspace(string keyspace)
    {
        var w = new FrameBuilder(64) { Opcode = Opcode.Query };
        w.WriteLongString($"USE \"{keyspace.Replace("\"", "\"\"", StringComparison.Ordinal)}\"");
        w.WriteShort((ushort)Consistency.One);
        w.WriteByte(0);
        return w;
    }

    public static FrameBuilder Prepare(string cql)
    {
        var w = new FrameBuilder((cql.Length * 3) + 16) { Opcode = Opcode.Prepare };
        w.WriteLongString(cql);
        return w;
    }

    /// <summary>The QUERY, EXECUTE or BATCH frame for one execution of <paramref name="statement"/> (one page of it).</summary>
    public static FrameBuilder Statement(Statement statement, byte[]? pagingState, int? fetchSize, CqlSessionOptions defaults, WriteClock clock)
    {
        switch (statement)
        {
            case SimpleStatement simple:
                {
                    var w = new FrameBuilder(simple.EstimateSize()) { Opcode = Opcode.Query };
                    w.WriteLongString(simple.Cql);
                    WriteParameters(w, statement, pagingState, fetchSize, simple, defaults, clock);
                    return w;
                }
            case BoundStatement bound:
                {
                    var w = new FrameBuilder(bound.EstimateSize()) { Opcode = Opcode.Execute };
                    w.WriteShortBytes(bound.Prepared.Id);
                    WriteParameters(w, statement, pagingState, fetchSize, null, defaults, clock);
                    return w;
                }
            case BatchStatement batch:
                return Batch(batch, defaults, clock);
            default:
                throw new ArgumentException($"unsupported statement type {statement.GetType().Name}");
        }
    }

    private static void WriteParameters(FrameBuilder w, Statement statement, byte[]? pagingState, int? fetchSize, SimpleStatement? simple,
        CqlSessionOptions defaults, WriteClock clock)
    {
        w.WriteShort((ushort)(statement.Consistency ?? defaults.DefaultConsistency));
        byte flags = 0x04; // page size, always
        var valueCount = simple is null ? ((BoundStatement)statement).Values.Count : simple.NamedValues?.Count ?? simple.Values.Count;
        if (valueCount > 0) flags |= 0x01;
        if (simple?.NamedValues is not null) flags |= 0x40;
        if (pagingState is not null) flags |= 0x08;
        var serial = statement.SerialConsistency ?? defaults.DefaultSerialConsistency;
        if (serial != Consistency.Serial) flags |= 0x10;
        var timestamp = clock.Timestamp(statement, defaults.ClientTimestamps);
        if (timestamp is not null) flags |= 0x20;
        w.WriteByte(flags);
        if (valueCount > 0)
        {
            w.WriteShort((ushort)valueCount);
            if (simple?.NamedValues is { } named)
            {
                foreach (var (name, value) in named)
                {
                    w.WriteString(name);
                    CqlCodec.WriteValue(w, value is null ? CqlType.Blob : CqlType.ForClrType(value.GetType()), value);
                }
            }
            else if (simple is not null)
            {
                WriteSimpleValues(w, simple.Values);
            }
            else
            {
                var bound = (BoundStatement)statement;
                var variables = bound.Prepared.Variables;
                for (var i = 0; i < variables.Count; i++) CqlCodec.WriteValue(w, variables[i].Type, bound.Values[i]);
            }
        }
        w.WriteInt(fetchSize ?? defaults.DefaultFetchSize);
        if (pagingState is not null) w.WriteBytes(pagingState);
        if (serial != Consistency.Serial) w.WriteShort((ushort)serial);
        if (timestamp is { } ts) w.WriteLong(ts);
    }

    private static void WriteSimpleValues(FrameBuilder w, IReadOnlyList<object?> values)
    {
        foreach (var value in values) CqlCodec.WriteValue(w, value is null ? CqlType.Blob : CqlType.ForClrType(value.GetType()), value);
    }

    private static FrameBuilder Batch(BatchStatement batch, CqlSessionOptions defaults, WriteClock clock)
    {
        var w = new FrameBuilder(batch.EstimateSize()) { Opcode = Opcode.Batch };
        w.WriteByte((byte)batch.Type);
        w.WriteShort(checked((ushort)batch.Statements.Count));
        foreach (var s in batch.Statements)
        {
            if (s is SimpleStatement simple)
            {
                w.WriteByte(0);
                w.WriteLongString(simple.Cql);
                w.WriteShort((ushort)simple.Values.Count);
                WriteSimpleValues(w, simple.Values);
            }
            else
            {
                var bound = (BoundStatement)s;
                w.WriteByte(1);
                w.WriteShortBytes(bound.Prepared.Id);
                w.WriteShort((ushort)bound.Values.Count);
                for (var i = 0; i < bound.Values.Count; i++) CqlCodec.WriteValue(w, bound.Prepared.Variables[i].Type, bound.Values[i]);
            }
        }
        w.WriteShort((ushort)(batch.Consistency ?? defaults.DefaultConsistency));
        byte flags = 0;
        var serial = batch.SerialConsistency ?? defaults.DefaultSerialConsistency;
        if (serial != Consistency.Serial) flags |= 0x10;
        var timestamp = clock.Timestamp(batch, defaults.ClientTimestamps);
        if (timestamp is not null) flags |= 0x20;
        w.WriteByte(flags);
        if (serial != Consistency.Serial) w.WriteShort((ushort)serial);
        if (timestamp is { } ts) w.WriteLong(ts);
        return w;
    }
}

/// <summary>The session's client-side write timestamps: microseconds since the epoch, strictly increasing.</summary>
internal sealed class WriteClock
{
    private long _last;

    /// <summary>The statement's own timestamp, else the next one of this clock when client timestamps are on, else none.</summary>
    public long? Timestamp(Statement statement, bool clientTimestamps)
    {
        if (statement.Timestamp is { } given) return given;
        if (!clientTimestamps) return null;
        // Strictly increasing, so two writes from this session in a row never tie (a tie lets the older one win).
        var now = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        while (true)
        {
            var last = Volatile.Read(ref _last);
            var next = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref _last, next, last) == last) return next;
        }
    }
}
