using CassaFS.Cql.Protocol;

namespace CassaFS.Cql;

/// <summary>Something the session can execute: a CQL string, a bound prepared statement, or a batch.</summary>
public abstract class Statement
{
    /// <summary>Consistency of this execution; the session's default when null.</summary>
    public Consistency? Consistency { get; set; }

    /// <summary>Consistency of the Paxos phase of a conditional statement; the session's default when null.</summary>
    public Consistency? SerialConsistency { get; set; }

    /// <summary>Whether running it twice has the effect of running it once, so it may be retried on another host.</summary>
    public bool IsIdempotent { get; set; }

    /// <summary>Write timestamp in microseconds since the epoch; the session's client-side clock when null.</summary>
    public long? Timestamp { get; set; }

    /// <summary>Rows per page for this statement; the session's default when null.</summary>
    public int? FetchSize { get; set; }

    /// <summary>Where to resume reading (from <see cref="RowSet.PagingState"/>); null to start at the beginning.</summary>
    public byte[]? PagingState { get; set; }

    internal abstract int EstimateSize();
}

/// <summary>Fluent setters that keep the statement's own type.</summary>
public static class StatementOptions
{
    public static T WithConsistency<T>(this T statement, Consistency consistency) where T : Statement
    {
        ArgumentNullException.ThrowIfNull(statement);
        statement.Consistency = consistency;
        return statement;
    }

    public static T WithSerialConsistency<T>(this T statement, Consistency consistency) where T : Statement
    {
        ArgumentNullException.ThrowIfNull(statement);
        statement.SerialConsistency = consistency;
        return statement;
    }

    /// <summary>Marks the statement safe to run twice, so a timeout or a lost connection may retry it on another host.</summary>
    public static T AsIdempotent<T>(this T statement, bool idempotent = true) where T : Statement
    {
        ArgumentNullException.ThrowIfNull(statement);
        statement.IsIdempotent = idempotent;
        return statement;
    }

    public static T WithTimestamp<T>(this T statement, long microsecondsSinceEpoch) where T : Statement
    {
        ArgumentNullException.ThrowIfNull(statement);
        statement.Timestamp = microsecondsSinceEpoch;
        return statement;
    }

    public static T WithFetchSize<T>(this T statement, int rowsPerPage) where T : Statement
    {
        ArgumentNullException.ThrowIfNull(statement);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerPage, 1);
        statement.FetchSize = rowsPerPage;
        return statement;
    }

    public static T WithPagingState<T>(this T statement, byte[]? pagingState) where T : Statement
    {
        ArgumentNullException.ThrowIfNull(statement);
        statement.PagingState = pagingState;
        return statement;
    }
}

/// <summary>A CQL string with positional (<c>?</c>) or named (<c>:name</c>) values, sent without preparing.</summary>
public sealed class SimpleStatement : Statement
{
    public SimpleStatement(string cql, params object?[] values)
    {
        Cql = cql ?? throw new ArgumentNullException(nameof(cql));
        Values = values ?? Array.Empty<object?>();
    }

    public SimpleStatement(string cql, IReadOnlyDictionary<string, object?> namedValues)
    {
        Cql = cql ?? throw new ArgumentNullException(nameof(cql));
        NamedValues = namedValues ?? throw new ArgumentNullException(nameof(namedValues));
        Values = Array.Empty<object?>();
    }

    public string Cql { get; }
    public IReadOnlyList<object?> Values { get; }
    public IReadOnlyDictionary<string, object?>? NamedValues { get; }

    internal override int EstimateSize() =>
        (Cql.Length * 3) + 64 + Values.Sum(CqlCodec.EstimateSize) + (NamedValues?.Sum(v => (v.Key.Length * 3) + CqlCodec.EstimateSize(v.Value)) ?? 0);
}

/// <summary>A statement the server has parsed once; bind values to it to execute.</summary>
public sealed class PreparedStatement
{
    internal PreparedStatement(string cql, string? keyspace, byte[] id, IReadOnlyList<CqlColumn> variables, IReadOnlyList<CqlColumn> resultColumns)
    {
        Cql = cql;
        Keyspace = keyspace;
        Id = id;
        Variables = variables;
        ResultColumns = resultColumns;
    }

    public string Cql { get; }

    /// <summary>The session keyspace it was prepared in (needed to prepare it again on another host).</summary>
    public string? Keyspace { get; }

    /// <summary>The server's id for it (an MD5 of the text and keyspace, the same on every host).</summary>
    public byte[] Id { get; internal set; }

    /// <summary>The bind markers, in order, with their names and types.</summary>
    public IReadOnlyList<CqlColumn> Variables { get; }

    public IReadOnlyList<CqlColumn> ResultColumns { get; }

    /// <summary>Binds values by position; they are converted to the markers' CQL types.</summary>
    public BoundStatement Bind(params object?[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != Variables.Count)
            throw new ArgumentException($"the statement has {Variables.Count} bind markers but {values.Length} values were given: {Cql}");
        return new BoundStatement(this, values);
    }

    /// <summary>A statement with every marker unset, to fill with <see cref="BoundStatement.Set(string, object?)"/> by name.</summary>
    public BoundStatement Bind() => new(this, new object?[Variables.Count]);

    public override string ToString() => Cql;
}

/// <summary>A prepared statement with its values.</summary>
public sealed class BoundStatement : Statement
{
    private readonly object?[] _values;

    internal BoundStatement(PreparedStatement prepared, object?[] values)
    {
        Prepared = prepared;
        _values = values;
    }

    public PreparedStatement Prepared { get; }
    public IReadOnlyList<object?> Values => _values;

    /// <summary>Sets the value of the marker named <paramref name="name"/> (<c>:name</c>, or the column it is compared to).</summary>
    public BoundStatement Set(string name, object? value)
    {
        var found = false;
        for (var i = 0; i < Prepared.Variables.Count; i++)
        {
            if (!string.Equals(Prepared.Variables[i].Name, name, StringComparison.Ordinal)) continue;
            _values[i] = value;
            found = true;
        }
        if (!found)
            throw new ArgumentException($"no bind marker named '{name}' in: {Prepared.Cql} (markers: {string.Join(", ", Prepared.Variables.Select(v => v.Name))})");
        return this;
    }

    public BoundStatement Set(int index, object? value)
    {
        _values[index] = value;
        return this;
    }

    internal override int EstimateSize() => 64 + Prepared.Id.Length + _values.Sum(CqlCodec.EstimateSize);
}

/// <summary>Several modifications sent as one BATCH (logged ones are applied all or none).</summary>
public sealed class BatchStatement(BatchType type = BatchType.Logged) : Statement
{
    private readonly List<Statement> _statements = new();

    public BatchType Type { get; } = type;
    public IReadOnlyList<Statement> Statements => _statements;

    /// <summary>Adds a simple or bound statement (not a batch).</summary>
    public BatchStatement Add(Statement statement)
    {
        ArgumentNullException.ThrowIfNull(statement);
        if (statement is BatchStatement) throw new ArgumentException("a batch cannot contain a batch");
        if (statement is SimpleStatement { NamedValues: not null })
            throw new ArgumentException("protocol v3 does not carry named values inside a batch; use positional values");
        _statements.Add(statement);
        return this;
    }

    internal override int EstimateSize() => 64 + _statements.Sum(s => s.EstimateSize());
}
