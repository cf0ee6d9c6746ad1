using CassaFS.LocalServers;
using CassaFS.Testing;

namespace CassaFS.Cql.Tests;

/// <summary>A node started with PasswordAuthenticator.</summary>
public sealed class PasswordNode : IAsyncLifetime
{
    private LocalRun? _run;
    public CassandraNode Node { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _run = await TestServers.OwnRunAsync("cql-auth");
        Node = await _run.StartCassandraAsync(CassandraNodeOptions.OnFreePorts() with { PasswordAuthentication = true });
    }

    public async Task DisposeAsync()
    {
        if (_run is not null) await _run.DisposeAsync();
    }
}

[Collection(OwnRingGroup.Name)]
public sealed class AuthenticationTests(PasswordNode server) : IClassFixture<PasswordNode>
{
    private CqlSessionOptions Options(CqlCredentials? credentials, CapturedLog? log = null) => new()
    {
        ContactPoints = { server.Node.ContactPoint }, Credentials = credentials, DefaultConsistency = Consistency.One, Logger = log,
    };

    [Fact]
    public async Task The_right_password_logs_in_and_queries_work()
    {
        CqlSession? session = null;
        // Cassandra 2.1 creates the default superuser a few seconds after it starts serving.
        await OwnRing.EventuallyAsync(async () =>
        {
            try
            {
                session = await CqlSession.ConnectAsync(Options(new CqlCredentials("cassandra", "cassandra")));
                return true;
            }
            catch (CqlAuthenticationException)
            {
                return false;
            }
        }, 60, "logging in as the default superuser");
        await using (session)
        {
            var row = Assert.Single(await session!.ExecuteAsync("SELECT release_version FROM system.local"));
            Assert.StartsWith("2.1", row.Get<string>(0), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_wrong_password_is_refused_without_revealing_it()
    {
        var log = new CapturedLog();
        var e = await Assert.ThrowsAsync<CqlAuthenticationException>(() => CqlSession.ConnectAsync(Options(new CqlCredentials("cassandra", "s3cret-wrong"), log)));
        Assert.DoesNotContain("s3cret-wrong", e.ToString(), StringComparison.Ordinal);
        // The log names the user who logged in, never the password.
        Assert.Contains(log.Lines, l => l.Contains("logging in as cassandra", StringComparison.Ordinal));
        Assert.DoesNotContain("s3cret-wrong", log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_credentials_are_refused_with_a_message_saying_what_to_set()
    {
        var e = await Assert.ThrowsAsync<CqlAuthenticationException>(() => CqlSession.ConnectAsync(Options(null)));
        Assert.Contains("Credentials", e.Message, StringComparison.Ordinal);
        Assert.Contains("PasswordAuthenticator", e.Message, StringComparison.Ordinal);
    }
}
