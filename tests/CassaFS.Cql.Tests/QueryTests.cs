namespace CassaFS.Cql.Tests;

[Collection(SharedClusterGroup.Name)]
public sealed class QueryTests(SharedCluster cluster)
{
    private readonly CqlSession _session = cluster.Session;

    [Fact]
    public async Task The_client_negotiates_down_to_protocol_v3_with_Cassandra_2_1()
    {
        await _session.ExecuteAsync("SELECT release_version FROM system.local");
        Assert.Equal(3, _session.ProtocolVersion);
        Assert.Contains(_session.Hosts, h => h.IsUp && h.ProtocolVersion == 3 && h.OpenConnections >= 1);
    }

    [Fact]
    public async Task Paging_over_20k_rows_with_fetch_size_100_returns_every_row_once_in_flat_memory()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS paged (p int, c int, payload blob, PRIMARY KEY (p, c))");
        var insert = await _session.PrepareAsync("INSERT INTO paged (p, c, payload) VALUES (?, ?, ?)");
        var payload = new byte[1024];
        const int Rows = 20_000;
        await Parallel.ForEachAsync(Enumerable.Range(0, Rows), new ParallelOptions { MaxDegreeOfParallelism = 64 },
            async (i, ct) => await _session.ExecuteAsync(insert.Bind(i % 20, i, payload), ct));

