using CassaFS.Testing;

namespace CassaFS.Cql.Tests;

[Collection(SharedClusterGroup.Name)]
public sealed class ErrorTests(SharedCluster cluster)
{
    private readonly CqlSession _session = cluster.Session;

    [Fact]
    public async Task A_syntax_error_raises_CqlSyntaxException_with_the_servers_message()
    {
        var e = await Assert.ThrowsAsync<CqlSyntaxException>(() => _session.ExecuteAsync("SELEKT * FROM nowhere"));
        Assert.Equal(CqlErrorCode.SyntaxError, e.Code);
        Assert.Contains("SELEKT", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(cluster.ContactPoint, e.Host);
    }

    [Fact]
    public async Task An_unknown_table_raises_CqlInvalidQueryException_and_preparing_it_too()
    {
        await Assert.ThrowsAsync<CqlInvalidQueryException>(() => _session.ExecuteAsync("SELECT * FROM no_such_table"));
        await Assert.ThrowsAsync<CqlInvalidQueryException>(() => _session.PrepareAsync("SELECT * FROM no_such_table_either"));
    }

    [Fact]
    public async Task A_failed_prepare_is_not_cached_so_it_succeeds_once_the_table_exists()
    {
        const string Cql = "SELECT v FROM prepared_later WHERE id = ?";
        await Assert.ThrowsAsync<CqlInvalidQueryException>(() => _session.PrepareAsync(Cql));
        await _session.ExecuteAsync("CREATE TABLE prepared_later (id int PRIMARY KEY, v int)");
        var prepared = await _session.PrepareAsync(Cql);
        Assert.Equal("id", Assert.Single(prepared.Variables).Name);
        Assert.Same(prepared, await _session.PrepareAsync(Cql));
    }

    [Fact]
    public async Task A_cancelled_request_throws_OperationCanceledException_and_the_session_keeps_working()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _session.ExecuteAsync(new SimpleStatement("SELECT key FROM system.local"), cancelled.Token));
        Assert.Single(await _session.ExecuteAsync("SELECT key FROM system.local"));
    }

    [Fact]
    public async Task Creating_an_existing_table_raises_CqlAlreadyExistsException_naming_it()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS twice (id int PRIMARY KEY)");
        var e = await Assert.ThrowsAsync<CqlAlreadyExistsException>(() => _session.ExecuteAsync("CREATE TABLE twice (id int PRIMARY KEY)"));
        Assert.Equal(cluster.Keyspace, e.Keyspace);
        Assert.Equal("twice", e.Table);
    }

    [Fact]
    public async Task Quorum_on_a_keyspace_with_three_replicas_and_one_node_raises_Unavailable_with_its_facts()
    {
        var keyspace = TestNames.Keyspace("rf3");
        await _session.ExecuteAsync($"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 3}}");
        try
        {
            await _session.ExecuteAsync($"CREATE TABLE {keyspace}.t (id int PRIMARY KEY)");
            var e = await Assert.ThrowsAsync<CqlUnavailableException>(() =>
                _session.ExecuteAsync(new SimpleStatement($"INSERT INTO {keyspace}.t (id) VALUES (1)").WithConsistency(Consistency.Quorum)));
            Assert.Equal(Consistency.Quorum, e.Consistency);
            Assert.Equal(2, e.Required);
            Assert.Equal(1, e.Alive);
            // ONE is satisfiable: the same write succeeds.
            await _session.ExecuteAsync(new SimpleStatement($"INSERT INTO {keyspace}.t (id) VALUES (1)").WithConsistency(Consistency.One));
        }
        finally
        {
            await _session.ExecuteAsync($"DROP KEYSPACE {keyspace}");
        }
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_is_refused_before_sending()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS typed (id int PRIMARY KEY, v bigint)");
        var typed = await _session.PrepareAsync("INSERT INTO typed (id, v) VALUES (?, ?)");
        var e = await Assert.ThrowsAsync<ArgumentException>(() => _session.ExecuteAsync(typed.Bind(1, "not a number")));
        Assert.Contains("bigint", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => typed.Bind(1));
    }

    [Fact]
    public async Task An_unreachable_contact_point_fails_fast_naming_every_host_tried()
    {
        var start = DateTime.UtcNow;
        var e = await Assert.ThrowsAsync<CqlNoHostAvailableException>(() => CqlSession.ConnectAsync(new CqlSessionOptions
        {
            ContactPoints = { "127.0.0.1:1", "127.0.0.1:2" }, ConnectTimeout = TimeSpan.FromSeconds(2),
        }));
        Assert.Contains("127.0.0.1:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:2", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, e.Errors.Count);
        Assert.All(e.Errors.Values, x => Assert.IsType<CqlConnectionException>(x));
        Assert.True(DateTime.UtcNow - start < TimeSpan.FromSeconds(10));
    }
}
