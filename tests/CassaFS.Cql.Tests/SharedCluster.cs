using CassaFS.Testing;

namespace CassaFS.Cql.Tests;

/// <summary>A session on the run's shared Cassandra, in a fresh keyspace dropped at the end.</summary>
public sealed class SharedCluster : IAsyncLifetime
{
    public CqlSession Session { get; private set; } = null!;
    public string ContactPoint { get; private set; } = "";
    public string Keyspace { get; } = TestNames.Keyspace("cql");

    public async Task InitializeAsync()
    {
        ContactPoint = await TestServers.CassandraAsync();
        await using (var admin = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { ContactPoint } }))
        {
            await admin.ExecuteAsync($"CREATE KEYSPACE {Keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}");
        }
        Session = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { ContactPoint }, Keyspace = Keyspace, DefaultConsistency = Consistency.One });
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Session.ExecuteAsync($"DROP KEYSPACE IF EXISTS {Keyspace}");
        }
        finally
        {
            await Session.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedClusterGroup : ICollectionFixture<SharedCluster>
{
    public const string Name = "shared cassandra";
}