        var select = await _session.PrepareAsync("SELECT p, c, payload FROM paged");
        var seen = new bool[Rows];
        var count = 0;
        long baseline = 0, peak = 0;
        await foreach (var row in _session.QueryAsync(select.Bind(), fetchSize: 100))
        {
            var c = row.Get<int>("c");
            Assert.False(seen[c], $"row {c} came twice");
            seen[c] = true;
            Assert.Equal(c % 20, row.Get<int>("p"));
            Assert.Equal(1024, row.GetBytes("payload").Length);
            if (count++ % 2000 == 0)
            {
                var live = GC.GetTotalMemory(forceFullCollection: true);
                if (count == 1) baseline = live;
                peak = Math.Max(peak, live);
            }
        }
        Assert.Equal(Rows, count);
        Assert.All(seen, Assert.True);
        // Holding every row would keep 20 MB of payload alive; a page of 100 rows is about 100 KB.
        Assert.True(peak - baseline < 4 * 1024 * 1024, $"live memory grew by {(peak - baseline) / 1024} KiB while paging");
    }

    [Fact]
    public async Task A_page_carries_a_paging_state_that_resumes_where_it_stopped()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS resumable (p int, c int, PRIMARY KEY (p, c))");
        for (var i = 0; i < 25; i++) await _session.ExecuteAsync("INSERT INTO resumable (p, c) VALUES (1, ?)", i);
        var first = await _session.ExecuteAsync(new SimpleStatement("SELECT c FROM resumable WHERE p = 1").WithFetchSize(10));
        Assert.Equal(10, first.Count);
        Assert.NotNull(first.PagingState);
        var second = await _session.ExecuteAsync(new SimpleStatement("SELECT c FROM resumable WHERE p = 1").WithFetchSize(10).WithPagingState(first.PagingState));
        Assert.Equal(Enumerable.Range(10, 10), second.Select(r => r.Get<int>(0)));
    }

    [Fact]
    public async Task Two_thousand_concurrent_requests_over_one_connection_all_complete_correctly()
    {
        await using var single = await CqlSession.ConnectAsync(new CqlSessionOptions
        {
            ContactPoints = { cluster.ContactPoint }, Keyspace = cluster.Keyspace, ConnectionsPerHost = 1, DiscoverPeers = false,
            DefaultConsistency = Consistency.One,
        });
        await single.ExecuteAsync("CREATE TABLE IF NOT EXISTS concurrent (id int PRIMARY KEY, v text)");
        var insert = await single.PrepareAsync("INSERT INTO concurrent (id, v) VALUES (?, ?)");
        var select = await single.PrepareAsync("SELECT v FROM concurrent WHERE id = ?");
        await Task.WhenAll(Enumerable.Range(0, 2000).Select(i => single.ExecuteAsync(insert.Bind(i, $"value {i}"))));
        var reads = await Task.WhenAll(Enumerable.Range(0, 2000).Select(async i => (i, rows: await single.ExecuteAsync(select.Bind(i)))));
        foreach (var (i, rows) in reads) Assert.Equal($"value {i}", Assert.Single(rows).Get<string>("v"));
        Assert.Equal(1, Assert.Single(single.Hosts).OpenConnections);
    }

    [Fact]
    public async Task Lightweight_transactions_report_applied_and_the_current_row_when_not_applied()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS names (dir uuid, name text, inode uuid, PRIMARY KEY (dir, name))");
        var create = await _session.PrepareAsync("INSERT INTO names (dir, name, inode) VALUES (?, ?, ?) IF NOT EXISTS");
        var dir = Guid.NewGuid();
        var first = Guid.NewGuid();
        var created = await _session.ExecuteConditionalAsync(create.Bind(dir, "a.txt", first));
        Assert.True(created.Applied);
        Assert.Null(created.Current);

        var again = await _session.ExecuteConditionalAsync(create.Bind(dir, "a.txt", Guid.NewGuid()).WithSerialConsistency(Consistency.LocalSerial));
        Assert.False(again.Applied);
        Assert.NotNull(again.Current);
        Assert.Equal(first, again.Current.Get<Guid>("inode"));
        Assert.Equal("a.txt", again.Current.Get<string>("name"));

        var swap = await _session.PrepareAsync("UPDATE names SET inode = ? WHERE dir = ? AND name = ? IF inode = ?");
        var wrongGuess = await _session.ExecuteConditionalAsync(swap.Bind(Guid.NewGuid(), dir, "a.txt", Guid.NewGuid()));
        Assert.False(wrongGuess.Applied);
        Assert.Equal(first, wrongGuess.Current!.Get<Guid>("inode"));
        var second = Guid.NewGuid();
        Assert.True((await _session.ExecuteConditionalAsync(swap.Bind(second, dir, "a.txt", first))).Applied);

        var missing = await _session.ExecuteConditionalAsync(swap.Bind(second, dir, "missing", first));
        Assert.False(missing.Applied);
        Assert.Null(missing.Current);

        await Assert.ThrowsAsync<InvalidOperationException>(() => _session.ExecuteConditionalAsync(new SimpleStatement("SELECT * FROM names WHERE dir = ?", dir)));
    }

    [Fact]
    public async Task Logged_and_unlogged_batches_apply_all_their_statements()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS batched (p int, c int, v text, PRIMARY KEY (p, c))");
        var insert = await _session.PrepareAsync("INSERT INTO batched (p, c, v) VALUES (?, ?, ?)");
        var logged = new BatchStatement(BatchType.Logged)
            .Add(insert.Bind(1, 1, "one"))
            .Add(new SimpleStatement("INSERT INTO batched (p, c, v) VALUES (?, ?, ?)", 2, 1, "two"));
        await _session.ExecuteAsync(logged);
        var unlogged = new BatchStatement(BatchType.Unlogged).Add(insert.Bind(1, 2, "three")).Add(insert.Bind(1, 3, "four"));
        await _session.ExecuteAsync(unlogged.WithConsistency(Consistency.One));
        var rows = await _session.ExecuteAsync("SELECT v FROM batched WHERE p IN (1, 2)");
        Assert.Equal(new[] { "four", "one", "three", "two" }, rows.Select(r => r.Get<string>(0)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Client_timestamps_order_writes_and_an_explicit_timestamp_wins()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS stamped (id int PRIMARY KEY, v text)");
        for (var i = 0; i < 50; i++) await _session.ExecuteAsync("INSERT INTO stamped (id, v) VALUES (1, ?)", $"v{i}");
        Assert.Equal("v49", (await _session.ExecuteAsync("SELECT v FROM stamped WHERE id = 1"))[0].Get<string>(0));

        var past = DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeMilliseconds() * 1000;
        await _session.ExecuteAsync(new SimpleStatement("INSERT INTO stamped (id, v) VALUES (1, 'old')").WithTimestamp(past));
        var row = (await _session.ExecuteAsync("SELECT v, writetime(v) FROM stamped WHERE id = 1"))[0];
        Assert.Equal("v49", row.Get<string>(0));
        Assert.True(row.Get<long>(1) > past);
    }

    [Fact]
    public async Task Ddl_results_report_the_schema_change_and_the_schema_agrees()
    {
        var result = await _session.ExecuteAsync("CREATE TABLE ddl_probe (id int PRIMARY KEY)");
        Assert.Equal(ResultKind.SchemaChange, result.Kind);
        Assert.Equal(new SchemaChange("CREATED", "TABLE", cluster.Keyspace, "ddl_probe"), result.SchemaChange);
        Assert.True(await _session.WaitForSchemaAgreementAsync(TimeSpan.FromSeconds(5)));
        var use = await _session.ExecuteAsync($"USE {cluster.Keyspace}");
        Assert.Equal(ResultKind.SetKeyspace, use.Kind);
        Assert.Equal(cluster.Keyspace, use.Keyspace);
    }
}
