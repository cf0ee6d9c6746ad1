using CassaFS.Client;
using CassaFS.Testing;

namespace CassaFS.PowerShell.Tests;

/// <summary>
/// One formatted keyspace on the run's real Cassandra, with ZooKeeper locks under a private chroot, and two drives on
/// it: <see cref="Drive"/> (this test's PowerShell session) and <see cref="Other"/> (another client, own ZooKeeper
/// session, so its locks really exclude ours). Each test works in its own directory.
/// </summary>
public sealed class DriveFixture : IAsyncLifetime
{
    public DriveParameters Parameters { get; private set; } = new();
    public CassaDriveSession Drive { get; private set; } = null!;
    public CassaDriveSession Other { get; private set; } = null!;
    public string Cassandra { get; private set; } = "";
    public string ZooKeeperServer { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Cassandra = await TestServers.CassandraAsync();
        ZooKeeperServer = await TestServers.ZooKeeperAsync();
        var colon = Cassandra.LastIndexOf(':');
        Parameters = new DriveParameters
        {
            Servers = new ClientSettings
            {
                ContactPoints = [Cassandra[..colon]],
                Port = int.Parse(Cassandra[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture),
                Keyspace = TestNames.Keyspace("ps"),
                ZooKeeper = ZooKeeperServer + TestNames.Chroot("ps"),
                Consistency = Cql.Consistency.One,
                LockMode = LockMode.ZooKeeper,
            },
            LockTimeout = TimeSpan.FromSeconds(10),
        };
        await FileSystemAdmin.FormatAsync(Parameters.Servers, new FormatOptions { Keyspace = Parameters.Servers.Keyspace, RootMode = 0x1FF });
        Drive = await CassaDriveSession.OpenAsync(Parameters);
        Other = await CassaDriveSession.OpenAsync(Parameters);
    }

    /// <summary>The fixture's parameters with other server settings.</summary>
    public DriveParameters With(Func<ClientSettings, ClientSettings> change) => Parameters with { Servers = change(Parameters.Servers) };

    /// <summary>The fixture's parameters with in-process locks (a drive that needs no ZooKeeper session of its own).</summary>
    public DriveParameters WithLocalLocks() => With(s => s with { LockMode = LockMode.Local });

    /// <summary>A fresh directory for one test ("/t-xxxxxxxx").</summary>
    public async Task<string> NewDirectoryAsync()
    {
        var path = "/t-" + Guid.NewGuid().ToString("N")[..8];
        await new ItemOperations(Drive).NewAsync(path, ItemKind.Directory, mode: 0x1FF);
        return path;
    }

    public async Task DisposeAsync()
    {
        if (Other is not null) await Other.DisposeAsync();
        if (Drive is not null) await Drive.DisposeAsync();
    }
}

[CollectionDefinition("drive")]
public sealed class DriveGroup : ICollectionFixture<DriveFixture>;
