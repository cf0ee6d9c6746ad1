using CassaFS.Cql;

namespace CassaFS.Locks;

/// <summary>
/// The CQL the lease provider runs, and nothing else. <see cref="SessionStatements"/> sends it to the provider's
/// session; being one narrow seam, it is also where a test puts a wrapper that times a statement out after (or
/// before) the server applied it, to check how the lease settles an unknown outcome.
/// </summary>
internal interface ILeaseStatements
{
    Task<PreparedStatement> PrepareAsync(string cql, CancellationToken ct);

    /// <summary>A lightweight transaction (IF ...): whether it applied, with the current row when not.</summary>
    Task<LwtResult> ExecuteConditionalAsync(Statement statement, CancellationToken ct);

    Task<RowSet> ExecuteAsync(Statement statement, CancellationToken ct);

    /// <summary>Every row of a query, <paramref name="pageSize"/> rows a page.</summary>
    IAsyncEnumerable<Row> QueryAsync(Statement statement, int pageSize, CancellationToken ct);
}

/// <summary>The lease's CQL on a session (the way every lease provider runs it outside tests).</summary>
internal sealed class SessionStatements(CqlSession session) : ILeaseStatements
{
    public Task<PreparedStatement> PrepareAsync(string cql, CancellationToken ct) => session.PrepareAsync(cql, ct);

    public Task<LwtResult> ExecuteConditionalAsync(Statement statement, CancellationToken ct) => session.ExecuteConditionalAsync(statement, ct);

    public Task<RowSet> ExecuteAsync(Statement statement, CancellationToken ct) => session.ExecuteAsync(statement, ct);

    public IAsyncEnumerable<Row> QueryAsync(Statement statement, int pageSize, CancellationToken ct) => session.QueryAsync(statement, pageSize, ct);
}
