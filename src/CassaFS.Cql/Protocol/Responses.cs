namespace CassaFS.Cql.Protocol;

/// <summary>Turns response frames into results or typed exceptions.</summary>
internal static class Responses
{
    private const byte FlagTracing = 0x02, FlagCustomPayload = 0x04, FlagWarning = 0x08;

    private static FrameReader Open(Frame frame, out IReadOnlyList<string> warnings)
    {
        var r = new FrameReader(frame.Body, 0, frame.Length);
        warnings = Array.Empty<string>();
        if ((frame.Flags & FlagTracing) != 0) r.ReadLong(); // tracing session id (16 bytes)
        if ((frame.Flags & FlagTracing) != 0) r.ReadLong();
        if ((frame.Flags & FlagWarning) != 0 && frame.Version >= 0x84) warnings = r.ReadStringList();
        if ((frame.Flags & FlagCustomPayload) != 0 && frame.Version >= 0x84) r.SkipBytesMap();
        return r;
    }

    public static CqlServerException ReadError(Frame frame, string host)
    {
        var r = Open(frame, out _);
        return ErrorFrame.Parse(ref r, host);
    }

    public static RowSet ReadResult(Frame frame, string host)
    {
        var r = Open(frame, out var warnings);
        if (frame.Opcode == Opcode.Error) throw ErrorFrame.Parse(ref r, host);
        if (frame.Opcode != Opcode.Result) throw new CqlProtocolException($"expected a RESULT, got opcode 0x{frame.Opcode:x2}", host);
        var kind = (ResultKind)r.ReadInt();
        switch (kind)
        {
            case ResultKind.Void:
                return new RowSet(kind, CqlColumns.None, Array.Empty<Row>(), null, host) { Warnings = warnings };
            case ResultKind.Rows:
                return ReadRows(ref r, host, warnings);
            case ResultKind.SetKeyspace:
                return new RowSet(kind, CqlColumns.None, Array.Empty<Row>(), null, host) { Keyspace = r.ReadString(), Warnings = warnings };
            case ResultKind.SchemaChange:
                {
                    var change = r.ReadString();
                    var target = r.ReadString();
                    var keyspace = r.ReadString();
                    var name = target == "KEYSPACE" ? null : r.ReadString();
                    return new RowSet(kind, CqlColumns.None, Array.Empty<Row>(), null, host) { SchemaChange = new SchemaChange(change, target, keyspace, name), Warnings = warnings };
                }
            case ResultKind.Prepared:
                throw new CqlProtocolException("a PREPARED result answered a request that was not PREPARE", host);
            default:
                throw new CqlProtocolException($"unknown result kind {(int)kind}", host);
        }
    }

    private static RowSet ReadRows(ref FrameReader r, string host, IReadOnlyList<string> warnings)
    {
        var (columns, pagingState) = ReadMetadata(ref r, withPartitionKeys: false, host);
        var count = r.ReadInt();
        if (count < 0) throw new CqlProtocolException($"negative row count {count}", host);
        var rows = new Row[count];
        var width = columns.Count;
        for (var i = 0; i < count; i++)
        {
            var slices = new int[width * 2];
            for (var c = 0; c < width; c++)
            {
                var (offset, length) = r.ReadBytesSlice();
                slices[2 * c] = offset;
                slices[(2 * c) + 1] = length;
            }
            rows[i] = new Row(columns, r.Body, slices);
        }
        return new RowSet(ResultKind.Rows, columns, rows, pagingState, host) { Warnings = warnings };
    }

    private static (CqlColumns Columns, byte[]? PagingState) ReadMetadata(ref FrameReader r, bool withPartitionKeys, string host)
    {
        var flags = r.ReadInt();
        var count = r.ReadInt();
        if (withPartitionKeys)
        {
            var keys = r.ReadInt();
            for (var i = 0; i < keys; i++) r.ReadShort();
        }
        byte[]? pagingState = null;
        if ((flags & 0x0002) != 0) pagingState = r.ReadBytes();
        if ((flags & 0x0004) != 0)
        {
            if (count > 0) throw new CqlProtocolException("the server sent rows without metadata, which this client never asks for", host);
            return (CqlColumns.None, pagingState);
        }
        string? keyspace = null, table = null;
        if ((flags & 0x0001) != 0)
        {
            keyspace = r.ReadString();
            table = r.ReadString();
        }
        var columns = new CqlColumn[count];
        for (var i = 0; i < count; i++)
        {
            var ks = keyspace ?? r.ReadString();
            var tb = table ?? r.ReadString();
            var name = r.ReadString();
            columns[i] = new CqlColumn(ks, tb, name, r.ReadType());
        }
        return (new CqlColumns(columns), pagingState);
    }

    public static PreparedStatement ReadPrepared(Frame frame, string host, string cql, string? keyspace)
    {
        var r = Open(frame, out _);
        if (frame.Opcode == Opcode.Error) throw ErrorFrame.Parse(ref r, host);
        if (frame.Opcode != Opcode.Result) throw new CqlProtocolException($"expected a RESULT, got opcode 0x{frame.Opcode:x2}", host);
        var kind = (ResultKind)r.ReadInt();
        if (kind != ResultKind.Prepared) throw new CqlProtocolException($"expected a PREPARED result, got {kind}", host);
        var id = r.ReadShortBytes();
        var (variables, _) = ReadMetadata(ref r, withPartitionKeys: frame.Version >= 0x84, host);
        var (results, _) = ReadMetadata(ref r, withPartitionKeys: false, host);
        return new PreparedStatement(cql, keyspace, id, variables.ToArray(), results.ToArray());
    }
}
