using CassaFS.Testing;

namespace CassaFS.Cli.Tests;

/// <summary>One formatted filesystem (own keyspace and ZooKeeper chroot) with two mount daemons, A and B, as separate processes.</summary>
public sealed class MountFixture : IAsyncLifetime
{
    internal Daemon A { get; private set; } = null!;
    internal Daemon B { get; private set; } = null!;

    public string Keyspace { get; } = TestNames.Keyspace("cli");
    public string Root { get; } = Directory.CreateTempSubdirectory("cassafs-cli-tests-").FullName;
    public Dictionary<string, string> Environment { get; } = new();

    public string MountA => A.MountPoint;
    public string MountB => B.MountPoint;

    public async Task InitializeAsync()
    {
        Environment["CASSAFS_CONTACT_POINTS"] = await TestServers.CassandraAsync();
        Environment["CASSAFS_ZOOKEEPER"] = await TestServers.ZooKeeperAsync() + TestNames.Chroot("cli");
        Environment["CASSAFS_KEYSPACE"] = Keyspace;
        Environment["CASSAFS_CONSISTENCY"] = "one";
        Environment["CASSAFS_STATE_DIR"] = Path.Combine(Root, "state");
        (await Cli.RunAsync(Environment, "format")).ShouldSucceed("cassafs format");
        var a = Daemon.StartAsync(Environment, Path.Combine(Root, "a"));
        var b = Daemon.StartAsync(Environment, Path.Combine(Root, "b"));
        A = await a;
        B = await b;
    }

    /// <summary>Another daemon on the same filesystem (the caller disposes it).</summary>
    internal Task<Daemon> MountAnotherAsync(string name, params string[] options) => Daemon.StartAsync(Environment, Path.Combine(Root, name), options);

    public async Task DisposeAsync()
    {
        if (A is not null) await A.DisposeAsync();
        if (B is not null) await B.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition("mounts")]
public sealed class MountsShareOneFileSystem : ICollectionFixture<MountFixture>;
