using System.Net;
using System.Numerics;

namespace CassaFS.Cql.Tests;

[Collection(SharedClusterGroup.Name)]
public sealed class ValueTests(SharedCluster cluster)
{
    private readonly CqlSession _session = cluster.Session;

    private const string AllTypesTable = """
        CREATE TABLE IF NOT EXISTS all_types (
            id uuid PRIMARY KEY, t text, a ascii, vc varchar, b blob, bo boolean, i int, bi bigint, f float, d double,
            tu timeuuid, ts timestamp, ip inet, vi varint, de decimal,
            l list<text>, s set<int>, m map<text, bigint>, li list<bigint>, mi map<int, uuid>)
        """;

    [Fact]
    public async Task Every_type_round_trips_through_a_prepared_statement()
    {
        await _session.ExecuteAsync(AllTypesTable);
        var insert = await _session.PrepareAsync("INSERT INTO all_types (id, t, a, vc, b, bo, i, bi, f, d, tu, ts, ip, vi, de, li, s, mi) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        var id = Guid.NewGuid();
        var timeuuid = Guid.Parse("d2177dd0-eaa2-11de-a572-001b779c76e3");
        var when = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_123_456);
        var big = BigInteger.Parse("-123456789012345678901234567890", System.Globalization.CultureInfo.InvariantCulture);
        await _session.ExecuteAsync(insert.Bind(id, "héllo wörld ✓ 日本", "plain ascii", "varchar", new byte[] { 0, 1, 2, 255 }, true, int.MinValue,
            long.MaxValue, 3.25f, -1e300, timeuuid, when, IPAddress.Parse("2001:db8::1"), big, -12345.6789m,
            new List<long> { 5, -5, 5 }, new HashSet<int> { 1, 2, 3 }, new Dictionary<int, Guid> { [1] = id, [-2] = timeuuid }));

        var select = await _session.PrepareAsync("SELECT id, t, a, vc, b, bo, i, bi, f, d, tu, ts, ip, vi, de, li, s, mi FROM all_types WHERE id = ?");
        var row = Assert.Single(await _session.ExecuteAsync(select.Bind(id)));
        Assert.Equal(id, row.Get<Guid>("id"));
        Assert.Equal("héllo wörld ✓ 日本", row.Get<string>("t"));
        Assert.Equal("plain ascii", row.Get<string>("a"));
        Assert.Equal("varchar", row.Get<string>("vc"));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, row.Get<byte[]>("b"));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, row.Get<ReadOnlyMemory<byte>>("b").ToArray());
        Assert.True(row.Get<bool>("bo"));
        Assert.Equal(int.MinValue, row.Get<int>("i"));
        Assert.Equal(long.MaxValue, row.Get<long>("bi"));
        Assert.Equal(3.25f, row.Get<float>("f"));
        Assert.Equal(-1e300, row.Get<double>("d"));
        Assert.Equal(timeuuid, row.Get<Guid>("tu"));
        Assert.Equal(when, row.Get<DateTimeOffset>("ts"));
        Assert.Equal(when.UtcDateTime, row.Get<DateTime>("ts"));
        Assert.Equal(IPAddress.Parse("2001:db8::1"), row.Get<IPAddress>("ip"));
        Assert.Equal(big, row.Get<BigInteger>("vi"));
        Assert.Equal(-12345.6789m, row.Get<decimal>("de"));
        Assert.Equal(new List<long> { 5, -5, 5 }, row.Get<List<long>>("li"));
        Assert.Equal(new long[] { 5, -5, 5 }, row.Get<long[]>("li"));
        Assert.Equal(new HashSet<int> { 1, 2, 3 }, row.Get<HashSet<int>>("s"));
        Assert.Equal(new Dictionary<int, Guid> { [1] = id, [-2] = timeuuid }, row.Get<Dictionary<int, Guid>>("mi"));
    }

    [Fact]
    public async Task Every_type_round_trips_through_a_simple_statement_with_inferred_types()
    {
        await _session.ExecuteAsync(AllTypesTable);
        var id = Guid.NewGuid();
        await _session.ExecuteAsync("INSERT INTO all_types (id, t, b, bo, i, bi, d, ts, ip, vi, de, l, s, m) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            id, "ünïcode", new byte[] { 9 }, false, 7, 8L, 2.5, DateTimeOffset.FromUnixTimeMilliseconds(5), IPAddress.Parse("10.1.2.3"),
            new BigInteger(99), 1.5m, new List<string> { "x", "ÿ", "x" }, new HashSet<int> { 4 }, new Dictionary<string, long> { ["k"] = 42, ["ü"] = -1 });
        var row = Assert.Single(await _session.ExecuteAsync("SELECT * FROM all_types WHERE id = ?", id));
        Assert.Equal("ünïcode", row.Get<string>("t"));
        Assert.Equal(new byte[] { 9 }, row.Get<byte[]>("b"));
        Assert.False(row.Get<bool>("bo"));
        Assert.Equal(7, row.Get<int>("i"));
        Assert.Equal(8L, row.Get<long>("bi"));
        Assert.Equal(IPAddress.Parse("10.1.2.3"), row.Get<IPAddress>("ip"));
        Assert.Equal(1.5m, row.Get<decimal>("de"));
        Assert.Equal(new[] { "x", "ÿ", "x" }, row.Get<IReadOnlyList<string>>("l"));
        Assert.Equal(new HashSet<int> { 4 }, row.Get<ISet<int>>("s"));
        Assert.Equal(new Dictionary<string, long> { ["k"] = 42, ["ü"] = -1 }, row.Get<Dictionary<string, long>>("m"));
    }

    [Fact]
    public async Task Nulls_read_back_as_null_and_refuse_non_nullable_reads()
    {
        await _session.ExecuteAsync(AllTypesTable);
        var insert = await _session.PrepareAsync("INSERT INTO all_types (id, t, b, i, li) VALUES (?, ?, ?, ?, ?)");
        var id = Guid.NewGuid();
        await _session.ExecuteAsync(insert.Bind(id, null, null, null, null));
        var row = Assert.Single(await _session.ExecuteAsync("SELECT t, b, i, li, m FROM all_types WHERE id = ?", id));
        Assert.True(row.IsNull("t"));
        Assert.Null(row.Get<string>("t"));
        Assert.Null(row.Get<byte[]>("b"));
        Assert.Null(row.Get<int?>("i"));
        Assert.Null(row.Get<List<long>>("li"));
        Assert.Null(row.GetValue("m"));
        var error = Assert.Throws<InvalidCastException>(() => row.Get<int>("i"));
        Assert.Contains("null", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Empty_and_one_mebibyte_blobs_round_trip_from_memory_without_change()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS blobs (id int PRIMARY KEY, data blob)");
        var insert = await _session.PrepareAsync("INSERT INTO blobs (id, data) VALUES (?, ?)");
        var big = new byte[1 << 20];
        new Random(42).NextBytes(big);
        await _session.ExecuteAsync(insert.Bind(1, ReadOnlyMemory<byte>.Empty));
        await _session.ExecuteAsync(insert.Bind(2, new ReadOnlyMemory<byte>(big)));
        var select = await _session.PrepareAsync("SELECT data FROM blobs WHERE id = ?");

        var empty = Assert.Single(await _session.ExecuteAsync(select.Bind(1)));
        Assert.False(empty.IsNull(0));
        Assert.Empty(empty.Get<byte[]>(0));

        var full = Assert.Single(await _session.ExecuteAsync(select.Bind(2)));
        var buffer = new byte[big.Length];
        Assert.Equal(big.Length, full.CopyBytes(0, buffer));
        Assert.True(big.AsSpan().SequenceEqual(buffer));
        Assert.True(big.AsSpan().SequenceEqual(full.Get<ReadOnlyMemory<byte>>(0).Span));
    }

    [Fact]
    public async Task Counters_add_and_read_back_as_long()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS hits (id int PRIMARY KEY, n counter)");
        var add = await _session.PrepareAsync("UPDATE hits SET n = n + ? WHERE id = ?");
        await _session.ExecuteAsync(add.Bind(5L, 1));
        await _session.ExecuteAsync(add.Bind(-2L, 1));
        var row = Assert.Single(await _session.ExecuteAsync("SELECT n FROM hits WHERE id = 1"));
        Assert.Equal(3L, row.Get<long>("n"));
    }

    [Fact]
    public async Task Values_bind_by_marker_name()
    {
        await _session.ExecuteAsync("CREATE TABLE IF NOT EXISTS named (id int PRIMARY KEY, v text)");
        var insert = await _session.PrepareAsync("INSERT INTO named (id, v) VALUES (:id, :v)");
        await _session.ExecuteAsync(insert.Bind().Set("v", "by name").Set("id", 11));
        await _session.ExecuteAsync(new SimpleStatement("INSERT INTO named (id, v) VALUES (:id, :v)", new Dictionary<string, object?> { ["id"] = 12, ["v"] = "simple by name" }));
        var rows = await _session.ExecuteAsync("SELECT id, v FROM named WHERE id IN (11, 12)");
        Assert.Equal(new[] { "by name", "simple by name" }, rows.OrderBy(r => r.Get<int>("id")).Select(r => r.Get<string>("v")));
        Assert.Throws<ArgumentException>(() => insert.Bind().Set("nope", 1));
    }
}
