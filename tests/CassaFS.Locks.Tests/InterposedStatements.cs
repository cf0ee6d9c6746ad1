using CassaFS.Cql;

namespace CassaFS.Locks.Tests;

/// <summary>
/// A lease provider's CQL with the test in between (<see cref="ILeaseStatements"/>, on the real server): the next
/// lease renewals can time out on the client without reaching the server, and the next lease inserts can time out
/// after (or before) the server applied them, as a CqlClientTimeoutException says they may.
/// </summary>
internal sealed class InterposedStatements(ILeaseStatements inner) : ILeaseStatements
{
    private int _renewalTimeouts;
    private int _insertTimeouts;
    private bool _insertApplies;

    /// <summary>A provider whose CQL goes through a new <see cref="InterposedStatements"/> on <paramref name="session"/>.</summary>
    public static (LwtLeaseLockProvider Provider, InterposedStatements Cql) Provider(CqlSession session, string keyspace, LwtLeaseOptions options)
    {
        var cql = new InterposedStatements(new SessionStatements(session));
        return (new LwtLeaseLockProvider(cql, keyspace, options), cql);
    }

    /// <summary>How many renewals and inserts timed out so far.</summary>
    public int RenewalsTimedOut { get; private set; }

    public int InsertsTimedOut { get; private set; }

    /// <summary>The next <paramref name="count"/> renewals time out on the client without reaching the server.</summary>
    public void TimeOutRenewals(int count) => Volatile.Write(ref _renewalTimeouts, count);

    /// <summary>The next <paramref name="count"/> lease INSERTs time out on the client, after (or before) the server applied them.</summary>
    public void TimeOutInserts(bool applied, int count = 1)
    {
        _insertApplies = applied;
        Volatile.Write(ref _insertTimeouts, count);
    }

    public async Task<LwtResult> ExecuteConditionalAsync(Statement statement, CancellationToken ct)
    {
        if (IsLeaseStatement(statement, "UPDATE ") && Take(ref _renewalTimeouts))
        {
            RenewalsTimedOut++;
            throw new CqlClientTimeoutException("the test", TimeSpan.Zero);
        }
        if (IsLeaseStatement(statement, "INSERT ") && Take(ref _insertTimeouts))
        {
            if (_insertApplies) await inner.ExecuteConditionalAsync(statement, ct);
            InsertsTimedOut++;
            throw new CqlClientTimeoutException("the test", TimeSpan.Zero);
        }
        return await inner.ExecuteConditionalAsync(statement, ct);
    }

    private static bool IsLeaseStatement(Statement statement, string verb) =>
        statement is BoundStatement bound && bound.Prepared.Cql.StartsWith(verb, StringComparison.Ordinal) &&
        bound.Prepared.Cql.Contains($".{LwtLeaseLockProvider.LeaseTable} ", StringComparison.Ordinal);

    private static bool Take(ref int budget) => Volatile.Read(ref budget) > 0 && Interlocked.Decrement(ref budget) >= 0;

    public Task<PreparedStatement> PrepareAsync(string cql, CancellationToken ct) => inner.PrepareAsync(cql, ct);

    public Task<RowSet> ExecuteAsync(Statement statement, CancellationToken ct) => inner.ExecuteAsync(statement, ct);

    public IAsyncEnumerable<Row> QueryAsync(Statement statement, int pageSize, CancellationToken ct) => inner.QueryAsync(statement, pageSize, ct);
}
