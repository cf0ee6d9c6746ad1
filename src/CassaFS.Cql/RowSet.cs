using System.Collections;
using CassaFS.Cql.Protocol;

namespace CassaFS.Cql;

/// <summary>A column of a result or a bind marker of a prepared statement.</summary>
public sealed record CqlColumn(string Keyspace, string Table, string Name, CqlType Type);

/// <summary>What a RESULT frame said.</summary>
public enum ResultKind
{
    Void = 1,
    Rows = 2,
    SetKeyspace = 3,
    Prepared = 4,
    SchemaChange = 5,
}

/// <summary>A schema change a DDL statement made (CREATED/UPDATED/DROPPED of a KEYSPACE/TABLE/TYPE/...).</summary>
public sealed record SchemaChange(string ChangeType, string Target, string Keyspace, string? Name);

/// <summary>Column names of a result, resolved to indexes once per page.</summary>
public sealed class CqlColumns : IReadOnlyList<CqlColumn>
{
    private readonly CqlColumn[] _columns;
    private readonly Dictionary<string, int> _byName;

    internal CqlColumns(CqlColumn[] columns)
    {
        _columns = columns;
        _byName = new Dictionary<string, int>(columns.Length, StringComparer.Ordinal);
        for (var i = 0; i < columns.Length; i++) _byName.TryAdd(columns[i].Name, i);
    }

    internal static readonly CqlColumns None = new(Array.Empty<CqlColumn>());

    public CqlColumn this[int index] => _columns[index];
    public int Count => _columns.Length;

    public int IndexOf(string name) =>
        _byName.TryGetValue(name, out var i) ? i
        : throw new ArgumentException($"no column named '{name}' in the result (columns: {string.Join(", ", _columns.Select(c => c.Name))})");

    public bool Contains(string name) => _byName.ContainsKey(name);

    public IEnumerator<CqlColumn> GetEnumerator() => ((IEnumerable<CqlColumn>)_columns).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _columns.GetEnumerator();
}

/// <summary>One row; its values are slices of the response frame, decoded when read.</summary>
public sealed class Row
{
    private readonly byte[] _body;
    private readonly int[] _slices;

    internal Row(CqlColumns columns, byte[] body, int[] slices)
    {
        Columns = columns;
        _body = body;
        _slices = slices;
    }

    public CqlColumns Columns { get; }

    public bool IsNull(int index) => _slices[(2 * index) + 1] < 0;
    public bool IsNull(string name) => IsNull(Columns.IndexOf(name));

    /// <summary>The raw serialized value without copying (for a blob: its bytes); empty for null.</summary>
    public ReadOnlyMemory<byte> GetBytes(int index)
    {
        var length = _slices[(2 * index) + 1];
        return length < 0 ? ReadOnlyMemory<byte>.Empty : new ReadOnlyMemory<byte>(_body, _slices[2 * index], length);
    }

    public ReadOnlyMemory<byte> GetBytes(string name) => GetBytes(Columns.IndexOf(name));

    /// <summary>
    /// The value as <typeparamref name="T"/>. Null reads as null for reference and nullable types; reading null into
    /// a non-nullable value type throws (read it as <c>T?</c>). Blobs read as byte[] (a copy) or ReadOnlyMemory (no copy).
    /// </summary>
    public T Get<T>(int index)
    {
        var column = Columns[index];
        var length = _slices[(2 * index) + 1];
        if (length < 0)
        {
            if (default(T) is null || Nullable.GetUnderlyingType(typeof(T)) is not null) return default!;
            if (typeof(T) == typeof(ReadOnlyMemory<byte>)) return default!;
            throw new InvalidCastException($"column {column.Name} is null; read it as {typeof(T).Name}? to accept nulls");
        }
        return CqlCodec.Read<T>(column.Type, new ReadOnlyMemory<byte>(_body, _slices[2 * index], length), column.Name);
    }

    public T Get<T>(string name) => Get<T>(Columns.IndexOf(name));

    /// <summary>The value in its default CLR type (see <see cref="CqlType.ClrType"/>), or null.</summary>
    public object? GetValue(int index) =>
        IsNull(index) ? null : CqlCodec.Decode(Columns[index].Type, GetBytes(index).Span);

    public object? GetValue(string name) => GetValue(Columns.IndexOf(name));

    /// <summary>Copies a blob into <paramref name="destination"/>; returns the byte count, or -1 for null.</summary>
    public int CopyBytes(int index, Span<byte> destination)
    {
        if (IsNull(index)) return -1;
        var bytes = GetBytes(index).Span;
        bytes.CopyTo(destination);
        return bytes.Length;
    }

    public override string ToString() =>
        "(" + string.Join(", ", Columns.Select((c, i) => $"{c.Name}={GetValue(i) ?? "null"}")) + ")";
}

/// <summary>The result of one execution: a page of rows (and where the next page starts), or a non-row outcome.</summary>
public sealed class RowSet : IReadOnlyList<Row>
{
    private readonly Row[] _rows;

    internal RowSet(ResultKind kind, CqlColumns columns, Row[] rows, byte[]? pagingState, string host)
    {
        Kind = kind;
        Columns = columns;
        _rows = rows;
        PagingState = pagingState;
        Host = host;
    }

    public ResultKind Kind { get; }
    public CqlColumns Columns { get; }

    /// <summary>Non-null when more rows follow: pass it back with <see cref="StatementOptions.WithPagingState"/>.</summary>
    public byte[]? PagingState { get; }

    /// <summary>The coordinator that answered.</summary>
    public string Host { get; }

    /// <summary>For a USE statement: the keyspace now in effect.</summary>
    public string? Keyspace { get; internal init; }

    public SchemaChange? SchemaChange { get; internal init; }

    /// <summary>Warnings the server attached (protocol v4 and later).</summary>
    public IReadOnlyList<string> Warnings { get; internal init; } = Array.Empty<string>();

    public Row this[int index] => _rows[index];
    public int Count => _rows.Length;

    public Row? FirstOrDefault() => _rows.Length > 0 ? _rows[0] : null;

    public IEnumerator<Row> GetEnumerator() => ((IEnumerable<Row>)_rows).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _rows.GetEnumerator();
}

/// <summary>
/// Outcome of a lightweight transaction (<c>IF NOT EXISTS</c>, <c>IF col = ?</c>): whether it applied, and when it
/// did not, the row as it is now (null when there is no such row).
/// </summary>
public sealed class LwtResult
{
    internal LwtResult(bool applied, Row? current)
    {
        Applied = applied;
        Current = current;
    }

    public bool Applied { get; }

    /// <summary>The current row when not applied: read its columns by name (it also holds <c>[applied]</c>).</summary>
    public Row? Current { get; }
}
